/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-room-sidebar"

#include "config.h"

#include "mesh-connection-banner.h"
#include "mesh-room-row.h"
#include "mesh-room-sidebar.h"
#include "mesh-ui-util.h"

#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_FOLDED,
  N_PROPS
};

enum {
  ROOM_ACTIVATED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

struct _MeshRoomSidebar {
  AdwBin                parent_instance;

  /* Template widgets */
  AdwWindowTitle       *title;
  MeshConnectionBanner *banner;
  GtkStack             *stack;
  GtkListBox           *list_box;

  /* Owned references */
  MeshRoomList         *room_list;
  GCancellable         *cancellable;
  gboolean              folded;
};

G_DEFINE_FINAL_TYPE (MeshRoomSidebar, mesh_room_sidebar, ADW_TYPE_BIN)

static GtkWidget *
create_row (gpointer item,
            gpointer user_data)
{
  return mesh_room_row_new (MESH_ROOM (item));
}

static void
update_stack (MeshRoomSidebar *self)
{
  guint n = self->room_list ? g_list_model_get_n_items (G_LIST_MODEL (self->room_list)) : 0;

  gtk_stack_set_visible_child_name (self->stack, n > 0 ? "rooms" : "empty");
}

static void
row_activated_cb (MeshRoomSidebar *self,
                  GtkListBoxRow   *row)
{
  g_signal_emit (self, signals[ROOM_ACTIVATED], 0, mesh_room_row_get_room (MESH_ROOM_ROW (row)));
}

static void
select_and_activate (MeshRoomSidebar *self,
                     MeshRoom        *room)
{
  mesh_room_sidebar_select_room (self, mesh_room_get_room_id (room));
}

static void ask_name (MeshRoomSidebar *self,
                      gboolean         joining,
                      const char      *text);

static void
create_room_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshRoom) room = NULL;
  g_autofree char *name = g_object_steal_data (source, "mesh-pending-name");

  room = mesh_room_list_create_room_finish (MESH_ROOM_LIST (source), result, &error);
  if (room == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      mesh_ui_toast_error (GTK_WIDGET (user_data), error);
      /* What was typed is not lost: the question comes back with it. */
      if (name != NULL)
        ask_name (user_data, FALSE, name);
    }
    return;
  }
  select_and_activate (user_data, room);
}

static void
accept_invite_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshRoom) room = NULL;

  room = mesh_room_list_accept_invite_finish (MESH_ROOM_LIST (source), result, &error);
  if (room == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      mesh_ui_toast_error (GTK_WIDGET (user_data), error);
    return;
  }
  select_and_activate (user_data, room);
}

/* The server's limit on a room's name, in characters. */
#define ROOM_NAME_MAX 100

static void
entry_changed_cb (GtkEditable      *entry,
                  AdwMessageDialog *dialog)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  gboolean joining = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "joining"));
  glong length = g_utf8_strlen (text, -1);

  /* Said while typing, never cut: the name stays as typed. */
  if (!joining && length > ROOM_NAME_MAX) {
    g_autofree char *body = NULL;

    /* Translators: %ld is the length of the name typed so far (over %d). */
    body = g_strdup_printf (_("This name has %ld characters; a room name can have at most %d. "
                              "Shorten it to create the room."), length, ROOM_NAME_MAX);
    adw_message_dialog_set_body (dialog, body);
    gtk_widget_add_css_class (GTK_WIDGET (entry), "error");
  } else if (!joining) {
    adw_message_dialog_set_body (dialog, _("Give the room a name its members will recognize."));
    gtk_widget_remove_css_class (GTK_WIDGET (entry), "error");
  }
  adw_message_dialog_set_response_enabled (dialog, "ok",
                                           *text != '\0' && (joining || length <= ROOM_NAME_MAX));
}

static void
name_dialog_response_cb (AdwMessageDialog *dialog,
                         const char       *response,
                         MeshRoomSidebar  *self)
{
  GtkEditable *entry = GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog));
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  gboolean joining = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "joining"));

  if (g_strcmp0 (response, "ok") != 0 || *text == '\0' || self->room_list == NULL)
    return;

  if (joining) {
    mesh_room_list_accept_invite_async (self->room_list, text, self->cancellable,
                                        accept_invite_cb, self);
  } else {
    g_object_set_data_full (G_OBJECT (self->room_list), "mesh-pending-name", g_strdup (text),
                            g_free);
    mesh_room_list_create_room_async (self->room_list, text, self->cancellable,
                                      create_room_cb, self);
  }
}

/* A question with one line to type: the room's name or the invite code. */
static void
ask_name (MeshRoomSidebar *self,
          gboolean         joining,
          const char      *text)
{
  GtkWindow *parent = GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self)));
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  if (joining)
    dialog = mesh_ui_question_new (parent, _("Join a Room"),
                                   _("Type the invite code a member of the room gave you."),
                                   "ok", _("_Join"), ADW_RESPONSE_SUGGESTED, "ok");
  else
    dialog = mesh_ui_question_new (parent, _("New Room"),
                                   _("Give the room a name its members will recognize."),
                                   "ok", _("_Create"), ADW_RESPONSE_SUGGESTED, "ok");
  adw_message_dialog_set_response_enabled (dialog, "ok", FALSE);

  entry = gtk_entry_new ();
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), joining ? _("Invite code") : _("Room name"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  joining ? _("Invite code") : _("Room name"), -1);
  g_signal_connect_object (entry, "changed", G_CALLBACK (entry_changed_cb), dialog, 0);
  adw_message_dialog_set_extra_child (dialog, entry);

  g_object_set_data (G_OBJECT (dialog), "joining", GINT_TO_POINTER (joining));
  if (text != NULL)
    gtk_editable_set_text (GTK_EDITABLE (entry), text);
  g_signal_connect_object (dialog, "response", G_CALLBACK (name_dialog_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

/* rooms.create and rooms.join */
static void
ask_name_activated (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  ask_name (MESH_ROOM_SIDEBAR (widget), g_str_equal (action_name, "rooms.join"), NULL);
}

static void
mesh_room_sidebar_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MeshRoomSidebar *self = MESH_ROOM_SIDEBAR (object);

  switch (prop_id) {
  case PROP_FOLDED:
    g_value_set_boolean (value, self->folded);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_sidebar_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  MeshRoomSidebar *self = MESH_ROOM_SIDEBAR (object);

  switch (prop_id) {
  case PROP_FOLDED:
    if (self->folded != g_value_get_boolean (value)) {
      self->folded = g_value_get_boolean (value);
      g_object_notify_by_pspec (object, pspec);
    }
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_sidebar_dispose (GObject *object)
{
  MeshRoomSidebar *self = MESH_ROOM_SIDEBAR (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->room_list);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_ROOM_SIDEBAR);

  G_OBJECT_CLASS (mesh_room_sidebar_parent_class)->dispose (object);
}

static void
mesh_room_sidebar_class_init (MeshRoomSidebarClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_room_sidebar_get_property;
  object_class->set_property = mesh_room_sidebar_set_property;
  object_class->dispose = mesh_room_sidebar_dispose;

  properties[PROP_FOLDED] =
    g_param_spec_boolean ("folded", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[ROOM_ACTIVATED] =
    g_signal_new ("room-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, MESH_TYPE_ROOM);

  g_type_ensure (MESH_TYPE_CONNECTION_BANNER);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-room-sidebar.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshRoomSidebar, title);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomSidebar, banner);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomSidebar, stack);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomSidebar, list_box);
  gtk_widget_class_bind_template_callback (widget_class, row_activated_cb);

  gtk_widget_class_install_action (widget_class, "rooms.create", NULL, ask_name_activated);
  gtk_widget_class_install_action (widget_class, "rooms.join", NULL, ask_name_activated);
}

static void
mesh_room_sidebar_init (MeshRoomSidebar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
  update_stack (self);
}

GtkWidget *
mesh_room_sidebar_new (void)
{
  return g_object_new (MESH_TYPE_ROOM_SIDEBAR, NULL);
}

void
mesh_room_sidebar_set_room_list (MeshRoomSidebar   *self,
                                 MeshRoomList      *room_list,
                                 MeshClientSession *session,
                                 const char        *username)
{
  g_return_if_fail (MESH_IS_ROOM_SIDEBAR (self));
  g_return_if_fail (room_list == NULL || MESH_IS_ROOM_LIST (room_list));
  g_return_if_fail (session == NULL || MESH_IS_CLIENT_SESSION (session));

  if (self->room_list != NULL)
    g_signal_handlers_disconnect_by_data (self->room_list, self);
  g_set_object (&self->room_list, room_list);

  gtk_list_box_bind_model (self->list_box, G_LIST_MODEL (room_list), create_row, NULL, NULL);
  if (room_list != NULL)
    g_signal_connect_object (room_list, "items-changed", G_CALLBACK (update_stack), self,
                             G_CONNECT_SWAPPED);
  mesh_connection_banner_set_session (self->banner, session);
  adw_window_title_set_subtitle (self->title, username);
  update_stack (self);
}

gboolean
mesh_room_sidebar_select_room (MeshRoomSidebar *self,
                               const char      *room_id)
{
  MeshRoom *room;
  GtkListBoxRow *row;
  guint position;

  g_return_val_if_fail (MESH_IS_ROOM_SIDEBAR (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  if (self->room_list == NULL)
    return FALSE;
  room = mesh_room_list_find (self->room_list, room_id, &position);
  if (room == NULL)
    return FALSE;
  row = gtk_list_box_get_row_at_index (self->list_box, (int) position);
  if (row == NULL)
    return FALSE;

  gtk_list_box_select_row (self->list_box, row);
  g_signal_emit (self, signals[ROOM_ACTIVATED], 0, room);
  return TRUE;
}

void
mesh_room_sidebar_create_room (MeshRoomSidebar *self)
{
  g_return_if_fail (MESH_IS_ROOM_SIDEBAR (self));

  ask_name (self, FALSE, NULL);
}

void
mesh_room_sidebar_join_room (MeshRoomSidebar *self)
{
  g_return_if_fail (MESH_IS_ROOM_SIDEBAR (self));

  ask_name (self, TRUE, NULL);
}

void
mesh_room_sidebar_focus_rooms (MeshRoomSidebar *self)
{
  GtkListBoxRow *row;

  g_return_if_fail (MESH_IS_ROOM_SIDEBAR (self));

  row = gtk_list_box_get_selected_row (self->list_box);
  if (row == NULL)
    row = gtk_list_box_get_row_at_index (self->list_box, 0);
  if (row != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (row));
}
