/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include <string.h>

/* The WebSocket handshake (protocol §3): the upgrade, system.hello and its
 * timeout, versions, the welcome, and the caps on sockets. */

#define HELLO_CLIENT "{\"peer_type\":\"client\",\"version\":\"2.0.0\"}"

static void
test_ws_upgrade_refused (void)
{
  MeshTestServer *server = main_server ();
  struct {
    const char   *token;
    MeshTestAuth  auth;
  } cases[] = {
    { NULL, MESH_TEST_AUTH_NONE },
    { "bad-token", MESH_TEST_AUTH_HEADER },
    { "bad-token", MESH_TEST_AUTH_QUERY },
    { "", MESH_TEST_AUTH_QUERY },
  };
  g_autoptr(MeshTestClient) by_query = NULL;
  g_autoptr(JsonObject) welcome = NULL;
  g_autoptr(GError) error = NULL;
  guint status = 0;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) refused = NULL;
    g_autoptr(MeshTestClient) client = mesh_test_client_connect (server, cases[i].token,
                                                                 cases[i].auth, &status, &refused);

    g_test_message ("case %u", i);
    g_assert_null (client);
    g_assert_nonnull (refused);
    g_assert_cmpuint (status, ==, 401);
  }

  /* The refusal carries the error body. */
  mesh_test_request_expect_error (server, "GET", "/ws", NULL, NULL, 401, "UNAUTHORIZED");
  /* A good token but no upgrade: not a WebSocket handshake. */
  mesh_test_request_expect_error (server, "GET", "/ws", shared.token[ALICE], NULL, 400,
                                  "BAD_REQUEST");

  /* Browsers put the token in the query. */
  by_query = mesh_test_client_connect (server, shared.token[ALICE], MESH_TEST_AUTH_QUERY, &status,
                                       &error);
  g_assert_no_error (error);
  g_assert_cmpuint (status, ==, 101);
  mesh_test_client_send (by_query, "system.hello", HELLO_CLIENT);
  welcome = mesh_test_client_expect_type (by_query, "system.welcome");
  g_assert_cmpstr (get_str (mesh_test_frame_payload (welcome), "user_id"), ==,
                   shared.user_id[ALICE]);
}

static MeshTestClient *
raw_client (MeshTestServer *server,
            const char     *token)
{
  g_autoptr(GError) error = NULL;
  MeshTestClient *client = mesh_test_client_connect (server, token, MESH_TEST_AUTH_HEADER, NULL,
                                                     &error);

  g_assert_no_error (error);
  return client;
}

static void
test_ws_hello_first (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestClient) join_first = raw_client (server, shared.token[ALICE]);
  g_autoptr(MeshTestClient) junk_first = raw_client (server, shared.token[ALICE]);
  g_autoptr(MeshTestClient) unknown_first = raw_client (server, shared.token[ALICE]);
  const char *id;

  id = mesh_test_client_send (join_first, "room.join",
                              "{\"room_id\":\"" UNKNOWN_ID "\"}");
  mesh_test_client_expect_error (join_first, "BAD_REQUEST", id);
  assert_closed_by_server (join_first);

  mesh_test_client_send_raw (junk_first, "hello?", 6);
  mesh_test_client_expect_error (junk_first, "BAD_REQUEST", NULL);
  assert_closed_by_server (junk_first);

  id = mesh_test_client_send (unknown_first, "no.such.type", NULL);
  mesh_test_client_expect_error (unknown_first, "BAD_REQUEST", id);
  assert_closed_by_server (unknown_first);
}

static void
test_ws_version (void)
{
  MeshTestServer *server = main_server ();
  static const struct {
    const char *payload;
    const char *code;
  } refused[] = {
    { "{\"peer_type\":\"client\",\"version\":\"3.0.0\"}", "VERSION_UNSUPPORTED" },
    { "{\"peer_type\":\"client\",\"version\":\"1.9.9\"}", "VERSION_UNSUPPORTED" },
    { "{\"peer_type\":\"client\",\"version\":\"2.0\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\",\"version\":\"two\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\",\"version\":\"2.0.0.1\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\",\"version\":2}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"robot\",\"version\":\"2.0.0\"}", "BAD_REQUEST" },
  };
  g_autoptr(MeshTestClient) minor = NULL;
  g_autoptr(JsonObject) welcome = NULL;
  const char *id;

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autoptr(MeshTestClient) client = raw_client (server, shared.token[ALICE]);

    g_test_message ("hello %s", refused[i].payload);
    id = mesh_test_client_send (client, "system.hello", refused[i].payload);
    mesh_test_client_expect_error (client, refused[i].code, id);
    assert_closed_by_server (client);
  }

  /* Another minor version of protocol 2 is welcome. */
  minor = raw_client (server, shared.token[ALICE]);
  mesh_test_client_send (minor, "system.hello", "{\"peer_type\":\"client\",\"version\":\"2.7.1\"}");
  welcome = mesh_test_client_expect_type (minor, "system.welcome");
  g_assert_cmpstr (get_str (mesh_test_frame_payload (welcome), "protocol_version"), ==, "2.0.0");

  /* A second hello is refused, but the session goes on. */
  id = mesh_test_client_send (minor, "system.hello", HELLO_CLIENT);
  mesh_test_client_expect_error (minor, "BAD_REQUEST", id);
  id = mesh_test_client_send (minor, "presence.update", "{\"status\":\"away\"}");
  mesh_test_client_expect_error (minor, "BAD_REQUEST", id);
  g_assert_true (mesh_test_client_is_open (minor));
}

static void
test_ws_welcome (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(JsonObject) welcome = NULL;
  g_autoptr(JsonObject) welcome2 = NULL;
  g_autoptr(JsonObject) agent_welcome = NULL;
  g_autoptr(MeshTestClient) client = client_for (ALICE, &welcome);
  g_autoptr(MeshTestClient) client2 = client_for (ALICE, &welcome2);
  g_autoptr(MeshTestClient) agent = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;

  assert_uuid4 (get_str (welcome, "peer_id"));
  g_assert_cmpstr (get_str (welcome, "user_id"), ==, shared.user_id[ALICE]);
  g_assert_cmpstr (get_str (welcome, "protocol_version"), ==, "2.0.0");
  g_assert_cmpstr (get_str (welcome, "server_version"), ==, PACKAGE_VERSION);
  g_assert_false (json_object_has_member (welcome, "device_id"));
  /* One peer_id per connection. */
  g_assert_cmpstr (get_str (welcome2, "peer_id"), !=, get_str (welcome, "peer_id"));

  device_token = add_device (BOB, "bob-agent", FINGERPRINT, &device_id);

  agent = mesh_test_client_new_hello (server, device_token, "agent", QUIC_HELLO, &agent_welcome);
  assert_uuid4 (get_str (agent_welcome, "peer_id"));
  g_assert_cmpstr (get_str (agent_welcome, "user_id"), ==, shared.user_id[BOB]);
  g_assert_cmpstr (get_str (agent_welcome, "device_id"), ==, device_id);
  g_assert_cmpstr (get_str (agent_welcome, "protocol_version"), ==, "2.0.0");
  g_assert_cmpstr (get_str (agent_welcome, "server_version"), ==, PACKAGE_VERSION);

  {
    static const struct {
      gboolean    device;
      const char *payload;
      const char *code;
    } refused[] = {
      /* An agent must say where its QUIC endpoint is. */
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\"}", "BAD_REQUEST" },
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\",\"quic\":{\"port\":0,"
              "\"fingerprint\":\"" FINGERPRINT "\"}}", "BAD_REQUEST" },
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\",\"quic\":{\"port\":4433,"
              "\"fingerprint\":\"AB:CD\"}}", "BAD_REQUEST" },
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\",\"quic\":{\"port\":4433,"
              "\"fingerprint\":\"" FINGERPRINT "\",\"addrs\":[\"not-an-ip\"]}}", "BAD_REQUEST" },
      /* A device token is for agents, an access token for clients. */
      { TRUE, "{\"peer_type\":\"client\",\"version\":\"2.0.0\"}", "FORBIDDEN" },
      { FALSE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\"," QUIC_HELLO "}", "FORBIDDEN" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
      g_autoptr(MeshTestClient) c = raw_client (server, refused[i].device ? device_token
                                                                            : shared.token[BOB]);
      const char *id = mesh_test_client_send (c, "system.hello", refused[i].payload);

      g_test_message ("hello %s", refused[i].payload);
      mesh_test_client_expect_error (c, refused[i].code, id);
      assert_closed_by_server (c);
    }
  }
  /* The working agent was not disturbed by the refused ones. */
  g_assert_true (mesh_test_client_is_open (agent));
}

static void
test_ws_hello_timeout (void)
{
  g_autofree char *token = strict_user ("sleepy");
  g_autoptr(MeshTestClient) client = raw_client (strict_server (), token);

  /* Configured to 1 s: the server gives up on its own. */
  mesh_test_client_expect_error (client, "BAD_REQUEST", NULL);
  assert_closed_by_server (client);
}

/* Sockets per user and in all are capped: refused upgrades get 429, and a
 * closed socket frees its place. */
static void
test_ws_socket_caps (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[limits]\n"
                                                           "max-sockets=3\n"
                                                           "max-sockets-per-user=2\n");
  g_autofree char *alice = NULL;
  g_autofree char *bob = NULL;
  MeshTestClient *alices[2];
  g_autoptr(MeshTestClient) bob_1 = NULL;
  g_autoptr(MeshTestClient) again = NULL;
  g_autoptr(GError) error = NULL;
  guint status = 0;

  g_free (mesh_test_server_add_user (server, "alice", PASSWORD));
  g_free (mesh_test_server_add_user (server, "bob", PASSWORD));
  mesh_test_server_start (server);
  alice = mesh_test_login (server, "alice", PASSWORD, NULL);
  bob = mesh_test_login (server, "bob", PASSWORD, NULL);

  for (guint i = 0; i < 2; i++)
    alices[i] = mesh_test_client_new_hello (server, alice, "client", NULL, NULL);
  again = mesh_test_client_connect (server, alice, MESH_TEST_AUTH_HEADER, &status, &error);
  g_assert_null (again);
  g_assert_cmpuint (status, ==, 429);
  g_clear_error (&error);

  bob_1 = mesh_test_client_new_hello (server, bob, "client", NULL, NULL);
  again = mesh_test_client_connect (server, bob, MESH_TEST_AUTH_HEADER, &status, &error);
  g_assert_null (again);
  g_assert_cmpuint (status, ==, 429);
  g_clear_error (&error);

  /* One of alice's closes: she may connect again. */
  mesh_test_client_close (alices[0]);
  mesh_test_client_free (alices[0]);
  alices[0] = NULL;
  again = mesh_test_client_new_hello (server, alice, "client", NULL, NULL);
  g_assert_nonnull (again);

  mesh_test_client_free (alices[1]);
  g_clear_pointer (&again, mesh_test_client_free);
  g_clear_pointer (&bob_1, mesh_test_client_free);
  mesh_test_server_stop (server);
}

void
test_server_add_ws_tests (void)
{
  g_test_add_func ("/mesh/server/ws/socket-caps", test_ws_socket_caps);
  g_test_add_func ("/mesh/server/ws/upgrade-refused", test_ws_upgrade_refused);
  g_test_add_func ("/mesh/server/ws/hello-first", test_ws_hello_first);
  g_test_add_func ("/mesh/server/ws/hello-timeout", test_ws_hello_timeout);
  g_test_add_func ("/mesh/server/ws/version", test_ws_version);
  g_test_add_func ("/mesh/server/ws/welcome", test_ws_welcome);
}
