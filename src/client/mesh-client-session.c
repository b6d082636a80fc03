/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-session-private.h"
#include "mesh-property.h"
#include "mesh-events.h"

static GParamSpec *properties[N_PROPS];
guint client_session_signals[N_SIGNALS];

/* A GTask waiting for something from the server. */
typedef struct {
  MeshClientSession *session;
  WaitKind           kind;
  char              *key;
  GTask             *task;
  GSource           *cancel_source;
} Waiter;

G_DEFINE_FINAL_TYPE (MeshClientSession, mesh_client_session, G_TYPE_OBJECT)

G_DEFINE_BOXED_TYPE (MeshPeerInfo, mesh_peer_info, mesh_peer_info_copy, mesh_peer_info_free)

MeshPeerInfo *
mesh_peer_info_copy (const MeshPeerInfo *info)
{
  MeshPeerInfo *copy = g_new0 (MeshPeerInfo, 1);

  copy->peer_id = g_strdup (info->peer_id);
  copy->user_id = g_strdup (info->user_id);
  copy->username = g_strdup (info->username);
  copy->peer_type = g_strdup (info->peer_type);
  copy->device_id = g_strdup (info->device_id);
  copy->device_name = g_strdup (info->device_name);
  copy->role = g_strdup (info->role);
  copy->status = info->status;
  copy->transient = info->transient;
  return copy;
}

void
mesh_peer_info_free (MeshPeerInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->peer_id);
  g_free (info->user_id);
  g_free (info->username);
  g_free (info->peer_type);
  g_free (info->device_id);
  g_free (info->device_name);
  g_free (info->role);
  g_free (info);
}

static void
waiter_free (Waiter *waiter)
{
  if (waiter->cancel_source != NULL) {
    g_source_destroy (waiter->cancel_source);
    g_source_unref (waiter->cancel_source);
  }
  g_clear_object (&waiter->task);
  g_free (waiter->key);
  g_free (waiter);
}

static gboolean
waiter_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  Waiter *waiter = user_data;
  g_autoptr(GTask) task = g_object_ref (waiter->task);

  g_ptr_array_remove (waiter->session->waiters, waiter);
  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

void
client_session_add_waiter (MeshClientSession *self,
                           WaitKind           kind,
                           const char        *key,
                           GTask             *task)
{
  Waiter *waiter = g_new0 (Waiter, 1);
  GCancellable *cancellable = g_task_get_cancellable (task);

  waiter->session = self;
  waiter->kind = kind;
  waiter->key = g_strdup (key);
  waiter->task = g_object_ref (task);
  if (cancellable != NULL) {
    waiter->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (waiter->cancel_source, G_SOURCE_FUNC (waiter_cancelled_cb), waiter,
                           NULL);
    g_source_attach (waiter->cancel_source, g_task_get_context (task));
  }
  g_ptr_array_add (self->waiters, waiter);
}

/* Takes the waiters of @kind (and @key, unless NULL) out of the list
 * first: a completed task's callback may add new ones. */
static GPtrArray *
take_waiters (MeshClientSession *self,
              WaitKind           kind,
              const char        *key)
{
  GPtrArray *taken = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);

  for (guint i = 0; i < self->waiters->len;) {
    Waiter *waiter = self->waiters->pdata[i];

    if (waiter->kind == kind && (key == NULL || g_strcmp0 (waiter->key, key) == 0))
      g_ptr_array_add (taken, g_ptr_array_steal_index (self->waiters, i));
    else
      i++;
  }
  return taken;
}

void
client_session_complete_waiters (MeshClientSession *self,
                                 WaitKind           kind,
                                 const char        *key,
                                 JsonObject        *payload,
                                 const GError      *error)
{
  g_autoptr(GPtrArray) taken = take_waiters (self, kind, key);

  for (guint i = 0; i < taken->len; i++) {
    Waiter *waiter = taken->pdata[i];

    if (error != NULL)
      g_task_return_error (waiter->task, g_error_copy (error));
    else if (kind == WAIT_REQUEST)
      g_task_return_pointer (waiter->task, json_object_ref (payload),
                             (GDestroyNotify) json_object_unref);
    else
      g_task_return_boolean (waiter->task, TRUE);
  }
}

/* Sources go to the context the session was made in, which need not be
 * the global default one (the agent runs on a thread of its own). */
guint
client_session_add_timeout (MeshClientSession *self,
                            guint              ms,
                            GSourceFunc        func)
{
  g_autoptr(GSource) source = ms % 1000 == 0 ? g_timeout_source_new_seconds (ms / 1000)
                                             : g_timeout_source_new (ms);

  g_source_set_callback (source, func, self, NULL);
  return g_source_attach (source, self->context);
}

void
client_session_clear_source (MeshClientSession *self,
                             guint             *id)
{
  GSource *source;

  if (*id == 0)
    return;
  source = g_main_context_find_source_by_id (self->context, *id);
  if (source != NULL)
    g_source_destroy (source);
  *id = 0;
}

gboolean
client_session_is_agent (MeshClientSession *self)
{
  return g_strcmp0 (self->peer_type, "agent") == 0;
}

void
client_session_set_state (MeshClientSession      *self,
                          MeshClientSessionState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

void
client_session_set_string_prop (MeshClientSession  *self,
                                char              **field,
                                const char         *value,
                                guint               prop)
{
  mesh_property_set_string (G_OBJECT (self), field, value, properties[prop]);
}

gboolean
client_session_is_open (MeshClientSession *self)
{
  return self->ws != NULL &&
         soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

/* A client frame: {type, id, timestamp, to?, payload}.  Not built with
 * mesh_envelope_to_string, which writes `from` (the server sets that). */
gboolean
client_session_send_frame (MeshClientSession *self,
                           const char        *type,
                           const char        *id,
                           const char        *to,
                           JsonObject        *payload)
{
  g_autoptr(JsonObject) root = json_object_new ();
  g_autofree char *timestamp = mesh_timestamp_now ();
  g_autofree char *text = NULL;

  /* Sending on a closing socket is a critical in libsoup 3.2. */
  if (!client_session_is_open (self))
    return FALSE;
  json_object_set_string_member (root, "type", type);
  json_object_set_string_member (root, "id", id);
  json_object_set_string_member (root, "timestamp", timestamp);
  if (to != NULL)
    json_object_set_string_member (root, "to", to);
  json_object_set_object_member (root, "payload",
                                 payload != NULL ? json_object_ref (payload) : json_object_new ());
  text = mesh_json_object_to_string (root, NULL);
  soup_websocket_connection_send_text (self->ws, text);
  return TRUE;
}

void
client_session_send_join (MeshClientSession *self,
                          SessionRoom       *room)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  g_free (room->join_id);
  room->join_id = mesh_id_new ();
  json_object_set_string_member (payload, "room_id", room->room_id);
  room->join_sent = client_session_send_frame (self, MESH_EVENT_ROOM_JOIN, room->join_id, NULL, payload);
}

void
client_session_send_presence (MeshClientSession *self)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = mesh_id_new ();

  json_object_set_string_member (payload, "status", mesh_presence_to_string (self->presence));
  client_session_send_frame (self, MESH_EVENT_PRESENCE_UPDATE, id, NULL, payload);
}

/* The request id of a chat message is its client_msg_id, so that an error
 * naming it as `ref` finds it, whichever send it answers. */
void
client_session_send_chat_frame (MeshClientSession *self,
                                MeshChatMessage   *message)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  const char *client_msg_id = mesh_chat_message_get_client_msg_id (message);

  json_object_set_string_member (payload, "room_id", mesh_chat_message_get_room_id (message));
  json_object_set_string_member (payload, "content", mesh_chat_message_get_content (message));
  json_object_set_string_member (payload, "client_msg_id", client_msg_id);
  client_session_send_frame (self, MESH_EVENT_CHAT_MESSAGE_SEND, client_msg_id, NULL, payload);
}

static void
mesh_client_session_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  MeshClientSession *self = MESH_CLIENT_SESSION (object);

  switch (prop_id) {
  case PROP_REST:
    g_value_set_object (value, self->rest);
    break;
  case PROP_STATE:
    g_value_set_enum (value, self->state);
    break;
  case PROP_PEER_ID:
    g_value_set_string (value, self->peer_id);
    break;
  case PROP_USER_ID:
    g_value_set_string (value, self->user_id);
    break;
  case PROP_PEER_TYPE:
    g_value_set_string (value, self->peer_type);
    break;
  case PROP_RETRY_FIRST:
    g_value_set_boolean (value, self->retry_first);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_client_session_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  MeshClientSession *self = MESH_CLIENT_SESSION (object);

  switch (prop_id) {
  case PROP_REST:
    self->rest = g_value_dup_object (value);
    break;
  case PROP_PEER_TYPE:
    g_free (self->peer_type);
    self->peer_type = g_value_dup_string (value);
    if (self->peer_type == NULL)
      self->peer_type = g_strdup ("client");
    break;
  case PROP_RETRY_FIRST:
    mesh_client_session_set_retry_first (self, g_value_get_boolean (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_client_session_dispose (GObject *object)
{
  MeshClientSession *self = MESH_CLIENT_SESSION (object);

  self->running = FALSE;
  client_session_clear_source (self, &self->retry_id);
  if (self->attempt_cancellable != NULL)
    g_cancellable_cancel (self->attempt_cancellable);
  g_clear_object (&self->attempt_cancellable);
  g_clear_object (&self->attempt_msg);
  client_session_clear_source (self, &self->hello_timeout_id);
  client_session_clear_source (self, &self->liveness_id);
  client_session_close_ws (self);
  if (self->history_cancellable != NULL)
    g_cancellable_cancel (self->history_cancellable);
  g_clear_object (&self->history_cancellable);
  /* Tasks hold the session: none is left once it is disposed. */
  g_clear_pointer (&self->waiters, g_ptr_array_unref);
  g_clear_object (&self->rest);
  G_OBJECT_CLASS (mesh_client_session_parent_class)->dispose (object);
}

static void
mesh_client_session_finalize (GObject *object)
{
  MeshClientSession *self = MESH_CLIENT_SESSION (object);

  for (guint i = 0; i < self->outbox->len; i++)
    mesh_chat_message_set_delivery_state (self->outbox->pdata[i], MESH_DELIVERY_FAILED);
  g_ptr_array_unref (self->outbox);
  g_hash_table_unref (self->rooms);
  g_free (self->peer_id);
  g_free (self->user_id);
  g_free (self->peer_type);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (mesh_client_session_parent_class)->finalize (object);
}

static void
mesh_client_session_class_init (MeshClientSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  GType type = G_TYPE_FROM_CLASS (klass);

  object_class->get_property = mesh_client_session_get_property;
  object_class->set_property = mesh_client_session_set_property;
  object_class->dispose = mesh_client_session_dispose;
  object_class->finalize = mesh_client_session_finalize;

  properties[PROP_REST] =
    g_param_spec_object ("rest", NULL, NULL, MESH_TYPE_CLIENT_REST,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, MESH_TYPE_CLIENT_SESSION_STATE,
                       MESH_CLIENT_SESSION_DISCONNECTED, ro);
  properties[PROP_PEER_ID] = g_param_spec_string ("peer-id", NULL, NULL, NULL, ro);
  properties[PROP_USER_ID] = g_param_spec_string ("user-id", NULL, NULL, NULL, ro);
  properties[PROP_PEER_TYPE] =
    g_param_spec_string ("peer-type", NULL, NULL, "client",
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RETRY_FIRST] =
    g_param_spec_boolean ("retry-first", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

#define STR G_TYPE_STRING
  client_session_signals[CONNECTION_ERROR] =
    g_signal_new ("connection-error", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
  client_session_signals[ROOM_JOINED] =
    g_signal_new ("room-joined", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, MESH_TYPE_PEER_INFO);
  client_session_signals[ROOM_LEFT] =
    g_signal_new ("room-left", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  client_session_signals[PRESENCE_CHANGED] =
    g_signal_new ("presence-changed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, MESH_TYPE_PRESENCE);
  client_session_signals[CHAT_MESSAGE] =
    g_signal_new ("chat-message", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, MESH_TYPE_CHAT_MESSAGE);
  client_session_signals[CHAT_QUEUED] =
    g_signal_new ("chat-queued", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, MESH_TYPE_CHAT_MESSAGE);
  client_session_signals[CHAT_FAILED] =
    g_signal_new ("chat-failed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, MESH_TYPE_CHAT_MESSAGE, G_TYPE_ERROR);
  client_session_signals[TERMINAL_SHARE_RUNNING] =
    g_signal_new ("terminal-share-running", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 6, STR, STR, STR, STR, STR, STR);
  client_session_signals[TERMINAL_SHARE_STARTED] =
    g_signal_new ("terminal-share-started", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 6, STR, STR, STR, STR, STR, STR);
  client_session_signals[TERMINAL_SHARE_STOPPED] =
    g_signal_new ("terminal-share-stopped", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  client_session_signals[TERMINAL_CONTROL_REQUEST] =
    g_signal_new ("terminal-control-request", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, STR, STR, STR, STR);
  client_session_signals[TERMINAL_CONTROL_GRANTED] =
    g_signal_new ("terminal-control-granted", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, STR, STR, STR);
  client_session_signals[TERMINAL_CONTROL_RELEASED] =
    g_signal_new ("terminal-control-released", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  client_session_signals[TERMINAL_CONTROL_DENIED] =
    g_signal_new ("terminal-control-denied", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  client_session_signals[SERVER_ERROR] =
    g_signal_new ("server-error", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_ERROR, STR);
  client_session_signals[EVENT] =
    g_signal_new ("event", type, G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, STR, STR, JSON_TYPE_OBJECT);
  client_session_signals[PREPARE_HELLO] =
    g_signal_new ("prepare-hello", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, JSON_TYPE_OBJECT);
  client_session_signals[FATAL_ERROR] =
    g_signal_new ("fatal-error", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
#undef STR
}

static void
mesh_client_session_init (MeshClientSession *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->peer_type = g_strdup ("client");
  self->retry_first = TRUE;
  self->presence = MESH_PRESENCE_ONLINE;
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) client_session_room_free);
  self->outbox = g_ptr_array_new_with_free_func (g_object_unref);
  self->waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);
  self->history_cancellable = g_cancellable_new ();
}

MeshClientSession *
mesh_client_session_new (MeshClientRest *rest)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (rest), NULL);

  return g_object_new (MESH_TYPE_CLIENT_SESSION, "rest", rest, NULL);
}

/* The session of an agent: `peer_type: "agent"` in its hello, with the
 * device token as the REST object's access token; its owner adds `quic`
 * (and `transient`) to each hello in "prepare-hello".  An agent does not
 * follow chat: no history is fetched when it joins a room. */
MeshClientSession *
mesh_client_session_new_agent (MeshClientRest *rest)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (rest), NULL);

  return g_object_new (MESH_TYPE_CLIENT_SESSION, "rest", rest, "peer-type", "agent", NULL);
}

/* Whether a first attempt that fails is retried (default TRUE); when not,
 * the session stops with "fatal-error" (a one-off command such as
 * `mesh-agent send` exits instead of waiting for a server).  Once welcomed,
 * a lost connection is always retried. */
void
mesh_client_session_set_retry_first (MeshClientSession *self,
                                     gboolean           retry)
{
  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));

  retry = !!retry;
  if (self->retry_first == retry)
    return;
  self->retry_first = retry;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RETRY_FIRST]);
}

MeshClientRest *
mesh_client_session_get_rest (MeshClientSession *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  return self->rest;
}

MeshClientSessionState
mesh_client_session_get_state (MeshClientSession *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), MESH_CLIENT_SESSION_DISCONNECTED);
  return self->state;
}

const char *
mesh_client_session_get_peer_id (MeshClientSession *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  return self->peer_id;
}

const char *
mesh_client_session_get_user_id (MeshClientSession *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  return self->user_id;
}

char *
mesh_client_session_send_event (MeshClientSession  *self,
                                const char         *type,
                                const char         *to,
                                JsonObject         *payload,
                                GError            **error)
{
  g_autofree char *id = NULL;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  g_return_val_if_fail (type != NULL, NULL);

  if (!self->welcomed || !client_session_is_open (self)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                         "not connected to the server");
    return NULL;
  }
  id = mesh_id_new ();
  client_session_send_frame (self, type, id, to, payload);
  return g_steal_pointer (&id);
}

void
mesh_client_session_request_async (MeshClientSession   *self,
                                   const char          *type,
                                   const char          *to,
                                   JsonObject          *payload,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (type != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_client_session_request_async);
  id = mesh_client_session_send_event (self, type, to, payload, &error);
  if (id == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  client_session_add_waiter (self, WAIT_REQUEST, id, task);
}

JsonObject *
mesh_client_session_request_finish (MeshClientSession  *self,
                                    GAsyncResult       *result,
                                    GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
