/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-terminal-host"

#include "config.h"

#include "mesh-terminal-host-private.h"

/* A terminal host's viewers: each one's stream, the frames queued for it
 * (with its backlog limits and its drain on the way out) and the frames it
 * sends (input, resizes), refused when it may not send them. */

Viewer *
viewer_ref (Viewer *viewer)
{
  return g_rc_box_acquire (viewer);
}

static void
viewer_clear (Viewer *viewer)
{
  if (viewer->drain_timeout != NULL) {
    g_source_destroy (viewer->drain_timeout);
    g_source_unref (viewer->drain_timeout);
  }
  g_free (viewer->id);
  g_clear_object (&viewer->stream);
  g_clear_object (&viewer->reader);
  g_clear_object (&viewer->writer);
  g_clear_object (&viewer->cancellable);
}

void
viewer_unref (Viewer *viewer)
{
  g_rc_box_release_full (viewer, (GDestroyNotify) viewer_clear);
}

static void
on_viewer_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Viewer) viewer = user_data;

  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

/* Closes the stream once the last frame is out and the read came back, so
 * that no operation is pending on it. */
static void
viewer_maybe_close (Viewer *viewer)
{
  if (viewer->host != NULL || viewer->reading || viewer->read_paused || viewer->flushing ||
      viewer->closed)
    return;
  viewer->closed = TRUE;
  g_io_stream_close_async (viewer->stream, G_PRIORITY_DEFAULT, NULL, on_viewer_closed,
                           viewer_ref (viewer));
}

static void
on_viewer_flushed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(Viewer) viewer = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  viewer->flushing = FALSE;
  if (viewer->drain_timeout != NULL) {
    g_source_destroy (viewer->drain_timeout);
    g_clear_pointer (&viewer->drain_timeout, g_source_unref);
  }
  viewer_maybe_close (viewer);
}

/* The viewer did not take its last frames in time: cut the stream. */
static gboolean
on_drain_timeout (gpointer user_data)
{
  Viewer *viewer = user_data;

  g_clear_pointer (&viewer->drain_timeout, g_source_unref);
  g_debug ("viewer %s did not read its last output; closing it", viewer->id);
  mesh_frame_writer_abort (viewer->writer);
  return G_SOURCE_REMOVE;
}

/* Detaches @viewer.  @graceful lets queued output reach it first (the shell
 * ended); otherwise whatever is queued is dropped (a viewer too slow to
 * keep up, or one whose stream already failed). */
void
host_drop_viewer (MeshTerminalHost *self,
                  Viewer           *viewer,
                  gboolean          graceful)
{
  g_autoptr(Viewer) keep = viewer_ref (viewer);

  if (viewer->host == NULL)
    return;
  viewer->host = NULL;
  if (g_strcmp0 (self->controller, viewer->id) == 0)
    g_clear_pointer (&self->controller, g_free);
  g_hash_table_remove (self->viewers, viewer->id);

  g_cancellable_cancel (viewer->cancellable);
  if (graceful) {
    viewer->flushing = TRUE;
    mesh_frame_writer_flush_async (viewer->writer, NULL, on_viewer_flushed, viewer_ref (viewer));
    /* A viewer that does not read must not keep its stream (and what is
     * queued for it) alive. */
    if (viewer->flushing && viewer->drain_timeout == NULL) {
      viewer->drain_timeout = g_timeout_source_new (DRAIN_TIMEOUT_MS);
      g_source_set_callback (viewer->drain_timeout, on_drain_timeout, viewer_ref (viewer),
                             (GDestroyNotify) viewer_unref);
      g_source_attach (viewer->drain_timeout, self->context);
    }
  } else {
    mesh_frame_writer_abort (viewer->writer);
  }
  viewer_maybe_close (viewer);
  host_update_gate (self);
  g_signal_emit (self, host_signals[VIEWER_REMOVED], 0, viewer->id);
}

static gboolean
on_overflow_drop (gpointer user_data)
{
  Viewer *viewer = user_data;

  if (viewer->host != NULL) {
    g_debug ("viewer %s fell too far behind; disconnecting it", viewer->id);
    host_drop_viewer (viewer->host, viewer, FALSE);
  }
  return G_SOURCE_REMOVE;
}

/* Every frame for a viewer goes through here, so nothing it does or fails
 * to do makes its queue grow past MAX_VIEWER_BACKLOG: a viewer that falls
 * that far behind is dropped (from an idle callback, as callers may be
 * walking the viewers) and gets nothing more meanwhile.  It can reattach
 * and gets the scrollback. */
static void
viewer_queue (Viewer              *viewer,
              MeshFrameType        type,
              GBytes              *payload,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  if (viewer->host != NULL && !viewer->overflowed &&
      mesh_frame_writer_get_queued_bytes (viewer->writer) + g_bytes_get_size (payload) >
      MAX_VIEWER_BACKLOG) {
    GSource *source = g_idle_source_new ();

    viewer->overflowed = TRUE;
    g_source_set_priority (source, G_PRIORITY_HIGH);
    g_source_set_callback (source, on_overflow_drop, viewer_ref (viewer),
                           (GDestroyNotify) viewer_unref);
    g_source_attach (source, viewer->host->context);
    g_source_unref (source);
  }
  if (viewer->host != NULL && !viewer->overflowed) {
    mesh_frame_writer_write_async (viewer->writer, type, payload, NULL, callback, user_data);
    return;
  }
  /* Not queued: the callback still runs, as the frame's fate is known. */
  if (callback != NULL) {
    g_autoptr(GTask) task = g_task_new (viewer->writer, NULL, callback, user_data);

    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             "the viewer is too far behind");
  }
}

void
host_send (Viewer        *viewer,
           MeshFrameType  type,
           GBytes        *payload)
{
  viewer_queue (viewer, type, payload, NULL, NULL);
}

void
host_send_control (Viewer     *viewer,
                   JsonObject *control)
{
  g_autoptr(GBytes) payload = mesh_frame_control_to_bytes (control);

  viewer_queue (viewer, MESH_FRAME_CONTROL, payload, NULL, NULL);
}

void
host_broadcast_output (MeshTerminalHost *self,
                       GBytes           *output)
{
  GHashTableIter iter;
  Viewer *viewer;
  gsize len;
  const guint8 *data = g_bytes_get_data (output, &len);

  g_byte_array_append (self->scrollback, data, len);
  if (self->scrollback->len > SCROLLBACK_SIZE) {
    gsize cut = self->scrollback->len - SCROLLBACK_SIZE;

    /* Start the kept part on a character, not inside a UTF-8 sequence. */
    while (cut < self->scrollback->len && (self->scrollback->data[cut] & 0xc0) == 0x80)
      cut++;
    g_byte_array_remove_range (self->scrollback, 0, cut);
  }

  g_signal_emit (self, host_signals[OUTPUT], 0, output);

  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    host_send (viewer, MESH_FRAME_TERM_OUT, output);
}

static void
on_refusal_written (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(Viewer) viewer = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  viewer->refusal_pending = FALSE;
}

/* Closes a viewer that abuses the host, telling it why first (if it reads
 * within DRAIN_TIMEOUT_MS). */
static void
host_expel (MeshTerminalHost *self,
            Viewer           *viewer,
            const char       *code,
            const char       *message)
{
  g_autoptr(JsonObject) control = mesh_frame_error_new (code, message);

  g_debug ("closing viewer %s: %s", viewer->id, message);
  host_send_control (viewer, control);
  host_drop_viewer (self, viewer, !viewer->overflowed);
}

/* Answers a frame the viewer may not send.  At most one ERROR is queued at
 * a time (the others are dropped until the viewer took it), so a viewer
 * that floods refused frames and never reads costs no memory; one that
 * keeps doing it is closed. */
static void
host_refuse (MeshTerminalHost *self,
             Viewer           *viewer,
             const char       *code,
             const char       *message)
{
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GBytes) payload = NULL;
  gint64 now = g_get_monotonic_time ();

  viewer->refusal_budget = MIN (REFUSAL_BURST,
                                viewer->refusal_budget +
                                (now - viewer->refusal_time) * REFUSALS_PER_SEC / G_USEC_PER_SEC);
  viewer->refusal_time = now;
  if (viewer->refusal_budget < 1.0) {
    host_expel (self, viewer, "RATE_LIMITED",
                "too many refused frames (terminal input needs terminal control); "
                "closing this viewer");
    return;
  }
  viewer->refusal_budget -= 1.0;

  if (viewer->refusal_pending)
    return;
  viewer->refusal_pending = TRUE;
  control = mesh_frame_error_new (code, message);
  payload = mesh_frame_control_to_bytes (control);
  viewer_queue (viewer, MESH_FRAME_CONTROL, payload, on_refusal_written, viewer_ref (viewer));
}

static void
host_handle_frame (MeshTerminalHost *self,
                   Viewer           *viewer,
                   MeshFrameType     type,
                   GBytes           *payload)
{
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GError) error = NULL;
  gboolean in_control = g_strcmp0 (self->controller, viewer->id) == 0;
  const char *t = NULL;
  guint cols, rows;

  switch (type) {
  case MESH_FRAME_TERM_IN:
    if (!in_control) {
      host_refuse (self, viewer, "CAP_REQUIRED", "terminal input needs terminal control");
      return;
    }
    host_write_input (self, g_bytes_get_data (payload, NULL), g_bytes_get_size (payload));
    return;

  case MESH_FRAME_CONTROL:
    control = mesh_frame_control_parse (payload, &t, &error);
    if (control == NULL) {
      host_refuse (self, viewer, "BAD_REQUEST", error->message);
      return;
    }
    if (g_str_equal (t, "ERROR")) {
      g_debug ("viewer %s reported an error", viewer->id);
      return;
    }
    if (!g_str_equal (t, "TERM_RESIZE")) {
      host_refuse (self, viewer, "BAD_REQUEST", "a terminal viewer may only send TERM_RESIZE");
      return;
    }
    if (!in_control) {
      host_refuse (self, viewer, "CAP_REQUIRED", "resizing the terminal needs terminal control");
      return;
    }
    if (!mesh_frame_term_resize_parse (control, &cols, &rows, &error)) {
      host_refuse (self, viewer, "BAD_REQUEST", error->message);
      return;
    }
    host_apply_size (self, cols, rows);
    return;

  default:
    host_refuse (self, viewer, "BAD_REQUEST", "unexpected frame type on a terminal stream");
    return;
  }
}

static void
on_viewer_frame (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(Viewer) viewer = user_data;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  MeshFrameType type;

  viewer->reading = FALSE;
  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    if (viewer->host != NULL) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
        g_autofree char *message = mesh_escape_for_display (error->message, -1);

        g_debug ("viewer %s: %s", viewer->id, message);
      }
      host_drop_viewer (viewer->host, viewer, FALSE);
    }
    viewer_maybe_close (viewer);
    return;
  }
  if (viewer->host == NULL) {
    viewer_maybe_close (viewer);
    return;
  }
  host_handle_frame (viewer->host, viewer, type, payload);
  viewer_read_next (viewer);
}

static void
on_viewer_caught_up (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(Viewer) viewer = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  viewer->read_paused = FALSE;
  if (viewer->host != NULL)
    viewer_read_next (viewer);
  else
    viewer_maybe_close (viewer);
}

void
viewer_read_next (Viewer *viewer)
{
  if (viewer->host == NULL || viewer->read_paused)
    return;
  /* Back-pressure: what it sends waits in its stream (and QUIC flow control
   * stops it) until it took what we already queued for it. */
  if (mesh_frame_writer_get_queued_bytes (viewer->writer) > READ_BACKLOG) {
    viewer->read_paused = TRUE;
    mesh_frame_writer_flush_async (viewer->writer, NULL, on_viewer_caught_up,
                                   viewer_ref (viewer));
    return;
  }
  viewer->reading = TRUE;
  mesh_frame_reader_read_async (viewer->reader, viewer->cancellable, on_viewer_frame,
                                viewer_ref (viewer));
}
