/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-agent-controller.h"
#include "mesh-agent-session.h"
#include "mesh-cap-token.h"
#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-file-transfer.h"
#include "mesh-folder-transfer.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-quic-endpoint.h"
#include "mesh-terminal-host.h"

#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

#define RECONNECT_FIRST_MS   500
#define RECONNECT_MAX_MS     (60 * 1000)
#define HELLO_TIMEOUT_S      10
#define CONNECT_TIMEOUT_S    10
#define TERM_COLS            80
#define TERM_ROWS            24
#define CONNECTION_DEVICE_KEY "mesh-peer-device-id"

enum {
  SIGNAL_READY,
  SIGNAL_DISCONNECTED,
  SIGNAL_FATAL,
  SIGNAL_SESSION_STARTED,
  SIGNAL_SESSION_PROGRESS,
  SIGNAL_SESSION_FINISHED,
  SIGNAL_SESSION_REJECTED,
  SIGNAL_CONTROL_CHANGED,
  SIGNAL_CONTROL_DENIED,
  SIGNAL_SHARE_STOPPED,
  SIGNAL_SESSION_OFFERED,
  SIGNAL_SESSION_SAVED,
  SIGNAL_CONTROL_REQUESTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef struct {
  char *peer_id;
  char *user_id;
  char *username;
  char *device_id;  /* NULL for clients */
} Member;

typedef struct {
  char       *room_id;
  char       *name;
  GHashTable *members;  /* peer_id → Member */
} Room;

typedef struct _Session Session;

typedef struct {
  char             *share_id;
  char             *room_id;
  MeshTerminalHost *host;
  char             *controller_peer_id;  /* as the server last said; NULL: nobody */
  char             *granted_peer_id;     /* whom we last granted control, before the server says so */
  Session          *controller;          /* the viewer session holding control, borrowed */
  GPtrArray        *viewers;             /* Session*, owned */
} Share;

/* One P2P session (§5), in either role. */
struct _Session {
  MeshAgentController *controller;    /* borrowed; NULL once the controller is gone */
  char                *session_id;
  char                *kind;
  char                *room_id;
  char                *peer_device_id;
  char                *peer_user_id;
  char                *peer_username;
  char                *token;
  char                *peer_fingerprint;
  JsonObject          *meta;
  JsonObject          *endpoints;
  gint64               max_size;
  gint64               max_rate;      /* bytes/s, 0: none; paces file and folder data */
  gboolean             is_client;
  gint64               expires_at;    /* monotonic µs; server role */
  gboolean             expected;      /* the peer's fingerprint is registered with the endpoint */
  gboolean             token_used;
  gboolean             started;
  gboolean             finished;
  gboolean             asking;        /* server role: waiting for the user's answer */
  gboolean             cancelled;     /* our user cancelled: the connection closes saying so */
  gboolean             accepted;      /* server role: our policy or our user said yes */
  GFile               *download_dir;  /* server role: where the user chose to save */
  guint64              bytes;
  GSource             *expiry;
  GTask               *task;          /* client role: the caller's operation */
  GCancellable        *cancellable;
  GCancellable        *attempt;       /* the QUIC connection attempt under way */
  GPtrArray           *candidates;    /* GSocketAddress* of the peer, in order */
  guint                next_candidate;
  MeshQuicConnection  *connection;
  GIOStream           *stream;
  GObject             *engine;
  GFile               *path;
  char                *share_id;      /* terminal */
  char                *viewer_id;     /* terminal host side */
  JsonObject          *early_control; /* TERM_CONTROL that came before the server's grant */
};

/* What a pending request (p2p.session.request, terminal.share.start) is for. */
typedef struct {
  char             *room_id;
  char             *kind;
  GFile            *path;
  char             *name;
  guint64           size;
  char             *share_id;
  GPtrArray        *devices;   /* candidate target devices */
  guint             next_device;
  char             *cap_token;
  MeshTerminalHost *host;
  GCancellable     *deadline;  /* a step with a time limit */
  GSource          *timer;
} Op;

struct _MeshAgentController {
  GObject                  parent_instance;

  GMainContext            *context;
  MeshAgentState          *state;
  MeshAgentIdentity       *identity;
  SoupSession             *soup;
  MeshQuicEndpoint        *endpoint;
  GInetSocketAddress      *quic_address;
  SoupWebsocketConnection *ws;
  GCancellable            *cancellable;   /* everything of the current connection */
  char                    *peer_id;
  char                    *user_id;
  char                    *username;
  GHashTable              *rooms;          /* room_id → Room */
  GPtrArray               *own_devices;    /* JsonObject* from GET /devices */
  guint                    joins_pending;
  gboolean                 running;
  gboolean                 ready;
  gboolean                 reconnect;
  gboolean                 transient;      /* a one-off command: said in the hello */
  guint                    backoff_step;
  GSource                 *reconnect_source;
  GHashTable              *pending;        /* envelope id → GTask */
  GHashTable              *reports;        /* ids of p2p.session.completed we sent */
  GHashTable              *sessions;       /* session_id → Session */
  GPtrArray               *connections;    /* incoming MeshQuicConnection */
  GHashTable              *shares;         /* share_id → Share (hosted here) */
  GHashTable              *viewed;         /* share_id → Session (viewed from here) */
  GHashTable              *share_hosts;    /* share_id → host device_id, of the rooms' shares */
  MeshCapKey              *cap_key;
  GFile                   *download_dir;
  GStrv                    accept_from;
  GStrv                    allow_control;
  gboolean                 accept_offers;
  gboolean                 ask_offers;
  gboolean                 ask_control;
  guint                    max_token_lifetime;
};

G_DEFINE_FINAL_TYPE (MeshAgentController, mesh_agent_controller, G_TYPE_OBJECT)

static void connect_ws (MeshAgentController *self);
static void session_finish (Session *session, const GError *error);
static void session_connect_next (Session *session);
static void session_abort_stream (Session *session);
static void on_caller_cancelled (GCancellable *cancellable, gpointer user_data);

/* What a peer or another user chose (names, messages), made harmless for a
 * terminal or a log line. */
static char *
shown (const char *text)
{
  return mesh_escape_for_display (text != NULL ? text : "(none)", -1);
}

/* Small records */

static void
member_free (Member *member)
{
  g_free (member->peer_id);
  g_free (member->user_id);
  g_free (member->username);
  g_free (member->device_id);
  g_free (member);
}

static void
room_free (Room *room)
{
  g_free (room->room_id);
  g_free (room->name);
  g_hash_table_unref (room->members);
  g_free (room);
}

static void
op_free (Op *op)
{
  g_free (op->room_id);
  g_free (op->kind);
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

static Session *
session_ref (Session *session)
{
  return g_rc_box_acquire (session);
}

static void
session_clear (Session *session)
{
  g_free (session->session_id);
  g_free (session->kind);
  g_free (session->room_id);
  g_free (session->peer_device_id);
  g_free (session->peer_user_id);
  g_free (session->peer_username);
  g_free (session->token);
  g_free (session->peer_fingerprint);
  g_clear_pointer (&session->meta, json_object_unref);
  g_clear_pointer (&session->endpoints, json_object_unref);
  if (session->expiry != NULL) {
    g_source_destroy (session->expiry);
    g_source_unref (session->expiry);
  }
  g_clear_object (&session->task);
  g_clear_object (&session->cancellable);
  g_clear_object (&session->attempt);
  g_clear_pointer (&session->candidates, g_ptr_array_unref);
  /* The connection can outlive the session (the endpoint holds it). */
  if (session->connection != NULL)
    g_signal_handlers_disconnect_by_data (session->connection, session);
  g_clear_object (&session->connection);
  g_clear_object (&session->stream);
  if (session->engine != NULL)
    g_signal_handlers_disconnect_by_data (session->engine, session);
  g_clear_object (&session->engine);
  g_clear_object (&session->path);
  g_clear_object (&session->download_dir);
  g_free (session->share_id);
  g_free (session->viewer_id);
  g_clear_pointer (&session->early_control, json_object_unref);
}

static void
session_unref (Session *session)
{
  g_rc_box_release_full (session, (GDestroyNotify) session_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Session, session_unref)

static void
share_free (Share *share)
{
  if (share->host != NULL) {
    g_signal_handlers_disconnect_by_data (share->host, share);
    mesh_terminal_host_stop (share->host);
  }
  g_clear_object (&share->host);
  g_free (share->share_id);
  g_free (share->room_id);
  g_free (share->controller_peer_id);
  g_free (share->granted_peer_id);
  g_ptr_array_unref (share->viewers);
  g_free (share);
}

static GSource *
add_timeout (MeshAgentController *self,
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

/* WebSocket output */

static char *
send_event (MeshAgentController *self,
            const char          *type,
            JsonObject          *payload)
{
  g_autoptr(MeshEnvelope) env = mesh_envelope_new (type, NULL, NULL, payload);
  g_autofree char *text = NULL;
  gsize len;

  if (self->ws == NULL || soup_websocket_connection_get_state (self->ws) != SOUP_WEBSOCKET_STATE_OPEN) {
    g_debug ("not connected: %s dropped", type);
    return NULL;
  }
  text = mesh_envelope_to_string (env, &len);
  soup_websocket_connection_send_text (self->ws, text);
  return g_strdup (env->id);
}

static void
send_simple (MeshAgentController *self,
             const char          *type,
             const char          *key,
             const char          *value)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = NULL;

  json_object_set_string_member (payload, key, value);
  id = send_event (self, type, payload);
}

static void
report_completed (Session *session,
                  gboolean ok)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = NULL;

  if (session->controller == NULL)
    return;
  json_object_set_string_member (payload, "session_id", session->session_id);
  json_object_set_int_member (payload, "bytes", (gint64) session->bytes);
  json_object_set_boolean_member (payload, "ok", ok);
  id = send_event (session->controller, "p2p.session.completed", payload);
  /* The server forgets a session once its other side left: an error then is expected. */
  if (id != NULL)
    g_hash_table_add (session->controller->reports, g_steal_pointer (&id));
}

/* Rooms and members */

static Member *
member_from_json (JsonObject *obj)
{
  const char *peer_id = NULL, *user_id = NULL, *username = NULL, *device_id = NULL;
  Member *member;

  if (!mesh_json_get_string (obj, "peer_id", TRUE, &peer_id, NULL))
    return NULL;
  mesh_json_get_string (obj, "user_id", FALSE, &user_id, NULL);
  mesh_json_get_string (obj, "username", FALSE, &username, NULL);
  mesh_json_get_string (obj, "device_id", FALSE, &device_id, NULL);
  member = g_new0 (Member, 1);
  member->peer_id = g_strdup (peer_id);
  member->user_id = g_strdup (user_id);
  member->username = g_strdup (username);
  member->device_id = g_strdup (device_id);
  return member;
}

static Member *
room_find_device (Room       *room,
                  const char *device_id)
{
  GHashTableIter iter;
  Member *member;

  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &member)) {
    if (g_strcmp0 (member->device_id, device_id) == 0)
      return member;
  }
  return NULL;
}

static void
set_ready (MeshAgentController *self)
{
  if (self->ready)
    return;
  self->ready = TRUE;
  g_signal_emit (self, signals[SIGNAL_READY], 0);
}

static const char *
payload_string (JsonObject *payload,
                const char *member)
{
  const char *value = NULL;

  mesh_json_get_string (payload, member, FALSE, &value, NULL);
  return value;
}

/* Where each running share of a room is hosted, from our own room.joined
 * (`shares`) or a terminal.share.started, so that a viewer asks that
 * device only. */
static void
note_share_host (MeshAgentController *self,
                 JsonObject          *share)
{
  const char *share_id = payload_string (share, "share_id");
  const char *device_id = payload_string (share, "host_device_id");

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
      note_share_host (self, json_node_get_object (node));
  }
}

static void
handle_room_joined (MeshAgentController *self,
                    JsonObject          *payload)
{
  const char *room_id = NULL;
  JsonArray *members = NULL;
  Member *member;
  Room *room;

  if (!mesh_json_get_string (payload, "room_id", TRUE, &room_id, NULL) ||
      (room = g_hash_table_lookup (self->rooms, room_id)) == NULL)
    return;
  mesh_json_get_array (payload, "members", FALSE, &members, NULL);
  note_share_hosts (self, payload);
  if (members != NULL) {
    g_hash_table_remove_all (room->members);
    for (guint i = 0; i < json_array_get_length (members); i++) {
      JsonNode *node = json_array_get_element (members, i);

      if (JSON_NODE_HOLDS_OBJECT (node) &&
          (member = member_from_json (json_node_get_object (node))) != NULL)
        g_hash_table_replace (room->members, member->peer_id, member);
    }
    if (self->joins_pending > 0 && --self->joins_pending == 0)
      set_ready (self);
    return;
  }
  member = member_from_json (payload);
  if (member != NULL)
    g_hash_table_replace (room->members, member->peer_id, member);
}

static void
handle_room_left (MeshAgentController *self,
                  JsonObject          *payload)
{
  const char *room_id = NULL, *peer_id = NULL;
  Room *room;

  if (!mesh_json_get_string (payload, "room_id", TRUE, &room_id, NULL) ||
      !mesh_json_get_string (payload, "peer_id", TRUE, &peer_id, NULL) ||
      (room = g_hash_table_lookup (self->rooms, room_id)) == NULL)
    return;
  g_hash_table_remove (room->members, peer_id);
}

static void
on_rooms_listed (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  MeshAgentController *self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *array;

  node = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &error);
  if (node == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_warning ("Cannot list the rooms: %s", error->message);
      if (self->ws != NULL)
        soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    }
    return;
  }
  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    g_warning ("GET /rooms did not answer a list");
    return;
  }
  array = json_node_get_array (node);
  g_hash_table_remove_all (self->rooms);
  /* Our room.joined copies say again which shares run. */
  g_hash_table_remove_all (self->share_hosts);
  self->joins_pending = 0;
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *element = json_array_get_element (array, i);
    const char *room_id = NULL, *name = NULL;
    Room *room;

    if (!JSON_NODE_HOLDS_OBJECT (element) ||
        !mesh_json_get_string (json_node_get_object (element), "room_id", TRUE, &room_id, NULL))
      continue;
    mesh_json_get_string (json_node_get_object (element), "name", FALSE, &name, NULL);
    room = g_new0 (Room, 1);
    room->room_id = g_strdup (room_id);
    room->name = g_strdup (name);
    room->members = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) member_free);
    g_hash_table_replace (self->rooms, room->room_id, room);
    self->joins_pending++;
    send_simple (self, "room.join", "room_id", room_id);
  }
  if (self->joins_pending == 0)
    set_ready (self);
}

static void
on_devices_listed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  MeshAgentController *self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *array;

  node = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &error);
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return;
  array = json_node_get_array (node);
  g_ptr_array_set_size (self->own_devices, 0);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *element = json_array_get_element (array, i);

    if (JSON_NODE_HOLDS_OBJECT (element))
      g_ptr_array_add (self->own_devices, json_object_ref (json_node_get_object (element)));
  }
}

/* Sessions: common */

static const char *
session_role (Session *session)
{
  return session->is_client ? "client" : "server";
}

static const char *
session_name (Session *session)
{
  const char *name = NULL;

  if (session->meta != NULL)
    mesh_json_get_string (session->meta, "name", FALSE, &name, NULL);
  return name != NULL ? name : session->share_id;
}

static void
on_session_progress (GObject *engine,
                     guint64  done,
                     guint64  total,
                     gpointer user_data)
{
  Session *session = user_data;

  session->bytes = done;
  if (session->controller != NULL)
    g_signal_emit (session->controller, signals[SIGNAL_SESSION_PROGRESS], 0, session->session_id,
                   done, total);
}

/* The client's connection carries only this session: after a cancel its
 * close says so too, since it may reach the peer before the stream's reset. */
static void
session_close_connection (Session *session)
{
  if (!session->is_client || session->connection == NULL)
    return;
  if (session->cancelled)
    mesh_quic_connection_close (session->connection, MESH_QUIC_STREAM_CANCELLED, "cancelled");
  else
    mesh_quic_connection_close (session->connection, 0, "session done");
}

static void
on_connection_closed_after_session (GObject      *source,
                                    GAsyncResult *result,
                                    gpointer      user_data)
{
  g_autoptr(Session) session = user_data;

  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
  /* The client ends the connection once its stream is acknowledged. */
  session_close_connection (session);
}

static void
session_close_stream (Session *session)
{
  if (session->stream == NULL || g_io_stream_is_closed (session->stream) || session->cancelled) {
    session_close_connection (session);
    return;
  }
  g_io_stream_close_async (session->stream, G_PRIORITY_DEFAULT, NULL,
                           on_connection_closed_after_session, session_ref (session));
}

static void
session_forget_peer (Session *session)
{
  if (session->expected && session->controller != NULL && session->controller->endpoint != NULL)
    mesh_quic_endpoint_forget_peer (session->controller->endpoint, session->peer_fingerprint);
  session->expected = FALSE;
}

/* Ends a session once: tells the server, the caller and the signal's listeners. */
static void
session_finish (Session      *session,
                const GError *error)
{
  MeshAgentController *self = session->controller;
  g_autoptr(Session) hold = session_ref (session);
  gboolean ok = error == NULL;

  if (session->finished)
    return;
  session->finished = TRUE;
  session_forget_peer (session);
  if (session->attempt != NULL)
    g_cancellable_cancel (session->attempt);
  /* The filtered stream's callback holds the session: break the cycle. */
  if (MESH_IS_AGENT_SESSION_STREAM (session->stream))
    mesh_agent_session_stream_disconnect (MESH_AGENT_SESSION_STREAM (session->stream));

  if (!ok) {
    g_autofree char *message = shown (error->message);

    g_debug ("session %s failed: %s", session->session_id, message);
  }
  if (session->started || session->is_client)
    report_completed (session, ok);
  if (self != NULL)
    g_signal_emit (self, signals[SIGNAL_SESSION_FINISHED], 0, session->session_id, session->kind,
                   session_role (session), ok, session->bytes, error);

  if (session->task != NULL) {
    GTask *task = g_steal_pointer (&session->task);

    if (error != NULL)
      g_task_return_error (task, g_error_copy (error));
    else if (g_str_equal (session->kind, "terminal"))
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "the terminal share ended");
    else
      g_task_return_boolean (task, TRUE);
    g_object_unref (task);
  }

  /* Engines other than terminal ones leave the stream to us. */
  if (!g_str_equal (session->kind, "terminal"))
    session_close_stream (session);
  else if (session->is_client && session->connection != NULL)
    mesh_quic_connection_close (session->connection, 0, "terminal closed");

  if (self != NULL && (session->is_client || session->expiry == NULL))
    g_hash_table_remove (self->sessions, session->session_id);
  if (self != NULL && session->share_id != NULL && session->is_client)
    g_hash_table_remove (self->viewed, session->share_id);
}

/* Sessions: the server role (B) */

/* A declined or expired offer: its token stops working, and whatever runs for
 * it stops and leaves nothing behind.  (hello_check refuses a session before
 * it was accepted, so normally nothing runs.) */
static void
session_withdraw (Session *session)
{
  session->accepted = FALSE;
  session_forget_peer (session);
  if (session->engine != NULL && MESH_IS_FILE_RECEIVER (session->engine))
    mesh_file_receiver_discard (MESH_FILE_RECEIVER (session->engine));
  g_cancellable_cancel (session->cancellable);
  if (session->stream != NULL && !g_io_stream_is_closed (session->stream))
    g_io_stream_close_async (session->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

static gboolean
on_session_expired (gpointer user_data)
{
  Session *session = user_data;
  MeshAgentController *self = session->controller;

  g_clear_pointer (&session->expiry, g_source_unref);
  session_forget_peer (session);
  if (self == NULL)
    return G_SOURCE_REMOVE;
  if (session->asking) {
    g_autoptr(JsonObject) reject = json_object_new ();
    g_autofree char *id = NULL;

    session->asking = FALSE;
    session_withdraw (session);
    json_object_set_string_member (reject, "session_id", session->session_id);
    json_object_set_string_member (reject, "reason", "the offer expired");
    id = send_event (self, "p2p.session.reject", reject);
    g_signal_emit (self, signals[SIGNAL_SESSION_REJECTED], 0, session->session_id, session->kind,
                   session->peer_username, "the offer expired");
  }
  /* The record stays while the session runs (it can be cancelled); the token
   * is dead either way. */
  if (!session->started || session->finished)
    g_hash_table_remove (self->sessions, session->session_id);
  return G_SOURCE_REMOVE;
}

static gboolean
user_in (const char         *username,
         const char * const *list)
{
  return username != NULL && list != NULL && g_strv_contains (list, username);
}

/* Whether we take this session; NULL when yes, else the reason. */
static const char *
policy_refuses (MeshAgentController *self,
                Session             *session)
{
  if (g_str_equal (session->kind, "terminal")) {
    if (session->share_id == NULL || !g_hash_table_contains (self->shares, session->share_id))
      return "no such terminal share on this device";
    return NULL;
  }
  if (!self->accept_offers)
    return "this agent does not receive files";
  if (g_strcmp0 (session->peer_user_id, self->user_id) == 0 ||
      user_in (session->peer_username, (const char * const *) self->accept_from))
    return NULL;
  return "the sender is not in this agent's --accept-from list";
}

static gboolean
tokens_equal (const char *a,
              const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  /* Constant time over the expected token's length. */
  for (gsize i = 0; i < lb; i++)
    diff |= (guint8) (b[i] ^ (i < la ? a[i] : 0));
  return diff == 0;
}

typedef struct {
  MeshAgentController *self;
  MeshQuicConnection  *connection;
  GIOStream           *stream;
  MeshFrameReader     *reader;
  GCancellable        *cancellable;
  GSource             *timeout;
  Session             *session;
  char                *deny_reason;
} Hello;

static void
hello_free (Hello *hello)
{
  if (hello->timeout != NULL) {
    g_source_destroy (hello->timeout);
    g_source_unref (hello->timeout);
  }
  g_object_unref (hello->self);
  g_object_unref (hello->connection);
  g_object_unref (hello->stream);
  g_object_unref (hello->reader);
  g_object_unref (hello->cancellable);
  g_clear_pointer (&hello->session, session_unref);
  g_free (hello->deny_reason);
  g_free (hello);
}

static void
on_denied_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

static void
on_deny_written (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Hello *hello = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  g_io_stream_close_async (hello->stream, G_PRIORITY_DEFAULT, NULL, on_denied_closed, NULL);
  hello_free (hello);
}

static void
hello_deny (Hello      *hello,
            const char *reason)
{
  g_autoptr(MeshFrameWriter) writer = mesh_frame_writer_get_for_stream (hello->stream);
  g_autoptr(JsonObject) deny = mesh_frame_p2p_deny_new (reason);

  g_message ("Refused a P2P_HELLO: %s", reason);
  mesh_frame_writer_write_control_async (writer, deny, NULL, on_deny_written, hello);
}

/* Host side: a viewer presents its terminal:control token (docs/agent.md). */
/* Whether @peer_id (a member of the share's room) is the device at the other
 * end of @session. */
static gboolean
peer_is_session_device (MeshAgentController *self,
                        Share               *share,
                        const char          *peer_id,
                        Session             *session)
{
  Room *room = g_hash_table_lookup (self->rooms, share->room_id);
  Member *member = room != NULL && peer_id != NULL ? g_hash_table_lookup (room->members, peer_id)
                                                   : NULL;

  return member != NULL && g_strcmp0 (member->device_id, session->peer_device_id) == 0;
}

static void
on_term_control (JsonObject *control,
                 gpointer    user_data)
{
  Session *session = user_data;
  MeshAgentController *self = session->controller;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  const MeshCapClaims *claims;
  const char *cap_token = NULL;
  Share *share;

  if (self == NULL || session->finished ||
      (share = g_hash_table_lookup (self->shares, session->share_id)) == NULL)
    return;

  if (!mesh_json_get_string (control, "cap_token", FALSE, &cap_token, &error)) {
    /* error set */
  } else if (self->cap_key == NULL) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_INTERNAL, "no server key to check tokens");
  } else if ((claims = mesh_cap_key_check (self->cap_key, cap_token, share->room_id,
                                           MESH_CAP_TERMINAL_CONTROL, NULL,
                                           mesh_agent_state_get_device_id (self->state), 0,
                                           &error)) == NULL) {
    /* error set */
  } else if (g_strcmp0 (claims->sub, session->peer_user_id) != 0) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "the token was issued to another user");
  } else if (g_strcmp0 (share->controller_peer_id, share->granted_peer_id) != 0 &&
             peer_is_session_device (self, share, share->granted_peer_id, session)) {
    /* The viewer's token travelled faster than the server's
     * terminal.control.granted to us: check it again once that arrives. */
    g_clear_pointer (&session->early_control, json_object_unref);
    session->early_control = json_object_ref (control);
    return;
  } else if (!peer_is_session_device (self, share, share->controller_peer_id, session)) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "this viewer does not hold terminal control");
  } else if (mesh_terminal_host_set_controller (share->host, session->viewer_id, &error)) {
    share->controller = session;
    g_debug ("viewer %s of share %s now controls it", session->viewer_id, share->share_id);
    return;
  }

  writer = mesh_frame_writer_get_for_stream (session->stream);
  {
    g_autoptr(JsonObject) reply = mesh_frame_error_new_from_gerror (error);

    mesh_frame_writer_write_control_async (writer, reply, NULL, NULL, NULL);
  }
}

static void
share_note_grant (Share      *share,
                  const char *peer_id)
{
  g_free (share->granted_peer_id);
  share->granted_peer_id = g_strdup (peer_id);
}

static void
share_revoke (Share *share)
{
  share->controller = NULL;
  mesh_terminal_host_set_controller (share->host, NULL, NULL);
}

static void
on_viewer_removed (MeshTerminalHost *host,
                   const char       *viewer_id,
                   gpointer          user_data)
{
  Share *share = user_data;

  for (guint i = 0; i < share->viewers->len; i++) {
    Session *session = share->viewers->pdata[i];

    if (g_strcmp0 (session->viewer_id, viewer_id) == 0) {
      if (share->controller == session)
        share->controller = NULL;
      session_finish (session, NULL);
      g_ptr_array_remove_index_fast (share->viewers, i);
      return;
    }
  }
}

static void
on_file_received (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  MeshFileReceiver *receiver = MESH_FILE_RECEIVER (source);
  g_autoptr(GError) error = NULL;

  mesh_file_receiver_receive_finish (receiver, result, &error);
  session->bytes = mesh_file_receiver_get_bytes_done (receiver);
  if (error == NULL) {
    GFile *file = mesh_file_receiver_get_file (receiver);
    g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
    g_autofree char *name = shown (mesh_file_receiver_get_name (receiver));
    g_autofree char *user = shown (session->peer_username);
    g_autofree char *where = shown (path);

    g_set_object (&session->path, file);
    if (session->controller != NULL)
      g_signal_emit (session->controller, signals[SIGNAL_SESSION_SAVED], 0, session->session_id,
                     file);
    g_message ("Received “%s” from %s into %s (%" G_GUINT64_FORMAT " bytes, resumed at %"
               G_GUINT64_FORMAT ")", name, user, where, session->bytes,
               mesh_file_receiver_get_resumed_from (receiver));
  }
  session_finish (session, error);
}

static void
on_folder_received (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  MeshFolderReceiver *receiver = MESH_FOLDER_RECEIVER (source);
  g_autoptr(GError) error = NULL;

  mesh_folder_receiver_receive_finish (receiver, result, &error);
  if (error == NULL) {
    GFile *folder = mesh_folder_receiver_get_folder (receiver);
    g_autofree char *path = folder != NULL ? g_file_get_path (folder) : NULL;
    g_autofree char *name = shown (mesh_folder_receiver_get_name (receiver));
    g_autofree char *user = shown (session->peer_username);
    g_autofree char *where = shown (path);

    g_set_object (&session->path, folder);
    if (session->controller != NULL)
      g_signal_emit (session->controller, signals[SIGNAL_SESSION_SAVED], 0, session->session_id,
                     folder);
    g_message ("Received folder “%s” from %s into %s", name, user, where);
  }
  session_finish (session, error);
}

/* A sender whose connection broke sends the same file again in a new
 * session, often before we notice that the old one is dead.  The old one
 * gives up so that the new one can resume its .part (which is never shared:
 * the receiver locks it). */
static void
replace_older_sessions (Session *session)
{
  GHashTableIter iter;
  Session *other;

  g_hash_table_iter_init (&iter, session->controller->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &other)) {
    if (other == session || other->is_client || !other->started || other->finished ||
        !g_str_equal (other->kind, "file") ||
        g_strcmp0 (other->peer_device_id, session->peer_device_id) != 0 ||
        !json_object_equal (other->meta, session->meta))
      continue;
    g_debug ("session %s replaces session %s for the same file", session->session_id,
             other->session_id);
    g_cancellable_cancel (other->cancellable);
  }
}

static void
session_start_server_engine (Session *session)
{
  MeshAgentController *self = session->controller;
  GIOStream *stream = session->stream;
  const char *offered_name = NULL, *offered_hash = NULL;
  gint64 offered_size = -1;

  session->started = TRUE;
  g_signal_emit (self, signals[SIGNAL_SESSION_STARTED], 0, session->session_id, session->kind,
                 "server", session_name (session), session->peer_username);

  /* The receivers hold the data to the meta our user (or policy) accepted. */
  if (!g_str_equal (session->kind, "terminal") &&
      (!mesh_json_get_string (session->meta, "name", TRUE, &offered_name, NULL) ||
       !mesh_json_get_int (session->meta, "size", TRUE, &offered_size, NULL) ||
       offered_size < 0 ||
       !mesh_json_get_string (session->meta, "hash", FALSE, &offered_hash, NULL))) {
    g_autoptr(GError) error = g_error_new_literal (MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                                                   "the offer had no valid name and size");
    session_finish (session, error);
    return;
  }

  if (g_str_equal (session->kind, "terminal")) {
    Share *share = g_hash_table_lookup (self->shares, session->share_id);
    static const char * const intercept[] = { "TERM_CONTROL", NULL };
    g_autoptr(MeshAgentSessionStream) filtered = NULL;

    if (share == NULL) {
      g_autoptr(GError) error = g_error_new_literal (MESH_ERROR, MESH_ERROR_UNROUTABLE,
                                                     "the terminal share ended");
      session_finish (session, error);
      return;
    }
    filtered = mesh_agent_session_stream_new (stream, intercept, on_term_control,
                                              session_ref (session),
                                              (GDestroyNotify) session_unref);
    g_set_object (&session->stream, G_IO_STREAM (filtered));
    session->viewer_id = mesh_terminal_host_add_viewer (share->host, G_IO_STREAM (filtered), TRUE);
    g_ptr_array_add (share->viewers, session_ref (session));
    return;
  }

  if (session->max_rate > 0 &&
      MESH_IS_QUIC_STREAM (mesh_agent_session_stream_get_base (MESH_AGENT_SESSION_STREAM (stream))))
    mesh_quic_stream_set_receive_rate (MESH_QUIC_STREAM (mesh_agent_session_stream_get_base (
                                         MESH_AGENT_SESSION_STREAM (stream))), session->max_rate);
  if (g_str_equal (session->kind, "file")) {
    MeshFileReceiver *receiver;

    replace_older_sessions (session);
    receiver = mesh_file_receiver_new (stream, session->download_dir != NULL
                                                 ? session->download_dir : self->download_dir);

    if (session->max_size > 0)
      mesh_file_receiver_set_max_size (receiver, session->max_size);
    mesh_file_receiver_set_offer (receiver, offered_name, offered_size, offered_hash);
    session->engine = G_OBJECT (receiver);
    g_signal_connect (receiver, "progress", G_CALLBACK (on_session_progress), session);
    mesh_file_receiver_receive_async (receiver, session->cancellable, on_file_received,
                                      session_ref (session));
  } else {
    MeshFolderReceiver *receiver = mesh_folder_receiver_new (stream, session->download_dir != NULL
                                                                    ? session->download_dir
                                                                    : self->download_dir);

    if (session->max_size > 0)
      mesh_folder_receiver_set_max_size (receiver, session->max_size);
    mesh_folder_receiver_set_offer (receiver, offered_name, offered_size);
    session->engine = G_OBJECT (receiver);
    g_signal_connect (receiver, "progress", G_CALLBACK (on_session_progress), session);
    mesh_folder_receiver_receive_async (receiver, session->cancellable, on_folder_received,
                                        session_ref (session));
  }
}

static void
on_ok_written (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  g_autoptr(GError) error = NULL;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error)) {
    session_finish (session, error);
    return;
  }
  if (session->controller == NULL || session->finished)
    return;
  session_start_server_engine (session);
}

/* §6: checks P2P_HELLO against the session the server announced. */
static const char *
hello_check (Hello       *hello,
             JsonObject  *control,
             Session    **out)
{
  MeshAgentController *self = hello->self;
  const char *session_id, *token, *from_device_id;
  const char *fingerprint, *bound;
  Session *session;

  if (!mesh_frame_p2p_hello_parse (control, &session_id, &token, &from_device_id, NULL))
    return "the first frame must be a valid P2P_HELLO";
  session = g_hash_table_lookup (self->sessions, session_id);
  if (session == NULL || session->is_client)
    return "unknown or expired session";
  if (!tokens_equal (token, session->token))
    return "wrong session token";
  /* The peer holds the token as soon as the server created the session; only
   * our own answer makes it usable. */
  if (!session->accepted)
    return "the session was not accepted";
  if (session->token_used)
    return "the session token was already used";
  if (g_get_monotonic_time () >= session->expires_at)
    return "the session token expired";
  if (g_strcmp0 (from_device_id, session->peer_device_id) != 0)
    return "the session belongs to another device";
  fingerprint = mesh_quic_connection_get_peer_fingerprint (hello->connection);
  if (g_strcmp0 (fingerprint, session->peer_fingerprint) != 0)
    return "the certificate is not the session peer's";
  /* A connection serves the device of the first session it carried, even if
   * another device presents the same certificate. */
  bound = g_object_get_data (G_OBJECT (hello->connection), CONNECTION_DEVICE_KEY);
  if (bound != NULL && !g_str_equal (bound, session->peer_device_id))
    return "this connection belongs to another device's sessions";
  *out = session;
  return NULL;
}

static void
on_hello_frame (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Hello *hello = user_data;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(JsonObject) ok = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  Session *session = NULL;
  const char *reason, *t;
  MeshFrameType type;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    g_autofree char *message = shown (error->message);

    g_debug ("no P2P_HELLO: %s", message);
    g_io_stream_close_async (hello->stream, G_PRIORITY_DEFAULT, NULL, on_denied_closed, NULL);
    hello_free (hello);
    return;
  }
  if (type != MESH_FRAME_CONTROL ||
      (control = mesh_frame_control_parse (payload, &t, NULL)) == NULL) {
    hello_deny (hello, "the first frame must be a P2P_HELLO");
    return;
  }
  reason = hello_check (hello, control, &session);
  if (reason != NULL) {
    hello_deny (hello, reason);
    return;
  }

  session->token_used = TRUE;
  session_forget_peer (session);
  g_object_set_data_full (G_OBJECT (hello->connection), CONNECTION_DEVICE_KEY,
                          g_strdup (session->peer_device_id), g_free);
  g_set_object (&session->connection, hello->connection);
  g_set_object (&session->stream, hello->stream);
  writer = mesh_frame_writer_get_for_stream (hello->stream);
  ok = mesh_frame_p2p_ok_new ();
  mesh_frame_writer_write_control_async (writer, ok, session->cancellable, on_ok_written,
                                         session_ref (session));
  hello_free (hello);
}

static gboolean
on_hello_timeout (gpointer user_data)
{
  Hello *hello = user_data;

  g_clear_pointer (&hello->timeout, g_source_unref);
  g_cancellable_cancel (hello->cancellable);
  return G_SOURCE_REMOVE;
}

static void
on_new_stream (MeshQuicConnection *connection,
               MeshQuicStream     *stream,
               gpointer            user_data)
{
  MeshAgentController *self = user_data;
  Hello *hello = g_new0 (Hello, 1);

  hello->self = g_object_ref (self);
  hello->connection = g_object_ref (connection);
  hello->stream = G_IO_STREAM (mesh_agent_session_stream_new (G_IO_STREAM (stream), NULL, NULL,
                                                              NULL, NULL));
  hello->reader = mesh_frame_reader_get_for_stream (hello->stream);
  hello->cancellable = g_cancellable_new ();
  hello->timeout = add_timeout (self, HELLO_TIMEOUT_S * 1000, on_hello_timeout, hello, NULL);
  mesh_frame_reader_read_async (hello->reader, hello->cancellable, on_hello_frame, hello);
}

static void
on_incoming_closed (MeshQuicConnection *connection,
                    GError             *error,
                    gpointer            user_data)
{
  MeshAgentController *self = user_data;

  if (self->connections != NULL)
    g_ptr_array_remove (self->connections, connection);
}

static void
on_incoming_connection (MeshQuicEndpoint   *endpoint,
                        MeshQuicConnection *connection,
                        gpointer            user_data)
{
  MeshAgentController *self = user_data;

  g_ptr_array_add (self->connections, g_object_ref (connection));
  g_signal_connect_object (connection, "new-stream", G_CALLBACK (on_new_stream), self, 0);
  g_signal_connect_object (connection, "closed", G_CALLBACK (on_incoming_closed), self, 0);
}

/* Sessions: the client role (A) */

static void
on_file_sent (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  MeshFileSender *sender = MESH_FILE_SENDER (source);
  g_autoptr(GError) error = NULL;

  mesh_file_sender_send_finish (sender, result, &error);
  session->bytes = mesh_file_sender_get_bytes_done (sender);
  session_finish (session, error);
}

static void
on_folder_sent (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  MeshFolderSender *sender = MESH_FOLDER_SENDER (source);
  g_autoptr(GError) error = NULL;

  mesh_folder_sender_send_finish (sender, result, &error);
  if (error == NULL)
    session->bytes = mesh_folder_sender_get_zip_size (sender);
  session_finish (session, error);
}

static void
on_viewer_closed (MeshTerminalViewer *viewer,
                  GError             *error,
                  gpointer            user_data)
{
  session_finish (user_data, error);
}

static void
session_start_client_engine (Session *session)
{
  MeshAgentController *self = session->controller;
  GIOStream *stream = session->stream;

  session->started = TRUE;
  g_signal_emit (self, signals[SIGNAL_SESSION_STARTED], 0, session->session_id, session->kind,
                 "client", session_name (session), session->peer_username);

  if (g_str_equal (session->kind, "file")) {
    MeshFileSender *sender = mesh_file_sender_new (stream, session->path);
    g_autoptr(MeshHashCache) hashes =
      mesh_hash_cache_get_for_dir (mesh_agent_state_get_dir (self->state));

    mesh_file_sender_set_hash_cache (sender, hashes);
    session->engine = G_OBJECT (sender);
    g_signal_connect (sender, "progress", G_CALLBACK (on_session_progress), session);
    mesh_file_sender_send_async (sender, session->cancellable, on_file_sent, session_ref (session));
  } else if (g_str_equal (session->kind, "folder")) {
    MeshFolderSender *sender = mesh_folder_sender_new (stream, session->path);

    session->engine = G_OBJECT (sender);
    g_signal_connect (sender, "progress", G_CALLBACK (on_session_progress), session);
    mesh_folder_sender_send_async (sender, session->cancellable, on_folder_sent,
                                   session_ref (session));
  } else {
    MeshTerminalViewer *viewer = mesh_terminal_viewer_new (stream);
    GTask *task = g_steal_pointer (&session->task);

    session->engine = G_OBJECT (viewer);
    g_signal_connect (viewer, "closed", G_CALLBACK (on_viewer_closed), session);
    g_hash_table_replace (self->viewed, g_strdup (session->share_id), session_ref (session));
    g_task_return_pointer (task, g_object_ref (viewer), g_object_unref);
    g_object_unref (task);
    mesh_terminal_viewer_start (viewer);
  }
}

static void
on_reply_frame (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) control = NULL;
  MeshFrameType type;
  const char *t;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    session_finish (session, error);
    return;
  }
  if (session->finished)
    return;
  if (type != MESH_FRAME_CONTROL) {
    g_set_error (&error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "expected P2P_OK, got a %s frame",
                 mesh_frame_type_to_string (type));
  } else if ((control = mesh_frame_control_parse (payload, &t, &error)) != NULL) {
    mesh_frame_p2p_reply_parse (control, &error);
  }
  if (error != NULL) {
    session_finish (session, error);
    return;
  }
  session_start_client_engine (session);
}

static void
on_hello_written (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error)) {
    session_finish (session, error);
    return;
  }
  reader = mesh_frame_reader_get_for_stream (session->stream);
  mesh_frame_reader_read_async (reader, session->cancellable, on_reply_frame,
                                session_ref (session));
}

static void
on_client_connection_closed (MeshQuicConnection *connection,
                             GError             *error,
                             gpointer            user_data)
{
  Session *session = user_data;

  if (!session->finished && error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    session_finish (session, error);
}

static void
on_quic_connected (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(JsonObject) hello = NULL;

  connection = mesh_quic_endpoint_connect_finish (MESH_QUIC_ENDPOINT (source), result, &error);
  g_clear_object (&session->attempt);
  if (session->finished || session->controller == NULL) {
    if (connection != NULL)
      mesh_quic_connection_close (connection, 0, "session over");
    return;
  }
  if (connection == NULL) {
    g_debug ("session %s: candidate %u failed: %s", session->session_id,
             session->next_candidate, error->message);
    if (session->next_candidate < session->candidates->len) {
      session_connect_next (session);
      return;
    }
    g_prefix_error (&error, "Cannot reach the peer's agent: ");
    session_finish (session, error);
    return;
  }
  session->connection = g_object_ref (connection);
  g_signal_connect (connection, "closed", G_CALLBACK (on_client_connection_closed), session);
  stream = mesh_quic_connection_open_stream (connection, &error);
  if (stream == NULL) {
    session_finish (session, error);
    return;
  }
  if (session->max_rate > 0 && !g_str_equal (session->kind, "terminal"))
    mesh_quic_stream_set_send_rate (stream, session->max_rate);
  session->stream = G_IO_STREAM (mesh_agent_session_stream_new (G_IO_STREAM (stream), NULL, NULL,
                                                                NULL, NULL));
  writer = mesh_frame_writer_get_for_stream (session->stream);
  hello = mesh_frame_p2p_hello_new (session->session_id, session->token,
                                    mesh_agent_state_get_device_id (session->controller->state));
  mesh_frame_writer_write_control_async (writer, hello, session->cancellable, on_hello_written,
                                         session_ref (session));
}

static gboolean
on_attempt_timeout (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
on_attempt_cancelled (GCancellable *cancellable,
                      gpointer      user_data)
{
  g_source_destroy (user_data);
}

static void
session_connect_next (Session *session)
{
  MeshAgentController *self = session->controller;
  GSocketAddress *address = session->candidates->pdata[session->next_candidate++];
  g_autoptr(GSource) timeout = NULL;

  session->attempt = g_cancellable_new ();
  timeout = add_timeout (self, CONNECT_TIMEOUT_S * 1000, on_attempt_timeout,
                         g_object_ref (session->attempt), g_object_unref);
  g_cancellable_connect (session->attempt, G_CALLBACK (on_attempt_cancelled),
                         g_source_ref (timeout), (GDestroyNotify) g_source_unref);
  mesh_quic_endpoint_connect_async (self->endpoint, address, session->peer_fingerprint,
                                    session->attempt, on_quic_connected, session_ref (session));
}

static void
add_candidate (GPtrArray  *candidates,
               const char *ip,
               gint64      port)
{
  g_autoptr(GInetAddress) address = NULL;

  if (ip == NULL || port < 1 || port > 65535 ||
      (address = g_inet_address_new_from_string (ip)) == NULL)
    return;
  for (guint i = 0; i < candidates->len; i++) {
    GInetSocketAddress *known = candidates->pdata[i];

    if (g_inet_address_equal (g_inet_socket_address_get_address (known), address))
      return;
  }
  g_ptr_array_add (candidates, g_inet_socket_address_new (address, (guint16) port));
}

/* p2p.session.accept reached us (A): connect to B's addresses in turn. */
static void
session_accepted (Session *session)
{
  JsonObject *b = NULL;
  JsonArray *addrs = NULL;
  const char *ip = NULL;
  gint64 port = 0;

  session->candidates = g_ptr_array_new_with_free_func (g_object_unref);
  if (mesh_json_get_object (session->endpoints, "b", TRUE, &b, NULL) &&
      mesh_json_get_int (b, "port", TRUE, &port, NULL)) {
    mesh_json_get_string (b, "ip", FALSE, &ip, NULL);
    add_candidate (session->candidates, ip, port);
    mesh_json_get_array (b, "addrs", FALSE, &addrs, NULL);
    for (guint i = 0; addrs != NULL && i < json_array_get_length (addrs); i++) {
      JsonNode *node = json_array_get_element (addrs, i);

      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        add_candidate (session->candidates, json_node_get_string (node), port);
    }
  }
  if (session->candidates->len == 0) {
    g_autoptr(GError) error = g_error_new_literal (MESH_ERROR, MESH_ERROR_UNROUTABLE,
                                                   "the server gave no address for the peer");
    session_finish (session, error);
    return;
  }
  session_connect_next (session);
}

/* Control-plane events */

static GTask *
take_pending (MeshAgentController *self,
              const char          *ref)
{
  gpointer key = NULL;
  gpointer task = NULL;

  if (ref == NULL || !g_hash_table_steal_extended (self->pending, ref, &key, &task))
    return NULL;
  g_free (key);
  return task;
}

/* How long the server may take to answer a request (terminal.share.start,
 * p2p.session.request): it answers at once when it is alive, so a request
 * left unanswered fails with a clear error instead of waiting forever. */
#define PENDING_TIMEOUT_S 30

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
  task = take_pending (self, timeout->id);
  if (task != NULL)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                             "the server did not answer within %d s", PENDING_TIMEOUT_S);
  return G_SOURCE_REMOVE;
}

/* Takes @id and @task. */
static void
add_pending (MeshAgentController *self,
             char                *id,
             GTask               *task)
{
  PendingTimeout *timeout = g_new0 (PendingTimeout, 1);

  g_weak_ref_init (&timeout->self, self);
  timeout->id = g_strdup (id);
  g_hash_table_replace (self->pending, id, task);
  g_source_unref (add_timeout (self, PENDING_TIMEOUT_S * 1000, on_pending_timeout, timeout,
                               (GDestroyNotify) pending_timeout_free));
}

static void
handle_session_created (MeshAgentController *self,
                        JsonObject          *payload)
{
  g_autoptr(Session) session = NULL;
  g_autoptr(GTask) task = NULL;
  JsonObject *auth = NULL, *meta = NULL, *endpoints = NULL;
  const char *session_id, *kind, *role, *token, *fingerprint, *peer_device_id;
  gint64 expires_in = 0, max_size = 0, max_rate = 0;
  const char *reason;

  session_id = payload_string (payload, "session_id");
  kind = payload_string (payload, "kind");
  role = payload_string (payload, "role");
  peer_device_id = payload_string (payload, "peer_device_id");
  if (session_id == NULL || kind == NULL || role == NULL || peer_device_id == NULL ||
      !mesh_json_get_object (payload, "auth", TRUE, &auth, NULL) ||
      !mesh_json_get_object (payload, "meta", TRUE, &meta, NULL) ||
      !mesh_json_get_object (payload, "endpoints", TRUE, &endpoints, NULL) ||
      !mesh_json_get_int (payload, "expires_in", TRUE, &expires_in, NULL) ||
      (token = payload_string (auth, "session_token")) == NULL ||
      (fingerprint = payload_string (auth, "fingerprint")) == NULL ||
      !mesh_fingerprint_is_valid (fingerprint)) {
    g_warning ("Ignoring a malformed p2p.session.created");
    return;
  }
  mesh_json_get_int (payload, "max_size", FALSE, &max_size, NULL);
  mesh_json_get_int (payload, "max_rate", FALSE, &max_rate, NULL);

  session = g_rc_box_new0 (Session);
  session->controller = self;
  session->session_id = g_strdup (session_id);
  session->kind = g_strdup (kind);
  session->room_id = g_strdup (payload_string (payload, "room_id"));
  session->peer_device_id = g_strdup (peer_device_id);
  session->peer_user_id = g_strdup (payload_string (payload, "peer_user_id"));
  session->peer_username = g_strdup (payload_string (payload, "peer_username"));
  session->token = g_strdup (token);
  session->peer_fingerprint = g_strdup (fingerprint);
  session->meta = json_object_ref (meta);
  session->endpoints = json_object_ref (endpoints);
  session->max_size = max_size;
  session->max_rate = max_rate;
  session->share_id = g_strdup (payload_string (meta, "share_id"));
  session->cancellable = g_cancellable_new ();

  if (g_str_equal (role, "client")) {
    Op *op;

    task = take_pending (self, payload_string (payload, "ref"));
    if (task == NULL) {
      g_debug ("p2p.session.created %s answers nothing we asked", session_id);
      return;
    }
    op = g_task_get_task_data (task);
    session->is_client = TRUE;
    session->path = op->path != NULL ? g_object_ref (op->path) : NULL;
    session->task = g_steal_pointer (&task);
    /* The caller's cancel is its user's: the receiver hears of it. */
    if (g_task_get_cancellable (session->task) != NULL)
      g_cancellable_connect (g_task_get_cancellable (session->task),
                             G_CALLBACK (on_caller_cancelled), session_ref (session),
                             (GDestroyNotify) session_unref);
    g_hash_table_replace (self->sessions, session->session_id, session_ref (session));
    return;
  }

  /* The token lives as long as the server said, or less if we were told so. */
  if (self->max_token_lifetime > 0)
    expires_in = MIN (expires_in, (gint64) self->max_token_lifetime);
  expires_in = CLAMP (expires_in, 0, 3600);

  reason = policy_refuses (self, session);
  if (reason != NULL && self->ask_offers && !g_str_equal (kind, "terminal") &&
      g_hash_table_lookup (self->sessions, session_id) == NULL) {
    const char *name = payload_string (meta, "name");
    gint64 size = 0;

    /* The user decides before the token expires; silence is a refusal. */
    mesh_json_get_int (meta, "size", FALSE, &size, NULL);
    session->asking = TRUE;
    session->expires_at = g_get_monotonic_time () + expires_in * G_USEC_PER_SEC;
    session->expiry = add_timeout (self, (guint) expires_in * 1000, on_session_expired,
                                   session_ref (session), (GDestroyNotify) session_unref);
    g_hash_table_replace (self->sessions, session->session_id, session_ref (session));
    g_signal_emit (self, signals[SIGNAL_SESSION_OFFERED], 0, session_id, kind, session->room_id,
                   session->peer_username, peer_device_id, name != NULL ? name : "",
                   (guint64) MAX (size, 0));
    return;
  }
  if (reason != NULL) {
    g_autoptr(JsonObject) reject = json_object_new ();
    g_autofree char *id = NULL;

    json_object_set_string_member (reject, "session_id", session_id);
    json_object_set_string_member (reject, "reason", reason);
    id = send_event (self, "p2p.session.reject", reject);
    g_signal_emit (self, signals[SIGNAL_SESSION_REJECTED], 0, session_id, kind,
                   session->peer_username, reason);
    return;
  }

  session->expires_at = g_get_monotonic_time () + expires_in * G_USEC_PER_SEC;
  session->expiry = add_timeout (self, (guint) expires_in * 1000, on_session_expired,
                                 session_ref (session), (GDestroyNotify) session_unref);
  mesh_quic_endpoint_expect_peer (self->endpoint, fingerprint);
  session->expected = TRUE;
  session->accepted = TRUE;
  g_hash_table_replace (self->sessions, session->session_id, session_ref (session));
  send_simple (self, "p2p.session.accept", "session_id", session_id);
}

static void
handle_session_accept (MeshAgentController *self,
                       JsonObject          *payload)
{
  const char *session_id = payload_string (payload, "session_id");
  Session *session = session_id ? g_hash_table_lookup (self->sessions, session_id) : NULL;

  if (session == NULL || !session->is_client || session->candidates != NULL || session->finished)
    return;
  session_accepted (session);
}

static void request_session (MeshAgentController *self, GTask *task);

static void
handle_error (MeshAgentController *self,
              JsonObject          *payload)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  MeshErrorCode code = MESH_ERROR_INTERNAL;
  const char *ref = payload_string (payload, "ref");
  const char *wire = payload_string (payload, "code");
  const char *message = payload_string (payload, "message");
  Session *session;

  if (wire != NULL)
    mesh_error_code_from_string (wire, &code);
  error = g_error_new (MESH_ERROR, code, "%s: %s", wire != NULL ? wire : "error",
                       message != NULL ? message : "no message");

  task = take_pending (self, ref);
  if (task != NULL) {
    Op *op = g_task_get_task_data (task);

    /* A share's host is found by asking each agent of the room in turn. */
    if (code == MESH_ERROR_UNROUTABLE && op->devices != NULL &&
        op->next_device < op->devices->len) {
      request_session (self, g_steal_pointer (&task));
      return;
    }
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (ref != NULL && g_hash_table_remove (self->reports, ref)) {
    g_autofree char *text = shown (error->message);

    g_debug ("completion report not taken: %s", text);
    return;
  }
  session = ref != NULL ? g_hash_table_lookup (self->sessions, ref) : NULL;
  if (session != NULL && session->is_client) {
    session_finish (session, error);
    return;
  }
  {
    g_autofree char *text = shown (error->message);

    g_message ("The server reported %s", text);
  }
}

/* The shell ended: the share ends with it. */
static void
on_host_exited (MeshTerminalHost *host,
                int               status,
                gpointer          user_data)
{
  MeshAgentController *self = user_data;
  GHashTableIter iter;
  Share *share;

  g_hash_table_iter_init (&iter, self->shares);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &share)) {
    if (share->host == host) {
      g_autofree char *share_id = g_strdup (share->share_id);

      send_simple (self, "terminal.share.stop", "share_id", share_id);
      g_hash_table_iter_remove (&iter);
      g_signal_emit (self, signals[SIGNAL_SHARE_STOPPED], 0, share_id);
      return;
    }
  }
}

static void
handle_share_started (MeshAgentController *self,
                      JsonObject          *payload)
{
  g_autoptr(GTask) task = NULL;
  const char *share_id = payload_string (payload, "share_id");
  Share *share;
  Op *op;

  note_share_host (self, payload);
  task = take_pending (self, payload_string (payload, "ref"));
  if (task == NULL || share_id == NULL)
    return;
  op = g_task_get_task_data (task);
  share = g_new0 (Share, 1);
  share->share_id = g_strdup (share_id);
  share->room_id = g_strdup (op->room_id);
  share->host = g_steal_pointer (&op->host);
  share->viewers = g_ptr_array_new_with_free_func ((GDestroyNotify) session_unref);
  g_hash_table_replace (self->shares, share->share_id, share);
  g_signal_connect (share->host, "viewer-removed", G_CALLBACK (on_viewer_removed), share);
  g_signal_connect_object (share->host, "exited", G_CALLBACK (on_host_exited), self, 0);
  g_task_return_pointer (task, g_strdup (share_id), g_free);
}

static void
handle_share_stopped (MeshAgentController *self,
                      JsonObject          *payload)
{
  const char *share_id = payload_string (payload, "share_id");
  Session *viewed;

  if (share_id == NULL)
    return;
  g_hash_table_remove (self->share_hosts, share_id);
  if (g_hash_table_remove (self->shares, share_id))
    g_signal_emit (self, signals[SIGNAL_SHARE_STOPPED], 0, share_id);
  viewed = g_hash_table_lookup (self->viewed, share_id);
  if (viewed != NULL) {
    g_signal_emit (self, signals[SIGNAL_SHARE_STOPPED], 0, share_id);
    if (viewed->engine != NULL)
      mesh_terminal_viewer_close (MESH_TERMINAL_VIEWER (viewed->engine));
  }
}

static void
handle_control_request (MeshAgentController *self,
                        JsonObject          *payload)
{
  g_autoptr(JsonObject) answer = json_object_new ();
  g_autofree char *id = NULL;
  const char *share_id = payload_string (payload, "share_id");
  const char *peer_id = payload_string (payload, "peer_id");
  const char *username = payload_string (payload, "username");
  gboolean grant;

  if (share_id == NULL || peer_id == NULL || !g_hash_table_contains (self->shares, share_id))
    return;
  grant = user_in (username, (const char * const *) self->allow_control);
  if (!grant && self->ask_control) {
    g_signal_emit (self, signals[SIGNAL_CONTROL_REQUESTED], 0, share_id, peer_id, username);
    return;
  }
  if (grant)
    share_note_grant (g_hash_table_lookup (self->shares, share_id), peer_id);
  json_object_set_string_member (answer, "share_id", share_id);
  json_object_set_string_member (answer, "peer_id", peer_id);
  if (!grant)
    json_object_set_string_member (answer, "reason", "not in this host's --allow-control list");
  {
    g_autofree char *who = shown (username != NULL ? username : peer_id);

    g_message ("%s control of share %s to %s", grant ? "Granting" : "Denying", share_id, who);
  }
  id = send_event (self, grant ? "terminal.control.grant" : "terminal.control.deny", answer);
}

/* Input written from now on reaches the host after the token. */
static void
on_term_control_written (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(Session) session = user_data;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL) ||
      session->controller == NULL || session->finished)
    return;
  g_signal_emit (session->controller, signals[SIGNAL_CONTROL_CHANGED], 0, session->share_id,
                 session->controller->peer_id);
}

static void
on_control_cap (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(Session) session = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  const char *cap_token = NULL;

  node = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &error);
  if (session->finished || session->stream == NULL)
    return;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node) ||
      !mesh_json_get_string (json_node_get_object (node), "cap_token", TRUE, &cap_token, NULL)) {
    g_autofree char *message = shown (error != NULL ? error->message : "malformed answer");

    g_warning ("Cannot get a terminal:control token: %s", message);
    return;
  }
  control = mesh_frame_control_new ("TERM_CONTROL");
  json_object_set_string_member (control, "cap_token", cap_token);
  writer = mesh_frame_writer_get_for_stream (session->stream);
  mesh_frame_writer_write_control_async (writer, control, NULL, on_term_control_written,
                                         session_ref (session));
}

static void
handle_control_granted (MeshAgentController *self,
                        JsonObject          *payload)
{
  const char *share_id = payload_string (payload, "share_id");
  const char *controller = payload_string (payload, "controller_peer_id");
  Session *viewed;
  Share *share;

  if (share_id == NULL || controller == NULL)
    return;
  share = g_hash_table_lookup (self->shares, share_id);
  if (share != NULL) {
    g_free (share->controller_peer_id);
    share->controller_peer_id = g_strdup (controller);
    /* A grant to someone else ends the previous controller's input at once. */
    if (share->controller != NULL) {
      Room *room = g_hash_table_lookup (self->rooms, share->room_id);
      Member *member = room ? g_hash_table_lookup (room->members, controller) : NULL;

      if (member == NULL || g_strcmp0 (member->device_id, share->controller->peer_device_id) != 0)
        share_revoke (share);
    }
    for (guint i = 0; i < share->viewers->len; i++) {
      Session *viewer = share->viewers->pdata[i];
      g_autoptr(JsonObject) early = g_steal_pointer (&viewer->early_control);

      if (early != NULL)
        on_term_control (early, viewer);
    }
  }
  viewed = g_hash_table_lookup (self->viewed, share_id);
  if (viewed != NULL && g_strcmp0 (controller, self->peer_id) == 0) {
    g_autoptr(JsonObject) body = json_object_new ();
    g_autoptr(JsonArray) caps = json_array_new ();
    g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
    g_autofree char *path = g_strdup_printf ("/rooms/%s/caps", viewed->room_id);

    json_array_add_string_element (caps, MESH_CAP_TERMINAL_CONTROL);
    json_object_set_array_member (body, "caps", g_steal_pointer (&caps));
    json_object_set_string_member (body, "target_device_id", viewed->peer_device_id);
    json_node_set_object (node, body);
    mesh_agent_state_rest_async (self->state, self->soup, "POST", path, NULL, node,
                                 viewed->cancellable, on_control_cap, session_ref (viewed));
    /* "control-changed" follows once the token is on its way to the host. */
    return;
  }
  g_signal_emit (self, signals[SIGNAL_CONTROL_CHANGED], 0, share_id, controller);
}

static void
handle_control_released (MeshAgentController *self,
                         JsonObject          *payload)
{
  const char *share_id = payload_string (payload, "share_id");
  Share *share;

  if (share_id == NULL)
    return;
  share = g_hash_table_lookup (self->shares, share_id);
  if (share != NULL) {
    g_clear_pointer (&share->controller_peer_id, g_free);
    g_clear_pointer (&share->granted_peer_id, g_free);
    for (guint i = 0; i < share->viewers->len; i++)
      g_clear_pointer (&((Session *) share->viewers->pdata[i])->early_control, json_object_unref);
    share_revoke (share);
  }
  g_signal_emit (self, signals[SIGNAL_CONTROL_CHANGED], 0, share_id, NULL);
}

/* The WebSocket */

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

static void
emit_fatal (MeshAgentController *self,
            const GError        *error)
{
  self->running = FALSE;
  fail_pending (self, error);
  g_signal_emit (self, signals[SIGNAL_FATAL], 0, error);
}

static gboolean
on_reconnect (gpointer user_data)
{
  MeshAgentController *self = user_data;

  g_clear_pointer (&self->reconnect_source, g_source_unref);
  if (self->running)
    connect_ws (self);
  return G_SOURCE_REMOVE;
}

/* Exponential backoff with jitter: half of each wait fixed, half random. */
static void
schedule_reconnect (MeshAgentController *self)
{
  guint delay = RECONNECT_FIRST_MS << MIN (self->backoff_step, 10);

  delay = MIN (delay, RECONNECT_MAX_MS);
  self->backoff_step++;
  delay = delay / 2 + g_random_int_range (0, delay / 2 + 1);
  g_debug ("reconnecting in %u ms", delay);
  self->reconnect_source = add_timeout (self, delay, on_reconnect, self, NULL);
}

static void
connection_lost (MeshAgentController *self,
                 const GError        *error)
{
  gboolean was_welcomed = self->peer_id != NULL;

  self->ready = FALSE;
  g_clear_pointer (&self->peer_id, g_free);
  fail_pending (self, error);
  g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0, error);
  if (!self->running)
    return;
  /* A first connection that fails is fatal unless told to retry. */
  if (!self->reconnect && !was_welcomed && !self->backoff_step) {
    emit_fatal (self, error);
    return;
  }
  schedule_reconnect (self);
}

static void
handle_welcome (MeshAgentController *self,
                JsonObject          *payload)
{
  const char *peer_id = payload_string (payload, "peer_id");

  if (peer_id == NULL)
    return;
  g_free (self->peer_id);
  self->peer_id = g_strdup (peer_id);
  g_free (self->user_id);
  self->user_id = g_strdup (payload_string (payload, "user_id"));
  self->backoff_step = 1;
  g_hash_table_remove_all (self->reports);
  mesh_agent_state_rest_async (self->state, self->soup, "GET", "/devices", NULL, NULL,
                               self->cancellable, on_devices_listed, self);
  mesh_agent_state_rest_async (self->state, self->soup, "GET", "/rooms", NULL, NULL,
                               self->cancellable, on_rooms_listed, self);
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               gpointer                 user_data)
{
  MeshAgentController *self = user_data;
  g_autoptr(MeshEnvelope) env = NULL;
  g_autoptr(GError) error = NULL;
  const char *data;
  gsize len;

  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    return;
  data = g_bytes_get_data (message, &len);
  env = mesh_envelope_parse (data, len, &error);
  if (env == NULL) {
    g_warning ("Ignoring a malformed message from the server: %s", error->message);
    return;
  }

  if (g_str_equal (env->type, "system.welcome"))
    handle_welcome (self, env->payload);
  else if (g_str_equal (env->type, "room.joined"))
    handle_room_joined (self, env->payload);
  else if (g_str_equal (env->type, "room.left"))
    handle_room_left (self, env->payload);
  else if (g_str_equal (env->type, "p2p.session.created"))
    handle_session_created (self, env->payload);
  else if (g_str_equal (env->type, "p2p.session.accept"))
    handle_session_accept (self, env->payload);
  else if (g_str_equal (env->type, "error"))
    handle_error (self, env->payload);
  else if (g_str_equal (env->type, "terminal.share.started"))
    handle_share_started (self, env->payload);
  else if (g_str_equal (env->type, "terminal.share.stopped"))
    handle_share_stopped (self, env->payload);
  else if (g_str_equal (env->type, "terminal.control.request"))
    handle_control_request (self, env->payload);
  else if (g_str_equal (env->type, "terminal.control.granted"))
    handle_control_granted (self, env->payload);
  else if (g_str_equal (env->type, "terminal.control.released"))
    handle_control_released (self, env->payload);
  else if (g_str_equal (env->type, "terminal.control.denied"))
    g_signal_emit (self, signals[SIGNAL_CONTROL_DENIED], 0, payload_string (env->payload, "share_id"),
                   payload_string (env->payload, "reason"));
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              gpointer                 user_data)
{
  MeshAgentController *self = user_data;
  g_autoptr(GError) error = NULL;
  const char *reason = soup_websocket_connection_get_close_data (ws);
  gushort code = soup_websocket_connection_get_close_code (ws);

  g_signal_handlers_disconnect_by_data (ws, self);
  g_clear_object (&self->ws);
  /* The server closes a hello it refuses (version, device token, fingerprint). */
  if (self->peer_id == NULL && code == SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION)
    error = g_error_new (MESH_ERROR, MESH_ERROR_FORBIDDEN, "The server refused this agent: %s",
                         reason != NULL ? reason : "no reason");
  else
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         "The server closed the connection (%u %s)", code,
                         reason != NULL ? reason : "");
  if (self->peer_id == NULL && error->domain == MESH_ERROR) {
    emit_fatal (self, error);
    return;
  }
  connection_lost (self, error);
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

static void
on_ws_connected (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MeshAgentController) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) hello = json_object_new ();
  g_autoptr(JsonObject) quic = json_object_new ();
  g_autoptr(JsonArray) addrs = json_array_new ();
  g_auto(GStrv) local = NULL;
  g_autofree char *id = NULL;
  SoupWebsocketConnection *ws;
  SoupMessage *msg = g_object_get_data (G_OBJECT (self), "mesh-ws-message");
  guint status = msg != NULL ? soup_message_get_status (msg) : 0;

  ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  g_object_set_data (G_OBJECT (self), "mesh-ws-message", NULL);
  if (ws == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
      g_autoptr(GError) refused = g_error_new (MESH_ERROR, MESH_ERROR_UNAUTHORIZED,
                                               "The server refused the device token (%u): "
                                               "log in again", status);
      emit_fatal (self, refused);
      return;
    }
    connection_lost (self, error);
    return;
  }
  self->ws = ws;
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), self);

  local = local_addresses (self);
  for (guint i = 0; local[i] != NULL; i++)
    json_array_add_string_element (addrs, local[i]);
  json_object_set_int_member (quic, "port", mesh_quic_endpoint_get_port (self->endpoint));
  json_object_set_string_member (quic, "fingerprint",
                                 mesh_agent_identity_get_fingerprint (self->identity));
  json_object_set_array_member (quic, "addrs", g_steal_pointer (&addrs));
  json_object_set_string_member (hello, "peer_type", "agent");
  json_object_set_string_member (hello, "version", MESH_PROTOCOL_VERSION);
  json_object_set_object_member (hello, "quic", g_steal_pointer (&quic));
  if (self->transient)
    json_object_set_boolean_member (hello, "transient", TRUE);
  id = send_event (self, "system.hello", hello);
}

static void
connect_ws (MeshAgentController *self)
{
  g_autofree char *url = g_strconcat (mesh_agent_state_get_server_url (self->state), "/ws", NULL);
  g_autofree char *auth = g_strconcat ("Bearer ", mesh_agent_state_get_device_token (self->state),
                                       NULL);
  SoupMessage *msg = soup_message_new ("GET", url);

  g_return_if_fail (msg != NULL);
  mesh_agent_state_pin_message (self->state, msg);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  g_object_set_data_full (G_OBJECT (self), "mesh-ws-message", g_object_ref (msg), g_object_unref);
  soup_session_websocket_connect_async (self->soup, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        self->cancellable, on_ws_connected, g_object_ref (self));
  g_object_unref (msg);
}

/* Requests */

static void
request_session (MeshAgentController *self,
                 GTask               *task)
{
  Op *op = g_task_get_task_data (task);
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autoptr(JsonObject) meta = json_object_new ();
  const char *device_id = op->devices->pdata[op->next_device++];
  char *id;

  json_object_set_string_member (payload, "room_id", op->room_id);
  json_object_set_string_member (payload, "target_device_id", device_id);
  json_object_set_string_member (payload, "kind", op->kind);
  json_object_set_string_member (payload, "cap_token", op->cap_token);
  if (op->share_id != NULL) {
    json_object_set_string_member (meta, "share_id", op->share_id);
  } else {
    json_object_set_string_member (meta, "name", op->name);
    json_object_set_int_member (meta, "size", (gint64) op->size);
  }
  json_object_set_object_member (payload, "meta", g_steal_pointer (&meta));
  id = send_event (self, "p2p.session.request", payload);
  if (id == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                             "not connected to the server");
    g_object_unref (task);
    return;
  }
  add_pending (self, id, task);
}

static void
on_cap_issued (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshAgentController *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;
  const char *cap_token = NULL;

  node = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &error);
  if (node == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT (node) ||
      !mesh_json_get_string (json_node_get_object (node), "cap_token", TRUE, &cap_token, NULL)) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                             "the server's capability answer has no cap_token");
    return;
  }
  op->cap_token = g_strdup (cap_token);
  if (g_task_return_error_if_cancelled (task))
    return;
  request_session (self, g_steal_pointer (&task));
}

/* POST /rooms/{id}/caps for the op's kind (§4), then the request. */
static void
request_cap (MeshAgentController *self,
             GTask               *task,
             const char          *target_device_id)
{
  Op *op = g_task_get_task_data (task);
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonArray) caps = json_array_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *path = g_strdup_printf ("/rooms/%s/caps", op->room_id);

  json_array_add_string_element (caps, g_str_equal (op->kind, "terminal")
                                         ? MESH_CAP_TERMINAL_VIEW : op->kind);
  json_object_set_array_member (body, "caps", g_steal_pointer (&caps));
  if (target_device_id != NULL)
    json_object_set_string_member (body, "target_device_id", target_device_id);
  json_node_set_object (node, body);
  mesh_agent_state_rest_async (self->state, self->soup, "POST", path, NULL, node,
                               g_task_get_cancellable (task), on_cap_issued, task);
}

typedef struct {
  gboolean is_folder;
  guint64  size;
} Probe;

static __thread guint64 walk_total;

static int
walk_add (const char        *path,
          const struct stat *st,
          int                flag,
          struct FTW        *ftw)
{
  if (flag == FTW_F && S_ISREG (st->st_mode))
    walk_total += st->st_size;
  return 0;
}

/* What the session announces: a file's size, or the sum of a folder's
 * regular files (ZIP_META's total_bytes). */
static void
probe_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  g_autofree char *path = g_file_get_path (G_FILE (task_data));
  Probe *probe = g_new0 (Probe, 1);
  struct stat st;

  if (path == NULL || stat (path, &st) != 0) {
    int saved = path != NULL ? errno : ENOENT;

    g_free (probe);
    g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot read %s: %s",
                             path != NULL ? path : "(not a local file)", g_strerror (saved));
    return;
  }
  if (S_ISDIR (st.st_mode)) {
    probe->is_folder = TRUE;
    walk_total = 0;
    if (nftw (path, walk_add, 16, FTW_PHYS) != 0) {
      int saved = errno;

      g_free (probe);
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                               "Cannot read the folder %s: %s", path, g_strerror (saved));
      return;
    }
    probe->size = walk_total;
  } else if (S_ISREG (st.st_mode)) {
    probe->size = st.st_size;
  } else {
    g_free (probe);
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                             "%s is neither a file nor a folder", path);
    return;
  }
  g_task_return_pointer (task, probe, g_free);
}

static void
on_probed (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshAgentController *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autofree Probe *probe = NULL;
  GError *error = NULL;

  probe = g_task_propagate_pointer (G_TASK (result), &error);
  if (probe == NULL) {
    g_task_return_error (task, error);
    return;
  }
  op->kind = g_strdup (probe->is_folder ? "folder" : "file");
  op->size = probe->size;
  request_cap (self, g_steal_pointer (&task), op->devices->pdata[0]);
}

static gboolean
require_ready (MeshAgentController  *self,
               GTask                *task)
{
  if (self->ready)
    return TRUE;
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           "not connected to the server yet");
  return FALSE;
}

static gboolean
cancel_deadline (GCancellable *deadline)
{
  g_cancellable_cancel (deadline);
  return G_SOURCE_REMOVE;
}

/* Host side: the server's public key, for TERM_CONTROL tokens. */
static void
on_keys (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshAgentController *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonObject) payload = json_object_new ();
  GError *error = NULL;
  const char *pem = NULL;
  char *id;

  node = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &error);
  if (op->timer != NULL) {
    g_source_destroy (op->timer);
    g_clear_pointer (&op->timer, g_source_unref);
  }
  if (node == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_cancellable_is_cancelled (g_task_get_cancellable (task))) {
    g_clear_error (&error);
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "the server did not send its key within %d s", PENDING_TIMEOUT_S);
  }
  if (node == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT (node) ||
      !mesh_json_get_string (json_node_get_object (node), "public_key_pem", TRUE, &pem, &error)) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                             "the server's key answer has no public_key_pem");
    return;
  }
  g_clear_object (&self->cap_key);
  self->cap_key = mesh_cap_key_new_public (pem, &error);
  if (self->cap_key == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!mesh_terminal_host_start (op->host, TERM_COLS, TERM_ROWS, &error)) {
    g_task_return_error (task, error);
    return;
  }
  json_object_set_string_member (payload, "room_id", op->room_id);
  id = send_event (self, "terminal.share.start", payload);
  if (id == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                             "not connected to the server");
    return;
  }
  add_pending (self, id, g_steal_pointer (&task));
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
  g_clear_object (&self->soup);

  G_OBJECT_CLASS (mesh_agent_controller_parent_class)->dispose (object);
}

static void
mesh_agent_controller_finalize (GObject *object)
{
  MeshAgentController *self = MESH_AGENT_CONTROLLER (object);

  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->reports, g_hash_table_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
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
  signals[SIGNAL_READY] =
    g_signal_new ("ready", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* The WebSocket went away; a reconnect follows unless "fatal" is emitted. */
  signals[SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_ERROR);
  /* No more tries: MESH_ERROR_UNAUTHORIZED / FORBIDDEN (the device is refused), or the first
   * connection failed without reconnect. */
  signals[SIGNAL_FATAL] =
    g_signal_new ("fatal", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_ERROR);
  /* (session_id, kind, role "client"|"server", name or share_id, peer username) after P2P_OK. */
  signals[SIGNAL_SESSION_STARTED] =
    g_signal_new ("session-started", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  5, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /* (session_id, done, total) */
  signals[SIGNAL_SESSION_PROGRESS] =
    g_signal_new ("session-progress", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  3, G_TYPE_STRING, G_TYPE_UINT64, G_TYPE_UINT64);
  /* (session_id, kind, role, ok, bytes, error or NULL) */
  signals[SIGNAL_SESSION_FINISHED] =
    g_signal_new ("session-finished", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  6, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_UINT64,
                  G_TYPE_ERROR);
  /* (session_id, kind, peer username, reason): an offer our policy refused. */
  signals[SIGNAL_SESSION_REJECTED] =
    g_signal_new ("session-rejected", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /* (share_id, controller peer_id or NULL) */
  signals[SIGNAL_CONTROL_CHANGED] =
    g_signal_new ("control-changed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_STRING, G_TYPE_STRING);
  /* (share_id, reason or NULL) */
  signals[SIGNAL_CONTROL_DENIED] =
    g_signal_new ("control-denied", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_STRING, G_TYPE_STRING);
  /* (share_id): a share we host or view ended. */
  signals[SIGNAL_SHARE_STOPPED] =
    g_signal_new ("share-stopped", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  1, G_TYPE_STRING);
  /* (session_id, kind, room_id, peer username, peer device_id, name, size): an offer to
   * answer with mesh_agent_controller_answer_offer() (set_ask_offers). */
  signals[SIGNAL_SESSION_OFFERED] =
    g_signal_new ("session-offered", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  7, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                  G_TYPE_STRING, G_TYPE_UINT64);
  /* (session_id, file): where a received file or folder now is, before "session-finished". */
  signals[SIGNAL_SESSION_SAVED] =
    g_signal_new ("session-saved", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_STRING, G_TYPE_FILE);
  /* (share_id, peer_id, username): a viewer asks for control of a share hosted here; answer
   * with mesh_agent_controller_answer_control() (set_ask_control). */
  signals[SIGNAL_CONTROL_REQUESTED] =
    g_signal_new ("control-requested", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void
mesh_agent_controller_init (MeshAgentController *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->reconnect = TRUE;
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) room_free);
  self->own_devices = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->reports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) session_unref);
  self->connections = g_ptr_array_new_with_free_func (g_object_unref);
  self->shares = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) share_free);
  self->viewed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) session_unref);
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
  self->soup = soup_session_new ();
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
    g_signal_connect (self->endpoint, "incoming-connection", G_CALLBACK (on_incoming_connection),
                      self);
  }
  self->running = TRUE;
  self->backoff_step = 0;
  connect_ws (self);
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
  if (self->reconnect_source != NULL) {
    g_source_destroy (self->reconnect_source);
    g_clear_pointer (&self->reconnect_source, g_source_unref);
  }
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();

  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the agent stopped");
  if (self->pending != NULL)
    fail_pending (self, error);
  if (self->sessions != NULL) {
    sessions = g_hash_table_get_values (self->sessions);
    for (GList *l = sessions; l != NULL; l = l->next) {
      Session *session = l->data;

      session_ref (session);
      g_cancellable_cancel (session->cancellable);
      session_finish (session, error);
      session->controller = NULL;
      session_unref (session);
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
        ((Session *) share->viewers->pdata[i])->controller = NULL;
    }
    g_hash_table_remove_all (self->shares);
  }
  if (self->ws != NULL) {
    g_signal_handlers_disconnect_by_data (self->ws, self);
    if (soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "agent stopped");
    g_clear_object (&self->ws);
  }
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

/**
 * mesh_agent_controller_resolve_room:
 * @room: a room id or a room name
 *
 * Returns: (transfer full): the room id, or %NULL with MESH_ERROR_ROOM_NOT_FOUND
 *   (or BAD_REQUEST when several rooms have that name)
 */
char *
mesh_agent_controller_resolve_room (MeshAgentController  *self,
                                    const char           *room,
                                    GError              **error)
{
  GHashTableIter iter;
  Room *candidate, *found = NULL;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (room != NULL, NULL);

  if (g_hash_table_contains (self->rooms, room))
    return g_strdup (room);
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &candidate)) {
    if (g_strcmp0 (candidate->name, room) != 0)
      continue;
    if (found != NULL) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "several rooms are named “%s”: use the room id", room);
      return NULL;
    }
    found = candidate;
  }
  if (found == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "no room “%s” of yours", room);
    return NULL;
  }
  return g_strdup (found->room_id);
}

/**
 * mesh_agent_controller_resolve_device:
 * @device: a device id, or `user/device-name` for the user's own devices
 *
 * Other users' device names are not published by the server, so their
 * devices are named by id (room.joined lists them).
 *
 * Returns: (transfer full): a device id connected to @room_id, or %NULL with
 *   MESH_ERROR_UNROUTABLE (or BAD_REQUEST)
 */
char *
mesh_agent_controller_resolve_device (MeshAgentController  *self,
                                      const char           *room_id,
                                      const char           *device,
                                      GError              **error)
{
  Room *room;
  const char *slash;
  const char *device_id = device;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (room_id != NULL && device != NULL, NULL);

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "no room “%s” of yours", room_id);
    return NULL;
  }
  slash = strchr (device, '/');
  if (slash != NULL) {
    g_autofree char *user = g_strndup (device, slash - device);
    const char *name = slash + 1;

    device_id = NULL;
    if (g_strcmp0 (user, mesh_agent_state_get_username (self->state)) != 0) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "the server does not publish other users' device names: name %s's device "
                   "by its id", user);
      return NULL;
    }
    for (guint i = 0; i < self->own_devices->len; i++) {
      JsonObject *own = self->own_devices->pdata[i];

      if (g_strcmp0 (payload_string (own, "name"), name) == 0) {
        if (device_id != NULL) {
          g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                       "several of your devices are named “%s”: use the device id", name);
          return NULL;
        }
        device_id = payload_string (own, "device_id");
      }
    }
    if (device_id == NULL) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE, "you have no device named “%s”", name);
      return NULL;
    }
  }
  if (room_find_device (room, device_id) == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                 "device “%s” is not connected to this room", device);
    return NULL;
  }
  return g_strdup (device_id);
}

void
mesh_agent_controller_send_async (MeshAgentController *self,
                                  const char          *room_id,
                                  const char          *device_id,
                                  GFile               *path,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Op *op;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (room_id != NULL && device_id != NULL && G_IS_FILE (path));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_agent_controller_send_async);
  op = g_new0 (Op, 1);
  op->room_id = g_strdup (room_id);
  op->path = g_object_ref (path);
  op->name = g_file_get_basename (path);
  op->devices = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (op->devices, g_strdup (device_id));
  g_task_set_task_data (task, op, (GDestroyNotify) op_free);
  if (!require_ready (self, task))
    return;
  {
    g_autoptr(GTask) probe = g_task_new (self, cancellable, on_probed, g_steal_pointer (&task));

    g_task_set_task_data (probe, g_object_ref (path), g_object_unref);
    g_task_run_in_thread (probe, probe_thread);
  }
}

gboolean
mesh_agent_controller_send_finish (MeshAgentController  *self,
                                   GAsyncResult         *result,
                                   GError              **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
mesh_agent_controller_share_terminal_async (MeshAgentController *self,
                                            const char          *room_id,
                                            const char * const  *argv,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Op *op;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (room_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_agent_controller_share_terminal_async);
  op = g_new0 (Op, 1);
  op->room_id = g_strdup (room_id);
  op->host = mesh_terminal_host_new (argv);
  g_task_set_task_data (task, op, (GDestroyNotify) op_free);
  if (!require_ready (self, task))
    return;
  /* The key comes at once from a live server: a stalled request fails in
   * words rather than leaving "Starting Your Shell…" up for minutes. */
  op->deadline = g_cancellable_new ();
  if (cancellable != NULL)
    g_cancellable_connect (cancellable, G_CALLBACK (g_cancellable_cancel),
                           g_object_ref (op->deadline), g_object_unref);
  op->timer = add_timeout (self, PENDING_TIMEOUT_S * 1000, G_SOURCE_FUNC (cancel_deadline),
                           g_object_ref (op->deadline), g_object_unref);
  mesh_agent_state_rest_async (self->state, self->soup, "GET", "/keys", NULL, NULL, op->deadline,
                               on_keys, g_steal_pointer (&task));
}

char *
mesh_agent_controller_share_terminal_finish (MeshAgentController  *self,
                                             GAsyncResult         *result,
                                             GError              **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Ends a share: its shell is hung up and the server told. */
void
mesh_agent_controller_stop_share (MeshAgentController *self,
                                  const char          *share_id)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL);

  if (!g_hash_table_contains (self->shares, share_id))
    return;
  send_simple (self, "terminal.share.stop", "share_id", share_id);
  g_hash_table_remove (self->shares, share_id);
}

void
mesh_agent_controller_view_terminal_async (MeshAgentController *self,
                                           const char          *room_id,
                                           const char          *share_id,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GHashTableIter iter;
  const char *host;
  Member *member;
  Room *room;
  Op *op;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (room_id != NULL && share_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_agent_controller_view_terminal_async);
  op = g_new0 (Op, 1);
  op->room_id = g_strdup (room_id);
  op->kind = g_strdup ("terminal");
  op->share_id = g_strdup (share_id);
  op->devices = g_ptr_array_new_with_free_func (g_free);
  g_task_set_task_data (task, op, (GDestroyNotify) op_free);
  if (!require_ready (self, task))
    return;

  /* Ask the share's host; a share we have not heard of is asked of each
   * agent of the room in turn, and the wrong ones answer UNROUTABLE. */
  host = g_hash_table_lookup (self->share_hosts, share_id);
  room = g_hash_table_lookup (self->rooms, room_id);
  if (host != NULL) {
    g_ptr_array_add (op->devices, g_strdup (host));
  } else if (room != NULL) {
    g_hash_table_iter_init (&iter, room->members);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &member)) {
      if (member->device_id != NULL &&
          g_strcmp0 (member->device_id, mesh_agent_state_get_device_id (self->state)) != 0)
        g_ptr_array_add (op->devices, g_strdup (member->device_id));
    }
  }
  if (op->devices->len == 0) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                             "no other agent is connected to this room");
    return;
  }
  request_cap (self, g_steal_pointer (&task), NULL);
}

/**
 * mesh_agent_controller_view_terminal_finish:
 *
 * Returns: (transfer full): the started viewer; its "closed" signal says when the share ends
 */
MeshTerminalViewer *
mesh_agent_controller_view_terminal_finish (MeshAgentController  *self,
                                            GAsyncResult         *result,
                                            GError              **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Asks the host for control (§7); once granted, the terminal:control token
 * is fetched and presented to the host.  Watch "control-changed". */
void
mesh_agent_controller_take_control (MeshAgentController *self,
                                    const char          *share_id)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL);

  send_simple (self, "terminal.control.take", "share_id", share_id);
}

void
mesh_agent_controller_release_control (MeshAgentController *self,
                                       const char          *share_id)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL);

  send_simple (self, "terminal.control.release", "share_id", share_id);
}

/* Whether offers the policy does not accept are asked about ("session-offered")
 * instead of refused. */
void
mesh_agent_controller_set_ask_offers (MeshAgentController *self,
                                      gboolean             ask)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->ask_offers = ask;
}

/* Answers a "session-offered": @folder is where to save it, NULL to decline.
 * FALSE when the offer is no longer waiting (it expired). */
gboolean
mesh_agent_controller_answer_offer (MeshAgentController *self,
                                    const char          *session_id,
                                    GFile               *folder)
{
  Session *session;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), FALSE);
  g_return_val_if_fail (session_id != NULL, FALSE);
  g_return_val_if_fail (folder == NULL || G_IS_FILE (folder), FALSE);

  session = g_hash_table_lookup (self->sessions, session_id);
  if (session == NULL || !session->asking)
    return FALSE;
  session->asking = FALSE;
  if (folder == NULL) {
    g_autoptr(JsonObject) reject = json_object_new ();
    g_autofree char *id = NULL;

    json_object_set_string_member (reject, "session_id", session_id);
    json_object_set_string_member (reject, "reason", "declined");
    id = send_event (self, "p2p.session.reject", reject);
    session_withdraw (session);
    g_hash_table_remove (self->sessions, session_id);
    return TRUE;
  }
  session->download_dir = g_object_ref (folder);
  mesh_quic_endpoint_expect_peer (self->endpoint, session->peer_fingerprint);
  session->expected = TRUE;
  session->accepted = TRUE;
  send_simple (self, "p2p.session.accept", "session_id", session_id);
  return TRUE;
}

/* A user's cancel stops the data at once in both directions, without
 * sending what is still queued: RESET_STREAM and STOP_SENDING with
 * MESH_QUIC_STREAM_CANCELLED, which the peer reads as "cancelled by the other
 * side" (not a lost connection: it keeps no .part to resume). */
static void
session_abort_stream (Session *session)
{
  GIOStream *stream = session->stream;

  if (MESH_IS_AGENT_SESSION_STREAM (stream))
    stream = mesh_agent_session_stream_get_base (MESH_AGENT_SESSION_STREAM (stream));
  session->cancelled = TRUE;
  if (MESH_IS_QUIC_STREAM (stream) && !g_io_stream_is_closed (stream))
    mesh_quic_stream_abort (MESH_QUIC_STREAM (stream), MESH_QUIC_STREAM_CANCELLED);
}

static gboolean
caller_cancel_in_context (gpointer user_data)
{
  Session *session = user_data;

  if (!session->finished && session->controller != NULL)
    session_abort_stream (session);
  g_cancellable_cancel (session->cancellable);
  return G_SOURCE_REMOVE;
}

/* May run in any thread (the caller's cancellable): the stream is the
 * controller context's. */
static void
on_caller_cancelled (GCancellable *cancellable,
                     gpointer      user_data)
{
  Session *session = user_data;
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, caller_cancel_in_context, session_ref (session),
                         (GDestroyNotify) session_unref);
  g_source_attach (source, session->controller != NULL ? session->controller->context : NULL);
}

/* Whether @session_id is the session of the mesh_agent_controller_send_async()
 * call given @cancellable: a caller of several sends (of files that may share
 * a name) tells them apart by their cancellables. */
gboolean
mesh_agent_controller_session_is_for (MeshAgentController *self,
                                      const char          *session_id,
                                      GCancellable        *cancellable)
{
  Session *session;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), FALSE);
  g_return_val_if_fail (session_id != NULL, FALSE);

  session = g_hash_table_lookup (self->sessions, session_id);
  return session != NULL && cancellable != NULL && session->task != NULL &&
         g_task_get_cancellable (session->task) == cancellable;
}

/* Stops a file or folder session in either role; it finishes with
 * G_IO_ERROR_CANCELLED. */
void
mesh_agent_controller_cancel_session (MeshAgentController *self,
                                      const char          *session_id)
{
  Session *session;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (session_id != NULL);

  session = g_hash_table_lookup (self->sessions, session_id);
  if (session == NULL || session->finished)
    return;
  if (session->asking) {
    mesh_agent_controller_answer_offer (self, session_id, NULL);
    return;
  }
  /* Our user stopped an incoming transfer: its partial file goes too. */
  if (session->engine != NULL && MESH_IS_FILE_RECEIVER (session->engine))
    mesh_file_receiver_discard (MESH_FILE_RECEIVER (session->engine));
  session_abort_stream (session);
  g_cancellable_cancel (session->cancellable);
}

/* Whether control requests from users not in the allow-control list are
 * asked about ("control-requested") instead of denied. */
void
mesh_agent_controller_set_ask_control (MeshAgentController *self,
                                       gboolean             ask)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->ask_control = ask;
}

void
mesh_agent_controller_answer_control (MeshAgentController *self,
                                      const char          *share_id,
                                      const char          *peer_id,
                                      gboolean             grant)
{
  g_autoptr(JsonObject) answer = json_object_new ();
  g_autofree char *id = NULL;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL && peer_id != NULL);

  if (!g_hash_table_contains (self->shares, share_id))
    return;
  if (grant)
    share_note_grant (g_hash_table_lookup (self->shares, share_id), peer_id);
  json_object_set_string_member (answer, "share_id", share_id);
  json_object_set_string_member (answer, "peer_id", peer_id);
  if (!grant)
    json_object_set_string_member (answer, "reason", "the host said no");
  id = send_event (self, grant ? "terminal.control.grant" : "terminal.control.deny", answer);
}

/* The shell of a share hosted here (for a local view of it), or NULL. */
MeshTerminalHost *
mesh_agent_controller_get_share_host (MeshAgentController *self,
                                      const char          *share_id)
{
  Share *share;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (share_id != NULL, NULL);

  share = g_hash_table_lookup (self->shares, share_id);
  return share != NULL ? share->host : NULL;
}

/* Joins a room the user entered after the agent connected. */
void
mesh_agent_controller_join_room (MeshAgentController *self,
                                 const char          *room_id)
{
  Room *room;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (room_id != NULL);

  if (!self->ready || g_hash_table_contains (self->rooms, room_id))
    return;
  room = g_new0 (Room, 1);
  room->room_id = g_strdup (room_id);
  room->members = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) member_free);
  g_hash_table_replace (self->rooms, room->room_id, room);
  send_simple (self, "room.join", "room_id", room_id);
}

/* A member's user name as the server told us, or NULL. */
const char *
mesh_agent_controller_get_peer_username (MeshAgentController *self,
                                         const char          *room_id,
                                         const char          *peer_id)
{
  Member *member;
  Room *room;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (room_id != NULL && peer_id != NULL, NULL);

  room = g_hash_table_lookup (self->rooms, room_id);
  member = room != NULL ? g_hash_table_lookup (room->members, peer_id) : NULL;
  return member != NULL ? member->username : NULL;
}
