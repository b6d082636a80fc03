/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-terminal"

#include "config.h"

#include "mesh-agent-session.h"
#include "mesh-error.h"
#include "mesh-frame.h"
#include "mesh-frame-writer.h"
#include "mesh-terminal-host.h"
#include "mesh-terminal-viewer.h"

#include <errno.h>
#include "agent-test-util.h"

#include <locale.h>
#include <string.h>

/* One viewer on the far end of a socket pair, recording what it sees. */
typedef struct {
  MeshTerminalViewer *viewer;
  GIOStream          *host_side;
  char               *id;
  GString            *output;
  GPtrArray          *errors;
  guint               cols;
  guint               rows;
  guint               resizes;
  gboolean            closed;
} Watcher;

static void
on_output (MeshTerminalViewer *viewer,
           GBytes             *output,
           Watcher            *watcher)
{
  gsize len;
  const char *data = g_bytes_get_data (output, &len);

  g_string_append_len (watcher->output, data, len);
}

static void
on_resize (MeshTerminalViewer *viewer,
           guint               cols,
           guint               rows,
           Watcher            *watcher)
{
  watcher->cols = cols;
  watcher->rows = rows;
  watcher->resizes++;
}

static void
on_host_error (MeshTerminalViewer *viewer,
               const char         *code,
               const char         *message,
               Watcher            *watcher)
{
  g_ptr_array_add (watcher->errors, g_strdup (code));
}

static void
on_closed (MeshTerminalViewer *viewer,
           const GError       *error,
           Watcher            *watcher)
{
  g_assert_no_error (error);
  watcher->closed = TRUE;
}

static Watcher *
watcher_attach (MeshTerminalHost *host,
                gboolean          may_control)
{
  Watcher *watcher = g_new0 (Watcher, 1);
  g_autoptr(GIOStream) viewer_side = NULL;

  agent_test_stream_pair (&watcher->host_side, &viewer_side);
  watcher->output = g_string_new (NULL);
  watcher->errors = g_ptr_array_new_with_free_func (g_free);
  watcher->viewer = mesh_terminal_viewer_new (viewer_side);
  g_signal_connect (watcher->viewer, "output", G_CALLBACK (on_output), watcher);
  g_signal_connect (watcher->viewer, "resize", G_CALLBACK (on_resize), watcher);
  g_signal_connect (watcher->viewer, "host-error", G_CALLBACK (on_host_error), watcher);
  g_signal_connect (watcher->viewer, "closed", G_CALLBACK (on_closed), watcher);
  mesh_terminal_viewer_start (watcher->viewer);
  watcher->id = mesh_terminal_host_add_viewer (host, watcher->host_side, may_control);
  return watcher;
}

static void
watcher_free (Watcher *watcher)
{
  g_signal_handlers_disconnect_by_data (watcher->viewer, watcher);
  g_object_unref (watcher->viewer);
  g_object_unref (watcher->host_side);
  g_string_free (watcher->output, TRUE);
  g_ptr_array_unref (watcher->errors);
  g_free (watcher->id);
  g_free (watcher);
}

static void
wait_for_output (Watcher    *watcher,
                 const char *text)
{
  while (strstr (watcher->output->str, text) == NULL)
    g_main_context_iteration (NULL, TRUE);
}

static void
wait_for_errors (Watcher *watcher,
                 guint    n)
{
  while (watcher->errors->len < n)
    g_main_context_iteration (NULL, TRUE);
}

static MeshTerminalHost *
start_host (const char *script)
{
  const char *argv[] = { "/bin/sh", "-c", script, NULL };
  MeshTerminalHost *host = mesh_terminal_host_new (argv);
  g_autoptr(GError) error = NULL;

  mesh_terminal_host_start (host, 80, 24, &error);
  g_assert_no_error (error);
  return host;
}

static void
stop_host (MeshTerminalHost *host)
{
  mesh_terminal_host_stop (host);
  while (mesh_terminal_host_is_running (host))
    g_main_context_iteration (NULL, TRUE);
  g_object_unref (host);
}

static void
test_output (void)
{
  MeshTerminalHost *host = start_host ("echo hello-from-host; cat");
  Watcher *watcher = watcher_attach (host, FALSE);

  /* Also covers the scrollback: the echo may run before the viewer came. */
  wait_for_output (watcher, "hello-from-host");
  while (watcher->resizes == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (watcher->cols, ==, 80);
  g_assert_cmpuint (watcher->rows, ==, 24);

  watcher_free (watcher);
  stop_host (host);
}

static void
test_control (void)
{
  MeshTerminalHost *host = start_host ("echo ready; cat");
  Watcher *watcher = watcher_attach (host, TRUE);
  g_autoptr(GError) error = NULL;

  wait_for_output (watcher, "ready");

  /* No control: dropped and answered with CAP_REQUIRED. */
  mesh_terminal_viewer_send_input (watcher->viewer, "ping-1\n", 7);
  wait_for_errors (watcher, 1);
  g_assert_cmpstr (watcher->errors->pdata[0], ==, "CAP_REQUIRED");

  g_assert_true (mesh_terminal_host_set_controller (host, watcher->id, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (mesh_terminal_host_get_controller (host), ==, watcher->id);
  mesh_terminal_viewer_send_input (watcher->viewer, "ping-2\n", 7);
  wait_for_output (watcher, "ping-2");
  /* The PTY keeps order: had ping-1 been written, it would show first. */
  g_assert_null (strstr (watcher->output->str, "ping-1"));

  g_assert_true (mesh_terminal_host_set_controller (host, NULL, &error));
  mesh_terminal_viewer_send_input (watcher->viewer, "ping-3\n", 7);
  wait_for_errors (watcher, 2);
  g_assert_cmpstr (watcher->errors->pdata[1], ==, "CAP_REQUIRED");
  mesh_terminal_host_send_input (host, "marker-4\n", 9);
  wait_for_output (watcher, "marker-4");
  g_assert_null (strstr (watcher->output->str, "ping-3"));

  /* Unknown viewers and view-only viewers cannot be given control. */
  g_assert_false (mesh_terminal_host_set_controller (host, "no-such-viewer", &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND);

  watcher_free (watcher);
  stop_host (host);
}

static void
test_view_only (void)
{
  MeshTerminalHost *host = start_host ("cat");
  Watcher *watcher = watcher_attach (host, FALSE);
  g_autoptr(GError) error = NULL;

  g_assert_false (mesh_terminal_host_set_controller (host, watcher->id, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN);
  g_assert_null (mesh_terminal_host_get_controller (host));

  watcher_free (watcher);
  stop_host (host);
}

static void
test_two_viewers (void)
{
  MeshTerminalHost *host = start_host ("echo ready; cat");
  Watcher *first = watcher_attach (host, TRUE);
  Watcher *second = watcher_attach (host, TRUE);

  g_assert_cmpstr (first->id, !=, second->id);
  g_assert_cmpuint (mesh_terminal_host_get_n_viewers (host), ==, 2);
  wait_for_output (first, "ready");
  wait_for_output (second, "ready");

  g_assert_true (mesh_terminal_host_set_controller (host, second->id, NULL));
  mesh_terminal_viewer_send_input (second->viewer, "from-second\n", 12);
  wait_for_output (first, "from-second");
  wait_for_output (second, "from-second");

  /* Control moves: the former controller is refused from now on. */
  g_assert_true (mesh_terminal_host_set_controller (host, first->id, NULL));
  mesh_terminal_viewer_send_input (second->viewer, "late\n", 5);
  wait_for_errors (second, 1);
  g_assert_cmpstr (second->errors->pdata[0], ==, "CAP_REQUIRED");
  g_assert_cmpuint (first->errors->len, ==, 0);

  watcher_free (first);
  watcher_free (second);
  stop_host (host);
}

static void
test_resize (void)
{
  MeshTerminalHost *host = start_host ("echo ready; while read line; do stty size; done");
  Watcher *controller = watcher_attach (host, TRUE);
  Watcher *other = watcher_attach (host, TRUE);

  wait_for_output (controller, "ready");
  mesh_terminal_viewer_send_resize (other->viewer, 50, 10);
  wait_for_errors (other, 1);
  g_assert_cmpstr (other->errors->pdata[0], ==, "CAP_REQUIRED");

  g_assert_true (mesh_terminal_host_set_controller (host, controller->id, NULL));
  mesh_terminal_viewer_send_resize (controller->viewer, 100, 30);
  while (other->cols != 100 || controller->cols != 100)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (other->rows, ==, 30);
  g_assert_cmpuint (mesh_terminal_viewer_get_cols (other->viewer), ==, 100);

  /* The shell itself sees the new size (TIOCSWINSZ). */
  mesh_terminal_viewer_send_input (controller->viewer, "\n", 1);
  wait_for_output (controller, "30 100");

  watcher_free (controller);
  watcher_free (other);
  stop_host (host);
}

static void
on_exited (MeshTerminalHost *host,
           int               status,
           int              *out)
{
  *out = status;
}

static void
test_exit (void)
{
  MeshTerminalHost *host = start_host ("read line; echo bye-$line; exit 3");
  Watcher *watcher = watcher_attach (host, TRUE);
  g_autoptr(GError) error = NULL;
  int status = -1;

  g_signal_connect (host, "exited", G_CALLBACK (on_exited), &status);
  mesh_terminal_host_set_controller (host, watcher->id, NULL);
  mesh_terminal_viewer_send_input (watcher->viewer, "now\n", 4);

  /* The shell's exit ends the share: the output arrives, then the end. */
  while (!watcher->closed)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (strstr (watcher->output->str, "bye-now"));
  g_assert_false (mesh_terminal_host_is_running (host));
  g_assert_false (g_spawn_check_wait_status (status, &error));
  g_assert_error (error, G_SPAWN_EXIT_ERROR, 3);
  g_assert_cmpuint (mesh_terminal_host_get_n_viewers (host), ==, 0);

  watcher_free (watcher);
  g_object_unref (host);
}

static void
on_viewer_removed (MeshTerminalHost *host,
                   const char       *id,
                   GPtrArray        *removed)
{
  g_ptr_array_add (removed, g_strdup (id));
}

static void
test_slow_viewer (void)
{
  MeshTerminalHost *host = start_host ("echo ready; read line; "
                                       "head -c 8000000 /dev/zero | tr '\\0' x; "
                                       "echo; echo done-marker; cat");
  Watcher *fast = watcher_attach (host, TRUE);
  g_autoptr(GIOStream) slow_host_side = NULL;
  g_autoptr(GIOStream) slow_viewer_side = NULL;
  g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *slow_id = NULL;

  /* This viewer's end is never read: its socket fills up, then its queue. */
  agent_test_stream_pair (&slow_host_side, &slow_viewer_side);
  slow_id = mesh_terminal_host_add_viewer (host, slow_host_side, FALSE);
  g_signal_connect (host, "viewer-removed", G_CALLBACK (on_viewer_removed), removed);

  wait_for_output (fast, "ready");
  mesh_terminal_host_set_controller (host, fast->id, NULL);
  mesh_terminal_viewer_send_input (fast->viewer, "go\n", 3);
  wait_for_output (fast, "done-marker");

  g_assert_cmpuint (removed->len, ==, 1);
  g_assert_cmpstr (removed->pdata[0], ==, slow_id);
  g_assert_cmpuint (mesh_terminal_host_get_n_viewers (host), ==, 1);

  watcher_free (fast);
  stop_host (host);
}


/* Reads what is left on @socket until the host closes it; returns the code
 * of the last ERROR frame seen. */
static char *
drain_until_closed (GSocket *socket)
{
  g_autoptr(MeshFrameParser) parser = mesh_frame_parser_new ();
  g_autofree char *last_code = NULL;
  guint8 buffer[65536];

  for (;;) {
    g_autoptr(GError) error = NULL;
    gssize n = g_socket_receive (socket, (char *) buffer, sizeof buffer, NULL, &error);
    MeshFrameType type;
    GBytes *payload;

    if (n == 0)
      break;
    if (n < 0) {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      g_main_context_iteration (NULL, TRUE);
      continue;
    }
    for (gsize done = 0; done < (gsize) n;) {
      g_autoptr(GError) parse_error = NULL;

      done += mesh_frame_parser_feed (parser, buffer + done, n - done, &parse_error);
      g_assert_no_error (parse_error);
      while (mesh_frame_parser_next (parser, &type, &payload)) {
        g_autoptr(GBytes) owned = payload;
        g_autoptr(JsonObject) control = NULL;
        const char *t = NULL;

        if (type != MESH_FRAME_CONTROL)
          continue;
        control = mesh_frame_control_parse (owned, &t, NULL);
        if (control != NULL && g_str_equal (t, "ERROR")) {
          g_free (last_code);
          last_code = g_strdup (json_object_get_string_member (control, "code"));
        }
      }
    }
  }
  return g_steal_pointer (&last_code);
}

/* A viewer without control that floods TERM_IN and never reads: the host
 * queues a bounded amount for it, closes it with a reason, and the shell
 * and the other viewers go on. */
static void
test_hostile_viewer (void)
{
  MeshTerminalHost *host = start_host ("echo ready; cat");
  Watcher *good = watcher_attach (host, TRUE);
  g_autoptr(GIOStream) bad_host_side = NULL;
  g_autoptr(GIOStream) bad_viewer_side = NULL;
  g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *bad_id = NULL;
  g_autofree char *reason = NULL;
  g_autofree guint8 *flood = NULL;
  GSocket *socket;
  const gsize frame_size = MESH_FRAME_HEADER_SIZE + 1;
  const gsize n_frames = 4096;
  gsize offset = 0, max_queued = 0;
  guint64 sent = 0;

  agent_test_stream_pair (&bad_host_side, &bad_viewer_side);
  bad_id = mesh_terminal_host_add_viewer (host, bad_host_side, FALSE);
  g_signal_connect (host, "viewer-removed", G_CALLBACK (on_viewer_removed), removed);
  wait_for_output (good, "ready");
  g_assert_true (mesh_terminal_host_set_controller (host, good->id, NULL));

  flood = g_malloc (frame_size * n_frames);
  for (gsize i = 0; i < n_frames; i++) {
    mesh_frame_encode_header (MESH_FRAME_TERM_IN, 1, flood + i * frame_size);
    flood[i * frame_size + MESH_FRAME_HEADER_SIZE] = 'x';
  }
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (bad_viewer_side));
  g_socket_set_blocking (socket, FALSE);

  /* Up to 40 million frames (the host answered each with an ERROR before). */
  while (removed->len == 0 && sent < 10000 * (guint64) n_frames) {
    g_autoptr(GError) error = NULL;
    gssize n = g_socket_send (socket, (char *) flood + offset, frame_size * n_frames - offset,
                              NULL, &error);

    if (n > 0) {
      offset = (offset + n) % (frame_size * n_frames);
      sent += n / frame_size;
    } else {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
    }
    while (g_main_context_iteration (NULL, n <= 0))
      if (removed->len > 0)
        break;
    max_queued = MAX (max_queued, mesh_terminal_host_get_queued_bytes (host, bad_id));
    g_assert_cmpuint (max_queued, <=, 64 * 1024);
  }
  g_test_message ("flooded %" G_GUINT64_FORMAT " frames; at most %" G_GSIZE_FORMAT
                  " bytes queued for the flooder", sent, max_queued);

  /* Dropped, and told why. */
  g_assert_cmpuint (removed->len, ==, 1);
  g_assert_cmpstr (removed->pdata[0], ==, bad_id);
  reason = drain_until_closed (socket);
  g_assert_cmpstr (reason, ==, "RATE_LIMITED");

  /* The shell and the well-behaved viewer still work. */
  g_assert_true (mesh_terminal_host_is_running (host));
  mesh_terminal_viewer_send_input (good->viewer, "after-flood\n", 12);
  wait_for_output (good, "after-flood");
  g_assert_cmpuint (mesh_terminal_host_get_n_viewers (host), ==, 1);

  watcher_free (good);
  stop_host (host);
}

static void
on_host_output (MeshTerminalHost *host,
                GBytes           *output,
                GString          *seen)
{
  g_string_append_len (seen, g_bytes_get_data (output, NULL), g_bytes_get_size (output));
  /* Keep only the tail: the marker is what matters. */
  if (seen->len > 4096)
    g_string_erase (seen, 0, seen->len - 4096);
}

/* The only viewer never reads: the PTY is paused for it, but not for ever;
 * it is cut off and the shell runs on. */
static void
test_stalled_viewer (void)
{
  MeshTerminalHost *host = start_host ("head -c 4000000 /dev/zero | tr '\\0' x; "
                                       "echo; echo done-marker; cat");
  g_autoptr(GIOStream) host_side = NULL;
  g_autoptr(GIOStream) viewer_side = NULL;
  g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) seen = g_string_new (NULL);
  g_autofree char *id = NULL;

  mesh_terminal_host_set_stall_timeout (host, 200);
  g_signal_connect (host, "viewer-removed", G_CALLBACK (on_viewer_removed), removed);
  g_signal_connect (host, "output", G_CALLBACK (on_host_output), seen);
  agent_test_stream_pair (&host_side, &viewer_side);
  id = mesh_terminal_host_add_viewer (host, host_side, FALSE);

  while (strstr (seen->str, "done-marker") == NULL) {
    g_main_context_iteration (NULL, TRUE);
    g_assert_cmpuint (mesh_terminal_host_get_queued_bytes (host, id), <=, 4 * 1024 * 1024);
  }
  g_assert_cmpuint (removed->len, ==, 1);
  g_assert_cmpstr (removed->pdata[0], ==, id);

  stop_host (host);
}


/* What the controller does with a viewer's TERM_CONTROL: check it and answer on the stream. */
static void
on_term_control (JsonObject *control,
                 gpointer    user_data)
{
  GIOStream **stream = user_data;
  g_autoptr(MeshFrameWriter) writer = mesh_frame_writer_get_for_stream (*stream);
  g_autoptr(JsonObject) reply = mesh_frame_error_new ("CAP_INVALID",
                                                      "the terminal:control token is not valid");

  mesh_frame_writer_write_control_async (writer, reply, NULL, NULL, NULL);
}

/* A viewer that floods TERM_CONTROL (answered by the session layer, not the host) and never
 * reads: the answers stop being read for once they pile up. */
static void
test_control_flood (void)
{
  static const char * const intercept[] = { "TERM_CONTROL", NULL };
  MeshTerminalHost *host = start_host ("echo ready; cat");
  Watcher *good = watcher_attach (host, TRUE);
  g_autoptr(GIOStream) bad_host_side = NULL;
  g_autoptr(GIOStream) bad_viewer_side = NULL;
  g_autoptr(MeshAgentSessionStream) filtered = NULL;
  g_autoptr(JsonObject) control = json_object_new ();
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GByteArray) flood = g_byte_array_new ();
  g_autofree char *bad_id = NULL;
  GSocket *socket;
  gsize offset = 0, max_queued = 0;
  guint64 sent = 0;
  guint stalled = 0;

  agent_test_stream_pair (&bad_host_side, &bad_viewer_side);
  /* The callback answers on the filtered stream, like the controller. */
  filtered = mesh_agent_session_stream_new (bad_host_side, intercept, on_term_control,
                                            &filtered, NULL);
  bad_id = mesh_terminal_host_add_viewer (host, G_IO_STREAM (filtered), FALSE);
  wait_for_output (good, "ready");
  g_assert_true (mesh_terminal_host_set_controller (host, good->id, NULL));

  json_object_set_string_member (control, "t", "TERM_CONTROL");
  json_object_set_string_member (control, "cap_token", "not-a-token");
  payload = mesh_frame_control_to_bytes (control);
  frame = mesh_frame_encode (MESH_FRAME_CONTROL, payload);
  for (guint i = 0; i < 1024; i++)
    g_byte_array_append (flood, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (bad_viewer_side));
  g_socket_set_blocking (socket, FALSE);

  /* Until the host side stops reading (its socket then stays full), or 100 MB. */
  while (stalled < 100 && sent < 100 * 1024 * 1024) {
    g_autoptr(GError) error = NULL;
    gssize n = g_socket_send (socket, (char *) flood->data + offset, flood->len - offset, NULL,
                              &error);
    gboolean dispatched = FALSE;

    if (n > 0) {
      offset = (offset + n) % flood->len;
      sent += n;
      stalled = 0;
    } else {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
    }
    while (g_main_context_iteration (NULL, FALSE))
      dispatched = TRUE;
    if (n <= 0 && !dispatched)
      stalled++;
    max_queued = MAX (max_queued, mesh_terminal_host_get_queued_bytes (host, bad_id));
    g_assert_cmpuint (max_queued, <=, 4 * 1024 * 1024);
  }
  g_test_message ("sent %" G_GUINT64_FORMAT " bytes of TERM_CONTROL; at most %" G_GSIZE_FORMAT
                  " bytes queued for the sender", sent, max_queued);

  /* The shell and the other viewer are fine. */
  mesh_terminal_viewer_send_input (good->viewer, "after-control-flood\n", 20);
  wait_for_output (good, "after-control-flood");

  mesh_terminal_host_remove_viewer (host, bad_id);
  watcher_free (good);
  stop_host (host);
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/terminal/output", test_output);
  g_test_add_func ("/mesh/terminal/control", test_control);
  g_test_add_func ("/mesh/terminal/view-only", test_view_only);
  g_test_add_func ("/mesh/terminal/two-viewers", test_two_viewers);
  g_test_add_func ("/mesh/terminal/resize", test_resize);
  g_test_add_func ("/mesh/terminal/exit", test_exit);
  g_test_add_func ("/mesh/terminal/slow-viewer", test_slow_viewer);
  g_test_add_func ("/mesh/terminal/hostile-viewer", test_hostile_viewer);
  g_test_add_func ("/mesh/terminal/stalled-viewer", test_stalled_viewer);
  g_test_add_func ("/mesh/terminal/control-flood", test_control_flood);

  return g_test_run ();
}
