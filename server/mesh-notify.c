/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-notify"

#include "config.h"

#include "mesh-notify.h"


#include <string.h>

enum {
  SIGNAL_CALL_MISSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const char * const kind_names[MESH_NOTIFY_N_KINDS] = {
  [MESH_NOTIFY_CHAT_MESSAGE] = "chat.message.created",
  [MESH_NOTIFY_CALL_MISSED] = "call.missed",
  [MESH_NOTIFY_SHARE_COMPLETED] = "share.completed",
  [MESH_NOTIFY_TERMINAL_SHARE] = "terminal.share.started",
  [MESH_NOTIFY_AGENT_OFFLINE] = "agent.offline",
};

/* An agent that disconnected, waiting out its grace period. */
typedef struct {
  MeshNotifier *self;           /* borrowed: the table dies with the object */
  char         *device_id;
  char         *user_id;
  gint64        since_usec;     /* unix µs */
  guint         timeout_id;
} GoneAgent;

/* An rtc.offer (media "call") not answered yet. */
typedef struct {
  MeshNotifier *self;
  char         *key;            /* caller_peer_id "\n" callee_peer_id */
  char         *room_id;
  char         *media;
  char         *caller_peer_id;
  char         *caller_user_id;
  char         *caller_username;
  char         *callee_peer_id;
  char         *callee_user_id;
  gint64        offered_usec;   /* unix µs */
  guint         timeout_id;
} PendingCall;

struct _MeshNotifier {
  GObject           parent_instance;

  MeshStore        *store;
  MeshNotifyConfig  config;
  MeshGotify       *gotify;
  GHashTable       *gone_agents;  /* device_id → GoneAgent (owned) */
  GHashTable       *calls;        /* key → PendingCall (owned) */
  gboolean          stopped;
};

G_DEFINE_FINAL_TYPE (MeshNotifier, mesh_notifier, G_TYPE_OBJECT)

static void
gone_agent_free (GoneAgent *agent)
{
  g_clear_handle_id (&agent->timeout_id, g_source_remove);
  g_free (agent->device_id);
  g_free (agent->user_id);
  g_free (agent);
}

static void
pending_call_free (PendingCall *call)
{
  g_clear_handle_id (&call->timeout_id, g_source_remove);
  g_free (call->key);
  g_free (call->room_id);
  g_free (call->media);
  g_free (call->caller_peer_id);
  g_free (call->caller_user_id);
  g_free (call->caller_username);
  g_free (call->callee_peer_id);
  g_free (call->callee_user_id);
  g_free (call);
}

void
mesh_notify_config_init_default (MeshNotifyConfig *config)
{
  g_return_if_fail (config != NULL);

  config->gotify_enabled = TRUE;
  mesh_gotify_config_init_default (&config->gotify);
  /* Gotify's scale: 4–7 make a sound, 8–10 also vibrate (docs/priority.md). */
  config->priorities[MESH_NOTIFY_CHAT_MESSAGE] = 5;
  config->priorities[MESH_NOTIFY_CALL_MISSED] = 8;
  config->priorities[MESH_NOTIFY_SHARE_COMPLETED] = 4;
  config->priorities[MESH_NOTIFY_TERMINAL_SHARE] = 6;
  config->priorities[MESH_NOTIFY_AGENT_OFFLINE] = 8;
  config->agent_offline_delay_s = 30;
  config->call_timeout_s = 30;
}

const char *
mesh_notify_kind_to_string (MeshNotifyKind kind)
{
  g_return_val_if_fail (kind < MESH_NOTIFY_N_KINDS, NULL);
  return kind_names[kind];
}

gboolean
mesh_notify_kind_from_string (const char     *name,
                              MeshNotifyKind *kind)
{
  for (guint i = 0; i < MESH_NOTIFY_N_KINDS; i++) {
    if (g_strcmp0 (name, kind_names[i]) == 0) {
      if (kind != NULL)
        *kind = i;
      return TRUE;
    }
  }
  return FALSE;
}

/* "12:34:56 UTC": Gotify shows its own date, this says when it happened. */
static char *
format_time (gint64 unix_usec)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (unix_usec / G_USEC_PER_SEC);

  return g_date_time_format (time, "%H:%M:%S UTC");
}

/* Extras for every message: plain text, since the body holds what users
 * wrote (markdown would render it and fetch remote images), and a
 * machine-readable `mesh::event` for clients that want to act on it. */
static JsonObject *
new_extras (MeshNotifyKind  kind,
            const char     *room_id)
{
  JsonObject *extras = json_object_new ();
  JsonObject *display = json_object_new ();
  JsonObject *event = json_object_new ();

  json_object_set_string_member (display, "contentType", "text/plain");
  json_object_set_object_member (extras, "client::display", display);
  json_object_set_string_member (event, "kind", kind_names[kind]);
  if (room_id != NULL)
    json_object_set_string_member (event, "room_id", room_id);
  json_object_set_object_member (extras, "mesh::event", event);
  return extras;
}

static JsonObject *
extras_event (JsonObject *extras)
{
  return json_object_get_object_member (extras, "mesh::event");
}

static void
push (MeshNotifier   *self,
      const char     *user_id,
      MeshNotifyKind  kind,
      const char     *title,
      const char     *message,
      JsonObject     *extras)
{
  if (!self->config.gotify_enabled)
    return;
  mesh_gotify_push (self->gotify, user_id, kind_names[kind], self->config.priorities[kind],
                    title, message, extras);
}

/* Every member of @room_id but @except_user_id (the one who acted). */
static void
push_to_room (MeshNotifier   *self,
              const char     *room_id,
              const char     *except_user_id,
              MeshNotifyKind  kind,
              const char     *title,
              const char     *message,
              JsonObject     *extras)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) members = NULL;

  if (!self->config.gotify_enabled)
    return;
  members = mesh_store_list_members (self->store, room_id, &error);
  if (members == NULL) {
    g_warning ("Cannot list the members of room %s: %s", room_id, error->message);
    return;
  }
  for (guint i = 0; i < members->len; i++) {
    MeshStoreMember *member = members->pdata[i];

    if (g_strcmp0 (member->user_id, except_user_id) != 0)
      push (self, member->user_id, kind, title, message, extras);
  }
}

static char *
room_name (MeshNotifier *self,
           const char   *room_id)
{
  char *name = mesh_store_get_room_name (self->store, room_id);

  return name != NULL ? name : g_strdup ("a room");
}

static gboolean
agent_offline_cb (gpointer user_data)
{
  GoneAgent *agent = user_data;
  MeshNotifier *self = agent->self;
  g_autoptr(MeshStoreDevice) device = mesh_store_get_device (self->store, agent->device_id);
  g_autoptr(JsonObject) extras = new_extras (MESH_NOTIFY_AGENT_OFFLINE, NULL);
  g_autofree char *since = format_time (agent->since_usec);
  g_autofree char *title = NULL;
  g_autofree char *message = NULL;
  const char *name = device != NULL ? device->name : agent->device_id;

  agent->timeout_id = 0;
  title = g_strdup_printf ("Agent offline: %s", name);
  message = g_strdup_printf ("Your agent “%s” disconnected at %s and has not come back since.",
                             name, since);
  json_object_set_string_member (extras_event (extras), "device_id", agent->device_id);
  push (self, agent->user_id, MESH_NOTIFY_AGENT_OFFLINE, title, message, extras);
  g_hash_table_remove (self->gone_agents, agent->device_id);
  return G_SOURCE_REMOVE;
}

static void
call_missed (MeshNotifier *self,
             PendingCall  *call,
             const char   *why)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autoptr(JsonObject) extras = NULL;
  g_autofree char *room = NULL;
  g_autofree char *at = NULL;
  g_autofree char *title = NULL;
  g_autofree char *message = NULL;

  g_debug ("Call from %s to %s missed (%s)", call->caller_peer_id, call->callee_peer_id, why);

  /* Calling one's own other device is not news to anybody. */
  if (g_strcmp0 (call->caller_user_id, call->callee_user_id) != 0) {
    json_object_set_string_member (payload, "room_id", call->room_id);
    json_object_set_string_member (payload, "caller_peer_id", call->caller_peer_id);
    json_object_set_string_member (payload, "caller_user_id", call->caller_user_id);
    json_object_set_string_member (payload, "caller_username", call->caller_username);
    json_object_set_string_member (payload, "media", call->media);
    g_signal_emit (self, signals[SIGNAL_CALL_MISSED], 0, call->callee_user_id, payload);

    room = room_name (self, call->room_id);
    at = format_time (call->offered_usec);
    title = g_strdup_printf ("Missed call from %s", call->caller_username);
    message = g_strdup_printf ("%s called you in “%s” at %s.", call->caller_username, room, at);
    extras = new_extras (MESH_NOTIFY_CALL_MISSED, call->room_id);
    json_object_set_string_member (extras_event (extras), "caller_user_id", call->caller_user_id);
    push (self, call->callee_user_id, MESH_NOTIFY_CALL_MISSED, title, message, extras);
  }
  g_hash_table_remove (self->calls, call->key);
}

static gboolean
call_timeout_cb (gpointer user_data)
{
  PendingCall *call = user_data;

  call->timeout_id = 0;
  call_missed (call->self, call, "no answer in time");
  return G_SOURCE_REMOVE;
}

static char *
call_key (const char *caller_peer_id,
          const char *callee_peer_id)
{
  return g_strconcat (caller_peer_id, "\n", callee_peer_id, NULL);
}

static void
call_offered (MeshNotifier *self,
              const char   *room_id,
              const char   *media,
              const char   *caller_peer_id,
              const char   *caller_user_id,
              const char   *caller_username,
              const char   *callee_peer_id,
              const char   *callee_user_id)
{
  PendingCall *call;

  /* A screen share is offered to watchers, not rung: nobody misses it. */
  if (g_strcmp0 (media, "call") != 0)
    return;
  call = g_new0 (PendingCall, 1);
  call->self = self;
  call->key = call_key (caller_peer_id, callee_peer_id);
  call->room_id = g_strdup (room_id);
  call->media = g_strdup (media);
  call->caller_peer_id = g_strdup (caller_peer_id);
  call->caller_user_id = g_strdup (caller_user_id);
  call->caller_username = g_strdup (caller_username);
  call->callee_peer_id = g_strdup (callee_peer_id);
  call->callee_user_id = g_strdup (callee_user_id);
  call->offered_usec = g_get_real_time ();
  call->timeout_id = g_timeout_add ((guint) (self->config.call_timeout_s * 1000),
                                    call_timeout_cb, call);
  /* A second offer to the same peer (a retry) rings anew, once. */
  g_hash_table_replace (self->calls, call->key, call);
}

static void
call_answered (MeshNotifier *self,
               const char   *answerer_peer_id,
               const char   *caller_peer_id)
{
  g_autofree char *key = NULL;

  key = call_key (caller_peer_id, answerer_peer_id);
  g_hash_table_remove (self->calls, key);
}

/* §3.4: a call hung up before an answer is a missed call for the callee,
 * whichever side hung up (a declined call was not taken either). */
static void
call_hung_up (MeshNotifier *self,
              const char   *media,
              const char   *from_peer_id,
              const char   *to_peer_id)
{
  g_autofree char *by_caller = NULL;
  g_autofree char *by_callee = NULL;
  PendingCall *call;

  /* A screen share's hang-up ends that connection, not the call. */
  if (media != NULL && !g_str_equal (media, "call"))
    return;
  by_caller = call_key (from_peer_id, to_peer_id);
  call = g_hash_table_lookup (self->calls, by_caller);
  if (call != NULL) {
    call_missed (self, call, "the caller hung up first");
    return;
  }
  by_callee = call_key (to_peer_id, from_peer_id);
  call = g_hash_table_lookup (self->calls, by_callee);
  if (call != NULL)
    call_missed (self, call, "the callee hung up without answering");
}

static void
mesh_notifier_dispose (GObject *object)
{
  MeshNotifier *self = MESH_NOTIFIER (object);

  g_clear_pointer (&self->gone_agents, g_hash_table_unref);
  g_clear_pointer (&self->calls, g_hash_table_unref);
  if (self->gotify != NULL)
    mesh_gotify_stop (self->gotify);
  g_clear_object (&self->gotify);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (mesh_notifier_parent_class)->dispose (object);
}

static void
mesh_notifier_class_init (MeshNotifierClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mesh_notifier_dispose;

  signals[SIGNAL_CALL_MISSED] =
    g_signal_new ("call-missed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
}

static void
mesh_notifier_init (MeshNotifier *self)
{
  self->gone_agents = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                             (GDestroyNotify) gone_agent_free);
  self->calls = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) pending_call_free);
}

MeshNotifier *
mesh_notifier_new (MeshStore              *store,
                   const MeshNotifyConfig *config)
{
  MeshNotifier *self;

  g_return_val_if_fail (MESH_IS_STORE (store), NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (MESH_TYPE_NOTIFIER, NULL);
  self->store = g_object_ref (store);
  self->config = *config;
  self->gotify = mesh_gotify_new (store, &config->gotify);
  return self;
}

void
mesh_notifier_start (MeshNotifier *self)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));

  if (self->config.gotify_enabled)
    mesh_gotify_resume (self->gotify);
}

void
mesh_notifier_stop (MeshNotifier *self)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));

  /* Sockets closing at shutdown must not start timers or calls. */
  self->stopped = TRUE;
  if (self->gone_agents != NULL)
    g_hash_table_remove_all (self->gone_agents);
  if (self->calls != NULL)
    g_hash_table_remove_all (self->calls);
  if (self->gotify != NULL)
    mesh_gotify_stop (self->gotify);
}

gboolean
mesh_notifier_gotify_enabled (MeshNotifier *self)
{
  g_return_val_if_fail (MESH_IS_NOTIFIER (self), FALSE);
  return self->config.gotify_enabled;
}

MeshGotify *
mesh_notifier_get_gotify (MeshNotifier *self)
{
  g_return_val_if_fail (MESH_IS_NOTIFIER (self), NULL);
  return self->gotify;
}

gint64
mesh_notifier_get_priority (MeshNotifier   *self,
                            MeshNotifyKind  kind)
{
  g_return_val_if_fail (MESH_IS_NOTIFIER (self), 0);
  g_return_val_if_fail (kind < MESH_NOTIFY_N_KINDS, 0);
  return self->config.priorities[kind];
}

void
mesh_notifier_chat_message (MeshNotifier           *self,
                            const MeshStoreMessage *message)
{
  g_autoptr(JsonObject) extras = NULL;
  g_autofree char *room = NULL;
  g_autofree char *title = NULL;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (message != NULL);

  room = room_name (self, message->room_id);
  title = g_strdup_printf ("%s in %s", message->username, room);
  extras = new_extras (MESH_NOTIFY_CHAT_MESSAGE, message->room_id);
  json_object_set_string_member (extras_event (extras), "message_id", message->message_id);
  push_to_room (self, message->room_id, message->user_id, MESH_NOTIFY_CHAT_MESSAGE, title,
                message->content, extras);
}

void
mesh_notifier_terminal_started (MeshNotifier *self,
                                const char   *room_id,
                                const char   *share_id,
                                const char   *host_user_id,
                                const char   *host_username)
{
  g_autoptr(JsonObject) extras = NULL;
  g_autofree char *room = NULL;
  g_autofree char *title = NULL;
  g_autofree char *message = NULL;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (room_id != NULL && share_id != NULL && host_user_id != NULL);

  room = room_name (self, room_id);
  title = g_strdup_printf ("%s is sharing a terminal", host_username);
  message = g_strdup_printf ("%s started sharing a terminal in “%s”. Open Mesh to watch.",
                             host_username, room);
  extras = new_extras (MESH_NOTIFY_TERMINAL_SHARE, room_id);
  json_object_set_string_member (extras_event (extras), "share_id", share_id);
  push_to_room (self, room_id, host_user_id, MESH_NOTIFY_TERMINAL_SHARE, title, message, extras);
}

void
mesh_notifier_share_completed (MeshNotifier *self,
                               const char   *room_id,
                               const char   *session_id,
                               const char   *kind,
                               JsonObject   *meta,
                               gint64        bytes,
                               const char   *sender_user_id,
                               const char   *sender_username,
                               const char   *receiver_user_id,
                               const char   *receiver_device_id)
{
  g_autoptr(MeshStoreDevice) device = NULL;
  g_autoptr(JsonObject) extras = NULL;
  g_autofree char *room = NULL;
  g_autofree char *size_text = NULL;
  g_autofree char *title = NULL;
  g_autofree char *message = NULL;
  gboolean folder;
  const char *name = NULL;
  gint64 size = -1;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (room_id != NULL && kind != NULL && meta != NULL);

  if (g_strcmp0 (sender_user_id, receiver_user_id) == 0)
    return;
  folder = g_str_equal (kind, "folder");
  if (json_object_has_member (meta, "name") &&
      json_node_get_value_type (json_object_get_member (meta, "name")) == G_TYPE_STRING)
    name = json_object_get_string_member (meta, "name");
  if (json_object_has_member (meta, "size") &&
      json_node_get_value_type (json_object_get_member (meta, "size")) == G_TYPE_INT64)
    size = json_object_get_int_member (meta, "size");
  if (size < 0)
    size = bytes;
  if (name == NULL)
    name = folder ? "a folder" : "a file";

  room = room_name (self, room_id);
  device = mesh_store_get_device (self->store, receiver_device_id);
  size_text = g_format_size ((guint64) MAX (size, 0));
  title = g_strdup_printf (folder ? "Folder received: %s" : "File received: %s", name);
  message = g_strdup_printf ("%s sent you “%s” (%s) in “%s”; it is on %s.", sender_username, name,
                             size_text, room, device != NULL ? device->name : "your agent");
  extras = new_extras (MESH_NOTIFY_SHARE_COMPLETED, room_id);
  json_object_set_string_member (extras_event (extras), "session_id", session_id);
  push (self, receiver_user_id, MESH_NOTIFY_SHARE_COMPLETED, title, message, extras);
}

void
mesh_notifier_agent_disconnected (MeshNotifier *self,
                                  const char   *device_id,
                                  const char   *user_id)
{
  GoneAgent *agent;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (device_id != NULL && user_id != NULL);

  if (self->stopped)
    return;
  agent = g_new0 (GoneAgent, 1);
  agent->self = self;
  agent->device_id = g_strdup (device_id);
  agent->user_id = g_strdup (user_id);
  agent->since_usec = g_get_real_time ();
  agent->timeout_id = g_timeout_add ((guint) (self->config.agent_offline_delay_s * 1000),
                                     agent_offline_cb, agent);
  g_hash_table_replace (self->gone_agents, agent->device_id, agent);
}

void
mesh_notifier_agent_connected (MeshNotifier *self,
                               const char   *device_id)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));

  if (device_id != NULL)
    g_hash_table_remove (self->gone_agents, device_id);
}

void
mesh_notifier_peer_gone (MeshNotifier *self,
                         const char   *peer_id)
{
  g_autoptr(GPtrArray) missed = g_ptr_array_new ();
  GHashTableIter iter;
  PendingCall *call;

  g_return_if_fail (MESH_IS_NOTIFIER (self));

  if (self->stopped)
    return;
  g_hash_table_iter_init (&iter, self->calls);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &call)) {
    if (g_strcmp0 (call->caller_peer_id, peer_id) == 0 ||
        g_strcmp0 (call->callee_peer_id, peer_id) == 0)
      g_ptr_array_add (missed, call);
  }
  for (guint i = 0; i < missed->len; i++)
    call_missed (self, missed->pdata[i], "a side disconnected before an answer");
}

void
mesh_notifier_rtc_relayed (MeshNotifier *self,
                           const char   *type,
                           const char   *room_id,
                           const char   *media,
                           const char   *from_peer_id,
                           const char   *from_user_id,
                           const char   *from_username,
                           const char   *to_peer_id,
                           const char   *to_user_id)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (type != NULL && room_id != NULL);
  g_return_if_fail (from_peer_id != NULL && to_peer_id != NULL);

  if (self->stopped)
    return;
  if (g_str_equal (type, "rtc.offer"))
    call_offered (self, room_id, media, from_peer_id, from_user_id, from_username, to_peer_id,
                  to_user_id);
  else if (g_str_equal (type, "rtc.answer"))
    call_answered (self, from_peer_id, to_peer_id);
  else if (g_str_equal (type, "rtc.hangup"))
    call_hung_up (self, media, from_peer_id, to_peer_id);
}
