/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* What a peer connection carries; the wire names are "call" and
 * "screenshare" (protocol §3.4 `media`). */
typedef enum {
  MESH_MEDIA_KIND_CALL,
  MESH_MEDIA_KIND_SCREENSHARE,
} MeshMediaKind;

typedef enum {
  MESH_CALL_STATE_RINGING,     /* incoming, not answered (a screen share offered to us: "Watch") */
  MESH_CALL_STATE_CALLING,     /* outgoing, nobody answered yet */
  MESH_CALL_STATE_ACTIVE,      /* at least one peer answered */
  MESH_CALL_STATE_ENDED,
} MeshCallState;

typedef enum {
  MESH_CALL_DIRECTION_INCOMING,
  MESH_CALL_DIRECTION_OUTGOING,
} MeshCallDirection;

typedef enum {
  MESH_CALL_END_NONE,
  MESH_CALL_END_HUNG_UP,
  MESH_CALL_END_DECLINED,
  MESH_CALL_END_MISSED,
  MESH_CALL_END_FAILED,
  MESH_CALL_END_REMOTE_HUNG_UP,
} MeshCallEndReason;

typedef enum {
  MESH_CALL_PEER_STATE_CONNECTING,
  MESH_CALL_PEER_STATE_CONNECTED,
  MESH_CALL_PEER_STATE_RECONNECTING,
  MESH_CALL_PEER_STATE_ENDED,
} MeshCallPeerState;

#define MESH_TYPE_MEDIA_KIND (mesh_media_kind_get_type ())
#define MESH_TYPE_CALL_STATE (mesh_call_state_get_type ())
#define MESH_TYPE_CALL_DIRECTION (mesh_call_direction_get_type ())
#define MESH_TYPE_CALL_END_REASON (mesh_call_end_reason_get_type ())
#define MESH_TYPE_CALL_PEER_STATE (mesh_call_peer_state_get_type ())

GType       mesh_media_kind_get_type       (void) G_GNUC_CONST;
GType       mesh_call_state_get_type       (void) G_GNUC_CONST;
GType       mesh_call_direction_get_type   (void) G_GNUC_CONST;
GType       mesh_call_end_reason_get_type  (void) G_GNUC_CONST;
GType       mesh_call_peer_state_get_type  (void) G_GNUC_CONST;

/* The wire names "call" and "screenshare". */
const char *mesh_media_kind_to_string      (MeshMediaKind  kind);
gboolean    mesh_media_kind_from_string    (const char    *name,
                                            MeshMediaKind *kind);

G_END_DECLS
