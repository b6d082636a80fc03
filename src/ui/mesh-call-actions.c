/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-call-actions"

#include "config.h"

#include "mesh-call-actions.h"

#include "mesh-call-controller.h"
#include "mesh-ui-util.h"
#include "mesh-window.h"

#include <glib/gi18n.h>

/* The main window whose session the actions use: the active one if it is
 * a main window, else the first one signed in. */
static MeshWindow *
find_window (GtkApplication *app)
{
  GtkWindow *active = gtk_application_get_active_window (app);

  if (MESH_IS_WINDOW (active) && mesh_window_get_call_controller (MESH_WINDOW (active)) != NULL)
    return MESH_WINDOW (active);
  for (GList *l = gtk_application_get_windows (app); l != NULL; l = l->next) {
    if (MESH_IS_WINDOW (l->data) && mesh_window_get_call_controller (l->data) != NULL)
      return l->data;
  }
  return NULL;
}

static MeshCallController *
find_controller (GtkApplication *app,
                 MeshWindow    **window)
{
  MeshWindow *found = find_window (app);

  if (window != NULL)
    *window = found;
  if (found == NULL) {
    g_message ("No signed-in window for a call action");
    return NULL;
  }
  return mesh_window_get_call_controller (found);
}

/* The sentences of the errors a call action meets; the others are the
 * server's or the network's, which mesh_ui_toast_error () tells. */
static void
toast_call_error (MeshWindow   *window,
                  const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    mesh_ui_toast (GTK_WIDGET (window), _("A call is already running in this room."));
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    mesh_ui_toast (GTK_WIDGET (window), _("Nobody else in this room is online right now."));
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED))
    mesh_ui_toast (GTK_WIDGET (window),
                   _("This room is not connected right now. Try again in a moment."));
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    mesh_ui_toast (GTK_WIDGET (window), _("This computer cannot share its screen."));
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    mesh_ui_toast_error (GTK_WIDGET (window), error);
}

static void
call_room_activated (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  g_autoptr(GError) error = NULL;
  MeshWindow *window;
  MeshCallController *controller = find_controller (user_data, &window);

  if (controller == NULL)
    return;
  if (!mesh_call_controller_call (controller, g_variant_get_string (parameter, NULL), NULL,
                                  &error))
    toast_call_error (window, error);
}

static void
call_peer_activated (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  g_autoptr(GError) error = NULL;
  MeshWindow *window;
  MeshCallController *controller = find_controller (user_data, &window);
  const char *room_id, *peer_id;

  if (controller == NULL)
    return;
  g_variant_get (parameter, "(&s&s)", &room_id, &peer_id);
  if (!mesh_call_controller_call (controller, room_id, peer_id, &error))
    toast_call_error (window, error);
}

static void
call_accept_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  g_autoptr(GError) error = NULL;
  MeshWindow *window;
  MeshCallController *controller = find_controller (user_data, &window);
  const char *room_id = g_variant_get_string (parameter, NULL);

  if (controller == NULL)
    return;
  if (!mesh_call_controller_accept (controller, room_id, &error)) {
    toast_call_error (window, error);
    return;
  }
  /* Answered from a notification: the call is in the room's view. */
  mesh_window_open_room (window, room_id);
}

static void
call_decline_activated (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  MeshCallController *controller = find_controller (user_data, NULL);

  if (controller != NULL)
    mesh_call_controller_decline (controller, g_variant_get_string (parameter, NULL));
}

static void
hang_up_activated (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  GtkApplication *app = user_data;

  /* Every signed-in window of this process. */
  for (GList *l = gtk_application_get_windows (app); l != NULL; l = l->next) {
    if (MESH_IS_WINDOW (l->data) && mesh_window_get_call_controller (l->data) != NULL)
      mesh_call_controller_hang_up_all (mesh_window_get_call_controller (l->data));
  }
}

static void
share_ready_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(MeshWindow) window = user_data;
  g_autoptr(GError) error = NULL;

  if (!mesh_call_controller_share_screen_finish (MESH_CALL_CONTROLLER (source), result, &error))
    toast_call_error (window, error);
}

static void
share_screen_activated (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  MeshWindow *window;
  MeshCallController *controller = find_controller (user_data, &window);

  if (controller == NULL)
    return;
  mesh_call_controller_share_screen_async (controller, g_variant_get_string (parameter, NULL),
                                           GTK_WINDOW (window), NULL, share_ready_cb,
                                           g_object_ref (window));
}

static void
stop_sharing_activated (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  MeshCallController *controller = find_controller (user_data, NULL);

  if (controller != NULL)
    mesh_call_controller_stop_sharing (controller, g_variant_get_string (parameter, NULL));
}

static const GActionEntry call_actions[] = {
  { "call-room", call_room_activated, "s" },
  { "call-peer", call_peer_activated, "(ss)" },
  { "call-accept", call_accept_activated, "s" },
  { "call-decline", call_decline_activated, "s" },
  { "hang-up", hang_up_activated },
  { "share-screen", share_screen_activated, "s" },
  { "stop-sharing", stop_sharing_activated, "s" },
};

void
mesh_call_actions_install (GtkApplication *application)
{
  g_return_if_fail (GTK_IS_APPLICATION (application));

  g_action_map_add_action_entries (G_ACTION_MAP (application), call_actions,
                                   G_N_ELEMENTS (call_actions), application);
}
