/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-test-server"

#include "config.h"

#include "mesh-test-server.h"

#include "mesh-ids.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS  30000
#define REST_LINE_PREFIX "  REST       "

struct _MeshTestServer {
  char             *data_dir;
  char             *config_path;
  char             *tls_cert;
  char             *tls_key;
  gboolean          open_registration;
  guint             port;          /* of the last start: a restart reuses it */
  SoupSession      *session;

  GSubprocess      *process;
  GCancellable     *cancellable;   /* the stdout reader of the current process */
  GString          *output;        /* everything it printed on stdout */
  gboolean          exited;
  char             *rest_url;
  char             *base_url;
};

struct _MeshTestClient {
  SoupWebsocketConnection *connection;
  GQueue                   frames;  /* JsonObject*, oldest first */
  GPtrArray               *ids;     /* ids of the frames we sent */
  gboolean                 closed;
  gushort                  close_code;
};

/* Main-context helpers */

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
mesh_test_pump (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

gboolean
mesh_test_wait_flag (const gboolean *flag,
                     guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, set_flag_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return *flag;
}

void
mesh_test_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *child = g_build_filename (path, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
      mesh_test_remove_tree (child);
    else
      g_unlink (child);
  }
  g_rmdir (path);
}

static const char *
server_binary (void)
{
  const char *bin = g_getenv ("MESH_SERVER_BIN");

  if (bin == NULL)
    g_error ("MESH_SERVER_BIN is not set: run this test through meson test");
  return bin;
}

/* The server */

/* Runs in the child between fork and exec: a test that aborts must not
 * leave its server running (it would also hold the test's stderr open, and
 * the test runner waits for that to close). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn (GSubprocessFlags     flags,
       const char * const  *argv,
       GError             **error)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  return g_subprocess_launcher_spawnv (launcher, argv, error);
}

/* Every test server logs in from 127.0.0.1 far more often than a person,
 * and keeps many sockets per user: the per-address login throttle and the
 * per-user socket cap are relaxed unless the test sets them (its own lines
 * come after these in the same group, and the last value wins). */
static char *
with_test_defaults (const char *config_text)
{
  static const struct {
    const char *group;
    const char *keys;
  } defaults[] = {
    { "[auth]\n", "login-ip-burst=1000000\nlogin-ip-per-minute=1000000\n" },
    { "[limits]\n", "max-sockets-per-user=100000\n" },
  };
  GString *text = g_string_new (config_text);

  for (guint i = 0; i < G_N_ELEMENTS (defaults); i++) {
    const char *at = strstr (text->str, defaults[i].group);

    if (at != NULL) {
      g_string_insert (text, (at - text->str) + strlen (defaults[i].group), defaults[i].keys);
    } else {
      if (text->len > 0 && text->str[text->len - 1] != '\n')
        g_string_append_c (text, '\n');
      g_string_append (text, defaults[i].group);
      g_string_append (text, defaults[i].keys);
    }
  }
  return g_string_free (text, FALSE);
}

MeshTestServer *
mesh_test_server_new (const char *config_text)
{
  g_autoptr(GError) error = NULL;
  MeshTestServer *self = g_new0 (MeshTestServer, 1);

  self->data_dir = g_dir_make_tmp ("mesh-test-server-XXXXXX", &error);
  g_assert_no_error (error);
  {
    g_autofree char *text = with_test_defaults (config_text);

    self->config_path = g_build_filename (self->data_dir, "mesh-server.conf", NULL);
    g_file_set_contents (self->config_path, text, -1, &error);
    g_assert_no_error (error);
  }
  /* Many sockets to one host at once: libsoup's defaults (10, 2 per host)
   * would queue the handshakes. */
  self->session = soup_session_new_with_options ("max-conns", 256,
                                                 "max-conns-per-host", 256,
                                                 "timeout", 30,
                                                 NULL);
  self->output = g_string_new (NULL);
  return self;
}

void
mesh_test_server_free (MeshTestServer *self)
{
  if (self == NULL)
    return;
  /* A test that failed half-way leaves the process running. */
  if (self->process != NULL && !self->exited)
    g_subprocess_force_exit (self->process);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->process);
  g_clear_object (&self->session);
  mesh_test_remove_tree (self->data_dir);
  g_free (self->data_dir);
  g_free (self->config_path);
  g_free (self->tls_cert);
  g_free (self->tls_key);
  g_free (self->rest_url);
  g_free (self->base_url);
  g_string_free (self->output, TRUE);
  g_free (self);
}

const char *
mesh_test_server_get_data_dir (MeshTestServer *self)
{
  return self->data_dir;
}

void
mesh_test_server_set_tls (MeshTestServer *self,
                          const char     *cert_path,
                          const char     *key_path)
{
  g_free (self->tls_cert);
  g_free (self->tls_key);
  self->tls_cert = g_strdup (cert_path);
  self->tls_key = g_strdup (key_path);
}

void
mesh_test_server_set_open_registration (MeshTestServer *self,
                                        gboolean        open)
{
  self->open_registration = open;
}

/* The running server's process id ("" before start). */
const char *
mesh_test_server_get_pid (MeshTestServer *self)
{
  return self->process ? g_subprocess_get_identifier (self->process) : "";
}

char *
mesh_test_server_add_user (MeshTestServer *self,
                           const char     *username,
                           const char     *password)
{
  return mesh_test_add_user_in (self->data_dir, username, password);
}

char *
mesh_test_add_user_in (const char *data_dir,
                       const char *username,
                       const char *password)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autofree char *input = g_strdup_printf ("%s\n", password);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *prefix = g_strdup_printf ("Added user %s (", username);
  const char *id_start;
  const char *id_end;
  const char *argv[] = {
    server_binary (), "--data-dir", data_dir, "user", "add", username, NULL
  };

  process = spawn (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                   G_SUBPROCESS_FLAGS_STDERR_PIPE, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, input, NULL, &out, &err, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    g_error ("mesh-server user add %s failed: %s%s", username, out, err);

  /* "Added user NAME (USER_ID)" */
  g_assert_true (g_str_has_prefix (out, prefix));
  id_start = out + strlen (prefix);
  id_end = strchr (id_start, ')');
  g_assert_nonnull (id_end);
  return g_strndup (id_start, id_end - id_start);
}

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  MeshTestServer *self;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                    &error);
  /* Cancelled: the server struct may be gone already. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = user_data;
  if (line == NULL)
    return;

  g_string_append (self->output, line);
  g_string_append_c (self->output, '\n');
  if (self->rest_url == NULL && g_str_has_prefix (line, REST_LINE_PREFIX)) {
    const char *url = line + strlen (REST_LINE_PREFIX);
    const char *expected = self->tls_cert != NULL ? "https://127.0.0.1:" : "http://127.0.0.1:";

    g_assert_true (g_str_has_prefix (url, expected));
    g_assert_true (g_str_has_suffix (url, "/api/v1"));
    self->rest_url = g_strdup (url);
    self->base_url = g_strndup (url, strlen (url) - strlen ("/api/v1"));
    self->port = (guint) g_ascii_strtoull (url + strlen (expected), NULL, 10);
  }
  /* Keep draining so that the server never blocks on a full pipe. */
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       self->cancellable, read_line_cb, self);
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  *(gboolean *) user_data = TRUE;
}

void
mesh_test_server_start (MeshTestServer *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDataInputStream) out = NULL;
  gboolean timed_out = FALSE;
  guint timeout_id;

  /* A server that died on its own may be started again. */
  g_assert_true (self->process == NULL || self->exited);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->process);

  g_ptr_array_add (argv, g_strdup (server_binary ()));
  g_ptr_array_add (argv, g_strdup ("--listen"));
  /* Port 0 the first time; a restart keeps the port, so that clients that
   * were connected can come back to the same URL. */
  g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%u", self->port));
  g_ptr_array_add (argv, g_strdup ("--no-legacy"));
  g_ptr_array_add (argv, g_strdup ("--data-dir"));
  g_ptr_array_add (argv, g_strdup (self->data_dir));
  if (self->config_path != NULL) {
    g_ptr_array_add (argv, g_strdup ("--config"));
    g_ptr_array_add (argv, g_strdup (self->config_path));
  }
  if (self->tls_cert != NULL) {
    g_ptr_array_add (argv, g_strdup ("--tls-cert"));
    g_ptr_array_add (argv, g_strdup (self->tls_cert));
    g_ptr_array_add (argv, g_strdup ("--tls-key"));
    g_ptr_array_add (argv, g_strdup (self->tls_key));
  }
  if (self->open_registration)
    g_ptr_array_add (argv, g_strdup ("--open-registration"));
  g_ptr_array_add (argv, NULL);

  g_clear_pointer (&self->rest_url, g_free);
  g_clear_pointer (&self->base_url, g_free);
  g_string_truncate (self->output, 0);
  self->exited = FALSE;
  self->cancellable = g_cancellable_new ();

  /* stderr (the server's log) goes to the test log as it is. */
  self->process = spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE, (const char * const *) argv->pdata,
                         &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (self->process, self->cancellable, wait_cb, &self->exited);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->process));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, self->cancellable,
                                       read_line_cb, self);

  timeout_id = g_timeout_add (START_TIMEOUT_MS, set_flag_cb, &timed_out);
  while (self->rest_url == NULL && !self->exited && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);

  if (self->rest_url == NULL)
    g_error ("mesh-server did not start (%s); it printed:\n%s",
             self->exited ? "it exited" : "timed out", self->output->str);
  g_test_message ("mesh-server up at %s", self->rest_url);
}

gboolean
mesh_test_server_is_running (MeshTestServer *self)
{
  return self->process != NULL && !self->exited;
}

void
mesh_test_server_stop (MeshTestServer *self)
{
  g_assert_nonnull (self->process);
  g_assert_false (self->exited);

  g_subprocess_send_signal (self->process, SIGTERM);
  if (!mesh_test_wait_flag (&self->exited, STOP_TIMEOUT_MS)) {
    g_subprocess_force_exit (self->process);
    g_error ("mesh-server did not exit within %d s of SIGTERM", STOP_TIMEOUT_MS / 1000);
  }
  g_assert_true (g_subprocess_get_if_exited (self->process));
  g_assert_cmpint (g_subprocess_get_exit_status (self->process), ==, 0);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->process);
}

const char *
mesh_test_server_get_rest_url (MeshTestServer *self)
{
  g_assert_nonnull (self->rest_url);
  return self->rest_url;
}

const char *
mesh_test_server_get_base_url (MeshTestServer *self)
{
  g_assert_nonnull (self->base_url);
  return self->base_url;
}

SoupSession *
mesh_test_server_get_session (MeshTestServer *self)
{
  return self->session;
}

/* TLS */

static void
check_tls (int rv)
{
  if (rv < 0)
    g_error ("GnuTLS: %s", gnutls_strerror (rv));
}

static void
write_datum (const char           *path,
             const gnutls_datum_t *datum)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, (const char *) datum->data, datum->size, &error);
  g_assert_no_error (error);
}

char *
mesh_test_make_certificate (const char  *dir,
                            char       **cert_path,
                            char       **key_path)
{
  return mesh_test_make_certificate_for (dir, "127.0.0.1", cert_path, key_path);
}

char *
mesh_test_make_certificate_for (const char  *dir,
                                const char  *address,
                                char       **cert_path,
                                char       **key_path)
{
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
  gnutls_datum_t pem = { NULL, 0 };
  gnutls_datum_t der = { NULL, 0 };
  unsigned char serial[16];
  unsigned char loopback[4] = { 127, 0, 0, 1 };
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);
  g_autofree char *dn = g_strdup_printf ("CN=%s", address);
  time_t now = time (NULL);
  char *fingerprint;

  g_assert_nonnull (inet);
  check_tls (gnutls_x509_privkey_init (&key));
  check_tls (gnutls_x509_privkey_generate2 (key, GNUTLS_PK_ECDSA,
                                            GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0,
                                            NULL, 0));
  check_tls (gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof serial));
  serial[0] &= 0x7f;
  check_tls (gnutls_x509_crt_init (&crt));
  check_tls (gnutls_x509_crt_set_version (crt, 3));
  check_tls (gnutls_x509_crt_set_serial (crt, serial, sizeof serial));
  check_tls (gnutls_x509_crt_set_activation_time (crt, now - 3600));
  check_tls (gnutls_x509_crt_set_expiration_time (crt, now + 7 * 24 * 3600));
  check_tls (gnutls_x509_crt_set_dn (crt, dn, NULL));
  check_tls (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS,
                                                   g_inet_address_to_bytes (inet),
                                                   g_inet_address_get_native_size (inet),
                                                   GNUTLS_FSAN_SET));
  if (!g_str_equal (address, "127.0.0.1"))
    check_tls (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, loopback,
                                                     sizeof loopback, GNUTLS_FSAN_APPEND));
  check_tls (gnutls_x509_crt_set_key (crt, key));
  check_tls (gnutls_x509_crt_set_basic_constraints (crt, 0, -1));
  check_tls (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE));
  check_tls (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
  check_tls (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0));

  *cert_path = g_build_filename (dir, "server.crt", NULL);
  *key_path = g_build_filename (dir, "server.key", NULL);
  check_tls (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &pem));
  write_datum (*cert_path, &pem);
  gnutls_free (pem.data);
  check_tls (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                                &pem));
  write_datum (*key_path, &pem);
  gnutls_free (pem.data);
  g_chmod (*key_path, 0600);

  check_tls (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der));
  fingerprint = mesh_sha256_hex (der.data, der.size);
  gnutls_free (der.data);
  gnutls_x509_crt_deinit (crt);
  gnutls_x509_privkey_deinit (key);
  return fingerprint;
}

/* REST */

typedef struct {
  gboolean  done;
  GBytes   *body;
  GError   *error;
} RequestState;

static void
send_and_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  RequestState *state = user_data;

  state->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &state->error);
  state->done = TRUE;
}

MeshTestResponse *
mesh_test_request_raw (MeshTestServer *self,
                       const char     *method,
                       const char     *path,
                       const char     *token,
                       const char     *content_type,
                       GBytes         *body)
{
  g_autofree char *url = g_strconcat (mesh_test_server_get_base_url (self), path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  MeshTestResponse *response = g_new0 (MeshTestResponse, 1);
  RequestState state = { 0 };
  gsize len = 0;
  const char *data;

  g_assert_nonnull (msg);
  if (token != NULL) {
    g_autofree char *auth = g_strdup_printf ("Bearer %s", token);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  }
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, content_type, body);

  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, NULL,
                                    send_and_read_cb, &state);
  /* The session's own timeout ends a request that hangs. */
  while (!state.done)
    g_main_context_iteration (NULL, TRUE);

  if (state.error != NULL) {
    /* A transport failure: status 0, no body. */
    g_test_message ("%s %s failed: %s", method, path, state.error->message);
    g_error_free (state.error);
    return response;
  }

  response->status = soup_message_get_status (msg);
  response->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  response->body = state.body;
  data = g_bytes_get_data (response->body, &len);
  if (len > 0) {
    g_autoptr(JsonParser) parser = json_parser_new ();

    if (json_parser_load_from_data (parser, data, (gssize) len, NULL))
      response->json = json_node_ref (json_parser_get_root (parser));
  }
  return response;
}

MeshTestResponse *
mesh_test_request (MeshTestServer *self,
                   const char     *method,
                   const char     *path,
                   const char     *token,
                   const char     *body)
{
  g_autoptr(GBytes) bytes = NULL;

  if (body != NULL)
    bytes = g_bytes_new (body, strlen (body));
  return mesh_test_request_raw (self, method, path, token, "application/json", bytes);
}

void
mesh_test_response_free (MeshTestResponse *response)
{
  if (response == NULL)
    return;
  g_clear_pointer (&response->body, g_bytes_unref);
  g_clear_pointer (&response->json, json_node_unref);
  g_clear_pointer (&response->headers, soup_message_headers_unref);
  g_free (response);
}

/* The body for a failure message (bodies are not NUL-terminated). */
static char *
response_text (MeshTestResponse *response)
{
  gsize len = 0;
  const char *data;

  if (response->body == NULL)
    return g_strdup ("(no body)");
  data = g_bytes_get_data (response->body, &len);
  return g_strndup (data, MIN (len, 2000));
}

JsonObject *
mesh_test_response_object (MeshTestResponse *response)
{
  if (response->json == NULL || !JSON_NODE_HOLDS_OBJECT (response->json)) {
    g_autofree char *text = response_text (response);

    g_error ("expected a JSON object, got (status %u): %s", response->status, text);
  }
  return json_node_get_object (response->json);
}

JsonArray *
mesh_test_response_array (MeshTestResponse *response)
{
  if (response->json == NULL || !JSON_NODE_HOLDS_ARRAY (response->json)) {
    g_autofree char *text = response_text (response);

    g_error ("expected a JSON array, got (status %u): %s", response->status, text);
  }
  return json_node_get_array (response->json);
}

void
mesh_test_response_assert_error (MeshTestResponse *response,
                                 guint             status,
                                 const char       *code)
{
  JsonObject *obj;

  g_assert_cmpuint (response->status, ==, status);
  obj = mesh_test_response_object (response);
  g_assert_cmpstr (json_object_get_string_member_with_default (obj, "code", NULL), ==, code);
  g_assert_true (json_object_has_member (obj, "message"));
  g_assert_cmpstr (json_object_get_string_member_with_default (obj, "message", ""), !=, "");
}

MeshTestResponse *
mesh_test_request_expect (MeshTestServer *self,
                          const char     *method,
                          const char     *path,
                          const char     *token,
                          const char     *body,
                          guint           status)
{
  MeshTestResponse *response = mesh_test_request (self, method, path, token, body);

  g_assert_cmpuint (response->status, ==, status);
  return response;
}

void
mesh_test_request_expect_error (MeshTestServer *self,
                                const char     *method,
                                const char     *path,
                                const char     *token,
                                const char     *body,
                                guint           status,
                                const char     *code)
{
  g_autoptr(MeshTestResponse) response = mesh_test_request (self, method, path, token, body);

  mesh_test_response_assert_error (response, status, code);
}

char *
mesh_test_login (MeshTestServer *self,
                 const char     *username,
                 const char     *password,
                 char          **user_id)
{
  g_autofree char *body = g_strdup_printf ("{\"username\":\"%s\",\"password\":\"%s\"}",
                                           username, password);
  g_autoptr(MeshTestResponse) response = mesh_test_request (self, "POST", "/api/v1/auth/login",
                                                            NULL, body);
  JsonObject *obj;

  g_assert_cmpuint (response->status, ==, 200);
  obj = mesh_test_response_object (response);
  g_assert_cmpstr (json_object_get_string_member_with_default (obj, "access_token", ""), !=, "");
  if (user_id != NULL)
    *user_id = g_strdup (json_object_get_string_member (obj, "user_id"));
  return g_strdup (json_object_get_string_member (obj, "access_token"));
}

/* WebSocket clients */

static void
client_message_cb (SoupWebsocketConnection *connection,
                   SoupWebsocketDataType    type,
                   GBytes                  *message,
                   MeshTestClient          *self)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  JsonObject *frame;

  /* Every server frame is one JSON object in a text message with the
   * envelope of §3: type, a fresh id, a UTC timestamp, from and a payload. */
  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  json_parser_load_from_data (parser, data, (gssize) len, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  frame = json_node_get_object (json_parser_get_root (parser));
  g_assert_nonnull (json_object_get_string_member_with_default (frame, "type", NULL));
  g_assert_true (mesh_id_is_valid (json_object_get_string_member_with_default (frame, "id", NULL)));
  g_assert_true (mesh_timestamp_is_valid (json_object_get_string_member_with_default (frame,
                                                                                      "timestamp",
                                                                                      NULL)));
  g_assert_nonnull (json_object_get_string_member_with_default (frame, "from", NULL));
  mesh_test_frame_payload (frame);
  g_queue_push_tail (&self->frames, json_object_ref (frame));
}

static void
client_closed_cb (SoupWebsocketConnection *connection,
                  MeshTestClient          *self)
{
  self->closed = TRUE;
  self->close_code = soup_websocket_connection_get_close_code (connection);
}

typedef struct {
  gboolean                 done;
  SoupWebsocketConnection *connection;
  GError                  *error;
} ConnectState;

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  ConnectState *state = user_data;

  state->connection = soup_session_websocket_connect_finish (SOUP_SESSION (source), result,
                                                             &state->error);
  state->done = TRUE;
}

MeshTestClient *
mesh_test_client_connect (MeshTestServer *server,
                          const char     *token,
                          MeshTestAuth    auth,
                          guint          *http_status,
                          GError        **error)
{
  g_autofree char *url = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  ConnectState state = { 0 };
  MeshTestClient *self;

  if (auth == MESH_TEST_AUTH_QUERY) {
    g_autofree char *escaped = g_uri_escape_string (token, NULL, FALSE);

    url = g_strdup_printf ("%s/ws?access_token=%s", mesh_test_server_get_base_url (server),
                           escaped);
  } else {
    url = g_strdup_printf ("%s/ws", mesh_test_server_get_base_url (server));
  }
  msg = soup_message_new ("GET", url);
  g_assert_nonnull (msg);
  if (auth == MESH_TEST_AUTH_HEADER) {
    g_autofree char *value = g_strdup_printf ("Bearer %s", token);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
  }

  soup_session_websocket_connect_async (mesh_test_server_get_session (server), msg, NULL, NULL,
                                        G_PRIORITY_DEFAULT, NULL, connect_cb, &state);
  while (!state.done)
    g_main_context_iteration (NULL, TRUE);

  if (http_status != NULL)
    *http_status = soup_message_get_status (msg);
  if (state.connection == NULL) {
    g_propagate_error (error, state.error);
    return NULL;
  }

  self = g_new0 (MeshTestClient, 1);
  self->connection = state.connection;
  self->ids = g_ptr_array_new_with_free_func (g_free);
  g_queue_init (&self->frames);
  g_signal_connect (self->connection, "message", G_CALLBACK (client_message_cb), self);
  g_signal_connect (self->connection, "closed", G_CALLBACK (client_closed_cb), self);
  return self;
}

MeshTestClient *
mesh_test_client_new_hello (MeshTestServer *server,
                            const char     *token,
                            const char     *peer_type,
                            const char     *extra_hello_json,
                            JsonObject    **welcome)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshTestClient) self = NULL;
  g_autoptr(JsonObject) frame = NULL;
  g_autofree char *payload = NULL;
  JsonObject *welcome_payload;
  const char *id;
  guint status = 0;

  self = mesh_test_client_connect (server, token, MESH_TEST_AUTH_HEADER, &status, &error);
  if (self == NULL)
    g_error ("WebSocket upgrade refused with HTTP %u: %s", status, error->message);
  payload = g_strdup_printf ("{\"peer_type\":\"%s\",\"version\":\"2.0.0\"%s%s}", peer_type,
                             extra_hello_json ? "," : "", extra_hello_json ? extra_hello_json : "");
  id = mesh_test_client_send (self, "system.hello", payload);

  frame = mesh_test_client_wait_for_type (self, "system.welcome", MESH_TEST_TIMEOUT_MS);
  if (frame == NULL) {
    g_autoptr(JsonObject) err = mesh_test_client_wait_for_type (self, "error", 0);

    g_error ("no system.welcome for %s hello: %s", peer_type,
             err ? json_object_get_string_member (mesh_test_frame_payload (err), "message")
                 : "no answer");
  }
  welcome_payload = mesh_test_frame_payload (frame);
  g_assert_cmpstr (json_object_get_string_member (frame, "from"), ==, "server");
  g_assert_cmpstr (json_object_get_string_member_with_default (welcome_payload, "ref", NULL), ==,
                   id);
  if (welcome != NULL)
    *welcome = json_object_ref (welcome_payload);
  return g_steal_pointer (&self);
}

void
mesh_test_client_close (MeshTestClient *self)
{
  if (soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (self->connection, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  if (!mesh_test_wait_flag (&self->closed, MESH_TEST_TIMEOUT_MS))
    g_error ("the WebSocket did not finish closing");
}

void
mesh_test_client_free (MeshTestClient *self)
{
  if (self == NULL)
    return;
  if (!self->closed &&
      soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN) {
    soup_websocket_connection_close (self->connection, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    mesh_test_wait_flag (&self->closed, MESH_TEST_TIMEOUT_MS);
  }
  g_signal_handlers_disconnect_by_data (self->connection, self);
  g_clear_object (&self->connection);
  g_queue_clear_full (&self->frames, (GDestroyNotify) json_object_unref);
  g_ptr_array_unref (self->ids);
  g_free (self);
}

void
mesh_test_client_send_raw (MeshTestClient *self,
                           const char     *text,
                           gsize           len)
{
  g_autoptr(GBytes) bytes = g_bytes_new (text, len);

  /* Sending on a closed socket is a critical in libsoup: a test bug. */
  g_assert_cmpint (soup_websocket_connection_get_state (self->connection), ==,
                   SOUP_WEBSOCKET_STATE_OPEN);
  soup_websocket_connection_send_message (self->connection, SOUP_WEBSOCKET_DATA_TEXT, bytes);
}

void
mesh_test_client_send_binary (MeshTestClient *self,
                              GBytes         *data)
{
  g_assert_cmpint (soup_websocket_connection_get_state (self->connection), ==,
                   SOUP_WEBSOCKET_STATE_OPEN);
  soup_websocket_connection_send_message (self->connection, SOUP_WEBSOCKET_DATA_BINARY, data);
}

const char *
mesh_test_client_send_from (MeshTestClient *self,
                            const char     *type,
                            const char     *from,
                            const char     *payload_json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) payload = NULL;
  g_autoptr(JsonObject) root = json_object_new ();
  g_autoptr(JsonNode) root_node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *timestamp = mesh_timestamp_now ();
  g_autofree char *text = NULL;
  char *id = mesh_id_new ();

  payload = json_from_string (payload_json ? payload_json : "{}", &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (payload));

  g_ptr_array_add (self->ids, id);
  json_object_set_string_member (root, "type", type);
  json_object_set_string_member (root, "id", id);
  json_object_set_string_member (root, "timestamp", timestamp);
  if (from != NULL)
    json_object_set_string_member (root, "from", from);
  json_object_set_member (root, "payload", g_steal_pointer (&payload));
  json_node_set_object (root_node, root);
  text = json_to_string (root_node, FALSE);
  mesh_test_client_send_raw (self, text, strlen (text));
  return id;
}

const char *
mesh_test_client_send (MeshTestClient *self,
                       const char     *type,
                       const char     *payload_json)
{
  return mesh_test_client_send_from (self, type, NULL, payload_json);
}

typedef gboolean (*FrameMatchFunc) (JsonObject *frame,
                                    const char *wanted);

static gboolean
match_type (JsonObject *frame,
            const char *type)
{
  return g_strcmp0 (json_object_get_string_member_with_default (frame, "type", NULL), type) == 0;
}

static gboolean
match_ref (JsonObject *frame,
           const char *ref)
{
  JsonNode *payload = json_object_get_member (frame, "payload");

  return payload != NULL && JSON_NODE_HOLDS_OBJECT (payload) &&
         g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (payload),
                                                                "ref", NULL), ref) == 0;
}

static JsonObject *
take_first (MeshTestClient *self,
            FrameMatchFunc  match,
            const char     *wanted)
{
  for (GList *l = self->frames.head; l != NULL; l = l->next) {
    JsonObject *frame = l->data;

    if (match (frame, wanted)) {
      g_queue_delete_link (&self->frames, l);
      return frame;
    }
  }
  return NULL;
}

static JsonObject *
wait_for_match (MeshTestClient *self,
                FrameMatchFunc  match,
                const char     *wanted,
                guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint timeout_id = g_timeout_add (timeout_ms, set_flag_cb, &timed_out);
  JsonObject *frame;

  /* Frames that came before the close are still looked at. */
  while ((frame = take_first (self, match, wanted)) == NULL && !self->closed && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  return frame;
}

JsonObject *
mesh_test_client_wait_for_type (MeshTestClient *self,
                                const char     *type,
                                guint           timeout_ms)
{
  return wait_for_match (self, match_type, type, timeout_ms);
}

JsonObject *
mesh_test_client_wait_for_ref (MeshTestClient *self,
                               const char     *ref,
                               guint           timeout_ms)
{
  return wait_for_match (self, match_ref, ref, timeout_ms);
}

void
mesh_test_client_expect_error (MeshTestClient *self,
                               const char     *code,
                               const char     *ref)
{
  g_autoptr(JsonObject) frame = mesh_test_client_wait_for_type (self, "error",
                                                                MESH_TEST_TIMEOUT_MS);
  JsonObject *payload;

  if (frame == NULL)
    g_error ("expected an error %s, got none (socket %s)", code, self->closed ? "closed" : "open");
  payload = mesh_test_frame_payload (frame);
  g_assert_cmpstr (json_object_get_string_member (frame, "from"), ==, "server");
  g_assert_cmpstr (json_object_get_string_member_with_default (payload, "code", NULL), ==, code);
  g_assert_cmpstr (json_object_get_string_member_with_default (payload, "message", ""), !=, "");
  g_assert_cmpstr (json_object_get_string_member_with_default (payload, "ref", NULL), ==, ref);
}

JsonObject *
mesh_test_client_expect_type (MeshTestClient *self,
                              const char     *type)
{
  JsonObject *frame = mesh_test_client_wait_for_type (self, type, MESH_TEST_TIMEOUT_MS);

  g_assert_nonnull (frame);
  return frame;
}

JsonObject *
mesh_test_client_expect_ref (MeshTestClient *self,
                             const char     *ref)
{
  JsonObject *frame = mesh_test_client_wait_for_ref (self, ref, MESH_TEST_TIMEOUT_MS);

  g_assert_nonnull (frame);
  return frame;
}

guint
mesh_test_client_count_type (MeshTestClient *self,
                             const char     *type)
{
  guint n = 0;

  for (GList *l = self->frames.head; l != NULL; l = l->next) {
    if (g_strcmp0 (json_object_get_string_member_with_default (l->data, "type", NULL), type) == 0)
      n++;
  }
  return n;
}

guint
mesh_test_client_get_n_queued (MeshTestClient *self)
{
  return self->frames.length;
}

GPtrArray *
mesh_test_client_take_all (MeshTestClient *self)
{
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  JsonObject *frame;

  while ((frame = g_queue_pop_head (&self->frames)) != NULL)
    g_ptr_array_add (frames, frame);
  return frames;
}

void
mesh_test_client_clear (MeshTestClient *self)
{
  g_queue_clear_full (&self->frames, (GDestroyNotify) json_object_unref);
  g_queue_init (&self->frames);
}

gboolean
mesh_test_client_wait_closed (MeshTestClient *self,
                              guint           timeout_ms)
{
  return mesh_test_wait_flag (&self->closed, timeout_ms);
}

gboolean
mesh_test_client_is_open (MeshTestClient *self)
{
  return !self->closed &&
         soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN;
}

gushort
mesh_test_client_get_close_code (MeshTestClient *self)
{
  return self->close_code;
}

JsonObject *
mesh_test_frame_payload (JsonObject *frame)
{
  JsonNode *node = json_object_get_member (frame, "payload");

  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_node_get_object (node);
}

void
mesh_test_client_join (MeshTestClient *self,
                       const char     *room_id)
{
  g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);
  const char *id = mesh_test_client_send (self, "room.join", payload);
  g_autoptr(JsonObject) frame = mesh_test_client_wait_for_ref (self, id, MESH_TEST_TIMEOUT_MS);

  g_assert_nonnull (frame);
  g_assert_cmpstr (json_object_get_string_member_with_default (frame, "type", NULL), ==,
                   "room.joined");
}

char *
mesh_test_shared_room (MeshTestServer *server,
                       const char     *owner_token,
                       const char     *member_token,
                       const char     *name)
{
  g_autofree char *body = g_strdup_printf ("{\"name\":\"%s\"}", name);
  g_autoptr(MeshTestResponse) created = mesh_test_request (server, "POST", "/api/v1/rooms",
                                                           owner_token, body);
  g_autoptr(MeshTestResponse) invite = NULL;
  g_autoptr(MeshTestResponse) accepted = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *path = NULL;

  g_assert_cmpuint (created->status, ==, 201);
  room_id = g_strdup (json_object_get_string_member (mesh_test_response_object (created),
                                                     "room_id"));
  path = g_strdup_printf ("/api/v1/rooms/%s/invites", room_id);
  invite = mesh_test_request (server, "POST", path, owner_token, NULL);
  g_assert_cmpuint (invite->status, ==, 201);
  g_free (path);
  path = g_strdup_printf ("/api/v1/invites/%s/accept",
                          json_object_get_string_member (mesh_test_response_object (invite),
                                                         "code"));
  accepted = mesh_test_request (server, "POST", path, member_token, NULL);
  g_assert_cmpuint (accepted->status, ==, 200);
  return g_steal_pointer (&room_id);
}

MeshTestServer *
mesh_test_users_get_server (MeshTestUsers      *self,
                            const char         *config_text,
                            const char * const *usernames,
                            const char         *password)
{
  guint n = 0;

  if (self->server != NULL)
    return self->server;

  self->server = mesh_test_server_new (config_text);
  for (; usernames[n] != NULL; n++) {
    g_assert_cmpuint (n, <, MESH_TEST_MAX_USERS);
    self->user_id[n] = mesh_test_server_add_user (self->server, usernames[n], password);
  }
  mesh_test_server_start (self->server);
  for (guint i = 0; i < n; i++) {
    g_autofree char *user_id = NULL;

    self->token[i] = mesh_test_login (self->server, usernames[i], password, &user_id);
    g_assert_cmpstr (user_id, ==, self->user_id[i]);
  }
  return self->server;
}

void
mesh_test_users_clear (MeshTestUsers *self)
{
  if (self->server != NULL && mesh_test_server_is_running (self->server))
    mesh_test_server_stop (self->server);
  g_clear_pointer (&self->server, mesh_test_server_free);
  for (guint i = 0; i < MESH_TEST_MAX_USERS; i++) {
    g_clear_pointer (&self->user_id[i], g_free);
    g_clear_pointer (&self->token[i], g_free);
  }
}
