/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-room-view"

#include "config.h"

#include "mesh-room-view-private.h"

enum {
  PROP_0,
  PROP_FOLDED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

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
void
room_view_scroll_to_bottom (MeshRoomView *self)
{
  if (self->scroll_idle_id == 0)
    self->scroll_idle_id = g_idle_add_full (G_PRIORITY_HIGH_IDLE, scroll_to_bottom_idle_cb, self,
                                            NULL);
}

static void
adjustment_changed_cb (MeshRoomView *self)
{
  if (self->stick_to_bottom)
    room_view_scroll_to_bottom (self);
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
const char *
room_view_own_user_id (MeshRoomView *self)
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
                                          room_view_own_user_id (self)) == 0);
  return row;
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
  room_view_save_current_draft (self);
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
  gtk_widget_class_bind_template_callback_full (widget_class, "entry_activate_cb",
                                                G_CALLBACK (room_view_entry_activate_cb));
  gtk_widget_class_bind_template_callback_full (widget_class, "entry_changed_cb",
                                                G_CALLBACK (room_view_entry_changed_cb));
  gtk_widget_class_bind_template_callback_full (widget_class, "share_watch_cb",
                                                G_CALLBACK (room_view_share_watch_cb));
  gtk_widget_class_bind_template_callback_full (widget_class, "clear_finished_cb",
                                                G_CALLBACK (room_view_clear_finished_cb));

  room_view_composer_class_init (widget_class);
  room_view_actions_class_init (widget_class);
  room_view_devices_class_init (widget_class);
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
  g_signal_connect (drop, "drop", G_CALLBACK (room_view_drop_cb), self);
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
  room_view_update_send_action (self);
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

  room_view_save_current_draft (self);
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
  room_view_update_room_actions (self);

  if (room == NULL) {
    gtk_editable_set_text (GTK_EDITABLE (self->entry), "");
    g_clear_handle_id (&self->draft_save_id, g_source_remove);
    gtk_stack_set_visible_child_name (self->stack, "none");
    update_title (self);
    room_view_update_send_action (self);
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
  g_signal_connect_object (room, "members-changed", G_CALLBACK (room_view_update_room_actions),
                           self, G_CONNECT_SWAPPED);
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
  room_view_scroll_to_bottom (self);
  gtk_list_box_bind_model (self->members_list, G_LIST_MODEL (self->members), create_member_row,
                           self, NULL);

  /* Translators: the placeholder of the message entry, with the room's name. */
  placeholder = g_strdup_printf (_("Message %s"), mesh_room_get_name (room));
  gtk_entry_set_placeholder_text (self->entry, placeholder);
  {
    g_autofree char *draft = room_view_load_draft (self, mesh_room_get_room_id (room));

    /* This room's draft, not the last room's text. */
    gtk_editable_set_text (GTK_EDITABLE (self->entry), draft != NULL ? draft : "");
    gtk_editable_set_position (GTK_EDITABLE (self->entry), -1);
    g_clear_handle_id (&self->draft_save_id, g_source_remove);
  }

  gtk_stack_set_visible_child_name (self->stack, "room");
  update_title (self);
  room_view_update_send_action (self);
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
                             G_CALLBACK (room_view_transfers_changed_cb), self, G_CONNECT_SWAPPED);
  room_view_transfers_changed_cb (self);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send-files", agent != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach-files", agent != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach-folder", agent != NULL);
  mesh_share_bar_set_own_device (self->share_bar,
                                 agent != NULL ? mesh_embedded_agent_get_device_id (agent) : NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.share-terminal",
                                 agent != NULL && self->room != NULL &&
                                 mesh_embedded_agent_get_device_id (agent) != NULL);
  if (agent != NULL)
    g_signal_connect_object (agent, "ready", G_CALLBACK (room_view_agent_ready_cb), self,
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
