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

typedef struct _MeshWsShard MeshWsShard;

/* Moving a socket to a shard (mesh-ws-shard.h), after libsoup's HTTP side
 * let go of it.  On the thread that had it: keeps what libsoup's parser
 * read ahead from @read_ahead (put back in front of the input) and writes
 * out what is buffered.  Then, on the shard's thread: later writes are
 * flushed there, and read readiness comes from the shard's epoll set.
 * FALSE when the stream has no socket under it. */
void                mesh_counting_stream_prepare_move  (MeshCountingStream *self,
                                                        GInputStream       *read_ahead);
gboolean            mesh_counting_stream_attach_shard  (MeshCountingStream *self,
                                                        MeshWsShard        *shard);

G_END_DECLS
