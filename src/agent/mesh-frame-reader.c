/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-frame-reader"

#include "config.h"

#include "mesh-frame-reader.h"

/* Small frames (control, terminal output) are read through this buffer, many at a time.  The
 * rest of a payload at least DIRECT_READ_MIN long is read straight into the frame's own memory,
 * so a file chunk is copied once between the stream and the disk writer; after such a frame
 * the buffer takes only SMALL_READ_SIZE (the next header and a little), so that the next big
 * payload goes direct too. */
#define READ_BUFFER_SIZE (256 * 1024)
#define SMALL_READ_SIZE  (16 * 1024)
#define DIRECT_READ_MIN  (16 * 1024)

struct _MeshFrameReader {
  GObject          parent_instance;

  GInputStream    *input;
  MeshFrameParser *parser;
  guint8          *buffer;
  gsize            buffer_pos;
  gsize            buffer_len;
  gboolean         eof;
  gboolean         direct;  /* the pending read fills the parser's payload */
  gboolean         large;   /* the last frame was read directly */
  GTask           *pending;
};

typedef struct {
  MeshFrameType  type;
  GBytes        *payload;
} Frame;

G_DEFINE_FINAL_TYPE (MeshFrameReader, mesh_frame_reader, G_TYPE_OBJECT)

static void
frame_free (Frame *frame)
{
  g_bytes_unref (frame->payload);
  g_free (frame);
}

/* Takes the next complete frame out of already buffered bytes.  Returns
 * TRUE with @frame set, TRUE with @frame NULL when more bytes are needed, or
 * FALSE with @error for a malformed stream. */
static gboolean
take_buffered (MeshFrameReader  *self,
               Frame           **frame,
               GError          **error)
{
  MeshFrameType type;
  GBytes *payload;

  *frame = NULL;
  for (;;) {
    if (mesh_frame_parser_next (self->parser, &type, &payload)) {
      *frame = g_new0 (Frame, 1);
      (*frame)->type = type;
      (*frame)->payload = payload;
      return TRUE;
    }
    if (self->buffer_pos == self->buffer_len)
      return TRUE;
    self->buffer_pos += mesh_frame_parser_feed (self->parser, self->buffer + self->buffer_pos,
                                                self->buffer_len - self->buffer_pos, error);
    if (error != NULL && *error != NULL)
      return FALSE;
  }
}

static void fill_buffer (MeshFrameReader *self);

static void
on_read (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  MeshFrameReader *self = user_data;
  g_autoptr(GTask) task = g_steal_pointer (&self->pending);
  g_autoptr(GError) error = NULL;
  gboolean direct = self->direct;
  gssize n;

  self->direct = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0) {
    g_task_return_error (task, g_steal_pointer (&error));
    g_object_unref (self);
    return;
  }
  if (direct && n > 0)
    mesh_frame_parser_payload_filled (self->parser, n);
  self->large = direct;
  self->buffer_pos = 0;
  self->buffer_len = direct ? 0 : n;
  if (n == 0)
    self->eof = TRUE;

  self->pending = g_steal_pointer (&task);
  fill_buffer (self);
  g_object_unref (self);
}

/* Completes the pending task from the buffer, or reads more.  Reads are
 * bounded by the buffer size; the parser bounds what one frame may take. */
static void
fill_buffer (MeshFrameReader *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  Frame *frame = NULL;

  if (!take_buffered (self, &frame, &error)) {
    task = g_steal_pointer (&self->pending);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (frame != NULL) {
    task = g_steal_pointer (&self->pending);
    g_task_return_pointer (task, frame, (GDestroyNotify) frame_free);
    return;
  }
  if (self->eof) {
    task = g_steal_pointer (&self->pending);
    if (mesh_frame_parser_is_idle (self->parser))
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "the peer closed the stream");
    else
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                               "the stream ended in the middle of a frame");
    return;
  }

  {
    gsize space_len = 0;
    guint8 *space = mesh_frame_parser_payload_space (self->parser, &space_len);

    if (space != NULL && space_len >= DIRECT_READ_MIN) {
      self->direct = TRUE;
      g_input_stream_read_async (self->input, space, space_len,
                                 g_task_get_priority (self->pending),
                                 g_task_get_cancellable (self->pending),
                                 on_read, g_object_ref (self));
      return;
    }
  }
  if (self->buffer == NULL)
    self->buffer = g_malloc (READ_BUFFER_SIZE);
  g_input_stream_read_async (self->input, self->buffer,
                             self->large ? SMALL_READ_SIZE : READ_BUFFER_SIZE,
                             g_task_get_priority (self->pending),
                             g_task_get_cancellable (self->pending),
                             on_read, g_object_ref (self));
}

static void
mesh_frame_reader_finalize (GObject *object)
{
  MeshFrameReader *self = MESH_FRAME_READER (object);

  g_clear_object (&self->input);
  g_clear_pointer (&self->parser, mesh_frame_parser_free);
  g_clear_pointer (&self->buffer, g_free);

  G_OBJECT_CLASS (mesh_frame_reader_parent_class)->finalize (object);
}

static void
mesh_frame_reader_class_init (MeshFrameReaderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_frame_reader_finalize;
}

static void
mesh_frame_reader_init (MeshFrameReader *self)
{
  self->parser = mesh_frame_parser_new ();
}

/**
 * mesh_frame_reader_get_for_stream:
 *
 * Returns the one reader of @stream, creating it on first use.  The reader
 * buffers ahead, so everybody who reads frames from a stream (the session
 * hello, then a transfer engine) must share it; the stream keeps it alive.
 *
 * Returns: (transfer full): the reader
 */
MeshFrameReader *
mesh_frame_reader_get_for_stream (GIOStream *stream)
{
  MeshFrameReader *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  self = g_object_get_data (G_OBJECT (stream), "mesh-frame-reader");
  if (self == NULL) {
    self = g_object_new (MESH_TYPE_FRAME_READER, NULL);
    self->input = g_object_ref (g_io_stream_get_input_stream (stream));
    g_object_set_data_full (G_OBJECT (stream), "mesh-frame-reader", self, g_object_unref);
  }
  return g_object_ref (self);
}

/* One frame at a time: a second read while one is pending fails with
 * G_IO_ERROR_PENDING.  Cancelling a read loses no bytes. */
void
mesh_frame_reader_read_async (MeshFrameReader     *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MESH_IS_FRAME_READER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_frame_reader_read_async);

  if (self->pending != NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                             "a frame read is already pending");
    return;
  }
  if (g_task_return_error_if_cancelled (task))
    return;

  self->pending = g_steal_pointer (&task);
  fill_buffer (self);
}

/**
 * mesh_frame_reader_read_finish:
 *
 * End of stream at a frame boundary is %G_IO_ERROR_CONNECTION_CLOSED, inside
 * a frame %G_IO_ERROR_PARTIAL_INPUT; malformed frames are %MESH_ERROR errors.
 */
gboolean
mesh_frame_reader_read_finish (MeshFrameReader  *self,
                               GAsyncResult     *result,
                               MeshFrameType    *type,
                               GBytes          **payload,
                               GError          **error)
{
  Frame *frame;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  frame = g_task_propagate_pointer (G_TASK (result), error);
  if (frame == NULL)
    return FALSE;
  *type = frame->type;
  *payload = g_steal_pointer (&frame->payload);
  g_free (frame);
  return TRUE;
}
