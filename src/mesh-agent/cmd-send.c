/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "cli-private.h"

static void
print_progress (App     *app,
                guint64  done,
                guint64  total,
                gboolean last)
{
  gint64 now = g_get_monotonic_time ();
  double elapsed = (now - app->started_at) / (double) G_USEC_PER_SEC;
  double rate = elapsed > 0 ? done / elapsed : 0;
  g_autofree char *done_s = format_size (done);
  g_autofree char *total_s = format_size (total);
  g_autofree char *rate_s = format_size ((guint64) rate);

  if (!last && now - app->last_print < (app->tty ? G_USEC_PER_SEC / 10 : G_USEC_PER_SEC))
    return;
  app->last_print = now;
  if (app->tty) {
    char bar[31];
    guint filled = total > 0 ? (guint) (30 * (double) done / total) : 30;
    guint64 eta = rate > 0 && total > done ? (guint64) ((total - done) / rate) : 0;

    memset (bar, '#', MIN (filled, 30));
    memset (bar + MIN (filled, 30), '-', 30 - MIN (filled, 30));
    bar[30] = '\0';
    say ("\r[%s] %3u%% %s / %s  %s/s  ETA %" G_GUINT64_FORMAT ":%02" G_GUINT64_FORMAT "  ",
         bar, total > 0 ? (guint) (100 * (double) done / total) : 100, done_s, total_s, rate_s,
         eta / 60, eta % 60);
    if (last)
      say ("\n");
  } else {
    say ("progress %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %s/s\n", done, total, rate_s);
  }
}

static void
on_send_progress (MeshAgentController *controller,
                  const char          *session_id,
                  guint64              done,
                  guint64              total,
                  App                 *app)
{
  print_progress (app, done, total, FALSE);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  if (!mesh_agent_controller_send_finish (MESH_AGENT_CONTROLLER (source), result, &error)) {
    if (app->tty)
      say ("\n");
    complain ("Transfer failed: %s\n", safe (error->message));
    app_quit (app, g_error_matches (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED) ? EXIT_AUTH
                                                                                : EXIT_FAILURE_);
    return;
  }
  say ("%sDone: the receiver confirmed the hash.\n", app->tty ? "\n" : "");
  app_quit (app, EXIT_OK);
}

gboolean
resolve_room (App *app)
{
  g_autoptr(GError) error = NULL;

  app->room_id = mesh_agent_controller_resolve_room (app->controller, app->room, &error);
  if (app->room_id == NULL) {
    complain ("%s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return FALSE;
  }
  return TRUE;
}

static void
on_send_ready (MeshAgentController *controller,
               App                 *app)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *device_id = NULL;

  if (app->room_id != NULL)
    return;   /* a reconnect: the transfer is already under way */
  if (!resolve_room (app))
    return;
  device_id = mesh_agent_controller_resolve_device (controller, app->room_id, app->to, &error);
  if (device_id == NULL) {
    complain ("%s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  file = g_file_new_for_commandline_arg (app->rest[0]);
  app->started_at = g_get_monotonic_time ();
  mesh_agent_controller_send_async (controller, app->room_id, device_id, file, app->cancellable,
                                    on_sent, app);
}

int
cmd_send (App *app)
{
  int code;

  if (app->room == NULL || app->to == NULL || app->rest == NULL || g_strv_length (app->rest) != 1) {
    complain ("send needs --room ROOM --to DEVICE and one PATH (see --help).\n");
    return EXIT_USAGE;
  }
  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_reconnect (app->controller, FALSE);
  mesh_agent_controller_set_transient (app->controller, TRUE);
  app->tty = isatty (STDOUT_FILENO);
  g_signal_connect (app->controller, "ready", G_CALLBACK (on_send_ready), app);
  g_signal_connect (app->controller, "session-started", G_CALLBACK (on_session_started), app);
  g_signal_connect (app->controller, "session-progress", G_CALLBACK (on_send_progress), app);
  return run_controller (app);
}
