/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-e2e"

#include "config.h"

#include "mesh-agent-session.h"
#include "mesh-error.h"
#include "mesh-file-transfer.h"
#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"

#include "test-agent-e2e-private.h"

#include <string.h>

/* The data plane against a forged client: a hand-made agent of alice's
 * asks the server for sessions and speaks QUIC itself, to try the
 * receiver's session tokens and capabilities. */

/* Helpers: the forged client */

void
raw_free (Raw *raw)
{
  g_clear_pointer (&raw->client, mesh_test_client_free);
  if (raw->endpoint != NULL)
    mesh_quic_endpoint_shutdown (raw->endpoint);
  g_clear_object (&raw->endpoint);
  g_clear_object (&raw->identity);
  g_free (raw->device_id);
  g_free (raw);
}

/* An agent of alice's made by hand: its own identity, device and socket.
 * Every one shares the same identity (certificate); @device_name picks the
 * device. */
Raw *
raw_new_named (const char *device_name)
{
  g_autofree char *dir = g_build_filename (shared.tmp, "raw-agent", NULL);
  g_autofree char *body = NULL, *quic = NULL, *join = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) bind = g_inet_socket_address_new (loopback, 0);
  g_autoptr(MeshTestResponse) r = NULL;
  g_autoptr(JsonObject) joined = NULL;
  Raw *raw = g_new0 (Raw, 1);
  JsonObject *obj;

  g_mkdir_with_parents (dir, 0700);
  raw->identity = mesh_agent_identity_load_or_create (dir, &error);
  g_assert_no_error (error);
  raw->endpoint = mesh_quic_endpoint_new (raw->identity, G_INET_SOCKET_ADDRESS (bind), &error);
  g_assert_no_error (error);
  body = g_strdup_printf ("{\"name\":\"%s\",\"fingerprint\":\"%s\"}", device_name,
                          mesh_agent_identity_get_fingerprint (raw->identity));
  r = mesh_test_request (shared.server, "POST", "/api/v1/devices", shared.token[ALICE], body);
  g_assert_cmpuint (r->status, ==, 201);
  obj = mesh_test_response_object (r);
  raw->device_id = g_strdup (json_object_get_string_member (obj, "device_id"));
  quic = g_strdup_printf ("\"quic\":{\"port\":%u,\"fingerprint\":\"%s\"}",
                          mesh_quic_endpoint_get_port (raw->endpoint),
                          mesh_agent_identity_get_fingerprint (raw->identity));
  raw->client = mesh_test_client_new_hello (shared.server,
                                            json_object_get_string_member (obj, "device_token"),
                                            "agent", quic, NULL);
  join = g_strdup_printf ("{\"room_id\":\"%s\"}", shared.room_id);
  mesh_test_client_send (raw->client, "room.join", join);
  joined = mesh_test_client_wait_for_type (raw->client, "room.joined", MESH_TEST_TIMEOUT_MS);
  g_assert_nonnull (joined);
  return raw;
}

Raw *
raw_new (void)
{
  return raw_new_named ("raw");
}

char *
issue_cap (const char *cap,
           const char *target_device_id,
           gint64      max_size)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/caps", shared.room_id);
  g_autofree char *body = NULL;
  g_autoptr(MeshTestResponse) r = NULL;

  body = max_size >= 0
    ? g_strdup_printf ("{\"caps\":[\"%s\"],\"target_device_id\":\"%s\",\"max_size\":%" G_GINT64_FORMAT
                       "}", cap, target_device_id, max_size)
    : g_strdup_printf ("{\"caps\":[\"%s\"],\"target_device_id\":\"%s\"}", cap, target_device_id);
  r = mesh_test_request (shared.server, "POST", path, shared.token[ALICE], body);
  g_assert_cmpuint (r->status, ==, 200);
  return g_strdup (json_object_get_string_member (mesh_test_response_object (r), "cap_token"));
}

/* Sends p2p.session.request with @meta (JSON) and returns the answer. */
JsonObject *
raw_request_meta (Raw        *raw,
                  const char *target,
                  const char *cap_token,
                  const char *kind,
                  const char *meta)
{
  g_autofree char *cap = cap_token != NULL ? g_strdup_printf (",\"cap_token\":\"%s\"", cap_token)
                                           : g_strdup ("");
  g_autofree char *payload = g_strdup_printf (
    "{\"room_id\":\"%s\",\"target_device_id\":\"%s\",\"kind\":\"%s\"%s,\"meta\":%s}",
    shared.room_id, target, kind, cap, meta);
  const char *id = mesh_test_client_send (raw->client, "p2p.session.request", payload);
  JsonObject *answer = mesh_test_client_wait_for_ref (raw->client, id, WAIT_MS);

  g_assert_nonnull (answer);
  return answer;
}

/* Sends p2p.session.request and returns the answer (created or error). */
static JsonObject *
raw_request (Raw        *raw,
             const char *target,
             const char *cap_token,
             const char *name,
             gint64      size)
{
  g_autofree char *meta = g_strdup_printf ("{\"name\":\"%s\",\"size\":%" G_GINT64_FORMAT "}",
                                           name, size);

  return raw_request_meta (raw, target, cap_token, "file", meta);
}

static const char *
answer_error_code (JsonObject *answer)
{
  if (!g_str_equal (json_object_get_string_member (answer, "type"), "error"))
    return NULL;
  return json_object_get_string_member (mesh_test_frame_payload (answer), "code");
}

/* A created session that the target accepted. */
static JsonObject *
raw_open_session (Raw        *raw,
                  const char *target,
                  gint64      max_size,
                  gint64      size)
{
  g_autofree char *cap = issue_cap ("file", target, max_size);
  g_autoptr(JsonObject) answer = raw_request (raw, target, cap, "forged.bin", size);
  g_autoptr(JsonObject) accept = NULL;
  JsonObject *created;

  g_assert_cmpstr (json_object_get_string_member (answer, "type"), ==, "p2p.session.created");
  created = json_object_ref (mesh_test_frame_payload (answer));
  accept = mesh_test_client_wait_for_type (raw->client, "p2p.session.accept", WAIT_MS);
  g_assert_nonnull (accept);
  g_assert_cmpstr (json_object_get_string_member (mesh_test_frame_payload (accept), "session_id"),
                   ==, json_object_get_string_member (created, "session_id"));
  return created;
}

MeshQuicConnection *
raw_connect (Raw        *raw,
             JsonObject *created,
             const char *pin,
             GError    **error)
{
  JsonObject *b = json_object_get_object_member (json_object_get_object_member (created,
                                                                                "endpoints"), "b");
  g_autoptr(GInetAddress) ip = g_inet_address_new_from_string (json_object_get_string_member (b,
                                                                                              "ip"));
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (ip,
                                                                 json_object_get_int_member (b, "port"));
  AsyncWait wait = { NULL };
  MeshQuicConnection *connection;

  if (pin == NULL)
    pin = json_object_get_string_member (json_object_get_object_member (created, "auth"),
                                         "fingerprint");
  mesh_quic_endpoint_connect_async (raw->endpoint, address, pin, NULL, on_async_done, &wait);
  connection = mesh_quic_endpoint_connect_finish (raw->endpoint, wait_result (&wait), error);
  g_object_unref (wait.result);
  return connection;
}

/* Opens a stream, sends P2P_HELLO and returns the answer's error (NULL: P2P_OK). */
GError *
raw_hello (MeshQuicConnection *connection,
           const char         *session_id,
           const char         *token,
           const char         *device_id,
           GIOStream         **stream_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshQuicStream) quic = mesh_quic_connection_open_stream (connection, &error);
  g_autoptr(MeshAgentSessionStream) stream = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(JsonObject) hello = mesh_frame_p2p_hello_new (session_id, token, device_id);
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GBytes) payload = NULL;
  AsyncWait wait = { NULL };
  MeshFrameType type;
  const char *t;

  g_assert_no_error (error);
  /* Writes must stay on this thread (see mesh-agent-session.h). */
  stream = mesh_agent_session_stream_new (G_IO_STREAM (quic), NULL, NULL, NULL, NULL);
  writer = mesh_frame_writer_get_for_stream (G_IO_STREAM (stream));
  reader = mesh_frame_reader_get_for_stream (G_IO_STREAM (stream));
  mesh_frame_writer_write_control_async (writer, hello, NULL, on_async_done, &wait);
  g_assert_true (mesh_frame_writer_write_finish (writer, wait_result (&wait), NULL));
  g_clear_object (&wait.result);
  mesh_frame_reader_read_async (reader, NULL, on_async_done, &wait);
  g_assert_true (mesh_frame_reader_read_finish (reader, wait_result (&wait), &type, &payload,
                                                &error));
  g_clear_object (&wait.result);
  g_assert_cmpint (type, ==, MESH_FRAME_CONTROL);
  control = mesh_frame_control_parse (payload, &t, &error);
  g_assert_no_error (error);
  mesh_frame_p2p_reply_parse (control, &error);
  if (stream_out != NULL)
    *stream_out = G_IO_STREAM (g_object_ref (stream));
  return g_steal_pointer (&error);
}

void
assert_denied (GError     *error,
               const char *reason)
{
  g_assert_error (error, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED);
  g_assert_nonnull (strstr (error->message, reason));
  g_error_free (error);
}

static void
test_session_tokens (void)
{
  g_autoptr(Raw) raw = (start_bob (), raw_new ());
  g_autoptr(JsonObject) created = raw_open_session (raw, shared.device_id[BOB], -1, 6);
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(MeshQuicConnection) wrong_pin = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(MeshFileSender) sender = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = g_build_filename (shared.tmp, "forged.bin", NULL);
  g_autofree char *got = received ("forged.bin");
  g_autofree char *contents = NULL;
  const char *session_id = json_object_get_string_member (created, "session_id");
  const char *token = json_object_get_string_member (json_object_get_object_member (created, "auth"),
                                                     "session_token");
  AsyncWait wait = { NULL };

  /* Pinning another certificate than the peer's: no connection. */
  wrong_pin = raw_connect (raw, created, mesh_agent_identity_get_fingerprint (raw->identity),
                           &error);
  g_assert_null (wrong_pin);
  g_assert_nonnull (error);
  g_clear_error (&error);

  connection = raw_connect (raw, created, NULL, &error);
  g_assert_no_error (error);
  assert_denied (raw_hello (connection, session_id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                            raw->device_id, NULL), "wrong session token");
  assert_denied (raw_hello (connection, session_id, token, shared.device_id[CAROL], NULL),
                 "another device");
  assert_denied (raw_hello (connection, "00000000-0000-4000-8000-000000000000", token,
                            raw->device_id, NULL), "unknown");

  g_assert_null (raw_hello (connection, session_id, token, raw->device_id, &stream));
  /* The session works... */
  g_assert_true (g_file_set_contents (path, "forged", -1, NULL));
  file = g_file_new_for_path (path);
  sender = mesh_file_sender_new (stream, file);
  mesh_file_sender_send_async (sender, NULL, on_async_done, &wait);
  g_assert_true (mesh_file_sender_send_finish (sender, wait_result (&wait), &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_assert_true (g_file_get_contents (got, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "forged");
  /* ...once: the token is single use. */
  assert_denied (raw_hello (connection, session_id, token, raw->device_id, NULL), "already used");
  mesh_quic_connection_close (connection, 0, NULL);
}

static void
test_session_expired (void)
{
  g_autoptr(Raw) raw = raw_new ();
  g_autoptr(MeshAgentController) carol = controller_new (CAROL);
  g_autoptr(JsonObject) created = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  gint64 end;

  /* carol's agent takes alice's offers, with tokens that live one second. */
  mesh_agent_controller_set_accept_offers (carol, TRUE);
  mesh_agent_controller_set_accept_from (carol, (const char * const[]) { "alice", NULL });
  mesh_agent_controller_set_max_token_lifetime (carol, 1);
  created = raw_open_session (raw, shared.device_id[CAROL], -1, 6);
  connection = raw_connect (raw, created, NULL, &error);
  g_assert_no_error (error);
  end = g_get_monotonic_time () + 1500 * 1000;
  while (g_get_monotonic_time () < end)
    mesh_test_pump (100);
  assert_denied (raw_hello (connection, json_object_get_string_member (created, "session_id"),
                            json_object_get_string_member (json_object_get_object_member (created,
                                                                                         "auth"),
                                                           "session_token"),
                            raw->device_id, NULL), "expired");
  mesh_quic_connection_close (connection, 0, NULL);
  mesh_agent_controller_stop (carol);
}

static void
test_session_caps (void)
{
  g_autoptr(Raw) raw = (start_bob (), raw_new ());
  g_autoptr(JsonObject) no_cap = NULL;
  g_autoptr(JsonObject) too_big = NULL;
  g_autoptr(JsonObject) created = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(MeshFileSender) sender = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cap = issue_cap ("file", shared.device_id[BOB], 100);
  g_autofree char *path = g_build_filename (shared.tmp, "liar.bin", NULL);
  g_autofree char *liar_got = received ("liar.bin");
  AsyncWait wait = { NULL };

  no_cap = raw_request (raw, shared.device_id[BOB], NULL, "x.bin", 10);
  g_assert_cmpstr (answer_error_code (no_cap), ==, "CAP_REQUIRED");
  too_big = raw_request (raw, shared.device_id[BOB], cap, "x.bin", 1000);
  g_assert_cmpstr (answer_error_code (too_big), ==, "PAYLOAD_TOO_LARGE");

  /* A sender announcing less than it sends: the receiver holds it to max_size. */
  created = raw_open_session (raw, shared.device_id[BOB], 100, 50);
  g_assert_cmpint (json_object_get_int_member (created, "max_size"), ==, 100);
  connection = raw_connect (raw, created, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (raw_hello (connection, json_object_get_string_member (created, "session_id"),
                            json_object_get_string_member (json_object_get_object_member (created,
                                                                                         "auth"),
                                                           "session_token"),
                            raw->device_id, &stream));
  write_random_file (path, 4000, 4);
  file = g_file_new_for_path (path);
  sender = mesh_file_sender_new (stream, file);
  mesh_file_sender_send_async (sender, NULL, on_async_done, &wait);
  g_assert_false (mesh_file_sender_send_finish (sender, wait_result (&wait), &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_object (&wait.result);
  g_assert_false (g_file_test (liar_got, G_FILE_TEST_EXISTS));
  mesh_quic_connection_close (connection, 0, NULL);
}

void
test_agent_e2e_add_sessions_tests (void)
{
  g_test_add_func ("/mesh/agent-e2e/session-tokens", test_session_tokens);
  g_test_add_func ("/mesh/agent-e2e/session-expired", test_session_expired);
  g_test_add_func ("/mesh/agent-e2e/session-caps", test_session_caps);
}
