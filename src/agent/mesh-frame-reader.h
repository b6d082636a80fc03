/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-frame.h"

G_BEGIN_DECLS

#define MESH_TYPE_FRAME_READER (mesh_frame_reader_get_type ())

G_DECLARE_FINAL_TYPE (MeshFrameReader, mesh_frame_reader, MESH, FRAME_READER, GObject)

MeshFrameReader *mesh_frame_reader_get_for_stream (GIOStream            *stream);
void             mesh_frame_reader_read_async     (MeshFrameReader      *self,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
gboolean         mesh_frame_reader_read_finish    (MeshFrameReader      *self,
                                                   GAsyncResult         *result,
                                                   MeshFrameType        *type,
                                                   GBytes              **payload,
                                                   GError              **error);

G_END_DECLS
