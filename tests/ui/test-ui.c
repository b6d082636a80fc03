/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "test-ui-private.h"

#include <string.h>
#include <vte/vte.h>

/* One application for the whole run, as in the app: windows come and go. */
MeshApplication *app;

/* Bob's member row, listing the device @device_id (NULL: any device). */
static gboolean
is_bobs_row_with (GtkWidget     *widget,
                  gconstpointer  device_id)
{
  MeshMember *member = mesh_member_row_get_member (MESH_MEMBER_ROW (widget));
  const char * const *devices = mesh_member_get_devices (member);

  return g_strcmp0 (mesh_member_get_username (member), "bob") == 0 &&
         (device_id == NULL ? devices[0] != NULL : g_strv_contains (devices, device_id));
}

/* The room on screen shows bob's device (so it is connected and in the room). */
static gboolean
bob_device_shown (gpointer user_data)
{
  MeshWindow *window = ((gpointer *) user_data)[0];

  return ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)),
                              MESH_TYPE_MEMBER_ROW, is_bobs_row_with,
                              ((gpointer *) user_data)[1]) != NULL;
}

gboolean
terminal_shows (gpointer user_data)
{
  GtkWindow *window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  GtkWidget *view, *vte;
  g_autofree char *text = NULL;

  if (window == NULL)
    return FALSE;
  view = ui_test_find_widget (GTK_WIDGET (window), MESH_TYPE_TERMINAL_VIEW, NULL, NULL);
  vte = mesh_terminal_view_get_vte (MESH_TERMINAL_VIEW (view));
  text = vte_terminal_get_text (VTE_TERMINAL (vte), NULL, NULL, NULL);
  return text != NULL && strstr (text, user_data) != NULL;
}

gboolean
process_exited (gpointer user_data)
{
  return g_subprocess_get_identifier (user_data) == NULL;
}

void
lab_start (Lab        *lab,
           const char *tmp_template)
{
  lab->tmp = g_dir_make_tmp (tmp_template, NULL);
  g_assert_nonnull (lab->tmp);
  lab->bob_state = g_build_filename (lab->tmp, "bob-agent", NULL);
  lab->bob_downloads = g_build_filename (lab->tmp, "bob-downloads", NULL);
  lab->alice_downloads = g_build_filename (lab->tmp, "alice-downloads", NULL);
  lab->server = mesh_test_server_new (NULL);
  ui_test_start_server (lab->server, "alice", "bob", NULL);
  lab->url = mesh_test_server_get_base_url (lab->server);
  ui_test_peer_start (&lab->bob, lab->url, "bob", "bob-password");
  lab->bob.room_id = ui_test_peer_create_room (&lab->bob, "Lab", &lab->invite);
}

void
lab_login_bob (Lab        *lab,
               const char *state_dir,
               const char *device_name)
{
  ui_test_agent_login (lab->url, state_dir, "bob", "bob-password", device_name);
}

MeshEmbeddedAgent *
lab_enter (Lab *lab)
{
  lab->alice_rest = ui_test_rest_login (lab->url, NULL, "alice", "alice-password");
  ui_test_rest_accept_invite (lab->alice_rest, lab->invite);
  lab->window = ui_test_window_new (app, 1280, 800);
  ui_test_sign_in_to_room (lab->window, lab->url, "alice", "alice-password", lab->bob.room_id);
  g_assert_cmpint (g_mkdir_with_parents (lab->alice_downloads, 0700), ==, 0);
  g_settings_set_string (mesh_application_get_settings (app), "download-folder",
                         lab->alice_downloads);
  return mesh_window_get_agent (lab->window);
}

void
lab_wait_bob_device (Lab        *lab,
                     const char *device_id)
{
  gpointer member_data[2] = { lab->window, (gpointer) device_id };

  ui_test_wait_until (bob_device_shown, member_data, UI_TEST_WAIT_S, "bob's device in the room");
}

void
lab_stop (Lab *lab)
{
  ui_test_sign_out_and_close (lab->window);
  ui_test_peer_clear (&lab->bob);
  g_clear_object (&lab->alice_rest);
  g_clear_pointer (&lab->server, mesh_test_server_free);
  g_free (lab->invite);
  mesh_test_remove_tree (lab->tmp);
  g_free (lab->tmp);
  g_free (lab->bob_state);
  g_free (lab->bob_downloads);
  g_free (lab->alice_downloads);
}

MeshAgentController *
start_agent_here (const char *state_dir)
{
  g_autoptr(MeshAgentState) state = mesh_agent_state_new (state_dir);
  g_autoptr(MeshAgentIdentity) identity = NULL;
  g_autoptr(GInetAddress) address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) bind = g_inet_socket_address_new (address, 0);
  g_autoptr(GError) error = NULL;
  MeshAgentController *controller;

  g_assert_true (mesh_agent_state_load (state, &error));
  g_assert_no_error (error);
  identity = mesh_agent_state_load_identity (state, &error);
  g_assert_no_error (error);
  controller = mesh_agent_controller_new (state, identity);
  mesh_agent_controller_set_reconnect (controller, FALSE);
  mesh_agent_controller_set_quic_address (controller, G_INET_SOCKET_ADDRESS (bind));
  g_assert_true (mesh_agent_controller_start (controller, &error));
  g_assert_no_error (error);
  return controller;
}

gboolean
agent_here_ready (gpointer controller)
{
  return mesh_agent_controller_is_ready (controller);
}

int
main (int   argc,
      char *argv[])
{
  char *home = ui_test_init_with_home (&argc, &argv, "mesh-ui-test-XXXXXX");

  app = ui_test_app_new ("test");

  /* Grouped by theme; each theme keeps its tests in the order they had. */
  test_ui_add_signin_tests ();
  test_ui_add_chat_tests ();
  test_ui_add_preferences_tests ();
  test_ui_add_transfers_tests ();
  test_ui_add_terminals_tests ();
  test_ui_add_same_name_tests ();
  return ui_test_run (&app, home);
}
