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

static void
test_share_while_animating (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autofree char *room_id = NULL;
  GtkWindow *terminal_window;
  MeshWindow *window;
  guint frames = 0;
  guint late_frames;

  window = ui_test_alone_in_room (app, server, "Lab", &room_id);

  /* Frames that are always late, from here on. */
  late_frames = g_timeout_add_full (GDK_PRIORITY_REDRAW, 0, late_frame_cb, &frames, NULL);
  ui_test_wait_until (frames_drawn, &frames, UI_TEST_WAIT_S, "a late frame");

  terminal = ui_test_share_terminal (window, &terminal_window);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_RUNNING,
                               "the shell to start while frames are late");
  g_assert_null (mesh_shared_terminal_get_error (terminal));

  /* The shell answers, and stopping ends it, still with late frames. */
  {
    const char *command = "echo late-$((40+2))\n";

    mesh_shared_terminal_write (terminal, command, strlen (command));
  }
  mesh_shared_terminal_stop (terminal);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "the share to end");

  g_source_remove (late_frames);
  gtk_window_destroy (terminal_window);
  ui_test_sign_out_and_close (window);
}

int
main (int   argc,
      char *argv[])
{
  char *home = ui_test_init_with_home (&argc, &argv, "mesh-share-start-XXXXXX");

  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/share-start/while-animating", test_share_while_animating);
  return ui_test_run (&app, home);
}
