/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-quic"

#include "config.h"

#include "mesh-agent-identity.h"
#include "mesh-quic-endpoint-private.h"

#include "quic-test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BULK_SIZE (256 * 1024 * 1024)
#define CHUNK_SIZE (256 * 1024)

static void
rm_rf (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileEnumerator) children = NULL;
  GFileInfo *info;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  while (children != NULL &&
         g_file_enumerator_iterate (children, &info, NULL, NULL, NULL) && info != NULL) {
    g_autofree char *child = g_build_filename (path, g_file_info_get_name (info), NULL);

    g_unlink (child);
  }
  g_rmdir (path);
}

static void
wait_for (gboolean *flag)
{
  while (!*flag)
    g_main_context_iteration (NULL, TRUE);
}

static GInetSocketAddress *
loopback (const char *host,
          guint16     port)
{
  return G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string (host, port));
}

/* Two agents, "server" (B) and "client" (A), each with its own identity and endpoint. */
typedef struct {
  char               *dir;
  MeshAgentIdentity  *server_id;
  MeshAgentIdentity  *client_id;
  MeshQuicEndpoint   *server;
  MeshQuicEndpoint   *client;
  MeshQuicConnection *server_connection;
  MeshQuicConnection *client_connection;
  GPtrArray          *server_streams;
  guint               incoming;
  gboolean            connect_done;
  GError             *connect_error;
  /* what the server side saw */
  gnutls_hash_hd_t    received_sum;
  guint64             received;
  gboolean            received_eof;
  GError             *received_error;
  gboolean            echo;
  guint64             receive_rate;  /* set on each stream the server gets */
} Fixture;

static MeshAgentIdentity *
identity_in (const char *dir,
             const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  MeshAgentIdentity *identity = mesh_agent_identity_load_or_create (path, &error);

  g_assert_no_error (error);
  return identity;
}

static gboolean
fixture_bind (Fixture    *fixture,
              const char *host)
{
  g_autoptr(GInetSocketAddress) address = loopback (host, 0);
  g_autoptr(GError) error = NULL;

  fixture->server = mesh_quic_endpoint_new (fixture->server_id, address, &error);
  if (fixture->server == NULL && g_strcmp0 (host, "::1") == 0) {
    g_test_skip_printf ("No IPv6 loopback: %s", error->message);
    return FALSE;
  }
  g_assert_no_error (error);
  fixture->client = mesh_quic_endpoint_new (fixture->client_id, address, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mesh_quic_endpoint_get_port (fixture->server), >, 0);
  g_assert_cmpuint (mesh_quic_endpoint_get_port (fixture->server), !=,
                    mesh_quic_endpoint_get_port (fixture->client));
  return TRUE;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("mesh-quic-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->server_id = identity_in (fixture->dir, "server");
  fixture->client_id = identity_in (fixture->dir, "client");
  fixture->server_streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_assert_cmpint (gnutls_hash_init (&fixture->received_sum, GNUTLS_DIG_SHA256), ==, 0);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *server_dir = g_build_filename (fixture->dir, "server", NULL);
  g_autofree char *client_dir = g_build_filename (fixture->dir, "client", NULL);

  g_clear_pointer (&fixture->server_streams, g_ptr_array_unref);
  g_clear_object (&fixture->server_connection);
  g_clear_object (&fixture->client_connection);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server_id);
  g_clear_object (&fixture->client_id);
  g_clear_error (&fixture->connect_error);
  g_clear_error (&fixture->received_error);
  if (fixture->received_sum != NULL)
    gnutls_hash_deinit (fixture->received_sum, NULL);
  rm_rf (server_dir);
  rm_rf (client_dir);
  rm_rf (fixture->dir);
  g_free (fixture->dir);
  /* Let the endpoints' last sources run out. */
  while (g_main_context_iteration (NULL, FALSE));
}

/* Server side: a sink that hashes what it reads, or an echo. */

typedef struct {
  Fixture        *fixture;
  MeshQuicStream *stream;
  guint8         *buffer;
} ServerStream;

static void server_read (ServerStream *ss);

static void
server_stream_free (ServerStream *ss)
{
  g_object_unref (ss->stream);
  g_free (ss->buffer);
  g_free (ss);
}

static void
on_server_echoed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  ServerStream *ss = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error)) {
    g_propagate_error (&ss->fixture->received_error, g_steal_pointer (&error));
    server_stream_free (ss);
    return;
  }
  server_read (ss);
}

static void
on_server_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  ServerStream *ss = user_data;
  g_autoptr(GError) error = NULL;

  g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &error);
  g_assert_no_error (error);
  ss->fixture->received_eof = TRUE;
  server_stream_free (ss);
}

static void
on_server_read (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  ServerStream *ss = user_data;
  Fixture *fixture = ss->fixture;
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (ss->stream));
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0) {
    g_propagate_error (&fixture->received_error, g_steal_pointer (&error));
    server_stream_free (ss);
    return;
  }
  if (n == 0) {
    g_output_stream_close_async (output, G_PRIORITY_DEFAULT, NULL, on_server_closed, ss);
    return;
  }
  fixture->received += (guint64) n;
  gnutls_hash (fixture->received_sum, ss->buffer, (size_t) n);
  if (fixture->echo)
    g_output_stream_write_all_async (output, ss->buffer, (gsize) n, G_PRIORITY_DEFAULT, NULL,
                                     on_server_echoed, ss);
  else
    server_read (ss);
}

static void
server_read (ServerStream *ss)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (ss->stream)),
                             ss->buffer, CHUNK_SIZE, G_PRIORITY_DEFAULT, NULL, on_server_read, ss);
}

static void
on_new_stream (MeshQuicConnection *connection,
               MeshQuicStream     *stream,
               gpointer            user_data)
{
  Fixture *fixture = user_data;
  ServerStream *ss = g_new0 (ServerStream, 1);

  g_assert_true (G_IS_IO_STREAM (stream));
  g_ptr_array_add (fixture->server_streams, g_object_ref (stream));
  ss->fixture = fixture;
  ss->stream = g_object_ref (stream);
  ss->buffer = g_malloc (CHUNK_SIZE);
  if (fixture->receive_rate > 0)
    mesh_quic_stream_set_receive_rate (stream, fixture->receive_rate);
  server_read (ss);
}

static void
on_incoming_connection (MeshQuicEndpoint   *endpoint,
                        MeshQuicConnection *connection,
                        gpointer            user_data)
{
  Fixture *fixture = user_data;

  fixture->incoming++;
  g_set_object (&fixture->server_connection, connection);
  g_signal_connect (connection, "new-stream", G_CALLBACK (on_new_stream), fixture);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Fixture *fixture = user_data;

  fixture->client_connection = mesh_quic_endpoint_connect_finish (MESH_QUIC_ENDPOINT (source),
                                                                  result,
                                                                  &fixture->connect_error);
  fixture->connect_done = TRUE;
}

static void
fixture_connect (Fixture    *fixture,
                 const char *host,
                 const char *pin)
{
  g_autoptr(GInetSocketAddress) server_address =
    loopback (host, mesh_quic_endpoint_get_port (fixture->server));

  g_signal_connect (fixture->server, "incoming-connection", G_CALLBACK (on_incoming_connection),
                    fixture);
  mesh_quic_endpoint_connect_async (fixture->client, G_SOCKET_ADDRESS (server_address), pin, NULL,
                                    on_connected, fixture);
  wait_for (&fixture->connect_done);
}

/* The server expects the client, which connects to it (pinning its fingerprint), on @host. */
static void
fixture_connect_expected (Fixture    *fixture,
                          const char *host)
{
  mesh_quic_endpoint_expect_peer (fixture->server,
                                  mesh_agent_identity_get_fingerprint (fixture->client_id));
  fixture_connect (fixture, host, mesh_agent_identity_get_fingerprint (fixture->server_id));
  g_assert_no_error (fixture->connect_error);
}

/* A new stream from the client. */
static MeshQuicStream *
fixture_open_stream (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  MeshQuicStream *stream = mesh_quic_connection_open_stream (fixture->client_connection, &error);

  g_assert_no_error (error);
  return stream;
}

/* Client-side helpers */

typedef struct {
  gboolean  done;
  gssize    n;
  gboolean  ok;
  GError   *error;
} Op;

/* Waits for @op, which must have succeeded. */
static void
op_wait_ok (Op *op)
{
  wait_for (&op->done);
  g_assert_no_error (op->error);
  g_assert_true (op->ok);
}

static void
on_read (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Op *op = user_data;

  op->n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &op->error);
  op->done = TRUE;
}

static void
on_write_all (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Op *op = user_data;

  op->ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &op->error);
  op->done = TRUE;
}

static void
on_close (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Op *op = user_data;

  op->ok = g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &op->error);
  op->done = TRUE;
}

static void
write_all (MeshQuicStream *stream,
           const void     *data,
           gsize           length)
{
  Op op = { 0 };

  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), data,
                                   length, G_PRIORITY_DEFAULT, NULL, on_write_all, &op);
  op_wait_ok (&op);
}

static void
close_output (MeshQuicStream *stream)
{
  Op op = { 0 };

  g_output_stream_close_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                               G_PRIORITY_DEFAULT, NULL, on_close, &op);
  op_wait_ok (&op);
}

static GByteArray *
read_to_end (MeshQuicStream *stream)
{
  GByteArray *bytes = g_byte_array_new ();
  guint8 buffer[4096];

  for (;;) {
    Op op = { 0 };

    g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), buffer,
                               sizeof buffer, G_PRIORITY_DEFAULT, NULL, on_read, &op);
    wait_for (&op.done);
    g_assert_no_error (op.error);
    if (op.n == 0)
      return bytes;
    g_byte_array_append (bytes, buffer, (guint) op.n);
  }
}

/* Tests */

static void
test_identity (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mesh-identity-XXXXXX", &error);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *other = g_build_filename (dir, "other", NULL);
  g_autofree char *key_path = g_build_filename (state, "identity.key", NULL);
  g_autofree char *crt_path = g_build_filename (state, "identity.crt", NULL);
  g_autoptr(MeshAgentIdentity) first = NULL;
  g_autoptr(MeshAgentIdentity) again = NULL;
  g_autoptr(MeshAgentIdentity) stranger = NULL;
  g_autoptr(MeshAgentIdentity) broken = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *stranger_crt = NULL;
  g_autofree char *other_crt = g_build_filename (other, "identity.crt", NULL);
  gnutls_datum_t der = { NULL, 0 };
  g_autofree char *der_fingerprint = NULL;
  GStatBuf st;

  g_assert_no_error (error);

  first = mesh_agent_identity_load_or_create (state, &error);
  g_assert_no_error (error);
  fingerprint = g_strdup (mesh_agent_identity_get_fingerprint (first));
  g_assert_cmpuint (strlen (fingerprint), ==, 64);
  for (const char *p = fingerprint; *p != '\0'; p++)
    g_assert_true (g_ascii_isdigit (*p) || (*p >= 'a' && *p <= 'f'));

  /* The fingerprint is the SHA-256 of the DER certificate. */
  g_assert_cmpint (gnutls_x509_crt_export2 (mesh_agent_identity_get_certificate (first),
                                            GNUTLS_X509_FMT_DER, &der), ==, 0);
  der_fingerprint = g_compute_checksum_for_data (G_CHECKSUM_SHA256, der.data, der.size);
  gnutls_free (der.data);
  g_assert_cmpstr (der_fingerprint, ==, fingerprint);
  g_assert_cmpint (gnutls_x509_privkey_get_pk_algorithm (
                     mesh_agent_identity_get_private_key (first)), ==, GNUTLS_PK_ECDSA);

  g_assert_cmpint (g_stat (key_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_test (crt_path, G_FILE_TEST_IS_REGULAR));

  /* Reloaded, not re-made. */
  again = mesh_agent_identity_load_or_create (state, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mesh_agent_identity_get_fingerprint (again), ==, fingerprint);

  /* Another state folder is another agent. */
  stranger = mesh_agent_identity_load_or_create (other, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mesh_agent_identity_get_fingerprint (stranger), !=, fingerprint);

  /* A certificate that belongs to another key is refused, not silently replaced. */
  g_assert_true (g_file_get_contents (other_crt, &stranger_crt, NULL, NULL));
  g_assert_true (g_file_set_contents (crt_path, stranger_crt, -1, NULL));
  broken = mesh_agent_identity_load_or_create (state, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_null (broken);
  g_clear_error (&error);

  /* Garbage is a clear error too. */
  g_assert_true (g_file_set_contents (key_path, "not a key", -1, NULL));
  broken = mesh_agent_identity_load_or_create (state, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_null (broken);
  g_clear_error (&error);

  rm_rf (state);
  rm_rf (other);
  rm_rf (dir);
}

static void
run_echo (Fixture    *fixture,
          const char *host)
{
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autoptr(GByteArray) reply = NULL;
  const char *message = "hello over mesh/2";

  if (!fixture_bind (fixture, host))
    return;
  fixture->echo = TRUE;
  fixture_connect_expected (fixture, host);
  g_assert_nonnull (fixture->client_connection);

  /* Both sides know who they talk to. */
  g_assert_cmpstr (mesh_quic_connection_get_peer_fingerprint (fixture->client_connection), ==,
                   mesh_agent_identity_get_fingerprint (fixture->server_id));
  g_assert_false (mesh_quic_connection_is_server (fixture->client_connection));

  stream = fixture_open_stream (fixture);
  g_assert_true (G_IS_IO_STREAM (stream));
  write_all (stream, message, strlen (message));
  close_output (stream);
  reply = read_to_end (stream);

  g_assert_cmpmem (reply->data, reply->len, message, strlen (message));
  g_assert_cmpuint (fixture->incoming, ==, 1);
  g_assert_cmpstr (mesh_quic_connection_get_peer_fingerprint (fixture->server_connection), ==,
                   mesh_agent_identity_get_fingerprint (fixture->client_id));
  g_assert_true (mesh_quic_connection_is_server (fixture->server_connection));
  g_assert_cmpuint (fixture->server_streams->len, ==, 1);
  wait_for (&fixture->received_eof);
}

static void
test_echo (Fixture       *fixture,
           gconstpointer  data)
{
  run_echo (fixture, "127.0.0.1");
}

static void
test_echo_ipv6 (Fixture       *fixture,
                gconstpointer  data)
{
  run_echo (fixture, "::1");
}

static void
on_pattern_written (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Op *op = user_data;

  op->ok = quic_test_write_pattern_finish (G_IO_STREAM (source), result, &op->error);
  op->done = TRUE;
}

static void
test_bulk (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(MeshQuicStream) stream = NULL;
  gnutls_hash_hd_t sent_sum = NULL;
  g_autofree char *sent_hex = NULL;
  g_autofree char *received_hex = NULL;
  Op op = { 0 };
  gint64 start, elapsed;

  fixture_bind (fixture, "127.0.0.1");
  fixture_connect_expected (fixture, "127.0.0.1");

  stream = fixture_open_stream (fixture);
  g_assert_cmpint (gnutls_hash_init (&sent_sum, GNUTLS_DIG_SHA256), ==, 0);

  start = g_get_monotonic_time ();
  quic_test_write_pattern_async (G_IO_STREAM (stream), BULK_SIZE, 0x9e3779b97f4a7c15u, sent_sum,
                                 on_pattern_written, &op);
  op_wait_ok (&op);
  wait_for (&fixture->received_eof);
  elapsed = g_get_monotonic_time () - start;

  g_assert_no_error (fixture->received_error);
  g_assert_cmpuint (fixture->received, ==, BULK_SIZE);
  sent_hex = quic_test_hash_finish (sent_sum);
  received_hex = quic_test_hash_finish (g_steal_pointer (&fixture->received_sum));
  g_assert_cmpstr (received_hex, ==, sent_hex);
  g_test_message ("%d MiB in %.2f s (%.2f Gbit/s, including SHA-256 on both sides)",
                  BULK_SIZE >> 20, elapsed / 1e6, BULK_SIZE * 8.0 / (elapsed * 1e3));
}

static void
on_writev_all (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Op *op = user_data;

  op->ok = g_output_stream_writev_all_finish (G_OUTPUT_STREAM (source), result, NULL, &op->error);
  op->done = TRUE;
}

/* The frame writer batches frames with writev: more than the 8 MiB send
 * buffer in three vectors must arrive whole, written on the endpoint's own
 * context (GIO would run a writev without writev_async in a thread). */
static void
test_writev (Fixture       *fixture,
             gconstpointer  data)
{
  const gsize part = 4 * 1024 * 1024;
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autofree guint8 *buffer = g_malloc (3 * part);
  g_autofree char *sent_hex = NULL;
  g_autofree char *received_hex = NULL;
  gnutls_hash_hd_t sent_sum = NULL;
  GOutputVector vectors[3];
  guint64 state = 42;
  Op op = { 0 };

  quic_test_fill_pattern (&state, buffer, 3 * part);
  for (guint i = 0; i < 3; i++) {
    vectors[i].buffer = buffer + i * part;
    vectors[i].size = part;
  }

  fixture_bind (fixture, "127.0.0.1");
  fixture_connect_expected (fixture, "127.0.0.1");
  stream = fixture_open_stream (fixture);

  g_output_stream_writev_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                    vectors, G_N_ELEMENTS (vectors), G_PRIORITY_DEFAULT, NULL,
                                    on_writev_all, &op);
  op_wait_ok (&op);
  close_output (stream);
  wait_for (&fixture->received_eof);

  g_assert_no_error (fixture->received_error);
  g_assert_cmpuint (fixture->received, ==, 3 * part);
  g_assert_cmpint (gnutls_hash_init (&sent_sum, GNUTLS_DIG_SHA256), ==, 0);
  gnutls_hash (sent_sum, buffer, 3 * part);
  sent_hex = quic_test_hash_finish (sent_sum);
  received_hex = quic_test_hash_finish (g_steal_pointer (&fixture->received_sum));
  g_assert_cmpstr (received_hex, ==, sent_hex);
}

static void
on_bytes_written (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Op *op = user_data;

  op->ok = mesh_quic_output_stream_write_bytes_finish (G_OUTPUT_STREAM (source), result,
                                                       &op->error);
  op->done = TRUE;
}

/* MeshFrameWriter hands frames over by reference (mesh_quic_output_stream_write_bytes_async):
 * parts of every size (copied below 4 KiB, referenced above), mixed with plain writes, many
 * times the send queue, arrive whole and in order. */
static void
test_write_bytes (Fixture       *fixture,
                  gconstpointer  data)
{
  static const gsize sizes[] = { 5, 1, 4096, 4095, 262152, 17, 300000, 65536, 3, 1048576 };
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autofree char *sent_hex = NULL;
  g_autofree char *received_hex = NULL;
  gnutls_hash_hd_t sent_sum = NULL;
  g_autoptr(GOutputStream) memory = g_memory_output_stream_new_resizable ();
  GOutputStream *output;
  guint64 state = 7, total = 0;

  fixture_bind (fixture, "127.0.0.1");
  fixture_connect_expected (fixture, "127.0.0.1");
  stream = fixture_open_stream (fixture);
  output = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  g_assert_true (mesh_quic_output_stream_is (output));
  g_assert_false (mesh_quic_output_stream_is (memory));
  g_assert_cmpint (gnutls_hash_init (&sent_sum, GNUTLS_DIG_SHA256), ==, 0);

  for (guint round = 0; round < 12; round++) {
    g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
    gsize plain_size = round % 3 == 0 ? 200000 : 700;
    g_autofree guint8 *plain = g_malloc (plain_size);
    Op op = { 0 }, plain_op = { 0 };

    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
      gsize size = sizes[(i + round) % G_N_ELEMENTS (sizes)];
      guint8 *bytes = g_malloc (size);

      quic_test_fill_pattern (&state, bytes, size);
      gnutls_hash (sent_sum, bytes, size);
      g_ptr_array_add (parts, g_bytes_new_take (bytes, size));
      total += size;
    }
    mesh_quic_output_stream_write_bytes_async (output, (GBytes *const *) parts->pdata,
                                               parts->len, G_PRIORITY_DEFAULT, NULL,
                                               on_bytes_written, &op);
    op_wait_ok (&op);

    quic_test_fill_pattern (&state, plain, plain_size);
    gnutls_hash (sent_sum, plain, plain_size);
    total += plain_size;
    g_output_stream_write_all_async (output, plain, plain_size, G_PRIORITY_DEFAULT, NULL,
                                     on_write_all, &plain_op);
    wait_for (&plain_op.done);
    g_assert_no_error (plain_op.error);
  }
  close_output (stream);
  wait_for (&fixture->received_eof);

  g_assert_no_error (fixture->received_error);
  g_assert_cmpuint (fixture->received, ==, total);
  sent_hex = quic_test_hash_finish (sent_sum);
  received_hex = quic_test_hash_finish (g_steal_pointer (&fixture->received_sum));
  g_assert_cmpstr (received_hex, ==, sent_hex);
}

static void
test_unexpected_client (Fixture       *fixture,
                        gconstpointer  data)
{
  fixture_bind (fixture, "127.0.0.1");
  /* The server expects somebody else. */
  mesh_quic_endpoint_expect_peer (fixture->server,
                                  mesh_agent_identity_get_fingerprint (fixture->server_id));
  fixture_connect (fixture, "127.0.0.1", mesh_agent_identity_get_fingerprint (fixture->server_id));

  g_assert_null (fixture->client_connection);
  g_assert_error (fixture->connect_error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_test_message ("client sees: %s", fixture->connect_error->message);
  g_assert_cmpuint (fixture->incoming, ==, 0);
  g_assert_cmpuint (fixture->server_streams->len, ==, 0);
}

static void
test_forgotten_client (Fixture       *fixture,
                       gconstpointer  data)
{
  const char *client = mesh_agent_identity_get_fingerprint (fixture->client_id);

  fixture_bind (fixture, "127.0.0.1");
  /* Counted: two sessions expect the client, both end; it is no longer welcome. */
  mesh_quic_endpoint_expect_peer (fixture->server, client);
  mesh_quic_endpoint_expect_peer (fixture->server, client);
  mesh_quic_endpoint_forget_peer (fixture->server, client);
  mesh_quic_endpoint_forget_peer (fixture->server, client);
  fixture_connect (fixture, "127.0.0.1", mesh_agent_identity_get_fingerprint (fixture->server_id));

  g_assert_null (fixture->client_connection);
  g_assert_error (fixture->connect_error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_cmpuint (fixture->incoming, ==, 0);
}

static void
test_wrong_pin (Fixture       *fixture,
                gconstpointer  data)
{
  fixture_bind (fixture, "127.0.0.1");
  mesh_quic_endpoint_expect_peer (fixture->server,
                                  mesh_agent_identity_get_fingerprint (fixture->client_id));
  /* The client pins its own fingerprint: not the server's. */
  fixture_connect (fixture, "127.0.0.1", mesh_agent_identity_get_fingerprint (fixture->client_id));

  g_assert_null (fixture->client_connection);
  g_assert_error (fixture->connect_error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_nonnull (strstr (fixture->connect_error->message, "does not match"));
  g_assert_cmpuint (fixture->incoming, ==, 0);
  g_assert_cmpuint (fixture->server_streams->len, ==, 0);
}

static void
test_bad_pin_argument (Fixture       *fixture,
                       gconstpointer  data)
{
  fixture_bind (fixture, "127.0.0.1");
  fixture_connect (fixture, "127.0.0.1", "AB:CD");

  g_assert_null (fixture->client_connection);
  g_assert_error (fixture->connect_error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
on_closed (MeshQuicConnection *connection,
           const GError       *error,
           gpointer            user_data)
{
  GError **out = user_data;

  g_assert_nonnull (error);
  g_clear_error (out);
  *out = g_error_copy (error);
}

static void
test_peer_destroyed (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autoptr(GError) closed = NULL;
  guint8 buffer[64];
  Op read = { 0 };

  fixture_bind (fixture, "127.0.0.1");
  fixture_connect_expected (fixture, "127.0.0.1");
  g_signal_connect (fixture->client_connection, "closed", G_CALLBACK (on_closed), &closed);

  stream = fixture_open_stream (fixture);
  write_all (stream, "ping", 4);
  while (fixture->received < 4)
    g_main_context_iteration (NULL, TRUE);

  /* A read is pending when the server goes away. */
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), buffer,
                             sizeof buffer, G_PRIORITY_DEFAULT, NULL, on_read, &read);
  g_clear_object (&fixture->server_connection);
  g_ptr_array_set_size (fixture->server_streams, 0);
  g_clear_object (&fixture->server);
  wait_for (&read.done);

  g_assert_cmpint (read.n, ==, -1);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_clear_error (&read.error);
  g_assert_nonnull (closed);
  g_assert_true (mesh_quic_connection_is_closed (fixture->client_connection));

  /* Later writes fail at once instead of queueing forever. */
  read.done = FALSE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), buffer,
                                   sizeof buffer, G_PRIORITY_DEFAULT, NULL, on_write_all, &read);
  wait_for (&read.done);
  g_assert_false (read.ok);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_clear_error (&read.error);
}

/* A peer that freezes (its process stops, its network vanishes) sends no CONNECTION_CLOSE:
 * only the idle timeout can tell.  The server runs on its own thread and context, as in the
 * agent, and simply stops running. */

typedef struct {
  MeshAgentIdentity *identity;
  const char        *client_fingerprint;
  QuicTestHandoff    handoff;
  gboolean           released;  /* under handoff.lock */
  GPtrArray         *streams;
  guint8             buffer[4096];
} FrozenServer;

static void
on_frozen_read (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  FrozenServer *server = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n > 0)
    g_input_stream_read_async (G_INPUT_STREAM (source), server->buffer, sizeof server->buffer,
                               G_PRIORITY_DEFAULT, NULL, on_frozen_read, server);
}

static void
on_frozen_stream (MeshQuicConnection *connection,
                  MeshQuicStream     *stream,
                  gpointer            user_data)
{
  FrozenServer *server = user_data;

  g_ptr_array_add (server->streams, g_object_ref (stream));
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), server->buffer,
                             sizeof server->buffer, G_PRIORITY_DEFAULT, NULL, on_frozen_read,
                             server);
}

static void
on_frozen_incoming (MeshQuicEndpoint   *endpoint,
                    MeshQuicConnection *connection,
                    gpointer            user_data)
{
  g_ptr_array_add (((FrozenServer *) user_data)->streams, g_object_ref (connection));
  g_signal_connect (connection, "new-stream", G_CALLBACK (on_frozen_stream), user_data);
}

static gpointer
frozen_server_thread (gpointer data)
{
  FrozenServer *server = data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GInetSocketAddress) address = loopback ("127.0.0.1", 0);
  g_autoptr(MeshQuicEndpoint) endpoint = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (context);
  endpoint = mesh_quic_endpoint_new (server->identity, address, &error);
  g_assert_no_error (error);
  mesh_quic_endpoint_set_idle_timeout (endpoint, 1000);
  mesh_quic_endpoint_expect_peer (endpoint, server->client_fingerprint);
  g_signal_connect (endpoint, "incoming-connection", G_CALLBACK (on_frozen_incoming), server);

  quic_test_handoff_publish (&server->handoff, endpoint, context);
  g_main_loop_run (server->handoff.loop);

  /* Frozen: the socket stays open but nobody reads or answers. */
  g_mutex_lock (&server->handoff.lock);
  while (!server->released)
    g_cond_wait (&server->handoff.cond, &server->handoff.lock);
  g_mutex_unlock (&server->handoff.lock);

  g_ptr_array_set_size (server->streams, 0);
  g_clear_object (&endpoint);
  while (g_main_context_iteration (context, FALSE));
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
test_peer_vanished (Fixture       *fixture,
                    gconstpointer  data)
{
  FrozenServer server = { 0 };
  GThread *thread;
  g_autoptr(GInetSocketAddress) address = loopback ("127.0.0.1", 0);
  g_autoptr(GInetSocketAddress) server_address = NULL;
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) closed = NULL;
  g_autofree guint8 *big = g_malloc0 (32 * 1024 * 1024);
  guint8 buffer[64];
  Op read = { 0 }, write = { 0 };

  server.identity = fixture->server_id;
  server.client_fingerprint = mesh_agent_identity_get_fingerprint (fixture->client_id);
  server.streams = g_ptr_array_new_with_free_func (g_object_unref);
  quic_test_handoff_init (&server.handoff);
  thread = g_thread_new ("frozen-server", frozen_server_thread, &server);
  quic_test_handoff_wait (&server.handoff);

  fixture->client = mesh_quic_endpoint_new (fixture->client_id, address, &error);
  g_assert_no_error (error);
  mesh_quic_endpoint_set_idle_timeout (fixture->client, 1000);
  server_address = loopback ("127.0.0.1", server.handoff.port);
  mesh_quic_endpoint_connect_async (fixture->client, G_SOCKET_ADDRESS (server_address),
                                    mesh_agent_identity_get_fingerprint (fixture->server_id),
                                    NULL, on_connected, fixture);
  wait_for (&fixture->connect_done);
  g_assert_no_error (fixture->connect_error);
  g_signal_connect (fixture->client_connection, "closed", G_CALLBACK (on_closed), &closed);
  stream = fixture_open_stream (fixture);
  write_all (stream, "ping", 4);

  /* The server answered the handshake, so its loop runs: stop it. */
  g_main_loop_quit (server.handoff.loop);

  /* More than the send buffer, so the write has to wait for acknowledgements. */
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), buffer,
                             sizeof buffer, G_PRIORITY_DEFAULT, NULL, on_read, &read);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), big,
                                   32 * 1024 * 1024, G_PRIORITY_DEFAULT, NULL, on_write_all,
                                   &write);
  wait_for (&read.done);
  wait_for (&write.done);

  g_assert_cmpint (read.n, ==, -1);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_false (write.ok);
  g_assert_error (write.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_error (closed, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_test_message ("client sees: %s", read.error->message);
  g_clear_error (&read.error);
  g_clear_error (&write.error);

  g_mutex_lock (&server.handoff.lock);
  server.released = TRUE;
  g_cond_signal (&server.handoff.cond);
  g_mutex_unlock (&server.handoff.lock);
  g_thread_join (thread);

  g_ptr_array_unref (server.streams);
  quic_test_handoff_clear (&server.handoff);
}



#define RATE_SIZE (384 * 1024)
#define RATE (192 * 1024)

/* Sends RATE_SIZE bytes on a new stream and waits until the server read them all; returns the
 * microseconds from before @limit_send was applied. */
static gint64
run_rate_transfer (Fixture  *fixture,
                   gboolean  limit_send)
{
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autofree guint8 *data = g_malloc (RATE_SIZE);
  guint64 state = 42;
  gint64 start;

  fixture_bind (fixture, "127.0.0.1");
  fixture_connect_expected (fixture, "127.0.0.1");
  quic_test_fill_pattern (&state, data, RATE_SIZE);

  start = g_get_monotonic_time ();
  stream = fixture_open_stream (fixture);
  if (limit_send)
    mesh_quic_stream_set_send_rate (stream, RATE);
  write_all (stream, data, RATE_SIZE);
  close_output (stream);
  wait_for (&fixture->received_eof);
  g_assert_no_error (fixture->received_error);
  g_assert_cmpuint (fixture->received, ==, RATE_SIZE);
  return g_get_monotonic_time () - start;
}

/* A session's max_rate on the sending side: the bytes take at least size / rate to arrive. */
static void
test_send_rate (Fixture       *fixture,
                gconstpointer  data)
{
  gint64 elapsed = run_rate_transfer (fixture, TRUE);

  g_test_message ("%d bytes at %d B/s took %.2f s", RATE_SIZE, RATE, elapsed / 1e6);
  g_assert_cmpint (elapsed, >=, (gint64) RATE_SIZE * G_USEC_PER_SEC / RATE);
}

/* The receiving side enforces it too, whatever the sender does. */
static void
test_receive_rate (Fixture       *fixture,
                   gconstpointer  data)
{
  gint64 elapsed;

  fixture->receive_rate = RATE;
  elapsed = run_rate_transfer (fixture, FALSE);
  g_test_message ("%d bytes read at %d B/s took %.2f s", RATE_SIZE, RATE, elapsed / 1e6);
  g_assert_cmpint (elapsed, >=, (gint64) RATE_SIZE * G_USEC_PER_SEC / RATE);
}

/* A hand-driven ngtcp2 client on its own UDP socket (its own source port): it sends real
 * Initial packets, and follows a Retry only when told to, then never answers again.  That is
 * what a flood of spoofed Initials, or half-open handshakes, look like to the server. */
typedef struct {
  int                              fd;
  ngtcp2_conn                     *conn;
  gnutls_session_t                 session;
  gnutls_certificate_credentials_t credentials;
  ngtcp2_crypto_conn_ref           ref;
  struct sockaddr_in               local;
  struct sockaddr_in               remote;
  guint                            retries;  /* Retry packets received */
  guint                            answers;  /* other long-header packets received */
} RawClient;

static ngtcp2_tstamp
raw_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (ngtcp2_tstamp) ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp) ts.tv_nsec;
}

static ngtcp2_conn *
raw_get_conn (ngtcp2_crypto_conn_ref *ref)
{
  return ((RawClient *) ref->user_data)->conn;
}

static void
raw_rand (uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
  gnutls_rnd (GNUTLS_RND_NONCE, dest, destlen);
}

static int
raw_new_cid (ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user_data)
{
  gnutls_rnd (GNUTLS_RND_NONCE, cid->data, cidlen);
  cid->datalen = cidlen;
  gnutls_rnd (GNUTLS_RND_NONCE, token, NGTCP2_STATELESS_RESET_TOKENLEN);
  return 0;
}

static ngtcp2_path
raw_path (RawClient *raw)
{
  ngtcp2_path path = {
    { (ngtcp2_sockaddr *) &raw->local, sizeof raw->local },
    { (ngtcp2_sockaddr *) &raw->remote, sizeof raw->remote },
    NULL,
  };

  return path;
}

/* Sends what the connection has to send now (the client's Initial). */
static void
raw_client_flush (RawClient *raw)
{
  guint8 packet[1500];
  ngtcp2_path path = raw_path (raw);
  ngtcp2_pkt_info pi = { 0 };
  ngtcp2_ssize n;

  for (;;) {
    n = ngtcp2_conn_write_pkt (raw->conn, &path, &pi, packet, sizeof packet, raw_now ());
    g_assert_cmpint (n, >=, 0);
    if (n == 0)
      break;
    g_assert_cmpint (send (raw->fd, packet, (size_t) n, 0), ==, n);
  }
}

static RawClient *
raw_client_new (guint16 server_port)
{
  static const gnutls_datum_t alpn = { (unsigned char *) MESH_QUIC_ALPN,
                                       sizeof MESH_QUIC_ALPN - 1 };
  RawClient *raw = g_new0 (RawClient, 1);
  ngtcp2_callbacks callbacks = { 0 };
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  ngtcp2_cid dcid, scid;
  ngtcp2_path path;
  socklen_t length = sizeof raw->local;

  raw->fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (raw->fd, >=, 0);
  raw->remote.sin_family = AF_INET;
  raw->remote.sin_port = g_htons (server_port);
  raw->remote.sin_addr.s_addr = g_htonl (INADDR_LOOPBACK);
  g_assert_no_errno (connect (raw->fd, (struct sockaddr *) &raw->remote, sizeof raw->remote));
  g_assert_no_errno (getsockname (raw->fd, (struct sockaddr *) &raw->local, &length));

  callbacks.client_initial = ngtcp2_crypto_client_initial_cb;
  callbacks.recv_retry = ngtcp2_crypto_recv_retry_cb;
  callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
  callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
  callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
  callbacks.update_key = ngtcp2_crypto_update_key_cb;
  callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  callbacks.rand = raw_rand;
  callbacks.get_new_connection_id = raw_new_cid;

  dcid.datalen = 18;
  scid.datalen = 18;
  gnutls_rnd (GNUTLS_RND_NONCE, dcid.data, dcid.datalen);
  gnutls_rnd (GNUTLS_RND_NONCE, scid.data, scid.datalen);
  ngtcp2_settings_default (&settings);
  settings.initial_ts = raw_now ();
  ngtcp2_transport_params_default (&params);
  params.initial_max_streams_bidi = 4;
  params.initial_max_data = 1 << 20;
  params.initial_max_stream_data_bidi_local = 1 << 20;
  path = raw_path (raw);
  g_assert_cmpint (ngtcp2_conn_client_new (&raw->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
                                           &callbacks, &settings, &params, NULL, raw), ==, 0);

  g_assert_cmpint (gnutls_certificate_allocate_credentials (&raw->credentials), ==, 0);
  g_assert_cmpint (gnutls_init (&raw->session, GNUTLS_CLIENT), ==, 0);
  g_assert_cmpint (gnutls_priority_set_direct (raw->session,
                                               "NORMAL:-VERS-ALL:+VERS-TLS1.3:"
                                               "%DISABLE_TLS13_COMPAT_MODE", NULL), ==, 0);
  g_assert_cmpint (ngtcp2_crypto_gnutls_configure_client_session (raw->session), ==, 0);
  g_assert_cmpint (gnutls_credentials_set (raw->session, GNUTLS_CRD_CERTIFICATE,
                                           raw->credentials), ==, 0);
  gnutls_alpn_set_protocols (raw->session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
  raw->ref.get_conn = raw_get_conn;
  raw->ref.user_data = raw;
  gnutls_session_set_ptr (raw->session, &raw->ref);
  ngtcp2_conn_set_tls_native_handle (raw->conn, raw->session);

  raw_client_flush (raw);
  return raw;
}

/* Takes what the server sent so far; a Retry is fed to ngtcp2 when @follow_retry. */
static void
raw_client_receive (RawClient *raw,
                    gboolean   follow_retry)
{
  guint8 packet[65536];
  ssize_t n;

  while ((n = recv (raw->fd, packet, sizeof packet, MSG_DONTWAIT)) > 0) {
    ngtcp2_path path = raw_path (raw);
    ngtcp2_pkt_info pi = { 0 };

    /* Long header, type bits 11: Retry (QUIC v1). */
    if ((packet[0] & 0xf0) == 0xf0) {
      raw->retries++;
      if (follow_retry) {
        g_assert_cmpint (ngtcp2_conn_read_pkt (raw->conn, &path, &pi, packet, (size_t) n,
                                               raw_now ()), ==, 0);
        raw_client_flush (raw);
      }
    } else if ((packet[0] & 0x80) != 0) {
      raw->answers++;
    }
  }
}

static void
raw_client_free (RawClient *raw)
{
  ngtcp2_conn_del (raw->conn);
  gnutls_deinit (raw->session);
  gnutls_certificate_free_credentials (raw->credentials);
  close (raw->fd);
  g_free (raw);
}

/* Spoofed Initials (each from another port, none answering) make the server send Retries but
 * keep no state; a real client then still connects, through a Retry. */
static void
test_retry_flood (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GPtrArray) flood = g_ptr_array_new_with_free_func ((GDestroyNotify) raw_client_free);
  guint16 port;
  guint answered = 0, retries_before;

  fixture_bind (fixture, "127.0.0.1");
  port = mesh_quic_endpoint_get_port (fixture->server);
  /* Fewer than the table's hard limit (256), which would hide the difference. */
  for (guint i = 0; i < 200; i++)
    g_ptr_array_add (flood, raw_client_new (port));

  /* Every Initial is answered (with a Retry), or made a connection. */
  while (answered < flood->len) {
    g_main_context_iteration (NULL, FALSE);
    answered = _mesh_quic_endpoint_get_n_connections (fixture->server);
    for (guint i = 0; i < flood->len; i++) {
      RawClient *raw = flood->pdata[i];

      raw_client_receive (raw, FALSE);
      answered += raw->retries > 0;
    }
  }
  g_assert_cmpuint (_mesh_quic_endpoint_get_n_connections (fixture->server), ==, 0);
  g_assert_cmpuint (_mesh_quic_endpoint_get_n_retries (fixture->server), >=, flood->len);

  /* The real client goes through a Retry too. */
  retries_before = _mesh_quic_endpoint_get_n_retries (fixture->server);
  fixture->echo = TRUE;
  fixture_connect_expected (fixture, "127.0.0.1");
  g_assert_cmpuint (_mesh_quic_endpoint_get_n_retries (fixture->server), ==, retries_before + 1);
  g_assert_cmpuint (_mesh_quic_endpoint_get_n_connections (fixture->server), ==, 1);
}

/* Clients that prove their address (they follow the Retry) but never finish the handshake:
 * only a few per source address get a connection; the rest are refused, and once those time
 * out a real client connects. */
static void
test_handshake_limit (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) raw_client_free);
  guint16 port;

  fixture_bind (fixture, "127.0.0.1");
  mesh_quic_endpoint_set_idle_timeout (fixture->server, 500);
  port = mesh_quic_endpoint_get_port (fixture->server);
  for (guint i = 0; i < 20; i++) {
    RawClient *raw = raw_client_new (port);

    g_ptr_array_add (clients, raw);
    while (raw->retries == 0 && raw->answers == 0) {
      g_main_context_iteration (NULL, FALSE);
      raw_client_receive (raw, TRUE);
    }
  }
  /* Each token-bearing Initial is answered: by the server's handshake flight, or by
   * CONNECTION_CLOSE (CONNECTION_REFUSED) from a server that kept no state. */
  for (guint i = 0; i < clients->len; i++) {
    RawClient *raw = clients->pdata[i];

    while (raw->answers == 0) {
      g_main_context_iteration (NULL, FALSE);
      raw_client_receive (raw, FALSE);
    }
  }
  g_assert_cmpuint (_mesh_quic_endpoint_get_n_connections (fixture->server), <=, 8);
  g_assert_cmpuint (_mesh_quic_endpoint_get_n_connections (fixture->server), >, 0);

  /* The half-open handshakes time out; then a real client gets in. */
  while (_mesh_quic_endpoint_get_n_connections (fixture->server) > 0)
    g_main_context_iteration (NULL, TRUE);
  mesh_quic_endpoint_set_idle_timeout (fixture->server, 30000);
  fixture->echo = TRUE;
  fixture_connect_expected (fixture, "127.0.0.1");
}


typedef struct {
  gboolean done;
} Exited;

static void
on_gtlsclient_exited (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Exited *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  exited->done = TRUE;
}

/* An independent client (ngtcp2's C++ example, Debian's ngtcp2-client) follows our Retry: its
 * second Initial, with the token, makes a connection (which then fails on ALPN and the
 * missing client certificate, as it should). */
static void
test_retry_interop (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autofree char *program = g_find_program_in_path ("gtlsclient");
  g_autofree char *port = NULL;
  g_autoptr(GSubprocess) client = NULL;
  g_autoptr(GError) error = NULL;
  Exited exited = { FALSE };
  guint max_connections = 0;

  if (program == NULL) {
    g_test_skip ("gtlsclient (ngtcp2-client) is not installed");
    return;
  }
  fixture_bind (fixture, "127.0.0.1");
  port = g_strdup_printf ("%u", mesh_quic_endpoint_get_port (fixture->server));
  client = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                             &error, program, "--quiet", "--timeout=2s",
                             "--handshake-timeout=2s", "127.0.0.1", port, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (client, NULL, on_gtlsclient_exited, &exited);
  while (!exited.done) {
    g_main_context_iteration (NULL, TRUE);
    max_connections = MAX (max_connections,
                           _mesh_quic_endpoint_get_n_connections (fixture->server));
  }
  g_assert_cmpuint (_mesh_quic_endpoint_get_n_retries (fixture->server), ==, 1);
  g_assert_cmpuint (max_connections, ==, 1);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/agent/quic/identity", test_identity);
#define ADD(path, fn) g_test_add ("/mesh/agent/quic/" path, Fixture, NULL, fixture_set_up, fn, \
                                  fixture_tear_down)
  ADD ("echo", test_echo);
  ADD ("echo-ipv6", test_echo_ipv6);
  ADD ("bulk-256MiB", test_bulk);
  ADD ("writev", test_writev);
  ADD ("write-bytes", test_write_bytes);
  ADD ("unexpected-client", test_unexpected_client);
  ADD ("forgotten-client", test_forgotten_client);
  ADD ("wrong-pin", test_wrong_pin);
  ADD ("bad-pin-argument", test_bad_pin_argument);
  ADD ("peer-destroyed", test_peer_destroyed);
  ADD ("peer-vanished", test_peer_vanished);
  ADD ("retry-flood", test_retry_flood);
  ADD ("handshake-limit", test_handshake_limit);
  ADD ("send-rate", test_send_rate);
  ADD ("receive-rate", test_receive_rate);
  ADD ("retry-interop", test_retry_interop);
#undef ADD

  return g_test_run ();
}
