/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "mesh-media-enums.h"
#include "mesh-video-output.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL_PEER (mesh_call_peer_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallPeer, mesh_call_peer, MESH, CALL_PEER, GObject)

/* One remote peer of a call: one webrtcbin.
 *
 * Properties: "peer-id", "username", "state" (MeshCallPeerState),
 * "poor-connection" (from stats: loss > 5 % or round trip > 400 ms),
 * "camera-off" (no video frame for 2 s while connected), "bitrate" (the
 * current VP8 target for this peer, bits/s), "video" (MeshVideoOutput). */

const char        *mesh_call_peer_get_peer_id        (MeshCallPeer *self);
const char        *mesh_call_peer_get_username       (MeshCallPeer *self);
MeshCallPeerState  mesh_call_peer_get_state          (MeshCallPeer *self);
gboolean           mesh_call_peer_get_poor_connection (MeshCallPeer *self);
gboolean           mesh_call_peer_get_camera_off     (MeshCallPeer *self);
guint              mesh_call_peer_get_bitrate        (MeshCallPeer *self);
/* Its decoded video (camera or screen). */
MeshVideoOutput   *mesh_call_peer_get_video          (MeshCallPeer *self);
/* Decoded audio buffers received from it so far. */
guint64            mesh_call_peer_get_audio_buffers  (MeshCallPeer *self);

G_END_DECLS
