/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-call.h"
#include "mesh-call-peer.h"
#include "mesh-video-output.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL_TILE (mesh_call_tile_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallTile, mesh_call_tile, MESH, CALL_TILE, AdwBin)

/* One person of a call: their video (a GtkPicture of a MeshVideoPaintable;
 * the output is told the tile's size, so frames are scaled to it before
 * they are converted), or their avatar while there is none (audio only,
 * camera off, not connected yet), their name, and what is wrong if anything:
 * connecting, reconnecting, camera off, poor connection. */
GtkWidget       *mesh_call_tile_new          (MeshCallPeer *peer);
/* The user's own camera (@output NULL: none) in @call: "You", muted or not. */
GtkWidget       *mesh_call_tile_new_self     (MeshCall        *call,
                                              MeshVideoOutput *output,
                                              const char      *own_name);
MeshCallPeer    *mesh_call_tile_get_peer     (MeshCallTile *self);
GdkPaintable    *mesh_call_tile_get_paintable (MeshCallTile *self);
/* Whether the video is shown (frames came), not the avatar. */
gboolean         mesh_call_tile_get_showing_video (MeshCallTile *self);
/* The state line shown on the tile ("" when all is well). */
const char      *mesh_call_tile_get_status   (MeshCallTile *self);
/* A small tile (the self view over the others): smaller avatar and text. */
void             mesh_call_tile_set_compact  (MeshCallTile *self,
                                              gboolean      compact);

G_END_DECLS
