/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-call-buttons"

#include "config.h"

#include "mesh-call-buttons.h"

#include <glib/gi18n.h>

struct _MeshCallButtons {
  AdwBin              parent_instance;

  GtkWidget          *call_button;
  GtkWidget          *screen_button;

  MeshCallController *controller;
  GListModel         *calls;
  char               *room_id;
};

G_DEFINE_FINAL_TYPE (MeshCallButtons, mesh_call_buttons, ADW_TYPE_BIN)

static void
set_name (GtkWidget  *button,
          const char *name)
{
  gtk_widget_set_tooltip_text (button, name);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, name,
                                  -1);
}

static void
update (MeshCallButtons *self)
{
  gboolean usable = self->controller != NULL && self->room_id != NULL &&
                    mesh_call_controller_get_engine (self->controller) != NULL;
  MeshCall *call = usable ? mesh_call_controller_get_call (self->controller, self->room_id)
                          : NULL;
  MeshCall *share = usable ? mesh_call_controller_get_own_share (self->controller, self->room_id)
                           : NULL;

  gtk_widget_set_visible (GTK_WIDGET (self), usable);
  if (!usable)
    return;
  /* The target first: the action takes one. */
  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->call_button), "s", self->room_id);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->call_button), "app.call-room");
  /* A ringing call is answered with Call as well. */
  gtk_widget_set_sensitive (self->call_button,
                            call == NULL || mesh_call_get_state (call) == MESH_CALL_STATE_RINGING);

  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->screen_button), "s", self->room_id);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->screen_button),
                                  share != NULL ? "app.stop-sharing" : "app.share-screen");
  set_name (self->screen_button, share != NULL ? _("Stop Sharing") : _("Share Screen"));
  if (share != NULL)
    gtk_widget_add_css_class (self->screen_button, "suggested-action");
  else
    gtk_widget_remove_css_class (self->screen_button, "suggested-action");
}

static void
mesh_call_buttons_dispose (GObject *object)
{
  MeshCallButtons *self = MESH_CALL_BUTTONS (object);

  if (self->calls != NULL)
    g_signal_handlers_disconnect_by_data (self->calls, self);
  g_clear_object (&self->calls);
  g_clear_object (&self->controller);

  G_OBJECT_CLASS (mesh_call_buttons_parent_class)->dispose (object);
}

static void
mesh_call_buttons_finalize (GObject *object)
{
  MeshCallButtons *self = MESH_CALL_BUTTONS (object);

  g_free (self->room_id);

  G_OBJECT_CLASS (mesh_call_buttons_parent_class)->finalize (object);
}

static void
mesh_call_buttons_class_init (MeshCallButtonsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_call_buttons_dispose;
  object_class->finalize = mesh_call_buttons_finalize;
}

static void
mesh_call_buttons_init (MeshCallButtons *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);

  self->call_button = gtk_button_new_from_icon_name ("call-start-symbolic");
  /* The actions are set with the room's id as their target. */
  set_name (self->call_button, _("Call Everyone"));
  gtk_box_append (GTK_BOX (box), self->call_button);

  self->screen_button = gtk_button_new_from_icon_name ("screen-shared-symbolic");
  set_name (self->screen_button, _("Share Screen"));
  gtk_box_append (GTK_BOX (box), self->screen_button);

  adw_bin_set_child (ADW_BIN (self), box);
  gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
}

GtkWidget *
mesh_call_buttons_new (void)
{
  return g_object_new (MESH_TYPE_CALL_BUTTONS, NULL);
}

void
mesh_call_buttons_set_controller (MeshCallButtons    *self,
                                  MeshCallController *controller)
{
  g_return_if_fail (MESH_IS_CALL_BUTTONS (self));
  g_return_if_fail (controller == NULL || MESH_IS_CALL_CONTROLLER (controller));

  g_set_object (&self->controller, controller);
  if (!mesh_call_controller_follow_calls (controller, &self->calls, self, G_CALLBACK (update)))
    update (self);
}

void
mesh_call_buttons_set_room_id (MeshCallButtons *self,
                               const char      *room_id)
{
  g_return_if_fail (MESH_IS_CALL_BUTTONS (self));

  g_free (self->room_id);
  self->room_id = g_strdup (room_id);
  update (self);
}
