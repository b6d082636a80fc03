/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "cli-private.h"

/* Terminal host */

static void
on_shared (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  app->share_id = mesh_agent_controller_share_terminal_finish (MESH_AGENT_CONTROLLER (source),
                                                               result, &error);
  if (app->share_id == NULL) {
    complain ("Cannot share the terminal: %s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  say ("%s\n", safe (app->share_id));
}

static void
on_share_stopped (MeshAgentController *controller,
                  const char          *share_id,
                  App                 *app)
{
  if (g_strcmp0 (share_id, app->share_id) != 0)
    return;
  complain ("The terminal share ended.\n");
  g_clear_pointer (&app->share_id, g_free);
  app_quit (app, EXIT_OK);
}

static void
on_share_ready (MeshAgentController *controller,
                App                 *app)
{
  if (app->room_id != NULL) {
    /* The server ends a share whose host went away: this one is over. */
    if (app->share_id == NULL)
      return;
    complain ("The connection to the server was lost, which ended the share.\n");
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  if (!resolve_room (app))
    return;
  mesh_agent_controller_share_terminal_async (controller, app->room_id,
                                              (const char * const *) app->rest, app->cancellable,
                                              on_shared, app);
}

int
cmd_share_terminal (App *app)
{
  int code;

  if (app->room == NULL) {
    complain ("share-terminal needs --room ROOM (see --help).\n");
    return EXIT_USAGE;
  }
  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_reconnect (app->controller, FALSE);
  mesh_agent_controller_set_transient (app->controller, TRUE);
  mesh_agent_controller_set_allow_control (app->controller,
                                           (const char * const *) app->allow_control);
  g_signal_connect (app->controller, "ready", G_CALLBACK (on_share_ready), app);
  g_signal_connect (app->controller, "share-stopped", G_CALLBACK (on_share_stopped), app);
  return run_controller (app);
}
