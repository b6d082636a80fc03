/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-room-view"

#include "config.h"

#include "mesh-room-view-private.h"

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
        g_strcmp0 (member_user_id, room_view_own_user_id (self)) == 0)
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

void
room_view_share_watch_cb (MeshRoomView *self,
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

gboolean
room_view_clear_finished_cb (MeshRoomView *self)
{
  if (self->agent != NULL)
    mesh_embedded_agent_clear_finished (self->agent);
  return TRUE;
}

void
room_view_transfers_changed_cb (MeshRoomView *self)
{
  GListModel *transfers = mesh_transfer_list_get_model (self->transfer_list);

  gtk_widget_set_visible (GTK_WIDGET (self->transfer_list),
                          transfers != NULL && g_list_model_get_n_items (transfers) > 0);
}

void
room_view_agent_ready_cb (MeshRoomView      *self,
                          const char        *device_id)
{
  mesh_share_bar_set_own_device (self->share_bar, device_id);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.share-terminal", self->room != NULL);
}

gboolean
room_view_drop_cb (GtkDropTarget *target,
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
room_view_devices_class_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "room.send-files", "s", send_files_activated);
  gtk_widget_class_install_action (widget_class, "room.attach-files", NULL, attach_activated);
  gtk_widget_class_install_action (widget_class, "room.attach-folder", NULL, attach_activated);
  gtk_widget_class_install_action (widget_class, "room.share-terminal", NULL,
                                   share_terminal_activated);
}
