/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-quic"

#include "config.h"

#include "mesh-agent-identity.h"
#include "mesh-quic-endpoint.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <sys/stat.h>

#define BULK_SIZE (256 * 1024 * 1024)
#define CHUNK_SIZE (256 * 1024)

/* Deterministic test data: xorshift64 from a seed, so both sides could regenerate it. */
static void
fill_pattern (guint64 *state,
              guint8  *buffer,
              gsize    length)
{
  for (gsize i = 0; i + 8 <= length; i += 8) {
    guint64 x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    memcpy (buffer + i, &x, 8);
  }
}

/* Lower-case hex SHA-256; consumes @hash. */
static char *
hash_finish (gnutls_hash_hd_t hash)
{
  guint8 digest[32];
  GString *hex = g_string_new (NULL);

  gnutls_hash_deinit (hash, digest);
  for (gsize i = 0; i < sizeof digest; i++)
    g_string_append_printf (hex, "%02x", digest[i]);
  return g_string_free (hex, FALSE);
}

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

/* Client-side helpers */

typedef struct {
  gboolean  done;
  gssize    n;
  gboolean  ok;
  GError   *error;
} Op;

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
  wait_for (&op.done);
  g_assert_no_error (op.error);
  g_assert_true (op.ok);
}

static void
close_output (MeshQuicStream *stream)
{
  Op op = { 0 };

  g_output_stream_close_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                               G_PRIORITY_DEFAULT, NULL, on_close, &op);
  wait_for (&op.done);
  g_assert_no_error (op.error);
  g_assert_true (op.ok);
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
  g_autoptr(GError) error = NULL;
  const char *message = "hello over mesh/2";

  if (!fixture_bind (fixture, host))
    return;
  fixture->echo = TRUE;
  mesh_quic_endpoint_expect_peer (fixture->server,
                                  mesh_agent_identity_get_fingerprint (fixture->client_id));
  fixture_connect (fixture, host, mesh_agent_identity_get_fingerprint (fixture->server_id));
  g_assert_no_error (fixture->connect_error);
  g_assert_nonnull (fixture->client_connection);

  /* Both sides know who they talk to. */
  g_assert_cmpstr (mesh_quic_connection_get_peer_fingerprint (fixture->client_connection), ==,
                   mesh_agent_identity_get_fingerprint (fixture->server_id));
  g_assert_false (mesh_quic_connection_is_server (fixture->client_connection));

  stream = mesh_quic_connection_open_stream (fixture->client_connection, &error);
  g_assert_no_error (error);
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

typedef struct {
  MeshQuicStream *stream;
  gnutls_hash_hd_t sum;
  guint64         state;
  guint64         remaining;
  guint8         *buffer;
  Op              op;
} Writer;

static void writer_next (Writer *writer);

static void
on_writer_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Writer *writer = user_data;

  writer->op.ok = g_output_stream_close_finish (G_OUTPUT_STREAM (source), result,
                                                &writer->op.error);
  writer->op.done = TRUE;
}

static void
on_writer_wrote (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Writer *writer = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL,
                                         &writer->op.error)) {
    writer->op.done = TRUE;
    return;
  }
  writer_next (writer);
}

static void
writer_next (Writer *writer)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (writer->stream));
  gsize n = (gsize) MIN (writer->remaining, CHUNK_SIZE);

  if (n == 0) {
    g_output_stream_close_async (output, G_PRIORITY_DEFAULT, NULL, on_writer_closed, writer);
    return;
  }
  fill_pattern (&writer->state, writer->buffer, n);
  gnutls_hash (writer->sum, writer->buffer, n);
  writer->remaining -= n;
  g_output_stream_write_all_async (output, writer->buffer, n, G_PRIORITY_DEFAULT, NULL,
                                   on_writer_wrote, writer);
}

static void
test_bulk (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  gnutls_hash_hd_t sent_sum = NULL;
  g_autofree char *sent_hex = NULL;
  g_autofree char *received_hex = NULL;
  g_autofree guint8 *buffer = g_malloc (CHUNK_SIZE);
  Writer writer = { 0 };
  gint64 start, elapsed;

  fixture_bind (fixture, "127.0.0.1");
  mesh_quic_endpoint_expect_peer (fixture->server,
                                  mesh_agent_identity_get_fingerprint (fixture->client_id));
  fixture_connect (fixture, "127.0.0.1", mesh_agent_identity_get_fingerprint (fixture->server_id));
  g_assert_no_error (fixture->connect_error);

  stream = mesh_quic_connection_open_stream (fixture->client_connection, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gnutls_hash_init (&sent_sum, GNUTLS_DIG_SHA256), ==, 0);

  writer.stream = stream;
  writer.sum = sent_sum;
  writer.state = 0x9e3779b97f4a7c15u;
  writer.remaining = BULK_SIZE;
  writer.buffer = buffer;
  start = g_get_monotonic_time ();
  writer_next (&writer);
  wait_for (&writer.op.done);
  g_assert_no_error (writer.op.error);
  g_assert_true (writer.op.ok);
  wait_for (&fixture->received_eof);
  elapsed = g_get_monotonic_time () - start;

  g_assert_no_error (fixture->received_error);
  g_assert_cmpuint (fixture->received, ==, BULK_SIZE);
  sent_hex = hash_finish (sent_sum);
  received_hex = hash_finish (g_steal_pointer (&fixture->received_sum));
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
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *buffer = g_malloc (3 * part);
  g_autofree char *sent_hex = NULL;
  g_autofree char *received_hex = NULL;
  gnutls_hash_hd_t sent_sum = NULL;
  GOutputVector vectors[3];
  guint64 state = 42;
  Op op = { 0 };

  fill_pattern (&state, buffer, 3 * part);
  for (guint i = 0; i < 3; i++) {
    vectors[i].buffer = buffer + i * part;
    vectors[i].size = part;
  }

  fixture_bind (fixture, "127.0.0.1");
  mesh_quic_endpoint_expect_peer (fixture->server,
                                  mesh_agent_identity_get_fingerprint (fixture->client_id));
  fixture_connect (fixture, "127.0.0.1", mesh_agent_identity_get_fingerprint (fixture->server_id));
  g_assert_no_error (fixture->connect_error);
  stream = mesh_quic_connection_open_stream (fixture->client_connection, &error);
  g_assert_no_error (error);

  g_output_stream_writev_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                    vectors, G_N_ELEMENTS (vectors), G_PRIORITY_DEFAULT, NULL,
                                    on_writev_all, &op);
  wait_for (&op.done);
  g_assert_no_error (op.error);
  g_assert_true (op.ok);
  close_output (stream);
  wait_for (&fixture->received_eof);

  g_assert_no_error (fixture->received_error);
  g_assert_cmpuint (fixture->received, ==, 3 * part);
  g_assert_cmpint (gnutls_hash_init (&sent_sum, GNUTLS_DIG_SHA256), ==, 0);
  gnutls_hash (sent_sum, buffer, 3 * part);
  sent_hex = hash_finish (sent_sum);
  received_hex = hash_finish (g_steal_pointer (&fixture->received_sum));
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
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) closed = NULL;
  guint8 buffer[64];
  Op read = { 0 };

  fixture_bind (fixture, "127.0.0.1");
  mesh_quic_endpoint_expect_peer (fixture->server,
                                  mesh_agent_identity_get_fingerprint (fixture->client_id));
  fixture_connect (fixture, "127.0.0.1", mesh_agent_identity_get_fingerprint (fixture->server_id));
  g_assert_no_error (fixture->connect_error);
  g_signal_connect (fixture->client_connection, "closed", G_CALLBACK (on_closed), &closed);

  stream = mesh_quic_connection_open_stream (fixture->client_connection, &error);
  g_assert_no_error (error);
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
  GMutex             lock;
  GCond              cond;
  guint16            port;
  gboolean           released;
  GMainLoop         *loop;
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

  g_mutex_lock (&server->lock);
  server->loop = g_main_loop_new (context, FALSE);
  server->port = mesh_quic_endpoint_get_port (endpoint);
  g_cond_signal (&server->cond);
  g_mutex_unlock (&server->lock);

  g_main_loop_run (server->loop);

  /* Frozen: the socket stays open but nobody reads or answers. */
  g_mutex_lock (&server->lock);
  while (!server->released)
    g_cond_wait (&server->cond, &server->lock);
  g_mutex_unlock (&server->lock);

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
  g_mutex_init (&server.lock);
  g_cond_init (&server.cond);
  thread = g_thread_new ("frozen-server", frozen_server_thread, &server);
  g_mutex_lock (&server.lock);
  while (server.port == 0)
    g_cond_wait (&server.cond, &server.lock);
  g_mutex_unlock (&server.lock);

  fixture->client = mesh_quic_endpoint_new (fixture->client_id, address, &error);
  g_assert_no_error (error);
  mesh_quic_endpoint_set_idle_timeout (fixture->client, 1000);
  server_address = loopback ("127.0.0.1", server.port);
  mesh_quic_endpoint_connect_async (fixture->client, G_SOCKET_ADDRESS (server_address),
                                    mesh_agent_identity_get_fingerprint (fixture->server_id),
                                    NULL, on_connected, fixture);
  wait_for (&fixture->connect_done);
  g_assert_no_error (fixture->connect_error);
  g_signal_connect (fixture->client_connection, "closed", G_CALLBACK (on_closed), &closed);
  stream = mesh_quic_connection_open_stream (fixture->client_connection, &error);
  g_assert_no_error (error);
  write_all (stream, "ping", 4);

  /* The server answered the handshake, so its loop runs: stop it. */
  g_main_loop_quit (server.loop);

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

  g_mutex_lock (&server.lock);
  server.released = TRUE;
  g_cond_signal (&server.cond);
  g_mutex_unlock (&server.lock);
  g_thread_join (thread);

  g_main_loop_unref (server.loop);
  g_ptr_array_unref (server.streams);
  g_mutex_clear (&server.lock);
  g_cond_clear (&server.cond);
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
  ADD ("unexpected-client", test_unexpected_client);
  ADD ("forgotten-client", test_forgotten_client);
  ADD ("wrong-pin", test_wrong_pin);
  ADD ("bad-pin-argument", test_bad_pin_argument);
  ADD ("peer-destroyed", test_peer_destroyed);
  ADD ("peer-vanished", test_peer_vanished);
#undef ADD

  return g_test_run ();
}
