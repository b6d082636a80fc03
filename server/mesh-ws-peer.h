/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* One server-side WebSocket with the limits both hubs enforce (the v2 hub
 * and the legacy relay): frame size, a per-socket token bucket, a bounded
 * outgoing queue, and liveness (pings, silence timeout).  What a message
 * means, and how a violation is reported, is left to the owner. */

typedef struct {
  gsize  max_frame_bytes;      /* larger frames: too_large callback */
  double messages_per_second;  /* token bucket refill */
  double burst;                /* token bucket size */
  guint  abuse_limit;          /* refused messages in a row before closing */
  gsize  max_queued_bytes;     /* outgoing bytes not yet written to the socket */
  guint  ping_interval_s;      /* WebSocket pings; 0: none */
  guint  silence_timeout_s;    /* nothing heard for this long: closed */
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

MeshWsPeer *mesh_ws_peer_new              (SoupWebsocketConnection   *connection,
                                           const MeshWsLimits        *limits,
                                           const char                *remote_host,
                                           const MeshWsPeerCallbacks *callbacks,
                                           gpointer                   user_data);
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
/* Call every few seconds: pings a peer silent for ping_interval_s, closes
 * one silent for silence_timeout_s (TRUE when it did). */
gboolean    mesh_ws_peer_check_silence    (MeshWsPeer   *self,
                                           gint64        now_usec);
void        mesh_ws_peer_set_user_data    (MeshWsPeer   *self,
                                           gpointer      data);
gpointer    mesh_ws_peer_get_user_data    (MeshWsPeer   *self);

G_END_DECLS
