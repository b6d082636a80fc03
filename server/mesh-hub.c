/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-hub"

#include "config.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-hub-private.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-rest.h"

#include <string.h>

#define SWEEP_INTERVAL_MS   1000

G_DEFINE_FINAL_TYPE (MeshHub, mesh_hub, G_TYPE_OBJECT)

typedef struct {
  const char     *type;
  HubHandlerFunc  func;
} HubHandler;

/* Identity of a peer on the wire: a client is its peer_id, an agent its
 * device_id (§3: from = "peer_id|device_id|server"). */
const char *
hub_peer_wire_id (HubPeer *peer)
{
  return peer->is_agent ? peer->device_id : peer->peer_id;
}

static const char *
peer_type_name (HubPeer *peer)
{
  return peer->is_agent ? "agent" : "client";
}

static void
hub_room_free (HubRoom *room)
{
  g_free (room->room_id);
  g_ptr_array_unref (room->peers);
  g_free (room);
}

static void
hub_peer_free (HubPeer *peer)
{
  if (peer->ws != NULL)
    mesh_ws_peer_detach (peer->ws);
  g_clear_object (&peer->ws);
  g_free (peer->peer_id);
  g_free (peer->user_id);
  g_free (peer->username);
  g_free (peer->device_id);
  g_free (peer->device_name);
  g_free (peer->credential);
  g_free (peer->quic_fingerprint);
  g_strfreev (peer->quic_addrs);
  g_ptr_array_unref (peer->rooms);
  g_free (peer);
}

/* Sends one frame to every peer of @room but @except. */
void
hub_room_send (HubRoom *room,
           GBytes  *frame,
           HubPeer *except)
{
  for (guint i = 0; i < room->peers->len; i++) {
    HubPeer *member = g_ptr_array_index (room->peers, i);

    if (member != except)
      mesh_ws_peer_send_bytes (member->ws, frame);
  }
}

HubRoom *
hub_peer_find_room (HubPeer    *peer,
                const char *room_id)
{
  for (guint i = 0; i < peer->rooms->len; i++) {
    HubRoom *room = g_ptr_array_index (peer->rooms, i);

    if (g_str_equal (room->room_id, room_id))
      return room;
  }
  return NULL;
}

/* The room @peer has joined, or an error saying why it may not use it. */
HubRoom *
hub_require_joined_room (MeshHub     *self,
                     HubPeer     *peer,
                     JsonObject  *payload,
                     const char **room_id_out,
                     GError     **error)
{
  const char *room_id;
  HubRoom *room;

  if (!mesh_json_get_string (payload, "room_id", TRUE, &room_id, error))
    return NULL;
  room = hub_peer_find_room (peer, room_id);
  if (room == NULL) {
    if (!mesh_store_room_exists (self->store, room_id))
      g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "no room '%s'", room_id);
    else
      g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                   "join room '%s' first (room.join)", room_id);
    return NULL;
  }
  if (room_id_out != NULL)
    *room_id_out = room_id;
  return room;
}

JsonObject *
hub_member_json (HubPeer *member)
{
  JsonObject *obj = json_object_new ();

  json_object_set_string_member (obj, "peer_id", member->peer_id);
  json_object_set_string_member (obj, "user_id", member->user_id);
  json_object_set_string_member (obj, "username", member->username);
  json_object_set_string_member (obj, "peer_type", peer_type_name (member));
  if (member->is_agent) {
    json_object_set_string_member (obj, "device_id", member->device_id);
    json_object_set_string_member (obj, "device_name", member->device_name);
    /* A one-off command: apps do not count it as the device being online. */
    if (member->transient)
      json_object_set_boolean_member (obj, "transient", TRUE);
  }
  json_object_set_string_member (obj, "status", member->status);
  return obj;
}

/* §3.1 system.hello */
static gboolean
handle_hello (MeshHub      *self,
              HubPeer      *peer,
              MeshEnvelope *env,
              GError      **error)
{
  g_autoptr(JsonObject) welcome = json_object_new ();
  g_auto(GStrv) parts = NULL;
  const char *peer_type;
  const char *version;
  JsonObject *quic = NULL;
  guint64 major;

  if (peer->hello_done) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "system.hello was already received");
    return FALSE;
  }

  if (!mesh_json_get_string (env->payload, "peer_type", TRUE, &peer_type, error) ||
      !mesh_json_get_string (env->payload, "version", TRUE, &version, error))
    return FALSE;
  if (!g_str_equal (peer_type, "client") && !g_str_equal (peer_type, "agent")) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "field 'peer_type' must be \"client\" or \"agent\"");
    return FALSE;
  }

  parts = g_strsplit (version, ".", 4);
  if (g_strv_length (parts) != 3 ||
      !g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXUINT32, &major, NULL) ||
      !g_ascii_string_to_unsigned (parts[1], 10, 0, G_MAXUINT32, NULL, NULL) ||
      !g_ascii_string_to_unsigned (parts[2], 10, 0, G_MAXUINT32, NULL, NULL)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "field 'version' must be x.y.z, not '%s'", version);
    return FALSE;
  }
  if (major != 2) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_VERSION_UNSUPPORTED,
                 "protocol %s is not supported: this server speaks %s", version,
                 MESH_PROTOCOL_VERSION);
    return FALSE;
  }

  peer->is_agent = g_str_equal (peer_type, "agent");
  if (peer->is_agent != (peer->device_id != NULL)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         peer->is_agent ? "an agent must connect with its device token"
                                        : "a device token may only connect an agent");
    return FALSE;
  }

  if (peer->is_agent) {
    g_auto(GStrv) addrs = NULL;
    const char *fingerprint;
    gint64 port;

    if (!mesh_json_get_object (env->payload, "quic", TRUE, &quic, error) ||
        !mesh_json_get_bool (env->payload, "transient", FALSE, &peer->transient, error) ||
        !mesh_json_get_int (quic, "port", TRUE, &port, error) ||
        !mesh_json_get_string (quic, "fingerprint", TRUE, &fingerprint, error) ||
        !mesh_json_get_strv (quic, "addrs", FALSE, &addrs, error))
      return FALSE;
    if (port < 1 || port > 65535) {
      g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                           "field 'quic.port' must be 1..65535");
      return FALSE;
    }
    if (!mesh_fingerprint_is_valid (fingerprint)) {
      g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                           "field 'quic.fingerprint' must be 64 lower-case hex digits");
      return FALSE;
    }
    for (guint i = 0; addrs != NULL && addrs[i] != NULL; i++) {
      g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (addrs[i]);

      if (addr == NULL) {
        g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                     "'%s' in 'quic.addrs' is not an IP address", addrs[i]);
        return FALSE;
      }
    }
    /* Sessions pin the registered certificate: an agent whose identity
     * changed must register its device again. */
    {
      g_autoptr(MeshStoreDevice) device = mesh_store_get_device (self->store, peer->device_id);

      if (device == NULL || g_strcmp0 (device->fingerprint, fingerprint) != 0) {
        g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                             "'quic.fingerprint' is not the one registered for this device "
                             "(register the device again)");
        return FALSE;
      }
      peer->device_name = g_strdup (device->name);
    }
    peer->quic_port = (guint16) port;
    peer->quic_fingerprint = g_strdup (fingerprint);
    peer->quic_addrs = g_steal_pointer (&addrs);
  }

  peer->hello_done = TRUE;

  if (peer->is_agent) {
    HubPeer *old = g_hash_table_lookup (self->devices, peer->device_id);

    /* One socket per device: a reconnecting agent replaces its old one.
     * Replace, not insert: the key is the peer's own string, and the old
     * peer's goes away with it. */
    g_hash_table_replace (self->devices, peer->device_id, peer);
    /* A one-off command (mesh-agent send) is not the device coming back,
     * nor going away when it exits: only long-lived agents count for §9. */
    if (self->notifier != NULL && !peer->transient)
      mesh_notifier_agent_connected (self->notifier, peer->device_id);
    if (old != NULL && old != peer)
      mesh_ws_peer_close (old->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "replaced by a new connection");
  }

  json_object_set_string_member (welcome, "peer_id", peer->peer_id);
  json_object_set_string_member (welcome, "user_id", peer->user_id);
  json_object_set_string_member (welcome, "protocol_version", MESH_PROTOCOL_VERSION);
  json_object_set_string_member (welcome, "server_version", PACKAGE_VERSION);
  if (peer->is_agent)
    json_object_set_string_member (welcome, "device_id", peer->device_id);
  if (env->id != NULL)
    json_object_set_string_member (welcome, "ref", env->id);
  hub_send_event (peer, "system.welcome", welcome);
  return TRUE;
}

/* The one table from event type to handler. */
static const HubHandler hub_handlers[] = {
  { "system.hello",      handle_hello },
  { "room.join",         hub_handle_room_join },
  { "room.leave",        hub_handle_room_leave },
  { "presence.update",   hub_handle_presence_update },
  { "chat.message.send", hub_handle_chat_send },
  { "rtc.offer",         hub_handle_rtc },
  { "rtc.answer",        hub_handle_rtc },
  { "rtc.ice",           hub_handle_rtc },
  { "rtc.hangup",        hub_handle_rtc_hangup },
  /* §5, mesh-hub-p2p.c */
  { "p2p.session.request",   hub_handle_p2p_request },
  { "p2p.session.accept",    hub_handle_p2p_accept },
  { "p2p.session.reject",    hub_handle_p2p_reject },
  { "p2p.session.completed", hub_handle_p2p_completed },
  /* §7, mesh-hub-terminal.c */
  { "terminal.share.start",     hub_handle_terminal_start },
  { "terminal.share.stop",      hub_handle_terminal_stop },
  { "terminal.control.take",    hub_handle_control_take },
  { "terminal.control.grant",   hub_handle_control_grant },
  { "terminal.control.deny",    hub_handle_control_deny },
  { "terminal.control.release", hub_handle_control_release },
};

static void
peer_message_cb (MeshWsPeer *ws,
                 GBytes     *frame,
                 gpointer    user_data)
{
  HubPeer *peer = mesh_ws_peer_get_user_data (ws);
  MeshHub *self = user_data;
  g_autoptr(MeshEnvelope) env = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ref = NULL;
  const HubHandler *handler;
  gboolean ok;
  gsize len;
  const char *data = g_bytes_get_data (frame, &len);

  if (peer == NULL)
    return;

  if (peer->hello_done && hub_fast_relay_ice (self, peer, data, len))
    return;

  env = mesh_envelope_parse_full (data, len, &ref, &error);
  if (env == NULL) {
    /* §3: error carries the request's id whenever it could be read. */
    hub_send_gerror (peer, error, ref);
    if (!peer->hello_done)
      mesh_ws_peer_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "expected system.hello");
    return;
  }

  if (!peer->hello_done && !g_str_equal (env->type, "system.hello")) {
    hub_send_error (peer, MESH_ERROR_BAD_REQUEST, "the first message must be system.hello", env->id);
    mesh_ws_peer_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "expected system.hello");
    return;
  }

  handler = g_hash_table_lookup (self->handlers, env->type);
  if (handler == NULL) {
    g_autofree char *message = g_strdup_printf ("unknown event type '%s'", env->type);

    hub_send_error (peer, MESH_ERROR_BAD_REQUEST, message, env->id);
    return;
  }

  /* The text as it came, for handlers that forward it (relay_rtc). */
  self->frame_data = data;
  self->frame_len = len;
  ok = handler->func (self, peer, env, &error);
  self->frame_data = NULL;
  self->frame_len = 0;
  if (!ok) {
    hub_send_gerror (peer, error, env->id);
    /* A peer that failed its hello cannot go on. */
    if (!peer->hello_done)
      mesh_ws_peer_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "system.hello refused");
  }
}

static void
peer_refused_cb (MeshWsPeer *ws,
                 gsize       size,
                 gboolean    binary,
                 gpointer    user_data)
{
  HubPeer *peer = mesh_ws_peer_get_user_data (ws);
  MeshHub *self = user_data;
  g_autofree char *message = NULL;

  if (peer == NULL)
    return;
  if (binary) {
    hub_send_error (peer, MESH_ERROR_BAD_REQUEST, "binary frames are not part of the protocol", NULL);
    return;
  }
  message = g_strdup_printf ("frame of %" G_GSIZE_FORMAT " bytes; at most %" G_GSIZE_FORMAT,
                             size, self->limits.max_frame_bytes);
  hub_send_error (peer, MESH_ERROR_PAYLOAD_TOO_LARGE, message, NULL);
}

static void
peer_rate_limited_cb (MeshWsPeer *ws,
                      gpointer    user_data)
{
  HubPeer *peer = mesh_ws_peer_get_user_data (ws);
  MeshHub *self = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autofree char *message = NULL;

  /* One error a second is enough to tell a flooding client. */
  if (peer == NULL || now - peer->last_rate_error < G_USEC_PER_SEC)
    return;
  peer->last_rate_error = now;
  message = g_strdup_printf ("over %.0f messages/s (burst %.0f): message dropped",
                             self->limits.messages_per_second, self->limits.burst);
  hub_send_error (peer, MESH_ERROR_RATE_LIMITED, message, NULL);
}

static void
peer_closed_cb (MeshWsPeer *ws,
                gpointer    user_data)
{
  HubPeer *peer = mesh_ws_peer_get_user_data (ws);
  MeshHub *self = user_data;
  gboolean was_in_rooms;

  if (peer == NULL)
    return;

  /* Its shares stop and its pending sessions end while it is still in its
   * rooms, so the room hears about it. */
  hub_terminal_peer_gone (self, peer);
  hub_p2p_peer_gone (self, peer);

  /* presence "offline" once to each mate, then room.left to each room. */
  was_in_rooms = peer->rooms->len > 0;
  if (was_in_rooms) {
    g_autoptr(GBytes) offline = NULL;

    peer->status = "offline";
    offline = hub_presence_frame (peer);
    hub_send_to_room_mates (peer, offline);
    while (peer->rooms->len > 0) {
      HubRoom *room = g_ptr_array_index (peer->rooms, 0);
      g_autoptr(GBytes) frame = hub_left_frame (peer, room);

      hub_room_send (room, frame, peer);
      hub_room_remove_peer (self, room, peer);
    }
  }

  /* §9: calls it made or was offered end unanswered; an agent that is not
   * replaced by a new socket may be "offline" after a grace period. */
  if (self->notifier != NULL) {
    mesh_notifier_peer_gone (self->notifier, peer->peer_id);
    if (peer->is_agent && peer->hello_done && !peer->transient &&
        g_hash_table_lookup (self->devices, peer->device_id) == peer)
      mesh_notifier_agent_disconnected (self->notifier, peer->device_id, peer->user_id);
  }

  if (peer->device_id != NULL && g_hash_table_lookup (self->devices, peer->device_id) == peer)
    g_hash_table_remove (self->devices, peer->device_id);
  g_hash_table_remove (self->peers, peer->peer_id);
}

static const MeshWsPeerCallbacks peer_callbacks = {
  .message = peer_message_cb,
  .refused = peer_refused_cb,
  .rate_limited = peer_rate_limited_cb,
  .closed = peer_closed_cb,
};

/* Every second: peers that did not say hello in time.  Silent sockets are
 * pinged and closed by their shard's own sweep (mesh-ws-peer.c).  One timer
 * for all sockets keeps the main loop's per-iteration cost down
 * (research/server.md, pitfall 3). */
static gboolean
sweep_cb (gpointer user_data)
{
  MeshHub *self = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GPtrArray) to_close = g_ptr_array_new ();
  GHashTableIter iter;
  HubPeer *peer;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer)) {
    if (!peer->hello_done && mesh_ws_peer_is_open (peer->ws) &&
        now - mesh_ws_peer_get_connected_at (peer->ws) >= (gint64) self->hello_timeout_s * G_USEC_PER_SEC)
      g_ptr_array_add (to_close, peer);
  }

  for (guint i = 0; i < to_close->len; i++) {
    g_autofree char *message = NULL;

    peer = g_ptr_array_index (to_close, i);
    message = g_strdup_printf ("no system.hello within %u s", self->hello_timeout_s);
    hub_send_error (peer, MESH_ERROR_BAD_REQUEST, message, NULL);
    mesh_ws_peer_close (peer->ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "no hello");
  }
  return G_SOURCE_CONTINUE;
}

/* The upgrade is answered here: the socket then moves to a shard
 * (mesh-ws-peer.c), and its frames come back to this thread in order. */
static void
accept_peer (MeshHub           *self,
             SoupServerMessage *msg,
             const char        *user_id,
             const char        *device_id,
             char              *credential)
{
  HubPeer *peer;
  MeshWsPeer *ws = mesh_ws_peer_accept (msg, &self->limits, &peer_callbacks, self);

  if (ws == NULL) {
    g_free (credential);
    return;
  }
  peer = g_new0 (HubPeer, 1);
  peer->hub = self;
  peer->peer_id = mesh_id_new ();
  peer->user_id = g_strdup (user_id);
  peer->username = mesh_store_get_username (self->store, user_id);
  if (peer->username == NULL)
    peer->username = g_strdup ("");
  peer->device_id = g_strdup (device_id);
  /* Which credential the socket used: terminal:control is issued to a REST
   * caller only with the controlling socket's own (§4). */
  peer->credential = credential;
  peer->status = "online";
  peer->rooms = g_ptr_array_new ();
  peer->ws = ws;
  mesh_ws_peer_set_user_data (peer->ws, peer);
  mesh_ws_registry_add (self->limits.registry, peer->ws, user_id, device_id);
  g_hash_table_insert (self->peers, peer->peer_id, peer);
}

/* The HTTP side of the upgrade: refuse it (401) without a valid token. */
static void
ws_http_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  MeshHub *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = mesh_rest_get_bearer (msg, TRUE);
  g_autofree char *user_id = NULL;
  char *device_id = NULL;

  if (token == NULL) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED,
                         "a bearer token is required (Authorization header or access_token)");
  } else {
    user_id = mesh_store_authenticate (self->store, token, &device_id, &error);
  }

  if (user_id == NULL) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "WWW-Authenticate", "Bearer");
    mesh_rest_reply_error (msg, error);
    return;
  }

  if (!soup_websocket_server_check_handshake (msg, NULL, NULL, NULL, &error)) {
    mesh_rest_reply_error (msg, &(GError) { MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                                            error->message });
    g_free (device_id);
    return;
  }
  /* Socket caps: refused before the upgrade (429); counted from here on,
   * so upgrades in flight together count too. */
  if (!mesh_ws_registry_check (self->limits.registry, user_id, &error)) {
    mesh_rest_reply_error (msg, error);
    g_free (device_id);
    return;
  }

  accept_peer (self, msg, user_id, device_id,
               g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1));
  g_free (device_id);
}

/* §9: the callee's clients hear of the call they missed. */
static void
call_missed_cb (MeshNotifier *notifier,
                const char   *callee_user_id,
                JsonObject   *payload,
                gpointer      user_data)
{
  MeshHub *self = user_data;
  GHashTableIter iter;
  HubPeer *peer;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer)) {
    if (peer->hello_done && !peer->is_agent && g_str_equal (peer->user_id, callee_user_id))
      hub_send_event (peer, "call.missed", payload);
  }
}

static void
mesh_hub_dispose (GObject *object)
{
  MeshHub *self = MESH_HUB (object);

  g_clear_handle_id (&self->sweep_id, g_source_remove);
  g_clear_pointer (&self->devices, g_hash_table_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->peers, g_hash_table_unref);
  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_pointer (&self->shares, g_hash_table_unref);
  g_clear_object (&self->notifier);
  g_clear_object (&self->store);
  g_clear_object (&self->cap_key);
  G_OBJECT_CLASS (mesh_hub_parent_class)->dispose (object);
}

static void
mesh_hub_class_init (MeshHubClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mesh_hub_dispose;
}

static void
mesh_hub_init (MeshHub *self)
{
  self->peers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) hub_peer_free);
  self->devices = g_hash_table_new (g_str_hash, g_str_equal);
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) hub_room_free);
  self->handlers = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < G_N_ELEMENTS (hub_handlers); i++)
    g_hash_table_insert (self->handlers, (gpointer) hub_handlers[i].type, (gpointer) &hub_handlers[i]);
  hub_p2p_init (self);
  hub_terminal_init (self);
}

/* MeshStore::room-event: a room renamed, deleted or left over REST.  Every
 * socket of every member hears it (joined to the room or not: the room list
 * shows all rooms); then the hub's live room follows the store. */
static void
room_event_cb (MeshStore  *store,
               const char *type,
               const char *room_id,
               GStrv       user_ids,
               JsonObject *payload,
               MeshHub    *self)
{
  g_autoptr(GBytes) frame = hub_build_frame (type, "server", room_id, payload);
  GHashTableIter iter;
  HubPeer *peer;
  HubRoom *room;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer)) {
    if (peer->hello_done && peer->user_id != NULL &&
        g_strv_contains ((const char * const *) user_ids, peer->user_id))
      mesh_ws_peer_send_bytes (peer->ws, frame);
  }

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL)
    return;
  if (g_str_equal (type, "room.deleted")) {
    while (room != NULL && room->peers->len > 0) {
      gboolean last = room->peers->len == 1;

      hub_room_remove_peer (self, room, g_ptr_array_index (room->peers, 0));
      if (last)
        room = NULL;
    }
  } else if (g_str_equal (type, "room.member.left")) {
    const char *leaver = json_object_get_string_member_with_default (payload, "user_id", "");

    /* The leaver's sockets are out of the room, as after room.leave. */
    for (guint i = room->peers->len; room != NULL && i-- > 0;) {
      HubPeer *member = g_ptr_array_index (room->peers, i);
      g_autoptr(GBytes) left = NULL;
      gboolean last;

      if (g_strcmp0 (member->user_id, leaver) != 0)
        continue;
      left = hub_left_frame (member, room);
      hub_room_send (room, left, NULL);
      last = room->peers->len == 1;
      hub_room_remove_peer (self, room, member);
      if (last)
        room = NULL;
      else if (i > room->peers->len)
        i = room->peers->len;
    }
  }
}

MeshHub *
mesh_hub_new (MeshStore          *store,
              MeshCapKey         *cap_key,
              const MeshWsLimits *limits,
              guint               hello_timeout_s)
{
  MeshHub *self;

  g_return_val_if_fail (MESH_IS_STORE (store), NULL);
  g_return_val_if_fail (MESH_IS_CAP_KEY (cap_key), NULL);
  g_return_val_if_fail (limits != NULL, NULL);

  self = g_object_new (MESH_TYPE_HUB, NULL);
  self->store = g_object_ref (store);
  self->cap_key = g_object_ref (cap_key);
  self->limits = *limits;
  self->hello_timeout_s = hello_timeout_s;
  self->sweep_id = g_timeout_add (SWEEP_INTERVAL_MS, sweep_cb, self);
  g_signal_connect_object (store, "room-event", G_CALLBACK (room_event_cb), self, 0);
  return self;
}

void
mesh_hub_attach (MeshHub    *self,
                 SoupServer *server,
                 const char *path)
{
  g_return_if_fail (MESH_IS_HUB (self));
  g_return_if_fail (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, path, ws_http_cb, g_object_ref (self), g_object_unref);
}

void
mesh_hub_set_notifier (MeshHub      *self,
                       MeshNotifier *notifier)
{
  g_return_if_fail (MESH_IS_HUB (self));
  g_return_if_fail (notifier == NULL || MESH_IS_NOTIFIER (notifier));

  if (self->notifier != NULL)
    g_signal_handlers_disconnect_by_data (self->notifier, self);
  g_set_object (&self->notifier, notifier);
  if (notifier != NULL)
    g_signal_connect_object (notifier, "call-missed", G_CALLBACK (call_missed_cb), self, 0);
}

void
mesh_hub_close_all (MeshHub *self)
{
  GHashTableIter iter;
  HubPeer *peer;

  g_return_if_fail (MESH_IS_HUB (self));

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer))
    mesh_ws_peer_close (peer->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "server shutting down");
}

guint
mesh_hub_get_n_peers (MeshHub *self)
{
  g_return_val_if_fail (MESH_IS_HUB (self), 0);
  return g_hash_table_size (self->peers);
}

gboolean
mesh_hub_user_controls_terminal (MeshHub    *self,
                                 const char *room_id,
                                 const char *user_id,
                                 const char *bearer_token)
{
  g_autofree char *credential = NULL;
  GHashTableIter iter;
  HubPeer *peer;

  g_return_val_if_fail (MESH_IS_HUB (self), FALSE);

  if (room_id == NULL || user_id == NULL || bearer_token == NULL)
    return FALSE;
  credential = g_compute_checksum_for_string (G_CHECKSUM_SHA256, bearer_token, -1);
  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer)) {
    if (peer->hello_done && g_str_equal (peer->user_id, user_id) &&
        g_strcmp0 (peer->credential, credential) == 0 &&
        hub_terminal_peer_controls (self, room_id, peer))
      return TRUE;
  }
  return FALSE;
}
