/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-session.h"
#include "mesh-client-private.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

#define BACKOFF_FIRST_MS     1000
#define BACKOFF_MAX_MS       30000
#define HELLO_TIMEOUT_S      10
#define KEEPALIVE_S          20
#define SILENCE_LIMIT_S      60
#define MAX_INCOMING_PAYLOAD (1024 * 1024)
#define CHAT_MAX_BYTES       16384
#define CATCH_UP_PAGE        200   /* the server's largest page */

enum {
  PROP_0,
  PROP_REST,
  PROP_STATE,
  PROP_PEER_ID,
  PROP_USER_ID,
  N_PROPS
};

enum {
  CONNECTION_ERROR,
  ROOM_JOINED,
  ROOM_LEFT,
  PRESENCE_CHANGED,
  CHAT_MESSAGE,
  CHAT_QUEUED,
  CHAT_FAILED,
  TERMINAL_SHARE_STARTED,
  TERMINAL_SHARE_RUNNING,
  TERMINAL_SHARE_STOPPED,
  TERMINAL_CONTROL_REQUEST,
  TERMINAL_CONTROL_GRANTED,
  TERMINAL_CONTROL_RELEASED,
  TERMINAL_CONTROL_DENIED,
  SERVER_ERROR,
  EVENT,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* A room this session wants to be in. */
typedef struct {
  char       *room_id;
  char       *join_id;   /* id of the last room.join sent */
  gboolean    joined;
  GHashTable *peers;     /* peer_id → MeshPeerInfo */

  /* Catching up after a reconnect: what was said while we were away comes
   * through "chat-message" like live messages, in order, once each. */
  char       *last_message_id;  /* the newest message seen */
  gboolean    baselined;        /* last_message_id is known (NULL: the room was empty) */
  gboolean    baselining;
  gboolean    catching_up;
  gboolean    catch_up_again;   /* rejoined while catching up: once more after */
  GPtrArray  *held;             /* live MeshChatMessage that came while catching up */
  GHashTable *caught;           /* message_ids the last catch-up emitted */
} SessionRoom;

typedef enum {
  WAIT_CONNECT,
  WAIT_JOIN,      /* key: room_id */
  WAIT_REQUEST,   /* key: the request's id */
} WaitKind;

/* A GTask waiting for something from the server. */
typedef struct {
  MeshClientSession *session;
  WaitKind           kind;
  char              *key;
  GTask             *task;
  GSource           *cancel_source;
} Waiter;

struct _MeshClientSession {
  GObject                  parent_instance;

  MeshClientRest          *rest;
  MeshClientSessionState   state;
  gboolean                 running;       /* wants to be connected */
  gboolean                 ever_connected;
  guint                    failures;      /* attempts failed since the last welcome */

  SoupMessage             *attempt_msg;
  GCancellable            *attempt_cancellable;
  SoupWebsocketConnection *ws;
  gboolean                 welcomed;
  GError                  *hello_error;   /* the server refused our hello */
  gint64                   last_activity;
  guint                    retry_id;
  guint                    hello_timeout_id;
  guint                    liveness_id;

  char                    *peer_id;
  char                    *user_id;
  MeshPresence             presence;
  GHashTable              *rooms;         /* room_id → SessionRoom */
  GPtrArray               *outbox;        /* MeshChatMessage, pending, in order */
  GPtrArray               *waiters;       /* Waiter */
  GCancellable            *history_cancellable;  /* baselines and catch-ups */
};

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

/* A peer as room.joined names it (the event itself or one of `members`). */
static MeshPeerInfo *
peer_info_from_json (JsonObject  *object,
                     GError     **error)
{
  g_autoptr(MeshPeerInfo) info = g_new0 (MeshPeerInfo, 1);
  const char *peer_id, *user_id, *username, *peer_type, *device_id, *device_name, *status, *role;

  if (!mesh_json_get_string (object, "peer_id", TRUE, &peer_id, error) ||
      !mesh_json_get_string (object, "user_id", TRUE, &user_id, error) ||
      !mesh_json_get_string (object, "username", FALSE, &username, error) ||
      !mesh_json_get_string (object, "peer_type", FALSE, &peer_type, error) ||
      !mesh_json_get_string (object, "device_id", FALSE, &device_id, error) ||
      !mesh_json_get_string (object, "device_name", FALSE, &device_name, error) ||
      !mesh_json_get_string (object, "status", FALSE, &status, error) ||
      !mesh_json_get_string (object, "role", FALSE, &role, error))
    return NULL;

  info->peer_id = g_strdup (peer_id);
  info->user_id = g_strdup (user_id);
  info->username = g_strdup (username);
  info->peer_type = g_strdup (peer_type != NULL ? peer_type : "client");
  info->device_id = g_strdup (device_id);
  info->device_name = g_strdup (device_name);
  info->role = g_strdup (role);
  /* Optional; a wrong type is not worth refusing the peer for. */
  mesh_json_get_bool (object, "transient", FALSE, &info->transient, NULL);
  if (!mesh_presence_from_string (status, &info->status))
    info->status = MESH_PRESENCE_ONLINE;
  return g_steal_pointer (&info);
}

static void
session_room_free (SessionRoom *room)
{
  g_free (room->room_id);
  g_free (room->join_id);
  g_hash_table_unref (room->peers);
  g_free (room->last_message_id);
  g_clear_pointer (&room->held, g_ptr_array_unref);
  g_clear_pointer (&room->caught, g_hash_table_unref);
  g_free (room);
}

static SessionRoom *
session_room_new (const char *room_id)
{
  SessionRoom *room = g_new0 (SessionRoom, 1);

  room->room_id = g_strdup (room_id);
  room->peers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) mesh_peer_info_free);
  return room;
}

static void
room_add_peer (SessionRoom  *room,
               MeshPeerInfo *info)
{
  /* The key lives in the value. */
  g_hash_table_replace (room->peers, info->peer_id, info);
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

static void
add_waiter (MeshClientSession *self,
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

static void
complete_waiters (MeshClientSession *self,
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

static gboolean
has_waiter (MeshClientSession *self,
            WaitKind           kind,
            const char        *key)
{
  for (guint i = 0; i < self->waiters->len; i++) {
    Waiter *waiter = self->waiters->pdata[i];

    if (waiter->kind == kind && g_strcmp0 (waiter->key, key) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
set_state (MeshClientSession      *self,
           MeshClientSessionState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_string_prop (MeshClientSession  *self,
                 char              **field,
                 const char         *value,
                 guint               prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static gboolean
is_open (MeshClientSession *self)
{
  return self->ws != NULL &&
         soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

/* A client frame: {type, id, timestamp, to?, payload}.  Not built with
 * mesh_envelope_to_string, which writes `from` (the server sets that). */
static gboolean
send_frame (MeshClientSession *self,
            const char        *type,
            const char        *id,
            const char        *to,
            JsonObject        *payload)
{
  g_autoptr(JsonObject) root = json_object_new ();
  g_autofree char *timestamp = mesh_timestamp_now ();
  g_autofree char *text = NULL;

  /* Sending on a closing socket is a critical in libsoup 3.2. */
  if (!is_open (self))
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

static void
send_join (MeshClientSession *self,
           SessionRoom       *room)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  g_free (room->join_id);
  room->join_id = mesh_id_new ();
  json_object_set_string_member (payload, "room_id", room->room_id);
  send_frame (self, "room.join", room->join_id, NULL, payload);
}

static void
send_presence (MeshClientSession *self)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = mesh_id_new ();

  json_object_set_string_member (payload, "status", mesh_presence_to_string (self->presence));
  send_frame (self, "presence.update", id, NULL, payload);
}

/* The request id of a chat message is its client_msg_id, so that an error
 * naming it as `ref` finds it, whichever send it answers. */
static void
send_chat_frame (MeshClientSession *self,
                 MeshChatMessage   *message)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  const char *client_msg_id = mesh_chat_message_get_client_msg_id (message);

  json_object_set_string_member (payload, "room_id", mesh_chat_message_get_room_id (message));
  json_object_set_string_member (payload, "content", mesh_chat_message_get_content (message));
  json_object_set_string_member (payload, "client_msg_id", client_msg_id);
  send_frame (self, "chat.message.send", client_msg_id, NULL, payload);
}

static void
emit_connection_error (MeshClientSession *self,
                       const GError      *error)
{
  g_debug ("connection: %s", error->message);
  g_signal_emit (self, signals[CONNECTION_ERROR], 0, error);
}

static void ws_message_cb (SoupWebsocketConnection *ws,
                           SoupWebsocketDataType    type,
                           GBytes                  *message,
                           MeshClientSession       *self);
static void ws_closed_cb  (SoupWebsocketConnection *ws,
                           MeshClientSession       *self);

static void
ws_pong_cb (SoupWebsocketConnection *ws,
            GBytes                  *message,
            MeshClientSession       *self)
{
  self->last_activity = g_get_monotonic_time ();
}

static void
release_closed_ws (SoupWebsocketConnection *ws,
                   gpointer                 user_data)
{
  g_object_unref (ws);
}

/* Lets go of the socket: closed politely when still open, kept alive
 * until the close completes. */
static void
close_ws (MeshClientSession *self)
{
  SoupWebsocketConnection *ws = g_steal_pointer (&self->ws);

  if (ws == NULL)
    return;
  g_signal_handlers_disconnect_by_data (ws, self);
  if (soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN) {
    g_signal_connect (ws, "closed", G_CALLBACK (release_closed_ws), NULL);
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  } else {
    g_object_unref (ws);
  }
}

/* What was known about the connection is gone with it. */
static void
forget_connection (MeshClientSession *self,
                   const GError      *error)
{
  GHashTableIter iter;
  SessionRoom *room;

  g_clear_handle_id (&self->hello_timeout_id, g_source_remove);
  g_clear_handle_id (&self->liveness_id, g_source_remove);
  g_clear_error (&self->hello_error);
  close_ws (self);
  self->welcomed = FALSE;

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
    room->joined = FALSE;
    g_hash_table_remove_all (room->peers);
  }
  complete_waiters (self, WAIT_REQUEST, NULL, NULL, error);
}

static void start_attempt (MeshClientSession *self);

static gboolean
retry_cb (gpointer user_data)
{
  MeshClientSession *self = user_data;

  self->retry_id = 0;
  start_attempt (self);
  return G_SOURCE_REMOVE;
}

/* 1 s, 2 s, 4 s … 30 s, each drawn in [d/2, d] so that clients dropped
 * together do not come back together. */
static void
schedule_retry (MeshClientSession *self)
{
  guint shift = MIN (self->failures, 5);
  guint delay = MIN ((guint) BACKOFF_FIRST_MS << shift, (guint) BACKOFF_MAX_MS);

  delay = (guint) g_random_int_range ((gint32) delay / 2, (gint32) delay + 1);
  self->failures++;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  self->retry_id = g_timeout_add (delay, retry_cb, self);
  set_state (self, MESH_CLIENT_SESSION_RECONNECTING);
}

static gboolean
error_is_fatal (const GError *error)
{
  return g_error_matches (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED) ||
         g_error_matches (error, MESH_ERROR, MESH_ERROR_FORBIDDEN) ||
         g_error_matches (error, MESH_ERROR, MESH_ERROR_VERSION_UNSUPPORTED) ||
         g_error_matches (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST) ||
         error->domain == G_TLS_ERROR ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

/* An attempt failed or a connection ended: tell, then retry or stop. */
static void
connection_lost (MeshClientSession *self,
                 const GError      *error)
{
  g_autoptr(GObject) guard = g_object_ref (G_OBJECT (self));

  forget_connection (self, error);
  emit_connection_error (self, error);
  complete_waiters (self, WAIT_CONNECT, NULL, NULL, error);
  if (!self->running)
    return;
  if (error_is_fatal (error)) {
    self->running = FALSE;
    set_state (self, MESH_CLIENT_SESSION_DISCONNECTED);
    return;
  }
  schedule_retry (self);
}

static gboolean
hello_timeout_cb (gpointer user_data)
{
  MeshClientSession *self = user_data;
  g_autoptr(GError) error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                         "the server did not answer system.hello within %d s",
                                         HELLO_TIMEOUT_S);

  self->hello_timeout_id = 0;
  connection_lost (self, error);
  return G_SOURCE_REMOVE;
}

/* libsoup 3.2 has no pong timeout: a socket silent for a minute (the
 * server pings every 20 s, we ping too) is taken for dead. */
static gboolean
liveness_cb (gpointer user_data)
{
  MeshClientSession *self = user_data;
  g_autoptr(GError) error = NULL;

  if (g_get_monotonic_time () - self->last_activity < SILENCE_LIMIT_S * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  self->liveness_id = 0;
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the server has been silent for %d s", SILENCE_LIMIT_S);
  connection_lost (self, error);
  return G_SOURCE_REMOVE;
}

static void
ws_connect_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) hello = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *hello_id = NULL;
  SoupWebsocketConnection *ws;
  MeshClientSession *self;
  guint status;

  ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  /* Cancelled: the session stopped or is gone; do not touch it. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  self = user_data;
  msg = g_steal_pointer (&self->attempt_msg);
  g_clear_object (&self->attempt_cancellable);

  if (ws == NULL) {
    status = soup_message_get_status (msg);
    if (status == SOUP_STATUS_UNAUTHORIZED) {
      g_clear_error (&error);
      g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED,
                           "the server refused the access token: sign in again");
    } else {
      error = mesh_client_rest_transport_error (msg, g_steal_pointer (&error));
    }
    connection_lost (self, error);
    return;
  }

  self->ws = ws;
  g_object_set (ws,
                "max-incoming-payload-size", (guint64) MAX_INCOMING_PAYLOAD,
                "keepalive-interval", (guint) KEEPALIVE_S,
                NULL);
  g_signal_connect (ws, "message", G_CALLBACK (ws_message_cb), self);
  g_signal_connect (ws, "closed", G_CALLBACK (ws_closed_cb), self);
  g_signal_connect (ws, "pong", G_CALLBACK (ws_pong_cb), self);
  self->last_activity = g_get_monotonic_time ();
  self->liveness_id = g_timeout_add_seconds (KEEPALIVE_S, liveness_cb, self);
  self->hello_timeout_id = g_timeout_add_seconds (HELLO_TIMEOUT_S, hello_timeout_cb, self);

  hello = json_object_new ();
  json_object_set_string_member (hello, "peer_type", "client");
  json_object_set_string_member (hello, "version", MESH_PROTOCOL_VERSION);
  hello_id = mesh_id_new ();
  send_frame (self, "system.hello", hello_id, NULL, hello);
}

static void
start_attempt (MeshClientSession *self)
{
  g_autoptr(GError) error = NULL;

  g_clear_handle_id (&self->retry_id, g_source_remove);
  if (self->attempt_msg != NULL || self->ws != NULL)
    return;

  set_state (self, self->ever_connected ? MESH_CLIENT_SESSION_RECONNECTING
                                        : MESH_CLIENT_SESSION_CONNECTING);
  if (mesh_client_rest_get_access_token (self->rest) == NULL) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED, "not signed in");
    connection_lost (self, error);
    return;
  }
  self->attempt_msg = mesh_client_rest_new_message (self->rest, "GET", "/ws", &error);
  if (self->attempt_msg == NULL) {
    connection_lost (self, error);
    return;
  }
  self->attempt_cancellable = g_cancellable_new ();
  soup_session_websocket_connect_async (mesh_client_rest_get_soup_session (self->rest),
                                        self->attempt_msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        self->attempt_cancellable, ws_connect_cb, self);
}

static void
ws_closed_cb (SoupWebsocketConnection *ws,
              MeshClientSession       *self)
{
  g_autoptr(GError) error = NULL;

  if (self->hello_error != NULL) {
    error = g_steal_pointer (&self->hello_error);
  } else {
    const char *reason = soup_websocket_connection_get_close_data (ws);

    error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         "the server closed the connection (%u%s%s)",
                         soup_websocket_connection_get_close_code (ws),
                         reason != NULL && reason[0] != '\0' ? ": " : "",
                         reason != NULL ? reason : "");
  }
  connection_lost (self, error);
}

static GError *
error_from_payload (JsonObject  *payload,
                    const char **ref)
{
  const char *code_name = NULL, *message = NULL;
  MeshErrorCode code;

  mesh_json_get_string (payload, "code", TRUE, &code_name, NULL);
  mesh_json_get_string (payload, "message", FALSE, &message, NULL);
  mesh_json_get_string (payload, "ref", FALSE, ref, NULL);
  if (code_name == NULL || !mesh_error_code_from_string (code_name, &code))
    return g_error_new (MESH_ERROR, MESH_ERROR_INTERNAL, "server error %s: %s",
                        code_name ? code_name : "(no code)", message ? message : "");
  return g_error_new_literal (MESH_ERROR, code, message ? message : code_name);
}

static void
handle_welcome (MeshClientSession *self,
                MeshEnvelope      *env)
{
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  SessionRoom *room;
  const char *peer_id, *user_id;

  if (!mesh_json_get_string (env->payload, "peer_id", TRUE, &peer_id, &error) ||
      !mesh_json_get_string (env->payload, "user_id", TRUE, &user_id, &error)) {
    g_autoptr(GError) bad = g_error_new (MESH_ERROR, MESH_ERROR_INTERNAL,
                                         "the server's system.welcome is malformed: %s",
                                         error->message);

    connection_lost (self, bad);
    return;
  }

  g_clear_handle_id (&self->hello_timeout_id, g_source_remove);
  self->welcomed = TRUE;
  self->failures = 0;
  self->ever_connected = TRUE;
  set_string_prop (self, &self->peer_id, peer_id, PROP_PEER_ID);
  set_string_prop (self, &self->user_id, user_id, PROP_USER_ID);

  /* Rooms, then presence, then the outbox: chat needs the room joined on
   * this socket, and the server handles a socket's frames in order. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room))
    send_join (self, room);
  if (self->presence != MESH_PRESENCE_ONLINE)
    send_presence (self);
  for (guint i = 0; i < self->outbox->len; i++)
    send_chat_frame (self, self->outbox->pdata[i]);

  set_state (self, MESH_CLIENT_SESSION_CONNECTED);
  complete_waiters (self, WAIT_CONNECT, NULL, NULL, NULL);
}

/* History: what was said while the socket was down.
 *
 * Each room remembers the newest message it delivered.  After every
 * room.joined of ours but the first, the messages after it are fetched
 * (GET …/messages?after=, pages of 200, oldest first) and delivered through
 * "chat-message" as if they had come live, so the chat, the unread counts
 * and the notifications all see them.  Live messages that come meanwhile
 * wait until the catch-up is over, so the order holds; a message that
 * comes both ways is delivered once. */

typedef struct {
  MeshClientSession *self;
  char              *room_id;
  GPtrArray         *pages;     /* backward mode: MeshChatMessage, newest first */
} HistoryCall;

static void
history_call_free (HistoryCall *call)
{
  g_object_unref (call->self);
  g_free (call->room_id);
  g_clear_pointer (&call->pages, g_ptr_array_unref);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HistoryCall, history_call_free)

static HistoryCall *
history_call_new (MeshClientSession *self,
                  SessionRoom       *room)
{
  HistoryCall *call = g_new0 (HistoryCall, 1);

  call->self = g_object_ref (self);
  call->room_id = g_strdup (room->room_id);
  return call;
}

static void
deliver (MeshClientSession *self,
         SessionRoom       *room,
         MeshChatMessage   *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);

  if (room != NULL && message_id != NULL) {
    g_free (room->last_message_id);
    room->last_message_id = g_strdup (message_id);
    room->baselined = TRUE;
  }
  g_signal_emit (self, signals[CHAT_MESSAGE], 0, message);
}

/* Whether a message from the last catch-up comes again: our own messages
 * still go through (the chat matches a confirmation to its pending copy). */
static gboolean
already_caught (SessionRoom     *room,
                MeshChatMessage *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);

  return room->caught != NULL && message_id != NULL &&
         !mesh_chat_message_get_is_own (message) &&
         g_hash_table_contains (room->caught, message_id);
}

static void
deliver_live (MeshClientSession *self,
              MeshChatMessage   *message)
{
  SessionRoom *room = g_hash_table_lookup (self->rooms, mesh_chat_message_get_room_id (message));

  if (room != NULL && room->catching_up) {
    g_ptr_array_add (room->held, g_object_ref (message));
    return;
  }
  if (room != NULL && already_caught (room, message))
    return;
  deliver (self, room, message);
}

static void
deliver_caught (MeshClientSession *self,
                SessionRoom       *room,
                MeshChatMessage   *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);

  if (message_id == NULL || g_hash_table_contains (room->caught, message_id))
    return;
  g_hash_table_add (room->caught, g_strdup (message_id));
  deliver (self, room, message);
}

static void start_baseline (MeshClientSession *self,
                            SessionRoom       *room);
static void catch_up       (MeshClientSession *self,
                            SessionRoom       *room);

static void
finish_catch_up (MeshClientSession *self,
                 SessionRoom       *room,
                 const GError      *error)
{
  g_autoptr(GPtrArray) held = g_steal_pointer (&room->held);
  g_autofree char *room_id = g_strdup (room->room_id);

  room->catching_up = FALSE;
  if (error != NULL) {
    g_debug ("cannot catch up with room %s: %s", room->room_id, error->message);
    /* Our newest message is gone from the server (or never was there):
     * start again from what it has now. */
    if (g_error_matches (error, MESH_ERROR, MESH_ERROR_NOT_FOUND) && held->len == 0) {
      g_clear_pointer (&room->last_message_id, g_free);
      room->baselined = FALSE;
    }
  }
  for (guint i = 0; i < held->len; i++) {
    /* A handler may leave the room. */
    room = g_hash_table_lookup (self->rooms, room_id);
    if (room == NULL || !already_caught (room, held->pdata[i]))
      deliver (self, room, held->pdata[i]);
  }
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL && room->joined && room->catch_up_again)
    catch_up (self, room);
  else if (room != NULL && room->joined && !room->baselined)
    start_baseline (self, room);
}

static void catch_up_page (MeshClientSession *self,
                           SessionRoom       *room,
                           HistoryCall       *call,
                           const char        *cursor);

static void
catch_up_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(HistoryCall) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autofree char *room_id = g_strdup (call->room_id);
  MeshClientSession *self = call->self;
  SessionRoom *room;

  page = mesh_client_rest_list_messages_finish (MESH_CLIENT_REST (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL || !room->catching_up)
    return;
  if (page == NULL) {
    finish_catch_up (self, room, error);
    return;
  }

  if (call->pages != NULL) {
    /* Backward (the room was empty when we came): gather to the start. */
    for (guint i = page->len; i-- > 0;)
      g_ptr_array_add (call->pages, g_object_ref (page->pdata[i]));
    if (page->len == CATCH_UP_PAGE) {
      catch_up_page (self, room, g_steal_pointer (&call),
                     mesh_chat_message_get_message_id (page->pdata[0]));
      return;
    }
    for (guint i = call->pages->len; i-- > 0;) {
      deliver_caught (self, room, call->pages->pdata[i]);
      if ((room = g_hash_table_lookup (self->rooms, room_id)) == NULL)
        return;
    }
  } else {
    for (guint i = 0; i < page->len; i++) {
      deliver_caught (self, room, page->pdata[i]);
      if ((room = g_hash_table_lookup (self->rooms, room_id)) == NULL)
        return;
    }
    if (page->len == CATCH_UP_PAGE) {
      catch_up_page (self, room, g_steal_pointer (&call),
                     mesh_chat_message_get_message_id (page->pdata[page->len - 1]));
      return;
    }
  }
  finish_catch_up (self, room, NULL);
}

static void
catch_up_page (MeshClientSession *self,
               SessionRoom       *room,
               HistoryCall       *call,
               const char        *cursor)
{
  if (call->pages != NULL)
    mesh_client_rest_list_messages_async (self->rest, room->room_id, cursor, CATCH_UP_PAGE,
                                          self->history_cancellable, catch_up_cb, call);
  else
    mesh_client_rest_list_messages_after_async (self->rest, room->room_id, cursor,
                                                CATCH_UP_PAGE, self->history_cancellable,
                                                catch_up_cb, call);
}

/* The newest message when we first join: where a later catch-up starts. */
static void
baseline_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(HistoryCall) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = NULL;
  SessionRoom *room;

  page = mesh_client_rest_list_messages_finish (MESH_CLIENT_REST (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  room = g_hash_table_lookup (call->self->rooms, call->room_id);
  if (room == NULL)
    return;
  room->baselining = FALSE;
  if (page == NULL) {
    g_debug ("cannot read the newest message of room %s: %s", call->room_id, error->message);
    return;
  }
  /* A live message may have come first: it is newer. */
  if (!room->baselined) {
    room->baselined = TRUE;
    if (page->len > 0)
      room->last_message_id = g_strdup (mesh_chat_message_get_message_id (page->pdata[0]));
  }
}

static void
start_baseline (MeshClientSession *self,
                SessionRoom       *room)
{
  if (room->baselining)
    return;
  room->baselining = TRUE;
  mesh_client_rest_list_messages_async (self->rest, room->room_id, NULL, 1,
                                        self->history_cancellable, baseline_cb,
                                        history_call_new (self, room));
}

static void
catch_up (MeshClientSession *self,
          SessionRoom       *room)
{
  HistoryCall *call;

  /* A page in flight may have been asked before this socket's join. */
  if (room->catching_up) {
    room->catch_up_again = TRUE;
    return;
  }
  if (!room->baselined) {
    start_baseline (self, room);
    return;
  }
  room->catching_up = TRUE;
  room->catch_up_again = FALSE;
  room->held = g_ptr_array_new_with_free_func (g_object_unref);
  g_clear_pointer (&room->caught, g_hash_table_unref);
  room->caught = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  call = history_call_new (self, room);
  if (room->last_message_id == NULL)
    call->pages = g_ptr_array_new_with_free_func (g_object_unref);
  catch_up_page (self, room, call, room->last_message_id);
}

/* Our copy of room.joined lists the shares already running (the joiner
 * missed their terminal.share.started). */
static void
announce_running_shares (MeshClientSession *self,
                         SessionRoom       *room,
                         JsonObject        *payload)
{
  JsonArray *shares = NULL;

  if (!mesh_json_get_array (payload, "shares", FALSE, &shares, NULL) || shares == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (shares); i++) {
    JsonNode *node = json_array_get_element (shares, i);
    const char *share_id = NULL, *device_id = NULL, *peer_id = NULL;
    MeshPeerInfo *host;

    if (!JSON_NODE_HOLDS_OBJECT (node) ||
        !mesh_json_get_string (json_node_get_object (node), "share_id", TRUE, &share_id, NULL) ||
        !mesh_json_get_string (json_node_get_object (node), "host_device_id", FALSE, &device_id,
                               NULL) ||
        !mesh_json_get_string (json_node_get_object (node), "host_peer_id", FALSE, &peer_id,
                               NULL))
      continue;
    host = peer_id != NULL ? g_hash_table_lookup (room->peers, peer_id) : NULL;
    g_signal_emit (self, signals[TERMINAL_SHARE_RUNNING], 0, room->room_id, share_id, device_id,
                   peer_id, host != NULL ? host->user_id : NULL,
                   host != NULL ? host->username : NULL);
  }
}

static void
handle_room_joined (MeshClientSession *self,
                    MeshEnvelope      *env)
{
  g_autoptr(MeshPeerInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  const char *room_id;
  SessionRoom *room;
  JsonArray *members = NULL;

  if (!mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, &error) ||
      !mesh_json_get_array (env->payload, "members", FALSE, &members, &error) ||
      (info = peer_info_from_json (env->payload, &error)) == NULL) {
    g_debug ("ignoring room.joined: %s", error->message);
    return;
  }

  room = g_hash_table_lookup (self->rooms, room_id);
  if (g_strcmp0 (info->peer_id, self->peer_id) == 0) {
    /* Our own join (maybe sent with send_event): the members list is the
     * room as it is now. */
    if (room == NULL) {
      room = session_room_new (room_id);
      g_hash_table_insert (self->rooms, room->room_id, room);
    }
    g_hash_table_remove_all (room->peers);
    for (guint i = 0; members != NULL && i < json_array_get_length (members); i++) {
      JsonNode *node = json_array_get_element (members, i);
      g_autoptr(GError) member_error = NULL;
      MeshPeerInfo *member;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      member = peer_info_from_json (json_node_get_object (node), &member_error);
      if (member != NULL)
        room_add_peer (room, member);
    }
    if (!g_hash_table_contains (room->peers, info->peer_id))
      room_add_peer (room, mesh_peer_info_copy (info));
    room->joined = TRUE;
  } else if (room != NULL && room->joined) {
    room_add_peer (room, mesh_peer_info_copy (info));
  }

  g_signal_emit (self, signals[ROOM_JOINED], 0, room_id, info);
  if (g_strcmp0 (info->peer_id, self->peer_id) == 0) {
    announce_running_shares (self, room, env->payload);
    complete_waiters (self, WAIT_JOIN, room_id, NULL, NULL);
    /* The handlers may have left the room. */
    room = g_hash_table_lookup (self->rooms, room_id);
    if (room != NULL)
      catch_up (self, room);
  }
}

static void
handle_room_left (MeshClientSession *self,
                  MeshEnvelope      *env)
{
  const char *room_id = NULL, *peer_id = NULL;
  SessionRoom *room;

  if (!mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, NULL) ||
      !mesh_json_get_string (env->payload, "peer_id", TRUE, &peer_id, NULL)) {
    g_debug ("ignoring a malformed room.left");
    return;
  }
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL && g_strcmp0 (peer_id, self->peer_id) != 0)
    g_hash_table_remove (room->peers, peer_id);
  g_signal_emit (self, signals[ROOM_LEFT], 0, room_id, peer_id);
}

/* room.deleted, and room.member.left of our own user (from any of our
 * clients): the server took our sockets out of the room already, so it is
 * forgotten without a room.leave, and not joined again on a reconnect. */
static void
handle_room_gone (MeshClientSession *self,
                  MeshEnvelope      *env)
{
  g_autoptr(GError) error = NULL;
  const char *room_id = NULL, *user_id = NULL;

  if (!mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, NULL) ||
      !mesh_json_get_string (env->payload, "user_id", FALSE, &user_id, NULL)) {
    g_debug ("ignoring a malformed %s", env->type);
    return;
  }
  if (g_str_equal (env->type, "room.member.left") && g_strcmp0 (user_id, self->user_id) != 0)
    return;
  if (!g_hash_table_contains (self->rooms, room_id))
    return;
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "room '%s' is gone", room_id);
  complete_waiters (self, WAIT_JOIN, room_id, NULL, error);
  g_hash_table_remove (self->rooms, room_id);
}

static void
handle_presence (MeshClientSession *self,
                 MeshEnvelope      *env)
{
  const char *peer_id = NULL, *status_name = NULL;
  MeshPresence status;
  GHashTableIter iter;
  SessionRoom *room;

  if (!mesh_json_get_string (env->payload, "peer_id", TRUE, &peer_id, NULL) ||
      !mesh_json_get_string (env->payload, "status", TRUE, &status_name, NULL) ||
      !mesh_presence_from_string (status_name, &status)) {
    g_debug ("ignoring a malformed presence.update");
    return;
  }
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
    MeshPeerInfo *info = g_hash_table_lookup (room->peers, peer_id);

    if (info != NULL)
      info->status = status;
  }
  g_signal_emit (self, signals[PRESENCE_CHANGED], 0, peer_id, status);
}

static MeshChatMessage *
outbox_take (MeshClientSession *self,
             const char        *client_msg_id)
{
  for (guint i = 0; client_msg_id != NULL && i < self->outbox->len; i++) {
    MeshChatMessage *message = self->outbox->pdata[i];

    if (g_str_equal (mesh_chat_message_get_client_msg_id (message), client_msg_id))
      return g_ptr_array_steal_index (self->outbox, i);
  }
  return NULL;
}

static void
handle_chat_created (MeshClientSession *self,
                     MeshEnvelope      *env)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshChatMessage) created = NULL;
  g_autoptr(MeshChatMessage) pending = NULL;

  created = mesh_chat_message_new_from_json (env->payload, self->user_id, &error);
  if (created == NULL) {
    g_debug ("ignoring chat.message.created: %s", error->message);
    return;
  }
  if (mesh_chat_message_get_is_own (created))
    pending = outbox_take (self, mesh_chat_message_get_client_msg_id (created));
  if (pending != NULL)
    mesh_chat_message_confirm (pending, created);
  deliver_live (self, pending != NULL ? pending : created);
}

static void
handle_error (MeshClientSession *self,
              MeshEnvelope      *env)
{
  const char *ref = NULL;
  g_autoptr(GError) error = error_from_payload (env->payload, &ref);
  g_autoptr(MeshChatMessage) refused = NULL;

  if (ref != NULL) {
    GHashTableIter iter;
    SessionRoom *room;

    refused = outbox_take (self, ref);
    if (refused != NULL) {
      mesh_chat_message_set_delivery_state (refused, MESH_DELIVERY_FAILED);
      g_signal_emit (self, signals[CHAT_FAILED], 0, refused, error);
    }

    g_hash_table_iter_init (&iter, self->rooms);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
      if (g_strcmp0 (room->join_id, ref) == 0) {
        g_autofree char *room_id = g_strdup (room->room_id);

        /* Not ours to join: not asked again after a reconnect. */
        g_hash_table_iter_remove (&iter);
        complete_waiters (self, WAIT_JOIN, room_id, NULL, error);
        break;
      }
    }
    complete_waiters (self, WAIT_REQUEST, ref, NULL, error);
  }
  g_signal_emit (self, signals[SERVER_ERROR], 0, error, ref);
}

/* The string members @fields of the payload (absent ones are NULL);
 * FALSE when one of the first @n_required is missing or one is not a string. */
static gboolean
payload_strings (JsonObject  *payload,
                 guint        n_required,
                 const char **fields,
                 const char **values,
                 guint        n_fields)
{
  for (guint i = 0; i < n_fields; i++) {
    if (!mesh_json_get_string (payload, fields[i], i < n_required, &values[i], NULL))
      return FALSE;
  }
  return TRUE;
}

static void
handle_terminal (MeshClientSession *self,
                 MeshEnvelope      *env)
{
  static const struct {
    const char *type;
    guint       signal;
    guint       n_required;
    const char *fields[6];
  } events[] = {
    { "terminal.share.started", TERMINAL_SHARE_STARTED, 3,
      { "room_id", "share_id", "host_device_id", "host_peer_id", "user_id", "username" } },
    { "terminal.share.stopped", TERMINAL_SHARE_STOPPED, 1, { "share_id", "room_id" } },
    { "terminal.control.request", TERMINAL_CONTROL_REQUEST, 2,
      { "share_id", "peer_id", "user_id", "username" } },
    { "terminal.control.granted", TERMINAL_CONTROL_GRANTED, 2,
      { "share_id", "controller_peer_id", "room_id" } },
    { "terminal.control.released", TERMINAL_CONTROL_RELEASED, 1, { "share_id", "room_id" } },
    { "terminal.control.denied", TERMINAL_CONTROL_DENIED, 1, { "share_id", "reason" } },
  };
  const char *v[6] = { NULL };

  for (guint i = 0; i < G_N_ELEMENTS (events); i++) {
    guint n_fields = 0;

    if (!g_str_equal (env->type, events[i].type))
      continue;
    while (n_fields < 6 && events[i].fields[n_fields] != NULL)
      n_fields++;
    if (!payload_strings (env->payload, events[i].n_required, (const char **) events[i].fields, v,
                          n_fields)) {
      g_debug ("ignoring a malformed %s", env->type);
      return;
    }
    /* Signal arguments in the documented order. */
    switch (events[i].signal) {
    case TERMINAL_SHARE_STARTED:
      g_signal_emit (self, signals[TERMINAL_SHARE_STARTED], 0, v[0], v[1], v[2], v[3], v[4], v[5]);
      break;
    case TERMINAL_SHARE_STOPPED:
    case TERMINAL_CONTROL_RELEASED:
      g_signal_emit (self, signals[events[i].signal], 0, v[1], v[0]);
      break;
    case TERMINAL_CONTROL_REQUEST:
      g_signal_emit (self, signals[TERMINAL_CONTROL_REQUEST], 0, v[0], v[1], v[2], v[3]);
      break;
    case TERMINAL_CONTROL_GRANTED:
      g_signal_emit (self, signals[TERMINAL_CONTROL_GRANTED], 0, v[2], v[0], v[1]);
      break;
    case TERMINAL_CONTROL_DENIED:
      g_signal_emit (self, signals[TERMINAL_CONTROL_DENIED], 0, v[0], v[1]);
      break;
    default:
      g_assert_not_reached ();
    }
    return;
  }
}

static const struct {
  const char *type;
  void      (*handle) (MeshClientSession *self,
                       MeshEnvelope      *env);
} event_handlers[] = {
  { "room.joined",               handle_room_joined },
  { "room.left",                 handle_room_left },
  { "room.deleted",              handle_room_gone },
  { "room.member.left",          handle_room_gone },
  { "presence.update",           handle_presence },
  { "chat.message.created",      handle_chat_created },
  { "error",                     handle_error },
  { "terminal.share.started",    handle_terminal },
  { "terminal.share.stopped",    handle_terminal },
  { "terminal.control.request",  handle_terminal },
  { "terminal.control.granted",  handle_terminal },
  { "terminal.control.released", handle_terminal },
  { "terminal.control.denied",   handle_terminal },
};

static void
ws_message_cb (SoupWebsocketConnection *ws,
               SoupWebsocketDataType    type,
               GBytes                  *message,
               MeshClientSession       *self)
{
  g_autoptr(GObject) guard = g_object_ref (G_OBJECT (self));
  g_autoptr(MeshEnvelope) env = NULL;
  g_autoptr(GError) error = NULL;
  const char *ref = NULL;
  GQuark detail;
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  self->last_activity = g_get_monotonic_time ();
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    g_debug ("ignoring a binary frame of %" G_GSIZE_FORMAT " bytes", len);
    return;
  }
  env = mesh_envelope_parse (data, len, &error);
  if (env == NULL) {
    g_debug ("ignoring a bad frame from the server: %s", error->message);
    return;
  }

  if (!self->welcomed) {
    if (g_str_equal (env->type, "system.welcome")) {
      handle_welcome (self, env);
    } else if (g_str_equal (env->type, "error")) {
      /* The close that follows reports it. */
      g_clear_error (&self->hello_error);
      self->hello_error = error_from_payload (env->payload, &ref);
    }
    return;
  }

  for (guint i = 0; i < G_N_ELEMENTS (event_handlers); i++) {
    if (g_str_equal (env->type, event_handlers[i].type)) {
      event_handlers[i].handle (self, env);
      break;
    }
  }
  /* Answers to request_async. */
  if (!g_str_equal (env->type, "error") &&
      mesh_json_get_string (env->payload, "ref", FALSE, &ref, NULL) && ref != NULL)
    complete_waiters (self, WAIT_REQUEST, ref, env->payload, NULL);

  /* Only details someone may listen to: no quark per unknown type. */
  detail = g_quark_try_string (env->type);
  g_signal_emit (self, signals[EVENT], detail, env->type, env->from, env->payload);
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
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_client_session_dispose (GObject *object)
{
  MeshClientSession *self = MESH_CLIENT_SESSION (object);

  self->running = FALSE;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  if (self->attempt_cancellable != NULL)
    g_cancellable_cancel (self->attempt_cancellable);
  g_clear_object (&self->attempt_cancellable);
  g_clear_object (&self->attempt_msg);
  g_clear_handle_id (&self->hello_timeout_id, g_source_remove);
  g_clear_handle_id (&self->liveness_id, g_source_remove);
  close_ws (self);
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
  g_object_class_install_properties (object_class, N_PROPS, properties);

#define STR G_TYPE_STRING
  signals[CONNECTION_ERROR] =
    g_signal_new ("connection-error", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
  signals[ROOM_JOINED] =
    g_signal_new ("room-joined", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, MESH_TYPE_PEER_INFO);
  signals[ROOM_LEFT] =
    g_signal_new ("room-left", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  signals[PRESENCE_CHANGED] =
    g_signal_new ("presence-changed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, MESH_TYPE_PRESENCE);
  signals[CHAT_MESSAGE] =
    g_signal_new ("chat-message", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, MESH_TYPE_CHAT_MESSAGE);
  signals[CHAT_QUEUED] =
    g_signal_new ("chat-queued", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, MESH_TYPE_CHAT_MESSAGE);
  signals[CHAT_FAILED] =
    g_signal_new ("chat-failed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, MESH_TYPE_CHAT_MESSAGE, G_TYPE_ERROR);
  signals[TERMINAL_SHARE_RUNNING] =
    g_signal_new ("terminal-share-running", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 6, STR, STR, STR, STR, STR, STR);
  signals[TERMINAL_SHARE_STARTED] =
    g_signal_new ("terminal-share-started", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 6, STR, STR, STR, STR, STR, STR);
  signals[TERMINAL_SHARE_STOPPED] =
    g_signal_new ("terminal-share-stopped", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  signals[TERMINAL_CONTROL_REQUEST] =
    g_signal_new ("terminal-control-request", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, STR, STR, STR, STR);
  signals[TERMINAL_CONTROL_GRANTED] =
    g_signal_new ("terminal-control-granted", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, STR, STR, STR);
  signals[TERMINAL_CONTROL_RELEASED] =
    g_signal_new ("terminal-control-released", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  signals[TERMINAL_CONTROL_DENIED] =
    g_signal_new ("terminal-control-denied", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, STR, STR);
  signals[SERVER_ERROR] =
    g_signal_new ("server-error", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_ERROR, STR);
  signals[EVENT] =
    g_signal_new ("event", type, G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, STR, STR, JSON_TYPE_OBJECT);
#undef STR
}

static void
mesh_client_session_init (MeshClientSession *self)
{
  self->presence = MESH_PRESENCE_ONLINE;
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) session_room_free);
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

void
mesh_client_session_connect_async (MeshClientSession   *self,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_client_session_connect_async);
  if (self->welcomed) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  add_waiter (self, WAIT_CONNECT, NULL, task);
  self->running = TRUE;
  start_attempt (self);
}

gboolean
mesh_client_session_connect_finish (MeshClientSession  *self,
                                    GAsyncResult       *result,
                                    GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
mesh_client_session_disconnect (MeshClientSession *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));

  self->running = FALSE;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  if (self->attempt_cancellable != NULL)
    g_cancellable_cancel (self->attempt_cancellable);
  g_clear_object (&self->attempt_cancellable);
  g_clear_object (&self->attempt_msg);

  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "disconnected");
  forget_connection (self, error);
  complete_waiters (self, WAIT_CONNECT, NULL, NULL, error);
  complete_waiters (self, WAIT_JOIN, NULL, NULL, error);
  set_state (self, MESH_CLIENT_SESSION_DISCONNECTED);
}

void
mesh_client_session_reconnect_now (MeshClientSession *self)
{
  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));

  if (self->running && self->retry_id != 0)
    start_attempt (self);
}

void
mesh_client_session_join_room_async (MeshClientSession   *self,
                                     const char          *room_id,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  SessionRoom *room;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (room_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_client_session_join_room_async);

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL && room->joined) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  if (room == NULL) {
    room = session_room_new (room_id);
    g_hash_table_insert (self->rooms, room->room_id, room);
  }
  /* One room.join in flight per room is enough. */
  if (self->welcomed && !has_waiter (self, WAIT_JOIN, room_id))
    send_join (self, room);
  add_waiter (self, WAIT_JOIN, room_id, task);
}

gboolean
mesh_client_session_join_room_finish (MeshClientSession  *self,
                                      GAsyncResult       *result,
                                      GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
mesh_client_session_leave_room (MeshClientSession *self,
                                const char        *room_id)
{
  g_autoptr(GError) error = NULL;
  SessionRoom *room;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (room_id != NULL);

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL)
    return;
  if (room->joined) {
    g_autoptr(JsonObject) payload = json_object_new ();
    g_autofree char *id = mesh_id_new ();

    json_object_set_string_member (payload, "room_id", room_id);
    send_frame (self, "room.leave", id, NULL, payload);
  }
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "left room '%s'", room_id);
  complete_waiters (self, WAIT_JOIN, room_id, NULL, error);
  g_hash_table_remove (self->rooms, room_id);
}

gboolean
mesh_client_session_is_room_joined (MeshClientSession *self,
                                    const char        *room_id)
{
  SessionRoom *room;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  room = g_hash_table_lookup (self->rooms, room_id);
  return room != NULL && room->joined;
}

gboolean
mesh_client_session_is_catching_up (MeshClientSession *self,
                                    const char        *room_id)
{
  SessionRoom *room;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  room = g_hash_table_lookup (self->rooms, room_id);
  return room != NULL && room->catching_up;
}

GPtrArray *
mesh_client_session_dup_room_peers (MeshClientSession *self,
                                    const char        *room_id)
{
  GPtrArray *peers;
  SessionRoom *room;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);

  peers = g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_peer_info_free);
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL) {
    GHashTableIter iter;
    MeshPeerInfo *info;

    g_hash_table_iter_init (&iter, room->peers);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &info))
      g_ptr_array_add (peers, mesh_peer_info_copy (info));
  }
  return peers;
}

void
mesh_client_session_set_presence (MeshClientSession *self,
                                  MeshPresence       status)
{
  GHashTableIter iter;
  SessionRoom *room;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (status != MESH_PRESENCE_OFFLINE);

  if (self->presence == status)
    return;
  self->presence = status;
  if (self->welcomed)
    send_presence (self);

  /* The server does not echo it: our own entries are updated here. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
    MeshPeerInfo *info = self->peer_id ? g_hash_table_lookup (room->peers, self->peer_id) : NULL;

    if (info != NULL)
      info->status = status;
  }
  if (self->peer_id != NULL)
    g_signal_emit (self, signals[PRESENCE_CHANGED], 0, self->peer_id, status);
}

MeshPresence
mesh_client_session_get_presence (MeshClientSession *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), MESH_PRESENCE_OFFLINE);
  return self->presence;
}

char *
mesh_client_session_send_chat (MeshClientSession  *self,
                               const char         *room_id,
                               const char         *content,
                               GError            **error)
{
  g_autoptr(MeshChatMessage) message = NULL;
  g_autofree char *client_msg_id = NULL;
  const char *user_id;
  gsize len;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (content != NULL, NULL);

  /* The server's rules (§3.3), checked here so that the user learns at
   * once rather than after a round trip. */
  len = strlen (content);
  if (len == 0 || !g_utf8_validate (content, (gssize) len, NULL)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         len == 0 ? "the message is empty" : "the message is not valid UTF-8");
    return NULL;
  }
  if (len > CHAT_MAX_BYTES) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "the message is %" G_GSIZE_FORMAT " bytes; at most %d", len, CHAT_MAX_BYTES);
    return NULL;
  }

  client_msg_id = mesh_id_new ();
  user_id = self->user_id ? self->user_id : mesh_client_rest_get_user_id (self->rest);
  message = mesh_chat_message_new_pending (room_id, client_msg_id, content, user_id);
  g_ptr_array_add (self->outbox, g_object_ref (message));
  if (self->welcomed)
    send_chat_frame (self, message);
  g_signal_emit (self, signals[CHAT_QUEUED], 0, message);
  return g_steal_pointer (&client_msg_id);
}

GPtrArray *
mesh_client_session_dup_outbox (MeshClientSession *self,
                                const char        *room_id)
{
  GPtrArray *messages;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);

  messages = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->outbox->len; i++) {
    MeshChatMessage *message = self->outbox->pdata[i];

    if (room_id == NULL || g_str_equal (mesh_chat_message_get_room_id (message), room_id))
      g_ptr_array_add (messages, g_object_ref (message));
  }
  return messages;
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

  if (!self->welcomed || !is_open (self)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                         "not connected to the server");
    return NULL;
  }
  id = mesh_id_new ();
  send_frame (self, type, id, to, payload);
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
  add_waiter (self, WAIT_REQUEST, id, task);
}

JsonObject *
mesh_client_session_request_finish (MeshClientSession  *self,
                                    GAsyncResult       *result,
                                    GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
share_start_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = NULL;
  const char *share_id;

  answer = mesh_client_session_request_finish (MESH_CLIENT_SESSION (source), result, &error);
  if (answer == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (!mesh_json_get_string (answer, "share_id", TRUE, &share_id, &error)) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_INTERNAL,
                             "the server's answer is malformed: %s", error->message);
    return;
  }
  g_task_return_pointer (task, g_strdup (share_id), g_free);
}

void
mesh_client_session_terminal_share_start_async (MeshClientSession   *self,
                                                const char          *room_id,
                                                const char          *device_id,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  GTask *task;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (room_id != NULL && device_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_client_session_terminal_share_start_async);
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "device_id", device_id);
  mesh_client_session_request_async (self, "terminal.share.start", NULL, payload, cancellable,
                                     share_start_cb, task);
}

char *
mesh_client_session_terminal_share_start_finish (MeshClientSession  *self,
                                                 GAsyncResult       *result,
                                                 GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
mesh_client_session_terminal_share_stop (MeshClientSession  *self,
                                         const char         *share_id,
                                         GError            **error)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = NULL;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), FALSE);
  g_return_val_if_fail (share_id != NULL, FALSE);

  json_object_set_string_member (payload, "share_id", share_id);
  id = mesh_client_session_send_event (self, "terminal.share.stop", NULL, payload, error);
  return id != NULL;
}
