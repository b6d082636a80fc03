/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-call-banner"

#include "config.h"

#include "mesh-call-banner.h"

#include "mesh-escape.h"

#include <glib/gi18n.h>

struct _MeshCallBanner {
  AdwBin              parent_instance;

  /* Template widgets */
  GtkBox             *box;

  /* Owned references */
  MeshCallController *controller;
  GListModel         *calls;
  char               *room_id;
  GPtrArray          *texts;
};

G_DEFINE_FINAL_TYPE (MeshCallBanner, mesh_call_banner, ADW_TYPE_BIN)

static GtkWidget *
add_button (GtkWidget  *row,
            const char *label,
            const char *action,
            const char *room_id,
            const char *style)
{
  GtkWidget *button = gtk_button_new_with_mnemonic (label);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "pill");
  if (style != NULL)
    gtk_widget_add_css_class (button, style);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "s", room_id);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_box_append (GTK_BOX (row), button);
  return button;
}

static GtkWidget *
add_row (MeshCallBanner *self,
         const char     *icon_name,
         const char     *text,
         const char     *style)
{
  GtkWidget *row, *label;

  row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_add_css_class (row, "call-banner-row");
  if (style != NULL)
    gtk_widget_add_css_class (row, style);
  gtk_box_append (GTK_BOX (row), gtk_image_new_from_icon_name (icon_name));
  label = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (label), 0.0f);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_widget_add_css_class (label, "heading");
  gtk_box_append (GTK_BOX (row), label);
  gtk_box_append (self->box, row);
  g_ptr_array_add (self->texts, g_strdup (text));
  return row;
}

/* What rings or runs: in the room shown, and what the user is in elsewhere
 * (a call elsewhere is one click away; a call ringing elsewhere is answered
 * from here). */
static void
add_call_rows (MeshCallBanner *self,
               MeshCall       *call)
{
  const char *room_id = mesh_call_get_room_id (call);
  gboolean here = g_strcmp0 (room_id, self->room_id) == 0;
  gboolean incoming = mesh_call_get_direction (call) == MESH_CALL_DIRECTION_INCOMING;
  gboolean share = mesh_call_get_kind (call) == MESH_MEDIA_KIND_SCREENSHARE;
  MeshCallState state = mesh_call_get_state (call);
  g_autofree char *name = NULL;
  g_autofree char *room = NULL;
  g_autofree char *text = NULL;
  GtkWidget *row, *button;

  if (state == MESH_CALL_STATE_ENDED)
    return;
  name = mesh_escape_for_display (mesh_call_get_caller_name (call) != NULL
                                  ? mesh_call_get_caller_name (call) : _("Someone"), -1);
  room = mesh_call_controller_dup_room_name (self->controller, room_id);
  if (room == NULL)
    room = g_strdup (_("another room"));

  if (incoming && !share && state == MESH_CALL_STATE_RINGING) {
    if (here)
      /* Translators: a member's name. */
      text = g_strdup_printf (_("%s is calling"), name);
    else
      /* Translators: a member's name, then a room's. */
      text = g_strdup_printf (_("%s is calling in “%s”"), name, room);
    row = add_row (self, "call-start-symbolic", text, "ringing");
    add_button (row, _("_Decline"), "app.call-decline", room_id, "destructive-action");
    add_button (row, _("_Accept"), "app.call-accept", room_id, "suggested-action");
  } else if (incoming && share && state == MESH_CALL_STATE_RINGING && here) {
    /* Translators: a member's name. */
    text = g_strdup_printf (_("%s is sharing a screen"), name);
    row = add_row (self, "screen-shared-symbolic", text, NULL);
    add_button (row, _("_Watch"), "app.call-accept", room_id, "suggested-action");
  } else if (!incoming && share) {
    if (here)
      text = g_strdup (_("You are sharing your screen"));
    else
      /* Translators: a room's name. */
      text = g_strdup_printf (_("You are sharing your screen in “%s”"), room);
    row = add_row (self, "screen-shared-symbolic", text, "sharing");
    add_button (row, _("_Stop Sharing"), "app.stop-sharing", room_id, "destructive-action");
  } else if (!share && !here && state != MESH_CALL_STATE_RINGING) {
    /* Translators: a room's name. */
    text = g_strdup_printf (_("You are in a call in “%s”"), room);
    row = add_row (self, "call-start-symbolic", text, "ringing");
    add_button (row, _("_Go to Call"), "win.open-room", room_id, "suggested-action");
    button = gtk_button_new_from_icon_name ("call-stop-symbolic");
    gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text (button, _("Hang Up"));
    gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                    _("Hang Up"), -1);
    gtk_widget_add_css_class (button, "circular");
    gtk_widget_add_css_class (button, "destructive-action");
    gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "app.hang-up");
    gtk_box_append (GTK_BOX (row), button);
  }
}

static void
update (MeshCallBanner *self)
{
  GtkWidget *child;
  guint n;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->box))) != NULL)
    gtk_box_remove (self->box, child);
  g_ptr_array_set_size (self->texts, 0);

  n = self->calls != NULL && self->room_id != NULL ? g_list_model_get_n_items (self->calls) : 0;
  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (self->calls, i);

    add_call_rows (self, call);
  }
  /* The revealer is the bin's child, not a template child: disposing the
   * template would unparent it under AdwBin's feet. */
  gtk_revealer_set_reveal_child (GTK_REVEALER (adw_bin_get_child (ADW_BIN (self))),
                                 self->texts->len > 0);
}

static void
mesh_call_banner_dispose (GObject *object)
{
  MeshCallBanner *self = MESH_CALL_BANNER (object);

  mesh_call_banner_set_controller (self, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_CALL_BANNER);

  G_OBJECT_CLASS (mesh_call_banner_parent_class)->dispose (object);
}

static void
mesh_call_banner_finalize (GObject *object)
{
  MeshCallBanner *self = MESH_CALL_BANNER (object);

  g_free (self->room_id);
  g_ptr_array_unref (self->texts);

  G_OBJECT_CLASS (mesh_call_banner_parent_class)->finalize (object);
}

static void
mesh_call_banner_class_init (MeshCallBannerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mesh_call_banner_dispose;
  object_class->finalize = mesh_call_banner_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-call-banner.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshCallBanner, box);
}

static void
mesh_call_banner_init (MeshCallBanner *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->texts = g_ptr_array_new_with_free_func (g_free);
}

GtkWidget *
mesh_call_banner_new (void)
{
  return g_object_new (MESH_TYPE_CALL_BANNER, NULL);
}

void
mesh_call_banner_set_controller (MeshCallBanner     *self,
                                 MeshCallController *controller)
{
  g_return_if_fail (MESH_IS_CALL_BANNER (self));
  g_return_if_fail (controller == NULL || MESH_IS_CALL_CONTROLLER (controller));

  g_set_object (&self->controller, controller);
  if (!mesh_call_controller_follow_calls (controller, &self->calls, self, G_CALLBACK (update)) &&
      self->box != NULL)
    update (self);
}

void
mesh_call_banner_set_room_id (MeshCallBanner *self,
                              const char     *room_id)
{
  g_return_if_fail (MESH_IS_CALL_BANNER (self));

  if (g_strcmp0 (self->room_id, room_id) == 0)
    return;
  g_free (self->room_id);
  self->room_id = g_strdup (room_id);
  update (self);
}

GStrv
mesh_call_banner_dup_texts (MeshCallBanner *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (MESH_IS_CALL_BANNER (self), NULL);

  for (guint i = 0; i < self->texts->len; i++)
    g_strv_builder_add (builder, self->texts->pdata[i]);
  return g_strv_builder_end (builder);
}
