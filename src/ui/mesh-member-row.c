/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-member-row"

#include "config.h"

#include "mesh-member-row.h"

#include <adwaita.h>
#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_MEMBER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshMemberRow {
  GtkListBoxRow  parent_instance;

  /* Template widgets */
  AdwAvatar     *avatar;
  GtkWidget     *presence_dot;
  GtkLabel      *name_label;
  GtkLabel      *status_label;
  GtkWidget     *send_button;
  GtkWidget     *call_button;

  /* Owned references */
  MeshMember    *member;
  gboolean       is_self;
};

G_DEFINE_FINAL_TYPE (MeshMemberRow, mesh_member_row, GTK_TYPE_LIST_BOX_ROW)

static void
update (MeshMemberRow *self)
{
  static const char *classes[] = { "offline", "online", "busy", "sharing" };
  MeshPresence status = mesh_member_get_status (self->member);
  const char *text;
  g_autofree char *line = NULL;

  gtk_label_set_label (self->name_label, mesh_member_get_username (self->member));
  adw_avatar_set_text (self->avatar, mesh_member_get_username (self->member));

  for (guint i = 0; i < G_N_ELEMENTS (classes); i++)
    gtk_widget_remove_css_class (self->presence_dot, classes[i]);
  gtk_widget_add_css_class (self->presence_dot, classes[CLAMP (status, 0, 3)]);

  switch (status) {
  case MESH_PRESENCE_ONLINE:
    text = _("Online");
    break;
  case MESH_PRESENCE_BUSY:
    text = _("Busy");
    break;
  case MESH_PRESENCE_SHARING:
    text = _("Sharing");
    break;
  case MESH_PRESENCE_OFFLINE:
  default:
    text = _("Offline");
    break;
  }
  if (g_strcmp0 (mesh_member_get_role (self->member), "owner") == 0)
    /* Translators: a member's presence, then their role in the room. */
    line = g_strdup_printf (_("%s · Owner"), text);
  else
    line = g_strdup (text);
  gtk_label_set_label (self->status_label, line);

  /* Files go to a device the member has connected to the room; never to
   * yourself (the server cannot route to your own devices). */
  gtk_widget_set_visible (self->send_button,
                          !self->is_self && mesh_member_get_devices (self->member)[0] != NULL);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->send_button), "s",
                                    mesh_member_get_user_id (self->member));
  /* Only someone online can answer. */
  gtk_widget_set_visible (self->call_button, !self->is_self && status != MESH_PRESENCE_OFFLINE);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->call_button), "s",
                                    mesh_member_get_user_id (self->member));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->call_button), "room.call-member");
}

static void
mesh_member_row_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MeshMemberRow *self = MESH_MEMBER_ROW (object);

  switch (prop_id) {
  case PROP_MEMBER:
    g_value_set_object (value, self->member);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_member_row_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  MeshMemberRow *self = MESH_MEMBER_ROW (object);

  switch (prop_id) {
  case PROP_MEMBER:
    self->member = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_member_row_constructed (GObject *object)
{
  MeshMemberRow *self = MESH_MEMBER_ROW (object);

  G_OBJECT_CLASS (mesh_member_row_parent_class)->constructed (object);

  self->send_button = gtk_button_new_from_icon_name ("document-send-symbolic");
  gtk_widget_set_valign (self->send_button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (self->send_button, _("Send Files…"));
  gtk_widget_add_css_class (self->send_button, "flat");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->send_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Send Files…"), -1);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->send_button), "room.send-files");
  gtk_box_append (GTK_BOX (gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (self))),
                  self->send_button);

  self->call_button = gtk_button_new_from_icon_name ("call-start-symbolic");
  gtk_widget_set_valign (self->call_button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (self->call_button, _("Call"));
  gtk_widget_add_css_class (self->call_button, "flat");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->call_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Call"), -1);
  gtk_box_append (GTK_BOX (gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (self))),
                  self->call_button);

  g_signal_connect_object (self->member, "notify", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);
}

static void
mesh_member_row_dispose (GObject *object)
{
  MeshMemberRow *self = MESH_MEMBER_ROW (object);

  g_clear_object (&self->member);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_MEMBER_ROW);

  G_OBJECT_CLASS (mesh_member_row_parent_class)->dispose (object);
}

static void
mesh_member_row_class_init (MeshMemberRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_member_row_get_property;
  object_class->set_property = mesh_member_row_set_property;
  object_class->constructed = mesh_member_row_constructed;
  object_class->dispose = mesh_member_row_dispose;

  properties[PROP_MEMBER] =
    g_param_spec_object ("member", NULL, NULL, MESH_TYPE_MEMBER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-member-row.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshMemberRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, MeshMemberRow, presence_dot);
  gtk_widget_class_bind_template_child (widget_class, MeshMemberRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, MeshMemberRow, status_label);
}

static void
mesh_member_row_init (MeshMemberRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
mesh_member_row_new (MeshMember *member)
{
  g_return_val_if_fail (MESH_IS_MEMBER (member), NULL);

  return g_object_new (MESH_TYPE_MEMBER_ROW, "member", member, NULL);
}

void
mesh_member_row_set_is_self (MeshMemberRow *self,
                             gboolean       is_self)
{
  g_return_if_fail (MESH_IS_MEMBER_ROW (self));

  self->is_self = is_self;
  update (self);
}

MeshMember *
mesh_member_row_get_member (MeshMemberRow *self)
{
  g_return_val_if_fail (MESH_IS_MEMBER_ROW (self), NULL);

  return self->member;
}
