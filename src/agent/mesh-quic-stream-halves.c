/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-quic-stream"

#include "config.h"

#include "mesh-quic-stream-private.h"

/* The input and output halves of a MeshQuicStream: thin views that forward to their owner. */

G_DEFINE_FINAL_TYPE (MeshQuicInputStream, mesh_quic_input_stream, G_TYPE_INPUT_STREAM)
G_DEFINE_FINAL_TYPE (MeshQuicOutputStream, mesh_quic_output_stream, G_TYPE_OUTPUT_STREAM)

/* The task of an asynchronous call on @stream (its MeshQuicStream: @owner),
 * or NULL when the call is already over: the stream is gone, or the call
 * was cancelled. */
static GTask *
io_task_new (gpointer             stream,
             MeshQuicStream      *owner,
             int                  io_priority,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data,
             gpointer             source_tag)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_priority (task, io_priority);
  if (owner == NULL) {
    g_task_return_error (task, gone_error ());
    return NULL;
  }
  if (g_task_return_error_if_cancelled (task))
    return NULL;
  return g_steal_pointer (&task);
}

/* GInputStream */

static gssize
mesh_quic_input_stream_read (GInputStream  *stream,
                             void          *buffer,
                             gsize          count,
                             GCancellable  *cancellable,
                             GError       **error)
{
  MeshQuicStream *owner = MESH_QUIC_INPUT_STREAM (stream)->owner;

  if (owner == NULL) {
    g_propagate_error (error, gone_error ());
    return -1;
  }
  if (ring_length (&owner->recv) > 0) {
    gsize allowed = bucket_allow (&owner->recv_bucket, MIN (count, ring_length (&owner->recv)));

    if (allowed > 0)
      return (gssize) stream_consume (owner, buffer, allowed);
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                         "The stream's receive rate is exhausted for now");
    return -1;
  }
  if (owner->recv_fin)
    return 0;
  if (owner->recv_error != NULL) {
    g_propagate_error (error, g_error_copy (owner->recv_error));
    return -1;
  }
  /* Everything runs on the agent's main context: blocking here would stall the very loop that
   * feeds the stream. */
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                       "No QUIC stream data yet; use g_input_stream_read_async()");
  return -1;
}

static void
mesh_quic_input_stream_read_async (GInputStream        *stream,
                                   void                *buffer,
                                   gsize                count,
                                   int                  io_priority,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  MeshQuicStream *owner = MESH_QUIC_INPUT_STREAM (stream)->owner;
  g_autoptr(GTask) task = io_task_new (stream, owner, io_priority, cancellable, callback,
                                       user_data, mesh_quic_input_stream_read_async);

  if (task == NULL)
    return;
  g_return_if_fail (owner->read.task == NULL);
  if (count == 0) {
    g_task_return_int (task, 0);
    return;
  }
  owner->read_buffer = buffer;
  owner->read_count = count;
  owner->read_filled = 0;
  pending_set (&owner->read, task, cancellable);
  _mesh_quic_stream_dispatch (owner);
}

static gssize
mesh_quic_input_stream_read_finish (GInputStream  *stream,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}
static gboolean
mesh_quic_input_stream_close (GInputStream  *stream,
                              GCancellable  *cancellable,
                              GError       **error)
{
  MeshQuicStream *owner = MESH_QUIC_INPUT_STREAM (stream)->owner;

  if (owner != NULL)
    stream_close_input (owner);
  return TRUE;
}

static void
mesh_quic_input_stream_close_async (GInputStream        *stream,
                                    int                  io_priority,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, mesh_quic_input_stream_close_async);
  mesh_quic_input_stream_close (stream, cancellable, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
mesh_quic_input_stream_close_finish (GInputStream  *stream,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
mesh_quic_input_stream_class_init (MeshQuicInputStreamClass *klass)
{
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  input_class->read_fn = mesh_quic_input_stream_read;
  input_class->read_async = mesh_quic_input_stream_read_async;
  input_class->read_finish = mesh_quic_input_stream_read_finish;
  input_class->close_fn = mesh_quic_input_stream_close;
  input_class->close_async = mesh_quic_input_stream_close_async;
  input_class->close_finish = mesh_quic_input_stream_close_finish;
}

static void
mesh_quic_input_stream_init (MeshQuicInputStream *self)
{
}

/* GOutputStream */

static gssize
mesh_quic_output_stream_write (GOutputStream  *stream,
                               const void     *buffer,
                               gsize           count,
                               GCancellable   *cancellable,
                               GError        **error)
{
  MeshQuicStream *owner = MESH_QUIC_OUTPUT_STREAM (stream)->owner;
  gsize n;

  if (owner == NULL) {
    g_propagate_error (error, gone_error ());
    return -1;
  }
  if (!stream_check_writable (owner, error))
    return -1;
  if (count == 0)
    return 0;
  n = stream_accept_write (owner, buffer, count);
  if (n == 0) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                         "The QUIC send buffer is full; use g_output_stream_write_async()");
    return -1;
  }
  return (gssize) n;
}

static void
mesh_quic_output_stream_write_async (GOutputStream       *stream,
                                     const void          *buffer,
                                     gsize                count,
                                     int                  io_priority,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  MeshQuicStream *owner = MESH_QUIC_OUTPUT_STREAM (stream)->owner;
  g_autoptr(GTask) task = io_task_new (stream, owner, io_priority, cancellable, callback,
                                       user_data, mesh_quic_output_stream_write_async);

  if (task == NULL)
    return;
  g_return_if_fail (owner->write.task == NULL);
  if (count == 0) {
    g_task_return_int (task, 0);
    return;
  }
  owner->write_buffer = buffer;
  owner->write_count = count;
  g_clear_pointer (&owner->write_parts, g_ptr_array_unref);
  pending_set (&owner->write, task, cancellable);
  _mesh_quic_stream_dispatch (owner);
}

static gssize
mesh_quic_output_stream_write_finish (GOutputStream  *stream,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

/* Without writev_async GIO runs a writev in a worker thread, off the
 * endpoint's context, where the sync write only answers WOULD_BLOCK.  A
 * partial writev is allowed: writev_all comes back for the rest. */
static void
mesh_quic_output_stream_writev_async (GOutputStream        *stream,
                                      const GOutputVector  *vectors,
                                      gsize                 n_vectors,
                                      int                   io_priority,
                                      GCancellable         *cancellable,
                                      GAsyncReadyCallback   callback,
                                      gpointer              user_data)
{
  for (gsize i = 0; i < n_vectors; i++) {
    if (vectors[i].size > 0) {
      mesh_quic_output_stream_write_async (stream, vectors[i].buffer, vectors[i].size,
                                           io_priority, cancellable, callback, user_data);
      return;
    }
  }
  mesh_quic_output_stream_write_async (stream, NULL, 0, io_priority, cancellable, callback,
                                       user_data);
}

static gboolean
mesh_quic_output_stream_writev_finish (GOutputStream  *stream,
                                       GAsyncResult   *result,
                                       gsize          *bytes_written,
                                       GError        **error)
{
  gssize n = g_task_propagate_int (G_TASK (result), error);

  if (bytes_written != NULL)
    *bytes_written = n > 0 ? (gsize) n : 0;
  return n >= 0;
}

/**
 * mesh_quic_output_stream_write_bytes_async:
 * @stream: a MeshQuicStream's output stream (see mesh_quic_output_stream_is())
 * @parts: (array length=n_parts): bytes to send, in order
 *
 * Like g_output_stream_writev_all_async(), but the stream keeps references to @parts instead
 * of copying them (up to acknowledgement): the caller must not change their bytes.  Completes
 * with all of them accepted (mesh_quic_output_stream_write_bytes_finish()).
 */
void
mesh_quic_output_stream_write_bytes_async (GOutputStream       *stream,
                                           GBytes       *const *parts,
                                           guint                n_parts,
                                           int                  io_priority,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data)
{
  MeshQuicStream *owner;
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MESH_IS_QUIC_OUTPUT_STREAM (stream));

  owner = MESH_QUIC_OUTPUT_STREAM (stream)->owner;
  task = io_task_new (stream, owner, io_priority, cancellable, callback, user_data,
                      mesh_quic_output_stream_write_bytes_async);
  if (task == NULL)
    return;
  g_return_if_fail (owner->write.task == NULL);

  owner->write_buffer = NULL;
  owner->write_count = 0;
  g_clear_pointer (&owner->write_parts, g_ptr_array_unref);
  owner->write_parts = g_ptr_array_new_full (n_parts, (GDestroyNotify) g_bytes_unref);
  for (guint i = 0; i < n_parts; i++)
    g_ptr_array_add (owner->write_parts, g_bytes_ref (parts[i]));
  pending_set (&owner->write, task, cancellable);
  _mesh_quic_stream_dispatch (owner);
}

gboolean
mesh_quic_output_stream_write_bytes_finish (GOutputStream  *stream,
                                            GAsyncResult   *result,
                                            GError        **error)
{
  return g_task_propagate_int (G_TASK (result), error) >= 0;
}

/* Whether @stream is a MeshQuicStream's output (takes write_bytes_async()). */
gboolean
mesh_quic_output_stream_is (GOutputStream *stream)
{
  return MESH_IS_QUIC_OUTPUT_STREAM (stream);
}

static void
mesh_quic_output_stream_flush_async (GOutputStream       *stream,
                                     int                  io_priority,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  /* Data in the send ring is already the stream's: nothing to flush. */
  g_task_set_source_tag (task, mesh_quic_output_stream_flush_async);
  g_task_return_boolean (task, TRUE);
}

static gboolean
mesh_quic_output_stream_flush_finish (GOutputStream  *stream,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
static gboolean
mesh_quic_output_stream_close (GOutputStream  *stream,
                               GCancellable   *cancellable,
                               GError        **error)
{
  MeshQuicStream *owner = MESH_QUIC_OUTPUT_STREAM (stream)->owner;

  if (owner != NULL)
    stream_request_fin (owner);
  return TRUE;
}

/* Completes once the peer acknowledged every byte, so the caller may then close the
 * connection without losing the tail of the stream. */
static void
mesh_quic_output_stream_close_async (GOutputStream       *stream,
                                     int                  io_priority,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  MeshQuicStream *owner = MESH_QUIC_OUTPUT_STREAM (stream)->owner;
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, mesh_quic_output_stream_close_async);
  g_task_set_priority (task, io_priority);

  if (owner == NULL) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  g_return_if_fail (owner->close_output.task == NULL);

  stream_request_fin (owner);
  pending_set (&owner->close_output, task, cancellable);
  _mesh_quic_stream_dispatch (owner);
}

static gboolean
mesh_quic_output_stream_close_finish (GOutputStream  *stream,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
mesh_quic_output_stream_class_init (MeshQuicOutputStreamClass *klass)
{
  GOutputStreamClass *output_class = G_OUTPUT_STREAM_CLASS (klass);

  output_class->write_fn = mesh_quic_output_stream_write;
  output_class->write_async = mesh_quic_output_stream_write_async;
  output_class->write_finish = mesh_quic_output_stream_write_finish;
  output_class->writev_async = mesh_quic_output_stream_writev_async;
  output_class->writev_finish = mesh_quic_output_stream_writev_finish;
  output_class->flush_async = mesh_quic_output_stream_flush_async;
  output_class->flush_finish = mesh_quic_output_stream_flush_finish;
  output_class->close_fn = mesh_quic_output_stream_close;
  output_class->close_async = mesh_quic_output_stream_close_async;
  output_class->close_finish = mesh_quic_output_stream_close_finish;
}

static void
mesh_quic_output_stream_init (MeshQuicOutputStream *self)
{
}
