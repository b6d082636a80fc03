/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define MESH_TYPE_VIDEO_OUTPUT (mesh_video_output_get_type ())

G_DECLARE_FINAL_TYPE (MeshVideoOutput, mesh_video_output, MESH, VIDEO_OUTPUT, GObject)

/* Where decoded video ends: a bin (`videoscale ! videoconvert ! BGRA ! appsink`)
 * whose newest frame the UI takes on the main context of creation.  Frames are
 * scaled to the size hint (aspect ratio kept, never enlarged) before the
 * conversion, so a small tile costs a small conversion.
 *
 * Properties: "frames" (guint64: frames that reached it), "width", "height"
 * (of the last frame).  Signal "frame": a new frame is there (coalesced: at
 * most one emission pending). */

MeshVideoOutput *mesh_video_output_new           (void);
/* A bin with a "sink" ghost pad taking video/x-raw. */
GstElement      *mesh_video_output_get_element   (MeshVideoOutput *self);
/* 0 × 0: the source's size. */
void             mesh_video_output_set_size_hint (MeshVideoOutput *self,
                                                  int              width,
                                                  int              height);
/* The newest frame (BGRA) or NULL. */
GstSample       *mesh_video_output_dup_sample    (MeshVideoOutput *self);
guint64          mesh_video_output_get_frames    (MeshVideoOutput *self);
int              mesh_video_output_get_width     (MeshVideoOutput *self);
int              mesh_video_output_get_height    (MeshVideoOutput *self);

G_END_DECLS
