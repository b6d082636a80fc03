/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-frame-writer"

#include "config.h"

#include "mesh-frame-writer.h"

#include "mesh-quic-stream.h"

/* Frames queued meanwhile go out together in one writev. */
#define MAX_BATCH_FRAMES 32
#define MAX_BATCH_BYTES  (2 * 1024 * 1024)

struct _MeshFrameWriter {
  GObject        parent_instance;

  GOutputStream *output;
  GCancellable  *cancellable;
  GQueue         queue;
  GPtrArray     *batch;
  GOutputVector *vectors;
  gsize          queued_bytes;
  GError        *error;
};

typedef struct {
  guint8  header[MESH_FRAME_HEADER_SIZE];
  GBytes *payload;
} Item;

G_DEFINE_FINAL_TYPE (MeshFrameWriter, mesh_frame_writer, G_TYPE_OBJECT)

static void
item_free (Item *item)
{
  g_clear_pointer (&item->payload, g_bytes_unref);
  g_free (item);
}

/* A flush marker is a queued task without an item. */
static gsize
task_bytes (GTask *task)
{
  Item *item = g_task_get_task_data (task);

  return item != NULL ? MESH_FRAME_HEADER_SIZE + g_bytes_get_size (item->payload) : 0;
}

static void
fail_queue (MeshFrameWriter *self)
{
  GTask *task;

  while ((task = g_queue_pop_head (&self->queue)) != NULL) {
    self->queued_bytes -= task_bytes (task);
    g_task_return_error (task, g_error_copy (self->error));
    g_object_unref (task);
  }
}

static void start_batch (MeshFrameWriter *self);

static void
on_written (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MeshFrameWriter) self = user_data;
  g_autoptr(GPtrArray) batch = g_steal_pointer (&self->batch);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (self->vectors != NULL)
    ok = g_output_stream_writev_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  else
    ok = mesh_quic_output_stream_write_bytes_finish (G_OUTPUT_STREAM (source), result, &error);
  g_clear_pointer (&self->vectors, g_free);
  if (!ok) {
    /* A partly written frame leaves the stream unusable for any later one. */
    if (self->error == NULL)
      self->error = g_error_copy (error);
  }

  for (guint i = 0; i < batch->len; i++) {
    GTask *task = g_ptr_array_index (batch, i);

    self->queued_bytes -= task_bytes (task);
    if (error != NULL)
      g_task_return_error (task, g_error_copy (error));
    else
      g_task_return_boolean (task, TRUE);
  }

  if (self->error != NULL)
    fail_queue (self);
  else
    start_batch (self);
}

static void
start_batch (MeshFrameWriter *self)
{
  gsize bytes = 0;
  guint n = 0;

  if (self->batch != NULL)
    return;

  self->batch = g_ptr_array_new_with_free_func (g_object_unref);
  while (self->batch->len < MAX_BATCH_FRAMES && bytes < MAX_BATCH_BYTES) {
    GTask *task = g_queue_peek_head (&self->queue);

    if (task == NULL)
      break;
    if (g_task_get_task_data (task) == NULL) {
      /* Everything before the marker is out: it completes, or it waits. */
      if (self->batch->len > 0)
        break;
      g_queue_pop_head (&self->queue);
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      continue;
    }
    g_queue_pop_head (&self->queue);
    /* A caller may give up on a frame only before any byte of it is sent. */
    if (g_task_return_error_if_cancelled (task)) {
      self->queued_bytes -= task_bytes (task);
      g_object_unref (task);
      continue;
    }
    g_ptr_array_add (self->batch, task);
    bytes += task_bytes (task);
  }
  if (self->batch->len == 0) {
    g_clear_pointer (&self->batch, g_ptr_array_unref);
    return;
  }

  /* A QUIC stream takes the payloads by reference: a file chunk is not copied again. */
  if (mesh_quic_output_stream_is (self->output)) {
    g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

    for (guint i = 0; i < self->batch->len; i++) {
      Item *item = g_task_get_task_data (g_ptr_array_index (self->batch, i));

      g_ptr_array_add (parts, g_bytes_new (item->header, MESH_FRAME_HEADER_SIZE));
      g_ptr_array_add (parts, g_bytes_ref (item->payload));
    }
    mesh_quic_output_stream_write_bytes_async (self->output, (GBytes *const *) parts->pdata,
                                               parts->len, G_PRIORITY_DEFAULT,
                                               self->cancellable, on_written,
                                               g_object_ref (self));
    return;
  }

  self->vectors = g_new0 (GOutputVector, self->batch->len * 2);
  for (guint i = 0; i < self->batch->len; i++) {
    Item *item = g_task_get_task_data (g_ptr_array_index (self->batch, i));
    gsize len;

    self->vectors[n].buffer = item->header;
    self->vectors[n++].size = MESH_FRAME_HEADER_SIZE;
    self->vectors[n].buffer = g_bytes_get_data (item->payload, &len);
    self->vectors[n++].size = len;
  }
  g_output_stream_writev_all_async (self->output, self->vectors, n, G_PRIORITY_DEFAULT,
                                    self->cancellable, on_written, g_object_ref (self));
}

static void
mesh_frame_writer_finalize (GObject *object)
{
  MeshFrameWriter *self = MESH_FRAME_WRITER (object);

  /* Every queued task holds a reference, so the queue is empty here. */
  g_assert (g_queue_is_empty (&self->queue));
  g_clear_object (&self->output);
  g_clear_object (&self->cancellable);
  g_clear_error (&self->error);

  G_OBJECT_CLASS (mesh_frame_writer_parent_class)->finalize (object);
}

static void
mesh_frame_writer_class_init (MeshFrameWriterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_frame_writer_finalize;
}

static void
mesh_frame_writer_init (MeshFrameWriter *self)
{
  self->cancellable = g_cancellable_new ();
  g_queue_init (&self->queue);
}

/**
 * mesh_frame_writer_get_for_stream:
 *
 * Returns the one writer of @stream, creating it on first use.  It queues
 * frames so that several parties (a transfer and its acknowledgements, or
 * a terminal host's output and error answers) never interleave bytes.
 *
 * Returns: (transfer full): the writer
 */
MeshFrameWriter *
mesh_frame_writer_get_for_stream (GIOStream *stream)
{
  MeshFrameWriter *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  self = g_object_get_data (G_OBJECT (stream), "mesh-frame-writer");
  if (self == NULL) {
    self = g_object_new (MESH_TYPE_FRAME_WRITER, NULL);
    self->output = g_object_ref (g_io_stream_get_output_stream (stream));
    g_object_set_data_full (G_OBJECT (stream), "mesh-frame-writer", self, g_object_unref);
  }
  return g_object_ref (self);
}

/* Queues one frame; the callback (may be NULL) runs once it is fully written
 * or failed.  Frames leave in the order they were queued. */
void
mesh_frame_writer_write_async (MeshFrameWriter     *self,
                               MeshFrameType        type,
                               GBytes              *payload,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Item *item;

  g_return_if_fail (MESH_IS_FRAME_WRITER (self));
  g_return_if_fail (payload != NULL);
  g_return_if_fail (g_bytes_get_size (payload) <= MESH_FRAME_MAX_PAYLOAD);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_frame_writer_write_async);

  if (self->error != NULL) {
    g_task_return_error (task, g_error_copy (self->error));
    return;
  }

  item = g_new0 (Item, 1);
  mesh_frame_encode_header (type, g_bytes_get_size (payload), item->header);
  item->payload = g_bytes_ref (payload);
  g_task_set_task_data (task, item, (GDestroyNotify) item_free);

  self->queued_bytes += task_bytes (task);
  g_queue_push_tail (&self->queue, g_steal_pointer (&task));
  start_batch (self);
}

void
mesh_frame_writer_write_control_async (MeshFrameWriter     *self,
                                       JsonObject          *control,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_autoptr(GBytes) payload = NULL;

  g_return_if_fail (MESH_IS_FRAME_WRITER (self));
  g_return_if_fail (control != NULL);

  payload = mesh_frame_control_to_bytes (control);
  mesh_frame_writer_write_async (self, MESH_FRAME_CONTROL, payload, cancellable,
                                 callback, user_data);
}

gboolean
mesh_frame_writer_write_finish (MeshFrameWriter  *self,
                                GAsyncResult     *result,
                                GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Completes once every frame queued before it is written (or failed). */
void
mesh_frame_writer_flush_async (MeshFrameWriter     *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MESH_IS_FRAME_WRITER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_frame_writer_flush_async);
  if (self->error != NULL) {
    g_task_return_error (task, g_error_copy (self->error));
    return;
  }
  g_queue_push_tail (&self->queue, g_steal_pointer (&task));
  start_batch (self);
}

/* Bytes accepted but not yet written: what a slow peer leaves piled up. */
gsize
mesh_frame_writer_get_queued_bytes (MeshFrameWriter *self)
{
  g_return_val_if_fail (MESH_IS_FRAME_WRITER (self), 0);

  return self->queued_bytes;
}

/* Gives up on the stream: the write in progress is cancelled and every
 * queued or later frame fails. */
void
mesh_frame_writer_abort (MeshFrameWriter *self)
{
  g_return_if_fail (MESH_IS_FRAME_WRITER (self));

  if (self->error == NULL)
    self->error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                       "the stream was abandoned");
  g_cancellable_cancel (self->cancellable);
  fail_queue (self);
}
