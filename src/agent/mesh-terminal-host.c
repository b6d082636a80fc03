/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-terminal-host"

#include "config.h"

#include "mesh-terminal-host.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCROLLBACK_SIZE    (64 * 1024)
#define READ_SIZE          (256 * 1024)
/* Flow control: the PTY is read only while the quickest viewer has less
 * than PAUSE_BACKLOG unsent, so a fast producer (cat of a big file) is
 * paced by the viewers instead of piling up output.  A viewer that lags
 * more than MAX_VIEWER_BACKLOG behind while others keep up is cut off;
 * it can reattach and gets the scrollback. */
#define PAUSE_BACKLOG      (256 * 1024)
#define MAX_VIEWER_BACKLOG (2 * 1024 * 1024)
#define MAX_PENDING_INPUT  (256 * 1024)
/* A viewer's frames are read only while less than READ_BACKLOG is queued
 * for it: whatever it sends (input, resizes) cannot make us queue answers
 * it does not read.  Below MAX_VIEWER_BACKLOG, so a controller that pauses
 * is slowed down, not cut off. */
#define READ_BACKLOG       (1024 * 1024)
/* Refused frames (input or resizes without control, bad frames) draw on a
 * budget that refills slowly: a person typing into a view-only terminal
 * stays far below it, a flood empties it and the viewer is closed. */
#define REFUSAL_BURST      256.0
#define REFUSALS_PER_SEC   16.0
/* How long a dropped viewer may take to read its last frames (the shell's
 * final output, the reason it was closed) before its stream is cut. */
#define DRAIN_TIMEOUT_MS   5000
/* The PTY is paused while every viewer is behind; a viewer that takes
 * nothing at all for this long is cut off, so a single viewer that never
 * reads cannot freeze the host's shell. */
#define DEFAULT_STALL_TIMEOUT_MS 15000

enum {
  OUTPUT,
  VIEWER_REMOVED,
  EXITED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef struct {
  MeshTerminalHost *host;         /* NULL once removed */
  char             *id;
  GIOStream        *stream;
  MeshFrameReader  *reader;
  MeshFrameWriter  *writer;
  GCancellable     *cancellable;
  GSource          *drain_timeout;
  gboolean          may_control;
  gboolean          draining;       /* a flush is pending to resume the PTY */
  gboolean          reading;
  gboolean          read_paused;    /* too much queued for it: not reading its frames */
  gboolean          flushing;
  gboolean          closed;
  gboolean          overflowed;     /* over MAX_VIEWER_BACKLOG: being dropped */
  gboolean          refusal_pending; /* an ERROR is queued: later refusals are not answered */
  double            refusal_budget;
  gint64            refusal_time;
  gsize             stall_mark;     /* queued bytes at the last stall check */
} Viewer;

struct _MeshTerminalHost {
  GObject     parent_instance;

  GStrv       argv;
  GPid        pid;
  int         master;
  /* On the context that was thread-default at creation: the app hosts
   * shells on its agent thread, not the main one. */
  GMainContext *context;
  GSource    *read_source;
  GSource    *write_source;
  GSource    *child_watch;
  guint       cols;
  guint       rows;
  GByteArray *scrollback;
  GByteArray *pending_input;
  GHashTable *viewers;            /* id → Viewer */
  char       *controller;
  guint       next_viewer;
  GSource    *stall_source;
  guint       stall_timeout_ms;
  gboolean    running;
  gboolean    paused;
};

G_DEFINE_FINAL_TYPE (MeshTerminalHost, mesh_terminal_host, G_TYPE_OBJECT)

static Viewer *
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

static void
viewer_unref (Viewer *viewer)
{
  g_rc_box_release_full (viewer, (GDestroyNotify) viewer_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Viewer, viewer_unref)

static void host_update_gate (MeshTerminalHost *self);

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
static void
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
  g_signal_emit (self, signals[VIEWER_REMOVED], 0, viewer->id);
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

static void
host_send (Viewer        *viewer,
           MeshFrameType  type,
           GBytes        *payload)
{
  viewer_queue (viewer, type, payload, NULL, NULL);
}

static void
host_send_control (Viewer     *viewer,
                   JsonObject *control)
{
  g_autoptr(GBytes) payload = mesh_frame_control_to_bytes (control);

  viewer_queue (viewer, MESH_FRAME_CONTROL, payload, NULL, NULL);
}

static void
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

  g_signal_emit (self, signals[OUTPUT], 0, output);

  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    host_send (viewer, MESH_FRAME_TERM_OUT, output);
}

/* Reads what the PTY holds now, up to READ_SIZE, as one TERM_OUT frame;
 * FALSE once it is closed (EIO on Linux when the last process holding the
 * terminal exited). */
static gboolean
host_read_pty (MeshTerminalHost *self)
{
  g_autofree guint8 *buffer = g_malloc (READ_SIZE);
  gsize have = 0;
  gboolean open = TRUE;

  while (have < READ_SIZE) {
    gssize n = read (self->master, buffer + have, READ_SIZE - have);

    if (n > 0) {
      have += n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    open = n < 0 && errno == EAGAIN;
    break;
  }
  if (have > 0) {
    g_autoptr(GBytes) output = g_bytes_new_take (g_steal_pointer (&buffer), have);

    host_broadcast_output (self, output);
  }
  return open;
}

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static GSource *
add_fd_source (MeshTerminalHost  *self,
               GIOCondition       condition,
               GUnixFDSourceFunc  func)
{
  GSource *source = g_unix_fd_source_new (self->master, condition);

  g_source_set_callback (source, G_SOURCE_FUNC (func), self, NULL);
  g_source_attach (source, self->context);
  return source;
}

static void
host_finish (MeshTerminalHost *self,
             int               status)
{
  g_autoptr(GList) viewers = NULL;

  if (!self->running)
    return;
  self->running = FALSE;
  clear_source (&self->read_source);
  clear_source (&self->stall_source);
  clear_source (&self->write_source);
  if (self->master >= 0) {
    close (self->master);
    self->master = -1;
  }

  viewers = g_hash_table_get_values (self->viewers);
  for (GList *l = viewers; l != NULL; l = l->next)
    host_drop_viewer (self, l->data, TRUE);

  g_signal_emit (self, signals[EXITED], 0, status);
}

static gboolean
on_pty_readable (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  MeshTerminalHost *self = user_data;

  /* A pause removes this source; returning CONTINUE then is harmless. */
  if (host_read_pty (self)) {
    host_update_gate (self);
    return G_SOURCE_CONTINUE;
  }
  if (self->read_source == g_main_current_source ())
    g_clear_pointer (&self->read_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
on_viewer_drained (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(Viewer) viewer = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  viewer->draining = FALSE;
  if (viewer->host != NULL)
    host_update_gate (viewer->host);
}

/* While the PTY is paused: a viewer whose queue did not shrink at all
 * since the last check is not reading; it is cut off so that the others,
 * or the shell alone, go on. */
static gboolean
on_stall_check (gpointer user_data)
{
  MeshTerminalHost *self = user_data;
  g_autoptr(GPtrArray) stalled = g_ptr_array_new_with_free_func ((GDestroyNotify) viewer_unref);
  GHashTableIter iter;
  Viewer *viewer;

  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer)) {
    gsize queued = mesh_frame_writer_get_queued_bytes (viewer->writer);

    if (queued > PAUSE_BACKLOG && queued >= viewer->stall_mark)
      g_ptr_array_add (stalled, viewer_ref (viewer));
    viewer->stall_mark = queued;
  }
  for (guint i = 0; i < stalled->len; i++) {
    viewer = g_ptr_array_index (stalled, i);
    g_debug ("viewer %s took no output for %u ms; disconnecting it", viewer->id,
             self->stall_timeout_ms);
    host_drop_viewer (self, viewer, FALSE);
  }
  return G_SOURCE_CONTINUE;
}

static void
host_arm_stall_check (MeshTerminalHost *self,
                      gboolean          paused)
{
  GHashTableIter iter;
  Viewer *viewer;

  if (!paused || !self->running) {
    clear_source (&self->stall_source);
    return;
  }
  if (self->stall_source != NULL)
    return;
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    viewer->stall_mark = mesh_frame_writer_get_queued_bytes (viewer->writer);
  self->stall_source = g_timeout_source_new (self->stall_timeout_ms);
  g_source_set_callback (self->stall_source, on_stall_check, self, NULL);
  g_source_attach (self->stall_source, self->context);
}

/* Pauses reading the PTY while even the quickest viewer is behind, and
 * resumes as soon as one of them has caught up. */
static void
host_update_gate (MeshTerminalHost *self)
{
  gsize least = G_MAXSIZE;
  GHashTableIter iter;
  Viewer *viewer;

  if (!self->running)
    return;
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    least = MIN (least, mesh_frame_writer_get_queued_bytes (viewer->writer));

  if (least != G_MAXSIZE && least > PAUSE_BACKLOG) {
    self->paused = TRUE;
    clear_source (&self->read_source);
    g_hash_table_iter_init (&iter, self->viewers);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer)) {
      if (!viewer->draining) {
        viewer->draining = TRUE;
        mesh_frame_writer_flush_async (viewer->writer, NULL, on_viewer_drained,
                                       viewer_ref (viewer));
      }
    }
  } else if (self->paused) {
    self->paused = FALSE;
    self->read_source = add_fd_source (self, G_IO_IN | G_IO_HUP | G_IO_ERR, on_pty_readable);
  }
  host_arm_stall_check (self, self->paused);
}

static void
on_child_exited (GPid     pid,
                 int      status,
                 gpointer user_data)
{
  g_autoptr(MeshTerminalHost) self = g_object_ref (user_data);

  g_clear_pointer (&self->child_watch, g_source_unref);
  self->pid = 0;
  /* Output written just before the exit is still in the PTY. */
  if (self->master >= 0)
    host_read_pty (self);
  host_finish (self, status);
}

static gboolean
on_pty_writable (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  MeshTerminalHost *self = user_data;

  while (self->pending_input->len > 0) {
    gssize n = write (self->master, self->pending_input->data, self->pending_input->len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return G_SOURCE_CONTINUE;
    if (n < 0)
      break;
    g_byte_array_remove_range (self->pending_input, 0, n);
  }
  g_byte_array_set_size (self->pending_input, 0);
  if (self->write_source == g_main_current_source ())
    g_clear_pointer (&self->write_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
host_write_input (MeshTerminalHost *self,
                  const guint8     *data,
                  gsize             len)
{
  if (self->master < 0 || len == 0)
    return;
  if (self->pending_input->len + len > MAX_PENDING_INPUT) {
    g_debug ("dropping %" G_GSIZE_FORMAT " bytes of input: the shell is not reading", len);
    return;
  }
  g_byte_array_append (self->pending_input, data, len);
  if (self->write_source == NULL)
    self->write_source = add_fd_source (self, G_IO_OUT, on_pty_writable);
}

static void
host_apply_size (MeshTerminalHost *self,
                 guint             cols,
                 guint             rows)
{
  struct winsize ws = { .ws_row = rows, .ws_col = cols };
  g_autoptr(JsonObject) resize = mesh_frame_term_resize_new (cols, rows);
  GHashTableIter iter;
  Viewer *viewer;

  self->cols = cols;
  self->rows = rows;
  /* TIOCSWINSZ also sends SIGWINCH to the shell's foreground job. */
  if (self->master >= 0 && ioctl (self->master, TIOCSWINSZ, &ws) != 0)
    g_debug ("TIOCSWINSZ failed: %s", g_strerror (errno));

  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    host_send_control (viewer, resize);
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

static void viewer_read_next (Viewer *viewer);

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

static void
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

static char *
host_default_shell (void)
{
  const char *shell = g_getenv ("SHELL");
  struct passwd *pw;

  if (shell != NULL && g_path_is_absolute (shell) && g_file_test (shell, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup (shell);
  pw = getpwuid (getuid ());
  if (pw != NULL && pw->pw_shell != NULL && g_path_is_absolute (pw->pw_shell) &&
      g_file_test (pw->pw_shell, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup (pw->pw_shell);
  return g_strdup ("/bin/sh");
}

static void
reap_only (GPid     pid,
           int      status,
           gpointer user_data)
{
}

static void
mesh_terminal_host_dispose (GObject *object)
{
  MeshTerminalHost *self = MESH_TERMINAL_HOST (object);

  /* The shell outlives us for a moment: hang it up and still reap it. */
  if (self->pid > 0) {
    kill (self->pid, SIGHUP);
    clear_source (&self->child_watch);
    g_child_watch_add (self->pid, reap_only, NULL);
    self->pid = 0;
  }
  host_finish (self, -1);

  G_OBJECT_CLASS (mesh_terminal_host_parent_class)->dispose (object);
}

static void
mesh_terminal_host_finalize (GObject *object)
{
  MeshTerminalHost *self = MESH_TERMINAL_HOST (object);

  g_clear_pointer (&self->argv, g_strfreev);
  g_main_context_unref (self->context);
  g_clear_pointer (&self->scrollback, g_byte_array_unref);
  g_clear_pointer (&self->pending_input, g_byte_array_unref);
  g_clear_pointer (&self->viewers, g_hash_table_unref);
  g_clear_pointer (&self->controller, g_free);

  G_OBJECT_CLASS (mesh_terminal_host_parent_class)->finalize (object);
}

static void
mesh_terminal_host_class_init (MeshTerminalHostClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_terminal_host_dispose;
  object_class->finalize = mesh_terminal_host_finalize;

  /**
   * MeshTerminalHost::output:
   * @output: bytes the shell wrote, also sent to every viewer
   */
  signals[OUTPUT] =
    g_signal_new ("output", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BYTES);

  /**
   * MeshTerminalHost::viewer-removed:
   * @viewer_id: the viewer that left, failed or was too slow
   */
  signals[VIEWER_REMOVED] =
    g_signal_new ("viewer-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * MeshTerminalHost::exited:
   * @status: the shell's wait status (see g_spawn_check_wait_status())
   *
   * The shell ended: every viewer stream has been closed after its output.
   */
  signals[EXITED] =
    g_signal_new ("exited", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
mesh_terminal_host_init (MeshTerminalHost *self)
{
  self->master = -1;
  self->stall_timeout_ms = DEFAULT_STALL_TIMEOUT_MS;
  self->context = g_main_context_ref_thread_default ();
  self->scrollback = g_byte_array_new ();
  self->pending_input = g_byte_array_new ();
  self->viewers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) viewer_unref);
}

/* Inside a Flatpak sandbox (/.flatpak-info exists) the user's shell is the
 * host's, not the sandbox's empty one.  MESH_TEST_FLATPAK_INFO stands in for
 * that file in tests. */
static gboolean
host_in_flatpak (void)
{
  const char *info = g_getenv ("MESH_TEST_FLATPAK_INFO");

  return g_file_test (info != NULL ? info : "/.flatpak-info", G_FILE_TEST_EXISTS);
}

/* The host's login shell: its passwd entry, asked through flatpak-spawn (the
 * sandbox's own passwd is made up), else $SHELL, which Flatpak passes on. */
static char *
host_flatpak_shell (void)
{
  g_autofree char *uid = g_strdup_printf ("%u", (guint) getuid ());
  const char *argv[] = { "flatpak-spawn", "--host", "getent", "passwd", uid, NULL };
  g_autofree char *out = NULL;
  const char *shell = g_getenv ("SHELL");
  int status;

  if (g_spawn_sync (NULL, (char **) argv, NULL,
                    G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_STDIN_FROM_DEV_NULL,
                    NULL, NULL, &out, NULL, &status, NULL) &&
      g_spawn_check_wait_status (status, NULL)) {
    g_auto(GStrv) fields = g_strsplit (g_strchomp (out), ":", -1);

    if (g_strv_length (fields) >= 7 && g_path_is_absolute (fields[6]) &&
        strchr (fields[6], '\n') == NULL)
      return g_strdup (fields[6]);
  }
  if (shell != NULL && g_path_is_absolute (shell))
    return g_strdup (shell);
  return g_strdup ("/bin/sh");
}

/**
 * mesh_terminal_host_new:
 * @argv: (nullable): the command to run; %NULL for the user's shell
 *   ($SHELL, else the passwd entry, else /bin/sh; inside Flatpak the host's
 *   login shell through `flatpak-spawn --host`)
 */
MeshTerminalHost *
mesh_terminal_host_new (const char * const *argv)
{
  MeshTerminalHost *self = g_object_new (MESH_TYPE_TERMINAL_HOST, NULL);

  if (argv != NULL && argv[0] != NULL) {
    self->argv = g_strdupv ((char **) argv);
  } else if (host_in_flatpak ()) {
    g_autofree char *shell = host_flatpak_shell ();
    g_autofree char *shown = mesh_escape_for_display (shell, -1);
    g_autofree char *note = NULL;

    /* --watch-bus: the host's shell ends with us even if we crash.  The
     * host gets none of our environment: TERM is passed by hand. */
    self->argv = g_new0 (char *, 6);
    self->argv[0] = g_strdup ("flatpak-spawn");
    self->argv[1] = g_strdup ("--host");
    self->argv[2] = g_strdup ("--watch-bus");
    self->argv[3] = g_strdup ("--env=TERM=xterm-256color");
    self->argv[4] = g_steal_pointer (&shell);
    /* Said first to the host and to every viewer (the scrollback): which
     * shell, on which side of the sandbox. */
    note = g_strdup_printf ("Mesh: sharing the host's shell %s (through flatpak-spawn --host)\r\n",
                            shown);
    g_byte_array_append (self->scrollback, (const guint8 *) note, strlen (note));
    g_message ("sharing the host's shell %s through flatpak-spawn --host", shown);
  } else {
    self->argv = g_new0 (char *, 2);
    self->argv[0] = host_default_shell ();
  }
  return self;
}

/* Starts the command on a new PTY of @cols × @rows. */
gboolean
mesh_terminal_host_start (MeshTerminalHost  *self,
                          guint              cols,
                          guint              rows,
                          GError           **error)
{
  struct winsize ws = { .ws_row = rows, .ws_col = cols };
  g_autofree char *program = NULL;
  g_auto(GStrv) envp = NULL;
  gboolean via_host;
  int master = -1;
  int slave = -1;
  pid_t pid;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), FALSE);
  g_return_val_if_fail (!self->running && self->master < 0, FALSE);
  g_return_val_if_fail (cols > 0 && rows > 0, FALSE);

  /* Everything the child needs is prepared here: after fork() only
   * async-signal-safe calls are allowed in a threaded process. */
  program = g_path_is_absolute (self->argv[0]) ? g_strdup (self->argv[0])
                                               : g_find_program_in_path (self->argv[0]);
  if (program == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 "“%s” was not found", self->argv[0]);
    return FALSE;
  }
  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "TERM", "xterm-256color", TRUE);
  via_host = g_strcmp0 (self->argv[0], "flatpak-spawn") == 0 &&
             g_strcmp0 (self->argv[1], "--host") == 0;

  if (via_host) {
    /* flatpak-spawn must not take the PTY as its controlling terminal: the
     * session helper makes it the host shell's, which is what gives that
     * shell job control and Ctrl-C.  (With forkpty the host shell runs with
     * no controlling terminal: "no job control in this shell".) */
    if (openpty (&master, &slave, NULL, NULL, &ws) < 0)
      pid = -1;
    else if ((pid = fork ()) < 0)
      close (slave);
  } else {
    pid = forkpty (&master, NULL, NULL, &ws);
  }
  if (pid < 0) {
    int saved_errno = errno;

    if (master >= 0)
      close (master);
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                 "Cannot open a terminal: %s", g_strerror (saved_errno));
    return FALSE;
  }
  if (pid == 0) {
    sigset_t none;

    if (via_host) {
      setsid ();
      dup2 (slave, STDIN_FILENO);
      dup2 (slave, STDOUT_FILENO);
      dup2 (slave, STDERR_FILENO);
      if (slave > STDERR_FILENO)
        close (slave);
      close (master);
    }
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    signal (SIGPIPE, SIG_DFL);
    execve (program, self->argv, envp);
    _exit (127);
  }
  if (slave >= 0)
    close (slave);

  fcntl (master, F_SETFL, fcntl (master, F_GETFL) | O_NONBLOCK);
  fcntl (master, F_SETFD, FD_CLOEXEC);
  self->master = master;
  self->pid = pid;
  self->cols = cols;
  self->rows = rows;
  self->running = TRUE;
  self->read_source = add_fd_source (self, G_IO_IN | G_IO_HUP | G_IO_ERR, on_pty_readable);
  self->child_watch = g_child_watch_source_new (pid);
  g_source_set_callback (self->child_watch, G_SOURCE_FUNC (on_child_exited), self, NULL);
  g_source_attach (self->child_watch, self->context);
  return TRUE;
}

/**
 * mesh_terminal_host_add_viewer:
 * @stream: a session stream whose P2P_HELLO was accepted
 * @may_control: whether this viewer may ever be given control
 *
 * Sends the size and the scrollback, then every new output.  TERM_IN and
 * TERM_RESIZE from the viewer count only while it holds control.
 *
 * Returns: (transfer full): the viewer's id
 */
char *
mesh_terminal_host_add_viewer (MeshTerminalHost *self,
                               GIOStream        *stream,
                               gboolean          may_control)
{
  g_autoptr(JsonObject) resize = NULL;
  Viewer *viewer;
  char *id;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  viewer = g_rc_box_new0 (Viewer);
  viewer->host = self;
  viewer->id = g_strdup_printf ("viewer-%u", ++self->next_viewer);
  viewer->stream = g_object_ref (stream);
  viewer->reader = mesh_frame_reader_get_for_stream (stream);
  viewer->writer = mesh_frame_writer_get_for_stream (stream);
  viewer->cancellable = g_cancellable_new ();
  viewer->may_control = may_control;
  viewer->refusal_budget = REFUSAL_BURST;
  viewer->refusal_time = g_get_monotonic_time ();
  g_hash_table_insert (self->viewers, viewer->id, viewer);

  resize = mesh_frame_term_resize_new (self->cols, self->rows);
  host_send_control (viewer, resize);
  if (self->scrollback->len > 0) {
    g_autoptr(GBytes) history = g_bytes_new (self->scrollback->data, self->scrollback->len);

    host_send (viewer, MESH_FRAME_TERM_OUT, history);
  }
  viewer_read_next (viewer);
  host_update_gate (self);

  /* After the shell ended a late viewer still gets the last screen. */
  id = g_strdup (viewer->id);
  if (!self->running)
    host_drop_viewer (self, viewer, TRUE);
  return id;
}

void
mesh_terminal_host_remove_viewer (MeshTerminalHost *self,
                                  const char       *viewer_id)
{
  Viewer *viewer;

  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));
  g_return_if_fail (viewer_id != NULL);

  viewer = g_hash_table_lookup (self->viewers, viewer_id);
  if (viewer != NULL)
    host_drop_viewer (self, viewer, TRUE);
}

guint
mesh_terminal_host_get_n_viewers (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), 0);

  return g_hash_table_size (self->viewers);
}

/**
 * mesh_terminal_host_set_controller:
 * @viewer_id: (nullable): the viewer granted control, or %NULL to release it
 *
 * At most one viewer holds control (protocol §7).  Fails for an unknown
 * viewer or one added without @may_control.
 */
gboolean
mesh_terminal_host_set_controller (MeshTerminalHost  *self,
                                   const char        *viewer_id,
                                   GError           **error)
{
  Viewer *viewer;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), FALSE);

  if (viewer_id == NULL) {
    g_clear_pointer (&self->controller, g_free);
    return TRUE;
  }
  viewer = g_hash_table_lookup (self->viewers, viewer_id);
  if (viewer == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND, "no viewer “%s”", viewer_id);
    return FALSE;
  }
  if (!viewer->may_control) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                 "viewer “%s” may not take control", viewer_id);
    return FALSE;
  }
  g_free (self->controller);
  self->controller = g_strdup (viewer_id);
  return TRUE;
}

const char *
mesh_terminal_host_get_controller (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), NULL);

  return self->controller;
}

/* The host's own window changed size: the PTY and every viewer follow. */
void
mesh_terminal_host_resize (MeshTerminalHost *self,
                           guint             cols,
                           guint             rows)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));
  g_return_if_fail (cols > 0 && rows > 0);

  host_apply_size (self, cols, rows);
}

/* Input typed at the host itself, which always has control. */
void
mesh_terminal_host_send_input (MeshTerminalHost *self,
                               const void       *data,
                               gsize             len)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));

  host_write_input (self, data, len);
}

/* Hangs up the shell (SIGHUP, as closing a terminal window does); the share
 * ends when it exits. */
void
mesh_terminal_host_stop (MeshTerminalHost *self)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));

  if (self->pid > 0)
    kill (self->pid, SIGHUP);
}

gboolean
mesh_terminal_host_is_running (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), FALSE);

  return self->running;
}

/* What the shell wrote lately (what a viewer joining now is sent first). */
GBytes *
mesh_terminal_host_get_scrollback (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), NULL);

  return g_bytes_new (self->scrollback->data, self->scrollback->len);
}

/**
 * mesh_terminal_host_get_queued_bytes:
 * @viewer_id: a viewer
 *
 * What is queued for @viewer_id and not yet taken by its stream: never more
 * than about MAX_VIEWER_BACKLOG, whatever the viewer does.
 *
 * Returns: the bytes, 0 for an unknown viewer
 */
gsize
mesh_terminal_host_get_queued_bytes (MeshTerminalHost *self,
                                     const char       *viewer_id)
{
  Viewer *viewer;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), 0);
  g_return_val_if_fail (viewer_id != NULL, 0);

  viewer = g_hash_table_lookup (self->viewers, viewer_id);
  return viewer != NULL ? mesh_frame_writer_get_queued_bytes (viewer->writer) : 0;
}

/* How long the PTY stays paused for viewers that take nothing before they
 * are cut off (DEFAULT_STALL_TIMEOUT_MS); for tests. */
void
mesh_terminal_host_set_stall_timeout (MeshTerminalHost *self,
                                      guint             timeout_ms)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));
  g_return_if_fail (timeout_ms > 0);

  self->stall_timeout_ms = timeout_ms;
  clear_source (&self->stall_source);
  host_arm_stall_check (self, self->paused);
}
