/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-counting-stream"

#include "config.h"

#include "mesh-counting-stream.h"

/* The output side: a pollable filter stream that adds up what it writes. */
#define MESH_TYPE_COUNTING_OUTPUT (mesh_counting_output_get_type ())
G_DECLARE_FINAL_TYPE (MeshCountingOutput, mesh_counting_output, MESH, COUNTING_OUTPUT,
                      GFilterOutputStream)

struct _MeshCountingOutput {
  GFilterOutputStream parent_instance;
  guint64             written;
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

static gssize
mesh_counting_output_write (GOutputStream *stream,
                            const void    *buffer,
                            gsize          count,
                            GCancellable  *cancellable,
                            GError       **error)
{
  MeshCountingOutput *self = MESH_COUNTING_OUTPUT (stream);
  gssize n = g_output_stream_write (base_of (stream), buffer, count, cancellable, error);

  if (n > 0)
    self->written += n;
  return n;
}

static gboolean
mesh_counting_output_flush (GOutputStream *stream,
                            GCancellable  *cancellable,
                            GError       **error)
{
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
  return g_pollable_output_stream_is_writable (G_POLLABLE_OUTPUT_STREAM (base_of (stream)));
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

static gssize
mesh_counting_output_write_nonblocking (GPollableOutputStream *stream,
                                        const void            *buffer,
                                        gsize                  count,
                                        GError               **error)
{
  MeshCountingOutput *self = MESH_COUNTING_OUTPUT (stream);
  GPollableOutputStream *base = G_POLLABLE_OUTPUT_STREAM (base_of (stream));
  gssize n = g_pollable_output_stream_write_nonblocking (base, buffer, count, NULL, error);

  if (n > 0)
    self->written += n;
  return n;
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
mesh_counting_output_class_init (MeshCountingOutputClass *klass)
{
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  stream_class->write_fn = mesh_counting_output_write;
  stream_class->flush = mesh_counting_output_flush;
}

static void
mesh_counting_output_init (MeshCountingOutput *self)
{
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

static gboolean
mesh_counting_stream_close (GIOStream     *stream,
                            GCancellable  *cancellable,
                            GError       **error)
{
  return g_io_stream_close (MESH_COUNTING_STREAM (stream)->base, cancellable, error);
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
