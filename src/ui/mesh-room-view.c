/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-room-view"

#include "config.h"

#include "mesh-call-banner.h"
#include "mesh-call-buttons.h"
#include "mesh-call-view.h"
#include "mesh-connection-banner.h"
#include "mesh-embedded-agent.h"
#include "mesh-escape.h"
#include "mesh-member-list.h"
#include "mesh-member-row.h"
#include "mesh-message-row.h"
#include "mesh-share-bar.h"
#include "mesh-terminal-window.h"
#include "mesh-transfer-list.h"
#include "mesh-room-view.h"
#include "mesh-ui-util.h"
#include "mesh-window.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>

/* What the server takes in one chat message (protocol: content ≤ 16 384 bytes). */
#define CHAT_MAX_BYTES   16384
/* From how close to the limit the composer shows what is left. */
#define CHAT_WARN_BYTES  1000
/* Typing stores the room's draft after this pause. */
#define DRAFT_SAVE_MS    500

enum {
  PROP_0,
  PROP_FOLDED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshRoomView {
  AdwBin                parent_instance;

  /* Template widgets */
  AdwWindowTitle       *title;
  MeshConnectionBanner *banner;
  MeshShareBar         *share_bar;
  MeshTransferList     *transfer_list;
  GtkStack             *stack;
  GtkStack             *chat_stack;
  GtkSpinner           *spinner;
  GtkScrolledWindow    *scroller;
  GtkListView          *list_view;
  GtkListBox           *members_list;
  GtkWidget            *members_button;
  GtkWidget            *room_menu_button;
  GtkEntry             *entry;
  GtkLabel             *limit_label;
  MeshCallButtons      *call_buttons;
  MeshCallBanner       *call_banner;
  GtkPaned             *call_paned;
  MeshCallView         *call_view;

  /* Owned references */
  MeshClientSession    *session;
  MeshRoom             *room;
  MeshChatModel        *chat;
  MeshMemberList       *members;
  GHashTable           *chats;        /* room_id → MeshChatModel */
  MeshEmbeddedAgent    *agent;
  MeshCallController   *calls;
  GCancellable         *cancellable;  /* the current room's requests */
  gboolean              folded;
  /* Follow new messages while the user is reading the newest ones. */
  gboolean              stick_to_bottom;
  double                last_upper;
  guint                 scroll_idle_id;
  guint                 draft_save_id;
};

G_DEFINE_FINAL_TYPE (MeshRoomView, mesh_room_view, ADW_TYPE_BIN)

static void load_older (MeshRoomView *self);

static void
set_call_room (MeshRoomView *self,
                              const char   *room_id)
{
  mesh_call_buttons_set_room_id (self->call_buttons, room_id);
  mesh_call_banner_set_room_id (self->call_banner, room_id);
  mesh_call_view_set_room_id (self->call_view, room_id);
}

static void
update_chat_stack (MeshRoomView *self)
{
  guint n;

  if (self->chat == NULL)
    return;
  n = g_list_model_get_n_items (G_LIST_MODEL (self->chat));
  if (n > 0)
    gtk_stack_set_visible_child_name (self->chat_stack, "chat");
  else if (mesh_chat_model_get_loading (self->chat))
    gtk_stack_set_visible_child_name (self->chat_stack, "loading");
  else
    gtk_stack_set_visible_child_name (self->chat_stack, "empty");
  gtk_spinner_set_spinning (self->spinner, n == 0 && mesh_chat_model_get_loading (self->chat));
}

static void
update_title (MeshRoomView *self)
{
  g_autofree char *subtitle = NULL;
  guint n_members, n_online = 0;

  if (self->room == NULL) {
    adw_window_title_set_title (self->title, NULL);
    adw_window_title_set_subtitle (self->title, NULL);
    return;
  }

  n_members = g_list_model_get_n_items (G_LIST_MODEL (self->members));
  for (guint i = 0; i < n_members; i++) {
    g_autoptr(MeshMember) member = g_list_model_get_item (G_LIST_MODEL (self->members), i);

    if (mesh_member_get_status (member) != MESH_PRESENCE_OFFLINE)
      n_online++;
  }
  /* Who is online is not known while disconnected. */
  if (mesh_client_session_get_state (self->session) != MESH_CLIENT_SESSION_CONNECTED)
    subtitle = g_strdup_printf (ngettext ("%u member", "%u members", n_members), n_members);
  else
    /* Translators: the room's member count, then how many are online. */
    subtitle = g_strdup_printf (ngettext ("%u member, %u online", "%u members, %u online",
                                          n_members), n_members, n_online);
  adw_window_title_set_title (self->title, mesh_room_get_name (self->room));
  adw_window_title_set_subtitle (self->title, subtitle);
}

static gboolean
scroll_to_bottom_idle_cb (gpointer user_data)
{
  MeshRoomView *self = user_data;
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scroller);
  guint n = self->chat ? g_list_model_get_n_items (G_LIST_MODEL (self->chat)) : 0;

  self->scroll_idle_id = 0;
  if (n == 0 || !self->stick_to_bottom)
    return G_SOURCE_REMOVE;
  /* The list view estimates the height of rows it has not measured: bring
   * the last row in (which measures it), then go to the very end. */
  gtk_widget_activate_action (GTK_WIDGET (self->list_view), "list.scroll-to-item", "u", n - 1);
  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj));
  return G_SOURCE_REMOVE;
}

/* Not from inside the list's size allocation, which is where the
 * adjustment changes, but before the next frame is drawn. */
static void
scroll_to_bottom (MeshRoomView *self)
{
  if (self->scroll_idle_id == 0)
    self->scroll_idle_id = g_idle_add_full (G_PRIORITY_HIGH_IDLE, scroll_to_bottom_idle_cb, self,
                                            NULL);
}

static void
adjustment_changed_cb (MeshRoomView *self)
{
  if (self->stick_to_bottom)
    scroll_to_bottom (self);
}

static void
adjustment_value_changed_cb (MeshRoomView  *self,
                             GtkAdjustment *adj)
{
  double upper = gtk_adjustment_get_upper (adj);
  double bottom = upper - gtk_adjustment_get_page_size (adj);

  /* Only a move with the same content height is the user scrolling; the
   * list moves the view itself when its estimate of the height changes. */
  if (upper == self->last_upper)
    self->stick_to_bottom = gtk_adjustment_get_value (adj) >= bottom - 2;
  self->last_upper = upper;
}

static void
load_older_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  MeshRoomView *self;
  GtkAdjustment *adj;
  guint n_added = 0;

  if (!mesh_chat_model_load_older_finish (MESH_CHAT_MODEL (source), result, &n_added, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
        g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING))
      return;
    mesh_ui_toast_error (GTK_WIDGET (user_data), error);
    return;
  }

  self = user_data;
  if (MESH_CHAT_MODEL (source) != self->chat)
    return;
  /* A page that does not fill the view leaves nothing to scroll up to:
   * fetch the next one now. */
  adj = gtk_scrolled_window_get_vadjustment (self->scroller);
  if (n_added > 0 && mesh_chat_model_get_has_more (self->chat) &&
      gtk_adjustment_get_upper (adj) <= gtk_adjustment_get_page_size (adj))
    load_older (self);
}

static void
load_older (MeshRoomView *self)
{
  if (self->chat == NULL || mesh_chat_model_get_loading (self->chat) ||
      !mesh_chat_model_get_has_more (self->chat))
    return;
  mesh_chat_model_load_older_async (self->chat, self->cancellable, load_older_cb, self);
}

static void
edge_reached_cb (MeshRoomView    *self,
                 GtkPositionType  position)
{
  if (position == GTK_POS_TOP)
    load_older (self);
}

static void
bind_row (MeshRoomView *self,
          GtkListItem  *item)
{
  MeshChatMessage *message = gtk_list_item_get_item (item);
  guint position = gtk_list_item_get_position (item);
  g_autoptr(MeshChatMessage) previous = NULL;
  GtkWidget *row = gtk_list_item_get_child (item);

  if (message == NULL || row == NULL)
    return;
  if (position > 0 && position != GTK_INVALID_LIST_POSITION)
    previous = g_list_model_get_item (G_LIST_MODEL (self->chat), position - 1);
  mesh_message_row_set_message (MESH_MESSAGE_ROW (row), message,
                                mesh_message_row_starts_day (message, previous),
                                mesh_message_row_starts_run (message, previous));
}

/* GTK 4.8 has no list sections: a row draws its own day separator, so it
 * is bound again when older messages arrive above it. */
static void
item_position_changed_cb (GtkListItem  *item,
                          GParamSpec   *pspec,
                          MeshRoomView *self)
{
  if (gtk_list_item_get_item (item) != NULL && self->chat != NULL)
    bind_row (self, item);
}

static void
factory_setup_cb (MeshRoomView             *self,
                  GtkListItem              *item,
                  GtkSignalListItemFactory *factory)
{
  gtk_list_item_set_activatable (item, FALSE);
  gtk_list_item_set_selectable (item, FALSE);
  gtk_list_item_set_child (item, mesh_message_row_new ());
  g_signal_connect_object (item, "notify::position", G_CALLBACK (item_position_changed_cb), self,
                           0);
}

static void
factory_bind_cb (MeshRoomView             *self,
                 GtkListItem              *item,
                 GtkSignalListItemFactory *factory)
{
  bind_row (self, item);
}

static void
factory_unbind_cb (MeshRoomView             *self,
                   GtkListItem              *item,
                   GtkSignalListItemFactory *factory)
{
  mesh_message_row_set_message (MESH_MESSAGE_ROW (gtk_list_item_get_child (item)), NULL,
                                FALSE, FALSE);
}

/* The signed-in user: known from the sign-in, before the session says hello. */
static const char *
own_user_id (MeshRoomView *self)
{
  const char *user_id;

  if (self->session == NULL)
    return NULL;
  user_id = mesh_client_session_get_user_id (self->session);
  return user_id != NULL ? user_id
                         : mesh_client_rest_get_user_id (mesh_client_session_get_rest (self->session));
}

static GtkWidget *
create_member_row (gpointer item,
                   gpointer user_data)
{
  MeshRoomView *self = user_data;
  GtkWidget *row = mesh_member_row_new (MESH_MEMBER (item));

  /* Your own row offers nothing to send: your devices are not recipients. */
  mesh_member_row_set_is_self (MESH_MEMBER_ROW (row),
                               g_strcmp0 (mesh_member_get_user_id (MESH_MEMBER (item)),
                                          own_user_id (self)) == 0);
  return row;
}

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

static char *
load_draft (MeshRoomView *self,
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
static void
save_current_draft (MeshRoomView *self)
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
  save_current_draft (self);
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

static void
update_send_action (MeshRoomView *self)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->entry))));
  gboolean fits = update_limit (self, text);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send",
                                 self->chat != NULL && *text != '\0' && fits);
}

static void
entry_changed_cb (MeshRoomView *self)
{
  update_send_action (self);
  if (self->room != NULL) {
    g_clear_handle_id (&self->draft_save_id, g_source_remove);
    self->draft_save_id = g_timeout_add (DRAFT_SAVE_MS, draft_save_cb, self);
  }
}

static void
send (MeshRoomView *self)
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
  save_current_draft (self);
  self->stick_to_bottom = TRUE;
  scroll_to_bottom (self);
}

static void
entry_activate_cb (MeshRoomView *self)
{
  send (self);
}

static void
send_activated (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  send (MESH_ROOM_VIEW (widget));
}

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
  const char *user_id = own_user_id (self);

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

static void
update_room_actions (MeshRoomView *self)
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
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (root), _("Rename Room"),
                                                       _("Every member sees the new name.")));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "rename", _("_Rename"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "rename", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "rename");
  adw_message_dialog_set_close_response (dialog, "cancel");
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
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (root), NULL, NULL));
  if (delete) {
    adw_message_dialog_format_heading (dialog, _("Delete “%s”?"), safe);
    body = _("The room and its messages are deleted for every member. This cannot be undone.");
    adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "delete", _("_Delete"),
                                      NULL);
    adw_message_dialog_set_response_appearance (dialog, "delete", ADW_RESPONSE_DESTRUCTIVE);
  } else {
    adw_message_dialog_format_heading (dialog, _("Leave “%s”?"), safe);
    body = mesh_room_get_n_members (self->room) <= 1
           ? _("You are its last member: the room and its messages are deleted.")
           : is_owner (self)
           ? _("You will no longer see its messages. The member who joined first becomes its owner. "
               "To come back, ask a member for an invite code.")
           : _("You will no longer see its messages. To come back, ask a member for an invite "
               "code.");
    adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "leave", _("_Leave"), NULL);
    adw_message_dialog_set_response_appearance (dialog, "leave", ADW_RESPONSE_DESTRUCTIVE);
  }
  adw_message_dialog_set_body (dialog, body);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "mesh-room-id",
                          g_strdup (mesh_room_get_room_id (self->room)), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "mesh-room-name",
                          g_strdup (mesh_room_get_name (self->room)), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (leave_or_delete_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
unread_changed_cb (MeshRoomView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (root != NULL && gtk_window_is_active (GTK_WINDOW (root)) &&
      gtk_widget_get_child_visible (GTK_WIDGET (self)))
    mesh_room_view_mark_read (self);
}

static void
mesh_room_view_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MeshRoomView *self = MESH_ROOM_VIEW (object);

  switch (prop_id) {
  case PROP_FOLDED:
    g_value_set_boolean (value, self->folded);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_view_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  MeshRoomView *self = MESH_ROOM_VIEW (object);

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

/* The room's members with a device connected: @user_id, or when NULL
 * everyone; never us. */
static GPtrArray *
find_recipients (MeshRoomView *self,
                 const char   *user_id)
{
  GPtrArray *members = g_ptr_array_new_with_free_func (g_object_unref);
  guint n;

  if (self->members == NULL || self->agent == NULL)
    return members;
  n = g_list_model_get_n_items (G_LIST_MODEL (self->members));
  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshMember) member = g_list_model_get_item (G_LIST_MODEL (self->members), i);
    const char *member_user_id = mesh_member_get_user_id (member);

    if (mesh_member_get_devices (member)[0] == NULL)
      continue;
    if (g_strcmp0 (member_user_id, mesh_embedded_agent_get_user_id (self->agent)) == 0 ||
        g_strcmp0 (member_user_id, own_user_id (self)) == 0)
      continue;
    if (user_id == NULL || g_strcmp0 (member_user_id, user_id) == 0)
      g_ptr_array_add (members, g_steal_pointer (&member));
  }
  return members;
}

/* A toast when a transfer sent from this view ends: the transfers list
 * says more, but it may be closed. */
static void
transfer_state_cb (MeshTransfer *transfer,
                   GParamSpec   *pspec,
                   MeshRoomView *self)
{
  g_autofree char *message = NULL;
  const char *name = mesh_transfer_get_name (transfer);

  switch (mesh_transfer_get_state (transfer)) {
  case MESH_TRANSFER_DONE:
    message = g_strdup_printf (_("Sent %s"), name);
    break;
  case MESH_TRANSFER_DECLINED:
    /* Translators: a member's name, then a file's name. */
    message = g_strdup_printf (_("%s declined %s"), mesh_transfer_get_peer_name (transfer), name);
    break;
  case MESH_TRANSFER_FAILED: {
    const char *why = mesh_transfer_get_error (transfer);
    const char *details = mesh_transfer_get_details (transfer);

    /* The raw error is for the log; the toast says it in words. */
    if (details != NULL) {
      g_autofree char *shown_name = mesh_escape_for_display (name, -1);
      g_autofree char *shown_details = mesh_escape_for_display (details, -1);

      g_message ("Could not send %s: %s", shown_name, shown_details);
    }
    /* Translators: a file's name, then a sentence saying why and what to do. */
    message = g_strdup_printf (_("Could not send %s. %s"), name,
                               why != NULL ? why : _("The transfer failed. The details say why."));
    break;
  }
  default:
    return;
  }
  g_signal_handlers_disconnect_by_func (transfer, transfer_state_cb, self);
  mesh_ui_toast (GTK_WIDGET (self), message);
}

static void
send_to_device (MeshRoomView *self,
                MeshMember   *member,
                const char   *device_id,
                GList        *files)
{
  for (GList *l = files; l != NULL; l = l->next) {
    MeshTransfer *transfer = mesh_embedded_agent_send (self->agent,
                                                       mesh_room_get_room_id (self->room),
                                                       device_id,
                                                       mesh_member_get_username (member),
                                                       l->data);

    g_signal_connect_object (transfer, "notify::state", G_CALLBACK (transfer_state_cb), self, 0);
    transfer_state_cb (transfer, NULL, self);
  }
}

typedef struct {
  MeshRoomView *self;
  MeshMember   *member;
  GStrv         devices;   /* in the order of the responses */
  GList        *files;     /* GFile */
} DeviceData;

static void
device_data_free (DeviceData *data)
{
  g_object_unref (data->self);
  g_object_unref (data->member);
  g_strfreev (data->devices);
  g_list_free_full (data->files, g_object_unref);
  g_free (data);
}

static void
device_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    DeviceData       *data)
{
  guint64 index;

  if (g_ascii_string_to_unsigned (response, 10, 0, g_strv_length (data->devices) - 1, &index,
                                  NULL) &&
      data->self->agent != NULL && data->self->room != NULL)
    send_to_device (data->self, data->member, data->devices[index], data->files);
  device_data_free (data);
}

/* The name its owner gave @device_id (mesh-agent --device-name), else the
 * start of its id. */
static char *
device_label (GPtrArray  *peers,
              const char *device_id)
{
  g_autofree char *short_id = NULL;

  for (guint i = 0; peers != NULL && i < peers->len; i++) {
    MeshPeerInfo *peer = peers->pdata[i];

    if (g_strcmp0 (peer->device_id, device_id) == 0 && peer->device_name != NULL &&
        *peer->device_name != '\0')
      return mesh_escape_for_display (peer->device_name, -1);
  }
  short_id = mesh_escape_for_display (device_id, MIN (strlen (device_id), 8));
  /* Translators: a device without a name, by the start of its id. */
  return g_strdup_printf (_("Device %s"), short_id);
}

/* Sends @files to @member's device, asking which one when they have several
 * connected to the room. */
static void
send_to (MeshRoomView *self,
         MeshMember   *member,
         GList        *files)
{
  const char * const *devices = mesh_member_get_devices (member);
  g_autoptr(GPtrArray) peers = NULL;
  g_autofree char *name = NULL;
  g_autofree char *body = NULL;
  GtkWidget *dialog;
  DeviceData *data;

  if (devices[0] == NULL)
    return;
  if (devices[1] == NULL) {
    send_to_device (self, member, devices[0], files);
    return;
  }

  name = mesh_escape_for_display (mesh_member_get_username (member), -1);
  body = g_strdup_printf (_("%s has Mesh running on several devices. Pick the one that gets the files."),
                          name);
  dialog = adw_message_dialog_new (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))),
                                   _("Send to Which Device?"), body);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"));
  peers = mesh_client_session_dup_room_peers (self->session, mesh_room_get_room_id (self->room));
  for (guint i = 0; devices[i] != NULL; i++) {
    g_autofree char *id = g_strdup_printf ("%u", i);
    g_autofree char *name_label = device_label (peers, devices[i]);
    g_auto(GStrv) parts = g_strsplit (name_label, "_", -1);
    /* Response labels take mnemonics: an underscore of the name stays one. */
    g_autofree char *label = g_strjoinv ("__", parts);

    adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), id, label);
  }
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  data = g_new0 (DeviceData, 1);
  data->self = g_object_ref (self);
  data->member = g_object_ref (member);
  data->devices = g_strdupv ((char **) devices);
  for (GList *l = files; l != NULL; l = l->next)
    data->files = g_list_prepend (data->files, g_object_ref (l->data));
  data->files = g_list_reverse (data->files);
  g_signal_connect (dialog, "response", G_CALLBACK (device_response_cb), data);
  gtk_window_present (GTK_WINDOW (dialog));
}

typedef struct {
  MeshRoomView *self;
  char         *user_id;   /* NULL: whoever mesh_room_view_send_files () picks */
} ChooserData;

static void
chooser_data_free (ChooserData *data)
{
  g_object_unref (data->self);
  g_free (data->user_id);
  g_free (data);
}

static void
chooser_response_cb (GtkNativeDialog *chooser,
                     int              response,
                     ChooserData     *data)
{
  MeshRoomView *self = data->self;
  g_autoptr(GListModel) files = NULL;
  g_autoptr(GPtrArray) members = NULL;
  GList *list = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (chooser));
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
  if (files != NULL && data->user_id == NULL) {
    for (guint i = g_list_model_get_n_items (files); i > 0; i--)
      list = g_list_prepend (list, g_list_model_get_item (files, i - 1));
    mesh_room_view_send_files (self, list);
    g_list_free_full (list, g_object_unref);
  } else if (files != NULL) {
    members = find_recipients (self, data->user_id);
    if (members->len == 0) {
      mesh_ui_toast (GTK_WIDGET (self), _("This member no longer has a device connected"));
    } else {
      for (guint i = g_list_model_get_n_items (files); i > 0; i--)
        list = g_list_prepend (list, g_list_model_get_item (files, i - 1));
      send_to (self, members->pdata[0], list);
      g_list_free_full (list, g_object_unref);
    }
  }
  chooser_data_free (data);
}

static void
send_files_activated (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  MeshRoomView *self = MESH_ROOM_VIEW (widget);
  GtkFileChooserNative *chooser;
  ChooserData *data;

  if (self->agent == NULL || self->room == NULL)
    return;
  chooser = gtk_file_chooser_native_new (_("Send Files"),
                                         GTK_WINDOW (gtk_widget_get_root (widget)),
                                         GTK_FILE_CHOOSER_ACTION_OPEN, _("_Send"), NULL);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (chooser), TRUE);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  data = g_new0 (ChooserData, 1);
  data->self = g_object_ref (self);
  data->user_id = g_variant_dup_string (parameter, NULL);
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response_cb), data);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* The composer's attach button: files, or a folder, to whoever is in the
 * room (mesh_room_view_send_files () asks whom when there is a choice). */
static void
attach_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  MeshRoomView *self = MESH_ROOM_VIEW (widget);
  gboolean folder = g_str_equal (action_name, "room.attach-folder");
  GtkFileChooserNative *chooser;
  ChooserData *data;

  if (self->agent == NULL || self->room == NULL)
    return;
  chooser = gtk_file_chooser_native_new (folder ? _("Send a Folder") : _("Send Files"),
                                         GTK_WINDOW (gtk_widget_get_root (widget)),
                                         folder ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER
                                                : GTK_FILE_CHOOSER_ACTION_OPEN,
                                         _("_Send"), NULL);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (chooser), !folder);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  data = g_new0 (ChooserData, 1);
  data->self = g_object_ref (self);
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response_cb), data);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* The terminal window showing @share_id, if one is open. */
static GtkWindow *
find_terminal_window (MeshRoomView *self,
                      const char   *share_id)
{
  GtkApplication *app = gtk_window_get_application (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))));

  for (GList *l = app != NULL ? gtk_application_get_windows (app) : NULL; l != NULL; l = l->next) {
    MeshSharedTerminal *terminal = MESH_IS_TERMINAL_WINDOW (l->data)
                                   ? mesh_terminal_window_get_terminal (l->data) : NULL;

    if (terminal != NULL &&
        mesh_shared_terminal_get_state (terminal) != MESH_SHARED_TERMINAL_ENDED &&
        g_strcmp0 (mesh_shared_terminal_get_share_id (terminal), share_id) == 0)
      return l->data;
  }
  return NULL;
}

static void
show_terminal (MeshRoomView       *self,
               MeshSharedTerminal *terminal)
{
  GtkApplication *app = gtk_window_get_application (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))));
  gtk_window_present (GTK_WINDOW (mesh_terminal_window_new (app, terminal)));
}

static void
share_terminal_activated (GtkWidget  *widget,
                          const char *action_name,
                          GVariant   *parameter)
{
  MeshRoomView *self = MESH_ROOM_VIEW (widget);
  g_autoptr(MeshSharedTerminal) terminal = NULL;

  if (self->agent == NULL || self->room == NULL)
    return;
  if (mesh_embedded_agent_get_device_id (self->agent) == NULL) {
    mesh_ui_toast (widget, _("This computer is not connected to the server yet"));
    return;
  }
  terminal = mesh_embedded_agent_share_terminal (self->agent, mesh_room_get_room_id (self->room));
  show_terminal (self, terminal);
}

static void
share_watch_cb (MeshRoomView *self,
                const char   *room_id,
                const char   *share_id,
                const char   *username,
                const char   *device_id)
{
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  GtkWindow *window = find_terminal_window (self, share_id);

  if (window != NULL) {
    gtk_window_present (window);
    return;
  }
  if (self->agent == NULL)
    return;
  if (g_strcmp0 (device_id, mesh_embedded_agent_get_device_id (self->agent)) == 0) {
    mesh_ui_toast (GTK_WIDGET (self), _("This terminal is shared from this computer"));
    return;
  }
  terminal = mesh_embedded_agent_view_terminal (self->agent, room_id, share_id, username);
  show_terminal (self, terminal);
}

static gboolean
clear_finished_cb (MeshRoomView *self)
{
  if (self->agent != NULL)
    mesh_embedded_agent_clear_finished (self->agent);
  return TRUE;
}

static void
transfers_changed_cb (MeshRoomView *self)
{
  GListModel *transfers = mesh_transfer_list_get_model (self->transfer_list);

  gtk_widget_set_visible (GTK_WIDGET (self->transfer_list),
                          transfers != NULL && g_list_model_get_n_items (transfers) > 0);
}

static void
agent_ready_cb (MeshRoomView      *self,
                const char        *device_id)
{
  mesh_share_bar_set_own_device (self->share_bar, device_id);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.share-terminal", self->room != NULL);
}

static gboolean
drop_cb (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         MeshRoomView  *self)
{
  GSList *files = g_value_get_boxed (value);
  GList *list = NULL;

  if (self->room == NULL || self->agent == NULL)
    return FALSE;
  for (GSList *l = files; l != NULL; l = l->next)
    list = g_list_prepend (list, l->data);
  list = g_list_reverse (list);
  mesh_room_view_send_files (self, list);
  g_list_free (list);
  return TRUE;
}

/* The call takes most of the height; the conversation stays below it. */
static void
call_active_cb (MeshRoomView *self)
{
  int height = gtk_widget_get_height (GTK_WIDGET (self->call_paned));

  if (mesh_call_view_get_active (self->call_view))
    gtk_paned_set_position (self->call_paned, height > 0 ? height * 62 / 100 : 420);
}

/* Calling one member: their app's connection in the room. */
static void
call_member_activated (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  MeshRoomView *self = MESH_ROOM_VIEW (widget);
  const char *user_id = g_variant_get_string (parameter, NULL);
  g_autoptr(GPtrArray) peers = NULL;

  if (self->session == NULL || self->room == NULL)
    return;
  peers = mesh_client_session_dup_room_peers (self->session, mesh_room_get_room_id (self->room));
  for (guint i = 0; i < peers->len; i++) {
    MeshPeerInfo *info = peers->pdata[i];

    if (g_strcmp0 (info->user_id, user_id) == 0 && g_strcmp0 (info->peer_type, "client") == 0 &&
        g_strcmp0 (info->peer_id, mesh_client_session_get_peer_id (self->session)) != 0) {
      gtk_widget_activate_action (widget, "app.call-peer", "(ss)",
                                  mesh_room_get_room_id (self->room), info->peer_id);
      return;
    }
  }
  mesh_ui_toast (widget, _("They are not online in this room right now."));
}

static void
mesh_room_view_dispose (GObject *object)
{
  MeshRoomView *self = MESH_ROOM_VIEW (object);

  /* A window closed right after typing keeps the draft. */
  save_current_draft (self);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_handle_id (&self->scroll_idle_id, g_source_remove);
  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_clear_object (&self->room);
  g_clear_object (&self->chat);
  g_clear_object (&self->members);
  g_clear_object (&self->session);
  g_clear_pointer (&self->chats, g_hash_table_unref);
  g_clear_object (&self->agent);
  g_clear_object (&self->calls);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_ROOM_VIEW);

  G_OBJECT_CLASS (mesh_room_view_parent_class)->dispose (object);
}

static void
mesh_room_view_class_init (MeshRoomViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_room_view_get_property;
  object_class->set_property = mesh_room_view_set_property;
  object_class->dispose = mesh_room_view_dispose;

  properties[PROP_FOLDED] =
    g_param_spec_boolean ("folded", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (MESH_TYPE_CONNECTION_BANNER);
  g_type_ensure (MESH_TYPE_SHARE_BAR);
  g_type_ensure (MESH_TYPE_TRANSFER_LIST);
  g_type_ensure (MESH_TYPE_CALL_BUTTONS);
  g_type_ensure (MESH_TYPE_CALL_BANNER);
  g_type_ensure (MESH_TYPE_CALL_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-room-view.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, title);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, banner);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, share_bar);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, transfer_list);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, stack);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, chat_stack);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, spinner);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, scroller);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, list_view);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, members_list);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, members_button);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, room_menu_button);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, entry);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, limit_label);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, call_buttons);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, call_banner);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, call_paned);
  gtk_widget_class_bind_template_child (widget_class, MeshRoomView, call_view);
  gtk_widget_class_bind_template_callback (widget_class, call_active_cb);
  gtk_widget_class_bind_template_callback (widget_class, edge_reached_cb);
  gtk_widget_class_bind_template_callback (widget_class, factory_setup_cb);
  gtk_widget_class_bind_template_callback (widget_class, factory_bind_cb);
  gtk_widget_class_bind_template_callback (widget_class, factory_unbind_cb);
  gtk_widget_class_bind_template_callback (widget_class, entry_activate_cb);
  gtk_widget_class_bind_template_callback (widget_class, entry_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, share_watch_cb);
  gtk_widget_class_bind_template_callback (widget_class, clear_finished_cb);

  gtk_widget_class_install_action (widget_class, "room.send", NULL, send_activated);
  gtk_widget_class_install_action (widget_class, "room.copy-invite", NULL, copy_invite_activated);
  gtk_widget_class_install_action (widget_class, "room.rename", NULL, rename_activated);
  gtk_widget_class_install_action (widget_class, "room.leave", NULL, leave_or_delete_activated);
  gtk_widget_class_install_action (widget_class, "room.delete", NULL, leave_or_delete_activated);
  gtk_widget_class_install_action (widget_class, "room.send-files", "s", send_files_activated);
  gtk_widget_class_install_action (widget_class, "room.attach-files", NULL, attach_activated);
  gtk_widget_class_install_action (widget_class, "room.attach-folder", NULL, attach_activated);
  gtk_widget_class_install_action (widget_class, "room.share-terminal", NULL,
                                   share_terminal_activated);
  gtk_widget_class_install_action (widget_class, "room.call-member", "s", call_member_activated);
}

static void
mesh_room_view_init (MeshRoomView *self)
{
  GtkDropTarget *drop;
  GtkAdjustment *adj;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->chats = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (drop_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
  self->stick_to_bottom = TRUE;

  adj = gtk_scrolled_window_get_vadjustment (self->scroller);
  g_signal_connect_object (adj, "notify::upper", G_CALLBACK (adjustment_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (adj, "notify::page-size", G_CALLBACK (adjustment_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (adj, "value-changed", G_CALLBACK (adjustment_value_changed_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.copy-invite", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.rename", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.leave", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.delete", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send-files", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach-files", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach-folder", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.share-terminal", FALSE);
  update_send_action (self);
}

GtkWidget *
mesh_room_view_new (void)
{
  return g_object_new (MESH_TYPE_ROOM_VIEW, NULL);
}

void
mesh_room_view_set_session (MeshRoomView      *self,
                            MeshClientSession *session)
{
  g_return_if_fail (MESH_IS_ROOM_VIEW (self));
  g_return_if_fail (session == NULL || MESH_IS_CLIENT_SESSION (session));

  mesh_room_view_set_room (self, NULL);
  g_hash_table_remove_all (self->chats);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_set_object (&self->session, session);
  mesh_connection_banner_set_session (self->banner, session);
  mesh_share_bar_set_session (self->share_bar, session);
  if (session == NULL)
    return;
  /* A member's presence changes the online count but not the list.  After
   * the member lists, which update their statuses on the same signals. */
  g_signal_connect_object (session, "presence-changed", G_CALLBACK (update_title), self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  g_signal_connect_object (session, "room-joined", G_CALLBACK (update_title), self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  g_signal_connect_object (session, "room-left", G_CALLBACK (update_title), self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  g_signal_connect_object (session, "notify::state", G_CALLBACK (update_title), self,
                           G_CONNECT_SWAPPED);
}

static gboolean
has_server_message (MeshChatModel *chat)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (chat));

  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshChatMessage) message = g_list_model_get_item (G_LIST_MODEL (chat), i);

    if (mesh_chat_message_get_message_id (message) != NULL)
      return TRUE;
  }
  return FALSE;
}

void
mesh_room_view_set_room (MeshRoomView *self,
                         MeshRoom     *room)
{
  g_autofree char *placeholder = NULL;
  g_autoptr(GtkSelectionModel) selection = NULL;
  MeshChatModel *chat;

  g_return_if_fail (MESH_IS_ROOM_VIEW (self));
  g_return_if_fail (room == NULL || MESH_IS_ROOM (room));
  g_return_if_fail (room == NULL || self->session != NULL);

  if (room == self->room)
    return;

  save_current_draft (self);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  if (self->chat != NULL)
    g_signal_handlers_disconnect_by_data (self->chat, self);
  if (self->members != NULL)
    g_signal_handlers_disconnect_by_data (self->members, self);
  g_set_object (&self->room, room);
  g_clear_object (&self->chat);
  g_clear_object (&self->members);
  gtk_list_view_set_model (self->list_view, NULL);
  gtk_list_box_bind_model (self->members_list, NULL, NULL, NULL, NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.copy-invite", room != NULL);
  gtk_widget_set_visible (self->members_button, room != NULL);
  gtk_widget_set_visible (self->room_menu_button, room != NULL);
  update_room_actions (self);

  if (room == NULL) {
    gtk_editable_set_text (GTK_EDITABLE (self->entry), "");
    g_clear_handle_id (&self->draft_save_id, g_source_remove);
    gtk_stack_set_visible_child_name (self->stack, "none");
    update_title (self);
    update_send_action (self);
    mesh_share_bar_set_room_id (self->share_bar, NULL);
    gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.share-terminal", FALSE);
    set_call_room (self, NULL);
    return;
  }

  self->cancellable = g_cancellable_new ();
  chat = g_hash_table_lookup (self->chats, mesh_room_get_room_id (room));
  if (chat == NULL) {
    chat = mesh_chat_model_new (self->session, mesh_room_get_room_id (room));
    g_hash_table_insert (self->chats, g_strdup (mesh_room_get_room_id (room)), chat);
  }
  self->chat = g_object_ref (chat);
  self->members = mesh_member_list_new (self->session, room);

  g_signal_connect_object (room, "notify::name", G_CALLBACK (update_title), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "members-changed", G_CALLBACK (update_room_actions), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::unread-count", G_CALLBACK (unread_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->chat, "items-changed", G_CALLBACK (update_chat_stack), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->chat, "items-changed", G_CALLBACK (adjustment_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->chat, "notify::loading", G_CALLBACK (update_chat_stack), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->members, "items-changed", G_CALLBACK (update_title), self,
                           G_CONNECT_SWAPPED);

  selection = GTK_SELECTION_MODEL (gtk_no_selection_new (g_object_ref (G_LIST_MODEL (self->chat))));
  gtk_list_view_set_model (self->list_view, selection);
  /* After the model: the list view resets the position to the top, which
   * is not the user scrolling away from the newest messages. */
  self->stick_to_bottom = TRUE;
  self->last_upper = -1;
  scroll_to_bottom (self);
  gtk_list_box_bind_model (self->members_list, G_LIST_MODEL (self->members), create_member_row,
                           self, NULL);

  /* Translators: the placeholder of the message entry, with the room's name. */
  placeholder = g_strdup_printf (_("Message %s"), mesh_room_get_name (room));
  gtk_entry_set_placeholder_text (self->entry, placeholder);
  {
    g_autofree char *draft = load_draft (self, mesh_room_get_room_id (room));

    /* This room's draft, not the last room's text. */
    gtk_editable_set_text (GTK_EDITABLE (self->entry), draft != NULL ? draft : "");
    gtk_editable_set_position (GTK_EDITABLE (self->entry), -1);
    g_clear_handle_id (&self->draft_save_id, g_source_remove);
  }

  gtk_stack_set_visible_child_name (self->stack, "room");
  update_title (self);
  update_send_action (self);
  mesh_share_bar_set_room_id (self->share_bar, mesh_room_get_room_id (room));
  set_call_room (self, mesh_room_get_room_id (room));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.share-terminal",
                                 self->agent != NULL &&
                                 mesh_embedded_agent_get_device_id (self->agent) != NULL);
  /* Local items (an ended transfer) can come before the history. */
  if (!has_server_message (self->chat))
    load_older (self);
  update_chat_stack (self);
  unread_changed_cb (self);
}

MeshRoom *
mesh_room_view_get_room (MeshRoomView *self)
{
  g_return_val_if_fail (MESH_IS_ROOM_VIEW (self), NULL);

  return self->room;
}

MeshChatModel *
mesh_room_view_get_chat (MeshRoomView *self)
{
  g_return_val_if_fail (MESH_IS_ROOM_VIEW (self), NULL);

  return self->chat;
}

void
mesh_room_view_mark_read (MeshRoomView *self)
{
  g_return_if_fail (MESH_IS_ROOM_VIEW (self));

  if (self->room != NULL && mesh_room_get_unread_count (self->room) > 0)
    mesh_room_set_unread_count (self->room, 0);
}

void
mesh_room_view_focus_entry (MeshRoomView *self)
{
  g_return_if_fail (MESH_IS_ROOM_VIEW (self));

  if (self->room != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (self->entry));
}

void
mesh_room_view_set_agent (MeshRoomView      *self,
                          MeshEmbeddedAgent *agent)
{
  g_return_if_fail (MESH_IS_ROOM_VIEW (self));
  g_return_if_fail (agent == NULL || MESH_IS_EMBEDDED_AGENT (agent));

  if (self->agent != NULL) {
    g_signal_handlers_disconnect_by_data (self->agent, self);
    g_signal_handlers_disconnect_by_data (mesh_embedded_agent_get_transfers (self->agent), self);
  }
  g_set_object (&self->agent, agent);
  mesh_transfer_list_set_model (self->transfer_list,
                                agent != NULL ? mesh_embedded_agent_get_transfers (agent) : NULL);
  if (agent != NULL)
    g_signal_connect_object (mesh_embedded_agent_get_transfers (agent), "items-changed",
                             G_CALLBACK (transfers_changed_cb), self, G_CONNECT_SWAPPED);
  transfers_changed_cb (self);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send-files", agent != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach-files", agent != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach-folder", agent != NULL);
  mesh_share_bar_set_own_device (self->share_bar,
                                 agent != NULL ? mesh_embedded_agent_get_device_id (agent) : NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.share-terminal",
                                 agent != NULL && self->room != NULL &&
                                 mesh_embedded_agent_get_device_id (agent) != NULL);
  if (agent != NULL)
    g_signal_connect_object (agent, "ready", G_CALLBACK (agent_ready_cb), self,
                             G_CONNECT_SWAPPED);
}

typedef struct {
  MeshRoomView *self;
  GList        *files;    /* GFile */
  GPtrArray    *members;  /* MeshMember, in the order of the responses */
} PickData;

static void
pick_data_free (PickData *data)
{
  g_object_unref (data->self);
  g_list_free_full (data->files, g_object_unref);
  g_ptr_array_unref (data->members);
  g_free (data);
}

static void
pick_response_cb (AdwMessageDialog *dialog,
                  const char       *response,
                  PickData         *data)
{
  guint64 index;

  if (g_ascii_string_to_unsigned (response, 10, 0, data->members->len - 1, &index, NULL) &&
      data->self->agent != NULL && data->self->room != NULL)
    send_to (data->self, data->members->pdata[index], data->files);
  pick_data_free (data);
}

/* Sends @files to the only other member with a device, or asks whom to. */
void
mesh_room_view_send_files (MeshRoomView *self,
                           GList        *files)
{
  g_autoptr(GPtrArray) members = NULL;
  GtkWidget *dialog;
  PickData *data;

  g_return_if_fail (MESH_IS_ROOM_VIEW (self));

  if (files == NULL || self->room == NULL || self->agent == NULL)
    return;
  members = find_recipients (self, NULL);
  if (members->len == 0) {
    mesh_ui_toast (GTK_WIDGET (self), _("Nobody in this room has a device connected"));
    return;
  }
  if (members->len == 1) {
    send_to (self, members->pdata[0], files);
    return;
  }

  dialog = adw_message_dialog_new (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))),
                                   _("Send to Whom?"), NULL);
  adw_message_dialog_set_body (ADW_MESSAGE_DIALOG (dialog),
                               ngettext ("Pick the member who gets the file.",
                                         "Pick the member who gets the files.",
                                         g_list_length (files)));
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"));
  for (guint i = 0; i < members->len; i++) {
    g_autofree char *id = g_strdup_printf ("%u", i);

    adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), id,
                                     mesh_member_get_username (members->pdata[i]));
  }
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  data = g_new0 (PickData, 1);
  data->self = g_object_ref (self);
  for (GList *l = files; l != NULL; l = l->next)
    data->files = g_list_prepend (data->files, g_object_ref (l->data));
  data->files = g_list_reverse (data->files);
  data->members = g_steal_pointer (&members);
  g_signal_connect (dialog, "response", G_CALLBACK (pick_response_cb), data);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
transfer_to_chat_cb (MeshRoomView *self,
                   GParamSpec   *pspec,
                   MeshTransfer *transfer)
{
  MeshTransferState state = mesh_transfer_get_state (transfer);
  const char *room_id = mesh_transfer_get_room_id (transfer);
  const char *outcome;
  g_autoptr(MeshChatMessage) item = NULL;
  MeshChatModel *chat;

  switch (state) {
  case MESH_TRANSFER_DONE:
    outcome = "done";
    break;
  case MESH_TRANSFER_CANCELLED:
    outcome = "cancelled";
    break;
  case MESH_TRANSFER_FAILED:
    outcome = "failed";
    break;
  default:
    /* Declined offers and transfers under way are not in the conversation. */
    return;
  }
  /* Once: a failed transfer can be retried and end again, but one line is enough. */
  g_signal_handlers_disconnect_by_func (transfer, transfer_to_chat_cb, self);
  if (self->session == NULL || room_id == NULL)
    return;

  chat = g_hash_table_lookup (self->chats, room_id);
  if (chat == NULL) {
    /* The room was not opened yet: its history loads when it is. */
    chat = mesh_chat_model_new (self->session, room_id);
    g_hash_table_insert (self->chats, g_strdup (room_id), chat);
  }
  item = mesh_chat_message_new_file (room_id,
                                     mesh_transfer_get_direction (transfer) == MESH_TRANSFER_OUTGOING,
                                     mesh_transfer_get_peer_name (transfer),
                                     mesh_transfer_get_name (transfer),
                                     mesh_transfer_get_is_folder (transfer),
                                     mesh_transfer_get_size (transfer), outcome,
                                     mesh_transfer_get_file (transfer));
  mesh_chat_model_append_local (chat, item);
}

void
mesh_room_view_watch_transfer (MeshRoomView *self,
                               MeshTransfer *transfer)
{
  g_return_if_fail (MESH_IS_ROOM_VIEW (self));
  g_return_if_fail (MESH_IS_TRANSFER (transfer));

  if (mesh_transfer_is_finished (transfer))
    return;
  g_signal_connect_object (transfer, "notify::state", G_CALLBACK (transfer_to_chat_cb), self,
                           G_CONNECT_SWAPPED);
}

void
mesh_room_view_set_call_controller (MeshRoomView       *self,
                                    MeshCallController *controller)
{
  g_return_if_fail (MESH_IS_ROOM_VIEW (self));
  g_return_if_fail (controller == NULL || MESH_IS_CALL_CONTROLLER (controller));

  g_set_object (&self->calls, controller);
  mesh_call_buttons_set_controller (self->call_buttons, controller);
  mesh_call_banner_set_controller (self->call_banner, controller);
  mesh_call_view_set_controller (self->call_view, controller);
}

MeshCallController *
mesh_room_view_get_call_controller (MeshRoomView *self)
{
  g_return_val_if_fail (MESH_IS_ROOM_VIEW (self), NULL);

  return self->calls;
}

GtkWidget *
mesh_room_view_get_call_view (MeshRoomView *self)
{
  g_return_val_if_fail (MESH_IS_ROOM_VIEW (self), NULL);

  return GTK_WIDGET (self->call_view);
}

GtkWidget *
mesh_room_view_get_call_banner (MeshRoomView *self)
{
  g_return_val_if_fail (MESH_IS_ROOM_VIEW (self), NULL);

  return GTK_WIDGET (self->call_banner);
}
