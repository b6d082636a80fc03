/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-room-view"

#include "config.h"

#include "mesh-room-view-private.h"

/* Drafts belong to their room and outlive the app: one key file in the
 * user's state folder, a group per server and user (hashed: a URL may hold
 * brackets, which a group name may not), a key per room. */
static char *
drafts_path (void)
{
  return g_build_filename (g_get_user_state_dir (), "mesh", "drafts.ini", NULL);
}

static char *
drafts_group (MeshRoomView *self)
{
  MeshClientRest *rest;
  g_autofree char *owner = NULL;

  if (self->session == NULL)
    return NULL;
  rest = mesh_client_session_get_rest (self->session);
  if (mesh_client_rest_get_user_id (rest) == NULL)
    return NULL;
  owner = g_strdup_printf ("%s\n%s", mesh_client_rest_get_base_url (rest),
                           mesh_client_rest_get_user_id (rest));
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, owner, -1);
}

static GKeyFile *
drafts_load (void)
{
  g_autofree char *path = drafts_path ();
  GKeyFile *file = g_key_file_new ();

  /* None yet, or unreadable: no drafts, nothing else is lost. */
  g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL);
  return file;
}

char *
room_view_load_draft (MeshRoomView *self,
                      const char   *room_id)
{
  g_autofree char *group = drafts_group (self);
  g_autoptr(GKeyFile) file = NULL;

  if (group == NULL)
    return NULL;
  file = drafts_load ();
  return g_key_file_get_string (file, group, room_id, NULL);
}

static void
store_draft (MeshRoomView *self,
             const char   *room_id,
             const char   *text)
{
  g_autofree char *group = drafts_group (self);
  g_autofree char *path = drafts_path ();
  g_autofree char *dir = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *data = NULL;
  g_autoptr(GKeyFile) file = NULL;
  g_autoptr(GError) error = NULL;
  gboolean empty = text == NULL || *text == '\0';
  gsize length = 0;

  if (group == NULL)
    return;
  file = drafts_load ();
  stored = g_key_file_get_string (file, group, room_id, NULL);
  if (g_strcmp0 (stored, empty ? NULL : text) == 0)
    return;
  if (empty) {
    g_auto(GStrv) keys = NULL;

    g_key_file_remove_key (file, group, room_id, NULL);
    keys = g_key_file_get_keys (file, group, NULL, NULL);
    if (keys != NULL && keys[0] == NULL)
      g_key_file_remove_group (file, group, NULL);
  } else {
    g_key_file_set_string (file, group, room_id, text);
  }

  /* Drafts are private: readable by their owner only, whatever the folder. */
  dir = g_path_get_dirname (path);
  data = g_key_file_to_data (file, &length, NULL);
  if (g_mkdir_with_parents (dir, 0700) != 0 ||
      !g_file_set_contents_full (path, data, (gssize) length,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_warning ("Cannot keep the draft of room %s: %s", room_id,
               error != NULL ? error->message : g_strerror (errno));
}

/* The composer's text is the current room's draft. */
void
room_view_save_current_draft (MeshRoomView *self)
{
  g_clear_handle_id (&self->draft_save_id, g_source_remove);
  if (self->room != NULL && self->entry != NULL)
    store_draft (self, mesh_room_get_room_id (self->room),
                 gtk_editable_get_text (GTK_EDITABLE (self->entry)));
}

static gboolean
draft_save_cb (gpointer user_data)
{
  MeshRoomView *self = user_data;

  self->draft_save_id = 0;
  room_view_save_current_draft (self);
  return G_SOURCE_REMOVE;
}

/* How much is left, shown near the limit; over it, sending is refused with
 * a sentence and what was typed stays. */
static gboolean
update_limit (MeshRoomView *self,
              const char   *text)
{
  gssize left = (gssize) CHAT_MAX_BYTES - (gssize) strlen (text);
  GtkWidget *label = GTK_WIDGET (self->limit_label);

  if (left >= CHAT_WARN_BYTES) {
    gtk_widget_set_visible (label, FALSE);
    gtk_widget_remove_css_class (GTK_WIDGET (self->entry), "error");
    return TRUE;
  }
  if (left >= 0) {
    g_autofree char *count = g_strdup_printf ("%" G_GSSIZE_FORMAT, left);

    gtk_label_set_text (self->limit_label, count);
    /* Translators: the tooltip of the count of what is left in a message. */
    gtk_widget_set_tooltip_text (label, _("What can still be added to this message "
                                          "(up to 16 384 bytes; most letters take one)"));
    gtk_widget_remove_css_class (label, "error");
    gtk_widget_remove_css_class (GTK_WIDGET (self->entry), "error");
  } else {
    g_autofree char *sentence = NULL;

    /* Translators: %ld is how far over the limit the message is. */
    sentence = g_strdup_printf (_("Too long by %ld: shorten it to send"), (long) -left);
    gtk_label_set_text (self->limit_label, sentence);
    gtk_widget_set_tooltip_text (label, _("A message can have up to 16 384 bytes; "
                                          "most letters take one."));
    gtk_widget_add_css_class (label, "error");
    gtk_widget_add_css_class (GTK_WIDGET (self->entry), "error");
  }
  gtk_widget_set_visible (label, TRUE);
  return left >= 0;
}

void
room_view_update_send_action (MeshRoomView *self)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->entry))));
  gboolean fits = update_limit (self, text);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send",
                                 self->chat != NULL && *text != '\0' && fits);
}

void
room_view_entry_changed_cb (MeshRoomView *self)
{
  room_view_update_send_action (self);
  if (self->room != NULL) {
    g_clear_handle_id (&self->draft_save_id, g_source_remove);
    self->draft_save_id = g_timeout_add (DRAFT_SAVE_MS, draft_save_cb, self);
  }
}

void
room_view_send (MeshRoomView *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->entry))));

  if (self->chat == NULL || *text == '\0')
    return;
  if (strlen (text) > CHAT_MAX_BYTES) {
    mesh_ui_toast (GTK_WIDGET (self),
                   _("This message is too long to send. Shorten it or split it in two: "
                     "nothing you typed was removed."));
    return;
  }

  id = mesh_chat_model_send (self->chat, text, &error);
  if (id == NULL) {
    mesh_ui_toast_error (GTK_WIDGET (self), error);
    return;
  }
  gtk_editable_set_text (GTK_EDITABLE (self->entry), "");
  room_view_save_current_draft (self);
  self->stick_to_bottom = TRUE;
  room_view_scroll_to_bottom (self);
}

void
room_view_entry_activate_cb (MeshRoomView *self)
{
  room_view_send (self);
}

static void
send_activated (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  room_view_send (MESH_ROOM_VIEW (widget));
}

void
room_view_composer_class_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "room.send", NULL, send_activated);
}
