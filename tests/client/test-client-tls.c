/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "test-client-private.h"

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

void
test_client_add_tls_tests (void)
{
  g_test_add_func ("/mesh/client/tls/pinning", test_certificate_pinning);
}
