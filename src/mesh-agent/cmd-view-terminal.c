/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "cli-private.h"

/* Terminal viewer */

static void read_stdin (App *app);

static void
on_stdin_read (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0) {
    app->forwarding = FALSE;
    return;
  }
  if (app->viewer != NULL && app->forwarding)
    mesh_terminal_viewer_send_input (app->viewer, g_bytes_get_data (bytes, NULL),
                                     g_bytes_get_size (bytes));
  if (app->forwarding)
    read_stdin (app);
}

static void
read_stdin (App *app)
{
  if (app->stdin_stream == NULL)
    app->stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  g_input_stream_read_bytes_async (app->stdin_stream, 4096, G_PRIORITY_DEFAULT, app->cancellable,
                                   on_stdin_read, app);
}

static void
on_viewer_output (MeshTerminalViewer *viewer,
                  GBytes             *data,
                  App                *app)
{
  fwrite (g_bytes_get_data (data, NULL), 1, g_bytes_get_size (data), stdout);
  fflush (stdout);
}

static void
on_viewer_closed (MeshTerminalViewer *viewer,
                  GError             *error,
                  App                *app)
{
  if (error != NULL) {
    complain ("\nThe terminal session failed: %s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  complain ("\nThe terminal share ended.\n");
  app_quit (app, EXIT_OK);
}

static void
on_host_error (MeshTerminalViewer *viewer,
               const char         *code,
               const char         *message,
               App                *app)
{
  complain ("\nThe host says %s: %s\n", safe (code), safe (message));
}

static void
on_control_changed (MeshAgentController *controller,
                    const char          *share_id,
                    const char          *controller_peer_id,
                    App                 *app)
{
  gboolean mine = g_strcmp0 (controller_peer_id, mesh_agent_controller_get_peer_id (controller)) == 0;

  if (g_strcmp0 (share_id, app->share) != 0)
    return;
  complain ("\n%s\n", mine ? "You have control: standard input goes to the terminal."
                           : controller_peer_id != NULL ? "Someone else has control."
                                                        : "Control was released.");
  if (mine && !app->forwarding) {
    app->forwarding = TRUE;
    read_stdin (app);
  } else if (!mine) {
    app->forwarding = FALSE;
  }
}

static void
on_control_denied (MeshAgentController *controller,
                   const char          *share_id,
                   const char          *reason,
                   App                 *app)
{
  if (g_strcmp0 (share_id, app->share) == 0)
    complain ("\nControl denied%s%s\n", reason != NULL ? ": " : "",
              reason != NULL ? safe (reason) : "");
}

static void
on_viewing (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  app->viewer = mesh_agent_controller_view_terminal_finish (MESH_AGENT_CONTROLLER (source), result,
                                                           &error);
  if (app->viewer == NULL) {
    complain ("Cannot view the terminal: %s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  g_signal_connect (app->viewer, "output", G_CALLBACK (on_viewer_output), app);
  g_signal_connect (app->viewer, "closed", G_CALLBACK (on_viewer_closed), app);
  g_signal_connect (app->viewer, "host-error", G_CALLBACK (on_host_error), app);
  if (app->control)
    mesh_agent_controller_take_control (MESH_AGENT_CONTROLLER (source), app->share);
}

static void
on_view_ready (MeshAgentController *controller,
               App                 *app)
{
  if (app->room_id != NULL)
    return;
  if (!resolve_room (app))
    return;
  mesh_agent_controller_view_terminal_async (controller, app->room_id, app->share,
                                             app->cancellable, on_viewing, app);
}

int
cmd_view_terminal (App *app)
{
  int code;

  if (app->room == NULL || app->share == NULL) {
    complain ("view-terminal needs --room ROOM and --share ID (see --help).\n");
    return EXIT_USAGE;
  }
  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_reconnect (app->controller, FALSE);
  mesh_agent_controller_set_transient (app->controller, TRUE);
  g_signal_connect (app->controller, "ready", G_CALLBACK (on_view_ready), app);
  g_signal_connect (app->controller, "control-changed", G_CALLBACK (on_control_changed), app);
  g_signal_connect (app->controller, "control-denied", G_CALLBACK (on_control_denied), app);
  return run_controller (app);
}
