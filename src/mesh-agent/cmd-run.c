/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "cli-private.h"

char *
format_size (guint64 bytes)
{
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}

void
on_session_started (MeshAgentController *controller,
                    const char          *session_id,
                    const char          *kind,
                    const char          *role,
                    const char          *name,
                    const char          *peer,
                    App                 *app)
{
  if (g_str_equal (role, "server"))
    say ("%s session %s from %s: %s\n", safe (kind), safe (session_id), safe (peer),
         name != NULL ? safe (name) : "");
  else
    say ("Sending %s “%s” to %s\n", safe (kind), name != NULL ? safe (name) : "", safe (peer));
  app->started_at = g_get_monotonic_time ();
}

static void
on_session_finished (MeshAgentController *controller,
                     const char          *session_id,
                     const char          *kind,
                     const char          *role,
                     gboolean             ok,
                     guint64              bytes,
                     GError              *error,
                     App                 *app)
{
  g_autofree char *size = format_size (bytes);

  if (g_str_equal (role, "server") && !g_str_equal (kind, "terminal"))
    say ("%s session %s %s (%s)%s%s\n", safe (kind), safe (session_id),
         ok ? "completed" : "failed", size, error != NULL ? ": " : "",
         error != NULL ? safe (error->message) : "");
}

static void
on_session_rejected (MeshAgentController *controller,
                     const char          *session_id,
                     const char          *kind,
                     const char          *peer,
                     const char          *reason,
                     App                 *app)
{
  say ("Refused %s session %s from %s: %s\n", safe (kind), safe (session_id), safe (peer),
       safe (reason));
}

int
cmd_run (App *app)
{
  int code;

  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_accept_offers (app->controller, TRUE);
  mesh_agent_controller_set_accept_from (app->controller, (const char * const *) app->accept_from);
  if (app->download_dir != NULL) {
    g_autoptr(GFile) dir = g_file_new_for_commandline_arg (app->download_dir);

    mesh_agent_controller_set_download_dir (app->controller, dir);
  }
  g_signal_connect (app->controller, "session-started", G_CALLBACK (on_session_started), app);
  g_signal_connect (app->controller, "session-finished", G_CALLBACK (on_session_finished), app);
  g_signal_connect (app->controller, "session-rejected", G_CALLBACK (on_session_rejected), app);
  return run_controller (app);
}
