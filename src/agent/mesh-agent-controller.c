/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-agent-controller-private.h"

guint controller_signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MeshAgentController, mesh_agent_controller, G_TYPE_OBJECT)


/* What a peer or another user chose (names, messages), made harmless for a
 * terminal or a log line. */
char *
controller_shown (const char *text)
{
  return mesh_escape_for_display (text != NULL ? text : "(none)", -1);
}

/* Small records */

void
controller_op_free (Op *op)
{
  g_free (op->room_id);
  g_clear_object (&op->session);
  g_clear_object (&op->path);
  g_free (op->name);
  g_free (op->share_id);
  g_clear_pointer (&op->devices, g_ptr_array_unref);
  g_free (op->cap_token);
  g_clear_object (&op->host);
  if (op->timer != NULL) {
    g_source_destroy (op->timer);
    g_source_unref (op->timer);
  }
  g_clear_object (&op->deadline);
  g_free (op);
}

GSource *
controller_add_timeout (MeshAgentController *self,
                        guint                ms,
                        GSourceFunc          func,
                        gpointer             data,
                        GDestroyNotify       destroy)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, data, destroy);
  g_source_attach (source, self->context);
  return source;
}

/* WebSocket output, through the session */

char *
controller_send_event (MeshAgentController *self,
                       const char          *type,
                       JsonObject          *payload)
{
  g_autoptr(GError) error = NULL;
  char *id;

  if (self->session == NULL) {
    g_debug ("not connected: %s dropped", type);
    return NULL;
  }
  id = mesh_client_session_send_event (self->session, type, NULL, payload, &error);
  if (id == NULL)
    g_debug ("%s dropped: %s", type, error->message);
  return id;
}

void
controller_send_simple (MeshAgentController *self,
                        const char          *type,
                        const char          *key,
                        const char          *value)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = NULL;

  json_object_set_string_member (payload, key, value);
  id = controller_send_event (self, type, payload);
}

/* Rooms and members: the session's model; the controller keeps the names
 * of the rooms it listed, to resolve a room given by name. */

const MeshPeerInfo *
controller_room_peer (MeshAgentController *self,
                      const char          *room_id,
                      const char          *peer_id)
{
  if (self->session == NULL || room_id == NULL || peer_id == NULL)
    return NULL;
  return mesh_client_session_lookup_room_peer (self->session, room_id, peer_id);
}

/* Copies of the room's connected peers (MeshPeerInfo), maybe empty. */
GPtrArray *
controller_room_peers (MeshAgentController *self,
                       const char          *room_id)
{
  if (self->session == NULL)
    return g_ptr_array_new ();
  return mesh_client_session_dup_room_peers (self->session, room_id);
}

static void
set_ready (MeshAgentController *self)
{
  if (self->ready)
    return;
  self->ready = TRUE;
  g_signal_emit (self, controller_signals[SIGNAL_READY], 0);
}

const char *
controller_payload_string (JsonObject *payload,
                           const char *member)
{
  const char *value = NULL;

  mesh_json_get_string (payload, member, FALSE, &value, NULL);
  return value;
}

/* Where each running share of a room is hosted, from our own room.joined
 * (`shares`) or a terminal.share.started, so that a viewer asks that
 * device only. */
void
controller_note_share_host (MeshAgentController *self,
                            JsonObject          *share)
{
  const char *share_id = controller_payload_string (share, "share_id");
  const char *device_id = controller_payload_string (share, "host_device_id");

  if (share_id != NULL && device_id != NULL)
    g_hash_table_replace (self->share_hosts, g_strdup (share_id), g_strdup (device_id));
}

static void
note_share_hosts (MeshAgentController *self,
                  JsonObject          *payload)
{
  JsonArray *shares = NULL;

  if (!mesh_json_get_array (payload, "shares", FALSE, &shares, NULL) || shares == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (shares); i++) {
    JsonNode *node = json_array_get_element (shares, i);

    if (JSON_NODE_HOLDS_OBJECT (node))
      controller_note_share_host (self, json_node_get_object (node));
  }
}

/* Our own room.joined names the shares running in the room; the
 * session keeps the members. */
static void
handle_room_joined (MeshAgentController *self,
                    JsonObject          *payload)
{
  if (g_strcmp0 (controller_payload_string (payload, "peer_id"), self->peer_id) == 0)
    note_share_hosts (self, payload);
}

static void
on_room_joined (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = user_data;
  /* NULL once the controller stopped (it may be gone). */
  MeshAgentController *self = g_object_get_data (source, "mesh-agent-controller");

  if (!mesh_client_session_join_room_finish (MESH_CLIENT_SESSION (source), result, &error) &&
      self != NULL) {
    g_autofree char *shown = controller_shown (error->message);

    g_message ("Cannot join room %s: %s", room_id, shown);
  }
  if (self == NULL)
    return;
  /* Each room counts once, whichever connection answered. */
  if (g_hash_table_remove (self->joining, room_id) && g_hash_table_size (self->joining) == 0 &&
      self->peer_id != NULL)
    set_ready (self);
}

static void
join_room (MeshAgentController *self,
           const char          *room_id)
{
  g_hash_table_add (self->joining, g_strdup (room_id));
  mesh_client_session_join_room_async (self->session, room_id, self->cancellable, on_room_joined,
                                       g_strdup (room_id));
}

static void
on_rooms_listed (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  MeshAgentController *self = user_data;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(GError) error = NULL;

  rooms = mesh_client_rest_list_rooms_finish (MESH_CLIENT_REST (source), result, &error);
  if (rooms == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_warning ("Cannot list the rooms: %s", error->message);
      /* Not ready without the rooms: try again with a new connection. */
      if (self->session != NULL)
        mesh_client_session_drop (self->session, error);
    }
    return;
  }
  g_hash_table_remove_all (self->rooms);
  g_hash_table_remove_all (self->joining);
  for (guint i = 0; i < rooms->len; i++) {
    MeshRoom *listed = g_ptr_array_index (rooms, i);

    g_hash_table_replace (self->rooms, g_strdup (mesh_room_get_room_id (listed)),
                          g_strdup (mesh_room_get_name (listed)));
  }
  /* Joined already (the session joins its rooms again after a reconnect)
   * or joined now. */
  for (guint i = 0; i < rooms->len; i++)
    join_room (self, mesh_room_get_room_id (g_ptr_array_index (rooms, i)));
  if (g_hash_table_size (self->joining) == 0 && self->peer_id != NULL)
    set_ready (self);
}

static void
on_devices_listed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  MeshAgentController *self = user_data;
  g_autoptr(GPtrArray) devices = NULL;

  devices = mesh_client_rest_list_devices_finish (MESH_CLIENT_REST (source), result, NULL);
  if (devices == NULL)
    return;
  g_clear_pointer (&self->own_devices, g_ptr_array_unref);
  self->own_devices = g_steal_pointer (&devices);
}

/* Control-plane events */

GTask *
controller_take_pending (MeshAgentController *self,
                         const char          *ref)
{
  gpointer key = NULL;
  gpointer task = NULL;

  if (ref == NULL || !g_hash_table_steal_extended (self->pending, ref, &key, &task))
    return NULL;
  g_free (key);
  return task;
}

typedef struct {
  GWeakRef  self;
  char     *id;
} PendingTimeout;

static void
pending_timeout_free (PendingTimeout *timeout)
{
  g_weak_ref_clear (&timeout->self);
  g_free (timeout->id);
  g_free (timeout);
}

static gboolean
on_pending_timeout (gpointer user_data)
{
  PendingTimeout *timeout = user_data;
  g_autoptr(MeshAgentController) self = g_weak_ref_get (&timeout->self);
  g_autoptr(GTask) task = NULL;

  if (self == NULL || self->pending == NULL)
    return G_SOURCE_REMOVE;
  task = controller_take_pending (self, timeout->id);
  if (task != NULL)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                             "the server did not answer within %d s", PENDING_TIMEOUT_S);
  return G_SOURCE_REMOVE;
}

/* Takes @id and @task. */
void
controller_add_pending (MeshAgentController *self,
                        char                *id,
                        GTask               *task)
{
  PendingTimeout *timeout = g_new0 (PendingTimeout, 1);

  g_weak_ref_init (&timeout->self, self);
  timeout->id = g_strdup (id);
  g_hash_table_replace (self->pending, id, task);
  g_source_unref (controller_add_timeout (self, PENDING_TIMEOUT_S * 1000, on_pending_timeout,
                                          timeout, (GDestroyNotify) pending_timeout_free));
}

static void
handle_error (MeshAgentController *self,
              JsonObject          *payload)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  MeshErrorCode code = MESH_ERROR_INTERNAL;
  const char *ref = controller_payload_string (payload, "ref");
  const char *wire = controller_payload_string (payload, "code");
  const char *message = controller_payload_string (payload, "message");
  MeshP2pSession *session;

  if (wire != NULL)
    mesh_error_code_from_string (wire, &code);
  error = g_error_new (MESH_ERROR, code, "%s: %s", wire != NULL ? wire : "error",
                       message != NULL ? message : "no message");

  task = controller_take_pending (self, ref);
  if (task != NULL) {
    Op *op = g_task_get_task_data (task);

    /* A share's host is found by asking each agent of the room in turn. */
    if (code == MESH_ERROR_UNROUTABLE && op->devices != NULL &&
        op->next_device < op->devices->len) {
      controller_request_session (self, g_steal_pointer (&task));
      return;
    }
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (ref != NULL && g_hash_table_remove (self->reports, ref)) {
    g_autofree char *text = controller_shown (error->message);

    g_debug ("completion report not taken: %s", text);
    return;
  }
  session = ref != NULL ? g_hash_table_lookup (self->sessions, ref) : NULL;
  if (session != NULL && (session->role == MESH_P2P_ROLE_CLIENT)) {
    controller_session_finish (session, error);
    return;
  }
  {
    g_autofree char *text = controller_shown (error->message);

    g_message ("The server reported %s", text);
  }
}

/* The connection: MeshClientSession's, with its reconnect policy */

static void
fail_pending (MeshAgentController *self,
              const GError        *error)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer task;

  /* Taken out first: completing a task may queue a new request. */
  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, NULL, &task)) {
    g_ptr_array_add (tasks, g_object_ref (task));
    g_hash_table_iter_remove (&iter);
  }
  for (guint i = 0; i < tasks->len; i++)
    g_task_return_error (g_ptr_array_index (tasks, i), g_error_copy (error));
}

/* Welcomed, on the first connection or after a reconnect: the session
 * joins the rooms it knows again by itself; the rooms and devices are
 * listed again (they may have changed while we were away) and every room
 * is joined before "ready". */
static void
on_welcomed (MeshAgentController *self)
{
  g_free (self->peer_id);
  self->peer_id = g_strdup (mesh_client_session_get_peer_id (self->session));
  g_free (self->user_id);
  self->user_id = g_strdup (mesh_client_session_get_user_id (self->session));
  g_hash_table_remove_all (self->reports);
  mesh_client_rest_list_devices_async (self->rest, self->cancellable, on_devices_listed, self);
  mesh_client_rest_list_rooms_async (self->rest, self->cancellable, on_rooms_listed, self);
}

static void
on_session_state (MeshClientSession   *session,
                  GParamSpec          *pspec,
                  MeshAgentController *self)
{
  if (mesh_client_session_get_state (session) == MESH_CLIENT_SESSION_CONNECTED)
    on_welcomed (self);
}

/* An attempt failed or the connection dropped; the session retries unless
 * "fatal-error" follows. */
static void
on_connection_error (MeshClientSession   *session,
                     GError              *error,
                     MeshAgentController *self)
{
  self->ready = FALSE;
  g_clear_pointer (&self->peer_id, g_free);
  /* Our room.joined copies on the next connection say again which shares
   * run (the session joins its rooms again before the rooms are listed). */
  g_hash_table_remove_all (self->share_hosts);
  fail_pending (self, error);
  g_signal_emit (self, controller_signals[SIGNAL_DISCONNECTED], 0, error);
}

static void
on_fatal_error (MeshClientSession   *session,
                GError              *error,
                MeshAgentController *self)
{
  g_autoptr(GError) fatal = NULL;

  /* Said in the agent's words: its token is a device token. */
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED))
    fatal = g_error_new (MESH_ERROR, MESH_ERROR_UNAUTHORIZED,
                         "The server refused the device token: log in again (%s)",
                         error->message);
  else if (error->domain == MESH_ERROR)
    fatal = g_error_new (MESH_ERROR, error->code, "The server refused this agent: %s",
                         error->message);
  else
    fatal = g_error_copy (error);
  self->running = FALSE;
  fail_pending (self, fatal);
  g_signal_emit (self, controller_signals[SIGNAL_FATAL], 0, fatal);
}

/* What the agent hears on its WebSocket; other events are not for it. */
static const struct {
  const char *type;
  void      (*handle) (MeshAgentController *self,
                       JsonObject          *payload);
} agent_handlers[] = {
  { MESH_EVENT_ROOM_JOINED,               handle_room_joined },
  { MESH_EVENT_P2P_SESSION_CREATED,       controller_handle_session_created },
  { MESH_EVENT_P2P_SESSION_ACCEPT,        controller_handle_session_accept },
  { MESH_EVENT_ERROR,                     handle_error },
  { MESH_EVENT_TERMINAL_SHARE_STARTED,    controller_handle_share_started },
  { MESH_EVENT_TERMINAL_SHARE_STOPPED,    controller_handle_share_stopped },
  { MESH_EVENT_TERMINAL_CONTROL_REQUEST,  controller_handle_control_request },
  { MESH_EVENT_TERMINAL_CONTROL_GRANTED,  controller_handle_control_granted },
  { MESH_EVENT_TERMINAL_CONTROL_RELEASED, controller_handle_control_released },
  { MESH_EVENT_TERMINAL_CONTROL_DENIED,   controller_handle_control_denied },
};

static void
on_session_event (MeshClientSession   *session,
                  const char          *type,
                  const char          *from,
                  JsonObject          *payload,
                  MeshAgentController *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (agent_handlers); i++) {
    if (g_str_equal (type, agent_handlers[i].type)) {
      agent_handlers[i].handle (self, payload);
      return;
    }
  }
}

static GStrv
local_addresses (MeshAgentController *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GList) addresses = NULL;
  GInetAddress *bound = g_inet_socket_address_get_address (self->quic_address);

  /* Only a wildcard bind is reachable on the machine's other addresses. */
  if (!g_inet_address_get_is_any (bound))
    return g_strv_builder_end (builder);
  addresses = g_resolver_lookup_by_name (g_resolver_get_default (), g_get_host_name (), NULL, NULL);
  for (GList *l = addresses; l != NULL; l = l->next) {
    GInetAddress *address = l->data;

    if (!g_inet_address_get_is_loopback (address) && !g_inet_address_get_is_link_local (address) &&
        g_inet_address_get_family (address) == g_inet_address_get_family (bound)) {
      g_autofree char *text = g_inet_address_to_string (address);

      g_strv_builder_add (builder, text);
    }
  }
  g_list_free_full (g_steal_pointer (&addresses), g_object_unref);
  return g_strv_builder_end (builder);
}

/* The agent's part of each hello (protocol §3.1): where its QUIC endpoint
 * listens, as it is at this attempt, and whether it runs for one command. */
static void
on_prepare_hello (MeshClientSession   *session,
                  JsonObject          *hello,
                  MeshAgentController *self)
{
  g_autoptr(JsonObject) quic = json_object_new ();
  g_autoptr(JsonArray) addrs = json_array_new ();
  g_auto(GStrv) local = local_addresses (self);

  for (guint i = 0; local[i] != NULL; i++)
    json_array_add_string_element (addrs, local[i]);
  json_object_set_int_member (quic, "port", mesh_quic_endpoint_get_port (self->endpoint));
  json_object_set_string_member (quic, "fingerprint",
                                 mesh_agent_identity_get_fingerprint (self->identity));
  json_object_set_array_member (quic, "addrs", g_steal_pointer (&addrs));
  json_object_set_object_member (hello, "quic", g_steal_pointer (&quic));
  if (self->transient)
    json_object_set_boolean_member (hello, "transient", TRUE);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* Failures went to "connection-error" (and "fatal-error") already. */
  if (!mesh_client_session_connect_finish (MESH_CLIENT_SESSION (source), result, &error))
    g_debug ("first attempt: %s", error->message);
}

static void
connect_session (MeshAgentController *self)
{
  self->session = mesh_client_session_new_agent (self->rest);
  mesh_client_session_set_retry_first (self->session, self->reconnect);
  g_object_set_data (G_OBJECT (self->session), "mesh-agent-controller", self);
  g_signal_connect (self->session, "prepare-hello", G_CALLBACK (on_prepare_hello), self);
  g_signal_connect (self->session, "notify::state", G_CALLBACK (on_session_state), self);
  g_signal_connect (self->session, "connection-error", G_CALLBACK (on_connection_error), self);
  g_signal_connect (self->session, "fatal-error", G_CALLBACK (on_fatal_error), self);
  g_signal_connect (self->session, "event", G_CALLBACK (on_session_event), self);
  mesh_client_session_connect_async (self->session, NULL, on_connected, NULL);
}

static void
disconnect_session (MeshAgentController *self)
{
  g_autoptr(MeshClientSession) session = g_steal_pointer (&self->session);

  if (session == NULL)
    return;
  g_signal_handlers_disconnect_by_data (session, self);
  g_object_set_data (G_OBJECT (session), "mesh-agent-controller", NULL);
  mesh_client_session_disconnect (session);
}

gboolean
controller_require_ready (MeshAgentController  *self,
                          GTask                *task)
{
  if (self->ready)
    return TRUE;
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           "not connected to the server yet");
  return FALSE;
}

/* GObject */

static void
mesh_agent_controller_dispose (GObject *object)
{
  MeshAgentController *self = MESH_AGENT_CONTROLLER (object);

  mesh_agent_controller_stop (self);
  if (self->endpoint != NULL) {
    g_signal_handlers_disconnect_by_data (self->endpoint, self);
    mesh_quic_endpoint_shutdown (self->endpoint);
  }
  g_clear_object (&self->endpoint);
  g_clear_pointer (&self->shares, g_hash_table_unref);
  g_clear_pointer (&self->viewed, g_hash_table_unref);
  g_clear_pointer (&self->share_hosts, g_hash_table_unref);
  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_pointer (&self->connections, g_ptr_array_unref);
  g_clear_object (&self->rest);

  G_OBJECT_CLASS (mesh_agent_controller_parent_class)->dispose (object);
}

static void
mesh_agent_controller_finalize (GObject *object)
{
  MeshAgentController *self = MESH_AGENT_CONTROLLER (object);

  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->reports, g_hash_table_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->joining, g_hash_table_unref);
  g_clear_pointer (&self->own_devices, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->cap_key);
  g_clear_object (&self->download_dir);
  g_clear_object (&self->quic_address);
  g_clear_object (&self->state);
  g_clear_object (&self->identity);
  g_strfreev (self->accept_from);
  g_strfreev (self->allow_control);
  g_free (self->peer_id);
  g_free (self->user_id);
  g_free (self->username);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (mesh_agent_controller_parent_class)->finalize (object);
}

static void
mesh_agent_controller_class_init (MeshAgentControllerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GType type = G_TYPE_FROM_CLASS (klass);

  object_class->dispose = mesh_agent_controller_dispose;
  object_class->finalize = mesh_agent_controller_finalize;

  /* Connected, welcomed and in every room of the user. */
  controller_signals[SIGNAL_READY] =
    g_signal_new ("ready", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* The WebSocket went away; a reconnect follows unless "fatal" is emitted. */
  controller_signals[SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_ERROR);
  /* No more tries: MESH_ERROR_UNAUTHORIZED / FORBIDDEN (the device is refused), or the first
   * connection failed without reconnect. */
  controller_signals[SIGNAL_FATAL] =
    g_signal_new ("fatal", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_ERROR);
  /* (session_id, kind, role "client"|"server", name or share_id, peer username) after P2P_OK. */
  controller_signals[SIGNAL_SESSION_STARTED] =
    g_signal_new ("session-started", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  5, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /* (session_id, done, total) */
  controller_signals[SIGNAL_SESSION_PROGRESS] =
    g_signal_new ("session-progress", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  3, G_TYPE_STRING, G_TYPE_UINT64, G_TYPE_UINT64);
  /* (session_id, kind, role, ok, bytes, error or NULL) */
  controller_signals[SIGNAL_SESSION_FINISHED] =
    g_signal_new ("session-finished", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  6, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_UINT64,
                  G_TYPE_ERROR);
  /* (session_id, kind, peer username, reason): an offer our policy refused. */
  controller_signals[SIGNAL_SESSION_REJECTED] =
    g_signal_new ("session-rejected", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /* (share_id, controller peer_id or NULL) */
  controller_signals[SIGNAL_CONTROL_CHANGED] =
    g_signal_new ("control-changed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_STRING, G_TYPE_STRING);
  /* (share_id, reason or NULL) */
  controller_signals[SIGNAL_CONTROL_DENIED] =
    g_signal_new ("control-denied", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_STRING, G_TYPE_STRING);
  /* (share_id): a share we host or view ended. */
  controller_signals[SIGNAL_SHARE_STOPPED] =
    g_signal_new ("share-stopped", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  1, G_TYPE_STRING);
  /* (session_id, kind, room_id, peer username, peer device_id, name, size): an offer to
   * answer with mesh_agent_controller_answer_offer() (set_ask_offers). */
  controller_signals[SIGNAL_SESSION_OFFERED] =
    g_signal_new ("session-offered", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  7, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                  G_TYPE_STRING, G_TYPE_UINT64);
  /* (session_id, file): where a received file or folder now is, before "session-finished". */
  controller_signals[SIGNAL_SESSION_SAVED] =
    g_signal_new ("session-saved", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_STRING, G_TYPE_FILE);
  /* (share_id, peer_id, username): a viewer asks for control of a share hosted here; answer
   * with mesh_agent_controller_answer_control() (set_ask_control). */
  controller_signals[SIGNAL_CONTROL_REQUESTED] =
    g_signal_new ("control-requested", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /* (session): a session this controller runs from now on, in either role (offers
   * refused by the policy are not); watch its properties. */
  controller_signals[SIGNAL_SESSION_ADDED] =
    g_signal_new ("session-added", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, MESH_TYPE_P2P_SESSION);
}

static void
mesh_agent_controller_init (MeshAgentController *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->reconnect = TRUE;
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->joining = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->own_devices = g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_client_device_free);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->reports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          g_object_unref);
  self->connections = g_ptr_array_new_with_free_func (g_object_unref);
  self->shares = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) controller_share_free);
  self->viewed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        g_object_unref);
  self->share_hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->cancellable = g_cancellable_new ();
}

/* Public API */

MeshAgentController *
mesh_agent_controller_new (MeshAgentState    *state,
                           MeshAgentIdentity *identity)
{
  MeshAgentController *self;
  g_autofree char *download = NULL;
  const char *xdg;

  g_return_val_if_fail (MESH_IS_AGENT_STATE (state), NULL);
  g_return_val_if_fail (MESH_IS_AGENT_IDENTITY (identity), NULL);

  self = g_object_new (MESH_TYPE_AGENT_CONTROLLER, NULL);
  self->state = g_object_ref (state);
  self->identity = g_object_ref (identity);
  xdg = g_get_user_special_dir (G_USER_DIRECTORY_DOWNLOAD);
  download = xdg != NULL ? g_strdup (xdg) : g_build_filename (g_get_home_dir (), "Downloads", NULL);
  self->download_dir = g_file_new_for_path (download);
  return self;
}

void
mesh_agent_controller_set_download_dir (MeshAgentController *self,
                                        GFile               *dir)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (G_IS_FILE (dir));

  g_set_object (&self->download_dir, dir);
}

/* Whether file and folder offers are considered at all (`mesh-agent run`). */
void
mesh_agent_controller_set_accept_offers (MeshAgentController *self,
                                         gboolean             accept)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->accept_offers = accept;
}

/* Users whose offers are accepted, besides the agent's own user. */
void
mesh_agent_controller_set_accept_from (MeshAgentController *self,
                                       const char * const  *usernames)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  g_strfreev (self->accept_from);
  self->accept_from = g_strdupv ((char **) usernames);
}

/* Users granted control of our terminal shares when they ask; others are denied. */
void
mesh_agent_controller_set_allow_control (MeshAgentController *self,
                                         const char * const  *usernames)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  g_strfreev (self->allow_control);
  self->allow_control = g_strdupv ((char **) usernames);
}

/* Whether the first connection retries when the server cannot be reached (default TRUE).
 * Once welcomed, a lost connection is always retried with backoff. */
void
mesh_agent_controller_set_reconnect (MeshAgentController *self,
                                     gboolean             reconnect)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->reconnect = reconnect;
}

/* A one-off command (send, a terminal share from the shell): the server
 * does not report the device offline when it exits.  Before start. */
void
mesh_agent_controller_set_transient (MeshAgentController *self,
                                     gboolean             transient)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->transient = transient;
}

/* Shortens session tokens below the server's expires_in (0: as the server says). */
void
mesh_agent_controller_set_max_token_lifetime (MeshAgentController *self,
                                              guint                seconds)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->max_token_lifetime = seconds;
}

/* Where the QUIC endpoint listens; default 0.0.0.0 on a free port. */
void
mesh_agent_controller_set_quic_address (MeshAgentController *self,
                                        GInetSocketAddress  *address)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (self->endpoint == NULL);

  g_set_object (&self->quic_address, address);
}

gboolean
mesh_agent_controller_start (MeshAgentController  *self,
                             GError              **error)
{
  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), FALSE);

  if (!mesh_agent_state_is_registered (self->state)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED,
                         "this agent is not registered: run `mesh-agent login` first");
    return FALSE;
  }
  if (self->running)
    return TRUE;
  if (self->endpoint == NULL) {
    if (self->quic_address == NULL) {
      g_autoptr(GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);

      self->quic_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (any, 0));
    }
    self->endpoint = mesh_quic_endpoint_new (self->identity, self->quic_address, error);
    if (self->endpoint == NULL)
      return FALSE;
    g_signal_connect (self->endpoint, "incoming-connection",
                      G_CALLBACK (controller_on_incoming_connection), self);
  }
  /* REST goes through libmesh-client, with the device token and the
   * certificate the user accepted. */
  g_clear_object (&self->rest);
  self->rest = mesh_client_rest_new (mesh_agent_state_get_server_url (self->state));
  mesh_client_rest_set_access_token (self->rest, mesh_agent_state_get_device_token (self->state));
  mesh_client_rest_set_pinned_fingerprint (self->rest,
                                           mesh_agent_state_get_server_fingerprint (self->state));
  self->running = TRUE;
  connect_session (self);
  return TRUE;
}

/* Leaves the server and ends every session; the controller can start again. */
void
mesh_agent_controller_stop (MeshAgentController *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GList) sessions = NULL;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->running = FALSE;
  self->ready = FALSE;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();

  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the agent stopped");
  if (self->pending != NULL)
    fail_pending (self, error);
  if (self->sessions != NULL) {
    sessions = g_hash_table_get_values (self->sessions);
    for (GList *l = sessions; l != NULL; l = l->next) {
      MeshP2pSession *session = l->data;

      g_object_ref (session);
      g_cancellable_cancel (session->cancellable);
      controller_session_finish (session, error);
      session->controller = NULL;
      g_object_unref (session);
    }
    g_hash_table_remove_all (self->sessions);
  }
  if (self->viewed != NULL)
    g_hash_table_remove_all (self->viewed);
  if (self->shares != NULL) {
    GHashTableIter iter;
    Share *share;

    g_hash_table_iter_init (&iter, self->shares);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &share)) {
      for (guint i = 0; i < share->viewers->len; i++)
        ((MeshP2pSession *) share->viewers->pdata[i])->controller = NULL;
    }
    g_hash_table_remove_all (self->shares);
  }
  disconnect_session (self);
  if (self->joining != NULL)
    g_hash_table_remove_all (self->joining);
  g_clear_pointer (&self->peer_id, g_free);
}

gboolean
mesh_agent_controller_is_ready (MeshAgentController *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), FALSE);
  return self->ready;
}

const char *
mesh_agent_controller_get_peer_id (MeshAgentController *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  return self->peer_id;
}

const char *
mesh_agent_controller_get_device_id (MeshAgentController *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  return mesh_agent_state_get_device_id (self->state);
}

guint16
mesh_agent_controller_get_quic_port (MeshAgentController *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), 0);
  return self->endpoint != NULL ? mesh_quic_endpoint_get_port (self->endpoint) : 0;
}

/* Joins a room the user entered after the agent connected. */
void
mesh_agent_controller_join_room (MeshAgentController *self,
                                 const char          *room_id)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (room_id != NULL);

  if (!self->ready || g_hash_table_contains (self->rooms, room_id))
    return;
  g_hash_table_replace (self->rooms, g_strdup (room_id), NULL);
  join_room (self, room_id);
}

/* A member's user name as the server told us, or NULL. */
const char *
mesh_agent_controller_get_peer_username (MeshAgentController *self,
                                         const char          *room_id,
                                         const char          *peer_id)
{
  const MeshPeerInfo *peer;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (room_id != NULL && peer_id != NULL, NULL);

  peer = controller_room_peer (self, room_id, peer_id);
  return peer != NULL ? peer->username : NULL;
}
