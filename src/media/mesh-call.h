/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-call-peer.h"
#include "mesh-media-enums.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL (mesh_call_get_type ())

G_DECLARE_FINAL_TYPE (MeshCall, mesh_call, MESH, CALL, GObject)

/* A call or a screen share in one room, with one MeshCallPeer per remote
 * peer (a full mesh for room calls).
 *
 * Properties: "room-id", "call-id", "kind", "direction", "state",
 * "end-reason", "caller-name", "muted", "camera-enabled",
 * "speaking-while-muted" (the microphone hears speech while muted),
 * "started-at" (monotonic µs when it became ACTIVE, 0 before),
 * "error-message" (why it failed, or NULL).
 * Signal "ended" (MeshCallEndReason): once, when it reaches ENDED. */

const char        *mesh_call_get_room_id           (MeshCall *self);
const char        *mesh_call_get_call_id           (MeshCall *self);
MeshMediaKind      mesh_call_get_kind              (MeshCall *self);
MeshCallDirection  mesh_call_get_direction         (MeshCall *self);
MeshCallState      mesh_call_get_state             (MeshCall *self);
MeshCallEndReason  mesh_call_get_end_reason        (MeshCall *self);
/* The username of who called, or who shares. */
const char        *mesh_call_get_caller_name       (MeshCall *self);
gint64             mesh_call_get_started_at        (MeshCall *self);
const char        *mesh_call_get_error_message     (MeshCall *self);
/* MeshCallPeer items; ended peers are removed. */
GListModel        *mesh_call_get_peers             (MeshCall *self);

/* Answers every peer that offered (a room call then also offers to the
 * room's other online peers); for a screen share: watch it. */
void               mesh_call_accept                (MeshCall *self);
void               mesh_call_decline               (MeshCall *self);
void               mesh_call_hang_up               (MeshCall *self);

void               mesh_call_set_muted             (MeshCall *self,
                                                    gboolean  muted);
gboolean           mesh_call_get_muted             (MeshCall *self);
void               mesh_call_set_camera_enabled    (MeshCall *self,
                                                    gboolean  enabled);
gboolean           mesh_call_get_camera_enabled    (MeshCall *self);
gboolean           mesh_call_get_speaking_while_muted (MeshCall *self);

G_END_DECLS
