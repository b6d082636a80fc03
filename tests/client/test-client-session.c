/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "test-client-private.h"

/* WebSocket session */

static void
test_session_errors (void)
{
  static const char * const users[] = { "alice", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) rest = login (server, "alice");
  g_autoptr(MeshClientRest) forged = rest_new (server);
  g_autoptr(MeshClientSession) session = connect_session (rest);
  g_autoptr(MeshClientSession) refused = mesh_client_session_new (forged);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autofree char *unknown = mesh_id_new ();
  g_autofree char *room_id = create_room (rest, "Den");
  g_autofree char *share_id = NULL;
  guint n_errors = 0;

  /* A bad token: UNAUTHORIZED, and no endless retrying. */
  mesh_client_rest_set_access_token (forged, "not-a-token");
  g_signal_connect_swapped (refused, "connection-error", G_CALLBACK (count_cb), &n_errors);
  mesh_client_session_connect_async (refused, NULL, result_cb, &result);
  g_assert_false (mesh_client_session_connect_finish (refused, wait_result (&result), &error));
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
  g_assert_cmpint (mesh_client_session_get_state (refused), ==, MESH_CLIENT_SESSION_DISCONNECTED);
  g_assert_cmpuint (n_errors, ==, 1);
  g_clear_error (&error);
  g_clear_object (&result);

  /* join_room fails with the error that names its request. */
  mesh_client_session_join_room_async (session, unknown, NULL, result_cb, &result);
  g_assert_false (mesh_client_session_join_room_finish (session, wait_result (&result), &error));
  assert_mesh_error (error, MESH_ERROR_ROOM_NOT_FOUND);
  g_assert_false (mesh_client_session_is_room_joined (session, unknown));
  g_clear_error (&error);
  g_clear_object (&result);

  /* So does any request: a shell on an agent that is not connected. */
  join_room (session, room_id);
  mesh_client_session_terminal_share_start_async (session, room_id, unknown, NULL, result_cb,
                                                  &result);
  share_id = mesh_client_session_terminal_share_start_finish (session, wait_result (&result),
                                                              &error);
  g_assert_null (share_id);
  assert_mesh_error (error, MESH_ERROR_UNROUTABLE);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Chat that the server refuses is marked failed; bad content fails at once. */
  {
    g_autoptr(MeshChatModel) chat = mesh_chat_model_new (session, unknown);
    g_autoptr(MeshChatMessage) message = NULL;
    g_autofree char *big = g_strnfill (16385, 'x');
    g_autofree char *id = mesh_chat_model_send (chat, "into the void", &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (chat)), ==, 1);
    message = g_list_model_get_item (G_LIST_MODEL (chat), 0);
    g_assert_cmpstr (mesh_chat_message_get_client_msg_id (message), ==, id);
    g_assert_cmpint (mesh_chat_message_get_delivery_state (message), ==, MESH_DELIVERY_PENDING);
    WAIT_UNTIL (mesh_chat_message_get_delivery_state (message) == MESH_DELIVERY_FAILED, WAIT_S);

    g_assert_null (mesh_chat_model_send (chat, big, &error));
    assert_mesh_error (error, MESH_ERROR_PAYLOAD_TOO_LARGE);
    g_clear_error (&error);
    g_assert_null (mesh_chat_model_send (chat, "", &error));
    assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
    g_clear_error (&error);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (chat)), ==, 1);
  }

  /* A request the server answers with a ref completes with its payload. */
  {
    g_autoptr(JsonObject) payload = json_object_new ();

    json_object_set_string_member (payload, "room_id", room_id);
    mesh_client_session_request_async (session, "room.join", NULL, payload, NULL, result_cb,
                                       &result);
    answer = mesh_client_session_request_finish (session, wait_result (&result), &error);
    g_assert_no_error (error);
    g_assert_cmpstr (json_object_get_string_member (answer, "room_id"), ==, room_id);
    g_assert_cmpstr (json_object_get_string_member (answer, "peer_id"), ==,
                     mesh_client_session_get_peer_id (session));
    g_clear_object (&result);
  }

  mesh_client_session_disconnect (session);
  g_assert_cmpint (mesh_client_session_get_state (session), ==, MESH_CLIENT_SESSION_DISCONNECTED);
}

typedef struct {
  char     *device_id;
  gboolean  seen;
  gboolean  transient;
} AgentSeen;

static void
agent_joined_cb (MeshClientSession *session,
                 const char        *room_id,
                 MeshPeerInfo      *info,
                 AgentSeen         *seen)
{
  if (g_strcmp0 (info->device_id, seen->device_id) != 0)
    return;
  seen->seen = TRUE;
  seen->transient = info->transient;
}

/* An agent run for one command says so in its hello; the room is told, so
 * that the app does not announce it "offline" when the command ends. */
static void
test_transient_agent (void)
{
  Pair pair = { 0 };
  g_autoptr(SoupWebsocketConnection) daemon = NULL;
  g_autoptr(SoupWebsocketConnection) once = NULL;
  AgentSeen daemon_seen = { NULL }, once_seen = { NULL };
  gulong id;

  pair_setup (&pair);
  daemon = connect_agent_hello (pair.bob, pair.room_id, "bob-box", "", &daemon_seen.device_id);
  id = g_signal_connect (pair.alice_session, "room-joined", G_CALLBACK (agent_joined_cb),
                         &daemon_seen);
  WAIT_UNTIL (daemon_seen.seen, WAIT_S);
  g_signal_handler_disconnect (pair.alice_session, id);
  g_assert_false (daemon_seen.transient);

  once = connect_agent_hello (pair.bob, pair.room_id, "bob-cli", ",\"transient\":true",
                              &once_seen.device_id);
  id = g_signal_connect (pair.alice_session, "room-joined", G_CALLBACK (agent_joined_cb),
                         &once_seen);
  WAIT_UNTIL (once_seen.seen, WAIT_S);
  g_signal_handler_disconnect (pair.alice_session, id);
  g_assert_true (once_seen.transient);

  /* And in the members list a joiner gets. */
  {
    g_autoptr(MeshClientRest) carol_rest = NULL;
    g_autoptr(GPtrArray) peers = NULL;
    gboolean found = FALSE;

    mesh_client_session_leave_room (pair.alice_session, pair.room_id);
    join_room (pair.alice_session, pair.room_id);
    peers = mesh_client_session_dup_room_peers (pair.alice_session, pair.room_id);
    for (guint i = 0; i < peers->len; i++) {
      MeshPeerInfo *info = peers->pdata[i];

      if (g_strcmp0 (info->device_id, once_seen.device_id) == 0) {
        found = TRUE;
        g_assert_true (info->transient);
      } else {
        g_assert_false (info->transient);
      }
    }
    g_assert_true (found);
  }

  soup_websocket_connection_close (daemon, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  soup_websocket_connection_close (once, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  g_free (daemon_seen.device_id);
  g_free (once_seen.device_id);
  pair_teardown (&pair);
}

/* The agent's control plane */

/* A session made on another thread lives on that thread's context: its
 * retries are that context's sources (the agent runs its session so). */
typedef struct {
  char *url;
  char *token;
  gint  n_errors;
  gint  state;
} ThreadRun;

static void
thread_error_cb (MeshClientSession *session,
                 GError            *error,
                 ThreadRun         *run)
{
  g_atomic_int_inc (&run->n_errors);
}

static void
thread_state_cb (MeshClientSession *session,
                 GParamSpec        *pspec,
                 ThreadRun         *run)
{
  g_atomic_int_set (&run->state, mesh_client_session_get_state (session));
}

static gpointer
session_thread (gpointer data)
{
  ThreadRun *run = data;
  GMainContext *context = g_main_context_new ();
  GSource *timeout = g_timeout_source_new_seconds (RECONNECT_S);
  MeshClientRest *rest;
  MeshClientSession *session;
  gboolean timed_out = FALSE;

  g_main_context_push_thread_default (context);
  g_source_set_callback (timeout, flag_cb, &timed_out, NULL);
  g_source_attach (timeout, context);
  rest = mesh_client_rest_new (run->url);
  mesh_client_rest_set_access_token (rest, run->token);
  session = mesh_client_session_new (rest);
  g_signal_connect (session, "connection-error", G_CALLBACK (thread_error_cb), run);
  g_signal_connect (session, "notify::state", G_CALLBACK (thread_state_cb), run);
  mesh_client_session_connect_async (session, NULL, NULL, NULL);
  while (g_atomic_int_get (&run->state) != MESH_CLIENT_SESSION_CONNECTED && !timed_out)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  g_signal_handlers_disconnect_by_data (session, run);
  mesh_client_session_disconnect (session);
  g_object_unref (session);
  g_object_unref (rest);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return NULL;
}

static void
test_session_on_thread (void)
{
  static const char * const names[] = { "alice", NULL };
  g_autoptr(MeshClientRest) alice = NULL;
  ThreadRun run = { NULL };
  MeshTestServer *server = server_with_users (names);
  GThread *thread;
  gint64 end;

  alice = login (server, "alice");
  run.url = g_strdup (mesh_test_server_get_base_url (server));
  run.token = g_strdup (mesh_client_rest_get_access_token (alice));
  mesh_test_server_stop (server);

  /* Refused, then tried again on the thread's context alone. */
  thread = g_thread_new ("session", session_thread, &run);
  end = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC;
  while (g_atomic_int_get (&run.n_errors) < 2 && g_get_monotonic_time () < end)
    g_usleep (50 * 1000);
  g_assert_cmpint (g_atomic_int_get (&run.n_errors), >=, 2);

  /* Same port: the session comes back by itself. */
  mesh_test_server_start (server);
  g_thread_join (thread);
  g_assert_cmpint (run.state, ==, MESH_CLIENT_SESSION_CONNECTED);

  mesh_test_server_stop (server);
  mesh_test_server_free (server);
  g_free (run.url);
  g_free (run.token);
}

void
test_client_add_session_tests (void)
{
  g_test_add_func ("/mesh/client/session/errors", test_session_errors);
  g_test_add_func ("/mesh/client/session/transient-agent", test_transient_agent);
  g_test_add_func ("/mesh/client/session/on-thread", test_session_on_thread);
}
