/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ws-peer"

#include "config.h"

#include "mesh-counting-stream.h"
#include "mesh-error.h"
#include "mesh-ws-peer.h"
#include "mesh-ws-shard.h"

/* Frames larger than the limit are reported (so the owner can answer with
 * its own error) up to this multiple; libsoup drops the socket beyond it. */
#define HARD_FRAME_FACTOR 4

/* A peer lives on two threads.  Its owner (a hub, on the thread that
 * accepted it) sends, closes and gets the callbacks; its shard (one of
 * MeshWsShards' threads) owns the SoupWebsocketConnection: reads, writes,
 * limits, pings.  They talk only through each other's inbox, so per socket
 * everything stays in order.  docs/architecture.md, "WebSocket shards". */

typedef enum {
  HANDOFF_PENDING,     /* upgrade answered, stream still libsoup's */
  HANDOFF_DONE,        /* given to the shard */
  HANDOFF_ABANDONED,   /* closed (or the client went) before that */
} HandoffState;

struct _MeshWsPeer {
  GObject                  parent_instance;

  /* Set at creation, then read-only: any thread. */
  MeshWsLimits             limits;
  MeshWsPeerCallbacks      callbacks;
  gpointer                 callbacks_data;
  char                    *remote_host;
  gint64                   connected_at;
  MeshInbox               *home;         /* the owner's thread */
  MeshWsShard             *shard;

  gint                     open;         /* atomic: until closed or asked to close */
  gsize                    queued_hint;  /* atomic: queued bytes at the last send */

  /* The owner's thread. */
  gpointer                 user_data;
  gboolean                 detached;
  gboolean                 closed_notified;
  MeshWsRegistry          *registry;     /* borrowed, while counted there */
  HandoffState             handoff;
  SoupServerMessage       *msg;          /* while HANDOFF_PENDING */

  /* The shard's thread. */
  SoupWebsocketConnection *connection;
  MeshCountingStream      *counting;
  gint64                   last_heard;
  gint64                   last_ping;
  gint64                   ping_period;  /* µs; 0: no pings (ping_period_for) */
  guint                    sweep_slot;   /* its set in the shard */
  double                   tokens;
  gint64                   tokens_at;
  guint                    refused_in_a_row;
  guint64                  handed_bytes; /* framed bytes given to libsoup */
  guint64                  written_base; /* bytes written before the upgrade */
  gsize                    handed_frames;
  gboolean                 close_posted; /* deliver_closed is on its way */
  gboolean                 abusive;      /* the owner is told to close it */
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

static gboolean
on_shard (MeshWsPeer *self)
{
  return mesh_ws_shard_is_current (self->shard);
}

/* ------------------------------------------------ the owner's thread -- */

static void
notify_closed (MeshWsPeer *self)
{
  if (self->closed_notified)
    return;
  self->closed_notified = TRUE;
  g_atomic_int_set (&self->open, 0);
  if (self->registry != NULL)
    registry_remove (self->registry, self);
  if (self->callbacks.closed && !self->detached)
    self->callbacks.closed (self, self->callbacks_data);
}

static void
deliver_message (gpointer a,
                 gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;
  g_autoptr(GBytes) frame = b;

  /* Frames read after we decided to close are not worth a look. */
  if (self->detached || !g_atomic_int_get (&self->open) || self->callbacks.message == NULL)
    return;
  self->callbacks.message (self, frame, self->callbacks_data);
}

static void
deliver_refused (gpointer a,
                 gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;
  gsize word = GPOINTER_TO_SIZE (b);

  if (self->detached || !g_atomic_int_get (&self->open) || self->callbacks.refused == NULL)
    return;
  self->callbacks.refused (self, word >> 1, word & 1, self->callbacks_data);
}

static void
deliver_rate_limited (gpointer a,
                      gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;

  if (self->detached || !g_atomic_int_get (&self->open) || self->callbacks.rate_limited == NULL)
    return;
  self->callbacks.rate_limited (self, self->callbacks_data);
}

/* After the answers to what came before (errors the owner sends). */
static void
deliver_abuse_close (gpointer a,
                     gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;

  mesh_ws_peer_close (self, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "rate limit");
}

static void
deliver_closed (gpointer a,
                gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;

  notify_closed (self);
}

/* ------------------------------------------------ the shard's thread -- */

static void shard_sweep (MeshWsShard *shard, gint64 now, guint slot, gpointer user_data);

static void
message_cb (SoupWebsocketConnection *connection,
            SoupWebsocketDataType    type,
            GBytes                  *frame,
            MeshWsPeer              *self)
{
  gint64 now = g_get_monotonic_time ();
  gsize size = g_bytes_get_size (frame);

  if (!g_atomic_int_get (&self->open) || self->abusive)
    return;
  self->last_heard = now;

  if (!take_token (self, now)) {
    if (++self->refused_in_a_row >= self->limits.abuse_limit) {
      g_message ("Closing %s: %u messages over the rate limit in a row",
                 self->remote_host, self->refused_in_a_row);
      self->abusive = TRUE;
      mesh_inbox_push (self->home, deliver_abuse_close, g_object_ref (self), NULL);
      return;
    }
    mesh_inbox_push (self->home, deliver_rate_limited, g_object_ref (self), NULL);
    return;
  }
  self->refused_in_a_row = 0;

  if (type != SOUP_WEBSOCKET_DATA_TEXT || size > self->limits.max_frame_bytes) {
    gsize word = (MIN (size, G_MAXSIZE >> 1) << 1) | (type != SOUP_WEBSOCKET_DATA_TEXT);

    mesh_inbox_push (self->home, deliver_refused, g_object_ref (self), GSIZE_TO_POINTER (word));
    return;
  }

  mesh_inbox_push (self->home, deliver_message, g_object_ref (self), g_bytes_ref (frame));
}

static void
pong_cb (SoupWebsocketConnection *connection,
         GBytes                  *message,
         MeshWsPeer              *self)
{
  self->last_heard = g_get_monotonic_time ();
}

static void
shard_forget (MeshWsPeer *self)
{
  if (self->connection != NULL) {
    g_signal_handlers_disconnect_by_data (self->connection, self);
    g_clear_object (&self->connection);
  }
  g_clear_object (&self->counting);
  /* The shard's reference, taken at attach. */
  if (g_hash_table_remove (mesh_ws_shard_get_peers (self->shard, self->sweep_slot), self))
    g_object_unref (self);
}

static void
post_closed (MeshWsPeer *self)
{
  g_atomic_int_set (&self->open, 0);
  if (self->close_posted)
    return;
  self->close_posted = TRUE;
  mesh_inbox_push (self->home, deliver_closed, g_object_ref (self), NULL);
}

/* The closing handshake started: the owner hears of it now, before the
 * socket is shut, so a client that reconnects at once already finds its
 * old socket gone (e.g. from the per-user cap). */
static void
closing_cb (SoupWebsocketConnection *connection,
            MeshWsPeer              *self)
{
  post_closed (self);
}

static void
closed_cb (SoupWebsocketConnection *connection,
           MeshWsPeer              *self)
{
  post_closed (self);
  shard_forget (self);
}

static void
error_cb (SoupWebsocketConnection *connection,
          GError                  *error,
          MeshWsPeer              *self)
{
  g_debug ("WebSocket error from %s: %s", self->remote_host, error->message);
}

typedef struct {
  MeshCountingStream *counting;
  GUri               *uri;
  char               *origin;
  char               *protocol;
} Handoff;

static void
handoff_free (Handoff *handoff)
{
  g_clear_object (&handoff->counting);
  g_clear_pointer (&handoff->uri, g_uri_unref);
  g_free (handoff->origin);
  g_free (handoff->protocol);
  g_free (handoff);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Handoff, handoff_free)

static void
attach_call (gpointer a,
             gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;
  g_autoptr(Handoff) handoff = b;
  GHashTable *peers;

  mesh_ws_shard_set_sweep (self->shard, shard_sweep, NULL);
  self->sweep_slot = mesh_ws_shard_next_slot (self->shard);
  peers = mesh_ws_shard_get_peers (self->shard, self->sweep_slot);

  if (!mesh_counting_stream_attach_shard (handoff->counting, self->shard)) {
    g_warning ("Cannot move a WebSocket from %s to its shard: no socket under it",
               self->remote_host);
    g_io_stream_close (G_IO_STREAM (handoff->counting), NULL, NULL);
    post_closed (self);
    return;
  }

  self->counting = g_object_ref (handoff->counting);
  self->written_base = mesh_counting_stream_get_written (self->counting);
  self->last_heard = self->tokens_at = g_get_monotonic_time ();

  /* The input source libsoup makes now goes to the parking context too. */
  g_main_context_push_thread_default (mesh_ws_shard_get_parking (self->shard));
  self->connection = soup_websocket_connection_new (G_IO_STREAM (handoff->counting), handoff->uri,
                                                    SOUP_WEBSOCKET_CONNECTION_SERVER,
                                                    handoff->origin, handoff->protocol, NULL);
  g_main_context_pop_thread_default (mesh_ws_shard_get_parking (self->shard));

  soup_websocket_connection_set_max_incoming_payload_size (self->connection,
                                                           self->limits.max_frame_bytes * HARD_FRAME_FACTOR);
  /* No keepalive-interval: it adds a timer source per socket.  The shard's
   * sweep pings silent sockets instead (shard_sweep). */
  g_signal_connect (self->connection, "message", G_CALLBACK (message_cb), self);
  g_signal_connect (self->connection, "pong", G_CALLBACK (pong_cb), self);
  g_signal_connect (self->connection, "closing", G_CALLBACK (closing_cb), self);
  g_signal_connect (self->connection, "closed", G_CALLBACK (closed_cb), self);
  g_signal_connect (self->connection, "error", G_CALLBACK (error_cb), self);
  g_hash_table_add (peers, g_object_ref (self));

  /* Closed by its owner while on the way here. */
  if (!g_atomic_int_get (&self->open))
    soup_websocket_connection_close (self->connection, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
}

static gsize
queued_bytes (MeshWsPeer *self)
{
  guint64 written;

  if (self->counting == NULL)
    return 0;
  /* Pings, pongs and the close frame are written too, so written bytes can
   * run slightly ahead of what we handed over. */
  written = mesh_counting_stream_get_written (self->counting) - self->written_base;
  return written >= self->handed_bytes ? 0 : (gsize) (self->handed_bytes - written);
}

static void
shard_send (MeshWsPeer *self,
            GBytes     *frame)
{
  gsize len = g_bytes_get_size (frame);
  gsize queued;

  /* Sending on a closing socket is a critical in libsoup 3.2. */
  if (self->connection == NULL ||
      soup_websocket_connection_get_state (self->connection) != SOUP_WEBSOCKET_STATE_OPEN)
    return;

  queued = queued_bytes (self);
  if (queued + len > self->limits.max_queued_bytes) {
    g_message ("Closing %s: it does not read fast enough (%" G_GSIZE_FORMAT
               " bytes queued, limit %" G_GSIZE_FORMAT ")",
               self->remote_host, queued, self->limits.max_queued_bytes);
    g_atomic_int_set (&self->open, 0);
    soup_websocket_connection_close (self->connection, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                     "too slow");
    return;
  }

  self->handed_bytes += framed_size (len);
  self->handed_frames++;
  g_atomic_pointer_set (&self->queued_hint, queued + framed_size (len));
  soup_websocket_connection_send_message (self->connection, SOUP_WEBSOCKET_DATA_TEXT, frame);
}

static void
send_call (gpointer a,
           gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;
  g_autoptr(GBytes) frame = b;

  shard_send (self, frame);
}

typedef struct {
  gushort  code;
  char    *reason;
} CloseRequest;

static void
shard_close (MeshWsPeer *self,
             gushort     code,
             const char *reason)
{
  if (self->connection != NULL &&
      soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (self->connection, code, reason);
}

static void
close_call (gpointer a,
            gpointer b)
{
  g_autoptr(MeshWsPeer) self = a;
  CloseRequest *request = b;

  shard_close (self, request->code, request->reason);
  g_free (request->reason);
  g_free (request);
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

/* Each socket pings after its own period, between 3/4 of the configured
 * interval and the interval itself.  Sockets opened together (a server
 * restart brings every client back within seconds) would otherwise be pinged
 * in the same sweep, every interval, forever: thousands of pings and pongs at
 * once, a stall for everything else on the shard.  Drawn apart, they drift
 * apart and the sweep sends a few at a time. */
static gint64
ping_period_for (guint interval_s)
{
  gint64 interval = (gint64) interval_s * G_USEC_PER_SEC;

  if (interval == 0)
    return 0;
  return interval - g_random_int_range (0, (gint32) MAX (1, interval / 4));
}

static gboolean
shard_check_silence (MeshWsPeer *self,
                     gint64      now_usec)
{
  gint64 silent;

  if (self->connection == NULL || !g_atomic_int_get (&self->open) ||
      soup_websocket_connection_get_state (self->connection) != SOUP_WEBSOCKET_STATE_OPEN)
    return FALSE;
  silent = now_usec - self->last_heard;
  if (self->ping_period > 0 && silent >= self->ping_period &&
      now_usec - self->last_ping >= self->ping_period) {
    self->last_ping = now_usec;
    send_ping (self);
  }
  if (self->limits.silence_timeout_s == 0 ||
      silent < (gint64) self->limits.silence_timeout_s * G_USEC_PER_SEC)
    return FALSE;
  g_message ("Closing %s: silent for %u s", self->remote_host, self->limits.silence_timeout_s);
  g_atomic_int_set (&self->open, 0);
  soup_websocket_connection_close (self->connection, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                   "silent too long");
  return TRUE;
}

/* Each socket once a second, a twentieth of a shard's sockets each tick:
 * one timer for all of them, and what is due goes out a few at a time.
 * Pings go out in place; closing may call back into the set, so not while
 * walking it. */
static void
shard_sweep (MeshWsShard *shard,
             gint64       now,
             guint        slot,
             gpointer     user_data)
{
  g_autoptr(GPtrArray) doomed = NULL;
  GHashTableIter iter;
  MeshWsPeer *peer;

  g_hash_table_iter_init (&iter, mesh_ws_shard_get_peers (shard, slot));
  while (g_hash_table_iter_next (&iter, (gpointer *) &peer, NULL)) {
    gint64 silent = now - peer->last_heard;

    if (peer->connection == NULL || !g_atomic_int_get (&peer->open))
      continue;
    if (peer->limits.silence_timeout_s > 0 &&
        silent >= (gint64) peer->limits.silence_timeout_s * G_USEC_PER_SEC) {
      if (doomed == NULL)
        doomed = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (doomed, g_object_ref (peer));
    } else if (peer->ping_period > 0 && silent >= peer->ping_period) {
      shard_check_silence (peer, now);
    }
  }
  for (guint i = 0; doomed != NULL && i < doomed->len; i++)
    shard_check_silence (doomed->pdata[i], now);
}

/* ------------------------------------------------------------ GObject -- */

static void
mesh_ws_peer_dispose (GObject *object)
{
  MeshWsPeer *self = MESH_WS_PEER (object);

  if (self->registry != NULL)
    registry_remove (self->registry, self);
  /* The shard holds a reference while it has the connection, so this runs
   * after closed_cb (or on the shard, when a shard stops). */
  if (self->connection != NULL) {
    g_signal_handlers_disconnect_by_data (self->connection, self);
    g_clear_object (&self->connection);
  }
  g_clear_object (&self->counting);
  if (self->msg != NULL) {
    g_signal_handlers_disconnect_by_data (self->msg, self);
    g_clear_object (&self->msg);
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
  self->open = 1;
}

/* One inbox per owner context, kept for the life of the process (there are
 * a few: the main one, and a test's). */
static MeshInbox *
home_inbox (void)
{
  static GMutex lock;
  static GHashTable *inboxes;
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  MeshInbox *inbox;

  g_mutex_lock (&lock);
  if (inboxes == NULL)
    inboxes = g_hash_table_new (NULL, NULL);
  inbox = g_hash_table_lookup (inboxes, context);
  if (inbox == NULL) {
    inbox = mesh_inbox_new (context);
    g_hash_table_insert (inboxes, context, inbox);
  }
  g_mutex_unlock (&lock);
  return inbox;
}

static void
abandon (MeshWsPeer *self)
{
  if (self->msg != NULL) {
    g_signal_handlers_disconnect_by_data (self->msg, self);
    g_clear_object (&self->msg);
  }
  self->handoff = HANDOFF_ABANDONED;
  g_atomic_int_set (&self->open, 0);
  /* Not from inside the caller: owners expect the callback later. */
  mesh_inbox_push (self->home, deliver_closed, g_object_ref (self), NULL);
}

/* The 101 is written: the socket leaves libsoup's HTTP side for a shard. */
static void
wrote_informational_cb (SoupServerMessage *msg,
                        MeshWsPeer        *self)
{
  g_autoptr(MeshWsPeer) keep = g_object_ref (self);
  g_autoptr(GIOStream) stream = NULL;
  Handoff *handoff;
  MeshCountingStream *counting;
  SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);

  if (self->handoff != HANDOFF_PENDING)
    return;
  g_signal_handlers_disconnect_by_data (msg, self);

  stream = soup_server_message_steal_connection (msg);
  counting = stream ? mesh_counting_stream_find (stream) : NULL;
  if (counting == NULL) {
    g_warning ("A WebSocket from %s did not come through a MeshListener: dropped",
               self->remote_host);
    if (stream != NULL)
      g_io_stream_close (stream, NULL, NULL);
    g_clear_object (&self->msg);
    abandon (self);
    return;
  }

  handoff = g_new0 (Handoff, 1);
  handoff->counting = g_object_ref (counting);
  handoff->uri = g_uri_ref (soup_server_message_get_uri (msg));
  handoff->origin = g_strdup (soup_message_headers_get_one (request_headers, "Origin"));
  handoff->protocol = g_strdup (soup_message_headers_get_one (response_headers,
                                                              "Sec-WebSocket-Protocol"));
  mesh_counting_stream_prepare_move (counting, g_io_stream_get_input_stream (stream));
  g_clear_object (&self->msg);

  if (!g_atomic_int_get (&self->open)) {
    g_io_stream_close (G_IO_STREAM (counting), NULL, NULL);
    handoff_free (handoff);
    abandon (self);
    return;
  }
  self->handoff = HANDOFF_DONE;
  mesh_inbox_push (mesh_ws_shard_get_inbox (self->shard), attach_call, g_object_ref (self), handoff);
}

/* The exchange ended without the 101 going out (the client left). */
static void
finished_cb (SoupServerMessage *msg,
             MeshWsPeer        *self)
{
  g_autoptr(MeshWsPeer) keep = g_object_ref (self);

  if (self->handoff == HANDOFF_PENDING)
    abandon (self);
}

MeshWsPeer *
mesh_ws_peer_accept (SoupServerMessage         *msg,
                     const MeshWsLimits        *limits,
                     const MeshWsPeerCallbacks *callbacks,
                     gpointer                   user_data)
{
  MeshWsPeer *self;
  MeshWsShards *shards;

  g_return_val_if_fail (SOUP_IS_SERVER_MESSAGE (msg), NULL);
  g_return_val_if_fail (limits != NULL, NULL);
  g_return_val_if_fail (callbacks != NULL, NULL);

  /* No extensions: permessage-deflate costs 8× in relay throughput and
   * ~20× in memory per socket (research/server.md, pitfall 1). */
  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    return NULL;

  shards = limits->shards ? limits->shards : mesh_ws_shards_get_default ();
  self = g_object_new (MESH_TYPE_WS_PEER, NULL);
  self->limits = *limits;
  self->callbacks = *callbacks;
  self->callbacks_data = user_data;
  self->remote_host = g_strdup (soup_server_message_get_remote_host (msg));
  if (self->remote_host == NULL)
    self->remote_host = g_strdup ("unknown");
  self->connected_at = self->last_heard = self->tokens_at = g_get_monotonic_time ();
  self->ping_period = ping_period_for (limits->ping_interval_s);
  self->tokens = limits->burst;
  self->home = home_inbox ();
  self->shard = mesh_ws_shards_next (shards);
  self->handoff = HANDOFF_PENDING;
  self->msg = g_object_ref (msg);
  g_signal_connect (msg, "wrote-informational", G_CALLBACK (wrote_informational_cb), self);
  g_signal_connect (msg, "finished", G_CALLBACK (finished_cb), self);
  return self;
}

gsize
mesh_ws_peer_get_queued_bytes (MeshWsPeer *self)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), 0);

  if (on_shard (self))
    return queued_bytes (self);
  /* Elsewhere: as of the last frame handed over. */
  return g_atomic_pointer_get (&self->queued_hint);
}

gboolean
mesh_ws_peer_is_open (MeshWsPeer *self)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), FALSE);
  return g_atomic_int_get (&self->open) != 0;
}

gboolean
mesh_ws_peer_send_bytes (MeshWsPeer *self,
                         GBytes     *frame)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), FALSE);

  if (!g_atomic_int_get (&self->open))
    return FALSE;
  if (on_shard (self))
    shard_send (self, frame);
  else
    mesh_inbox_push (mesh_ws_shard_get_inbox (self->shard), send_call,
                     g_object_ref (self), g_bytes_ref (frame));
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
  CloseRequest *request;

  g_return_if_fail (MESH_IS_WS_PEER (self));

  if (!g_atomic_int_compare_and_exchange (&self->open, 1, 0))
    return;
  if (on_shard (self)) {
    shard_close (self, code, reason);
    return;
  }
  if (self->handoff == HANDOFF_PENDING) {
    /* The 101 may still go out: the socket is closed when it has. */
    return;
  }
  request = g_new0 (CloseRequest, 1);
  request->code = code;
  request->reason = g_strdup (reason);
  mesh_inbox_push (mesh_ws_shard_get_inbox (self->shard), close_call, g_object_ref (self), request);
}

void
mesh_ws_peer_detach (MeshWsPeer *self)
{
  g_return_if_fail (MESH_IS_WS_PEER (self));
  self->detached = TRUE;
  self->user_data = NULL;
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

guint
mesh_ws_peer_get_shard_index (MeshWsPeer *self)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), 0);
  return mesh_ws_shard_get_index (self->shard);
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

gboolean
mesh_ws_peer_check_silence (MeshWsPeer *self,
                            gint64      now_usec)
{
  g_return_val_if_fail (MESH_IS_WS_PEER (self), FALSE);
  /* The shard's own sweep does this for all of its sockets. */
  if (!on_shard (self))
    return FALSE;
  return shard_check_silence (self, now_usec);
}
