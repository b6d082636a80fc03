/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-quic-stream"

#include "config.h"

#include "mesh-quic-stream-private.h"

#include "mesh-frame.h"

#include <string.h>

/* One bidirectional QUIC stream as a GIOStream.
 *
 * Send side: a queue of segments, at most SEND_BUFFER_SIZE bytes not acknowledged yet.  ngtcp2
 * keeps pointers into them until the peer acknowledges the bytes, so a segment never moves and
 * a write completes as soon as it found room, i.e. once the data is accepted into the stream.
 * When the queue is full the write waits for acknowledgements: that is the back-pressure, and
 * memory stays flat whatever the stream's size.  Plain writes are copied into blocks of our
 * own; mesh_quic_output_stream_write_bytes_async() (MeshFrameWriter's file chunks) hands over
 * GBytes that are referenced, not copied: the bytes read from disk go from there straight into
 * ngtcp2's encryption.
 *
 * Receive side: ngtcp2 delivers bytes in order; they wait in a ring that grows up to the
 * flow-control window (the peer cannot send more than we granted).  Credit is returned to the
 * peer only as the application reads, so a slow consumer slows the sender.  When a read is
 * waiting on an empty ring, the bytes go straight from ngtcp2's buffer into the reader's (one
 * copy instead of two on the QUIC thread); the read completes in the dispatch that follows
 * the same batch of packets, before the main loop runs anything else.
 *
 * Every asynchronous operation finishes from _mesh_quic_stream_dispatch(), which the connection
 * calls outside ngtcp2 callbacks, so user callbacks never re-enter ngtcp2.
 *
 * Rate limits (a capability token's max_rate): a token bucket per direction.  On the send side
 * the connection is offered only as many unsent bytes as the bucket holds; on the receive side
 * a read returns only as many, and since flow-control credit goes back only as the application
 * reads, the peer cannot run ahead by more than its window either.  A bucket that ran dry wakes
 * the stream again once it holds a packet's worth. */

/* Application error code sent with STOP_SENDING / RESET_STREAM when the application gives up. */
#define APP_ERROR_CANCELLED 0x1

G_DEFINE_FINAL_TYPE (MeshQuicStream, mesh_quic_stream, G_TYPE_IO_STREAM)

GError *
gone_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED, "The QUIC stream was disposed");
}

static void
pending_clear (Pending *pending)
{
  if (pending->cancel_source != NULL) {
    g_source_destroy (pending->cancel_source);
    g_clear_pointer (&pending->cancel_source, g_source_unref);
  }
  g_clear_object (&pending->task);
}

static void
pending_return_int (Pending *pending,
                    gssize   value)
{
  g_autoptr(GTask) task = g_steal_pointer (&pending->task);

  pending_clear (pending);
  g_task_return_int (task, value);
}

static void
pending_return_boolean (Pending *pending)
{
  g_autoptr(GTask) task = g_steal_pointer (&pending->task);

  pending_clear (pending);
  g_task_return_boolean (task, TRUE);
}

static void
pending_return_error (Pending      *pending,
                      const GError *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&pending->task);

  pending_clear (pending);
  g_task_return_error (task, g_error_copy (error));
}

static gboolean
on_pending_cancelled (GCancellable *cancellable,
                      gpointer      user_data)
{
  Pending *pending = user_data;
  g_autoptr(GError) error = NULL;

  if (pending->task != NULL) {
    g_cancellable_set_error_if_cancelled (cancellable, &error);
    pending_return_error (pending, error);
  }
  return G_SOURCE_REMOVE;
}

/* Parks @task in @pending; a cancellation finishes it from this thread's main context. */
void
pending_set (Pending      *pending,
             GTask        *task,
             GCancellable *cancellable)
{
  pending->task = g_object_ref (task);
  if (cancellable != NULL) {
    pending->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (pending->cancel_source, G_SOURCE_FUNC (on_pending_cancelled),
                           pending, NULL);
    g_source_attach (pending->cancel_source, g_task_get_context (task));
  }
}

static void
stream_send_ready (MeshQuicStream *self)
{
  if (self->connection != NULL)
    _mesh_quic_connection_stream_send_ready (self->connection, self);
}

static gboolean
on_rate_timer (gpointer user_data)
{
  MeshQuicStream *self = user_data;
  GSource *current = g_main_current_source ();

  if (current == self->send_timer) {
    g_clear_pointer (&self->send_timer, g_source_unref);
    stream_send_ready (self);
  } else if (current == self->recv_timer) {
    g_clear_pointer (&self->recv_timer, g_source_unref);
    _mesh_quic_stream_dispatch (self);
  }
  return G_SOURCE_REMOVE;
}

/* Wakes the stream once @bucket holds a packet's worth again. */
static void
stream_arm_timer (MeshQuicStream *self,
                  GSource       **timer,
                  const Bucket   *bucket)
{
  if (*timer != NULL || bucket->rate == 0)
    return;
  *timer = g_timeout_source_new (bucket_wait_ms (bucket));
  g_source_set_priority (*timer, G_PRIORITY_DEFAULT);
  g_source_set_callback (*timer, on_rate_timer, self, NULL);
  g_source_attach (*timer, self->context);
}

static void
clear_timer (GSource **timer)
{
  if (*timer == NULL)
    return;
  g_source_destroy (*timer);
  g_clear_pointer (timer, g_source_unref);
}

gboolean
stream_check_writable (MeshQuicStream  *self,
                       GError         **error)
{
  if (self->send_error != NULL) {
    g_propagate_error (error, g_error_copy (self->send_error));
    return FALSE;
  }
  if (self->fin_requested) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "The QUIC stream's output is closed");
    return FALSE;
  }
  return TRUE;
}

static gsize
stream_send_held (MeshQuicStream *self)
{
  return (gsize) (self->send_tail - self->send_head);
}

/* Appends a copy of @count bytes, into the last block of our own while it has room. */
static void
stream_copy_in (MeshQuicStream *self,
                const guint8   *buffer,
                gsize           count)
{
  while (count > 0) {
    Segment *last = g_queue_peek_tail (&self->send_segments);
    gsize n;

    if (last == NULL || last->own == NULL || last->len == last->capacity) {
      last = g_new0 (Segment, 1);
      /* Small: a frame header between two referenced payloads needs no 64 KiB. */
      last->capacity = CLAMP (count, COPY_BELOW, 4 * COPY_BLOCK);
      last->own = g_malloc (last->capacity);
      last->data = last->own;
      last->offset = self->send_tail;
      g_queue_push_tail (&self->send_segments, last);
    }
    n = MIN (count, last->capacity - last->len);
    memcpy (last->own + last->len, buffer, n);
    last->len += n;
    self->send_tail += n;
    buffer += n;
    count -= n;
  }
}

/* Appends @bytes by reference (small ones are copied). */
static void
stream_add_bytes (MeshQuicStream *self,
                  GBytes         *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  Segment *segment;

  if (len < COPY_BELOW) {
    stream_copy_in (self, data, len);
    return;
  }
  segment = g_new0 (Segment, 1);
  segment->bytes = g_bytes_ref (bytes);
  segment->data = data;
  segment->len = len;
  segment->offset = self->send_tail;
  g_queue_push_tail (&self->send_segments, segment);
  self->send_tail += len;
}

/* Copies what fits of a write into the send queue; 0 when it is full. */
gsize
stream_accept_write (MeshQuicStream *self,
                     const guint8   *buffer,
                     gsize           count)
{
  gsize room = SEND_BUFFER_SIZE - MIN (stream_send_held (self), SEND_BUFFER_SIZE);
  gsize n = MIN (room, count);

  if (n == 0)
    return 0;
  stream_copy_in (self, buffer, n);
  stream_send_ready (self);
  return n;
}

/* Queues every part of a write_bytes_async(); returns their total. */
static gsize
stream_accept_parts (MeshQuicStream *self,
                     GPtrArray      *parts)
{
  gsize total = 0;

  for (guint i = 0; i < parts->len; i++) {
    total += g_bytes_get_size (parts->pdata[i]);
    stream_add_bytes (self, parts->pdata[i]);
  }
  if (total > 0)
    stream_send_ready (self);
  return total;
}

static gsize
parts_size (GPtrArray *parts)
{
  gsize total = 0;

  for (guint i = 0; i < parts->len; i++)
    total += g_bytes_get_size (parts->pdata[i]);
  return total;
}

/* Copies buffered bytes out and gives the peer that much flow-control credit back. */
gsize
stream_consume (MeshQuicStream *self,
                guint8         *buffer,
                gsize           count)
{
  gsize n = ring_pop (&self->recv, buffer, count);

  bucket_take (&self->recv_bucket, n);
  if (n > 0 && self->connection != NULL)
    _mesh_quic_connection_stream_consumed (self->connection, self, n);
  return n;
}

static gboolean
stream_send_done (MeshQuicStream *self)
{
  return self->fin_acked ||
         (self->fin_sent && self->send_head == self->send_tail && !self->fin_alone);
}

void
stream_close_input (MeshQuicStream *self)
{
  gsize unread;

  if (self->input_closed)
    return;
  self->input_closed = TRUE;

  /* Bytes nobody will read still count against the connection's window: hand them back. */
  unread = ring_length (&self->recv);
  self->recv.head = self->recv.tail;
  ring_clear (&self->recv);
  if (self->connection != NULL) {
    if (unread > 0)
      _mesh_quic_connection_stream_consumed (self->connection, self, unread);
    if (!self->recv_fin && self->recv_error == NULL)
      _mesh_quic_connection_stream_stop_reading (self->connection, self, APP_ERROR_CANCELLED);
  }
}

void
stream_request_fin (MeshQuicStream *self)
{
  if (self->fin_requested || self->send_error != NULL)
    return;
  self->fin_requested = TRUE;
  stream_send_ready (self);
}

/* GIOStream */

static GInputStream *
mesh_quic_stream_get_input_stream (GIOStream *stream)
{
  return MESH_QUIC_STREAM (stream)->input;
}

static GOutputStream *
mesh_quic_stream_get_output_stream (GIOStream *stream)
{
  return MESH_QUIC_STREAM (stream)->output;
}

static gboolean
mesh_quic_stream_close (GIOStream     *stream,
                        GCancellable  *cancellable,
                        GError       **error)
{
  MeshQuicStream *self = MESH_QUIC_STREAM (stream);

  stream_request_fin (self);
  stream_close_input (self);
  return TRUE;
}

static void
on_input_closed (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_input_stream_close_finish (G_INPUT_STREAM (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_output_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshQuicStream *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &error)) {
    stream_close_input (self);
    g_task_return_error (task, error);
    return;
  }
  g_input_stream_close_async (self->input, g_task_get_priority (task),
                              g_task_get_cancellable (task), on_input_closed,
                              g_object_ref (task));
}

/* GIO's default runs close_fn in a worker thread; ngtcp2 state must stay on ours. */
static void
mesh_quic_stream_close_async (GIOStream           *stream,
                              int                  io_priority,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  MeshQuicStream *self = MESH_QUIC_STREAM (stream);
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, mesh_quic_stream_close_async);
  g_task_set_priority (task, io_priority);
  g_output_stream_close_async (self->output, io_priority, cancellable, on_output_closed, task);
}

static gboolean
mesh_quic_stream_close_finish (GIOStream     *stream,
                               GAsyncResult  *result,
                               GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
mesh_quic_stream_dispose (GObject *object)
{
  MeshQuicStream *self = MESH_QUIC_STREAM (object);
  g_autoptr(GError) error = gone_error ();

  if (self->read.task != NULL)
    pending_return_error (&self->read, error);
  if (self->write.task != NULL)
    pending_return_error (&self->write, error);
  if (self->close_output.task != NULL)
    pending_return_error (&self->close_output, error);

  clear_timer (&self->send_timer);
  clear_timer (&self->recv_timer);

  if (self->input != NULL)
    MESH_QUIC_INPUT_STREAM (self->input)->owner = NULL;
  if (self->output != NULL)
    MESH_QUIC_OUTPUT_STREAM (self->output)->owner = NULL;
  g_clear_object (&self->input);
  g_clear_object (&self->output);

  G_OBJECT_CLASS (mesh_quic_stream_parent_class)->dispose (object);
}

static void
mesh_quic_stream_finalize (GObject *object)
{
  MeshQuicStream *self = MESH_QUIC_STREAM (object);

  g_queue_clear_full (&self->send_segments, (GDestroyNotify) segment_free);
  self->send_cursor = NULL;
  g_clear_pointer (&self->write_parts, g_ptr_array_unref);
  ring_clear (&self->recv);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_error (&self->send_error);
  g_clear_error (&self->recv_error);

  G_OBJECT_CLASS (mesh_quic_stream_parent_class)->finalize (object);
}

static void
mesh_quic_stream_class_init (MeshQuicStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *io_class = G_IO_STREAM_CLASS (klass);

  object_class->dispose = mesh_quic_stream_dispose;
  object_class->finalize = mesh_quic_stream_finalize;

  io_class->get_input_stream = mesh_quic_stream_get_input_stream;
  io_class->get_output_stream = mesh_quic_stream_get_output_stream;
  io_class->close_fn = mesh_quic_stream_close;
  io_class->close_async = mesh_quic_stream_close_async;
  io_class->close_finish = mesh_quic_stream_close_finish;
}

static void
mesh_quic_stream_init (MeshQuicStream *self)
{
  MeshQuicInputStream *input = g_object_new (MESH_TYPE_QUIC_INPUT_STREAM, NULL);
  MeshQuicOutputStream *output = g_object_new (MESH_TYPE_QUIC_OUTPUT_STREAM, NULL);

  input->owner = self;
  output->owner = self;
  self->context = g_main_context_ref_thread_default ();
  self->input = G_INPUT_STREAM (input);
  self->output = G_OUTPUT_STREAM (output);
}

/* Internal API for MeshQuicConnection */

MeshQuicStream *
_mesh_quic_stream_new (MeshQuicConnection *connection,
                       gint64              stream_id)
{
  MeshQuicStream *self = g_object_new (MESH_TYPE_QUIC_STREAM, NULL);

  self->connection = connection;
  self->id = stream_id;
  return self;
}

gsize
_mesh_quic_stream_peek_unsent (MeshQuicStream *self,
                               ngtcp2_vec      vec[MESH_QUIC_STREAM_MAX_VECS],
                               gsize          *n_vec,
                               gboolean       *fin)
{
  gsize length = (gsize) (self->send_tail - self->send_sent);
  gsize allowed = bucket_allow (&self->send_bucket, length);
  gsize left = allowed;
  GList *link;

  *n_vec = 0;
  if (allowed > 0) {
    if (self->send_cursor == NULL)
      self->send_cursor = self->send_segments.head;
    /* Skip what went out already. */
    while (self->send_cursor != NULL && self->send_cursor->next != NULL &&
           ((Segment *) self->send_cursor->data)->offset +
           ((Segment *) self->send_cursor->data)->len <= self->send_sent)
      self->send_cursor = self->send_cursor->next;
    for (link = self->send_cursor; link != NULL && left > 0 && *n_vec < MESH_QUIC_STREAM_MAX_VECS;
         link = link->next) {
      Segment *segment = link->data;
      guint64 end = segment->offset + segment->len;
      gsize start, n;

      if (end <= self->send_sent)
        continue;
      start = self->send_sent > segment->offset ? (gsize) (self->send_sent - segment->offset) : 0;
      n = MIN (segment->len - start, left);
      vec[*n_vec].base = (uint8_t *) segment->data + start;
      vec[*n_vec].len = n;
      (*n_vec)++;
      left -= n;
    }
  }
  allowed -= left;
  /* FIN only with the last byte. */
  *fin = self->fin_requested && !self->fin_sent && self->send_error == NULL && allowed == length;
  if (self->send_bucket.rate > 0 && allowed < length)
    stream_arm_timer (self, &self->send_timer, &self->send_bucket);
  return allowed;
}

void
_mesh_quic_stream_mark_sent (MeshQuicStream *self,
                             gsize           n_bytes,
                             gboolean        fin)
{
  bucket_take (&self->send_bucket, n_bytes);
  self->send_sent += n_bytes;
  if (fin && !self->fin_sent) {
    self->fin_sent = TRUE;
    self->fin_alone = n_bytes == 0;
  }
}

void
_mesh_quic_stream_acked (MeshQuicStream *self,
                         guint64         offset,
                         guint64         length)
{
  guint64 end = offset + length;

  /* A zero-length acknowledgement is the one for a FIN sent on its own. */
  if (length == 0 && self->fin_sent)
    self->fin_acked = TRUE;
  if (end > self->send_head && end <= self->send_tail)
    self->send_head = end;
  /* Segments wholly acknowledged go (ngtcp2 needs them no more). */
  for (;;) {
    Segment *segment = g_queue_peek_head (&self->send_segments);

    if (segment == NULL || segment->offset + segment->len > self->send_head ||
        (segment->own != NULL && segment->len < segment->capacity &&
         self->send_segments.length == 1))
      break;
    if (self->send_cursor == self->send_segments.head)
      self->send_cursor = NULL;
    segment_free (g_queue_pop_head (&self->send_segments));
  }
}

gboolean
_mesh_quic_stream_received (MeshQuicStream *self,
                            const guint8   *data,
                            gsize           length,
                            gboolean        fin)
{
  if (self->input_closed) {
    /* Nobody will read: return the credit at once. */
    if (length > 0 && self->connection != NULL)
      _mesh_quic_connection_stream_consumed (self->connection, self, length);
  } else if (length > 0) {
    if (self->read.task != NULL && ring_length (&self->recv) == 0 &&
        self->recv_bucket.rate == 0 && self->read_filled < self->read_count) {
      gsize n = MIN (length, self->read_count - self->read_filled);

      memcpy (self->read_buffer + self->read_filled, data, n);
      self->read_filled += n;
      data += n;
      length -= n;
    }
    if (length > 0) {
      ring_grow (&self->recv, ring_length (&self->recv) + length);
      ring_push (&self->recv, data, length);
    }
  }
  if (fin)
    self->recv_fin = TRUE;
  return TRUE;
}

/* What one direction of the stream fails with once the peer cut it short. */
static GError *
peer_abort_error (guint64      app_error_code,
                  GIOErrorEnum code,
                  const char  *what)
{
  if (app_error_code == MESH_QUIC_STREAM_CANCELLED)
    return g_error_new_literal (MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED,
                                "the peer cancelled the transfer");
  return g_error_new (G_IO_ERROR, code, "The peer %s the QUIC stream (application error %"
                      G_GUINT64_FORMAT ")", what, app_error_code);
}

void
_mesh_quic_stream_peer_reset (MeshQuicStream *self,
                              guint64         app_error_code)
{
  if (!self->recv_fin && self->recv_error == NULL)
    self->recv_error = peer_abort_error (app_error_code, G_IO_ERROR_CONNECTION_CLOSED, "reset");
}

void
_mesh_quic_stream_peer_stop_sending (MeshQuicStream *self,
                                     guint64         app_error_code)
{
  if (self->send_error == NULL && !stream_send_done (self))
    self->send_error = peer_abort_error (app_error_code, G_IO_ERROR_BROKEN_PIPE,
                                         "stopped reading");
}

void
_mesh_quic_stream_closed (MeshQuicStream *self,
                          gboolean        app_error_set,
                          guint64         app_error_code)
{
  /* ngtcp2 closes a stream once both directions are finished; with an error code set, one
   * of them was cut short. */
  if (app_error_set) {
    _mesh_quic_stream_peer_reset (self, app_error_code);
    _mesh_quic_stream_peer_stop_sending (self, app_error_code);
  } else if (self->fin_sent) {
    self->fin_acked = TRUE;
  }
  self->connection = NULL;
}

void
_mesh_quic_stream_detach (MeshQuicStream *self,
                          const GError   *error)
{
  self->connection = NULL;
  if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED)) {
    if (!self->recv_fin && self->recv_error == NULL)
      self->recv_error = g_error_copy (error);
    if (!stream_send_done (self) && self->send_error == NULL)
      self->send_error = g_error_copy (error);
    return;
  }
  if (!self->recv_fin && self->recv_error == NULL)
    self->recv_error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                    "QUIC connection lost: %s", error->message);
  if (!stream_send_done (self) && self->send_error == NULL)
    self->send_error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                    "QUIC connection lost: %s", error->message);
}

void
_mesh_quic_stream_dispatch (MeshQuicStream *self)
{
  g_autoptr(MeshQuicStream) hold = g_object_ref (self);

  if (self->read.task != NULL && self->read_filled > 0) {
    gsize n = self->read_filled;

    /* Bytes already in the reader's buffer (see _mesh_quic_stream_received()). */
    self->read_filled = 0;
    if (self->connection != NULL)
      _mesh_quic_connection_stream_consumed (self->connection, self, n);
    pending_return_int (&self->read, (gssize) n);
  } else if (self->read.task != NULL) {
    gsize allowed = bucket_allow (&self->recv_bucket,
                                  MIN (self->read_count, ring_length (&self->recv)));

    if (allowed > 0)
      pending_return_int (&self->read, (gssize) stream_consume (self, self->read_buffer,
                                                                allowed));
    else if (ring_length (&self->recv) > 0)
      stream_arm_timer (self, &self->recv_timer, &self->recv_bucket);
    else if (self->recv_fin)
      pending_return_int (&self->read, 0);
    else if (self->recv_error != NULL)
      pending_return_error (&self->read, self->recv_error);
  }

  if (self->write.task != NULL) {
    gsize room = SEND_BUFFER_SIZE - MIN (stream_send_held (self), SEND_BUFFER_SIZE);

    g_autoptr(GError) error = NULL;

    if (!stream_check_writable (self, &error)) {
      g_clear_pointer (&self->write_parts, g_ptr_array_unref);
      pending_return_error (&self->write, error);
    } else if (self->write_parts != NULL) {
      /* All parts at once, as soon as SEND_LOW_WATER is free: the queue may go over
       * SEND_BUFFER_SIZE by one such write (MeshFrameWriter's batches are bounded). */
      if (room >= MIN (parts_size (self->write_parts), SEND_LOW_WATER)) {
        g_autoptr(GPtrArray) parts = g_steal_pointer (&self->write_parts);

        pending_return_int (&self->write, (gssize) stream_accept_parts (self, parts));
      }
    } else if (room >= MIN (self->write_count, SEND_LOW_WATER)) {
      pending_return_int (&self->write, (gssize) stream_accept_write (self, self->write_buffer,
                                                                      self->write_count));
    }
  }

  if (self->close_output.task != NULL) {
    if (stream_send_done (self))
      pending_return_boolean (&self->close_output);
    else if (self->send_error != NULL)
      pending_return_error (&self->close_output, self->send_error);
  }
}

/* Public API */

/* The QUIC stream id: client-opened bidirectional streams are 0, 4, 8, ... */
gint64
mesh_quic_stream_get_id (MeshQuicStream *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_STREAM (self), -1);

  return self->id;
}

/**
 * mesh_quic_stream_get_connection:
 *
 * Returns: (transfer none) (nullable): the connection, or %NULL once it is gone
 */
MeshQuicConnection *
mesh_quic_stream_get_connection (MeshQuicStream *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_STREAM (self), NULL);

  return self->connection;
}

/**
 * mesh_quic_stream_abort:
 * @app_error_code: sent to the peer in RESET_STREAM and STOP_SENDING
 *
 * Abandons both directions at once (a cancelled transfer): the peer's reads and writes fail,
 * and so do ours that are pending.
 */
void
mesh_quic_stream_abort (MeshQuicStream *self,
                        guint64         app_error_code)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (MESH_IS_QUIC_STREAM (self));

  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The QUIC stream was aborted");
  if (self->connection != NULL) {
    gsize unread = ring_length (&self->recv);

    if (unread > 0)
      _mesh_quic_connection_stream_consumed (self->connection, self, unread);
    _mesh_quic_connection_stream_abort (self->connection, self, app_error_code);
  }
  if (self->recv_error == NULL)
    self->recv_error = g_error_copy (error);
  self->recv_fin = FALSE;
  self->recv.head = self->recv.tail;
  if (self->send_error == NULL)
    self->send_error = g_error_copy (error);
  _mesh_quic_stream_dispatch (self);
}

/**
 * mesh_quic_stream_set_send_rate:
 * @bytes_per_second: the most this stream sends per second on average; 0 for no limit
 *
 * Paces what this stream hands to the connection (a session's max_rate, on the sending side).
 * It starts with an empty bucket: N bytes written after this call take at least
 * N / @bytes_per_second seconds to leave.
 */
void
mesh_quic_stream_set_send_rate (MeshQuicStream *self,
                                guint64         bytes_per_second)
{
  g_return_if_fail (MESH_IS_QUIC_STREAM (self));

  bucket_set_rate (&self->send_bucket, bytes_per_second);
  clear_timer (&self->send_timer);
  stream_send_ready (self);
}

/**
 * mesh_quic_stream_set_receive_rate:
 * @bytes_per_second: the most the application reads per second on average; 0 for no limit
 *
 * The receiving side of a session's max_rate: reads return no faster than this, and since the
 * peer gets flow-control credit back only as we read, it cannot send faster for long either
 * (beyond its current window).
 */
void
mesh_quic_stream_set_receive_rate (MeshQuicStream *self,
                                   guint64         bytes_per_second)
{
  g_return_if_fail (MESH_IS_QUIC_STREAM (self));

  bucket_set_rate (&self->recv_bucket, bytes_per_second);
  clear_timer (&self->recv_timer);
  _mesh_quic_stream_dispatch (self);
}
