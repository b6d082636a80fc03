/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

#include "mesh-call.h"
#include "mesh-call-peer.h"
#include "mesh-client-session.h"
#include "mesh-media-enums.h"
#include "mesh-video-output.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL_ENGINE (mesh_call_engine_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallEngine, mesh_call_engine, MESH, CALL_ENGINE, GObject)

/* Calls and screen shares over webrtcbin, signalled through a
 * MeshClientSession (protocol §3.4, docs/protocol.md "Calls").  Lives on the
 * thread-default main context of its creation.
 *
 * Properties: "session", "ice-transport-policy" (GstWebRTCICETransportPolicy),
 * "echo-cancel" (default TRUE), "local-address" (NULL: every interface; tests
 * use "127.0.0.1"), "ring-timeout" (seconds, default 30).
 * Signal "incoming-call" (MeshCall *call): a new RINGING call or share. */

MeshCallEngine  *mesh_call_engine_new              (MeshClientSession *session);
MeshClientSession *mesh_call_engine_get_session    (MeshCallEngine    *self);
/* MeshCall items, the live ones. */
GListModel      *mesh_call_engine_get_calls        (MeshCallEngine    *self);
MeshCall        *mesh_call_engine_find_call        (MeshCallEngine    *self,
                                                    const char        *room_id,
                                                    MeshMediaKind      kind);
/* Calls every online client peer of the room (@peer_id NULL) or one of
 * them.  G_IO_ERROR_EXISTS when a call of that room runs already,
 * G_IO_ERROR_NOT_FOUND when nobody else is online (or @peer_id is not in
 * the room), G_IO_ERROR_NOT_CONNECTED when the room is not joined. */
MeshCall        *mesh_call_engine_start_call       (MeshCallEngine    *self,
                                                    const char        *room_id,
                                                    const char        *peer_id,
                                                    GError           **error);
/* Offers @source (live raw video; the engine takes it, floating is fine)
 * to every online client peer of the room. */
MeshCall        *mesh_call_engine_start_screenshare (MeshCallEngine   *self,
                                                    const char        *room_id,
                                                    GstElement        *source,
                                                    GError           **error);
void             mesh_call_engine_hang_up_all      (MeshCallEngine    *self);

/* Local media, taken by the engine (floating is fine).  NULL camera: audio
 * only; NULL microphone: receive only; NULL speaker: a fakesink. */
void             mesh_call_engine_set_camera       (MeshCallEngine    *self,
                                                    GstElement        *source);
void             mesh_call_engine_set_microphone   (MeshCallEngine    *self,
                                                    GstElement        *source);
void             mesh_call_engine_set_speaker      (MeshCallEngine    *self,
                                                    GstElement        *sink);
/* The local camera while a call sends it. */
MeshVideoOutput *mesh_call_engine_get_self_view    (MeshCallEngine    *self);

G_END_DECLS
