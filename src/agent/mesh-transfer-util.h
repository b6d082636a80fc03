/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"

G_BEGIN_DECLS

/* SHA-256 through GnuTLS (nettle uses the CPU's SHA extensions: about ten
 * times GChecksum's speed, which matters for multi-GiB files). */
typedef struct _MeshSha256 MeshSha256;

MeshSha256 *mesh_sha256_new          (void);
void        mesh_sha256_update       (MeshSha256    *sha,
                                      const void    *data,
                                      gsize          len);
char       *mesh_sha256_free_to_hex  (MeshSha256    *sha);
void        mesh_sha256_free         (MeshSha256    *sha);
gboolean    mesh_sha256_hex_is_valid (const char    *hex);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshSha256, mesh_sha256_free)

/* A bounded queue of chunks between a worker thread and a main context.
 * The thread side blocks; the main side never does and is woken through a
 * source on its context whenever the thread pushed, popped or finished. */
typedef struct _MeshChunkPipe MeshChunkPipe;

MeshChunkPipe *mesh_chunk_pipe_new          (gsize           capacity);
void           mesh_chunk_pipe_free         (MeshChunkPipe  *pipe);
void           mesh_chunk_pipe_set_notify   (MeshChunkPipe  *pipe,
                                             GSourceFunc     func,
                                             gpointer        user_data,
                                             GDestroyNotify  destroy);
void           mesh_chunk_pipe_clear_notify (MeshChunkPipe  *pipe);
gboolean       mesh_chunk_pipe_push         (MeshChunkPipe  *pipe,
                                             GBytes         *chunk);
gboolean       mesh_chunk_pipe_push_blocking (MeshChunkPipe *pipe,
                                              GBytes        *chunk,
                                              GError       **error);
gboolean       mesh_chunk_pipe_is_full      (MeshChunkPipe  *pipe);
GBytes        *mesh_chunk_pipe_try_pop      (MeshChunkPipe  *pipe,
                                             gboolean       *eof,
                                             GError        **error);
GBytes        *mesh_chunk_pipe_pop_blocking (MeshChunkPipe  *pipe,
                                             GError        **error);
void           mesh_chunk_pipe_close        (MeshChunkPipe  *pipe);
void           mesh_chunk_pipe_abort        (MeshChunkPipe  *pipe,
                                             const GError   *error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshChunkPipe, mesh_chunk_pipe_free)

/* A byte count a worker thread adds to while the main context reads it for progress. */
guint64        mesh_transfer_counter_get    (guint64        *counter);
void           mesh_transfer_counter_add    (guint64        *counter,
                                             guint64         n);

/* What the engines' worker threads report: "@what “@name”: strerror". Always FALSE. */
gboolean       mesh_transfer_error_from_errno  (GError        **error,
                                                int             saved_errno,
                                                const char     *what,
                                                const char     *name);
/* libarchive's last error as "zip: …".  Always FALSE. */
struct archive;
gboolean       mesh_transfer_archive_failed    (struct archive  *archive,
                                                GError         **error);

G_END_DECLS
