/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include <string.h>

/* The server process: a restart keeps sessions, history and the signing
 * key; SIGTERM is a clean exit (the last test: it stops the shared servers). */

static char *
get_public_key (MeshTestServer *server,
                const char     *token)
{
  g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", "/api/v1/keys", token, NULL);

  g_assert_cmpuint (r->status, ==, 200);
  return g_strdup (get_str (mesh_test_response_object (r), "public_key_pem"));
}

static void
test_server_restart (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autofree char *user_id = mesh_test_server_add_user (server, "rita", PASSWORD);
  g_autofree char *token = NULL;
  g_autofree char *token2 = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *key1 = NULL;
  g_autofree char *key2 = NULL;
  g_autoptr(MeshTestClient) client = NULL;
  g_autoptr(MeshTestClient) client2 = NULL;
  g_autoptr(MeshTestResponse) room = NULL;
  g_autoptr(MeshTestResponse) old_token = NULL;
  g_autoptr(MeshTestResponse) hist = NULL;
  g_autoptr(MeshTestResponse) hist2 = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonObject) joined = NULL;
  g_autoptr(JsonObject) joined2 = NULL;
  JsonArray *messages;

  mesh_test_server_start (server);
  token = mesh_test_login (server, "rita", PASSWORD, NULL);
  room = mesh_test_request_expect (server, "POST", "/api/v1/rooms", token, "{\"name\":\"Diary\"}",
                                   201);
  room_id = g_strdup (get_str (mesh_test_response_object (room), "room_id"));
  key1 = get_public_key (server, token);

  client = mesh_test_client_new_hello (server, token, "client", NULL, NULL);
  joined = ws_join (client, room_id);
  ws_chat_many (client, room_id, "entry", 3, ids);

  /* SIGTERM with a client connected: a clean exit, and the client is told. */
  mesh_test_server_stop (server);
  g_assert_true (mesh_test_client_wait_closed (client, MESH_TEST_TIMEOUT_MS));
  g_test_message ("close code after SIGTERM: %u", mesh_test_client_get_close_code (client));
  g_assert_cmpuint (mesh_test_client_get_close_code (client), ==, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);

  mesh_test_server_start (server);

  /* The old session, a new login, the history and the signing key survive. */
  old_token = mesh_test_request_expect (server, "GET", "/api/v1/rooms", token, NULL, 200);
  g_assert_cmpuint (json_array_get_length (mesh_test_response_array (old_token)), ==, 1);
  token2 = mesh_test_login (server, "rita", PASSWORD, NULL);
  messages = history (server, token2, room_id, "", &hist);
  assert_chat_history (messages, ids, "entry", "user_id", user_id);
  key2 = get_public_key (server, token2);
  g_assert_cmpstr (key1, ==, key2);

  /* And the hub works on top of it. */
  client2 = mesh_test_client_new_hello (server, token2, "client", NULL, NULL);
  joined2 = ws_join (client2, room_id);
  {
    g_autoptr(JsonObject) created = ws_chat (client2, room_id, "after restart", NULL);
  }
  messages = history (server, token2, room_id, "", &hist2);
  g_assert_cmpuint (json_array_get_length (messages), ==, 4);
  g_assert_cmpstr (message_content (messages, 3), ==, "after restart");

  mesh_test_server_stop (server);
}

static void
test_server_shutdown (void)
{
  g_autoptr(MeshTestClient) client = client_for (ALICE, NULL);

  /* The shared servers end the run: SIGTERM, exit status 0. */
  mesh_test_server_stop (main_server ());
  g_assert_true (mesh_test_client_wait_closed (client, MESH_TEST_TIMEOUT_MS));
  if (strict.server != NULL)
    mesh_test_server_stop (strict.server);
}

void
test_server_add_process_tests (void)
{
  g_test_add_func ("/mesh/server/process/restart", test_server_restart);
  g_test_add_func ("/mesh/server/process/shutdown", test_server_shutdown);
}
