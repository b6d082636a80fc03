/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "test-client-private.h"

gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
count_cb (guint *counter)
{
  (*counter)++;
}

void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

GAsyncResult *
wait_result (GAsyncResult **slot)
{
  WAIT_UNTIL (*slot != NULL, WAIT_S);
  return *slot;
}

MeshClientRest *
rest_new (MeshTestServer *server)
{
  return mesh_client_rest_new (mesh_test_server_get_base_url (server));
}

MeshClientRest *
login (MeshTestServer *server,
       const char     *username)
{
  g_autoptr(MeshClientRest) rest = rest_new (server);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  mesh_client_rest_login_async (rest, username, PASSWORD, NULL, result_cb, &result);
  g_assert_true (mesh_client_rest_login_finish (rest, wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_nonnull (mesh_client_rest_get_access_token (rest));
  return g_steal_pointer (&rest);
}

MeshClientSession *
connect_session (MeshClientRest *rest)
{
  g_autoptr(MeshClientSession) session = mesh_client_session_new (rest);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (mesh_client_session_get_state (session), ==, MESH_CLIENT_SESSION_DISCONNECTED);
  mesh_client_session_connect_async (session, NULL, result_cb, &result);
  g_assert_cmpint (mesh_client_session_get_state (session), ==, MESH_CLIENT_SESSION_CONNECTING);
  g_assert_true (mesh_client_session_connect_finish (session, wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_cmpint (mesh_client_session_get_state (session), ==, MESH_CLIENT_SESSION_CONNECTED);
  g_assert_true (mesh_id_is_valid (mesh_client_session_get_peer_id (session)));
  g_assert_cmpstr (mesh_client_session_get_user_id (session), ==,
                   mesh_client_rest_get_user_id (rest));
  return g_steal_pointer (&session);
}

void
join_room (MeshClientSession *session,
           const char        *room_id)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  mesh_client_session_join_room_async (session, room_id, NULL, result_cb, &result);
  g_assert_true (mesh_client_session_join_room_finish (session, wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_true (mesh_client_session_is_room_joined (session, room_id));
}

char *
create_room (MeshClientRest *rest,
             const char     *name)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  char *room_id;

  mesh_client_rest_create_room_async (rest, name, NULL, result_cb, &result);
  room_id = mesh_client_rest_create_room_finish (rest, wait_result (&result), &error);
  g_assert_no_error (error);
  return room_id;
}

char *
create_invite (MeshClientRest *rest,
               const char     *room_id)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  gint64 expires_in = 0;
  char *code;

  mesh_client_rest_create_invite_async (rest, room_id, NULL, result_cb, &result);
  code = mesh_client_rest_create_invite_finish (rest, wait_result (&result), &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 0);
  return code;
}

/* Accepts @code with @rest; returns the error (NULL on success). */
GError *
accept_invite (MeshClientRest *rest,
               const char     *code,
               const char     *expected_room_id)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *room_id = NULL;
  GError *error = NULL;

  mesh_client_rest_accept_invite_async (rest, code, NULL, result_cb, &result);
  room_id = mesh_client_rest_accept_invite_finish (rest, wait_result (&result), &error);
  if (room_id != NULL)
    g_assert_cmpstr (room_id, ==, expected_room_id);
  return error;
}

/* @owner invites @member to each of @room_ids (NULL-terminated) and
 * @member accepts. */
void
share_rooms (MeshClientRest     *owner,
             MeshClientRest     *member,
             const char * const *room_ids)
{
  for (guint i = 0; room_ids[i] != NULL; i++) {
    g_autofree char *code = create_invite (owner, room_ids[i]);
    g_autoptr(GError) accept_error = accept_invite (member, code, room_ids[i]);

    g_assert_no_error (accept_error);
  }
}

MeshTestServer *
server_with_users (const char * const *names)
{
  MeshTestServer *server = mesh_test_server_new (NULL);

  for (guint i = 0; names[i] != NULL; i++)
    g_free (mesh_test_server_add_user (server, names[i], PASSWORD));
  mesh_test_server_start (server);
  return server;
}

void
assert_mesh_error (GError        *error,
                   MeshErrorCode  code)
{
  g_assert_error (error, MESH_ERROR, (gint) code);
  g_assert_cmpstr (error->message, !=, "");
}

/* Models */

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  GArray     *changes)
{
  Change change = { position, removed, added };

  /* Every change must describe the model as it now is. */
  g_assert_cmpuint (position + added, <=, g_list_model_get_n_items (model));
  g_array_append_val (changes, change);
}

GArray *
track_changes (gpointer model)
{
  GArray *changes = g_array_new (FALSE, FALSE, sizeof (Change));

  g_signal_connect (model, "items-changed", G_CALLBACK (items_changed_cb), changes);
  return changes;
}

/* Item @position of a list model, which keeps it alive. */
gpointer
item_at (gpointer model,
         guint    position)
{
  g_autoptr(GObject) item = g_list_model_get_item (G_LIST_MODEL (model), position);

  return item;
}

void
refresh_rooms (MeshRoomList *list)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  mesh_room_list_refresh_async (list, NULL, result_cb, &result);
  g_assert_true (mesh_room_list_refresh_finish (list, wait_result (&result), &error));
  g_assert_no_error (error);
}

/* A headless agent of @rest's user: a raw socket with its device token, named
 * @name, with @extra (",\"field\":value…" or "") in its hello. */
SoupWebsocketConnection *
connect_agent_hello (MeshClientRest *rest,
                     const char     *room_id,
                     const char     *name,
                     const char     *extra,
                     char          **device_id_out)
{
  g_autofree char *fingerprint = mesh_sha256_hex (name, strlen (name));
  g_autofree char *device_token = NULL;
  g_autofree char *url = NULL;
  g_autofree char *auth = NULL;
  g_autofree char *hello = NULL;
  g_autofree char *join = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  SoupWebsocketConnection *ws;

  mesh_client_rest_register_device_async (rest, name, fingerprint, NULL, result_cb, &result);
  *device_id_out = mesh_client_rest_register_device_finish (rest, wait_result (&result),
                                                            &device_token, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  url = g_strdup_printf ("%s/ws", mesh_client_rest_get_base_url (rest));
  msg = soup_message_new ("GET", url);
  auth = g_strdup_printf ("Bearer %s", device_token);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  soup_session_websocket_connect_async (mesh_client_rest_get_soup_session (rest), msg, NULL, NULL,
                                        G_PRIORITY_DEFAULT, NULL, result_cb, &result);
  ws = soup_session_websocket_connect_finish (mesh_client_rest_get_soup_session (rest),
                                              wait_result (&result), &error);
  g_assert_no_error (error);

  hello = g_strdup_printf ("{\"type\":\"system.hello\",\"id\":\"h1\",\"payload\":{"
                           "\"peer_type\":\"agent\",\"version\":\"2.0.0\","
                           "\"quic\":{\"port\":4433,\"fingerprint\":\"%s\"}%s}}", fingerprint,
                           extra);
  join = g_strdup_printf ("{\"type\":\"room.join\",\"id\":\"j1\",\"payload\":{\"room_id\":\"%s\"}}",
                          room_id);
  soup_websocket_connection_send_text (ws, hello);
  soup_websocket_connection_send_text (ws, join);
  return ws;
}

/* Two users sharing a room (chat and session tests) */

void
pair_setup (Pair *pair)
{
  static const char * const users[] = { "alice", "bob", NULL };

  pair->server = server_with_users (users);
  pair->alice = login (pair->server, "alice");
  pair->bob = login (pair->server, "bob");
  pair->room_id = create_room (pair->alice, "Chat");
  share_rooms (pair->alice, pair->bob, (const char * const []) { pair->room_id, NULL });
  pair->alice_session = connect_session (pair->alice);
  pair->bob_session = connect_session (pair->bob);
  join_room (pair->alice_session, pair->room_id);
  join_room (pair->bob_session, pair->room_id);
}

void
pair_teardown (Pair *pair)
{
  g_clear_object (&pair->alice_session);
  g_clear_object (&pair->bob_session);
  g_clear_object (&pair->alice);
  g_clear_object (&pair->bob);
  g_clear_pointer (&pair->server, mesh_test_server_free);
  g_free (pair->room_id);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* GTest runs the paths grouped by their parent, in the order each parent
   * first appears: rest, session, models, chat, tls. */
  test_client_add_rest_tests ();
  test_client_add_session_tests ();
  test_client_add_models_tests ();
  test_client_add_chat_tests ();
  test_client_add_tls_tests ();
  return g_test_run ();
}
