/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-terminal-viewer"

#include "config.h"

#include "mesh-terminal-viewer.h"

#include "mesh-escape.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-json.h"

enum {
  OUTPUT,
  RESIZE,
  HOST_ERROR,
  CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

struct _MeshTerminalViewer {
  GObject          parent_instance;

  GIOStream       *stream;
  MeshFrameReader *reader;
  MeshFrameWriter *writer;
  GCancellable    *cancellable;
  guint            cols;
  guint            rows;
  gboolean         started;
  gboolean         closed;
};

G_DEFINE_FINAL_TYPE (MeshTerminalViewer, mesh_terminal_viewer, G_TYPE_OBJECT)

static void
on_stream_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

/* Runs once, after the last read came back, so nothing is pending when the
 * stream closes. */
static void
viewer_end (MeshTerminalViewer *self,
            const GError       *error)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL, on_stream_closed, NULL);
  g_signal_emit (self, signals[CLOSED], 0, error);
}

static void
viewer_handle_control (MeshTerminalViewer *self,
                       GBytes             *payload)
{
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GError) error = NULL;
  const char *t = NULL;

  control = mesh_frame_control_parse (payload, &t, &error);
  if (control == NULL) {
    g_autofree char *message = mesh_escape_for_display (error->message, -1);

    g_debug ("ignoring a malformed CONTROL frame: %s", message);
    return;
  }
  if (g_str_equal (t, "TERM_RESIZE")) {
    guint cols, rows;

    if (!mesh_frame_term_resize_parse (control, &cols, &rows, &error)) {
      g_autofree char *message = mesh_escape_for_display (error->message, -1);

      g_debug ("ignoring TERM_RESIZE: %s", message);
      return;
    }
    self->cols = cols;
    self->rows = rows;
    g_signal_emit (self, signals[RESIZE], 0, cols, rows);
  } else if (g_str_equal (t, "ERROR")) {
    const char *code = NULL;
    const char *message = NULL;

    mesh_json_get_string (control, "code", FALSE, &code, NULL);
    mesh_json_get_string (control, "message", FALSE, &message, NULL);
    g_signal_emit (self, signals[HOST_ERROR], 0, code != NULL ? code : "INTERNAL",
                   message != NULL ? message : "");
  } else {
    g_autofree char *safe_t = mesh_escape_for_display (t, -1);

    g_debug ("ignoring %s on a terminal stream", safe_t);
  }
}

static void
on_frame (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(MeshTerminalViewer) self = user_data;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  MeshFrameType type;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    /* The host ending the share, or our own close(), is a clean end. */
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
        g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      viewer_end (self, NULL);
    else
      viewer_end (self, error);
    return;
  }

  if (type == MESH_FRAME_TERM_OUT)
    g_signal_emit (self, signals[OUTPUT], 0, payload);
  else if (type == MESH_FRAME_CONTROL)
    viewer_handle_control (self, payload);
  else
    g_debug ("ignoring a %s frame from the host", mesh_frame_type_to_string (type));

  if (!self->closed)
    mesh_frame_reader_read_async (self->reader, self->cancellable, on_frame,
                                  g_object_ref (self));
}

static void
mesh_terminal_viewer_finalize (GObject *object)
{
  MeshTerminalViewer *self = MESH_TERMINAL_VIEWER (object);

  g_clear_object (&self->stream);
  g_clear_object (&self->reader);
  g_clear_object (&self->writer);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (mesh_terminal_viewer_parent_class)->finalize (object);
}

static void
mesh_terminal_viewer_class_init (MeshTerminalViewerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_terminal_viewer_finalize;

  /**
   * MeshTerminalViewer::output:
   * @output: terminal output from the host, for a terminal widget
   */
  signals[OUTPUT] =
    g_signal_new ("output", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BYTES);

  /**
   * MeshTerminalViewer::resize:
   * @cols: the host terminal's columns
   * @rows: the host terminal's rows
   */
  signals[RESIZE] =
    g_signal_new ("resize", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT);

  /**
   * MeshTerminalViewer::host-error:
   * @code: the wire code, e.g. "CAP_REQUIRED" for input without control
   * @message: the host's explanation
   */
  signals[HOST_ERROR] =
    g_signal_new ("host-error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * MeshTerminalViewer::closed:
   * @error: (nullable): why the stream failed; %NULL when the share ended
   */
  signals[CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
mesh_terminal_viewer_init (MeshTerminalViewer *self)
{
  self->cancellable = g_cancellable_new ();
}

MeshTerminalViewer *
mesh_terminal_viewer_new (GIOStream *stream)
{
  MeshTerminalViewer *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  self = g_object_new (MESH_TYPE_TERMINAL_VIEWER, NULL);
  self->stream = g_object_ref (stream);
  self->reader = mesh_frame_reader_get_for_stream (stream);
  self->writer = mesh_frame_writer_get_for_stream (stream);
  return self;
}

/* Starts reading the host's frames; connect the signals first. */
void
mesh_terminal_viewer_start (MeshTerminalViewer *self)
{
  g_return_if_fail (MESH_IS_TERMINAL_VIEWER (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  mesh_frame_reader_read_async (self->reader, self->cancellable, on_frame, g_object_ref (self));
}

/* Keystrokes for the shell; the host drops them (and answers CAP_REQUIRED)
 * unless this viewer holds control. */
void
mesh_terminal_viewer_send_input (MeshTerminalViewer *self,
                                 const void         *data,
                                 gsize               len)
{
  const guint8 *bytes = data;

  g_return_if_fail (MESH_IS_TERMINAL_VIEWER (self));
  g_return_if_fail (data != NULL || len == 0);

  while (len > 0 && !self->closed) {
    gsize n = MIN (len, MESH_FRAME_MAX_PAYLOAD);
    g_autoptr(GBytes) payload = g_bytes_new (bytes, n);

    mesh_frame_writer_write_async (self->writer, MESH_FRAME_TERM_IN, payload, NULL, NULL, NULL);
    bytes += n;
    len -= n;
  }
}

/* Asks the host to resize its PTY; honoured only with control. */
void
mesh_terminal_viewer_send_resize (MeshTerminalViewer *self,
                                  guint               cols,
                                  guint               rows)
{
  g_autoptr(JsonObject) resize = NULL;

  g_return_if_fail (MESH_IS_TERMINAL_VIEWER (self));
  g_return_if_fail (cols > 0 && cols <= MESH_FRAME_TERM_MAX_SIZE);
  g_return_if_fail (rows > 0 && rows <= MESH_FRAME_TERM_MAX_SIZE);

  if (self->closed)
    return;
  resize = mesh_frame_term_resize_new (cols, rows);
  mesh_frame_writer_write_control_async (self->writer, resize, NULL, NULL, NULL);
}

guint
mesh_terminal_viewer_get_cols (MeshTerminalViewer *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_VIEWER (self), 0);

  return self->cols;
}

guint
mesh_terminal_viewer_get_rows (MeshTerminalViewer *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_VIEWER (self), 0);

  return self->rows;
}

/* Leaves the share; ::closed follows with a %NULL error. */
void
mesh_terminal_viewer_close (MeshTerminalViewer *self)
{
  g_return_if_fail (MESH_IS_TERMINAL_VIEWER (self));

  if (self->started)
    g_cancellable_cancel (self->cancellable);
  else
    viewer_end (self, NULL);
}
