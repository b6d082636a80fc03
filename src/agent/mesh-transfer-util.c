/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-transfer"

#include "config.h"

#include "mesh-transfer-util.h"

#include <archive.h>
#include <gnutls/crypto.h>

struct _MeshSha256 {
  gnutls_hash_hd_t handle;
};

struct _MeshChunkPipe {
  GMutex   mutex;
  GCond    cond;
  GQueue   chunks;
  gsize    bytes;
  gsize    capacity;
  gboolean closed;
  GError  *error;
  GSource *notify;
};

MeshSha256 *
mesh_sha256_new (void)
{
  MeshSha256 *sha = g_new0 (MeshSha256, 1);

  if (gnutls_hash_init (&sha->handle, GNUTLS_DIG_SHA256) < 0)
    g_error ("GnuTLS cannot compute SHA-256");
  return sha;
}

void
mesh_sha256_update (MeshSha256 *sha,
                    const void *data,
                    gsize       len)
{
  g_return_if_fail (sha != NULL);

  if (len > 0)
    gnutls_hash (sha->handle, data, len);
}

/* Finishes the hash and frees @sha; returns lower-case hex. */
char *
mesh_sha256_free_to_hex (MeshSha256 *sha)
{
  guint8 digest[32];
  char *hex = g_malloc (2 * sizeof digest + 1);

  g_return_val_if_fail (sha != NULL, NULL);

  gnutls_hash_deinit (sha->handle, digest);
  g_free (sha);
  for (guint i = 0; i < sizeof digest; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", digest[i]);
  return hex;
}

void
mesh_sha256_free (MeshSha256 *sha)
{
  if (sha == NULL)
    return;
  gnutls_hash_deinit (sha->handle, NULL);
  g_free (sha);
}

gboolean
mesh_sha256_hex_is_valid (const char *hex)
{
  if (hex == NULL)
    return FALSE;
  for (guint i = 0; i < 64; i++) {
    if (!g_ascii_isxdigit (hex[i]) || g_ascii_isupper (hex[i]))
      return FALSE;
  }
  return hex[64] == '\0';
}

static gboolean
notify_dispatch (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs notify_funcs = {
  .dispatch = notify_dispatch,
};

/* Called with the lock held, from the thread side. */
static void
wake_main (MeshChunkPipe *pipe)
{
  if (pipe->notify != NULL)
    g_source_set_ready_time (pipe->notify, 0);
}

MeshChunkPipe *
mesh_chunk_pipe_new (gsize capacity)
{
  MeshChunkPipe *pipe = g_new0 (MeshChunkPipe, 1);

  g_mutex_init (&pipe->mutex);
  g_cond_init (&pipe->cond);
  g_queue_init (&pipe->chunks);
  pipe->capacity = capacity;
  return pipe;
}

/* The owner frees the pipe once its worker thread has returned. */
void
mesh_chunk_pipe_free (MeshChunkPipe *pipe)
{
  if (pipe == NULL)
    return;
  mesh_chunk_pipe_clear_notify (pipe);
  g_queue_clear_full (&pipe->chunks, (GDestroyNotify) g_bytes_unref);
  g_clear_error (&pipe->error);
  g_mutex_clear (&pipe->mutex);
  g_cond_clear (&pipe->cond);
  g_free (pipe);
}

/* Runs @func on the calling thread's default context each time the worker
 * made progress; @func returns G_SOURCE_CONTINUE. */
void
mesh_chunk_pipe_set_notify (MeshChunkPipe  *pipe,
                            GSourceFunc     func,
                            gpointer        user_data,
                            GDestroyNotify  destroy)
{
  GSource *source = g_source_new (&notify_funcs, sizeof (GSource));

  g_source_set_callback (source, func, user_data, destroy);
  g_source_set_static_name (source, "[mesh] chunk pipe");
  g_source_attach (source, g_main_context_get_thread_default ());

  mesh_chunk_pipe_clear_notify (pipe);
  g_mutex_lock (&pipe->mutex);
  pipe->notify = source;
  /* Whatever happened before the source existed still deserves a look. */
  g_source_set_ready_time (source, 0);
  g_mutex_unlock (&pipe->mutex);
}

void
mesh_chunk_pipe_clear_notify (MeshChunkPipe *pipe)
{
  GSource *source;

  g_mutex_lock (&pipe->mutex);
  source = g_steal_pointer (&pipe->notify);
  g_mutex_unlock (&pipe->mutex);
  if (source != NULL) {
    g_source_destroy (source);
    g_source_unref (source);
  }
}

/* Main side: never blocks; check mesh_chunk_pipe_is_full() to pause the
 * producer.  FALSE when the consumer gave up. */
gboolean
mesh_chunk_pipe_push (MeshChunkPipe *pipe,
                      GBytes        *chunk)
{
  gboolean ok;

  g_mutex_lock (&pipe->mutex);
  ok = pipe->error == NULL && !pipe->closed;
  if (ok) {
    g_queue_push_tail (&pipe->chunks, g_bytes_ref (chunk));
    pipe->bytes += g_bytes_get_size (chunk);
    g_cond_broadcast (&pipe->cond);
  }
  g_mutex_unlock (&pipe->mutex);
  return ok;
}

/* Thread side: waits for room. */
gboolean
mesh_chunk_pipe_push_blocking (MeshChunkPipe  *pipe,
                               GBytes         *chunk,
                               GError        **error)
{
  g_mutex_lock (&pipe->mutex);
  while (pipe->error == NULL && pipe->bytes >= pipe->capacity)
    g_cond_wait (&pipe->cond, &pipe->mutex);
  if (pipe->error != NULL) {
    g_propagate_error (error, g_error_copy (pipe->error));
    g_mutex_unlock (&pipe->mutex);
    return FALSE;
  }
  g_queue_push_tail (&pipe->chunks, g_bytes_ref (chunk));
  pipe->bytes += g_bytes_get_size (chunk);
  wake_main (pipe);
  g_mutex_unlock (&pipe->mutex);
  return TRUE;
}

gboolean
mesh_chunk_pipe_is_full (MeshChunkPipe *pipe)
{
  gboolean full;

  g_mutex_lock (&pipe->mutex);
  full = pipe->bytes >= pipe->capacity;
  g_mutex_unlock (&pipe->mutex);
  return full;
}

/* Main side: a chunk, or NULL with *@eof set once the producer closed and
 * everything was taken, or NULL with @error after an abort. */
GBytes *
mesh_chunk_pipe_try_pop (MeshChunkPipe  *pipe,
                         gboolean       *eof,
                         GError        **error)
{
  GBytes *chunk = NULL;

  *eof = FALSE;
  g_mutex_lock (&pipe->mutex);
  if (pipe->error != NULL) {
    g_propagate_error (error, g_error_copy (pipe->error));
  } else {
    chunk = g_queue_pop_head (&pipe->chunks);
    if (chunk != NULL) {
      pipe->bytes -= g_bytes_get_size (chunk);
      g_cond_broadcast (&pipe->cond);
    } else {
      *eof = pipe->closed;
    }
  }
  g_mutex_unlock (&pipe->mutex);
  return chunk;
}

/* Thread side: waits for a chunk; NULL without @error at the end. */
GBytes *
mesh_chunk_pipe_pop_blocking (MeshChunkPipe  *pipe,
                              GError        **error)
{
  GBytes *chunk = NULL;

  g_mutex_lock (&pipe->mutex);
  while (pipe->error == NULL && !pipe->closed && g_queue_is_empty (&pipe->chunks))
    g_cond_wait (&pipe->cond, &pipe->mutex);
  if (pipe->error != NULL) {
    g_propagate_error (error, g_error_copy (pipe->error));
  } else {
    chunk = g_queue_pop_head (&pipe->chunks);
    if (chunk != NULL) {
      pipe->bytes -= g_bytes_get_size (chunk);
      wake_main (pipe);
    }
  }
  g_mutex_unlock (&pipe->mutex);
  return chunk;
}

/* The producer is done: consumers drain what is left, then see the end. */
void
mesh_chunk_pipe_close (MeshChunkPipe *pipe)
{
  g_mutex_lock (&pipe->mutex);
  pipe->closed = TRUE;
  g_cond_broadcast (&pipe->cond);
  wake_main (pipe);
  g_mutex_unlock (&pipe->mutex);
}

/* Either side gives up: both see @error from now on.  The first error wins. */
void
mesh_chunk_pipe_abort (MeshChunkPipe *pipe,
                       const GError  *error)
{
  g_mutex_lock (&pipe->mutex);
  if (pipe->error == NULL)
    pipe->error = g_error_copy (error);
  g_queue_clear_full (&pipe->chunks, (GDestroyNotify) g_bytes_unref);
  g_queue_init (&pipe->chunks);
  pipe->bytes = 0;
  g_cond_broadcast (&pipe->cond);
  wake_main (pipe);
  g_mutex_unlock (&pipe->mutex);
}

gboolean
mesh_transfer_error_from_errno (GError     **error,
                                int          saved_errno,
                                const char  *what,
                                const char  *name)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               "%s “%s”: %s", what, name, g_strerror (saved_errno));
  return FALSE;
}

gboolean
mesh_transfer_archive_failed (struct archive  *archive,
                              GError         **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "zip: %s",
               archive_error_string (archive) != NULL ? archive_error_string (archive)
                                                      : "unknown error");
  return FALSE;
}

guint64
mesh_transfer_counter_get (guint64 *counter)
{
  return __atomic_load_n (counter, __ATOMIC_RELAXED);
}

void
mesh_transfer_counter_add (guint64 *counter,
                           guint64  n)
{
  __atomic_add_fetch (counter, n, __ATOMIC_RELAXED);
}
