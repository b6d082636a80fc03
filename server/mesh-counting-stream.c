/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-counting-stream"

#include "config.h"

#include "mesh-counting-stream.h"

/* The output side: a pollable filter stream that adds up what it writes and
 * batches small writes.  libsoup 3.2 writes each WebSocket frame with its own
 * syscall, and once a socket would block it writes one frame per main-loop
 * iteration; here frames are appended to a buffer that is flushed once per
 * iteration (or when the socket becomes writable) in one write, so a burst of
 * relayed signals costs one syscall per socket instead of one per frame. */

/* Beyond this much unsent data writes would block: the owner (MeshWsPeer)
 * closes a reader long before, at its own max-queued-bytes. */
#define MAX_BUFFERED (64 * 1024 * 1024)
/* After a close, unsent data gets this long to leave before it is dropped. */
#define LINGER_SECONDS 10

#define MESH_TYPE_COUNTING_OUTPUT (mesh_counting_output_get_type ())
G_DECLARE_FINAL_TYPE (MeshCountingOutput, mesh_counting_output, MESH, COUNTING_OUTPUT,
                      GFilterOutputStream)

struct _MeshCountingOutput {
  GFilterOutputStream  parent_instance;
  guint64              written;     /* bytes that reached the base stream */
  GByteArray          *pending;     /* accepted, not yet written */
  gsize                pending_off;
  GSource             *flush_source;
  GError              *error;       /* a write failed: every later write fails */
  GMainContext        *context;
};

static void mesh_counting_output_pollable_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MeshCountingOutput, mesh_counting_output,
                               G_TYPE_FILTER_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      mesh_counting_output_pollable_init))

static GOutputStream *
base_of (gpointer stream)
{
  return g_filter_output_stream_get_base_stream (G_FILTER_OUTPUT_STREAM (stream));
}

static gsize
pending_len (MeshCountingOutput *self)
{
  return self->pending->len - self->pending_off;
}

static void schedule_flush (MeshCountingOutput *self,
                            gboolean            when_writable);

/* Writes what it can without blocking.  TRUE when the buffer is empty. */
static gboolean
flush_nonblocking (MeshCountingOutput *self)
{
  GPollableOutputStream *base = G_POLLABLE_OUTPUT_STREAM (base_of (self));

  while (pending_len (self) > 0 && self->error == NULL) {
    g_autoptr(GError) error = NULL;
    gssize n = g_pollable_output_stream_write_nonblocking (base,
                                                          self->pending->data + self->pending_off,
                                                          pending_len (self), NULL, &error);

    if (n < 0) {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return FALSE;
      self->error = g_steal_pointer (&error);
      break;
    }
    self->written += n;
    self->pending_off += n;
  }

  /* Written out, or failed: either way nothing is left to send. */
  g_byte_array_set_size (self->pending, 0);
  self->pending_off = 0;
  return TRUE;
}

static gboolean
flush_cb (gpointer user_data)
{
  MeshCountingOutput *self = user_data;

  g_clear_pointer (&self->flush_source, g_source_unref);
  if (!flush_nonblocking (self))
    schedule_flush (self, TRUE);
  return G_SOURCE_REMOVE;
}

static gboolean
flush_writable_cb (GObject  *base,
                   gpointer  user_data)
{
  return flush_cb (user_data);
}

static void
schedule_flush (MeshCountingOutput *self,
                gboolean            when_writable)
{
  if (self->flush_source != NULL)
    return;

  if (when_writable) {
    self->flush_source = g_pollable_output_stream_create_source (
      G_POLLABLE_OUTPUT_STREAM (base_of (self)), NULL);
    g_source_set_callback (self->flush_source, (GSourceFunc) (void (*) (void)) flush_writable_cb,
                           self, NULL);
  } else {
    /* Everything queued during this iteration goes out in one write. */
    self->flush_source = g_idle_source_new ();
    g_source_set_priority (self->flush_source, G_PRIORITY_DEFAULT);
    g_source_set_callback (self->flush_source, flush_cb, self, NULL);
  }
  g_source_set_static_name (self->flush_source, "[mesh] flush");
  g_source_attach (self->flush_source, self->context);
}

static gssize
mesh_counting_output_write_nonblocking (GPollableOutputStream *stream,
                                        const void            *buffer,
                                        gsize                  count,
                                        GError               **error)
{
  MeshCountingOutput *self = MESH_COUNTING_OUTPUT (stream);

  if (self->error != NULL) {
    g_propagate_error (error, g_error_copy (self->error));
    return -1;
  }
  if (pending_len (self) + count > MAX_BUFFERED && !flush_nonblocking (self) &&
      pending_len (self) + count > MAX_BUFFERED) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "output buffer full");
    return -1;
  }
  if (self->error != NULL) {
    g_propagate_error (error, g_error_copy (self->error));
    return -1;
  }

  g_byte_array_append (self->pending, buffer, count);
  schedule_flush (self, FALSE);
  return count;
}

static gssize
mesh_counting_output_write (GOutputStream *stream,
                            const void    *buffer,
                            gsize          count,
                            GCancellable  *cancellable,
                            GError       **error)
{
  MeshCountingOutput *self = MESH_COUNTING_OUTPUT (stream);
  gsize done = 0;
  gssize n;

  /* A blocking write keeps the order: first what is buffered. */
  if (pending_len (self) > 0) {
    if (!g_output_stream_write_all (base_of (stream), self->pending->data + self->pending_off,
                                    pending_len (self), &done, cancellable, error))
      return -1;
    self->written += done;
    g_byte_array_set_size (self->pending, 0);
    self->pending_off = 0;
  }
  n = g_output_stream_write (base_of (stream), buffer, count, cancellable, error);
  if (n > 0)
    self->written += n;
  return n;
}

static gboolean
mesh_counting_output_flush (GOutputStream *stream,
                            GCancellable  *cancellable,
                            GError       **error)
{
  MeshCountingOutput *self = MESH_COUNTING_OUTPUT (stream);
  gsize done = 0;

  if (pending_len (self) > 0) {
    if (!g_output_stream_write_all (base_of (stream), self->pending->data + self->pending_off,
                                    pending_len (self), &done, cancellable, error))
      return FALSE;
    self->written += done;
    g_byte_array_set_size (self->pending, 0);
    self->pending_off = 0;
  }
  return g_output_stream_flush (base_of (stream), cancellable, error);
}

static gboolean
mesh_counting_output_can_poll (GPollableOutputStream *stream)
{
  GOutputStream *base = base_of (stream);

  return G_IS_POLLABLE_OUTPUT_STREAM (base) &&
         g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (base));
}

static gboolean
mesh_counting_output_is_writable (GPollableOutputStream *stream)
{
  return pending_len (MESH_COUNTING_OUTPUT (stream)) < MAX_BUFFERED;
}

static GSource *
mesh_counting_output_create_source (GPollableOutputStream *stream,
                                    GCancellable          *cancellable)
{
  GPollableOutputStream *base = G_POLLABLE_OUTPUT_STREAM (base_of (stream));
  g_autoptr(GSource) base_source = g_pollable_output_stream_create_source (base, NULL);

  /* Callbacks must see this stream, not the base one. */
  return g_pollable_source_new_full (stream, base_source, cancellable);
}

static void
mesh_counting_output_pollable_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = mesh_counting_output_can_poll;
  iface->is_writable = mesh_counting_output_is_writable;
  iface->create_source = mesh_counting_output_create_source;
  iface->write_nonblocking = mesh_counting_output_write_nonblocking;
}

static void
mesh_counting_output_finalize (GObject *object)
{
  MeshCountingOutput *self = MESH_COUNTING_OUTPUT (object);

  if (self->flush_source != NULL) {
    g_source_destroy (self->flush_source);
    g_clear_pointer (&self->flush_source, g_source_unref);
  }
  g_clear_pointer (&self->pending, g_byte_array_unref);
  g_clear_error (&self->error);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (mesh_counting_output_parent_class)->finalize (object);
}

static void
mesh_counting_output_class_init (MeshCountingOutputClass *klass)
{
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = mesh_counting_output_finalize;
  stream_class->write_fn = mesh_counting_output_write;
  stream_class->flush = mesh_counting_output_flush;
}

static void
mesh_counting_output_init (MeshCountingOutput *self)
{
  self->pending = g_byte_array_new ();
  self->context = g_main_context_ref_thread_default ();
}

struct _MeshCountingStream {
  GIOStream           parent_instance;
  GIOStream          *base;
  MeshCountingOutput *output;
};

G_DEFINE_FINAL_TYPE (MeshCountingStream, mesh_counting_stream, G_TYPE_IO_STREAM)

enum {
  PROP_0,
  PROP_BASE_IOSTREAM,
  N_PROPS
};

static GInputStream *
mesh_counting_stream_get_input_stream (GIOStream *stream)
{
  return g_io_stream_get_input_stream (MESH_COUNTING_STREAM (stream)->base);
}

static GOutputStream *
mesh_counting_stream_get_output_stream (GIOStream *stream)
{
  return G_OUTPUT_STREAM (MESH_COUNTING_STREAM (stream)->output);
}

/* Closing: what is still buffered gets LINGER_SECONDS to leave (without
 * blocking the main loop), then the base stream is closed. */
typedef struct {
  MeshCountingStream *stream;
  GTask              *task;       /* NULL for a synchronous close */
  GSource            *writable;
  GSource            *timeout;
} Linger;

static void
base_closed_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
linger_finish (Linger *linger)
{
  MeshCountingStream *self = linger->stream;

  if (linger->writable != NULL) {
    g_source_destroy (linger->writable);
    g_source_unref (linger->writable);
  }
  if (linger->timeout != NULL) {
    g_source_destroy (linger->timeout);
    g_source_unref (linger->timeout);
  }
  if (linger->task != NULL)
    g_io_stream_close_async (self->base, G_PRIORITY_DEFAULT, NULL, base_closed_cb, linger->task);
  else
    g_io_stream_close (self->base, NULL, NULL);
  g_object_unref (self);
  g_free (linger);
}

static gboolean
linger_writable_cb (GObject  *base,
                    gpointer  user_data)
{
  Linger *linger = user_data;

  if (!flush_nonblocking (linger->stream->output))
    return G_SOURCE_CONTINUE;
  linger_finish (linger);
  return G_SOURCE_REMOVE;
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  Linger *linger = user_data;
  MeshCountingOutput *output = linger->stream->output;

  g_debug ("Dropping %" G_GSIZE_FORMAT " unsent bytes at close", pending_len (output));
  g_byte_array_set_size (output->pending, 0);
  output->pending_off = 0;
  linger_finish (linger);
  return G_SOURCE_REMOVE;
}

static void
close_after_flush (MeshCountingStream *self,
                   GTask              *task)
{
  MeshCountingOutput *output = self->output;
  Linger *linger;

  if (output->flush_source != NULL) {
    g_source_destroy (output->flush_source);
    g_clear_pointer (&output->flush_source, g_source_unref);
  }

  linger = g_new0 (Linger, 1);
  linger->stream = g_object_ref (self);
  linger->task = task;
  if (flush_nonblocking (output)) {
    linger_finish (linger);
    return;
  }

  linger->writable = g_pollable_output_stream_create_source (
    G_POLLABLE_OUTPUT_STREAM (base_of (output)), NULL);
  g_source_set_callback (linger->writable, (GSourceFunc) (void (*) (void)) linger_writable_cb,
                         linger, NULL);
  g_source_attach (linger->writable, output->context);
  linger->timeout = g_timeout_source_new_seconds (LINGER_SECONDS);
  g_source_set_callback (linger->timeout, linger_timeout_cb, linger, NULL);
  g_source_attach (linger->timeout, output->context);
}

static gboolean
mesh_counting_stream_close (GIOStream     *stream,
                            GCancellable  *cancellable,
                            GError       **error)
{
  MeshCountingStream *self = MESH_COUNTING_STREAM (stream);

  /* Called on the stream's own thread (close_async is implemented below,
   * so GIO never runs this in a worker). */
  if (pending_len (self->output) == 0 && self->output->flush_source == NULL)
    return g_io_stream_close (self->base, cancellable, error);
  close_after_flush (self, NULL);
  return TRUE;
}

static void
mesh_counting_stream_close_async (GIOStream           *stream,
                                  int                  io_priority,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  MeshCountingStream *self = MESH_COUNTING_STREAM (stream);
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, mesh_counting_stream_close_async);
  close_after_flush (self, task);
}

static gboolean
mesh_counting_stream_close_finish (GIOStream     *stream,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
mesh_counting_stream_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MeshCountingStream *self = MESH_COUNTING_STREAM (object);

  switch (prop_id) {
  case PROP_BASE_IOSTREAM:
    g_value_set_object (value, self->base);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_counting_stream_finalize (GObject *object)
{
  MeshCountingStream *self = MESH_COUNTING_STREAM (object);

  g_clear_object (&self->output);
  g_clear_object (&self->base);
  G_OBJECT_CLASS (mesh_counting_stream_parent_class)->finalize (object);
}

static void
mesh_counting_stream_class_init (MeshCountingStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  object_class->get_property = mesh_counting_stream_get_property;
  object_class->finalize = mesh_counting_stream_finalize;
  stream_class->get_input_stream = mesh_counting_stream_get_input_stream;
  stream_class->get_output_stream = mesh_counting_stream_get_output_stream;
  stream_class->close_fn = mesh_counting_stream_close;
  stream_class->close_async = mesh_counting_stream_close_async;
  stream_class->close_finish = mesh_counting_stream_close_finish;

  g_object_class_install_property (object_class, PROP_BASE_IOSTREAM,
    g_param_spec_object ("base-iostream", NULL, NULL, G_TYPE_IO_STREAM,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
}

static void
mesh_counting_stream_init (MeshCountingStream *self)
{
}

MeshCountingStream *
mesh_counting_stream_new (GIOStream *base)
{
  MeshCountingStream *self;

  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);

  self = g_object_new (MESH_TYPE_COUNTING_STREAM, NULL);
  self->base = g_object_ref (base);
  self->output = g_object_new (MESH_TYPE_COUNTING_OUTPUT,
                               "base-stream", g_io_stream_get_output_stream (base),
                               "close-base-stream", FALSE,
                               NULL);
  return self;
}

guint64
mesh_counting_stream_get_written (MeshCountingStream *self)
{
  g_return_val_if_fail (MESH_IS_COUNTING_STREAM (self), 0);
  return self->output->written;
}

/* Walks down the "base-iostream" chain (libsoup wraps the stream it was
 * given) to the counting stream, if there is one. */
MeshCountingStream *
mesh_counting_stream_find (GIOStream *stream)
{
  g_autoptr(GIOStream) current = stream ? g_object_ref (stream) : NULL;

  for (guint depth = 0; current != NULL && depth < 8; depth++) {
    GIOStream *next = NULL;

    if (MESH_IS_COUNTING_STREAM (current))
      return MESH_COUNTING_STREAM (current);
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (current), "base-iostream") == NULL)
      return NULL;
    g_object_get (current, "base-iostream", &next, NULL);
    g_set_object (&current, next);
    g_clear_object (&next);
  }
  return NULL;
}
