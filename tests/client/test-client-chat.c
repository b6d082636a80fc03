/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "test-client-private.h"

/* Chat */

static guint
count_content (MeshChatModel *chat,
               const char    *content)
{
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (chat)); i++)
    n += g_str_equal (mesh_chat_message_get_content (message_at (chat, i)), content);
  return n;
}

static gboolean
all_sent (MeshChatModel *chat)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (chat)); i++) {
    if (mesh_chat_message_get_delivery_state (message_at (chat, i)) != MESH_DELIVERY_SENT)
      return FALSE;
  }
  return TRUE;
}

static void
load_older (MeshChatModel *chat,
            guint          expected)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  guint n_added = G_MAXUINT;

  mesh_chat_model_load_older_async (chat, NULL, result_cb, &result);
  g_assert_true (mesh_chat_model_load_older_finish (chat, wait_result (&result), &n_added,
                                                    &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_added, ==, expected);
}

static void
test_chat_round_trip (void)
{
  Pair pair = { 0 };
  g_autoptr(MeshChatModel) alice_chat = NULL;
  g_autoptr(MeshChatModel) bob_chat = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  MeshChatMessage *mine, *theirs;

  pair_setup (&pair);
  alice_chat = mesh_chat_model_new (pair.alice_session, pair.room_id);
  bob_chat = mesh_chat_model_new (pair.bob_session, pair.room_id);

  /* Shown at once, pending, then confirmed in place. */
  id = mesh_chat_model_send (alice_chat, "hello bob", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)), ==, 1);
  mine = message_at (alice_chat, 0);
  g_assert_cmpint (mesh_chat_message_get_delivery_state (mine), ==, MESH_DELIVERY_PENDING);
  g_assert_null (mesh_chat_message_get_message_id (mine));
  g_assert_true (mesh_chat_message_get_is_own (mine));
  WAIT_UNTIL (mesh_chat_message_get_delivery_state (mine) == MESH_DELIVERY_SENT, WAIT_S);
  g_assert_true (mesh_id_is_valid (mesh_chat_message_get_message_id (mine)));
  g_assert_cmpstr (mesh_chat_message_get_username (mine), ==, "alice");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)), ==, 1);

  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (bob_chat)) == 1, WAIT_S);
  theirs = message_at (bob_chat, 0);
  g_assert_cmpstr (mesh_chat_message_get_content (theirs), ==, "hello bob");
  g_assert_cmpstr (mesh_chat_message_get_message_id (theirs), ==,
                   mesh_chat_message_get_message_id (mine));
  g_assert_cmpstr (mesh_chat_message_get_client_msg_id (theirs), ==, id);
  g_assert_cmpstr (mesh_chat_message_get_user_id (theirs), ==,
                   mesh_client_rest_get_user_id (pair.alice));
  g_assert_cmpstr (mesh_chat_message_get_from (theirs), ==,
                   mesh_client_session_get_peer_id (pair.alice_session));
  g_assert_false (mesh_chat_message_get_is_own (theirs));
  g_assert_nonnull (mesh_chat_message_get_date_time (theirs));

  /* And back. */
  g_free (mesh_chat_model_send (bob_chat, "hi alice", &error));
  g_assert_no_error (error);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)) == 2, WAIT_S);
  WAIT_UNTIL (all_sent (bob_chat), WAIT_S);
  g_assert_cmpstr (mesh_chat_message_get_content (message_at (alice_chat, 1)), ==, "hi alice");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_chat)), ==, 2);

  /* Loading the history does not repeat what is shown. */
  {
    g_autoptr(GAsyncResult) result = NULL;
    guint n_added = 99;

    mesh_chat_model_load_older_async (alice_chat, NULL, result_cb, &result);
    g_assert_true (mesh_chat_model_load_older_finish (alice_chat, wait_result (&result),
                                                      &n_added, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (n_added, ==, 0);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)), ==, 2);
    g_assert_false (mesh_chat_model_get_has_more (alice_chat));
  }

  pair_teardown (&pair);
}

static void
test_chat_history (void)
{
  Pair pair = { 0 };
  g_autoptr(MeshChatModel) sender = NULL;
  g_autoptr(MeshChatModel) chat = NULL;
  g_autoptr(GArray) changes = NULL;
  g_autoptr(GError) error = NULL;
  static const guint expected[] = { 50, 50, 20, 0 };
  guint bob_received = 0;

  pair_setup (&pair);
  /* Sockets live on different server shards: alice's confirmation can
   * come before bob's copy, so wait for both before paging back. */
  g_signal_connect_swapped (pair.bob_session, "chat-message", G_CALLBACK (count_cb), &bob_received);
  sender = mesh_chat_model_new (pair.alice_session, pair.room_id);
  for (guint i = 1; i <= 120; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i);

    g_free (mesh_chat_model_send (sender, text, &error));
    g_assert_no_error (error);
  }
  WAIT_UNTIL (all_sent (sender) && bob_received == 120, WAIT_S);
  g_signal_handlers_disconnect_by_data (pair.bob_session, &bob_received);

  /* A fresh view pages back to the first message. */
  chat = mesh_chat_model_new (pair.bob_session, pair.room_id);
  changes = track_changes (chat);
  g_assert_true (mesh_chat_model_get_has_more (chat));
  for (guint page = 0; page < G_N_ELEMENTS (expected); page++) {
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GAsyncResult) second = NULL;
    guint n_added = 99;

    mesh_chat_model_load_older_async (chat, NULL, result_cb, &result);
    g_assert_true (mesh_chat_model_get_loading (chat));
    /* One load at a time. */
    mesh_chat_model_load_older_async (chat, NULL, result_cb, &second);
    g_assert_false (mesh_chat_model_load_older_finish (chat, wait_result (&second), NULL,
                                                       &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
    g_clear_error (&error);

    g_assert_true (mesh_chat_model_load_older_finish (chat, wait_result (&result), &n_added,
                                                      &error));
    g_assert_no_error (error);
    g_assert_cmpuint (n_added, ==, expected[page]);
    g_assert_false (mesh_chat_model_get_loading (chat));
  }
  g_assert_false (mesh_chat_model_get_has_more (chat));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (chat)), ==, 120);
  for (guint i = 0; i < 120; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i + 1);

    g_assert_cmpstr (mesh_chat_message_get_content (message_at (chat, i)), ==, text);
  }
  /* Each page was one insertion at the top. */
  g_assert_cmpuint (changes->len, ==, 3);
  for (guint i = 0; i < changes->len; i++) {
    g_assert_cmpuint (g_array_index (changes, Change, i).position, ==, 0);
    g_assert_cmpuint (g_array_index (changes, Change, i).removed, ==, 0);
    g_assert_cmpuint (g_array_index (changes, Change, i).added, ==, expected[i]);
  }

  pair_teardown (&pair);
}

static void
test_reconnect_resends (void)
{
  Pair pair = { 0 };
  g_autoptr(MeshChatModel) alice_chat = NULL;
  g_autoptr(MeshChatModel) bob_chat = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) history = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  static const char * const texts[] = { "one", "two", "three" };
  guint n_errors = 0;

  pair_setup (&pair);
  alice_chat = mesh_chat_model_new (pair.alice_session, pair.room_id);
  bob_chat = mesh_chat_model_new (pair.bob_session, pair.room_id);
  g_signal_connect_swapped (pair.alice_session, "connection-error", G_CALLBACK (count_cb),
                            &n_errors);
  /* As a chat view does when it opens. */
  load_older (alice_chat, 0);
  load_older (bob_chat, 0);

  mesh_test_server_stop (pair.server);
  WAIT_UNTIL (mesh_client_session_get_state (pair.alice_session) ==
                MESH_CLIENT_SESSION_RECONNECTING &&
              mesh_client_session_get_state (pair.bob_session) ==
                MESH_CLIENT_SESSION_RECONNECTING, WAIT_S);
  g_assert_cmpuint (n_errors, >=, 1);
  g_assert_false (mesh_client_session_is_room_joined (pair.alice_session, pair.room_id));

  /* Queued while the server is down: shown, pending. */
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    g_free (mesh_chat_model_send (alice_chat, texts[i], &error));
    g_assert_no_error (error);
  }
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)), ==, 3);
  g_assert_cmpint (mesh_chat_message_get_delivery_state (message_at (alice_chat, 2)), ==,
                   MESH_DELIVERY_PENDING);

  /* Bob stays away until alice's messages are in: he must catch up. */
  mesh_client_session_disconnect (pair.bob_session);

  /* Same data, same port: alice comes back by herself, rejoins, resends. */
  mesh_test_server_start (pair.server);
  WAIT_UNTIL (mesh_client_session_is_room_joined (pair.alice_session, pair.room_id), RECONNECT_S);
  WAIT_UNTIL (all_sent (alice_chat), WAIT_S);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_chat)), ==, 0);

  mesh_client_session_connect_async (pair.bob_session, NULL, result_cb, &result);
  g_assert_true (mesh_client_session_connect_finish (pair.bob_session, wait_result (&result),
                                                     &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  WAIT_UNTIL (mesh_client_session_is_room_joined (pair.bob_session, pair.room_id), WAIT_S);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (bob_chat)) >= 3, WAIT_S);

  /* One more round trip, so that any duplicate would have arrived. */
  g_free (mesh_chat_model_send (bob_chat, "back", &error));
  g_assert_no_error (error);
  WAIT_UNTIL (count_content (alice_chat, "back") == 1 && all_sent (bob_chat), WAIT_S);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)), ==, 4);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_chat)), ==, 4);
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    g_assert_cmpuint (count_content (bob_chat, texts[i]), ==, 1);
    g_assert_cmpstr (mesh_chat_message_get_content (message_at (alice_chat, i)), ==, texts[i]);
    g_assert_cmpstr (mesh_chat_message_get_content (message_at (bob_chat, i)), ==, texts[i]);
  }

  /* Stored exactly once each. */
  mesh_client_rest_list_messages_async (pair.bob, pair.room_id, NULL, 200, NULL, result_cb,
                                        &result);
  history = mesh_client_rest_list_messages_finish (pair.bob, wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (history->len, ==, 4);

  pair_teardown (&pair);
}

/* Sends @n messages "<prefix> i" from @chat and waits for them all to be
 * stored: 100 at a time, a second apart, within the server's rate limit
 * (100 a second, burst 200 a socket), which drops what goes over. */
static void
send_many (MeshChatModel *chat,
           const char    *prefix,
           guint          n)
{
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < n; i++) {
    g_autofree char *text = g_strdup_printf ("%s %u", prefix, i);

    g_free (mesh_chat_model_send (chat, text, &error));
    g_assert_no_error (error);
    if (i % 100 == 99) {
      gboolean refilled = FALSE;

      WAIT_UNTIL (all_sent (chat), WAIT_S);
      g_timeout_add (1100, flag_cb, &refilled);
      WAIT_UNTIL (refilled, WAIT_S);
    }
  }
  WAIT_UNTIL (all_sent (chat), WAIT_S);
}

static void
server_error_cb (MeshClientSession *session,
                 GError            *error,
                 const char        *ref,
                 guint             *n_errors)
{
  g_test_message ("server error (ref %s): %s", ref ? ref : "-", error->message);
  (*n_errors)++;
}

static void
collect_cb (MeshClientSession *session,
            MeshChatMessage   *message,
            GPtrArray         *seen)
{
  g_ptr_array_add (seen, g_object_ref (message));
}

static guint
count_seen (GPtrArray  *seen,
            const char *room_id)
{
  guint n = 0;

  for (guint i = 0; i < seen->len; i++)
    n += g_str_equal (mesh_chat_message_get_room_id (seen->pdata[i]), room_id);
  return n;
}

/* What bob says while alice is away reaches her when she is back, in every
 * room (open or not), in order, once, with the unread counts and the
 * "chat-message" signal the notifications come from. */
static void
test_reconnect_catch_up (void)
{
  static const char * const users[] = { "alice", "bob", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) alice = login (server, "alice");
  g_autoptr(MeshClientRest) bob = login (server, "bob");
  g_autofree char *busy_id = create_room (alice, "Busy");
  g_autofree char *quiet_id = create_room (alice, "Quiet");
  g_autoptr(MeshClientSession) alice_session = NULL;
  g_autoptr(MeshClientSession) bob_session = NULL;
  g_autoptr(MeshRoomList) rooms = NULL;
  g_autoptr(MeshChatModel) alice_chat = NULL;
  g_autoptr(MeshChatModel) bob_busy = NULL;
  g_autoptr(MeshChatModel) bob_quiet = NULL;
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  MeshRoom *busy, *quiet;
  const guint n_busy = 250;   /* more than one page of 200 */
  const guint n_quiet = 3;
  guint n_errors = 0;

  share_rooms (alice, bob, (const char * const []) { busy_id, quiet_id, NULL });

  alice_session = connect_session (alice);
  bob_session = connect_session (bob);
  g_signal_connect (alice_session, "chat-message", G_CALLBACK (collect_cb), seen);
  g_signal_connect (bob_session, "server-error", G_CALLBACK (server_error_cb), &n_errors);
  /* As the window does: the room list joins every room, one chat is open. */
  rooms = mesh_room_list_new (alice, alice_session);
  refresh_rooms (rooms);
  busy = mesh_room_list_find (rooms, busy_id, NULL);
  quiet = mesh_room_list_find (rooms, quiet_id, NULL);
  g_assert_nonnull (busy);
  g_assert_nonnull (quiet);
  WAIT_UNTIL (mesh_client_session_is_room_joined (alice_session, busy_id) &&
              mesh_client_session_is_room_joined (alice_session, quiet_id), WAIT_S);
  alice_chat = mesh_chat_model_new (alice_session, busy_id);
  load_older (alice_chat, 0);
  join_room (bob_session, busy_id);
  join_room (bob_session, quiet_id);
  bob_busy = mesh_chat_model_new (bob_session, busy_id);
  bob_quiet = mesh_chat_model_new (bob_session, quiet_id);

  /* Seen live before the outage, in both rooms, then read. */
  send_many (bob_busy, "before", 1);
  send_many (bob_quiet, "before", 1);
  WAIT_UNTIL (seen->len == 2, WAIT_S);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)) == 1, WAIT_S);
  mesh_room_set_unread_count (busy, 0);
  mesh_room_set_unread_count (quiet, 0);

  /* The server restarts; alice stays away while bob talks. */
  mesh_test_server_stop (server);
  WAIT_UNTIL (mesh_client_session_get_state (alice_session) ==
                MESH_CLIENT_SESSION_RECONNECTING, WAIT_S);
  mesh_client_session_disconnect (alice_session);
  mesh_test_server_start (server);
  WAIT_UNTIL (mesh_client_session_is_room_joined (bob_session, busy_id) &&
              mesh_client_session_is_room_joined (bob_session, quiet_id), RECONNECT_S);
  send_many (bob_busy, "missed", n_busy);
  send_many (bob_quiet, "missed", n_quiet);
  g_assert_cmpuint (seen->len, ==, 2);

  /* Alice is back. */
  mesh_client_session_connect_async (alice_session, NULL, result_cb, &result);
  g_assert_true (mesh_client_session_connect_finish (alice_session, wait_result (&result),
                                                     &error));
  g_assert_no_error (error);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)) == 1 + n_busy &&
              count_seen (seen, quiet_id) == 1 + n_quiet, RECONNECT_S);

  /* One more message each way after the catch-up: any duplicate is in. */
  send_many (bob_busy, "after", 1);
  send_many (bob_quiet, "after", 1);
  WAIT_UNTIL (count_content (alice_chat, "after 0") == 1 &&
              count_seen (seen, quiet_id) == 2 + n_quiet, WAIT_S);

  /* The open chat: everything, in order, once. */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)), ==, 2 + n_busy);
  g_assert_cmpstr (mesh_chat_message_get_content (message_at (alice_chat, 0)), ==, "before 0");
  for (guint i = 0; i < n_busy; i++) {
    g_autofree char *text = g_strdup_printf ("missed %u", i);

    g_assert_cmpstr (mesh_chat_message_get_content (message_at (alice_chat, i + 1)), ==, text);
  }
  g_assert_cmpstr (mesh_chat_message_get_content (message_at (alice_chat, 1 + n_busy)), ==,
                   "after 0");

  /* Every room, through the signal the room list and notifications use:
   * each message once, in order. */
  g_assert_cmpuint (seen->len, ==, 4 + n_busy + n_quiet);
  for (guint i = 0; i < seen->len; i++)
    g_assert_true (g_hash_table_add (ids, (gpointer) mesh_chat_message_get_message_id (seen->pdata[i])));
  {
    guint quiet_index = 0;

    for (guint i = 0; i < seen->len; i++) {
      MeshChatMessage *message = seen->pdata[i];
      g_autofree char *text = NULL;

      if (!g_str_equal (mesh_chat_message_get_room_id (message), quiet_id))
        continue;
      if (quiet_index == 0)
        text = g_strdup ("before 0");
      else if (quiet_index <= n_quiet)
        text = g_strdup_printf ("missed %u", quiet_index - 1);
      else
        text = g_strdup ("after 0");
      g_assert_cmpstr (mesh_chat_message_get_content (message), ==, text);
      quiet_index++;
    }
  }

  g_assert_cmpuint (n_errors, ==, 0);

  /* Unread: what was missed, plus the one after. */
  g_assert_cmpuint (mesh_room_get_unread_count (busy), ==, n_busy + 1);
  g_assert_cmpuint (mesh_room_get_unread_count (quiet), ==, n_quiet + 1);

  g_clear_object (&alice_chat);
  g_clear_object (&rooms);
}

void
test_client_add_chat_tests (void)
{
  g_test_add_func ("/mesh/client/chat/round-trip", test_chat_round_trip);
  g_test_add_func ("/mesh/client/chat/history", test_chat_history);
  g_test_add_func ("/mesh/client/chat/reconnect-resends", test_reconnect_resends);
  g_test_add_func ("/mesh/client/chat/reconnect-catch-up", test_reconnect_catch_up);
}
