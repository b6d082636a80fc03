/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-turn"

#include "config.h"

#include "coturn-harness.h"
#include "mesh-test-server.h"

#include <string.h>

#define SECRET "turn-test-secret-2c9f"

/* mesh-server's GET /api/v1/turn credentials are accepted by a real coturn
 * with use-auth-secret (the HMAC and the username format are what coturn
 * checks); tampered or expired ones are not. */
static void
test_coturn_accepts_credentials (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshTestCoturn) coturn = mesh_test_coturn_start ("127.0.0.1", SECRET, &error);
  g_autoptr(MeshTestServer) server = NULL;
  g_autoptr(MeshTestResponse) r = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *config = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *token = NULL;
  g_autofree char *output = NULL;
  g_autofree char *tampered = NULL;
  g_autofree char *expired_user = NULL;
  g_autofree char *expired_password = NULL;
  JsonObject *obj;
  const char *username, *password;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
    g_test_skip (error->message);
    return;
  }
  g_assert_no_error (error);
  uri = mesh_test_coturn_get_uri (coturn);
  config = g_strdup_printf ("[turn]\nuris=stun:127.0.0.1:%u;%s\nsecret=" SECRET "\nttl=600\n",
                            mesh_test_coturn_get_port (coturn), uri);
  server = mesh_test_server_new (config);
  g_free (mesh_test_server_add_user (server, "alice", "correct horse"));
  mesh_test_server_start (server);
  token = mesh_test_login (server, "alice", "correct horse", &user_id);

  r = mesh_test_request (server, "GET", "/api/v1/turn", token, NULL);
  g_assert_cmpuint (r->status, ==, 200);
  obj = mesh_test_response_object (r);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj, "uris")), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (obj, "uris"), 1),
                   ==, uri);
  username = json_object_get_string_member (obj, "username");
  password = json_object_get_string_member (obj, "password");
  g_assert_true (g_str_has_suffix (username, user_id));

  if (!mesh_test_coturn_try_allocate (coturn, username, password, &output))
    g_error ("coturn refused mesh-server's credentials:\n%s", output);
  g_clear_pointer (&output, g_free);

  /* One character off: refused. */
  tampered = g_strdup (password);
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  g_assert_false (mesh_test_coturn_try_allocate (coturn, username, tampered, NULL));
  /* The right HMAC for an expiry in the past: refused (what ttl buys). */
  {
    g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) SECRET,
                                        strlen (SECRET));
    guint8 digest[20];
    gsize len = sizeof digest;

    expired_user = g_strdup_printf ("%" G_GINT64_FORMAT ":%s",
                                    g_get_real_time () / G_USEC_PER_SEC - 60, user_id);
    g_hmac_update (hmac, (const guchar *) expired_user, -1);
    g_hmac_get_digest (hmac, digest, &len);
    expired_password = g_base64_encode (digest, len);
  }
  g_assert_false (mesh_test_coturn_try_allocate (coturn, expired_user, expired_password, NULL));

  mesh_test_server_stop (server);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/turn/coturn-accepts-credentials", test_coturn_accepts_credentials);

  return g_test_run ();
}
