/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "mesh-frame.h"

G_BEGIN_DECLS

#define MESH_TYPE_FRAME_WRITER (mesh_frame_writer_get_type ())

G_DECLARE_FINAL_TYPE (MeshFrameWriter, mesh_frame_writer, MESH, FRAME_WRITER, GObject)

MeshFrameWriter *mesh_frame_writer_get_for_stream      (GIOStream            *stream);
void             mesh_frame_writer_write_async         (MeshFrameWriter      *self,
                                                        MeshFrameType         type,
                                                        GBytes               *payload,
                                                        GCancellable         *cancellable,
                                                        GAsyncReadyCallback   callback,
                                                        gpointer              user_data);
void             mesh_frame_writer_write_control_async (MeshFrameWriter      *self,
                                                        JsonObject           *control,
                                                        GCancellable         *cancellable,
                                                        GAsyncReadyCallback   callback,
                                                        gpointer              user_data);
gboolean         mesh_frame_writer_write_finish        (MeshFrameWriter      *self,
                                                        GAsyncResult         *result,
                                                        GError              **error);
void             mesh_frame_writer_flush_async         (MeshFrameWriter      *self,
                                                        GCancellable         *cancellable,
                                                        GAsyncReadyCallback   callback,
                                                        gpointer              user_data);
gsize            mesh_frame_writer_get_queued_bytes    (MeshFrameWriter      *self);
void             mesh_frame_writer_abort               (MeshFrameWriter      *self);

G_END_DECLS
