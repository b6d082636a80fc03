/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "mesh-video-output.h"

G_BEGIN_DECLS

#define MESH_TYPE_VIDEO_PAINTABLE (mesh_video_paintable_get_type ())

G_DECLARE_FINAL_TYPE (MeshVideoPaintable, mesh_video_paintable, MESH, VIDEO_PAINTABLE, GObject)

/* A GdkPaintable showing the newest frame of a MeshVideoOutput, at the
 * frame's size and shape; drawn scaled to fit (letterboxed in black).
 * Nothing is drawn before the first frame, so a tile's placeholder shows. */
MeshVideoPaintable *mesh_video_paintable_new         (MeshVideoOutput    *output);
MeshVideoOutput    *mesh_video_paintable_get_output  (MeshVideoPaintable *self);
/* The newest frame as a texture, or NULL before the first one. */
GdkTexture         *mesh_video_paintable_get_texture (MeshVideoPaintable *self);

G_END_DECLS
