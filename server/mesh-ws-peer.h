/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* One server-side WebSocket with the limits both hubs enforce (the v2 hub
 * and the legacy relay): frame size, a per-socket token bucket, a bounded
 * outgoing queue, and liveness (pings, silence timeout).  What a message
 * means, and how a violation is reported, is left to the owner. */

typedef struct _MeshWsRegistry MeshWsRegistry;
typedef struct _MeshWsShards   MeshWsShards;

typedef struct {
  gsize  max_frame_bytes;      /* larger frames: too_large callback */
  double messages_per_second;  /* token bucket refill */
  double burst;                /* token bucket size */
  guint  abuse_limit;          /* refused messages in a row before closing */
  gsize  max_queued_bytes;     /* outgoing bytes not yet written to the socket */
  guint  ping_interval_s;      /* WebSocket pings; 0: none */
  guint  silence_timeout_s;    /* nothing heard for this long: closed */
  guint  max_sockets;          /* open sockets in all (the registry's) */
  guint  max_sockets_per_user; /* open sockets of one user (the registry's) */
  /* Where the owner counts sockets per user (borrowed; NULL: not counted). */
  MeshWsRegistry *registry;
  /* The threads that run the sockets (borrowed; NULL: a process-wide pool). */
  MeshWsShards   *shards;
} MeshWsLimits;

void mesh_ws_limits_init_default (MeshWsLimits *limits);

typedef struct _MeshWsPeer MeshWsPeer;

typedef struct {
  /* A text frame within the limits. */
  void (*message)      (MeshWsPeer *peer, GBytes *frame, gpointer user_data);
  /* A frame over max_frame_bytes, or a binary frame; not passed on. */
  void (*refused)      (MeshWsPeer *peer, gsize size, gboolean binary, gpointer user_data);
  /* A frame over the rate; not passed on. */
  void (*rate_limited) (MeshWsPeer *peer, gpointer user_data);
  /* The socket is closed (by either side, for any reason); called once. */
  void (*closed)       (MeshWsPeer *peer, gpointer user_data);
} MeshWsPeerCallbacks;

#define MESH_TYPE_WS_PEER (mesh_ws_peer_get_type ())
G_DECLARE_FINAL_TYPE (MeshWsPeer, mesh_ws_peer, MESH, WS_PEER, GObject)

/* In a SoupServer handler for a WebSocket path, once the request passed the
 * owner's checks: answers the upgrade (101, no extensions) and returns the
 * peer, whose socket moves to a shard when the answer is written.  NULL
 * when the request is not a valid handshake (@msg then has the error).
 * Callbacks run on the thread that called this, in the order of events. */
MeshWsPeer *mesh_ws_peer_accept           (SoupServerMessage         *msg,
                                           const MeshWsLimits        *limits,
                                           const MeshWsPeerCallbacks *callbacks,
                                           gpointer                   user_data);
/* No more callbacks (the owner forgets the peer; the socket may live on
 * until its close completes). */
void        mesh_ws_peer_detach           (MeshWsPeer   *self);
guint       mesh_ws_peer_get_shard_index  (MeshWsPeer   *self);
/* Queues a text frame.  FALSE when the socket is not open or the peer was
 * just closed for falling too far behind (logged, with the reason). */
gboolean    mesh_ws_peer_send             (MeshWsPeer   *self,
                                           const char   *text,
                                           gsize         len);
gboolean    mesh_ws_peer_send_bytes       (MeshWsPeer   *self,
                                           GBytes       *frame);
void        mesh_ws_peer_close            (MeshWsPeer   *self,
                                           gushort       code,
                                           const char   *reason);
gboolean    mesh_ws_peer_is_open          (MeshWsPeer   *self);
const char *mesh_ws_peer_get_remote_host  (MeshWsPeer   *self);
gint64      mesh_ws_peer_get_connected_at (MeshWsPeer   *self);
gsize       mesh_ws_peer_get_queued_bytes (MeshWsPeer   *self);
/* Pings a peer silent for ping_interval_s, closes one silent for
 * silence_timeout_s (TRUE when it did).  Each shard does this every second
 * for its own sockets; called from another thread it does nothing. */
gboolean    mesh_ws_peer_check_silence    (MeshWsPeer   *self,
                                           gint64        now_usec);
void        mesh_ws_peer_set_user_data    (MeshWsPeer   *self,
                                           gpointer      data);
gpointer    mesh_ws_peer_get_user_data    (MeshWsPeer   *self);

/* The open sockets of a hub, per user and per device token, with caps on
 * both counts.  A socket is counted from mesh_ws_registry_add() until it
 * closes. */
MeshWsRegistry *mesh_ws_registry_new          (guint            max_sockets,
                                               guint            max_sockets_per_user);
void            mesh_ws_registry_free         (MeshWsRegistry  *self);
/* May @user_id open one more socket?  Else MESH_ERROR_RATE_LIMITED saying
 * which cap was reached.  A NULL registry takes anything. */
gboolean        mesh_ws_registry_check        (MeshWsRegistry  *self,
                                               const char      *user_id,
                                               GError         **error);
void            mesh_ws_registry_add          (MeshWsRegistry  *self,
                                               MeshWsPeer      *peer,
                                               const char      *user_id,
                                               const char      *device_id);
/* Closes (1008, @reason) every socket opened with @device_id's token;
 * returns how many. */
guint           mesh_ws_registry_close_device (MeshWsRegistry  *self,
                                               const char      *device_id,
                                               const char      *reason);
guint           mesh_ws_registry_count_user   (MeshWsRegistry  *self,
                                               const char      *user_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshWsRegistry, mesh_ws_registry_free)

G_END_DECLS
