/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ws-peer"

#include "config.h"

#include "mesh-counting-stream.h"
#include "mesh-error.h"
#include "mesh-ws-peer.h"

/* Frames larger than the limit are reported (so the owner can answer with
 * its own error) up to this multiple; libsoup drops the socket beyond it. */
#define HARD_FRAME_FACTOR 4

struct _MeshWsPeer {
  GObject                  parent_instance;

  SoupWebsocketConnection *connection;
  MeshCountingStream      *counting;     /* borrowed: the connection owns it */
  MeshWsLimits             limits;
  MeshWsPeerCallbacks      callbacks;
  gpointer                 callbacks_data;
  gpointer                 user_data;
  char                    *remote_host;

  gint64                   connected_at;
  gint64                   last_heard;
  gint64                   last_ping;
  double                   tokens;
  gint64                   tokens_at;
  guint                    refused_in_a_row;

  guint64                  handed_bytes; /* framed bytes given to libsoup */
  guint64                  written_base; /* bytes written before the upgrade */
  gsize                    handed_frames;
  gboolean                 closed_notified;

  MeshWsRegistry          *registry;     /* borrowed, while counted there */
};

struct _MeshWsRegistry {
  guint       max_sockets;
  guint       max_sockets_per_user;
  GHashTable *peers;        /* MeshWsPeer* → RegistryEntry (owned) */
  GHashTable *per_user;     /* user_id → count of open sockets */
};

typedef struct {
  char *user_id;
  char *device_id;
} RegistryEntry;

static void registry_remove (MeshWsRegistry *self, MeshWsPeer *peer);

G_DEFINE_FINAL_TYPE (MeshWsPeer, mesh_ws_peer, G_TYPE_OBJECT)

void
mesh_ws_limits_init_default (MeshWsLimits *limits)
{
  limits->max_frame_bytes = 64 * 1024;
  limits->messages_per_second = 100;
  limits->burst = 200;
  limits->abuse_limit = 400;
  limits->max_queued_bytes = 4 * 1024 * 1024;
  limits->ping_interval_s = 20;
  limits->silence_timeout_s = 60;
  limits->max_sockets = 4096;
  limits->max_sockets_per_user = 32;
  limits->registry = NULL;
}

static void
registry_entry_free (RegistryEntry *entry)
{
  g_free (entry->user_id);
  g_free (entry->device_id);
  g_free (entry);
}

MeshWsRegistry *
mesh_ws_registry_new (guint max_sockets,
                      guint max_sockets_per_user)
{
  MeshWsRegistry *self = g_new0 (MeshWsRegistry, 1);

  self->max_sockets = max_sockets;
  self->max_sockets_per_user = max_sockets_per_user;
  self->peers = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) registry_entry_free);
  self->per_user = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return self;
}

void
mesh_ws_registry_free (MeshWsRegistry *self)
{
  GHashTableIter iter;
  MeshWsPeer *peer;

  if (self == NULL)
    return;
  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, (gpointer *) &peer, NULL))
    peer->registry = NULL;
  g_hash_table_unref (self->per_user);
  g_hash_table_unref (self->peers);
  g_free (self);
}

guint
mesh_ws_registry_count_user (MeshWsRegistry *self,
                             const char     *user_id)
{
  if (self == NULL || user_id == NULL)
    return 0;
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->per_user, user_id));
}

gboolean
mesh_ws_registry_check (MeshWsRegistry  *self,
                        const char      *user_id,
                        GError         **error)
{
  if (self == NULL)
    return TRUE;
  if (g_hash_table_size (self->peers) >= self->max_sockets) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_RATE_LIMITED,
                 "the server has its maximum of %u open sockets: try again later",
                 self->max_sockets);
    return FALSE;
  }
  if (mesh_ws_registry_count_user (self, user_id) >= self->max_sockets_per_user) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_RATE_LIMITED,
                 "this user already has the maximum of %u open sockets: close one first",
                 self->max_sockets_per_user);
    return FALSE;
  }
  return TRUE;
}

void
mesh_ws_registry_add (MeshWsRegistry *self,
                      MeshWsPeer     *peer,
                      const char     *user_id,
                      const char     *device_id)
{
  RegistryEntry *entry;

  g_return_if_fail (MESH_IS_WS_PEER (peer));
  g_return_if_fail (user_id != NULL);

  if (self == NULL || peer->registry != NULL || peer->closed_notified)
    return;
  entry = g_new0 (RegistryEntry, 1);
  entry->user_id = g_strdup (user_id);
  entry->device_id = g_strdup (device_id);
  g_hash_table_insert (self->peers, peer, entry);
  g_hash_table_replace (self->per_user, g_strdup (user_id),
                        GUINT_TO_POINTER (mesh_ws_registry_count_user (self, user_id) + 1));
  peer->registry = self;
}

static void
registry_remove (MeshWsRegistry *self,
                 MeshWsPeer     *peer)
{
  RegistryEntry *entry = g_hash_table_lookup (self->peers, peer);
  guint count;

  peer->registry = NULL;
  if (entry == NULL)
    return;
  count = mesh_ws_registry_count_user (self, entry->user_id);
  if (count > 1)
    g_hash_table_replace (self->per_user, g_strdup (entry->user_id), GUINT_TO_POINTER (count - 1));
  else
    g_hash_table_remove (self->per_user, entry->user_id);
  g_hash_table_remove (self->peers, peer);
}

guint
mesh_ws_registry_close_device (MeshWsRegistry *self,
                               const char     *device_id,
                               const char     *reason)
{
  g_autoptr(GPtrArray) doomed = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  MeshWsPeer *peer;
  RegistryEntry *entry;

  if (self == NULL || device_id == NULL)
    return 0;
  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, (gpointer *) &peer, (gpointer *) &entry)) {
    if (g_strcmp0 (entry->device_id, device_id) == 0)
      g_ptr_array_add (doomed, g_object_ref (peer));
  }
  /* Closing may call back into the registry: not while iterating. */
  for (guint i = 0; i < doomed->len; i++)
    mesh_ws_peer_close (doomed->pdata[i], SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, reason);
  return doomed->len;
}

/* The size of a server frame on the wire: payloads are not masked. */
static guint64
framed_size (gsize len)
{
  if (len < 126)
    return len + 2;
  if (len < 65536)
    return len + 4;
  return len + 10;
}

static gboolean
take_token (MeshWsPeer *self,
            gint64      now)
{
  double elapsed = (now - self->tokens_at) / (double) G_USEC_PER_SEC;

  self->tokens = MIN (self->limits.burst, self->tokens + elapsed * self->limits.messages_per_second);
  self->tokens_at = now;
  if (self->tokens < 1.0)
    return FALSE;
  self->tokens -= 1.0;
  return TRUE;
}

static void
notify_closed (MeshWsPeer *self)
{
  if (self->closed_notified)
    return;
  self->closed_notified = TRUE;
  if (self->registry != NULL)
    registry_remove (self->registry, self);
  if (self->callbacks.closed)
    self->callbacks.closed (self, self->callbacks_data);
}

static void
message_cb (SoupWebsocketConnection *connection,
            SoupWebsocketDataType    type,
            GBytes                  *frame,
            MeshWsPeer              *self)
{
  gint64 now = g_get_monotonic_time ();
  gsize size = g_bytes_get_size (frame);

  /* Frames read after we decided to close are not worth a look. */
  if (!mesh_ws_peer_is_open (self))
    return;
  self->last_heard = now;

  if (!take_token (self, now)) {
    if (++self->refused_in_a_row >= self->limits.abuse_limit) {
      g_message ("Closing %s: %u messages over the rate limit in a row",
                 self->remote_host, self->refused_in_a_row);
      mesh_ws_peer_close (self, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "rate limit");
      return;
    }
    if (self->callbacks.rate_limited)
      self->callbacks.rate_limited (self, self->callbacks_data);
    return;
  }
  self->refused_in_a_row = 0;

  if (type != SOUP_WEBSOCKET_DATA_TEXT || size > self->limits.max_frame_bytes) {
    if (self->callbacks.refused)
      self->callbacks.refused (self, size, type != SOUP_WEBSOCKET_DATA_TEXT, self->callbacks_data);
    return;
  }

  if (self->callbacks.message)
    self->callbacks.message (self, frame, self->callbacks_data);
}

static void
pong_cb (SoupWebsocketConnection *connection,
         GBytes                  *message,
         MeshWsPeer              *self)
{
  self->last_heard = g_get_monotonic_time ();
}

static void
closed_cb (SoupWebsocketConnection *connection,
           MeshWsPeer              *self)
{
  g_autoptr(MeshWsPeer) keep = g_object_ref (self);

  notify_closed (self);
}

static void
error_cb (SoupWebsocketConnection *connection,
          GError                  *error,
          MeshWsPeer              *self)
{
  g_debug ("WebSocket error from %s: %s", self->remote_host, error->message);
}

static void
mesh_ws_peer_dispose (GObject *object)
{
  MeshWsPeer *self = MESH_WS_PEER (object);

  if (self->registry != NULL)
    registry_remove (self->registry, self);
  if (self->connection != NULL) {
    g_signal_handlers_disconnect_by_data (self->connection, self);
    if (soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (self->connection, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    g_clear_object (&self->connection);
  }
  G_OBJECT_CLASS (mesh_ws_peer_parent_class)->dispose (object);
}

static void
mesh_ws_peer_finalize (GObject *object)
{
  MeshWsPeer *self = MESH_WS_PEER (object);

  g_free (self->remote_host);
  G_OBJECT_CLASS (mesh_ws_peer_parent_class)->finalize (object);
}

static void
mesh_ws_peer_class_init (MeshWsPeerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_ws_peer_dispose;
  object_class->finalize = mesh_ws_peer_finalize;
}

static void
mesh_ws_peer_init (MeshWsPeer *self)
{
}

MeshWsPeer *
mesh_ws_peer_new (SoupWebsocketConnection   *connection,
                  const MeshWsLimits        *limits,
                  const char                *remote_host,
                  const MeshWsPeerCallbacks *callbacks,
                  gpointer                   user_data)
{
  MeshWsPeer *self;

  g_return_val_if_fail (SOUP_IS_WEBSOCKET_CONNECTION (connection), NULL);
  g_return_val_if_fail (limits != NULL, NULL);
  g_return_val_if_fail (callbacks != NULL, NULL);

  self = g_object_new (MESH_TYPE_WS_PEER, NULL);
  self->connection = g_object_ref (connection);
  self->limits = *limits;
  self->callbacks = *callbacks;
  self->callbacks_data = user_data;
  self->remote_host = g_strdup (remote_host ? remote_host : "unknown");
  self->connected_at = self->last_heard = self->tokens_at = g_get_monotonic_time ();
  self->tokens = limits->burst;

  self->counting = mesh_counting_stream_find (soup_websocket_connection_get_io_stream (connection));
  if (self->counting != NULL)
    self->written_base = mesh_counting_stream_get_written (self->counting);

  soup_websocket_connection_set_max_incoming_payload_size (connection,
                                                           limits->max_frame_bytes * HARD_FRAME_FACTOR);
  /* No keepalive-interval: it adds a timer source per socket, and GLib's
   * main loop checks every source on every iteration.  The owner's sweep
   * pings silent sockets instead (mesh_ws_peer_check_silence). */

  g_signal_connect (connection, "message", G_CALLBACK (message_cb), self);
  g_signal_connect (connection, "pong", G_CALLBACK (pong_cb), self);
  g_signal_connect (connection, "closed", G_CALLBACK (closed_cb), self);
  g_signal_connect (connection, "error", G_CALLBACK (error_cb), self);
  return self;
}

gsize
mesh_ws_peer_get_queued_bytes (MeshWsPeer *self)
{
  guint64 written;

  g_return_val_if_fail (MESH_IS_WS_PEER (self), 0);

  if (self->counting == NULL)
    return 0;
  /* Pings, pongs and the close frame are written too, so written bytes can
   * run slightly ahead of what we handed over. */
  written = mesh_counting_stream_get_written (self->counting) - self->written_base;
  return written >= self->handed_bytes ? 0 : (gsize) (self->handed_bytes - written);
}

gboolean
mesh_ws_peer_is_open (MeshWsPeer *self)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), FALSE);
  return self->connection != NULL &&
         soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN;
}

gboolean
mesh_ws_peer_send_bytes (MeshWsPeer *self,
                         GBytes     *frame)
{
  gsize len = g_bytes_get_size (frame);
  gsize queued;

  g_return_val_if_fail (MESH_IS_WS_PEER (self), FALSE);

  /* Sending on a closing socket is a critical in libsoup 3.2. */
  if (!mesh_ws_peer_is_open (self))
    return FALSE;

  queued = mesh_ws_peer_get_queued_bytes (self);
  if (queued + len > self->limits.max_queued_bytes) {
    g_message ("Closing %s: it does not read fast enough (%" G_GSIZE_FORMAT
               " bytes queued, limit %" G_GSIZE_FORMAT ")",
               self->remote_host, queued, self->limits.max_queued_bytes);
    mesh_ws_peer_close (self, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "too slow");
    return FALSE;
  }

  self->handed_bytes += framed_size (len);
  self->handed_frames++;
  soup_websocket_connection_send_message (self->connection, SOUP_WEBSOCKET_DATA_TEXT, frame);
  return TRUE;
}

gboolean
mesh_ws_peer_send (MeshWsPeer *self,
                   const char *text,
                   gsize       len)
{
  g_autoptr(GBytes) frame = g_bytes_new (text, len);

  return mesh_ws_peer_send_bytes (self, frame);
}

void
mesh_ws_peer_close (MeshWsPeer *self,
                    gushort     code,
                    const char *reason)
{
  g_return_if_fail (MESH_IS_WS_PEER (self));

  if (mesh_ws_peer_is_open (self))
    soup_websocket_connection_close (self->connection, code, reason);
}

const char *
mesh_ws_peer_get_remote_host (MeshWsPeer *self)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), NULL);
  return self->remote_host;
}

gint64
mesh_ws_peer_get_connected_at (MeshWsPeer *self)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), 0);
  return self->connected_at;
}

/* A WebSocket ping.  libsoup 3.2 has no ping call; send_message() writes
 * the opcode it is given, and 0x9 is what its own keepalive timer sends
 * (soup-websocket-connection.c, on_queue_ping). */
static void
send_ping (MeshWsPeer *self)
{
  static const char payload[] = "mesh";
  g_autoptr(GBytes) bytes = g_bytes_new_static (payload, sizeof payload - 1);

  soup_websocket_connection_send_message (self->connection, (SoupWebsocketDataType) 0x9, bytes);
}

gboolean
mesh_ws_peer_check_silence (MeshWsPeer *self,
                            gint64      now_usec)
{
  gint64 silent;

  g_return_val_if_fail (MESH_IS_WS_PEER (self), FALSE);

  if (!mesh_ws_peer_is_open (self))
    return FALSE;
  silent = now_usec - self->last_heard;
  if (self->limits.ping_interval_s > 0 &&
      silent >= (gint64) self->limits.ping_interval_s * G_USEC_PER_SEC &&
      now_usec - self->last_ping >= (gint64) self->limits.ping_interval_s * G_USEC_PER_SEC) {
    self->last_ping = now_usec;
    send_ping (self);
  }
  if (self->limits.silence_timeout_s == 0 ||
      silent < (gint64) self->limits.silence_timeout_s * G_USEC_PER_SEC)
    return FALSE;
  g_message ("Closing %s: silent for %u s", self->remote_host, self->limits.silence_timeout_s);
  mesh_ws_peer_close (self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "silent too long");
  return TRUE;
}

void
mesh_ws_peer_set_user_data (MeshWsPeer *self,
                            gpointer    data)
{
  g_return_if_fail (MESH_IS_WS_PEER (self));
  self->user_data = data;
}

gpointer
mesh_ws_peer_get_user_data (MeshWsPeer *self)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), NULL);
  return self->user_data;
}
