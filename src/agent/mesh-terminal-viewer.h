/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MESH_TYPE_TERMINAL_VIEWER (mesh_terminal_viewer_get_type ())

G_DECLARE_FINAL_TYPE (MeshTerminalViewer, mesh_terminal_viewer, MESH, TERMINAL_VIEWER, GObject)

MeshTerminalViewer *mesh_terminal_viewer_new         (GIOStream           *stream);
void                mesh_terminal_viewer_start       (MeshTerminalViewer  *self);
void                mesh_terminal_viewer_send_input  (MeshTerminalViewer  *self,
                                                      const void          *data,
                                                      gsize                len);
void                mesh_terminal_viewer_send_resize (MeshTerminalViewer  *self,
                                                      guint                cols,
                                                      guint                rows);
guint               mesh_terminal_viewer_get_cols    (MeshTerminalViewer  *self);
guint               mesh_terminal_viewer_get_rows    (MeshTerminalViewer  *self);
void                mesh_terminal_viewer_close       (MeshTerminalViewer  *self);

G_END_DECLS
