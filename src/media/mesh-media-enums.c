/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-media-enums.h"

G_DEFINE_ENUM_TYPE (MeshMediaKind, mesh_media_kind,
  G_DEFINE_ENUM_VALUE (MESH_MEDIA_KIND_CALL, "call"),
  G_DEFINE_ENUM_VALUE (MESH_MEDIA_KIND_SCREENSHARE, "screenshare"))

G_DEFINE_ENUM_TYPE (MeshCallState, mesh_call_state,
  G_DEFINE_ENUM_VALUE (MESH_CALL_STATE_RINGING, "ringing"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_STATE_CALLING, "calling"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_STATE_ACTIVE, "active"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_STATE_ENDED, "ended"))

G_DEFINE_ENUM_TYPE (MeshCallDirection, mesh_call_direction,
  G_DEFINE_ENUM_VALUE (MESH_CALL_DIRECTION_INCOMING, "incoming"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_DIRECTION_OUTGOING, "outgoing"))

G_DEFINE_ENUM_TYPE (MeshCallEndReason, mesh_call_end_reason,
  G_DEFINE_ENUM_VALUE (MESH_CALL_END_NONE, "none"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_END_HUNG_UP, "hung-up"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_END_DECLINED, "declined"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_END_MISSED, "missed"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_END_FAILED, "failed"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_END_REMOTE_HUNG_UP, "remote-hung-up"))

G_DEFINE_ENUM_TYPE (MeshCallPeerState, mesh_call_peer_state,
  G_DEFINE_ENUM_VALUE (MESH_CALL_PEER_STATE_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_PEER_STATE_CONNECTED, "connected"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_PEER_STATE_RECONNECTING, "reconnecting"),
  G_DEFINE_ENUM_VALUE (MESH_CALL_PEER_STATE_ENDED, "ended"))

const char *
mesh_media_kind_to_string (MeshMediaKind kind)
{
  return kind == MESH_MEDIA_KIND_SCREENSHARE ? "screenshare" : "call";
}

gboolean
mesh_media_kind_from_string (const char    *name,
                             MeshMediaKind *kind)
{
  if (g_strcmp0 (name, "call") == 0) {
    *kind = MESH_MEDIA_KIND_CALL;
    return TRUE;
  }
  if (g_strcmp0 (name, "screenshare") == 0) {
    *kind = MESH_MEDIA_KIND_SCREENSHARE;
    return TRUE;
  }
  return FALSE;
}
