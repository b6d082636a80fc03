/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>
#include <libportal/portal.h>

G_BEGIN_DECLS

/* Frames per second of a screen share, and the least it may fall to. */
#define MESH_SCREEN_SOURCE_FPS     15
#define MESH_SCREEN_SOURCE_MIN_FPS 5
/* Wider screens are scaled down to this width, but never below half theirs. */
#define MESH_SCREEN_SOURCE_MAX_WIDTH 1920

#define MESH_TYPE_SCREEN_SOURCE (mesh_screen_source_get_type ())

G_DECLARE_FINAL_TYPE (MeshScreenSource, mesh_screen_source, MESH, SCREEN_SOURCE, GObject)

/* The screen to share: the xdg-desktop-portal ScreenCast (the user picks a
 * screen or a window; cancelling gives G_IO_ERROR_CANCELLED), or, with no
 * portal, the whole X screen ($DISPLAY).  MESH_SCREEN_SOURCE=x11 forces the
 * X screen, MESH_SCREEN_SOURCE=test[:WxH] a test pattern (tests only).
 *
 * Signal "closed": the user stopped sharing from the portal's indicator, or
 * the source failed (the X display went away, PipeWire stopped). */

void              mesh_screen_source_new_async    (XdpParent           *parent,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
MeshScreenSource *mesh_screen_source_new_finish   (GAsyncResult        *result,
                                                   GError             **error);
/* A bin with a "src" ghost pad of raw video: the screen's aspect ratio,
 * at most MESH_SCREEN_SOURCE_MAX_WIDTH wide (never below half the screen's
 * width), MESH_SCREEN_SOURCE_FPS frames per second. */
GstElement       *mesh_screen_source_get_element  (MeshScreenSource    *self);
/* "portal", "x11" or "test". */
const char       *mesh_screen_source_get_backend  (MeshScreenSource    *self);
gboolean          mesh_screen_source_is_closed    (MeshScreenSource    *self);
/* Ends the portal session; "closed" is not emitted for it. */
void              mesh_screen_source_close        (MeshScreenSource    *self);

/* The size a screen of @width × @height is sent at. */
void              mesh_screen_source_scaled_size  (int                  width,
                                                   int                  height,
                                                   int                 *out_width,
                                                   int                 *out_height);

G_END_DECLS
