/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-session-private.h"
#include "mesh-events.h"

#define BACKOFF_FIRST_MS     1000
#define BACKOFF_MAX_MS       30000
#define HELLO_TIMEOUT_S      10
#define KEEPALIVE_S          20
#define SILENCE_LIMIT_S      60
#define MAX_INCOMING_PAYLOAD (1024 * 1024)

static void
emit_connection_error (MeshClientSession *self,
                       const GError      *error)
{
  g_debug ("connection: %s", error->message);
  g_signal_emit (self, client_session_signals[CONNECTION_ERROR], 0, error);
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
void
client_session_close_ws (MeshClientSession *self)
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

  client_session_clear_source (self, &self->hello_timeout_id);
  client_session_clear_source (self, &self->liveness_id);
  g_clear_error (&self->hello_error);
  client_session_close_ws (self);
  self->welcomed = FALSE;

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
    room->joined = FALSE;
    room->join_sent = FALSE;
    g_hash_table_remove_all (room->peers);
  }
  client_session_complete_waiters (self, WAIT_REQUEST, NULL, NULL, error);
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
  client_session_clear_source (self, &self->retry_id);
  self->retry_id = client_session_add_timeout (self, delay, retry_cb);
  client_session_set_state (self, MESH_CLIENT_SESSION_RECONNECTING);
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
  client_session_complete_waiters (self, WAIT_CONNECT, NULL, NULL, error);
  if (!self->running)
    return;
  if (error_is_fatal (error) || (!self->retry_first && !self->ever_connected)) {
    self->running = FALSE;
    client_session_set_state (self, MESH_CLIENT_SESSION_DISCONNECTED);
    g_signal_emit (self, client_session_signals[FATAL_ERROR], 0, error);
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
    if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
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
  self->liveness_id = client_session_add_timeout (self, KEEPALIVE_S * 1000, liveness_cb);
  self->hello_timeout_id = client_session_add_timeout (self, HELLO_TIMEOUT_S * 1000,
                                                       hello_timeout_cb);

  hello = json_object_new ();
  json_object_set_string_member (hello, "peer_type", self->peer_type);
  json_object_set_string_member (hello, "version", MESH_PROTOCOL_VERSION);
  /* An agent adds its QUIC endpoint, as it is at each attempt. */
  g_signal_emit (self, client_session_signals[PREPARE_HELLO], 0, hello);
  hello_id = mesh_id_new ();
  client_session_send_frame (self, MESH_EVENT_SYSTEM_HELLO, hello_id, NULL, hello);
}

static void
start_attempt (MeshClientSession *self)
{
  g_autoptr(GError) error = NULL;

  client_session_clear_source (self, &self->retry_id);
  if (self->attempt_msg != NULL || self->ws != NULL)
    return;

  client_session_set_state (self, self->ever_connected ? MESH_CLIENT_SESSION_RECONNECTING
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

  client_session_clear_source (self, &self->hello_timeout_id);
  self->welcomed = TRUE;
  self->failures = 0;
  self->ever_connected = TRUE;
  client_session_set_string_prop (self, &self->peer_id, peer_id, PROP_PEER_ID);
  client_session_set_string_prop (self, &self->user_id, user_id, PROP_USER_ID);

  /* Rooms, then presence, then the outbox: chat needs the room joined on
   * this socket, and the server handles a socket's frames in order. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room))
    client_session_send_join (self, room);
  if (self->presence != MESH_PRESENCE_ONLINE)
    client_session_send_presence (self);
  for (guint i = 0; i < self->outbox->len; i++)
    client_session_send_chat_frame (self, self->outbox->pdata[i]);

  client_session_set_state (self, MESH_CLIENT_SESSION_CONNECTED);
  client_session_complete_waiters (self, WAIT_CONNECT, NULL, NULL, NULL);
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

    refused = client_session_outbox_take (self, ref);
    if (refused != NULL) {
      mesh_chat_message_set_delivery_state (refused, MESH_DELIVERY_FAILED);
      g_signal_emit (self, client_session_signals[CHAT_FAILED], 0, refused, error);
    }

    g_hash_table_iter_init (&iter, self->rooms);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
      if (g_strcmp0 (room->join_id, ref) == 0) {
        g_autofree char *room_id = g_strdup (room->room_id);

        /* Not ours to join: not asked again after a reconnect. */
        g_hash_table_iter_remove (&iter);
        client_session_complete_waiters (self, WAIT_JOIN, room_id, NULL, error);
        break;
      }
    }
    client_session_complete_waiters (self, WAIT_REQUEST, ref, NULL, error);
  }
  g_signal_emit (self, client_session_signals[SERVER_ERROR], 0, error, ref);
}

static const struct {
  const char *type;
  void      (*handle) (MeshClientSession *self,
                       MeshEnvelope      *env);
} event_handlers[] = {
  { MESH_EVENT_ROOM_JOINED,               client_session_handle_room_joined },
  { MESH_EVENT_ROOM_LEFT,                 client_session_handle_room_left },
  { MESH_EVENT_ROOM_DELETED,              client_session_handle_room_gone },
  { MESH_EVENT_ROOM_MEMBER_LEFT,          client_session_handle_room_gone },
  { MESH_EVENT_PRESENCE_UPDATE,           client_session_handle_presence },
  { MESH_EVENT_CHAT_MESSAGE_CREATED,      client_session_handle_chat_created },
  { MESH_EVENT_ERROR,                     handle_error },
  { MESH_EVENT_TERMINAL_SHARE_STARTED,    client_session_handle_terminal },
  { MESH_EVENT_TERMINAL_SHARE_STOPPED,    client_session_handle_terminal },
  { MESH_EVENT_TERMINAL_CONTROL_REQUEST,  client_session_handle_terminal },
  { MESH_EVENT_TERMINAL_CONTROL_GRANTED,  client_session_handle_terminal },
  { MESH_EVENT_TERMINAL_CONTROL_RELEASED, client_session_handle_terminal },
  { MESH_EVENT_TERMINAL_CONTROL_DENIED,   client_session_handle_terminal },
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
    if (g_str_equal (env->type, MESH_EVENT_SYSTEM_WELCOME)) {
      handle_welcome (self, env);
    } else if (g_str_equal (env->type, MESH_EVENT_ERROR)) {
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
  if (!g_str_equal (env->type, MESH_EVENT_ERROR) &&
      mesh_json_get_string (env->payload, "ref", FALSE, &ref, NULL) && ref != NULL)
    client_session_complete_waiters (self, WAIT_REQUEST, ref, env->payload, NULL);

  /* Only details someone may listen to: no quark per unknown type. */
  detail = g_quark_try_string (env->type);
  g_signal_emit (self, client_session_signals[EVENT], detail, env->type, env->from, env->payload);
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
  client_session_add_waiter (self, WAIT_CONNECT, NULL, task);
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
  client_session_clear_source (self, &self->retry_id);
  if (self->attempt_cancellable != NULL)
    g_cancellable_cancel (self->attempt_cancellable);
  g_clear_object (&self->attempt_cancellable);
  g_clear_object (&self->attempt_msg);

  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "disconnected");
  forget_connection (self, error);
  client_session_complete_waiters (self, WAIT_CONNECT, NULL, NULL, error);
  client_session_complete_waiters (self, WAIT_JOIN, NULL, NULL, error);
  client_session_set_state (self, MESH_CLIENT_SESSION_DISCONNECTED);
}

/* Takes the connection for lost (@reason goes to "connection-error") and
 * reconnects under the usual backoff: for an owner that cannot go on with
 * this connection (an agent that could not list its rooms). */
void
mesh_client_session_drop (MeshClientSession *self,
                          const GError      *reason)
{
  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (reason != NULL);

  if (self->running && (self->ws != NULL || self->attempt_msg != NULL)) {
    if (self->attempt_cancellable != NULL)
      g_cancellable_cancel (self->attempt_cancellable);
    g_clear_object (&self->attempt_cancellable);
    g_clear_object (&self->attempt_msg);
    connection_lost (self, reason);
  }
}

void
mesh_client_session_reconnect_now (MeshClientSession *self)
{
  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));

  if (self->running && self->retry_id != 0)
    start_attempt (self);
}
