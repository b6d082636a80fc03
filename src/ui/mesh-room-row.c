/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-room-row"

#include "config.h"

#include "mesh-room-row.h"

#include <adwaita.h>
#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_ROOM,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshRoomRow {
  GtkListBoxRow  parent_instance;

  /* Template widgets */
  AdwAvatar     *avatar;
  GtkLabel      *name_label;
  GtkLabel      *time_label;
  GtkLabel      *preview_label;
  GtkLabel      *unread_label;

  /* Owned references */
  MeshRoom      *room;
};

G_DEFINE_FINAL_TYPE (MeshRoomRow, mesh_room_row, GTK_TYPE_LIST_BOX_ROW)

/* "14:05" today, "Yesterday", the weekday within a week, else the date. */
static char *
format_when (GDateTime *when)
{
  g_autoptr(GDateTime) local = g_date_time_to_local (when);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  gint days = g_date_time_get_day_of_year (now) - g_date_time_get_day_of_year (local);

  if (g_date_time_get_year (now) != g_date_time_get_year (local))
    days = (gint) (g_date_time_difference (now, local) / G_TIME_SPAN_DAY) + 1;
  if (days <= 0)
    return g_date_time_format (local, "%H:%M");
  if (days == 1)
    return g_strdup (_("Yesterday"));
  if (days < 7)
    return g_date_time_format (local, "%a");
  return g_date_time_format (local, "%x");
}

/* The newest message, on one line: "bob: text" (own ones "You: text"). */
static void
update_preview (MeshRoomRow *self)
{
  MeshChatMessage *last = mesh_room_get_last_message (self->room);
  g_autofree char *flat = NULL;
  g_autofree char *preview = NULL;
  g_autofree char *when = NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->preview_label), last != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->time_label), last != NULL);
  if (last == NULL)
    return;

  flat = g_strdup (mesh_chat_message_get_content (last));
  g_strdelimit (flat, "\r\n\t", ' ');
  if (mesh_chat_message_get_is_own (last))
    /* Translators: the room list's preview of the user's own last message. */
    preview = g_strdup_printf (_("You: %s"), flat);
  else
    /* Translators: the room list's preview of the last message: sender, text. */
    preview = g_strdup_printf (_("%s: %s"), mesh_chat_message_get_username (last), flat);
  gtk_label_set_text (self->preview_label, preview);

  if (mesh_chat_message_get_date_time (last) != NULL)
    when = format_when (mesh_chat_message_get_date_time (last));
  gtk_label_set_text (self->time_label, when != NULL ? when : "");
}

static void
update (MeshRoomRow *self)
{
  const char *name = mesh_room_get_name (self->room);
  guint unread = mesh_room_get_unread_count (self->room);
  g_autofree char *count = NULL;
  g_autofree char *description = NULL;

  gtk_label_set_label (self->name_label, name);
  adw_avatar_set_text (self->avatar, name);

  gtk_widget_set_visible (GTK_WIDGET (self->unread_label), unread > 0);
  count = unread > 99 ? g_strdup ("99+") : g_strdup_printf ("%u", unread);
  gtk_label_set_label (self->unread_label, count);
  description = g_strdup_printf (ngettext ("%u unread message", "%u unread messages", unread),
                                 unread);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->unread_label), description);
  if (unread > 0)
    gtk_widget_add_css_class (GTK_WIDGET (self->name_label), "heading");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->name_label), "heading");
}

static void
mesh_room_row_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  MeshRoomRow *self = MESH_ROOM_ROW (object);

  switch (prop_id) {
  case PROP_ROOM:
    g_value_set_object (value, self->room);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_row_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  MeshRoomRow *self = MESH_ROOM_ROW (object);

  switch (prop_id) {
  case PROP_ROOM:
    self->room = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_row_constructed (GObject *object)
{
  MeshRoomRow *self = MESH_ROOM_ROW (object);

  G_OBJECT_CLASS (mesh_room_row_parent_class)->constructed (object);

  g_signal_connect_object (self->room, "notify::name", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->room, "notify::unread-count", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->room, "notify::last-message", G_CALLBACK (update_preview), self,
                           G_CONNECT_SWAPPED);
  update (self);
  update_preview (self);
}

static void
mesh_room_row_dispose (GObject *object)
{
  MeshRoomRow *self = MESH_ROOM_ROW (object);

  g_clear_object (&self->room);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_ROOM_ROW);

  G_OBJECT_CLASS (mesh_room_row_parent_class)->dispose (object);
}

static void
mesh_room_row_class_init (MeshRoomRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_room_row_get_property;
  object_class->set_property = mesh_room_row_set_property;
  object_class->constructed = mesh_room_row_constructed;
  object_class->dispose = mesh_room_row_dispose;

  properties[PROP_ROOM] =
    g_param_spec_object ("room", NULL, NULL, MESH_TYPE_ROOM,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/mesh/Mesh/ui/mesh-room-row.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshRoomRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomRow, preview_label);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomRow, unread_label);
}

static void
mesh_room_row_init (MeshRoomRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
mesh_room_row_new (MeshRoom *room)
{
  g_return_val_if_fail (MESH_IS_ROOM (room), NULL);

  return g_object_new (MESH_TYPE_ROOM_ROW, "room", room, NULL);
}

MeshRoom *
mesh_room_row_get_room (MeshRoomRow *self)
{
  g_return_val_if_fail (MESH_IS_ROOM_ROW (self), NULL);

  return self->room;
}
