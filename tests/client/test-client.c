/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "mesh-test-server.h"
#include "mesh-chat-model.h"
#include "mesh-client-rest.h"
#include "mesh-client-session.h"
#include "mesh-member-list.h"
#include "mesh-room-list.h"

#include "mesh-error.h"
#include "mesh-ids.h"

#include <string.h>

#define PASSWORD     "correct horse battery"
#define WAIT_S       30
/* Long enough for a few backoff steps (1 s, 2 s, 4 s, 8 s …). */
#define RECONNECT_S  90

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context until @cond; a hang fails the test, not a slow box. */
#define WAIT_UNTIL(cond, timeout_s) G_STMT_START {                                  \
    gboolean timed_out_ = FALSE;                                                   \
    guint id_ = g_timeout_add_seconds ((timeout_s), flag_cb, &timed_out_);         \
    while (!(cond) && !timed_out_)                                                 \
      g_main_context_iteration (NULL, TRUE);                                       \
    if (!timed_out_)                                                               \
      g_source_remove (id_);                                                       \
    if (!(cond))                                                                   \
      g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond);       \
  } G_STMT_END

static void
count_cb (guint *counter)
{
  (*counter)++;
}

static void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  WAIT_UNTIL (*slot != NULL, WAIT_S);
  return *slot;
}

static MeshClientRest *
rest_new (MeshTestServer *server)
{
  return mesh_client_rest_new (mesh_test_server_get_base_url (server));
}

static MeshClientRest *
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

static MeshClientSession *
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

static void
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

static char *
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

static char *
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
static GError *
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
static void
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

static MeshTestServer *
server_with_users (const char * const *names)
{
  MeshTestServer *server = mesh_test_server_new (NULL);

  for (guint i = 0; names[i] != NULL; i++)
    g_free (mesh_test_server_add_user (server, names[i], PASSWORD));
  mesh_test_server_start (server);
  return server;
}

static void
assert_mesh_error (GError        *error,
                   MeshErrorCode  code)
{
  g_assert_error (error, MESH_ERROR, (gint) code);
  g_assert_cmpstr (error->message, !=, "");
}

/* REST */

static void
test_rest_calls (void)
{
  static const char * const users[] = { "alice", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) rest = login (server, "alice");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autofree char *room_id = create_room (rest, "Kitchen");
  g_autofree char *fingerprint = mesh_sha256_hex ("device", 6);
  g_autofree char *device_token = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *pem = NULL;
  g_autofree char *cap_token = NULL;
  static const char * const caps[] = { "call", "file", NULL };
  g_auto(GStrv) parts = NULL;
  gint64 expires_in = 0;

  mesh_client_rest_list_rooms_async (rest, NULL, result_cb, &result);
  rooms = mesh_client_rest_list_rooms_finish (rest, wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rooms->len, ==, 1);
  g_assert_cmpstr (mesh_room_get_room_id (rooms->pdata[0]), ==, room_id);
  g_assert_cmpstr (mesh_room_get_name (rooms->pdata[0]), ==, "Kitchen");
  g_assert_cmpuint (mesh_room_get_n_members (rooms->pdata[0]), ==, 1);
  g_clear_object (&result);

  mesh_client_rest_register_device_async (rest, "laptop", fingerprint, NULL, result_cb, &result);
  device_id = mesh_client_rest_register_device_finish (rest, wait_result (&result), &device_token,
                                                       &error);
  g_assert_no_error (error);
  g_assert_true (mesh_id_is_valid (device_id));
  g_assert_nonnull (device_token);
  g_clear_object (&result);

  mesh_client_rest_list_devices_async (rest, NULL, result_cb, &result);
  devices = mesh_client_rest_list_devices_finish (rest, wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (devices->len, ==, 1);
  g_assert_cmpstr (((MeshClientDevice *) devices->pdata[0])->device_id, ==, device_id);
  g_assert_cmpstr (((MeshClientDevice *) devices->pdata[0])->name, ==, "laptop");
  g_assert_cmpstr (((MeshClientDevice *) devices->pdata[0])->fingerprint, ==, fingerprint);
  g_clear_object (&result);

  mesh_client_rest_get_keys_async (rest, NULL, result_cb, &result);
  pem = mesh_client_rest_get_keys_finish (rest, wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (pem, "-----BEGIN PUBLIC KEY-----"));
  g_clear_object (&result);

  mesh_client_rest_request_caps_async (rest, room_id, caps, NULL, NULL, 1000, NULL, result_cb,
                                       &result);
  cap_token = mesh_client_rest_request_caps_finish (rest, wait_result (&result), &expires_in,
                                                    &error);
  g_assert_no_error (error);
  /* A JWT: three base64url parts. */
  parts = g_strsplit (cap_token, ".", -1);
  g_assert_cmpuint (g_strv_length (parts), ==, 3);
  g_assert_cmpint (expires_in, >, 0);
  g_clear_object (&result);

  /* Revoked: gone from the list; a second time it is not found. */
  mesh_client_rest_delete_device_async (rest, device_id, NULL, result_cb, &result);
  g_assert_true (mesh_client_rest_delete_device_finish (rest, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_clear_pointer (&devices, g_ptr_array_unref);
  mesh_client_rest_list_devices_async (rest, NULL, result_cb, &result);
  devices = mesh_client_rest_list_devices_finish (rest, wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (devices->len, ==, 0);
  g_clear_object (&result);
  mesh_client_rest_delete_device_async (rest, device_id, NULL, result_cb, &result);
  g_assert_false (mesh_client_rest_delete_device_finish (rest, wait_result (&result), &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND);
}

/* A stand-in for a proxy in front of the server that answers in HTML. */
static void
html_handler (SoupServer        *server,
              SoupServerMessage *msg,
              const char        *path,
              GHashTable        *query,
              gpointer           user_data)
{
  static const char body[] = "<html><body>Bad Gateway</body></html>";

  soup_server_message_set_status (msg, SOUP_STATUS_BAD_GATEWAY, NULL);
  soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_STATIC, body, strlen (body));
}

static void
test_rest_errors (void)
{
  static const char * const users[] = { "alice", "bob", "carol", "dave", "erin", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) alice = login (server, "alice");
  g_autoptr(MeshClientRest) anonymous = rest_new (server);
  g_autoptr(MeshClientRest) proxied = NULL;
  g_autoptr(SoupServer) proxy = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSList) uris = NULL;
  g_autofree char *room_id = create_room (alice, "Full house");
  g_autofree char *code = create_invite (alice, room_id);
  g_autofree char *proxy_url = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autofree char *none = NULL;

  /* Wrong password: 401 UNAUTHORIZED, and the token is not set. */
  mesh_client_rest_login_async (anonymous, "alice", "wrong password", NULL, result_cb, &result);
  g_assert_false (mesh_client_rest_login_finish (anonymous, wait_result (&result), &error));
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
  g_assert_null (mesh_client_rest_get_access_token (anonymous));
  g_clear_error (&error);
  g_clear_object (&result);

  /* No token at all. */
  mesh_client_rest_list_rooms_async (anonymous, NULL, result_cb, &result);
  rooms = mesh_client_rest_list_rooms_finish (anonymous, wait_result (&result), &error);
  g_assert_null (rooms);
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Registration is closed on this server: 403 FORBIDDEN. */
  mesh_client_rest_register_async (anonymous, "mallory", PASSWORD, NULL, result_cb, &result);
  none = mesh_client_rest_register_finish (anonymous, wait_result (&result), &error);
  g_assert_null (none);
  assert_mesh_error (error, MESH_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Empty room name: 400 BAD_REQUEST. */
  mesh_client_rest_create_room_async (alice, "", NULL, result_cb, &result);
  none = mesh_client_rest_create_room_finish (alice, wait_result (&result), &error);
  g_assert_null (none);
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Unknown room: 404 ROOM_NOT_FOUND. */
  {
    g_autofree char *unknown = mesh_id_new ();
    g_autoptr(GPtrArray) page = NULL;

    mesh_client_rest_list_messages_async (alice, unknown, NULL, 10, NULL, result_cb, &result);
    page = mesh_client_rest_list_messages_finish (alice, wait_result (&result), &error);
    g_assert_null (page);
    assert_mesh_error (error, MESH_ERROR_ROOM_NOT_FOUND);
    g_clear_error (&error);
    g_clear_object (&result);
  }

  /* Unknown invite code: 404 NOT_FOUND (a path segment is escaped). */
  g_clear_error (&error);
  error = accept_invite (alice, "no/such code", NULL);
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A room holds four users: the fifth gets 409 ROOM_FULL. */
  for (guint i = 1; i <= 3; i++) {
    g_autoptr(MeshClientRest) guest = login (server, users[i]);

    error = accept_invite (guest, code, room_id);
    g_assert_no_error (error);
  }
  {
    g_autoptr(MeshClientRest) erin = login (server, "erin");

    error = accept_invite (erin, code, room_id);
    assert_mesh_error (error, MESH_ERROR_ROOM_FULL);
    g_clear_error (&error);
  }

  /* An answer without a Mesh error body: INTERNAL naming the status. */
  proxy = soup_server_new (NULL, NULL);
  soup_server_add_handler (proxy, NULL, html_handler, NULL, NULL);
  soup_server_listen_local (proxy, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (proxy);
  proxy_url = g_uri_to_string (uris->data);
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  proxied = mesh_client_rest_new (proxy_url);
  mesh_client_rest_login_async (proxied, "alice", PASSWORD, NULL, result_cb, &result);
  g_assert_false (mesh_client_rest_login_finish (proxied, wait_result (&result), &error));
  assert_mesh_error (error, MESH_ERROR_INTERNAL);
  g_assert_nonnull (strstr (error->message, "502"));
  g_clear_object (&result);
}

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

/* Models */

typedef struct {
  guint position;
  guint removed;
  guint added;
} Change;

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

static GArray *
track_changes (gpointer model)
{
  GArray *changes = g_array_new (FALSE, FALSE, sizeof (Change));

  g_signal_connect (model, "items-changed", G_CALLBACK (items_changed_cb), changes);
  return changes;
}

/* Item @position of a list model, which keeps it alive. */
static gpointer
item_at (gpointer model,
         guint    position)
{
  g_autoptr(GObject) item = g_list_model_get_item (G_LIST_MODEL (model), position);

  return item;
}

#define room_at(list, position) ((MeshRoom *) item_at ((list), (position)))
#define message_at(chat, position) ((MeshChatMessage *) item_at ((chat), (position)))

static void
refresh_rooms (MeshRoomList *list)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  mesh_room_list_refresh_async (list, NULL, result_cb, &result);
  g_assert_true (mesh_room_list_refresh_finish (list, wait_result (&result), &error));
  g_assert_no_error (error);
}

static MeshMember *
member_of (MeshMemberList *list,
           const char     *user_id)
{
  MeshMember *member = mesh_member_list_find (list, user_id, NULL);

  g_assert_nonnull (member);
  return member;
}

static SoupWebsocketConnection *connect_agent_hello (MeshClientRest *rest,
                                                     const char     *room_id,
                                                     const char     *name,
                                                     const char     *extra,
                                                     char          **device_id_out);

/* A headless agent of @rest's user: a raw socket with its device token. */
static SoupWebsocketConnection *
connect_agent (MeshClientRest *rest,
               const char     *room_id,
               char          **device_id_out)
{
  return connect_agent_hello (rest, room_id, "server box", "", device_id_out);
}

/* The same, named @name, with @extra (",\"field\":value…" or "") in its hello. */
static SoupWebsocketConnection *
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

static void
test_models (void)
{
  static const char * const users[] = { "alice", "bob", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) alice = login (server, "alice");
  g_autoptr(MeshClientRest) bob = login (server, "bob");
  g_autoptr(MeshClientSession) alice_session = connect_session (alice);
  g_autoptr(MeshClientSession) bob_session = NULL;
  g_autoptr(MeshRoomList) alice_rooms = mesh_room_list_new (alice, alice_session);
  g_autoptr(MeshRoomList) bob_rooms = NULL;
  g_autoptr(MeshMemberList) members = NULL;
  g_autoptr(MeshRoom) room = NULL;
  g_autoptr(MeshRoom) accepted = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) room_changes = track_changes (alice_rooms);
  g_autoptr(GArray) member_changes = NULL;
  g_autoptr(MeshChatModel) bob_chat = NULL;
  g_autoptr(SoupWebsocketConnection) agent = NULL;
  g_autofree char *code = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *other_room = NULL;
  MeshMember *alice_member, *bob_member;
  const char *alice_id = mesh_client_rest_get_user_id (alice);
  const char *bob_id = mesh_client_rest_get_user_id (bob);

  refresh_rooms (alice_rooms);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_rooms)), ==, 0);
  g_assert_cmpuint (room_changes->len, ==, 0);

  /* Creating a room refreshes the list: one insertion at 0. */
  mesh_room_list_create_room_async (alice_rooms, "Team", NULL, result_cb, &result);
  room = mesh_room_list_create_room_finish (alice_rooms, wait_result (&result), &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_rooms)), ==, 1);
  g_assert_true (room_at (alice_rooms, 0) == room);
  g_assert_cmpstr (mesh_room_get_name (room), ==, "Team");
  g_assert_cmpuint (room_changes->len, ==, 1);
  g_assert_cmpuint (g_array_index (room_changes, Change, 0).position, ==, 0);
  g_assert_cmpuint (g_array_index (room_changes, Change, 0).added, ==, 1);
  /* The list joins its rooms on the session. */
  WAIT_UNTIL (mesh_client_session_is_room_joined (alice_session, mesh_room_get_room_id (room)),
              WAIT_S);

  /* A second room goes after the first, without touching it. */
  other_room = create_room (alice, "Attic");
  refresh_rooms (alice_rooms);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_rooms)), ==, 2);
  g_assert_true (room_at (alice_rooms, 0) == room);
  g_assert_cmpuint (room_changes->len, ==, 2);
  g_assert_cmpuint (g_array_index (room_changes, Change, 1).position, ==, 1);

  /* Members: alice online (this session), nobody else yet. */
  members = mesh_member_list_new (alice_session, room);
  member_changes = track_changes (members);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (members)), ==, 1);
  alice_member = member_of (members, alice_id);
  g_assert_cmpstr (mesh_member_get_username (alice_member), ==, "alice");
  g_assert_cmpstr (mesh_member_get_role (alice_member), ==, "owner");
  g_assert_cmpint (mesh_member_get_status (alice_member), ==, MESH_PRESENCE_ONLINE);

  /* Bob accepts an invite through his own room list. */
  code = create_invite (alice, mesh_room_get_room_id (room));
  bob_session = connect_session (bob);
  bob_rooms = mesh_room_list_new (bob, bob_session);
  mesh_room_list_accept_invite_async (bob_rooms, code, NULL, result_cb, &result);
  accepted = mesh_room_list_accept_invite_finish (bob_rooms, wait_result (&result), &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpstr (mesh_room_get_room_id (accepted), ==, mesh_room_get_room_id (room));
  g_assert_cmpuint (mesh_room_get_n_members (accepted), ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_rooms)), ==, 1);

  /* Bob's list joins the room: alice sees him online without a refresh. */
  WAIT_UNTIL (mesh_member_list_find (members, bob_id, NULL) != NULL &&
              mesh_member_get_status (member_of (members, bob_id)) == MESH_PRESENCE_ONLINE,
              WAIT_S);
  bob_member = member_of (members, bob_id);
  g_assert_cmpstr (mesh_member_get_username (bob_member), ==, "bob");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (members)), ==, 2);
  g_assert_cmpuint (member_changes->len, ==, 1);
  g_assert_cmpuint (g_array_index (member_changes, Change, 0).position, ==, 1);
  g_assert_cmpuint (g_array_index (member_changes, Change, 0).added, ==, 1);

  /* A refresh brings the REST view (role); the same item stays. */
  refresh_rooms (alice_rooms);
  g_assert_cmpuint (mesh_room_get_n_members (room), ==, 2);
  g_assert_true (member_of (members, bob_id) == bob_member);
  g_assert_cmpstr (mesh_member_get_role (bob_member), ==, "member");
  g_assert_cmpuint (member_changes->len, ==, 1);

  /* Presence goes through, as "busy". */
  mesh_client_session_set_presence (bob_session, MESH_PRESENCE_BUSY);
  WAIT_UNTIL (mesh_member_get_status (bob_member) == MESH_PRESENCE_BUSY, WAIT_S);

  /* Bob's agent shows as a device of his, not as a status. */
  agent = connect_agent (bob, mesh_room_get_room_id (room), &device_id);
  WAIT_UNTIL (g_strv_length ((GStrv) mesh_member_get_devices (bob_member)) == 1, WAIT_S);
  g_assert_cmpstr (mesh_member_get_devices (bob_member)[0], ==, device_id);
  g_assert_cmpint (mesh_member_get_status (bob_member), ==, MESH_PRESENCE_BUSY);

  /* Unread counts: messages of others count, own ones do not. */
  bob_chat = mesh_chat_model_new (bob_session, mesh_room_get_room_id (room));
  g_free (mesh_chat_model_send (bob_chat, "anyone home?", &error));
  g_assert_no_error (error);
  WAIT_UNTIL (mesh_room_get_unread_count (room) == 1, WAIT_S);
  g_free (mesh_client_session_send_chat (alice_session, mesh_room_get_room_id (room), "yes",
                                         &error));
  g_assert_no_error (error);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (bob_chat)) == 2, WAIT_S);
  g_assert_cmpuint (mesh_room_get_unread_count (room), ==, 1);
  g_assert_cmpuint (mesh_room_get_unread_count (room_at (bob_rooms, 0)), ==, 1);
  mesh_room_set_unread_count (room, 0);
  g_assert_cmpuint (mesh_room_get_unread_count (room), ==, 0);

  /* Bob leaves: offline, still a member, still the same row. */
  soup_websocket_connection_close (agent, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  mesh_client_session_disconnect (bob_session);
  WAIT_UNTIL (mesh_member_get_status (bob_member) == MESH_PRESENCE_OFFLINE &&
              g_strv_length ((GStrv) mesh_member_get_devices (bob_member)) == 0, WAIT_S);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (members)), ==, 2);
  g_assert_true (member_of (members, bob_id) == bob_member);
  g_assert_cmpuint (member_changes->len, ==, 1);
  g_assert_cmpint (mesh_member_get_status (alice_member), ==, MESH_PRESENCE_ONLINE);
}

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

typedef struct {
  MeshTestServer  *server;
  MeshClientRest    *alice;
  MeshClientRest    *bob;
  MeshClientSession *alice_session;
  MeshClientSession *bob_session;
  char              *room_id;
} Pair;

static void
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

static void
pair_teardown (Pair *pair)
{
  g_clear_object (&pair->alice_session);
  g_clear_object (&pair->bob_session);
  g_clear_object (&pair->alice);
  g_clear_object (&pair->bob);
  g_clear_pointer (&pair->server, mesh_test_server_free);
  g_free (pair->room_id);
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

/* TLS */

static void
test_certificate_pinning (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(MeshClientRest) rest = NULL;
  g_autoptr(MeshClientSession) session = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cert_path = NULL;
  g_autofree char *key_path = NULL;
  g_autofree char *fingerprint = NULL;
  g_autoptr(GString) pasted = g_string_new (NULL);

  fingerprint = mesh_test_make_certificate (mesh_test_server_get_data_dir (server),
                                              &cert_path, &key_path);
  g_free (mesh_test_server_add_user (server, "alice", PASSWORD));
  mesh_test_server_set_tls (server, cert_path, key_path);
  mesh_test_server_start (server);
  g_assert_true (g_str_has_prefix (mesh_test_server_get_base_url (server), "https://127.0.0.1:"));

  /* Not pinned: refused, and the fingerprint is there to show the user. */
  rest = rest_new (server);
  mesh_client_rest_login_async (rest, "alice", PASSWORD, NULL, result_cb, &result);
  g_assert_false (mesh_client_rest_login_finish (rest, wait_result (&result), &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_nonnull (strstr (error->message, fingerprint));
  g_assert_cmpstr (mesh_client_rest_get_presented_fingerprint (rest), ==, fingerprint);
  g_clear_error (&error);
  g_clear_object (&result);

  /* A wrong pin is refused the same way. */
  mesh_client_rest_set_pinned_fingerprint (rest, "00112233445566778899aabbccddeeff"
                                                 "00112233445566778899aabbccddeeff");
  mesh_client_rest_login_async (rest, "alice", PASSWORD, NULL, result_cb, &result);
  g_assert_false (mesh_client_rest_login_finish (rest, wait_result (&result), &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Pinned (as a user might paste it: upper case with colons): it works,
   * for REST and for the WebSocket. */
  for (guint i = 0; fingerprint[i] != '\0'; i++) {
    if (i > 0 && i % 2 == 0)
      g_string_append_c (pasted, ':');
    g_string_append_c (pasted, g_ascii_toupper (fingerprint[i]));
  }
  mesh_client_rest_set_pinned_fingerprint (rest, pasted->str);
  g_assert_cmpstr (mesh_client_rest_get_pinned_fingerprint (rest), ==, fingerprint);
  mesh_client_rest_login_async (rest, "alice", PASSWORD, NULL, result_cb, &result);
  g_assert_true (mesh_client_rest_login_finish (rest, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  session = connect_session (rest);

  /* The session refuses an unpinned server too, and stops. */
  mesh_client_session_disconnect (session);
  mesh_client_rest_set_pinned_fingerprint (rest, NULL);
  mesh_client_session_connect_async (session, NULL, result_cb, &result);
  g_assert_false (mesh_client_session_connect_finish (session, wait_result (&result), &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_cmpint (mesh_client_session_get_state (session), ==, MESH_CLIENT_SESSION_DISCONNECTED);
}

/* Rename, leave and delete (issue 11, item 13): the caller's list and the
 * other member's list (through the live events) both follow. */
static void
test_room_changes (void)
{
  static const char * const users[] = { "alice", "bob", "carol", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) alice = login (server, "alice");
  g_autoptr(MeshClientRest) bob = login (server, "bob");
  g_autofree char *kept_id = create_room (alice, "Kept");
  g_autofree char *doomed_id = create_room (alice, "Doomed");
  g_autoptr(MeshClientSession) alice_session = NULL;
  g_autoptr(MeshClientSession) bob_session = NULL;
  g_autoptr(MeshRoomList) alice_rooms = NULL;
  g_autoptr(MeshRoomList) bob_rooms = NULL;
  g_autoptr(MeshChatModel) alice_chat = NULL;
  g_autoptr(MeshClientRest) carol = login (server, "carol");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  MeshRoom *bob_kept;

  share_rooms (alice, bob, (const char * const []) { kept_id, doomed_id, NULL });
  alice_session = connect_session (alice);
  bob_session = connect_session (bob);
  alice_rooms = mesh_room_list_new (alice, alice_session);
  bob_rooms = mesh_room_list_new (bob, bob_session);
  refresh_rooms (alice_rooms);
  refresh_rooms (bob_rooms);
  WAIT_UNTIL (mesh_client_session_is_room_joined (bob_session, kept_id) &&
              mesh_client_session_is_room_joined (bob_session, doomed_id), WAIT_S);
  bob_kept = mesh_room_list_find (bob_rooms, kept_id, NULL);
  g_assert_nonnull (bob_kept);
  WAIT_UNTIL (mesh_client_session_is_room_joined (alice_session, kept_id), WAIT_S);
  alice_chat = mesh_chat_model_new (alice_session, kept_id);

  /* A new member: a "joined" line in the chat, a third member in the list. */
  {
    MeshChatMessage *line;

    share_rooms (alice, carol, (const char * const []) { kept_id, NULL });
    WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)) == 1, WAIT_S);
    line = message_at (alice_chat, 0);
    g_assert_cmpstr (mesh_chat_message_get_event (line), ==, "joined");
    g_assert_cmpstr (mesh_chat_message_get_username (line), ==, "carol");
    g_assert_false (mesh_chat_message_get_is_own (line));
    WAIT_UNTIL (mesh_room_get_n_members (bob_kept) == 3, WAIT_S);
    /* Not a message: no unread count, no preview. */
    g_assert_cmpuint (mesh_room_get_unread_count (bob_kept), ==, 0);
  }

  /* Only the owner renames; bob's list shows the new name by itself. */
  mesh_room_list_rename_room_async (bob_rooms, kept_id, "Bob's", NULL, result_cb, &result);
  g_assert_false (mesh_room_list_change_room_finish (bob_rooms, wait_result (&result), &error));
  assert_mesh_error (error, MESH_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_clear_object (&result);
  mesh_room_list_rename_room_async (alice_rooms, kept_id, "Renamed", NULL, result_cb, &result);
  g_assert_true (mesh_room_list_change_room_finish (alice_rooms, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpstr (mesh_room_get_name (mesh_room_list_find (alice_rooms, kept_id, NULL)), ==,
                   "Renamed");
  WAIT_UNTIL (g_strcmp0 (mesh_room_get_name (bob_kept), "Renamed") == 0, WAIT_S);

  /* The owner deletes a room: gone from both lists, and bob's session no
   * longer counts it as joined (nor joins it again). */
  mesh_room_list_delete_room_async (alice_rooms, doomed_id, NULL, result_cb, &result);
  g_assert_true (mesh_room_list_change_room_finish (alice_rooms, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_null (mesh_room_list_find (alice_rooms, doomed_id, NULL));
  WAIT_UNTIL (mesh_room_list_find (bob_rooms, doomed_id, NULL) == NULL, WAIT_S);
  WAIT_UNTIL (!mesh_client_session_is_room_joined (bob_session, doomed_id), WAIT_S);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_rooms)), ==, 1);

  /* Bob leaves: gone from his list; alice's room has one member left. */
  mesh_room_list_leave_room_async (bob_rooms, kept_id, NULL, result_cb, &result);
  g_assert_true (mesh_room_list_change_room_finish (bob_rooms, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_rooms)), ==, 0);
  WAIT_UNTIL (!mesh_client_session_is_room_joined (bob_session, kept_id), WAIT_S);
  WAIT_UNTIL (mesh_room_get_n_members (mesh_room_list_find (alice_rooms, kept_id, NULL)) == 2,
              WAIT_S);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)) == 2, WAIT_S);
  g_assert_cmpstr (mesh_chat_message_get_event (message_at (alice_chat, 1)), ==, "left");
  g_assert_cmpstr (mesh_chat_message_get_username (message_at (alice_chat, 1)), ==, "bob");
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

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/client/rest/calls", test_rest_calls);
  g_test_add_func ("/mesh/client/rest/errors", test_rest_errors);
  g_test_add_func ("/mesh/client/session/errors", test_session_errors);
  g_test_add_func ("/mesh/client/models/rooms-members", test_models);
  g_test_add_func ("/mesh/client/chat/round-trip", test_chat_round_trip);
  g_test_add_func ("/mesh/client/chat/history", test_chat_history);
  g_test_add_func ("/mesh/client/chat/reconnect-resends", test_reconnect_resends);
  g_test_add_func ("/mesh/client/tls/pinning", test_certificate_pinning);
  g_test_add_func ("/mesh/client/chat/reconnect-catch-up", test_reconnect_catch_up);
  g_test_add_func ("/mesh/client/session/transient-agent", test_transient_agent);
  g_test_add_func ("/mesh/client/models/room-changes", test_room_changes);
  g_test_add_func ("/mesh/client/session/on-thread", test_session_on_thread);
  return g_test_run ();
}
