/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "test-ui-private.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static gboolean
not_busy (gpointer user_data)
{
  return !mesh_signin_page_get_busy (user_data);
}

static gboolean
is_busy (gpointer user_data)
{
  return mesh_signin_page_get_busy (user_data);
}

static void
test_sign_in (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autofree char *alice_id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(MeshSavedSession) saved = NULL;
  g_autofree char *saved_url = NULL;
  GSettings *settings = mesh_application_get_settings (app);
  MeshWindow *window;
  GStatBuf st;

  alice_id = mesh_test_server_add_user (server, "alice", "alice-password");
  mesh_test_server_start (server);

  window = ui_test_window_new (app, 1280, 800);
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  shot = ui_test_screenshot (GTK_WIDGET (window), "signin-1280x800");

  /* A wrong password keeps the page and marks the field. */
  ui_test_fill_sign_in (window, mesh_test_server_get_base_url (server), "alice", "wrong");
  ui_test_click_sign_in (window);
  ui_test_wait_until (is_busy, mesh_window_get_signin_page (window), UI_TEST_WAIT_S, "the request");
  ui_test_wait_until (not_busy, mesh_window_get_signin_page (window), UI_TEST_WAIT_S,
                      "the refusal");
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  g_assert_nonnull (ui_test_find_widget (GTK_WIDGET (window), ADW_TYPE_PASSWORD_ENTRY_ROW, NULL,
                                         NULL));
  g_assert_true (gtk_widget_has_css_class (ui_test_find_widget (GTK_WIDGET (window),
                                                                ADW_TYPE_PASSWORD_ENTRY_ROW,
                                                                NULL, NULL), "error"));

  ui_test_sign_in (window, mesh_test_server_get_base_url (server), "alice", "alice-password");
  g_assert_cmpstr (mesh_client_session_get_user_id (mesh_window_get_session (window)), ==,
                   alice_id);

  /* The sign-in is kept for the next start, readable by its owner only. */
  saved_url = g_settings_get_string (settings, "server-url");
  g_assert_cmpstr (saved_url, ==, mesh_test_server_get_base_url (server));
  path = mesh_saved_session_path ("test");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  saved = mesh_saved_session_load ("test", NULL);
  g_assert_nonnull (saved);
  g_assert_cmpstr (saved->user_id, ==, alice_id);
  g_assert_cmpstr (saved->username, ==, "alice");
  ui_test_destroy_window (GTK_WINDOW (window));

  /* A new window starts signed in. */
  window = ui_test_window_new (app, 1280, 800);
  g_assert_cmpstr (mesh_window_get_page (window), ==, "rooms");
  ui_test_wait_connected (window, "the restored session");

  /* Signing out forgets it. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  ui_test_destroy_window (GTK_WINDOW (window));
}

static void
test_certificate (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *pinned = NULL;
  g_autofree char *first_group = NULL;
  GSettings *settings = mesh_application_get_settings (app);
  AdwMessageDialog *dialog;
  MeshWindow *window;

  fingerprint = mesh_test_make_certificate (mesh_test_server_get_data_dir (server), &cert, &key);
  mesh_test_server_set_tls (server, cert, key);
  g_free (mesh_test_server_add_user (server, "carol", "carol-password"));
  mesh_test_server_start (server);
  g_assert_true (g_str_has_prefix (mesh_test_server_get_base_url (server), "https://"));

  window = ui_test_window_new (app, 1280, 800);
  ui_test_fill_sign_in (window, mesh_test_server_get_base_url (server), "carol", "carol-password");
  ui_test_click_sign_in (window);

  /* The unknown certificate is shown by its fingerprint before anything is sent. */
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG,
                                                      "the trust question"));
  first_group = g_ascii_strup (fingerprint, 2);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), first_group));
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");

  adw_message_dialog_response (dialog, "trust");
  ui_test_wait_page (window, "rooms");
  ui_test_wait_connected (window, "the TLS session");

  pinned = g_settings_get_string (settings, "pinned-fingerprint");
  g_assert_cmpint (g_ascii_strcasecmp (pinned, fingerprint), ==, 0);
  /* The embedded agent trusts the same certificate: it signs in and connects. */
  ui_test_wait_agent_ready (window, "the embedded agent over TLS");

  ui_test_sign_out_and_close (window);
  g_settings_reset (settings, "pinned-fingerprint");
}

/* Signing in: the saved sign-in, a server's certificate. */
void
test_ui_add_signin_tests (void)
{
  g_test_add_func ("/mesh/ui/sign-in", test_sign_in);
  g_test_add_func ("/mesh/ui/certificate", test_certificate);
}
