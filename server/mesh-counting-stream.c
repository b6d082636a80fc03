/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-counting-stream"

#include "config.h"

#include "mesh-counting-stream.h"
#include "mesh-ws-shard.h"

#include <string.h>

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


/* The input side: the base stream's input, plus (once the stream belongs to
 * a shard) read readiness from the shard's epoll set instead of a GSource
 * per socket with its own descriptor, and bytes read ahead by libsoup's
 * HTTP parser put back in front. */

#define MESH_TYPE_COUNTING_INPUT (mesh_counting_input_get_type ())
G_DECLARE_FINAL_TYPE (MeshCountingInput, mesh_counting_input, MESH, COUNTING_INPUT,
                      GFilterInputStream)

typedef struct {
  GSource            source;
  MeshCountingInput *input;        /* weak: cleared by whichever goes first */
} ShardReadSource;

struct _MeshCountingInput {
  GFilterInputStream  parent_instance;
  GByteArray         *pushback;
  gsize               pushback_off;
  MeshShardWatch     *watch;
  ShardReadSource    *armed;       /* the source libsoup waits on */
  gboolean            plain;       /* a bare socket under it (no TLS) */
  gboolean            drained;     /* the last read came back short */
};

static void mesh_counting_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MeshCountingInput, mesh_counting_input,
                               G_TYPE_FILTER_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      mesh_counting_input_pollable_init))

static GInputStream *
input_base (gpointer stream)
{
  return g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (stream));
}

static gsize
take_pushback (MeshCountingInput *self,
               void              *buffer,
               gsize              count)
{
  gsize n;

  if (self->pushback == NULL)
    return 0;
  n = MIN (count, self->pushback->len - self->pushback_off);
  memcpy (buffer, self->pushback->data + self->pushback_off, n);
  self->pushback_off += n;
  if (self->pushback_off >= self->pushback->len)
    g_clear_pointer (&self->pushback, g_byte_array_unref);
  return n;
}

static gssize
mesh_counting_input_read (GInputStream  *stream,
                          void          *buffer,
                          gsize          count,
                          GCancellable  *cancellable,
                          GError       **error)
{
  gsize n = take_pushback (MESH_COUNTING_INPUT (stream), buffer, count);

  if (n > 0)
    return n;
  return g_input_stream_read (input_base (stream), buffer, count, cancellable, error);
}

static gssize
mesh_counting_input_read_nonblocking (GPollableInputStream  *stream,
                                      void                  *buffer,
                                      gsize                  count,
                                      GError               **error)
{
  MeshCountingInput *self = MESH_COUNTING_INPUT (stream);
  gsize n = take_pushback (self, buffer, count);
  gssize got;

  if (n > 0)
    return n;
  /* libsoup reads until a read would block: on a bare socket a short read
   * already says so, and the shard's epoll (level-triggered) reports
   * anything that comes after.  That saves a recv(2) per wake-up. */
  if (self->drained) {
    self->drained = FALSE;
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "drained");
    return -1;
  }
  got = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (input_base (stream)),
                                                  buffer, count, NULL, error);
  if (self->plain && self->watch != NULL)
    self->drained = got > 0 && (gsize) got < count;
  return got;
}

static gboolean
mesh_counting_input_can_poll (GPollableInputStream *stream)
{
  GInputStream *base = input_base (stream);

  return G_IS_POLLABLE_INPUT_STREAM (base) &&
         g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (base));
}

static gboolean
mesh_counting_input_is_readable (GPollableInputStream *stream)
{
  MeshCountingInput *self = MESH_COUNTING_INPUT (stream);

  return self->pushback != NULL ||
         g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (input_base (stream)));
}

static gboolean
shard_read_source_dispatch (GSource     *source,
                            GSourceFunc  callback,
                            gpointer     user_data)
{
  ShardReadSource *read_source = (ShardReadSource *) source;

  /* Only ever run by hand (input_ready); GLib never finds it ready. */
  if (callback == NULL || read_source->input == NULL)
    return G_SOURCE_REMOVE;
  return ((GPollableSourceFunc) (void (*) (void)) callback) (G_OBJECT (read_source->input),
                                                            user_data);
}

static void
shard_read_source_finalize (GSource *source)
{
  ShardReadSource *read_source = (ShardReadSource *) source;
  MeshCountingInput *input = read_source->input;

  if (input != NULL && input->armed == read_source) {
    input->armed = NULL;
    if (input->watch != NULL)
      mesh_shard_watch_arm (input->watch, FALSE);
  }
}

static GSourceFuncs shard_read_source_funcs = {
  .dispatch = shard_read_source_dispatch,
  .finalize = shard_read_source_finalize,
};

/* The socket is readable: run the callback of the source libsoup attached
 * (to the parking context) as GLib would have. */
static void
input_ready (gpointer user_data)
{
  MeshCountingInput *self = user_data;
  GSource *source = (GSource *) self->armed;
  GSourceCallbackFuncs *cb_funcs;
  GSourceFunc func = NULL;
  gpointer cb_data, data = NULL;
  gboolean keep;

  if (source == NULL || g_source_is_destroyed (source) || source->callback_funcs == NULL) {
    mesh_shard_watch_arm (self->watch, FALSE);
    return;
  }
  g_object_ref (self);
  g_source_ref (source);
  /* As g_main_dispatch does: the callback may destroy its own source,
   * which clears these fields. */
  cb_data = source->callback_data;
  cb_funcs = source->callback_funcs;
  cb_funcs->ref (cb_data);
  cb_funcs->get (cb_data, source, &func, &data);
  keep = func != NULL &&
         ((GPollableSourceFunc) (void (*) (void)) func) (G_OBJECT (self), data);
  cb_funcs->unref (cb_data);
  if (!keep && !g_source_is_destroyed (source))
    g_source_destroy (source);
  g_source_unref (source);
  g_object_unref (self);
}

static GSource *
mesh_counting_input_create_source (GPollableInputStream *stream,
                                   GCancellable         *cancellable)
{
  MeshCountingInput *self = MESH_COUNTING_INPUT (stream);
  ShardReadSource *read_source;

  if (self->watch == NULL) {
    GPollableInputStream *base = G_POLLABLE_INPUT_STREAM (input_base (stream));
    g_autoptr(GSource) base_source = NULL;

    if (self->pushback != NULL)
      base_source = g_timeout_source_new (0);
    else
      base_source = g_pollable_input_stream_create_source (base, NULL);
    /* Callbacks must see this stream, not the base one. */
    return g_pollable_source_new_full (stream, base_source, cancellable);
  }

  /* No descriptor and never ready by itself: input_ready runs it. */
  read_source = (ShardReadSource *) g_source_new (&shard_read_source_funcs, sizeof (ShardReadSource));
  g_source_set_static_name ((GSource *) read_source, "[mesh] shard read");
  read_source->input = self;
  if (self->armed != NULL)
    self->armed->input = NULL;
  self->armed = read_source;
  mesh_shard_watch_arm (self->watch, TRUE);
  if (self->pushback != NULL)
    mesh_shard_watch_kick (self->watch);
  return (GSource *) read_source;
}

static void
mesh_counting_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = mesh_counting_input_can_poll;
  iface->is_readable = mesh_counting_input_is_readable;
  iface->create_source = mesh_counting_input_create_source;
  iface->read_nonblocking = mesh_counting_input_read_nonblocking;
}

static void
input_drop_watch (MeshCountingInput *self)
{
  if (self->armed != NULL) {
    self->armed->input = NULL;
    self->armed = NULL;
  }
  g_clear_pointer (&self->watch, mesh_shard_watch_free);
}

static gboolean
mesh_counting_input_close (GInputStream  *stream,
                           GCancellable  *cancellable,
                           GError       **error)
{
  input_drop_watch (MESH_COUNTING_INPUT (stream));
  return TRUE;
}

static void
mesh_counting_input_finalize (GObject *object)
{
  MeshCountingInput *self = MESH_COUNTING_INPUT (object);

  input_drop_watch (self);
  g_clear_pointer (&self->pushback, g_byte_array_unref);
  G_OBJECT_CLASS (mesh_counting_input_parent_class)->finalize (object);
}

static void
mesh_counting_input_class_init (MeshCountingInputClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = mesh_counting_input_finalize;
  stream_class->read_fn = mesh_counting_input_read;
  stream_class->close_fn = mesh_counting_input_close;
}

static void
mesh_counting_input_init (MeshCountingInput *self)
{
}

struct _MeshCountingStream {
  GIOStream           parent_instance;
  GIOStream          *base;
  MeshCountingInput  *input;
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
  return G_INPUT_STREAM (MESH_COUNTING_STREAM (stream)->input);
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
  input_drop_watch (self->input);
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
  MeshWsShard *shard = mesh_ws_shard_get_current ();
  GTask *task;

  /* libsoup closes from inside a read, when the thread-default context is
   * the shard's parking one (run only now and then): the close completes
   * on the shard's own context instead, so that "closed" comes at once. */
  if (shard != NULL)
    g_main_context_push_thread_default (mesh_ws_shard_get_context (shard));
  task = g_task_new (stream, cancellable, callback, user_data);
  input_drop_watch (self->input);
  g_task_set_source_tag (task, mesh_counting_stream_close_async);
  close_after_flush (self, task);
  if (shard != NULL)
    g_main_context_pop_thread_default (mesh_ws_shard_get_context (shard));
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

  g_clear_object (&self->input);
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
  self->input = g_object_new (MESH_TYPE_COUNTING_INPUT,
                              "base-stream", g_io_stream_get_input_stream (base),
                              "close-base-stream", FALSE,
                              NULL);
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

void
mesh_counting_stream_prepare_move (MeshCountingStream *self,
                                   GInputStream       *read_ahead)
{
  MeshCountingOutput *output;
  g_autoptr(GByteArray) early = g_byte_array_new ();

  g_return_if_fail (MESH_IS_COUNTING_STREAM (self));

  /* What the HTTP parser read past the request: a client may send its first
   * frame in the same packet as the upgrade. */
  if (read_ahead != NULL && read_ahead != G_INPUT_STREAM (self->input) &&
      G_IS_POLLABLE_INPUT_STREAM (read_ahead)) {
    guint8 buffer[4096];

    for (;;) {
      gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (read_ahead),
                                                           buffer, sizeof buffer, NULL, NULL);
      if (n <= 0)
        break;
      g_byte_array_append (early, buffer, n);
    }
  }
  if (early->len > 0) {
    g_clear_pointer (&self->input->pushback, g_byte_array_unref);
    self->input->pushback = g_steal_pointer (&early);
    self->input->pushback_off = 0;
  }

  /* The upgrade response leaves now, from this thread. */
  output = self->output;
  if (output->flush_source != NULL) {
    g_source_destroy (output->flush_source);
    g_clear_pointer (&output->flush_source, g_source_unref);
  }
  flush_nonblocking (output);
}

static int
find_fd (GIOStream *stream)
{
  g_autoptr(GIOStream) current = g_object_ref (stream);

  for (guint depth = 0; current != NULL && depth < 8; depth++) {
    GIOStream *next = NULL;

    if (G_IS_SOCKET_CONNECTION (current))
      return g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (current)));
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (current), "base-io-stream") == NULL)
      return -1;
    g_object_get (current, "base-io-stream", &next, NULL);
    g_set_object (&current, next);
    g_clear_object (&next);
  }
  return -1;
}

gboolean
mesh_counting_stream_attach_shard (MeshCountingStream *self,
                                   MeshWsShard        *shard)
{
  MeshCountingOutput *output;
  int fd;

  g_return_val_if_fail (MESH_IS_COUNTING_STREAM (self), FALSE);
  g_return_val_if_fail (mesh_ws_shard_is_current (shard), FALSE);

  fd = find_fd (self->base);
  if (fd < 0)
    return FALSE;

  output = self->output;
  g_clear_pointer (&output->context, g_main_context_unref);
  output->context = g_main_context_ref (mesh_ws_shard_get_context (shard));
  if (pending_len (output) > 0)
    schedule_flush (output, TRUE);

  self->input->watch = mesh_shard_watch_new (shard, fd, input_ready, self->input);
  self->input->plain = G_IS_SOCKET_CONNECTION (self->base);
  return TRUE;
}
