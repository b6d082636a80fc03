/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-conformance"

#include "config.h"

#include "mesh-test-server.h"

#include <string.h>

/* Integration tests of the real mesh-server against the contract
 * (shared/spec/protocol.md): what an independent client found where the wire
 * left it (§3, §5, §7, §8, §9), and JSON that hides nesting from a scan that
 * only knows JSON's own grammar (issue 10, items 4 and 11–13). */

#define PASSWORD     "correct horse battery"
#define FINGERPRINT1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FINGERPRINT2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define HIDDEN_LEVELS 500000

/* An operator may raise the frame limit: nesting must still be bounded. */
#define BIG_FRAMES_CONFIG \
  "[limits]\n" \
  "max-frame-bytes=4194304\n"

enum { ALICE, BOB, N_USERS };

static const char * const usernames[N_USERS + 1] = { "alice", "bob", NULL };

static MeshTestUsers shared;

static MeshTestServer *
server (void)
{
  return mesh_test_users_get_server (&shared, BIG_FRAMES_CONFIG, usernames, PASSWORD);
}

static const char *
get_str (JsonObject *obj,
         const char *member)
{
  return json_object_get_string_member_with_default (obj, member, NULL);
}

static void
assert_alive (void)
{
  g_autoptr(MeshTestResponse) health = NULL;

  g_assert_true (mesh_test_server_is_running (server ()));
  health = mesh_test_request_expect (server (), "GET", "/health", NULL, NULL, 200);
}

static MeshTestClient *
client_in (const char  *token,
           const char  *room_id,
           char       **peer_id)
{
  g_autoptr(JsonObject) welcome = NULL;
  MeshTestClient *client = mesh_test_client_new_hello (server (), token, "client", NULL, &welcome);

  if (room_id != NULL)
    mesh_test_client_join (client, room_id);
  if (peer_id != NULL)
    *peer_id = g_strdup (get_str (welcome, "peer_id"));
  return client;
}

/* Registers a device for @user and connects its agent. */
static MeshTestClient *
agent_in (int          user,
          const char  *fingerprint,
          const char  *room_id,
          char       **device_id,
          char       **device_token)
{
  g_autofree char *body = g_strdup_printf ("{\"name\":\"box\",\"fingerprint\":\"%s\"}", fingerprint);
  g_autofree char *quic = g_strdup_printf ("\"quic\":{\"port\":4433,\"fingerprint\":\"%s\","
                                           "\"addrs\":[\"127.0.0.1\"]}", fingerprint);
  g_autoptr(MeshTestResponse) r = mesh_test_request (server (), "POST", "/api/v1/devices",
                                                     shared.token[user], body);
  JsonObject *device;
  MeshTestClient *agent;

  g_assert_cmpuint (r->status, ==, 201);
  device = mesh_test_response_object (r);
  agent = mesh_test_client_new_hello (server (), get_str (device, "device_token"), "agent", quic,
                                      NULL);
  if (room_id != NULL)
    mesh_test_client_join (agent, room_id);
  if (device_id != NULL)
    *device_id = g_strdup (get_str (device, "device_id"));
  if (device_token != NULL)
    *device_token = g_strdup (get_str (device, "device_token"));
  return agent;
}

static MeshTestResponse *
request_caps (const char *token,
              const char *room_id,
              const char *body)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/caps", room_id);

  return mesh_test_request (server (), "POST", path, token, body);
}

static char *
issue_cap (const char *token,
           const char *room_id,
           const char *body)
{
  g_autoptr(MeshTestResponse) r = request_caps (token, room_id, body);

  g_assert_cmpuint (r->status, ==, 200);
  return g_strdup (get_str (mesh_test_response_object (r), "cap_token"));
}

/* Sends @payload_json as @type and returns the answer that refers to it. */
static JsonObject *
request (MeshTestClient *client,
         const char     *type,
         const char     *payload_json)
{
  const char *id = mesh_test_client_send (client, type, payload_json);

  return mesh_test_client_expect_ref (client, id);
}

static void
assert_error_frame (JsonObject *frame,
                    const char *code)
{
  JsonObject *payload = mesh_test_frame_payload (frame);

  g_assert_cmpstr (get_str (frame, "type"), ==, "error");
  g_assert_cmpstr (get_str (payload, "code"), ==, code);
}

/* Item 4 */

/* @prefix, @levels times "[" then "]", @suffix. */
static char *
hidden_nesting (const char *prefix,
                guint       levels,
                const char *suffix)
{
  GString *text = g_string_new (prefix);

  for (guint i = 0; i < levels; i++)
    g_string_append_c (text, '[');
  for (guint i = 0; i < levels; i++)
    g_string_append_c (text, ']');
  g_string_append (text, suffix);
  return g_string_free (text, FALSE);
}

/* Nesting hidden in what json-glib 1.6 takes beyond JSON: a double quote in
 * a single-quoted string or in a comment starts no string for a scan that
 * only knows JSON, so it took the nesting after it for text. */
static const struct {
  const char *prefix;
  const char *suffix;
} hidden_cases[] = {
  { "{\"type\":\"system.hello\",\"payload\":{\"peer_type\":'\"',\"x\":", "},\"y\":'\"'}" },
  { "{\"type\":\"system.hello\",\"payload\":{\"x\":/*\"*/", "/*\"*/}}" },
  { "{'\"':", ",'\"':1}" },
  { "{\"type\":'x',\"payload\":/*\"*/", "/*\"*/}" },
  { "['\"',", ",'\"']" },
};

/* Before system.hello: 500 000 levels in one frame (the operator allowed
 * big frames) are refused as bad JSON, and the server lives on. */
static void
test_hidden_nesting_ws (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (hidden_cases); i++) {
    g_autofree char *frame = hidden_nesting (hidden_cases[i].prefix, HIDDEN_LEVELS,
                                             hidden_cases[i].suffix);
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshTestClient) client = mesh_test_client_connect (server (), shared.token[ALICE],
                                                                 MESH_TEST_AUTH_HEADER, NULL,
                                                                 &error);
    g_autoptr(JsonObject) refused = NULL;

    g_assert_no_error (error);
    mesh_test_client_send_raw (client, frame, strlen (frame));
    refused = mesh_test_client_expect_type (client, "error");
    assert_error_frame (refused, "BAD_REQUEST");
    g_assert_nonnull (strstr (get_str (mesh_test_frame_payload (refused), "message"),
                              "invalid JSON"));
    g_assert_true (mesh_test_client_wait_closed (client, MESH_TEST_TIMEOUT_MS));
    assert_alive ();
  }

  /* After a hello too, and the socket stays usable. */
  {
    g_autofree char *frame = hidden_nesting ("{\"type\":\"presence.update\",\"payload\":"
                                             "{\"status\":'\"',\"x\":", HIDDEN_LEVELS,
                                             "},\"y\":'\"'}");
    g_autoptr(MeshTestClient) client = client_in (shared.token[BOB], NULL, NULL);
    g_autoptr(JsonObject) refused = NULL;
    g_autoptr(JsonObject) ok = NULL;

    mesh_test_client_send_raw (client, frame, strlen (frame));
    refused = mesh_test_client_expect_type (client, "error");
    assert_error_frame (refused, "BAD_REQUEST");
    ok = request (client, "room.join", "{\"room_id\":\"00000000-0000-4000-8000-000000000000\"}");
    assert_error_frame (ok, "ROOM_NOT_FOUND");
    assert_alive ();
  }
}

/* Over REST, before login: as deep as the 64 KiB body limit allows, and
 * the answer says the JSON is invalid (json-glib took it for an object). */
static void
test_hidden_nesting_rest (void)
{
  static const char * const paths[] = { "/api/v1/auth/login", "/api/v1/auth/register" };
  guint levels = 30000;

  for (guint i = 0; i < G_N_ELEMENTS (hidden_cases); i++) {
    g_autofree char *body = hidden_nesting (hidden_cases[i].prefix, levels, hidden_cases[i].suffix);

    for (guint j = 0; j < G_N_ELEMENTS (paths); j++) {
      g_autoptr(MeshTestResponse) r = mesh_test_request (server (), "POST", paths[j], NULL, body);

      mesh_test_response_assert_error (r, 400, "BAD_REQUEST");
      g_assert_nonnull (strstr (get_str (mesh_test_response_object (r), "message"),
                                "invalid JSON"));
    }
    assert_alive ();
  }
  {
    g_autoptr(MeshTestResponse) r = mesh_test_request (server (), "POST", "/api/v1/auth/login",
                                                       NULL, "{'username':'alice','password':'"
                                                       PASSWORD "'}");

    mesh_test_response_assert_error (r, 400, "BAD_REQUEST");
  }
}

/* Item 11: §3, the server overwrites `from`. */
static void
test_hello_any_from (void)
{
  static const char * const froms[] = { "\"from\":\"\",", "", "\"from\":null,",
                                        "\"from\":42,", "\"from\":{},", "\"from\":\"someone-else\"," };

  for (guint i = 0; i < G_N_ELEMENTS (froms); i++) {
    g_autofree char *hello = g_strdup_printf ("{\"type\":\"system.hello\",\"id\":\"h%u\",%s"
                                              "\"payload\":{\"peer_type\":\"client\","
                                              "\"version\":\"2.0.0\"}}", i, froms[i]);
    g_autofree char *ref = g_strdup_printf ("h%u", i);
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshTestClient) client = mesh_test_client_connect (server (), shared.token[ALICE],
                                                                 MESH_TEST_AUTH_HEADER, NULL,
                                                                 &error);
    g_autoptr(JsonObject) welcome = NULL;

    g_assert_no_error (error);
    mesh_test_client_send_raw (client, hello, strlen (hello));
    welcome = mesh_test_client_expect_ref (client, ref);
    g_assert_cmpstr (get_str (welcome, "type"), ==, "system.welcome");
    g_assert_true (mesh_test_client_is_open (client));
  }
}

/* Item 12: §3, `error` always carries payload.ref when the id was readable. */
static void
test_error_ref (void)
{
  static const struct {
    const char *frame;
    const char *ref;
  } cases[] = {
    { "{\"type\":\"room.join\",\"id\":\"e1\",\"payload\":[]}", "e1" },
    { "{\"type\":\"room.join\",\"id\":\"e2\",\"payload\":\"x\"}", "e2" },
    { "{\"type\":42,\"id\":\"e3\",\"payload\":{}}", "e3" },
    { "{\"id\":\"e4\",\"payload\":{}}", "e4" },
    { "{\"type\":\"\",\"id\":\"e5\"}", "e5" },
    { "{\"type\":\"room.join\",\"id\":\"e6\",\"to\":[]}", "e6" },
    { "{\"type\":\"room.join\",\"id\":\"e7\",\"timestamp\":1}", "e7" },
    { "{\"payload\":1,\"type\":null,\"id\":\"e8\"}", "e8" },
    /* The JSON goes wrong after the id. */
    { "{\"type\":\"room.join\",\"id\":\"e9\",\"payload\":{'room_id':'x'}}", "e9" },
    { "{\"id\":\"e10\",\"type\":\"room.join\",\"payload\":{}/* */}", "e10" },
    /* Not before it. */
    { "{\"type\":'room.join',\"id\":\"e11\"}", NULL },
    { "{\"type\":\"room.join\",\"id\":42,\"payload\":[]}", NULL },
  };
  g_autoptr(MeshTestClient) client = client_in (shared.token[ALICE], NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(JsonObject) frame = NULL;

    mesh_test_client_send_raw (client, cases[i].frame, strlen (cases[i].frame));
    frame = mesh_test_client_expect_type (client, "error");
    g_test_message ("frame %s", cases[i].frame);
    assert_error_frame (frame, "BAD_REQUEST");
    g_assert_cmpstr (get_str (mesh_test_frame_payload (frame), "ref"), ==, cases[i].ref);
  }

  /* Before the hello too, then the socket closes. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshTestClient) early = mesh_test_client_connect (server (), shared.token[BOB],
                                                                MESH_TEST_AUTH_HEADER, NULL,
                                                                &error);
    const char *hello = "{\"type\":\"system.hello\",\"id\":\"h-early\",\"payload\":[]}";
    g_autoptr(JsonObject) frame = NULL;

    g_assert_no_error (error);
    mesh_test_client_send_raw (early, hello, strlen (hello));
    frame = mesh_test_client_expect_type (early, "error");
    assert_error_frame (frame, "BAD_REQUEST");
    g_assert_cmpstr (get_str (mesh_test_frame_payload (frame), "ref"), ==, "h-early");
    g_assert_true (mesh_test_client_wait_closed (early, MESH_TEST_TIMEOUT_MS));
  }
}

/* Item 13: §8 has no CONFLICT; a client_msg_id reused in another room is a
 * bad request on the socket. */
static void
test_no_conflict_code (void)
{
  g_autofree char *room1 = mesh_test_shared_room (server (), shared.token[ALICE],
                                                  shared.token[BOB], "Conflict one");
  g_autofree char *room2 = mesh_test_shared_room (server (), shared.token[ALICE],
                                                  shared.token[BOB], "Conflict two");
  g_autoptr(MeshTestClient) client = client_in (shared.token[ALICE], room1, NULL);
  g_autofree char *first = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"hi\","
                                            "\"client_msg_id\":\"same-id\"}", room1);
  g_autofree char *second = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"hi\","
                                             "\"client_msg_id\":\"same-id\"}", room2);
  g_autoptr(JsonObject) created = NULL;
  g_autoptr(JsonObject) refused = NULL;

  mesh_test_client_join (client, room2);
  created = request (client, "chat.message.send", first);
  g_assert_cmpstr (get_str (created, "type"), ==, "chat.message.created");
  refused = request (client, "chat.message.send", second);
  assert_error_frame (refused, "BAD_REQUEST");
}

/* Item 13: §3.4, §9: a call hung up before an answer is missed, whichever
 * side hangs up. */
static void
test_call_missed_callee_hangup (void)
{
  g_autofree char *room_id = mesh_test_shared_room (server (), shared.token[ALICE],
                                                    shared.token[BOB], "Calls");
  g_autofree char *alice_peer = NULL;
  g_autofree char *bob_peer = NULL;
  g_autoptr(MeshTestClient) alice = client_in (shared.token[ALICE], room_id, &alice_peer);
  g_autoptr(MeshTestClient) bob = client_in (shared.token[BOB], room_id, &bob_peer);
  g_autofree char *caps = g_strdup_printf ("{\"caps\":[\"call\"],\"target_peer_id\":\"%s\"}",
                                           bob_peer);
  g_autofree char *cap = issue_cap (shared.token[ALICE], room_id, caps);
  g_autofree char *offer = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\","
                                            "\"sdp\":\"v=0\",\"cap_token\":\"%s\","
                                            "\"media\":\"call\"}", room_id, bob_peer, cap);
  g_autofree char *hangup = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\"}",
                                             room_id, alice_peer);
  g_autoptr(JsonObject) offered = NULL;
  g_autoptr(JsonObject) hung_up = NULL;
  g_autoptr(JsonObject) missed = NULL;

  mesh_test_client_send (alice, "rtc.offer", offer);
  offered = mesh_test_client_expect_type (bob, "rtc.offer");
  mesh_test_client_send (bob, "rtc.hangup", hangup);
  hung_up = mesh_test_client_expect_type (alice, "rtc.hangup");
  missed = mesh_test_client_expect_type (bob, "call.missed");
  g_assert_cmpstr (get_str (mesh_test_frame_payload (missed), "caller_peer_id"), ==, alice_peer);
  g_assert_cmpuint (mesh_test_client_count_type (alice, "call.missed"), ==, 0);
}

/* Starts a share hosted by @host (an agent) and returns its share_id. */
static char *
start_share (MeshTestClient *host,
             const char     *room_id)
{
  g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);
  g_autoptr(JsonObject) started = request (host, "terminal.share.start", payload);

  g_assert_cmpstr (get_str (started, "type"), ==, "terminal.share.started");
  return g_strdup (get_str (mesh_test_frame_payload (started), "share_id"));
}

/* Item 13: §7, terminal.share.start {room_id} from a client names no device;
 * the shell runs in the user's agent. */
static void
test_share_start_from_client (void)
{
  g_autofree char *room_id = mesh_test_shared_room (server (), shared.token[ALICE],
                                                    shared.token[BOB], "Client share");
  g_autofree char *device_id = NULL;
  g_autoptr(MeshTestClient) agent = agent_in (ALICE, FINGERPRINT1, room_id, &device_id, NULL);
  g_autoptr(MeshTestClient) client = client_in (shared.token[ALICE], room_id, NULL);
  g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);
  g_autoptr(JsonObject) started = request (client, "terminal.share.start", payload);
  JsonObject *share;

  g_assert_cmpstr (get_str (started, "type"), ==, "terminal.share.started");
  share = mesh_test_frame_payload (started);
  g_assert_cmpstr (get_str (share, "room_id"), ==, room_id);
  g_assert_cmpstr (get_str (share, "host_device_id"), ==, device_id);
  g_assert_nonnull (get_str (share, "share_id"));

  /* Bob has no agent: nothing can run his shell. */
  {
    g_autoptr(MeshTestClient) bob = client_in (shared.token[BOB], room_id, NULL);
    g_autoptr(JsonObject) refused = request (bob, "terminal.share.start", payload);

    assert_error_frame (refused, "UNROUTABLE");
  }
}

/* Item 13: §5, p2p.session.request for a terminal takes the §5 meta
 * {name, size}; share_id may say which share. */
static void
test_terminal_session_meta (void)
{
  g_autofree char *room_id = mesh_test_shared_room (server (), shared.token[ALICE],
                                                    shared.token[BOB], "Terminal meta");
  g_autofree char *host_device = NULL;
  g_autoptr(MeshTestClient) host = agent_in (ALICE, FINGERPRINT1, room_id, &host_device, NULL);
  g_autofree char *viewer_token = NULL;
  g_autoptr(MeshTestClient) viewer = agent_in (BOB, FINGERPRINT2, room_id, NULL, &viewer_token);
  g_autofree char *share_id = start_share (host, room_id);
  g_autofree char *caps = g_strdup_printf ("{\"caps\":[\"terminal:view\"],\"target_device_id\":"
                                           "\"%s\"}", host_device);
  g_autofree char *with_name = g_strdup_printf ("{\"name\":\"shell\",\"size\":0,\"share_id\":"
                                                "\"%s\"}", share_id);
  g_autofree char *with_share = g_strdup_printf ("{\"share_id\":\"%s\"}", share_id);
  const char *metas[] = { "{\"name\":\"shell\",\"size\":0}", with_name, with_share, "{}" };

  for (guint i = 0; i < G_N_ELEMENTS (metas); i++) {
    g_autofree char *cap = issue_cap (viewer_token, room_id, caps);
    const char *meta = metas[i];
    g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\",\"target_device_id\":"
                                                "\"%s\",\"kind\":\"terminal\",\"cap_token\":"
                                                "\"%s\",\"meta\":%s}",
                                                room_id, host_device, cap, meta);
    g_autoptr(JsonObject) created = request (viewer, "p2p.session.request", payload);
    g_autoptr(JsonObject) to_host = NULL;
    JsonObject *created_meta;

    g_test_message ("meta %s", meta);
    g_assert_cmpstr (get_str (created, "type"), ==, "p2p.session.created");
    created_meta = json_object_get_object_member (mesh_test_frame_payload (created), "meta");
    g_assert_cmpstr (get_str (created_meta, "share_id"), ==, share_id);
    /* The host learns which share too. */
    to_host = mesh_test_client_expect_type (host, "p2p.session.created");
    created_meta = json_object_get_object_member (mesh_test_frame_payload (to_host), "meta");
    g_assert_cmpstr (get_str (created_meta, "share_id"), ==, share_id);
  }

  /* What is given is still checked. */
  {
    g_autofree char *cap = issue_cap (viewer_token, room_id, caps);
    g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\",\"target_device_id\":"
                                                "\"%s\",\"kind\":\"terminal\",\"cap_token\":"
                                                "\"%s\",\"meta\":{\"name\":\"shell\","
                                                "\"size\":\"big\"}}", room_id, host_device, cap);
    g_autoptr(JsonObject) refused = request (viewer, "p2p.session.request", payload);

    assert_error_frame (refused, "BAD_REQUEST");
  }
}

/* Item 13: §4, terminal:control goes to the controlling peer, not to every
 * client of its user. */
static void
test_control_cap_per_peer (void)
{
  g_autofree char *room_id = mesh_test_shared_room (server (), shared.token[ALICE],
                                                    shared.token[BOB], "Control");
  g_autofree char *host_device = NULL;
  g_autoptr(MeshTestClient) host = agent_in (ALICE, FINGERPRINT1, room_id, &host_device, NULL);
  g_autofree char *share_id = start_share (host, room_id);
  /* Bob on two computers: two logins, two sockets. */
  g_autofree char *bob_token2 = mesh_test_login (server (), "bob", PASSWORD, NULL);
  g_autofree char *bob1_peer = NULL;
  g_autoptr(MeshTestClient) bob1 = client_in (shared.token[BOB], room_id, &bob1_peer);
  g_autoptr(MeshTestClient) bob2 = client_in (bob_token2, room_id, NULL);
  g_autofree char *take = g_strdup_printf ("{\"share_id\":\"%s\"}", share_id);
  g_autofree char *grant = g_strdup_printf ("{\"share_id\":\"%s\",\"peer_id\":\"%s\"}",
                                            share_id, bob1_peer);
  g_autofree char *caps = g_strdup_printf ("{\"caps\":[\"terminal:control\"],"
                                           "\"target_device_id\":\"%s\"}", host_device);
  g_autoptr(JsonObject) asked = NULL;
  g_autoptr(JsonObject) granted = NULL;

  g_assert_cmpstr (bob_token2, !=, shared.token[BOB]);
  mesh_test_client_send (bob1, "terminal.control.take", take);
  asked = mesh_test_client_expect_type (host, "terminal.control.request");
  mesh_test_client_send (host, "terminal.control.grant", grant);
  granted = mesh_test_client_expect_type (bob2, "terminal.control.granted");
  g_assert_cmpstr (get_str (mesh_test_frame_payload (granted), "controller_peer_id"), ==,
                   bob1_peer);

  {
    g_autoptr(MeshTestResponse) other = request_caps (bob_token2, room_id, caps);
    g_autoptr(MeshTestResponse) holder = request_caps (shared.token[BOB], room_id, caps);

    mesh_test_response_assert_error (other, 403, "FORBIDDEN");
    g_assert_cmpuint (holder->status, ==, 200);
  }

  /* Once released, nobody. */
  {
    g_autoptr(JsonObject) released = NULL;
    g_autoptr(MeshTestResponse) after = NULL;

    mesh_test_client_send (bob1, "terminal.control.release", take);
    released = mesh_test_client_expect_type (bob2, "terminal.control.released");
    after = request_caps (shared.token[BOB], room_id, caps);
    mesh_test_response_assert_error (after, 403, "FORBIDDEN");
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mesh/conformance/json/hidden-nesting-ws", test_hidden_nesting_ws);
  g_test_add_func ("/mesh/conformance/json/hidden-nesting-rest", test_hidden_nesting_rest);
  g_test_add_func ("/mesh/conformance/hello/any-from", test_hello_any_from);
  g_test_add_func ("/mesh/conformance/error/ref", test_error_ref);
  g_test_add_func ("/mesh/conformance/error/no-conflict", test_no_conflict_code);
  g_test_add_func ("/mesh/conformance/calls/missed-callee-hangup", test_call_missed_callee_hangup);
  g_test_add_func ("/mesh/conformance/terminal/start-from-client", test_share_start_from_client);
  g_test_add_func ("/mesh/conformance/terminal/session-meta", test_terminal_session_meta);
  g_test_add_func ("/mesh/conformance/terminal/control-per-peer", test_control_cap_per_peer);
  /* Started before any test reads the tokens it logs in. */
  server ();
  status = g_test_run ();

  mesh_test_users_clear (&shared);
  return status;
}
