/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-call.h"

G_BEGIN_DECLS

#define MESH_TYPE_SCREEN_VIEWER (mesh_screen_viewer_get_type ())

G_DECLARE_FINAL_TYPE (MeshScreenViewer, mesh_screen_viewer, MESH, SCREEN_VIEWER, AdwApplicationWindow)

/* A screen someone shares, watched (@share is the incoming screen-share
 * call, accepted): the picture scaled to the window, Full Screen (F11 or
 * the button; Escape leaves it).  Closing the window hangs the share up;
 * the share ending closes the window. */
MeshScreenViewer *mesh_screen_viewer_new          (GtkApplication   *application,
                                                   MeshCall         *share);
MeshCall         *mesh_screen_viewer_get_call     (MeshScreenViewer *self);
GdkPaintable     *mesh_screen_viewer_get_paintable (MeshScreenViewer *self);

G_END_DECLS
