/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent-session"

#include "config.h"

#include "mesh-agent-session.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"

#include <string.h>

#define MESH_TYPE_FILTER_INPUT_STREAM (mesh_filter_input_stream_get_type ())

G_DECLARE_FINAL_TYPE (MeshFilterInputStream, mesh_filter_input_stream, MESH, FILTER_INPUT_STREAM,
                      GInputStream)

struct _MeshFilterInputStream {
  GInputStream            parent_instance;

  MeshAgentSessionStream *owner;     /* weak: the owner keeps us */
  MeshFrameReader        *reader;
  GBytes                 *pending;   /* an encoded frame not yet handed out */
  gsize                   pending_pos;
};

struct _MeshAgentSessionStream {
  GIOStream              parent_instance;

  GIOStream             *base;
  MeshFilterInputStream *input;
  GStrv                  intercept;
  MeshAgentControlFunc   func;
  gpointer               user_data;
  GDestroyNotify         destroy;
};

G_DEFINE_FINAL_TYPE (MeshFilterInputStream, mesh_filter_input_stream, G_TYPE_INPUT_STREAM)
G_DEFINE_FINAL_TYPE (MeshAgentSessionStream, mesh_agent_session_stream, G_TYPE_IO_STREAM)

typedef struct {
  void  *buffer;
  gsize  count;
} ReadData;

static gsize
filter_take_pending (MeshFilterInputStream *self,
                     void                  *buffer,
                     gsize                  count)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (self->pending, &len);
  gsize n = MIN (count, len - self->pending_pos);

  memcpy (buffer, data + self->pending_pos, n);
  self->pending_pos += n;
  if (self->pending_pos == len)
    g_clear_pointer (&self->pending, g_bytes_unref);
  return n;
}

/* Whether the owner wants this CONTROL frame; hands it over if so. */
static gboolean
filter_intercept (MeshFilterInputStream *self,
                  GBytes                *payload)
{
  MeshAgentSessionStream *owner = self->owner;
  g_autoptr(JsonObject) control = NULL;
  const char *t = NULL;

  if (owner == NULL || owner->intercept == NULL)
    return FALSE;
  control = mesh_frame_control_parse (payload, &t, NULL);
  if (control == NULL || !g_strv_contains ((const char * const *) owner->intercept, t))
    return FALSE;
  if (owner->func != NULL)
    owner->func (control, owner->user_data);
  return TRUE;
}

static void filter_read_frame (MeshFilterInputStream *self,
                               GTask                 *task);

static void
on_filter_frame (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshFilterInputStream *self = g_task_get_source_object (task);
  ReadData *data = g_task_get_task_data (task);
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  MeshFrameType type;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    /* A clean end between frames is the end of our stream too. */
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
      g_task_return_int (task, 0);
    else
      g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (type == MESH_FRAME_CONTROL && filter_intercept (self, payload)) {
    filter_read_frame (self, g_steal_pointer (&task));
    return;
  }
  self->pending = mesh_frame_encode (type, payload);
  self->pending_pos = 0;
  g_task_return_int (task, filter_take_pending (self, data->buffer, data->count));
}

/* Intercepted frames get their answers on this stream: while those wait unsent (a peer that
 * sends and never reads), read no further, so they cannot pile up. */
#define MAX_ANSWER_BACKLOG (1024 * 1024)

static void
on_answers_flushed (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  GTask *task = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  filter_read_frame (g_task_get_source_object (task), task);
}

static void
filter_read_frame (MeshFilterInputStream *self,
                   GTask                 *task)
{
  if (self->owner != NULL && self->owner->intercept != NULL) {
    g_autoptr(MeshFrameWriter) writer = NULL;

    writer = mesh_frame_writer_get_for_stream (G_IO_STREAM (self->owner));

    if (mesh_frame_writer_get_queued_bytes (writer) > MAX_ANSWER_BACKLOG) {
      mesh_frame_writer_flush_async (writer, NULL, on_answers_flushed, task);
      return;
    }
  }
  mesh_frame_reader_read_async (self->reader, g_task_get_cancellable (task), on_filter_frame,
                                task);
}

static void
mesh_filter_input_stream_read_async (GInputStream        *stream,
                                     void                *buffer,
                                     gsize                count,
                                     int                  io_priority,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  MeshFilterInputStream *self = MESH_FILTER_INPUT_STREAM (stream);
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);
  ReadData *data = g_new0 (ReadData, 1);

  g_task_set_source_tag (task, mesh_filter_input_stream_read_async);
  data->buffer = buffer;
  data->count = count;
  g_task_set_task_data (task, data, g_free);

  if (count == 0) {
    g_task_return_int (task, 0);
    return;
  }
  if (self->pending != NULL) {
    g_task_return_int (task, filter_take_pending (self, buffer, count));
    return;
  }
  filter_read_frame (self, g_steal_pointer (&task));
}

static gssize
mesh_filter_input_stream_read_finish (GInputStream  *stream,
                                      GAsyncResult  *result,
                                      GError       **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

/* Frames come from an asynchronous reader: there is no blocking path. */
static gssize
mesh_filter_input_stream_read (GInputStream  *stream,
                               void          *buffer,
                               gsize          count,
                               GCancellable  *cancellable,
                               GError       **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "a session stream can only be read asynchronously");
  return -1;
}

static gboolean
mesh_filter_input_stream_close (GInputStream  *stream,
                                GCancellable  *cancellable,
                                GError       **error)
{
  return TRUE;
}

static void
mesh_filter_input_stream_finalize (GObject *object)
{
  MeshFilterInputStream *self = MESH_FILTER_INPUT_STREAM (object);

  g_clear_object (&self->reader);
  g_clear_pointer (&self->pending, g_bytes_unref);

  G_OBJECT_CLASS (mesh_filter_input_stream_parent_class)->finalize (object);
}

static void
mesh_filter_input_stream_class_init (MeshFilterInputStreamClass *klass)
{
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = mesh_filter_input_stream_finalize;
  input_class->read_fn = mesh_filter_input_stream_read;
  input_class->read_async = mesh_filter_input_stream_read_async;
  input_class->read_finish = mesh_filter_input_stream_read_finish;
  input_class->close_fn = mesh_filter_input_stream_close;
}

static void
mesh_filter_input_stream_init (MeshFilterInputStream *self)
{
}

/* The session stream */

static GInputStream *
mesh_agent_session_stream_get_input_stream (GIOStream *stream)
{
  MeshAgentSessionStream *self = MESH_AGENT_SESSION_STREAM (stream);

  if (self->input == NULL)
    return g_io_stream_get_input_stream (self->base);
  return G_INPUT_STREAM (self->input);
}

static GOutputStream *
mesh_agent_session_stream_get_output_stream (GIOStream *stream)
{
  return g_io_stream_get_output_stream (MESH_AGENT_SESSION_STREAM (stream)->base);
}

static void
on_base_closed (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* The base stream's own close sends FIN and waits for its acknowledgement. */
static void
mesh_agent_session_stream_close_async (GIOStream           *stream,
                                       int                  io_priority,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  MeshAgentSessionStream *self = MESH_AGENT_SESSION_STREAM (stream);
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, mesh_agent_session_stream_close_async);
  g_io_stream_close_async (self->base, io_priority, cancellable, on_base_closed, task);
}

static gboolean
mesh_agent_session_stream_close_finish (GIOStream     *stream,
                                        GAsyncResult  *result,
                                        GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
mesh_agent_session_stream_dispose (GObject *object)
{
  MeshAgentSessionStream *self = MESH_AGENT_SESSION_STREAM (object);

  mesh_agent_session_stream_disconnect (self);
  if (self->input != NULL)
    self->input->owner = NULL;

  G_OBJECT_CLASS (mesh_agent_session_stream_parent_class)->dispose (object);
}

static void
mesh_agent_session_stream_finalize (GObject *object)
{
  MeshAgentSessionStream *self = MESH_AGENT_SESSION_STREAM (object);

  g_clear_object (&self->input);
  g_clear_object (&self->base);
  g_strfreev (self->intercept);

  G_OBJECT_CLASS (mesh_agent_session_stream_parent_class)->finalize (object);
}

static void
mesh_agent_session_stream_class_init (MeshAgentSessionStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  object_class->dispose = mesh_agent_session_stream_dispose;
  object_class->finalize = mesh_agent_session_stream_finalize;
  stream_class->get_input_stream = mesh_agent_session_stream_get_input_stream;
  stream_class->get_output_stream = mesh_agent_session_stream_get_output_stream;
  stream_class->close_async = mesh_agent_session_stream_close_async;
  stream_class->close_finish = mesh_agent_session_stream_close_finish;
}

static void
mesh_agent_session_stream_init (MeshAgentSessionStream *self)
{
}

/**
 * mesh_agent_session_stream_new:
 * @base: the session's stream, whose MeshFrameReader already did the hello
 * @intercept: (nullable): the CONTROL "t" values to take out; %NULL passes
 *   the input through untouched
 * @func: gets each intercepted CONTROL object, on the stream's context
 */
MeshAgentSessionStream *
mesh_agent_session_stream_new (GIOStream            *base,
                               const char * const   *intercept,
                               MeshAgentControlFunc  func,
                               gpointer              user_data,
                               GDestroyNotify        destroy)
{
  MeshAgentSessionStream *self;

  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);

  self = g_object_new (MESH_TYPE_AGENT_SESSION_STREAM, NULL);
  self->base = g_object_ref (base);
  self->intercept = g_strdupv ((char **) intercept);
  self->func = func;
  self->user_data = user_data;
  self->destroy = destroy;
  if (intercept != NULL) {
    self->input = g_object_new (MESH_TYPE_FILTER_INPUT_STREAM, NULL);
    self->input->owner = self;
    self->input->reader = mesh_frame_reader_get_for_stream (base);
  }
  return self;
}

GIOStream *
mesh_agent_session_stream_get_base (MeshAgentSessionStream *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_SESSION_STREAM (self), NULL);

  return self->base;
}

void
mesh_agent_session_stream_disconnect (MeshAgentSessionStream *self)
{
  g_return_if_fail (MESH_IS_AGENT_SESSION_STREAM (self));

  self->func = NULL;
  if (self->destroy != NULL && self->user_data != NULL)
    self->destroy (self->user_data);
  self->user_data = NULL;
  self->destroy = NULL;
}
