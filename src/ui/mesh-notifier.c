/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-notifier"

#include "config.h"

#include "mesh-notifier.h"

#include "mesh-json.h"

#include <glib/gi18n.h>
#include <gtk/gtk.h>
#include <libnotify/notify.h>

/* What the server's §9 waits before it calls an agent offline. */
#define AGENT_OFFLINE_DELAY_S 30

/* Chat messages of a room that come closer together than this (a burst, or
 * a catch-up after a reconnect) make one notification, not one each: every
 * notification is a synchronous D-Bus call. */
#define CHAT_COALESCE_MS 500

typedef enum {
  KIND_CHAT,
  KIND_TERMINAL,
  KIND_CALL,
  KIND_FILE,
  KIND_AGENT,
  KIND_RINGING,
  N_KINDS
} Kind;

static const struct {
  const char *name;      /* the §9 kind */
  const char *setting;
  const char *category;  /* Desktop Notifications Specification, "Categories" */
} kinds[N_KINDS] = {
  [KIND_CHAT] = { "chat.message.created", "notify-chat", "im.received" },
  [KIND_TERMINAL] = { "terminal.share.started", "notify-terminal", "im" },
  [KIND_CALL] = { "call.missed", "notify-calls", "call.unanswered" },
  [KIND_FILE] = { "share.completed", "notify-files", "transfer.complete" },
  [KIND_AGENT] = { "agent.offline", "notify-agents", "network.disconnected" },
  /* Not a §9 kind: a call ringing here, or a screen share offered. */
  [KIND_RINGING] = { "call.ringing", "notify-calls", "call.incoming" },
};

enum {
  PROP_0,
  PROP_AGENT_OFFLINE_DELAY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  ACTIVATE_ROOM,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* One of the user's agents that went offline and may still come back. */
typedef struct {
  MeshNotifier *self;
  char         *device_id;
  char         *name;
  GDateTime    *since;
  guint         timeout_id;
} GoneAgent;

/* The chat notification of a room: what it counts since the room was last
 * looked at, and what came since it was last shown. */
typedef struct {
  MeshNotifier *self;
  char         *room_id;
  guint         count;       /* messages the notification tells of */
  guint         pending;     /* of those, not shown yet */
  char         *sender;      /* the newest one's */
  char         *text;
  guint         timeout_id;  /* the window in which more are gathered */
} ChatBatch;

struct _MeshNotifier {
  GObject            parent_instance;

  GSettings         *settings;
  MeshClientSession *session;
  MeshRoomList      *room_list;
  char              *focused_room_id;
  char              *own_device_id;
  guint              agent_offline_delay;
  GHashTable        *notifications;  /* "kind key" → NotifyNotification */
  GHashTable        *gone_agents;    /* device_id → GoneAgent */
  GHashTable        *chats;          /* room_id → ChatBatch */
  NotifyNotification *background;    /* "running in the background", once shown */
  guint              n_shown;
};

G_DEFINE_FINAL_TYPE (MeshNotifier, mesh_notifier, G_TYPE_OBJECT)

static void
gone_agent_free (GoneAgent *agent)
{
  g_clear_handle_id (&agent->timeout_id, g_source_remove);
  g_free (agent->device_id);
  g_free (agent->name);
  g_date_time_unref (agent->since);
  g_free (agent);
}

static void
chat_batch_free (ChatBatch *batch)
{
  g_clear_handle_id (&batch->timeout_id, g_source_remove);
  g_free (batch->room_id);
  g_free (batch->sender);
  g_free (batch->text);
  g_free (batch);
}

static gboolean
is_wanted (MeshNotifier *self,
           Kind          kind,
           const char   *room_id)
{
  if (!g_settings_get_boolean (self->settings, kinds[kind].setting))
    return FALSE;
  return room_id == NULL || g_strcmp0 (room_id, self->focused_room_id) != 0;
}

static const char *
room_name (MeshNotifier *self,
           const char   *room_id)
{
  MeshRoom *room = mesh_room_list_find (self->room_list, room_id, NULL);

  return room != NULL ? mesh_room_get_name (room) : NULL;
}

/* The connected peer @peer_id as one of the session's rooms knows it. */
static MeshPeerInfo *
find_peer (MeshNotifier *self,
           const char   *peer_id)
{
  GListModel *rooms = G_LIST_MODEL (self->room_list);

  for (guint i = 0; i < g_list_model_get_n_items (rooms); i++) {
    g_autoptr(MeshRoom) room = g_list_model_get_item (rooms, i);
    g_autoptr(GPtrArray) peers = NULL;

    peers = mesh_client_session_dup_room_peers (self->session, mesh_room_get_room_id (room));
    for (guint j = 0; j < peers->len; j++) {
      MeshPeerInfo *info = peers->pdata[j];

      if (g_strcmp0 (info->peer_id, peer_id) == 0)
        return mesh_peer_info_copy (info);
    }
  }
  return NULL;
}

static gboolean
room_has_device (MeshNotifier *self,
                 const char   *room_id,
                 const char   *device_id)
{
  g_autoptr(GPtrArray) peers = mesh_client_session_dup_room_peers (self->session, room_id);

  for (guint i = 0; i < peers->len; i++) {
    if (g_strcmp0 (((MeshPeerInfo *) peers->pdata[i])->device_id, device_id) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Whether @username is this account, as the room's connections name it. */
static gboolean
is_own_username (MeshNotifier *self,
                 const char   *room_id,
                 const char   *username)
{
  const char *user_id = mesh_client_session_get_user_id (self->session);
  g_autoptr(GPtrArray) peers = mesh_client_session_dup_room_peers (self->session, room_id);

  for (guint i = 0; i < peers->len; i++) {
    MeshPeerInfo *info = peers->pdata[i];

    if (g_strcmp0 (info->user_id, user_id) == 0 && g_strcmp0 (info->username, username) == 0)
      return TRUE;
  }
  return FALSE;
}

static char *
notification_key (Kind        kind,
                  const char *key)
{
  return g_strconcat (kinds[kind].name, " ", key, NULL);
}

static void
withdraw_key (MeshNotifier *self,
              Kind          kind,
              const char   *key)
{
  g_autofree char *full_key = notification_key (kind, key);
  NotifyNotification *notification = g_hash_table_lookup (self->notifications, full_key);

  if (notification == NULL)
    return;
  /* Closing fails without a server; the notification is forgotten anyway. */
  notify_notification_close (notification, NULL);
  g_hash_table_remove (self->notifications, full_key);
}

static void
withdraw_kind (MeshNotifier *self,
               Kind          kind)
{
  GHashTableIter iter;
  NotifyNotification *notification;

  if (kind == KIND_CHAT)
    g_hash_table_remove_all (self->chats);
  g_hash_table_iter_init (&iter, self->notifications);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &notification)) {
    if (GPOINTER_TO_INT (g_object_get_data (G_OBJECT (notification), "kind")) == (int) kind) {
      notify_notification_close (notification, NULL);
      g_hash_table_iter_remove (&iter);
    }
  }
}

static void
launch_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    g_warning ("Could not open the received file: %s", error->message);
}

/* "Open" launches the received file; "Show in Folder" the folder holding
 * the received folder. */
static void
open_received (GFile    *file,
               gboolean  is_folder)
{
  g_autoptr(GFile) parent = is_folder ? g_file_get_parent (file) : NULL;
  g_autofree char *uri = g_file_get_uri (parent != NULL ? parent : file);
  GdkDisplay *display = gdk_display_get_default ();
  g_autoptr(GAppLaunchContext) context = NULL;

  if (display != NULL)
    context = G_APP_LAUNCH_CONTEXT (gdk_display_get_app_launch_context (display));
  g_app_info_launch_default_for_uri_async (uri, context, NULL, launch_cb, NULL);
}

static void
notification_action_cb (NotifyNotification *notification,
                        char               *action,
                        gpointer            user_data)
{
  MeshNotifier *self = MESH_NOTIFIER (user_data);
  GObject *object = G_OBJECT (notification);
  g_autofree char *room_id = g_strdup (g_object_get_data (object, "room-id"));
  g_autoptr(GFile) file = NULL;
  gboolean is_folder = GPOINTER_TO_INT (g_object_get_data (object, "is-folder"));

  g_set_object (&file, g_object_get_data (object, "file"));
  /* The desktop took it away; libnotify holds it until this returns. */
  g_hash_table_remove (self->notifications, g_object_get_data (object, "key"));
  if (GPOINTER_TO_INT (g_object_get_data (object, "kind")) == KIND_CHAT && room_id != NULL)
    g_hash_table_remove (self->chats, room_id);

  if (g_str_equal (action, "open") && file != NULL)
    open_received (file, is_folder);
  else if (room_id != NULL)
    g_signal_emit (self, signals[ACTIVATE_ROOM], 0, room_id);
}

/* The notification of @kind for @key, new or the one it replaces, with the
 * given text and a default action that opens @room_id (if any). */
static NotifyNotification *
prepare (MeshNotifier *self,
         Kind          kind,
         const char   *key,
         const char   *room_id,
         const char   *summary,
         const char   *body)
{
  g_autofree char *full_key = notification_key (kind, key);
  NotifyNotification *notification = g_hash_table_lookup (self->notifications, full_key);
  GObject *object;

  if (notification == NULL) {
    notification = notify_notification_new (summary, body, APP_ID);
    object = G_OBJECT (notification);
    g_object_set_data_full (object, "key", g_strdup (full_key), g_free);
    g_object_set_data (object, "kind", GINT_TO_POINTER (kind));
    notify_notification_set_category (notification, kinds[kind].category);
    notify_notification_set_hint_string (notification, "desktop-entry", APP_ID);
    g_hash_table_insert (self->notifications, g_steal_pointer (&full_key), notification);
  } else {
    object = G_OBJECT (notification);
    notify_notification_update (notification, summary, body, APP_ID);
    notify_notification_clear_actions (notification);
  }
  g_object_set_data_full (object, "room-id", g_strdup (room_id), g_free);
  if (room_id != NULL)
    notify_notification_add_action (notification, "default", _("Open Room"),
                                    notification_action_cb, self, NULL);
  return notification;
}

static void
present (MeshNotifier       *self,
         NotifyNotification *notification)
{
  g_autoptr(GError) error = NULL;

  self->n_shown++;
  /* Without a notification server (a bare session) there is nobody to tell. */
  if (!notify_notification_show (notification, &error))
    g_debug ("Could not show a notification: %s", error->message);
}

/* One message: who wrote, in which room, and what.  More: how many, with
 * the newest. */
static void
chat_show (MeshNotifier *self,
           ChatBatch    *batch)
{
  g_autofree char *summary = NULL;
  g_autofree char *body = NULL;
  const char *room = room_name (self, batch->room_id);

  batch->pending = 0;
  if (room == NULL)
    return;
  if (batch->count == 1) {
    /* Translators: a notification's title: who wrote, in which room. */
    summary = g_strdup_printf (_("%s in %s"), batch->sender, room);
    body = g_strdup (batch->text);
  } else {
    /* Translators: a notification's title: how many messages, in which room. */
    summary = g_strdup_printf (ngettext ("%u new message in %s",
                                         "%u new messages in %s", batch->count),
                               batch->count, room);
    /* Translators: the newest message under "N new messages in …": who, what. */
    body = g_strdup_printf (_("%s: %s"), batch->sender, batch->text);
  }
  present (self, prepare (self, KIND_CHAT, batch->room_id, batch->room_id, summary, body));
}

static gboolean
chat_window_cb (gpointer user_data)
{
  ChatBatch *batch = user_data;
  MeshNotifier *self = batch->self;

  /* A catch-up is one burst however long its pages take. */
  if (mesh_client_session_is_catching_up (self->session, batch->room_id))
    return G_SOURCE_CONTINUE;
  if (batch->pending > 0) {
    chat_show (self, batch);
    return G_SOURCE_CONTINUE;
  }
  batch->timeout_id = 0;
  return G_SOURCE_REMOVE;
}

/* A live message after a quiet while is shown at once; the ones that
 * follow within CHAT_COALESCE_MS, and a whole catch-up, are gathered into
 * one notification per room, "N new messages in Kitchen". */
static void
chat_message_cb (MeshNotifier    *self,
                 MeshChatMessage *message)
{
  const char *room_id = mesh_chat_message_get_room_id (message);
  ChatBatch *batch;

  if (mesh_chat_message_get_is_own (message) || !is_wanted (self, KIND_CHAT, room_id) ||
      room_name (self, room_id) == NULL)
    return;

  batch = g_hash_table_lookup (self->chats, room_id);
  if (batch == NULL) {
    batch = g_new0 (ChatBatch, 1);
    batch->self = self;
    batch->room_id = g_strdup (room_id);
    g_hash_table_insert (self->chats, batch->room_id, batch);
  }
  batch->count++;
  batch->pending++;
  g_free (batch->sender);
  batch->sender = g_strdup (mesh_chat_message_get_username (message));
  g_free (batch->text);
  batch->text = g_strdup (mesh_chat_message_get_content (message));
  if (batch->timeout_id != 0)
    return;
  if (!mesh_client_session_is_catching_up (self->session, room_id))
    chat_show (self, batch);
  batch->timeout_id = g_timeout_add (CHAT_COALESCE_MS, chat_window_cb, batch);
}

static void
terminal_share_started_cb (MeshNotifier *self,
                           const char   *room_id,
                           const char   *share_id,
                           const char   *host_device_id,
                           const char   *host_peer_id,
                           const char   *user_id,
                           const char   *username)
{
  NotifyNotification *notification;
  g_autofree char *summary = NULL;
  g_autofree char *body = NULL;
  const char *room;

  /* A share started from any of the user's own devices is their own doing. */
  if (user_id == NULL || username == NULL ||
      g_strcmp0 (user_id, mesh_client_session_get_user_id (self->session)) == 0 ||
      !is_wanted (self, KIND_TERMINAL, room_id))
    return;
  room = room_name (self, room_id);
  if (room == NULL)
    return;

  summary = g_strdup_printf (_("%s is sharing a terminal"), username);
  /* Translators: the body of "… is sharing a terminal": the room's name. */
  body = g_strdup_printf (_("In “%s”"), room);
  notification = prepare (self, KIND_TERMINAL, room_id, room_id, summary, body);
  g_object_set_data_full (G_OBJECT (notification), "share-id", g_strdup (share_id), g_free);
  present (self, notification);
}

/* A share that ended is no longer worth opening the room for. */
static void
terminal_share_stopped_cb (MeshNotifier *self,
                           const char   *room_id,
                           const char   *share_id)
{
  GHashTableIter iter;
  NotifyNotification *notification;

  g_hash_table_iter_init (&iter, self->notifications);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &notification)) {
    if (g_strcmp0 (g_object_get_data (G_OBJECT (notification), "share-id"), share_id) == 0) {
      notify_notification_close (notification, NULL);
      g_hash_table_iter_remove (&iter);
    }
  }
}

static char *
format_time (GDateTime *time)
{
  /* Translators: the time of day in notifications, see g_date_time_format(). */
  return g_date_time_format (time, _("%H:%M"));
}

/* call.missed {room_id, caller_peer_id, caller_user_id, caller_username, media}. */
static void
call_missed_cb (MeshNotifier      *self,
                const char        *type,
                const char        *from,
                JsonObject        *payload,
                MeshClientSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *summary = NULL;
  g_autofree char *body = NULL;
  g_autofree char *at = NULL;
  const char *room_id, *caller_user_id, *caller_username, *room;

  if (!mesh_json_get_string (payload, "room_id", TRUE, &room_id, &error) ||
      !mesh_json_get_string (payload, "caller_user_id", TRUE, &caller_user_id, &error) ||
      !mesh_json_get_string (payload, "caller_username", TRUE, &caller_username, &error)) {
    g_debug ("ignoring call.missed: %s", error->message);
    return;
  }
  if (g_strcmp0 (caller_user_id, mesh_client_session_get_user_id (self->session)) == 0 ||
      !is_wanted (self, KIND_CALL, room_id))
    return;
  room = room_name (self, room_id);
  if (room == NULL)
    return;

  at = format_time (now);
  summary = g_strdup_printf (_("Missed call from %s"), caller_username);
  /* Translators: who called, in which room, at what time. */
  body = g_strdup_printf (_("%s called you in “%s” at %s"), caller_username, room, at);
  present (self, prepare (self, KIND_CALL, room_id, room_id, summary, body));
}

static gboolean
agent_offline_cb (gpointer user_data)
{
  GoneAgent *agent = user_data;
  MeshNotifier *self = agent->self;

  agent->timeout_id = 0;
  /* Disconnected ourselves, we could not have seen it come back. */
  if (mesh_client_session_get_state (self->session) == MESH_CLIENT_SESSION_CONNECTED &&
      is_wanted (self, KIND_AGENT, NULL)) {
    g_autofree char *summary = g_strdup_printf (_("Agent offline: %s"), agent->name);
    g_autofree char *at = format_time (agent->since);
    g_autofree char *body = NULL;

    /* Translators: the agent's name, then the time it disconnected. */
    body = g_strdup_printf (_("Your agent “%s” disconnected at %s and has not come back since"),
                            agent->name, at);
    present (self, prepare (self, KIND_AGENT, agent->device_id, NULL, summary, body));
  }
  g_hash_table_remove (self->gone_agents, agent->device_id);
  return G_SOURCE_REMOVE;
}

/* The server says "offline" once when a socket closes, before room.left. */
static void
presence_changed_cb (MeshNotifier *self,
                     const char   *peer_id,
                     MeshPresence  status)
{
  g_autoptr(MeshPeerInfo) info = NULL;
  GoneAgent *agent;

  if (status != MESH_PRESENCE_OFFLINE)
    return;
  info = find_peer (self, peer_id);
  /* A one-off `mesh-agent send` that ends is not a device going away. */
  if (info == NULL || info->device_id == NULL || info->transient ||
      g_strcmp0 (info->user_id, mesh_client_session_get_user_id (self->session)) != 0 ||
      g_strcmp0 (info->device_id, self->own_device_id) == 0 ||
      g_hash_table_contains (self->gone_agents, info->device_id))
    return;

  agent = g_new0 (GoneAgent, 1);
  agent->self = self;
  agent->device_id = g_strdup (info->device_id);
  agent->name = g_strdup (info->device_name != NULL ? info->device_name : info->device_id);
  agent->since = g_date_time_new_now_local ();
  agent->timeout_id = g_timeout_add_seconds (self->agent_offline_delay, agent_offline_cb, agent);
  g_hash_table_insert (self->gone_agents, agent->device_id, agent);
}

static void
device_back (MeshNotifier *self,
             const char   *device_id)
{
  g_hash_table_remove (self->gone_agents, device_id);
  withdraw_key (self, KIND_AGENT, device_id);
}

static void
room_joined_cb (MeshNotifier *self,
                const char   *room_id,
                MeshPeerInfo *info)
{
  g_autoptr(GPtrArray) back = NULL;
  GHashTableIter iter;
  GoneAgent *agent;

  if (info->device_id != NULL) {
    device_back (self, info->device_id);
    return;
  }
  if (g_strcmp0 (info->peer_id, mesh_client_session_get_peer_id (self->session)) != 0)
    return;

  /* Our own join after a reconnect: the members are the room as it is now. */
  back = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&iter, self->gone_agents);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &agent)) {
    if (room_has_device (self, room_id, agent->device_id))
      g_ptr_array_add (back, g_strdup (agent->device_id));
  }
  for (guint i = 0; i < back->len; i++)
    device_back (self, back->pdata[i]);
}

/* A kind turned off takes its notifications away. */
static void
settings_changed_cb (MeshNotifier *self,
                     const char   *key)
{
  for (guint kind = 0; kind < N_KINDS; kind++) {
    if (g_strcmp0 (key, kinds[kind].setting) == 0 &&
        !g_settings_get_boolean (self->settings, key))
      withdraw_kind (self, kind);
  }
}

static void
mesh_notifier_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  MeshNotifier *self = MESH_NOTIFIER (object);

  switch (prop_id) {
  case PROP_AGENT_OFFLINE_DELAY:
    g_value_set_uint (value, self->agent_offline_delay);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_notifier_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  MeshNotifier *self = MESH_NOTIFIER (object);

  switch (prop_id) {
  case PROP_AGENT_OFFLINE_DELAY:
    self->agent_offline_delay = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_notifier_dispose (GObject *object)
{
  MeshNotifier *self = MESH_NOTIFIER (object);

  g_clear_pointer (&self->gone_agents, g_hash_table_unref);
  g_clear_pointer (&self->chats, g_hash_table_unref);
  g_clear_pointer (&self->notifications, g_hash_table_unref);
  g_clear_object (&self->background);
  g_clear_object (&self->settings);
  g_clear_object (&self->session);
  g_clear_object (&self->room_list);

  G_OBJECT_CLASS (mesh_notifier_parent_class)->dispose (object);
}

static void
mesh_notifier_finalize (GObject *object)
{
  MeshNotifier *self = MESH_NOTIFIER (object);

  g_free (self->focused_room_id);
  g_free (self->own_device_id);

  G_OBJECT_CLASS (mesh_notifier_parent_class)->finalize (object);
}

static void
mesh_notifier_class_init (MeshNotifierClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_notifier_get_property;
  object_class->set_property = mesh_notifier_set_property;
  object_class->dispose = mesh_notifier_dispose;
  object_class->finalize = mesh_notifier_finalize;

  /* Seconds an agent of the user may stay away before it is reported. */
  properties[PROP_AGENT_OFFLINE_DELAY] =
    g_param_spec_uint ("agent-offline-delay", NULL, NULL, 0, G_MAXUINT / 1000,
                       AGENT_OFFLINE_DELAY_S,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[ACTIVATE_ROOM] =
    g_signal_new ("activate-room", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
mesh_notifier_init (MeshNotifier *self)
{
  self->agent_offline_delay = AGENT_OFFLINE_DELAY_S;
  self->notifications = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->gone_agents = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                             (GDestroyNotify) gone_agent_free);
  self->chats = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) chat_batch_free);
}

MeshNotifier *
mesh_notifier_new (GSettings         *settings,
                   MeshClientSession *session,
                   MeshRoomList      *room_list)
{
  MeshNotifier *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (session), NULL);
  g_return_val_if_fail (MESH_IS_ROOM_LIST (room_list), NULL);

  if (!notify_is_initted ())
    notify_init (APP_ID);

  self = g_object_new (MESH_TYPE_NOTIFIER, NULL);
  self->settings = g_object_ref (settings);
  self->session = g_object_ref (session);
  self->room_list = g_object_ref (room_list);
  g_signal_connect_object (settings, "changed", G_CALLBACK (settings_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "chat-message", G_CALLBACK (chat_message_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "terminal-share-started",
                           G_CALLBACK (terminal_share_started_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "terminal-share-stopped",
                           G_CALLBACK (terminal_share_stopped_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "event::call.missed", G_CALLBACK (call_missed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "presence-changed", G_CALLBACK (presence_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "room-joined", G_CALLBACK (room_joined_cb), self,
                           G_CONNECT_SWAPPED);
  return self;
}

void
mesh_notifier_set_focused_room_id (MeshNotifier *self,
                                   const char   *room_id)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));

  if (g_strcmp0 (self->focused_room_id, room_id) == 0)
    return;
  g_free (self->focused_room_id);
  self->focused_room_id = g_strdup (room_id);
  if (room_id != NULL)
    mesh_notifier_withdraw_room (self, room_id);
}

const char *
mesh_notifier_get_focused_room_id (MeshNotifier *self)
{
  g_return_val_if_fail (MESH_IS_NOTIFIER (self), NULL);

  return self->focused_room_id;
}

void
mesh_notifier_set_own_device_id (MeshNotifier *self,
                                 const char   *device_id)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));

  g_free (self->own_device_id);
  self->own_device_id = g_strdup (device_id);
  if (device_id != NULL) {
    g_hash_table_remove (self->gone_agents, device_id);
    withdraw_key (self, KIND_AGENT, device_id);
  }
}

guint
mesh_notifier_get_n_shown (MeshNotifier *self)
{
  g_return_val_if_fail (MESH_IS_NOTIFIER (self), 0);

  return self->n_shown;
}

void
mesh_notifier_withdraw_room (MeshNotifier *self,
                             const char   *room_id)
{
  GHashTableIter iter;
  NotifyNotification *notification;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (room_id != NULL);

  /* Looked at: the next message starts counting again. */
  g_hash_table_remove (self->chats, room_id);
  g_hash_table_iter_init (&iter, self->notifications);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &notification)) {
    if (g_strcmp0 (g_object_get_data (G_OBJECT (notification), "room-id"), room_id) == 0) {
      /* Closing fails without a server; the notification is forgotten anyway. */
      notify_notification_close (notification, NULL);
      g_hash_table_iter_remove (&iter);
    }
  }
}

void
mesh_notifier_notify_received (MeshNotifier *self,
                               const char   *room_id,
                               const char   *sender_username,
                               const char   *name,
                               guint64       size,
                               gboolean      is_folder,
                               GFile        *file)
{
  NotifyNotification *notification;
  g_autofree char *summary = NULL;
  g_autofree char *body = NULL;
  g_autofree char *size_text = NULL;
  const char *room;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (room_id != NULL && sender_username != NULL && name != NULL);
  g_return_if_fail (G_IS_FILE (file));

  /* Sent from another device of this account: the user's own doing. */
  if (!is_wanted (self, KIND_FILE, room_id) || is_own_username (self, room_id, sender_username))
    return;

  summary = g_strdup_printf (is_folder ? _("Folder received: %s") : _("File received: %s"), name);
  size_text = g_format_size (size);
  room = room_name (self, room_id);
  if (room != NULL)
    /* Translators: sender, file name, size, room. */
    body = g_strdup_printf (_("%s sent you “%s” (%s) in “%s”"), sender_username, name, size_text,
                            room);
  else
    body = g_strdup_printf (_("%s sent you “%s” (%s)"), sender_username, name, size_text);

  notification = prepare (self, KIND_FILE, room_id, room_id, summary, body);
  g_object_set_data_full (G_OBJECT (notification), "file", g_object_ref (file), g_object_unref);
  g_object_set_data (G_OBJECT (notification), "is-folder", GINT_TO_POINTER (is_folder));
  notify_notification_add_action (notification, "open",
                                  is_folder ? _("Show in Folder") : _("Open"),
                                  notification_action_cb, self, NULL);
  present (self, notification);
}

static void
background_action_cb (NotifyNotification *notification,
                      char               *action,
                      gpointer            user_data)
{
  GApplication *app = g_application_get_default ();

  if (app != NULL && g_str_equal (action, "quit"))
    g_action_group_activate_action (G_ACTION_GROUP (app), "quit", NULL);
}

void
mesh_notifier_notify_background (MeshNotifier *self)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));

  /* Through libnotify like every other notification: without a
   * notification server there is nobody to tell, and that is no error. */
  if (self->background == NULL) {
    self->background = notify_notification_new (_("Mesh is running in the background"),
                                                 _("You stay online and receive messages and "
                                                   "files. Open Mesh again to see the window."),
                                                 APP_ID);
    notify_notification_set_hint_string (self->background, "desktop-entry", APP_ID);
    notify_notification_add_action (self->background, "quit", _("Quit"), background_action_cb,
                                    NULL, NULL);
  }
  present (self, self->background);
}

/* Accept, Decline and Watch are the app's actions, so that a click on the
 * notification does what the same action does from anywhere else. */
static void
call_action_cb (NotifyNotification *notification,
                char               *action,
                gpointer            user_data)
{
  GApplication *app = g_application_get_default ();
  const char *room_id = g_object_get_data (G_OBJECT (notification), "room-id");
  const char *name = NULL;

  if (g_str_equal (action, "accept") || g_str_equal (action, "watch"))
    name = "call-accept";
  else if (g_str_equal (action, "decline"))
    name = "call-decline";
  if (app != NULL && name != NULL && room_id != NULL &&
      g_action_group_has_action (G_ACTION_GROUP (app), name))
    g_action_group_activate_action (G_ACTION_GROUP (app), name, g_variant_new_string (room_id));
}

static char *
call_key (const char *room_id,
          gboolean    screenshare)
{
  return g_strconcat (room_id, screenshare ? " screen" : " call", NULL);
}

void
mesh_notifier_notify_call (MeshNotifier *self,
                           const char   *room_id,
                           const char   *caller_username,
                           gboolean      screenshare)
{
  NotifyNotification *notification;
  g_autofree char *key = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *body = NULL;
  const char *room;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (room_id != NULL && caller_username != NULL);

  if (!is_wanted (self, KIND_RINGING, room_id))
    return;
  room = room_name (self, room_id);
  if (room == NULL)
    return;

  key = call_key (room_id, screenshare);
  if (screenshare)
    /* Translators: a member's name. */
    summary = g_strdup_printf (_("%s is sharing a screen"), caller_username);
  else
    /* Translators: a member's name. */
    summary = g_strdup_printf (_("%s is calling"), caller_username);
  /* Translators: the body of "… is calling": the room's name. */
  body = g_strdup_printf (_("In “%s”"), room);
  notification = prepare (self, KIND_RINGING, key, room_id, summary, body);
  /* A ringing call stays until it is answered or ends. */
  notify_notification_set_urgency (notification, screenshare ? NOTIFY_URGENCY_NORMAL
                                                             : NOTIFY_URGENCY_CRITICAL);
  notify_notification_set_timeout (notification, NOTIFY_EXPIRES_NEVER);
  if (screenshare) {
    notify_notification_add_action (notification, "watch", _("Watch"), call_action_cb, self,
                                    NULL);
  } else {
    notify_notification_add_action (notification, "decline", _("Decline"), call_action_cb, self,
                                    NULL);
    notify_notification_add_action (notification, "accept", _("Accept"), call_action_cb, self,
                                    NULL);
  }
  present (self, notification);
}

void
mesh_notifier_withdraw_call (MeshNotifier *self,
                             const char   *room_id,
                             gboolean      screenshare)
{
  g_autofree char *key = NULL;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (room_id != NULL);

  key = call_key (room_id, screenshare);
  withdraw_key (self, KIND_RINGING, key);
}
