/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "test-client-private.h"

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

void
test_client_add_rest_tests (void)
{
  g_test_add_func ("/mesh/client/rest/calls", test_rest_calls);
  g_test_add_func ("/mesh/client/rest/errors", test_rest_errors);
}
