/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MESH_TYPE_TERMINAL_HOST (mesh_terminal_host_get_type ())

G_DECLARE_FINAL_TYPE (MeshTerminalHost, mesh_terminal_host, MESH, TERMINAL_HOST, GObject)

MeshTerminalHost *mesh_terminal_host_new            (const char * const  *argv);
gboolean          mesh_terminal_host_start          (MeshTerminalHost    *self,
                                                     guint                cols,
                                                     guint                rows,
                                                     GError             **error);
char             *mesh_terminal_host_add_viewer     (MeshTerminalHost    *self,
                                                     GIOStream           *stream,
                                                     gboolean             may_control);
void              mesh_terminal_host_remove_viewer  (MeshTerminalHost    *self,
                                                     const char          *viewer_id);
guint             mesh_terminal_host_get_n_viewers  (MeshTerminalHost    *self);
gboolean          mesh_terminal_host_set_controller (MeshTerminalHost    *self,
                                                     const char          *viewer_id,
                                                     GError             **error);
const char       *mesh_terminal_host_get_controller (MeshTerminalHost    *self);
void              mesh_terminal_host_resize         (MeshTerminalHost    *self,
                                                     guint                cols,
                                                     guint                rows);
void              mesh_terminal_host_send_input     (MeshTerminalHost    *self,
                                                     const void          *data,
                                                     gsize                len);
void              mesh_terminal_host_stop           (MeshTerminalHost    *self);
gboolean          mesh_terminal_host_is_running     (MeshTerminalHost    *self);
GBytes           *mesh_terminal_host_get_scrollback (MeshTerminalHost    *self);
gsize             mesh_terminal_host_get_queued_bytes (MeshTerminalHost  *self,
                                                       const char        *viewer_id);
void              mesh_terminal_host_set_stall_timeout (MeshTerminalHost *self,
                                                        guint             timeout_ms);

G_END_DECLS
