/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Issue #11 item 4: "Starting Your Shell…" for minutes (the viewer on
 * "Connecting…") until something else happened.
 *
 * Both pages show a spinning GtkSpinner: while it spins, the frame clock
 * wants a frame every refresh, and when a frame takes longer than that to
 * draw (software rendering, a large window, the first frames of a new
 * window) its paint source, at GDK_PRIORITY_REDRAW, is ready at every
 * iteration.  GLib then never dispatches a source of lower priority, and
 * the embedded agent's messages to the window ("the share started") were
 * idle sources (G_PRIORITY_DEFAULT_IDLE): they waited until the animation
 * stopped or a frame came in time.  Here a source at the same priority that
 * is always ready stands in for a frame clock that is always late. */
#define G_LOG_DOMAIN "test-share-start"

#include "config.h"

#include "mesh-test-server.h"
#include "mesh-application.h"
#include "mesh-client-rest.h"
#include "mesh-embedded-agent.h"
#include "mesh-shared-terminal.h"
#include "mesh-terminal-window.h"
#include "mesh-window.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

#include <string.h>

static MeshApplication *app;

static gboolean
late_frame_cb (gpointer user_data)
{
  guint *frames = user_data;

  (*frames)++;
  return G_SOURCE_CONTINUE;
}

static gboolean
frames_drawn (gpointer user_data)
{
  return *(guint *) user_data > 0;
}

static gboolean
room_opened (gpointer user_data)
{
  return mesh_window_open_room (((gpointer *) user_data)[0], ((gpointer *) user_data)[1]);
}

static gboolean
terminal_running (gpointer user_data)
{
  return mesh_shared_terminal_get_state (user_data) == MESH_SHARED_TERMINAL_RUNNING;
}

static gboolean
terminal_ended (gpointer user_data)
{
  return mesh_shared_terminal_get_state (user_data) == MESH_SHARED_TERMINAL_ENDED;
}

static void
test_share_while_animating (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshClientRest) alice_rest = NULL;
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autofree char *room_id = NULL;
  GAsyncResult *result = NULL;
  GtkWindow *terminal_window;
  MeshWindow *window;
  guint frames = 0;
  guint late_frames;

  g_free (mesh_test_server_add_user (server, "alice", "alice-password"));
  mesh_test_server_start (server);
  alice_rest = mesh_client_rest_new (mesh_test_server_get_base_url (server));
  mesh_client_rest_login_async (alice_rest, "alice", "alice-password", NULL,
                                ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "alice's login");
  g_assert_true (mesh_client_rest_login_finish (alice_rest, result, &error));
  g_clear_object (&result);
  mesh_client_rest_create_room_async (alice_rest, "Lab", NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "alice's room");
  room_id = mesh_client_rest_create_room_finish (alice_rest, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  window = mesh_window_new (app);
  ui_test_present (GTK_WINDOW (window), 1280, 800);
  ui_test_sign_in (window, mesh_test_server_get_base_url (server), "alice", "alice-password");
  ui_test_wait_agent_ready (window, "alice's embedded agent");
  {
    gpointer room_data[2] = { window, room_id };

    ui_test_wait_until (room_opened, room_data, UI_TEST_WAIT_S, "the room to open");
  }

  /* Frames that are always late, from here on. */
  late_frames = g_timeout_add_full (GDK_PRIORITY_REDRAW, 0, late_frame_cb, &frames, NULL);
  ui_test_wait_until (frames_drawn, &frames, UI_TEST_WAIT_S, "a late frame");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (mesh_window_get_room_view (window)),
                                             "room.share-terminal", NULL));
  terminal_window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  g_assert_nonnull (terminal_window);
  terminal = g_object_ref (mesh_terminal_window_get_terminal (MESH_TERMINAL_WINDOW (terminal_window)));
  ui_test_wait_until (terminal_running, terminal, UI_TEST_WAIT_S,
                      "the shell to start while frames are late");
  g_assert_null (mesh_shared_terminal_get_error (terminal));

  /* The shell answers, and stopping ends it, still with late frames. */
  {
    const char *command = "echo late-$((40+2))\n";

    mesh_shared_terminal_write (terminal, command, strlen (command));
  }
  mesh_shared_terminal_stop (terminal);
  ui_test_wait_until (terminal_ended, terminal, UI_TEST_WAIT_S, "the share to end");

  g_source_remove (late_frames);
  gtk_window_destroy (terminal_window);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  ui_test_destroy_window (GTK_WINDOW (window));
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *state = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  /* The saved sign-in and the embedded agent's state go to a throwaway
   * folder, not the user's. */
  state = g_dir_make_tmp ("mesh-share-start-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("XDG_CONFIG_HOME", state, TRUE);
  g_setenv ("XDG_STATE_HOME", state, TRUE);

  ui_test_init (&argc, &argv);
  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/share-start/while-animating", test_share_while_animating);
  ret = g_test_run ();

  g_application_release (G_APPLICATION (app));
  g_clear_object (&app);
  {
    g_autofree char *rm = g_strdup_printf ("rm -rf %s", state);

    g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL);
  }
  return ret;
}
