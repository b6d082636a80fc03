/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "bench-quic"

#include "config.h"

#include "mesh-agent-identity.h"
#include "mesh-quic-endpoint.h"
#include "quic-test-util.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* One QUIC stream over loopback, client → server, as the agent runs it: each side on its own
 * thread and GMainContext.  The server reads to FIN and echoes back the byte count (and, with
 * --verify, the SHA-256 of what it read), which the client checks.  Prints Gbit/s and the
 * process's peak RSS; run it with two sizes to see that memory does not grow with the stream.
 *
 *   quic-echo [--size MiB] [--runs N] [--verify] */

#define CHUNK_SIZE (256 * 1024)

static guint64 opt_size_mib = 1024;
static int opt_runs = 1;
static gboolean opt_verify = FALSE;

typedef struct {
  MeshAgentIdentity *identity;
  const char        *client_fingerprint;
  QuicTestHandoff    handoff;
} Server;

typedef struct {
  MeshQuicStream  *stream;
  gnutls_hash_hd_t hash;
  guint64          received;
  guint8           buffer[CHUNK_SIZE];
  char             reply[128];
} Sink;

static void sink_read (Sink *sink);

static void
on_reply_written (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Sink *sink = user_data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);
  g_output_stream_close (G_OUTPUT_STREAM (source), NULL, NULL);
  g_object_unref (sink->stream);
  g_free (sink);
}

static void
on_sink_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Sink *sink = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0) {
    g_printerr ("server: %s\n", error->message);
    return;
  }
  if (n > 0) {
    sink->received += (guint64) n;
    if (sink->hash != NULL)
      gnutls_hash (sink->hash, sink->buffer, (size_t) n);
    sink_read (sink);
    return;
  }

  {
    g_autofree char *hex = sink->hash != NULL ? quic_test_hash_finish (sink->hash) : NULL;

    sink->hash = NULL;
    g_snprintf (sink->reply, sizeof sink->reply, "%" G_GUINT64_FORMAT " %s", sink->received,
                hex != NULL ? hex : "-");
  }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (sink->stream)),
                                   sink->reply, strlen (sink->reply), G_PRIORITY_DEFAULT, NULL,
                                   on_reply_written, sink);
}

static void
sink_read (Sink *sink)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (sink->stream)),
                             sink->buffer, sizeof sink->buffer, G_PRIORITY_DEFAULT, NULL,
                             on_sink_read, sink);
}

static void
on_new_stream (MeshQuicConnection *connection,
               MeshQuicStream     *stream,
               gpointer            user_data)
{
  Sink *sink = g_new0 (Sink, 1);

  sink->stream = g_object_ref (stream);
  if (opt_verify)
    gnutls_hash_init (&sink->hash, GNUTLS_DIG_SHA256);
  sink_read (sink);
}

static void
on_incoming (MeshQuicEndpoint   *endpoint,
             MeshQuicConnection *connection,
             gpointer            user_data)
{
  /* The endpoint keeps the connection alive; the handler lives as long as it does. */
  g_signal_connect (connection, "new-stream", G_CALLBACK (on_new_stream), NULL);
}

static gpointer
server_thread (gpointer data)
{
  Server *server = data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GInetSocketAddress) address = NULL;
  g_autoptr(MeshQuicEndpoint) endpoint = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (context);
  address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string ("127.0.0.1", 0));
  endpoint = mesh_quic_endpoint_new (server->identity, address, &error);
  if (endpoint == NULL)
    g_error ("server: %s", error->message);
  mesh_quic_endpoint_expect_peer (endpoint, server->client_fingerprint);
  g_signal_connect (endpoint, "incoming-connection", G_CALLBACK (on_incoming), NULL);

  quic_test_handoff_publish (&server->handoff, endpoint, context);
  g_main_loop_run (server->handoff.loop);
  g_clear_object (&endpoint);
  while (g_main_context_iteration (context, FALSE));
  g_main_context_pop_thread_default (context);
  return NULL;
}

typedef struct {
  GMainLoop          *loop;
  MeshQuicConnection *connection;
  MeshQuicStream     *stream;
  GError             *error;
  guint64             size;
  gnutls_hash_hd_t    hash;
  char                reply[128];
  gsize               reply_length;
  gint64              start;
  gint64              end;
} Client;

static void
on_reply (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Client *client = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &client->error);

  if (n > 0 && client->reply_length + (gsize) n < sizeof client->reply) {
    client->reply_length += (gsize) n;
    g_input_stream_read_async (G_INPUT_STREAM (source), client->reply + client->reply_length,
                               sizeof client->reply - 1 - client->reply_length,
                               G_PRIORITY_DEFAULT, NULL, on_reply, client);
    return;
  }
  client->end = g_get_monotonic_time ();
  g_main_loop_quit (client->loop);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Client *client = user_data;

  if (!quic_test_write_pattern_finish (G_IO_STREAM (source), result, &client->error)) {
    g_main_loop_quit (client->loop);
    return;
  }
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (client->stream)),
                             client->reply, sizeof client->reply - 1, G_PRIORITY_DEFAULT, NULL,
                             on_reply, client);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Client *client = user_data;

  client->connection = mesh_quic_endpoint_connect_finish (MESH_QUIC_ENDPOINT (source), result,
                                                          &client->error);
  if (client->connection == NULL) {
    g_main_loop_quit (client->loop);
    return;
  }
  client->stream = mesh_quic_connection_open_stream (client->connection, &client->error);
  if (client->stream == NULL) {
    g_main_loop_quit (client->loop);
    return;
  }
  client->start = g_get_monotonic_time ();
  /* Cheap deterministic data: xorshift64. */
  quic_test_write_pattern_async (G_IO_STREAM (client->stream), client->size, 0x9e3779b97f4a7c15u,
                                 client->hash, on_sent, client);
}

static double
run_once (MeshAgentIdentity *client_id,
          MeshAgentIdentity *server_id,
          guint16            port)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GInetSocketAddress) address = NULL;
  g_autoptr(GInetSocketAddress) remote = NULL;
  g_autoptr(MeshQuicEndpoint) endpoint = NULL;
  g_autoptr(GError) error = NULL;
  Client client = { 0 };
  guint64 size = opt_size_mib * 1024 * 1024;
  guint64 echoed = 0;
  char digest_hex[65] = "-";
  double seconds, gbits;

  g_main_context_push_thread_default (context);
  address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string ("127.0.0.1", 0));
  remote = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string ("127.0.0.1", port));
  endpoint = mesh_quic_endpoint_new (client_id, address, &error);
  if (endpoint == NULL)
    g_error ("client: %s", error->message);

  client.loop = g_main_loop_new (context, FALSE);
  client.size = size;
  if (opt_verify)
    gnutls_hash_init (&client.hash, GNUTLS_DIG_SHA256);
  mesh_quic_endpoint_connect_async (endpoint, G_SOCKET_ADDRESS (remote),
                                    mesh_agent_identity_get_fingerprint (server_id), NULL,
                                    on_connected, &client);
  g_main_loop_run (client.loop);
  if (client.error != NULL)
    g_error ("client: %s", client.error->message);

  client.reply[client.reply_length] = '\0';
  if (sscanf (client.reply, "%" G_GUINT64_FORMAT " %64s", &echoed, digest_hex) < 1 ||
      echoed != size)
    g_error ("the server echoed \"%s\", expected %" G_GUINT64_FORMAT " bytes", client.reply, size);
  if (client.hash != NULL) {
    g_autofree char *hex = quic_test_hash_finish (client.hash);

    if (strcmp (hex, digest_hex) != 0)
      g_error ("SHA-256 mismatch: sent %s, server read %s", hex, digest_hex);
  }

  seconds = (client.end - client.start) / 1e6;
  gbits = size * 8.0 / seconds / 1e9;
  g_print ("%" G_GUINT64_FORMAT " MiB in %.2f s: %.2f Gbit/s%s\n", opt_size_mib, seconds, gbits,
           opt_verify ? " (SHA-256 verified)" : "");

  mesh_quic_connection_close (client.connection, 0, "done");
  g_clear_object (&client.stream);
  g_clear_object (&client.connection);
  g_clear_object (&endpoint);
  while (g_main_context_iteration (context, FALSE));
  g_main_loop_unref (client.loop);
  g_main_context_pop_thread_default (context);
  return gbits;
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

int
main (int   argc,
      char *argv[])
{
  GOptionEntry entries[] = {
    { "size", 's', 0, G_OPTION_ARG_INT64, &opt_size_mib, "Stream size in MiB (1024)", "MIB" },
    { "runs", 'n', 0, G_OPTION_ARG_INT, &opt_runs, "Number of runs (1)", "N" },
    { "verify", 'v', 0, G_OPTION_ARG_NONE, &opt_verify, "Check SHA-256 end to end", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("- QUIC stream throughput");
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *server_dir = NULL;
  g_autofree char *client_dir = NULL;
  g_autoptr(MeshAgentIdentity) server_id = NULL;
  g_autoptr(MeshAgentIdentity) client_id = NULL;
  g_autoptr(GArray) results = g_array_new (FALSE, FALSE, sizeof (double));
  Server server = { 0 };
  GThread *thread;
  struct rusage usage;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || opt_size_mib <= 0 ||
      opt_runs <= 0) {
    g_printerr ("%s\n", error != NULL ? error->message : "Bad size or run count");
    return 1;
  }

  dir = g_dir_make_tmp ("mesh-bench-XXXXXX", &error);
  if (dir == NULL)
    g_error ("%s", error->message);
  server_dir = g_build_filename (dir, "server", NULL);
  client_dir = g_build_filename (dir, "client", NULL);
  server_id = mesh_agent_identity_load_or_create (server_dir, &error);
  if (server_id == NULL)
    g_error ("%s", error->message);
  client_id = mesh_agent_identity_load_or_create (client_dir, &error);
  if (client_id == NULL)
    g_error ("%s", error->message);

  server.identity = server_id;
  server.client_fingerprint = mesh_agent_identity_get_fingerprint (client_id);
  quic_test_handoff_init (&server.handoff);
  thread = g_thread_new ("quic-server", server_thread, &server);
  quic_test_handoff_wait (&server.handoff);

  for (int i = 0; i < opt_runs; i++) {
    double gbits = run_once (client_id, server_id, server.handoff.port);

    g_array_append_val (results, gbits);
  }

  g_main_loop_quit (server.handoff.loop);
  g_thread_join (thread);
  quic_test_handoff_clear (&server.handoff);

  g_array_sort (results, compare_doubles);
  getrusage (RUSAGE_SELF, &usage);
  g_print ("median %.2f Gbit/s over %d run(s); peak RSS %ld MiB (both ends, one process)\n",
           g_array_index (results, double, results->len / 2), opt_runs,
           usage.ru_maxrss / 1024);

  for (const char *name = "identity.key"; name != NULL;
       name = g_str_equal (name, "identity.key") ? "identity.crt" : NULL) {
    g_autofree char *a = g_build_filename (server_dir, name, NULL);
    g_autofree char *b = g_build_filename (client_dir, name, NULL);

    g_remove (a);
    g_remove (b);
  }
  g_rmdir (server_dir);
  g_rmdir (client_dir);
  g_rmdir (dir);
  return 0;
}
