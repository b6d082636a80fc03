/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include "mesh-ids.h"

#include <string.h>

/* Chat: messages sent over the WebSocket (protocol §3) and their history
 * over REST (§2), paged both ways. */

/* Takes chat.message.created frames from @client up to the one carrying
 * @barrier_content; returns how many of them had @message_id. */
static guint
count_created_until (MeshTestClient *client,
                     const char     *message_id,
                     const char     *barrier_content)
{
  guint n = 0;

  for (;;) {
    g_autoptr(JsonObject) frame = mesh_test_client_wait_for_type (client, "chat.message.created",
                                                                  MESH_TEST_TIMEOUT_MS);
    JsonObject *payload;

    g_assert_nonnull (frame);
    payload = mesh_test_frame_payload (frame);
    if (g_strcmp0 (get_str (payload, "content"), barrier_content) == 0)
      return n;
    if (g_strcmp0 (get_str (payload, "message_id"), message_id) == 0)
      n++;
  }
}

static void
test_rest_messages (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (ALICE, "History", BOB, -1);
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/messages", room_id);
  g_autoptr(MeshTestClient) alice = client_for (ALICE, NULL);
  g_autoptr(JsonObject) joined = ws_join (alice, room_id);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(MeshTestResponse) all = NULL;
  g_autoptr(MeshTestResponse) last2 = NULL;
  g_autoptr(MeshTestResponse) page = NULL;
  g_autoptr(MeshTestResponse) first = NULL;
  g_autoptr(MeshTestResponse) none = NULL;
  JsonArray *messages;
  static const char * const bad_limits[] = { "0", "201", "abc", "-1" };

  ws_chat_many (alice, room_id, "message", 5, ids);

  /* Oldest first, newest last. */
  messages = history (server, shared.token[BOB], room_id, "", &all);
  assert_chat_history (messages, ids, "message", "room_id", room_id);
  for (guint i = 0; i < 5; i++) {
    JsonObject *m = json_array_get_object_element (messages, i);

    g_assert_cmpstr (get_str (m, "from"), ==, get_str (joined, "peer_id"));
    g_assert_true (mesh_timestamp_is_valid (get_str (m, "timestamp")));
  }

  messages = history (server, shared.token[BOB], room_id, "?limit=2", &last2);
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (message_content (messages, 0), ==, "message 3");
  g_assert_cmpstr (message_content (messages, 1), ==, "message 4");

  {
    g_autofree char *query = g_strdup_printf ("?before=%s&limit=2", (char *) ids->pdata[3]);

    messages = history (server, shared.token[BOB], room_id, query, &page);
    g_assert_cmpuint (json_array_get_length (messages), ==, 2);
    g_assert_cmpstr (message_content (messages, 0), ==, "message 1");
    g_assert_cmpstr (message_content (messages, 1), ==, "message 2");
  }
  {
    g_autofree char *query = g_strdup_printf ("?before=%s&limit=200", (char *) ids->pdata[1]);

    messages = history (server, shared.token[BOB], room_id, query, &first);
    g_assert_cmpuint (json_array_get_length (messages), ==, 1);
    g_assert_cmpstr (message_content (messages, 0), ==, "message 0");
  }
  {
    g_autofree char *query = g_strdup_printf ("?before=%s", (char *) ids->pdata[0]);

    messages = history (server, shared.token[BOB], room_id, query, &none);
    g_assert_cmpuint (json_array_get_length (messages), ==, 0);
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad_limits); i++) {
    g_autofree char *bad = g_strdup_printf ("%s?limit=%s", path, bad_limits[i]);

    mesh_test_request_expect_error (server, "GET", bad, shared.token[BOB], NULL, 400,
                                    "BAD_REQUEST");
  }
  {
    g_autofree char *bad = g_strdup_printf ("%s?before=" UNKNOWN_ID, path);

    mesh_test_request_expect_error (server, "GET", bad, shared.token[BOB], NULL, 404, "NOT_FOUND");
  }
  mesh_test_request_expect_error (server, "GET", path, shared.token[EVE], NULL, 403, "FORBIDDEN");
  mesh_test_request_expect_error (server, "GET", "/api/v1/rooms/" UNKNOWN_ID "/messages",
                                  shared.token[BOB], NULL, 404, "ROOM_NOT_FOUND");
}

static void
test_ws_chat (void)
{
  static const char * const bad_contents[] = { ",\"content\":\"\"", "", ",\"content\":7" };
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (ALICE, "Chat", BOB, -1);
  g_autoptr(JsonObject) wa = NULL;
  g_autoptr(MeshTestClient) a = client_for (ALICE, &wa);
  g_autoptr(MeshTestClient) b = client_for (BOB, NULL);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(JsonObject) jb = ws_join (b, room_id);
  g_autoptr(JsonObject) mine = NULL;
  g_autoptr(JsonObject) theirs_frame = NULL;
  g_autoptr(JsonObject) again = NULL;
  g_autoptr(JsonObject) barrier = NULL;
  g_autoptr(MeshTestResponse) hist = NULL;
  g_autoptr(MeshTestResponse) hist2 = NULL;
  g_autofree char *max_content = NULL;
  g_autofree char *too_long = NULL;
  g_autofree char *payload_text = NULL;
  JsonObject *theirs;
  JsonArray *messages;
  const char *id;
  guint n;

  mine = ws_chat (a, room_id, "Hello, bob! é", "cm-1");
  assert_uuid4 (get_str (mine, "message_id"));
  g_assert_cmpstr (get_str (mine, "room_id"), ==, room_id);
  g_assert_cmpstr (get_str (mine, "from"), ==, get_str (wa, "peer_id"));
  g_assert_cmpstr (get_str (mine, "content"), ==, "Hello, bob! é");
  g_assert_cmpstr (get_str (mine, "client_msg_id"), ==, "cm-1");
  g_assert_true (mesh_timestamp_is_valid (get_str (mine, "timestamp")));

  /* Persisted before created was sent: history has it already. */
  messages = history (server, shared.token[BOB], room_id, "", &hist);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  g_assert_cmpstr (get_str (json_array_get_object_element (messages, 0), "message_id"), ==,
                   get_str (mine, "message_id"));

  theirs_frame = mesh_test_client_expect_type (b, "chat.message.created");
  g_assert_cmpstr (get_str (theirs_frame, "from"), ==, get_str (wa, "peer_id"));
  theirs = mesh_test_frame_payload (theirs_frame);
  g_assert_cmpstr (get_str (theirs, "message_id"), ==, get_str (mine, "message_id"));
  g_assert_cmpstr (get_str (theirs, "content"), ==, "Hello, bob! é");
  g_assert_cmpstr (get_str (theirs, "from"), ==, get_str (wa, "peer_id"));
  g_assert_cmpstr (get_str (theirs, "client_msg_id"), ==, "cm-1");
  g_assert_false (json_object_has_member (theirs, "ref"));

  /* The same client_msg_id again: same message, nothing new for others. */
  again = ws_chat (a, room_id, "Hello, bob! é", "cm-1");
  g_assert_cmpstr (get_str (again, "message_id"), ==, get_str (mine, "message_id"));
  barrier = ws_chat (a, room_id, "barrier", "cm-2");
  g_assert_cmpstr (get_str (barrier, "message_id"), !=, get_str (mine, "message_id"));
  n = count_created_until (b, get_str (mine, "message_id"), "barrier");
  g_assert_cmpuint (n, ==, 0);
  /* The sender got exactly its own copies, the ones with its refs. */
  g_assert_cmpuint (mesh_test_client_count_type (a, "chat.message.created"), ==, 0);
  messages = history (server, shared.token[ALICE], room_id, "", &hist2);
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (message_content (messages, 0), ==, "Hello, bob! é");
  g_assert_cmpstr (message_content (messages, 1), ==, "barrier");

  /* Without client_msg_id each send is a new message. */
  {
    g_autoptr(JsonObject) one = ws_chat (b, room_id, "same text", NULL);
    g_autoptr(JsonObject) two = ws_chat (b, room_id, "same text", NULL);

    g_assert_cmpstr (get_str (one, "message_id"), !=, get_str (two, "message_id"));
    g_assert_false (json_object_has_member (one, "client_msg_id"));
  }

  /* Content is 1..16384 bytes. */
  max_content = g_strnfill (16384, 'x');
  {
    g_autoptr(JsonObject) big = ws_chat (a, room_id, max_content, NULL);

    g_assert_cmpuint (strlen (get_str (big, "content")), ==, 16384);
  }
  too_long = g_strnfill (16385, 'x');
  payload_text = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"%s\"}", room_id, too_long);
  id = mesh_test_client_send (a, "chat.message.send", payload_text);
  mesh_test_client_expect_error (a, "PAYLOAD_TOO_LARGE", id);
  /* Empty, missing, not a string. */
  for (guint i = 0; i < G_N_ELEMENTS (bad_contents); i++) {
    g_free (payload_text);
    payload_text = g_strdup_printf ("{\"room_id\":\"%s\"%s}", room_id, bad_contents[i]);
    id = mesh_test_client_send (a, "chat.message.send", payload_text);
    mesh_test_client_expect_error (a, "BAD_REQUEST", id);
  }
  id = mesh_test_client_send (a, "chat.message.send",
                              "{\"room_id\":\"" UNKNOWN_ID "\",\"content\":\"hi\"}");
  mesh_test_client_expect_error (a, "ROOM_NOT_FOUND", id);
  g_assert_true (mesh_test_client_is_open (a));
}

/* after=: a client catching up after a reconnect pages forward, oldest
 * first, from the last message it saw. */
static void
test_rest_messages_after (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (CAROL, "Catch up", DAVE, -1);
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/messages", room_id);
  g_autoptr(MeshTestClient) carol = client_for (CAROL, NULL);
  g_autoptr(JsonObject) joined = ws_join (carol, room_id);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_test_response_free);
  const char *cursor;
  guint seen = 0;
  JsonArray *messages;

  ws_chat_many (carol, room_id, "message", 7, ids);

  /* Pages of 3 after the first message: 1–3, 4–6, then nothing. */
  cursor = ids->pdata[0];
  seen = 1;
  for (guint page = 0; page < 3; page++) {
    g_autofree char *query = g_strdup_printf ("?after=%s&limit=3", cursor);
    MeshTestResponse *response = NULL;

    messages = history (server, shared.token[DAVE], room_id, query, &response);
    g_ptr_array_add (keep, response);
    g_assert_cmpuint (json_array_get_length (messages), ==, page < 2 ? 3 : 0);
    for (guint i = 0; i < json_array_get_length (messages); i++) {
      JsonObject *m = json_array_get_object_element (messages, i);

      g_assert_cmpstr (get_str (m, "message_id"), ==, ids->pdata[seen]);
      seen++;
      cursor = get_str (m, "message_id");
    }
  }
  g_assert_cmpuint (seen, ==, 7);

  {
    g_autofree char *bad = g_strdup_printf ("%s?after=" UNKNOWN_ID, path);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", bad, shared.token[DAVE], NULL);

    mesh_test_response_assert_error (r, 404, "NOT_FOUND");
  }
  {
    g_autofree char *bad = g_strdup_printf ("%s?after=%s&before=%s", path,
                                            (char *) ids->pdata[0], (char *) ids->pdata[3]);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", bad, shared.token[DAVE], NULL);

    mesh_test_response_assert_error (r, 400, "BAD_REQUEST");
  }
  {
    g_autofree char *bad = g_strdup_printf ("%s?after=%s&limit=201", path, (char *) ids->pdata[0]);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", bad, shared.token[DAVE], NULL);

    mesh_test_response_assert_error (r, 400, "BAD_REQUEST");
  }
  {
    g_autofree char *outside = g_strdup_printf ("%s?after=%s", path, (char *) ids->pdata[0]);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", outside, shared.token[EVE],
                                                       NULL);

    mesh_test_response_assert_error (r, 403, "FORBIDDEN");
  }
  (void) joined;
}

void
test_server_add_chat_tests (void)
{
  g_test_add_func ("/mesh/server/rest/messages", test_rest_messages);
  g_test_add_func ("/mesh/server/ws/chat", test_ws_chat);
  g_test_add_func ("/mesh/server/rest/messages-after", test_rest_messages_after);
}
