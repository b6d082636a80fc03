/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A GIOStream over another one that counts the bytes written through it.
 * libsoup 3.2 keeps each WebSocket's outgoing frames in an unbounded queue
 * and does not say how long it is; comparing the bytes we handed to a
 * connection with the bytes that reached the socket gives that length, so
 * a reader that cannot keep up can be dropped before it costs memory. */

#define MESH_TYPE_COUNTING_STREAM (mesh_counting_stream_get_type ())
G_DECLARE_FINAL_TYPE (MeshCountingStream, mesh_counting_stream, MESH, COUNTING_STREAM, GIOStream)

MeshCountingStream *mesh_counting_stream_new           (GIOStream  *base);
guint64             mesh_counting_stream_get_written   (MeshCountingStream *self);
MeshCountingStream *mesh_counting_stream_find          (GIOStream  *stream);

G_END_DECLS
