/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-room-view"

#include "config.h"

#include "mesh-room-view-private.h"

static void
create_invite_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *message = NULL;
  MeshRoomView *self;

  code = mesh_client_rest_create_invite_finish (MESH_CLIENT_REST (source), result, NULL, &error);
  if (code == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      mesh_ui_toast_error (GTK_WIDGET (user_data), error);
    return;
  }

  self = user_data;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)), code);
  message = g_strdup_printf (_("Invite code %s copied"), code);
  mesh_ui_toast (GTK_WIDGET (self), message);
}

static void
copy_invite_activated (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  MeshRoomView *self = MESH_ROOM_VIEW (widget);

  if (self->room == NULL || self->session == NULL)
    return;
  mesh_client_rest_create_invite_async (mesh_client_session_get_rest (self->session),
                                        mesh_room_get_room_id (self->room), self->cancellable,
                                        create_invite_cb, self);
}

/* Rename, leave and delete (the room menu).  The owner renames and deletes;
 * any member leaves.  Ownership can move (an owner who leaves hands it on),
 * so the owner's items follow the member list. */
#define ROOM_NAME_MAX_CHARS 100

static gboolean
is_owner (MeshRoomView *self)
{
  g_autoptr(GPtrArray) members = NULL;
  const char *user_id = room_view_own_user_id (self);

  if (self->room == NULL || user_id == NULL)
    return FALSE;
  members = mesh_room_dup_members (self->room);
  for (guint i = 0; i < members->len; i++) {
    MeshMember *member = members->pdata[i];

    if (g_strcmp0 (mesh_member_get_user_id (member), user_id) == 0)
      return g_strcmp0 (mesh_member_get_role (member), "owner") == 0;
  }
  return FALSE;
}

void
room_view_update_room_actions (MeshRoomView *self)
{
  gboolean owner = is_owner (self);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.rename", owner);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.delete", owner);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.leave", self->room != NULL);
}

static MeshRoomList *
window_room_list (MeshRoomView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return MESH_IS_WINDOW (root) ? mesh_window_get_room_list (MESH_WINDOW (root)) : NULL;
}

/* The toast of a finished change carries the room's name from before. */
static void
room_changed_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  MeshRoomView *self = g_task_get_source_object (task);
  const char *done = g_task_get_task_data (task);

  if (!mesh_room_list_change_room_finish (MESH_ROOM_LIST (source), result, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      mesh_ui_toast_error (GTK_WIDGET (self), error);
    return;
  }
  if (done != NULL)
    mesh_ui_toast (GTK_WIDGET (self), done);
}

static GTask *
change_task (MeshRoomView *self,
             char         *done_message)
{
  GTask *task = g_task_new (self, NULL, NULL, NULL);

  g_task_set_task_data (task, done_message, g_free);
  return task;
}

static void
rename_entry_changed_cb (GtkEditable      *entry,
                         AdwMessageDialog *dialog)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  glong n = g_utf8_strlen (text, -1);

  /* Said while typing; what was typed stays. */
  if (n > ROOM_NAME_MAX_CHARS) {
    g_autofree char *body =
      g_strdup_printf (ngettext ("A room name has at most %d character; this one has %ld.",
                                 "A room name has at most %d characters; this one has %ld.",
                                 ROOM_NAME_MAX_CHARS),
                       ROOM_NAME_MAX_CHARS, n);

    adw_message_dialog_set_body (dialog, body);
    gtk_widget_add_css_class (GTK_WIDGET (entry), "error");
  } else {
    adw_message_dialog_set_body (dialog, _("Every member sees the new name."));
    gtk_widget_remove_css_class (GTK_WIDGET (entry), "error");
  }
  adw_message_dialog_set_response_enabled (dialog, "rename",
                                           n > 0 && n <= ROOM_NAME_MAX_CHARS);
}

static void
rename_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    MeshRoomView     *self)
{
  GtkEditable *entry = GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog));
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  const char *room_id = g_object_get_data (G_OBJECT (dialog), "mesh-room-id");
  MeshRoomList *list = window_room_list (self);

  if (g_strcmp0 (response, "rename") != 0 || list == NULL || room_id == NULL || name[0] == '\0')
    return;
  mesh_room_list_rename_room_async (list, room_id, name, NULL, room_changed_cb,
                                    change_task (self, NULL));
}

static void
rename_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  MeshRoomView *self = MESH_ROOM_VIEW (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  if (self->room == NULL)
    return;
  dialog = mesh_ui_question_new (GTK_WINDOW (root), _("Rename Room"),
                                 _("Every member sees the new name."), "rename", _("_Rename"),
                                 ADW_RESPONSE_SUGGESTED, "rename");
  entry = gtk_entry_new ();
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_editable_set_text (GTK_EDITABLE (entry), mesh_room_get_name (self->room));
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Room name"), -1);
  g_signal_connect (entry, "changed", G_CALLBACK (rename_entry_changed_cb), dialog);
  adw_message_dialog_set_extra_child (dialog, entry);
  g_object_set_data_full (G_OBJECT (dialog), "mesh-room-id",
                          g_strdup (mesh_room_get_room_id (self->room)), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (rename_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

static void
leave_or_delete_response_cb (AdwMessageDialog *dialog,
                             const char       *response,
                             MeshRoomView     *self)
{
  const char *room_id = g_object_get_data (G_OBJECT (dialog), "mesh-room-id");
  const char *name = g_object_get_data (G_OBJECT (dialog), "mesh-room-name");
  g_autofree char *safe = mesh_escape_for_display (name, -1);
  MeshRoomList *list = window_room_list (self);

  if (list == NULL || room_id == NULL)
    return;
  if (g_str_equal (response, "leave"))
    mesh_room_list_leave_room_async (list, room_id, NULL, room_changed_cb,
                                     change_task (self, g_strdup_printf (_("You left “%s”"), safe)));
  else if (g_str_equal (response, "delete"))
    mesh_room_list_delete_room_async (list, room_id, NULL, room_changed_cb,
                                      change_task (self, g_strdup_printf (_("“%s” was deleted"),
                                                                          safe)));
}

static void
leave_or_delete_activated (GtkWidget  *widget,
                           const char *action_name,
                           GVariant   *parameter)
{
  MeshRoomView *self = MESH_ROOM_VIEW (widget);
  gboolean delete = g_str_equal (action_name, "room.delete");
  GtkRoot *root = gtk_widget_get_root (widget);
  AdwMessageDialog *dialog;
  g_autofree char *safe = NULL;
  const char *body;

  if (self->room == NULL)
    return;
  safe = mesh_escape_for_display (mesh_room_get_name (self->room), -1);
  if (delete) {
    dialog = mesh_ui_question_new (GTK_WINDOW (root), NULL, NULL, "delete", _("_Delete"),
                                   ADW_RESPONSE_DESTRUCTIVE, "cancel");
    adw_message_dialog_format_heading (dialog, _("Delete “%s”?"), safe);
    body = _("The room and its messages are deleted for every member. This cannot be undone.");
  } else {
    dialog = mesh_ui_question_new (GTK_WINDOW (root), NULL, NULL, "leave", _("_Leave"),
                                   ADW_RESPONSE_DESTRUCTIVE, "cancel");
    adw_message_dialog_format_heading (dialog, _("Leave “%s”?"), safe);
    body = mesh_room_get_n_members (self->room) <= 1
           ? _("You are its last member: the room and its messages are deleted.")
           : is_owner (self)
           ? _("You will no longer see its messages. The member who joined first becomes its owner. "
               "To come back, ask a member for an invite code.")
           : _("You will no longer see its messages. To come back, ask a member for an invite "
               "code.");
  }
  adw_message_dialog_set_body (dialog, body);
  g_object_set_data_full (G_OBJECT (dialog), "mesh-room-id",
                          g_strdup (mesh_room_get_room_id (self->room)), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "mesh-room-name",
                          g_strdup (mesh_room_get_name (self->room)), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (leave_or_delete_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
room_view_actions_class_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "room.copy-invite", NULL, copy_invite_activated);
  gtk_widget_class_install_action (widget_class, "room.rename", NULL, rename_activated);
  gtk_widget_class_install_action (widget_class, "room.leave", NULL, leave_or_delete_activated);
  gtk_widget_class_install_action (widget_class, "room.delete", NULL, leave_or_delete_activated);
}
