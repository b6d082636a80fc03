/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "bench-quic-file"

#include "config.h"

#include "mesh-agent-identity.h"
#include "mesh-file-transfer.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-quic-endpoint.h"

#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* Agent → agent file transfer over the real data plane, without the control plane: two
 * processes, each with its own identity (--state-dir), pin each other's fingerprint, and run
 * what an accepted P2P session runs (protocol §6) on one QUIC stream: P2P_HELLO with the
 * session token → P2P_OK, then MeshFileSender / MeshFileReceiver (FILE_META, FILE_ACK, chunks,
 * FILE_DONE, SHA-256 checked, .part then rename).  The token and the fingerprints come from
 * the command line instead of p2p.session.created.  bench/quic-throughput runs it:
 *
 *   mesh-bench-quic-file identity --state-dir DIR          prints the fingerprint
 *   mesh-bench-quic-file receive --state-dir DIR --peer FP --token T --download-dir DIR
 *                                                           prints "listening port=N" first
 *   mesh-bench-quic-file send --state-dir DIR --peer FP --token T --port N FILE
 *
 * Each side prints one "quic-file …" result line: its timings, its own peak RSS, and for the
 * data phase the agent thread's CPU time and its time waiting for a CPU. */

static char *opt_state_dir = NULL;
static char *opt_peer = NULL;
static char *opt_token = NULL;
static char *opt_download_dir = NULL;
static int opt_port = 0;
static char *opt_address = NULL;
static char *opt_bind = NULL;

#define SESSION_ID "bench-session"
#define SENDER_DEVICE_ID "bench-sender"

typedef struct {
  GMainLoop          *loop;
  GError             *error;
  MeshQuicConnection *connection;
  MeshQuicStream     *stream;
  MeshFileSender     *sender;
  MeshFileReceiver   *receiver;
  GFile              *file;      /* send: what to send */
  gboolean            finished;  /* the transfer itself is over (either way) */
  gint64              start;
  gint64              connected;
  gint64              data_start;
  gint64              done;
  guint64             sched_start[2]; /* this thread's run and run-queue wait, ns */
  guint64             sched_done[2];
} Run;

static double
seconds_between (gint64 from,
                 gint64 to)
{
  return (to - from) / 1e6;
}

static double
gbits_per_second (guint64 bytes,
                  double  seconds)
{
  return seconds > 0 ? bytes * 8.0 / seconds / 1e9 : 0;
}

static long
peak_rss_kib (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

/* The calling thread's time on a CPU and time spent runnable but waiting for one (ns): the
 * agent thread drives QUIC, so this tells a busy agent from one starved by other processes. */
static void
read_schedstat (guint64 out[2])
{
  g_autofree char *contents = NULL;

  out[0] = out[1] = 0;
  if (g_file_get_contents ("/proc/thread-self/schedstat", &contents, NULL, NULL))
    sscanf (contents, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &out[0], &out[1]);
}

static void
print_schedstat (const Run *run)
{
  g_print (" thread_cpu_s=%.3f thread_runq_s=%.3f",
           (run->sched_done[0] - run->sched_start[0]) / 1e9,
           (run->sched_done[1] - run->sched_start[1]) / 1e9);
}

static void
run_fail (Run    *run,
          GError *error)
{
  if (run->error == NULL)
    run->error = error;
  else
    g_error_free (error);
  g_main_loop_quit (run->loop);
}

static void
run_clear (Run *run)
{
  g_clear_object (&run->sender);
  g_clear_object (&run->receiver);
  g_clear_object (&run->stream);
  g_clear_object (&run->connection);
}

/* The transfer is over, either way: the end of the data phase. */
static void
run_finished (Run *run)
{
  run->finished = TRUE;
  run->done = g_get_monotonic_time ();
  read_schedstat (run->sched_done);
}

/* The control message a read on the session's stream brought (@t: its type), or an error
 * saying that @expected was expected. */
static JsonObject *
read_control_finish (GObject       *reader,
                     GAsyncResult  *result,
                     const char    *expected,
                     const char   **t,
                     GError       **error)
{
  g_autoptr(GBytes) payload = NULL;
  MeshFrameType type;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (reader), result, &type, &payload, error))
    return NULL;
  if (type != MESH_FRAME_CONTROL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "expected %s, got a %s frame",
                 expected, mesh_frame_type_to_string (type));
    return NULL;
  }
  return mesh_frame_control_parse (payload, t, error);
}

static MeshAgentIdentity *
load_identity (GError **error)
{
  if (opt_state_dir == NULL) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "--state-dir is required");
    return NULL;
  }
  return mesh_agent_identity_load_or_create (opt_state_dir, error);
}

/* This agent's endpoint (the identity in --state-dir) on @ip: loopback unless --address /
 * --bind name another address (bench/quic-throughput --mtu). */
static MeshQuicEndpoint *
new_endpoint (const char  *ip,
              GError     **error)
{
  g_autoptr(MeshAgentIdentity) identity = load_identity (error);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string (ip, 0);

  if (identity == NULL)
    return NULL;
  if (address == NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "not an IP address: %s", ip);
    return NULL;
  }
  return mesh_quic_endpoint_new (identity, G_INET_SOCKET_ADDRESS (address), error);
}

/* ------------------------------------------------------------------ */
/* receive                                                              */
/* ------------------------------------------------------------------ */

static void
on_receiver_connection_closed (MeshQuicConnection *connection,
                               GError             *error,
                               gpointer            user_data)
{
  Run *run = user_data;

  if (!run->finished)
    run_fail (run, g_error_copy (error));
  else
    g_main_loop_quit (run->loop);
}

static void
on_received (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Run *run = user_data;
  GError *error = NULL;

  run_finished (run);
  if (!mesh_file_receiver_receive_finish (MESH_FILE_RECEIVER (source), result, &error)) {
    run_fail (run, error);
    return;
  }
  /* The sender closes the connection once it has read our FILE_DONE; "closed" ends the loop. */
}

static void
on_ok_written (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Run *run = user_data;
  GError *error = NULL;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error))
    run_fail (run, error);
}

static void
on_deny_written (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Run *run = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  g_main_loop_quit (run->loop);
}

static void
on_hello (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GFile) download_dir = NULL;
  g_autoptr(MeshFrameWriter) writer =
    mesh_frame_writer_get_for_stream (G_IO_STREAM (run->stream));
  const char *t = NULL, *session_id = NULL, *token = NULL, *device_id = NULL;
  GError *error = NULL;

  control = read_control_finish (source, result, "P2P_HELLO", &t, &error);
  if (control != NULL && !g_str_equal (t, "P2P_HELLO"))
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "expected P2P_HELLO, got %s", t);
  else if (control != NULL)
    mesh_frame_p2p_hello_parse (control, &session_id, &token, &device_id, &error);
  if (error != NULL) {
    run_fail (run, error);
    return;
  }

  /* What the agent checks against p2p.session.created: the single-use token. */
  if (strlen (token) != strlen (opt_token) ||
      gnutls_memcmp (token, opt_token, strlen (opt_token)) != 0) {
    g_autoptr(JsonObject) deny = mesh_frame_p2p_deny_new ("wrong session token");

    run->error = g_error_new (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                              "P2P_HELLO from %s carried the wrong session token", device_id);
    mesh_frame_writer_write_control_async (writer, deny, NULL, on_deny_written, run);
    return;
  }

  {
    g_autoptr(JsonObject) ok = mesh_frame_p2p_ok_new ();

    mesh_frame_writer_write_control_async (writer, ok, NULL, on_ok_written, run);
  }
  download_dir = g_file_new_for_path (opt_download_dir);
  run->receiver = mesh_file_receiver_new (G_IO_STREAM (run->stream), download_dir);
  run->data_start = g_get_monotonic_time ();
  read_schedstat (run->sched_start);
  mesh_file_receiver_receive_async (run->receiver, NULL, on_received, run);
}

static void
on_new_stream (MeshQuicConnection *connection,
               MeshQuicStream     *stream,
               gpointer            user_data)
{
  Run *run = user_data;
  g_autoptr(MeshFrameReader) reader = NULL;

  /* One session, one stream: a second one is not part of §6. */
  if (run->stream != NULL) {
    mesh_quic_stream_abort (stream, 1);
    return;
  }
  run->stream = g_object_ref (stream);
  reader = mesh_frame_reader_get_for_stream (G_IO_STREAM (stream));
  mesh_frame_reader_read_async (reader, NULL, on_hello, run);
}

static void
on_incoming (MeshQuicEndpoint   *endpoint,
             MeshQuicConnection *connection,
             gpointer            user_data)
{
  Run *run = user_data;

  if (run->connection != NULL) {
    mesh_quic_connection_close (connection, 1, "busy");
    return;
  }
  run->connection = g_object_ref (connection);
  run->connected = g_get_monotonic_time ();
  g_signal_connect (connection, "new-stream", G_CALLBACK (on_new_stream), run);
  g_signal_connect (connection, "closed", G_CALLBACK (on_receiver_connection_closed), run);
}

static int
command_receive (GError **error)
{
  g_autoptr(MeshQuicEndpoint) endpoint = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Run run = { .loop = loop };
  guint64 size, resumed;
  double seconds;
  int status = 0;

  if (opt_peer == NULL || opt_token == NULL || opt_download_dir == NULL) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "receive needs --peer, --token and --download-dir");
    return 2;
  }
  endpoint = new_endpoint (opt_address != NULL ? opt_address : "127.0.0.1", error);
  if (endpoint == NULL)
    return 1;
  mesh_quic_endpoint_expect_peer (endpoint, opt_peer);
  g_signal_connect (endpoint, "incoming-connection", G_CALLBACK (on_incoming), &run);

  g_print ("listening port=%u\n", mesh_quic_endpoint_get_port (endpoint));
  fflush (stdout);
  g_main_loop_run (loop);

  if (run.error != NULL) {
    g_propagate_error (error, run.error);
    status = 1;
  } else if (run.receiver == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no file arrived");
    status = 1;
  } else {
    g_autofree char *path = g_file_get_path (mesh_file_receiver_get_file (run.receiver));

    size = mesh_file_receiver_get_total (run.receiver);
    resumed = mesh_file_receiver_get_resumed_from (run.receiver);
    seconds = seconds_between (run.data_start, run.done);
    g_print ("quic-file receive bytes=%" G_GUINT64_FORMAT " resumed_from=%" G_GUINT64_FORMAT
             " data_s=%.3f data_gbps=%.3f hash=%s peak_rss_kib=%ld",
             size, resumed, seconds, gbits_per_second (size - resumed, seconds),
             mesh_file_receiver_get_hash (run.receiver), peak_rss_kib ());
    print_schedstat (&run);
    g_print (" path=%s\n", path);
  }

  run_clear (&run);
  g_clear_object (&endpoint);
  while (g_main_context_iteration (NULL, FALSE));
  return status;
}

/* ------------------------------------------------------------------ */
/* send                                                                 */
/* ------------------------------------------------------------------ */

static void
on_sender_connection_closed (MeshQuicConnection *connection,
                             GError             *error,
                             gpointer            user_data)
{
  Run *run = user_data;

  if (!run->finished)
    run_fail (run, g_error_copy (error));
}

static void
on_sender_progress (MeshFileSender *sender,
                    guint64         done,
                    guint64         total,
                    gpointer        user_data)
{
  Run *run = user_data;

  /* The first report comes with the receiver's FILE_ACK: the file is hashed and offered. */
  if (run->data_start == 0) {
    run->data_start = g_get_monotonic_time ();
    read_schedstat (run->sched_start);
  }
}

static void
on_output_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Run *run = user_data;

  g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, NULL);
  g_main_loop_quit (run->loop);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Run *run = user_data;
  GError *error = NULL;

  run_finished (run);
  if (!mesh_file_sender_send_finish (MESH_FILE_SENDER (source), result, &error)) {
    run_fail (run, error);
    return;
  }
  g_output_stream_close_async (g_io_stream_get_output_stream (G_IO_STREAM (run->stream)),
                               G_PRIORITY_DEFAULT, NULL, on_output_closed, run);
}

static void
on_reply (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(JsonObject) control = NULL;
  const char *t = NULL;
  GError *error = NULL;

  control = read_control_finish (source, result, "P2P_OK", &t, &error);
  if (control != NULL)
    mesh_frame_p2p_reply_parse (control, &error);
  if (error != NULL) {
    run_fail (run, error);
    return;
  }
  mesh_file_sender_send_async (run->sender, NULL, on_sent, run);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(JsonObject) hello = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  GError *error = NULL;

  run->connection = mesh_quic_endpoint_connect_finish (MESH_QUIC_ENDPOINT (source), result,
                                                       &error);
  if (run->connection == NULL) {
    run_fail (run, error);
    return;
  }
  run->connected = g_get_monotonic_time ();
  g_signal_connect (run->connection, "closed", G_CALLBACK (on_sender_connection_closed), run);
  run->stream = mesh_quic_connection_open_stream (run->connection, &error);
  if (run->stream == NULL) {
    run_fail (run, error);
    return;
  }
  run->sender = mesh_file_sender_new (G_IO_STREAM (run->stream), run->file);
  g_signal_connect (run->sender, "progress", G_CALLBACK (on_sender_progress), run);

  hello = mesh_frame_p2p_hello_new (SESSION_ID, opt_token, SENDER_DEVICE_ID);
  writer = mesh_frame_writer_get_for_stream (G_IO_STREAM (run->stream));
  reader = mesh_frame_reader_get_for_stream (G_IO_STREAM (run->stream));
  mesh_frame_writer_write_control_async (writer, hello, NULL, NULL, NULL);
  mesh_frame_reader_read_async (reader, NULL, on_reply, run);
}

static int
command_send (const char  *path,
              GError     **error)
{
  g_autoptr(MeshQuicEndpoint) endpoint = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Run run = { .loop = loop };
  int status = 0;

  if (opt_peer == NULL || opt_token == NULL || opt_port <= 0 || opt_port > 65535) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "send needs --peer, --token and --port");
    return 2;
  }
  endpoint = new_endpoint (opt_bind != NULL ? opt_bind : "127.0.0.1", error);
  if (endpoint == NULL)
    return 1;

  file = g_file_new_for_commandline_arg (path);
  remote = g_inet_socket_address_new_from_string (opt_address != NULL ? opt_address
                                                                      : "127.0.0.1",
                                                  (guint) opt_port);
  if (remote == NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "not an IP address: %s",
                 opt_address);
    return 2;
  }
  run.file = file;
  run.start = g_get_monotonic_time ();
  mesh_quic_endpoint_connect_async (endpoint, remote, opt_peer, NULL, on_connected, &run);
  g_main_loop_run (loop);

  if (run.error != NULL) {
    g_propagate_error (error, run.error);
    status = 1;
  } else {
    guint64 size = mesh_file_sender_get_total (run.sender);
    guint64 resumed = mesh_file_sender_get_resumed_from (run.sender);
    double data_s = seconds_between (run.data_start, run.done);
    double total_s = seconds_between (run.start, run.done);

    g_print ("quic-file send bytes=%" G_GUINT64_FORMAT " resumed_from=%" G_GUINT64_FORMAT
             " handshake_s=%.3f prepare_s=%.3f data_s=%.3f total_s=%.3f data_gbps=%.3f"
             " total_gbps=%.3f hash=%s peak_rss_kib=%ld",
             size, resumed, seconds_between (run.start, run.connected),
             seconds_between (run.connected, run.data_start), data_s, total_s,
             gbits_per_second (size - resumed, data_s), gbits_per_second (size - resumed, total_s),
             mesh_file_sender_get_hash (run.sender), peak_rss_kib ());
    print_schedstat (&run);
    g_print ("\n");
  }

  if (run.connection != NULL)
    mesh_quic_connection_close (run.connection, 0, "done");
  run_clear (&run);
  g_clear_object (&endpoint);
  while (g_main_context_iteration (NULL, FALSE));
  return status;
}

/* ------------------------------------------------------------------ */

int
main (int   argc,
      char *argv[])
{
  GOptionEntry entries[] = {
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_state_dir,
      "Identity folder (made at first use)", "DIR" },
    { "peer", 0, 0, G_OPTION_ARG_STRING, &opt_peer, "The other agent's fingerprint", "FP" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &opt_token, "Session token both sides share", "T" },
    { "download-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_download_dir,
      "receive: where the file goes", "DIR" },
    { "port", 0, 0, G_OPTION_ARG_INT, &opt_port, "send: the receiver's UDP port", "N" },
    { "address", 0, 0, G_OPTION_ARG_STRING, &opt_address,
      "The receiver's IP address (receive: bind it; send: connect to it); 127.0.0.1 by default",
      "IP" },
    { "bind", 0, 0, G_OPTION_ARG_STRING, &opt_bind, "send: the local IP address to bind", "IP" },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("identity|receive|send [FILE]");
  g_autoptr(GError) error = NULL;
  const char *command;
  int status;

  g_option_context_set_summary (options, "Agent → agent file transfer over QUIC on loopback");
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  command = argc > 1 ? argv[1] : "";

  if (g_str_equal (command, "identity") && argc == 2) {
    g_autoptr(MeshAgentIdentity) identity = load_identity (&error);

    if (identity == NULL) {
      g_printerr ("%s\n", error->message);
      return 1;
    }
    g_print ("%s\n", mesh_agent_identity_get_fingerprint (identity));
    return 0;
  }
  if (g_str_equal (command, "receive") && argc == 2)
    status = command_receive (&error);
  else if (g_str_equal (command, "send") && argc == 3)
    status = command_send (argv[2], &error);
  else {
    g_autofree char *help = g_option_context_get_help (options, TRUE, NULL);

    g_printerr ("%s", help);
    return 2;
  }
  if (status != 0)
    g_printerr ("quic-file %s: %s\n", command, error != NULL ? error->message : "failed");
  return status;
}
