/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "client-test-server.h"

#include "mesh-ids.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define START_TIMEOUT_S 30
#define STOP_TIMEOUT_S  30

struct _ClientTestServer {
  char         *data_dir;
  char         *tls_cert;
  char         *tls_key;
  gboolean      open_registration;
  guint         port;
  char         *url;
  GSubprocess  *process;
  GCancellable *cancellable;
  gboolean      exited;
  GString      *output;
};

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
client_test_wait_flag (const gboolean *flag,
                       guint           timeout_s)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, set_flag_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return *flag;
}

static const char *
server_binary (void)
{
  const char *bin = g_getenv ("MESH_SERVER_BIN");

  if (bin == NULL)
    g_error ("MESH_SERVER_BIN is not set (run the tests with meson test)");
  return bin;
}

ClientTestServer *
client_test_server_new (void)
{
  g_autoptr(GError) error = NULL;
  ClientTestServer *self = g_new0 (ClientTestServer, 1);

  self->data_dir = g_dir_make_tmp ("mesh-client-test-XXXXXX", &error);
  g_assert_no_error (error);
  self->output = g_string_new (NULL);
  return self;
}

static void
remove_tree (GFile *dir)
{
  g_autoptr(GFileEnumerator) children = NULL;
  GFileInfo *info;
  GFile *child;

  children = g_file_enumerate_children (dir, G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  while (children != NULL && g_file_enumerator_iterate (children, &info, &child, NULL, NULL) &&
         info != NULL) {
    if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
      remove_tree (child);
    else
      g_file_delete (child, NULL, NULL);
  }
  g_file_delete (dir, NULL, NULL);
}

void
client_test_server_free (ClientTestServer *self)
{
  g_autoptr(GFile) dir = NULL;

  if (self == NULL)
    return;
  if (self->process != NULL && !self->exited)
    g_subprocess_force_exit (self->process);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->process);
  dir = g_file_new_for_path (self->data_dir);
  remove_tree (dir);
  g_free (self->data_dir);
  g_free (self->tls_cert);
  g_free (self->tls_key);
  g_free (self->url);
  g_string_free (self->output, TRUE);
  g_free (self);
}

const char *
client_test_server_get_data_dir (ClientTestServer *self)
{
  return self->data_dir;
}

void
client_test_server_set_tls (ClientTestServer *self,
                            const char       *cert_path,
                            const char       *key_path)
{
  g_free (self->tls_cert);
  g_free (self->tls_key);
  self->tls_cert = g_strdup (cert_path);
  self->tls_key = g_strdup (key_path);
}

void
client_test_server_set_open_registration (ClientTestServer *self,
                                          gboolean          open)
{
  self->open_registration = open;
}

char *
client_test_server_add_user (ClientTestServer *self,
                             const char       *username,
                             const char       *password)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autofree char *input = g_strdup_printf ("%s\n", password);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *open, *close;

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                              server_binary (), "--data-dir", self->data_dir, "user", "add",
                              username, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, input, NULL, &out, &err, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    g_error ("mesh-server user add %s failed: %s%s", username, out, err);

  /* "Added user NAME (USER_ID)" */
  open = strrchr (out, '(');
  close = strrchr (out, ')');
  g_assert_nonnull (open);
  g_assert_nonnull (close);
  return g_strndup (open + 1, (gsize) (close - open - 1));
}

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  ClientTestServer *self;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                    &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = user_data;
  if (line == NULL)
    return;

  g_string_append_printf (self->output, "%s\n", line);
  /* "  REST       http://127.0.0.1:PORT/api/v1" */
  if (self->url == NULL && strstr (line, "REST") != NULL && g_str_has_suffix (line, "/api/v1")) {
    const char *url = strrchr (line, ' ') + 1;
    const char *port = strrchr (url, ':') + 1;

    self->url = g_strndup (url, strlen (url) - strlen ("/api/v1"));
    self->port = (guint) g_ascii_strtoull (port, NULL, 10);
  }
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

/* A test that aborts half-way must not leave its server running (holding
 * the test's output open, so that meson waits for it). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static gboolean
url_or_exit (ClientTestServer *self)
{
  return self->url != NULL || self->exited;
}

void
client_test_server_start (ClientTestServer *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  gboolean timed_out = FALSE;
  guint timeout_id;

  g_assert_true (self->process == NULL || self->exited);
  g_clear_object (&self->process);
  g_clear_object (&self->cancellable);

  g_ptr_array_add (argv, g_strdup (server_binary ()));
  g_ptr_array_add (argv, g_strdup ("--listen"));
  g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%u", self->port));
  g_ptr_array_add (argv, g_strdup ("--no-legacy"));
  g_ptr_array_add (argv, g_strdup ("--data-dir"));
  g_ptr_array_add (argv, g_strdup (self->data_dir));
  if (self->tls_cert != NULL) {
    g_ptr_array_add (argv, g_strdup ("--tls-cert"));
    g_ptr_array_add (argv, g_strdup (self->tls_cert));
    g_ptr_array_add (argv, g_strdup ("--tls-key"));
    g_ptr_array_add (argv, g_strdup (self->tls_key));
  }
  if (self->open_registration)
    g_ptr_array_add (argv, g_strdup ("--open-registration"));
  g_ptr_array_add (argv, NULL);

  g_clear_pointer (&self->url, g_free);
  g_string_truncate (self->output, 0);
  self->exited = FALSE;
  self->cancellable = g_cancellable_new ();
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  self->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata,
                                                &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (self->process, self->cancellable, wait_cb, &self->exited);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->process));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, self->cancellable,
                                       read_line_cb, self);

  timeout_id = g_timeout_add_seconds (START_TIMEOUT_S, set_flag_cb, &timed_out);
  while (!url_or_exit (self) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  if (self->url == NULL)
    g_error ("mesh-server did not start; it printed:\n%s", self->output->str);
}

void
client_test_server_stop (ClientTestServer *self)
{
  g_assert_nonnull (self->process);
  g_assert_false (self->exited);

  g_subprocess_send_signal (self->process, SIGTERM);
  if (!client_test_wait_flag (&self->exited, STOP_TIMEOUT_S))
    g_error ("mesh-server did not exit after SIGTERM");
  g_assert_true (g_subprocess_get_if_exited (self->process));
  g_assert_cmpint (g_subprocess_get_exit_status (self->process), ==, 0);
}

const char *
client_test_server_get_url (ClientTestServer *self)
{
  g_assert_nonnull (self->url);
  return self->url;
}

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
client_test_make_certificate (const char  *dir,
                              char       **cert_path,
                              char       **key_path)
{
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
  gnutls_datum_t pem = { NULL, 0 };
  gnutls_datum_t der = { NULL, 0 };
  unsigned char serial[16];
  unsigned char loopback[4] = { 127, 0, 0, 1 };
  time_t now = time (NULL);
  char *fingerprint;

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
  check_tls (gnutls_x509_crt_set_dn (crt, "CN=127.0.0.1", NULL));
  check_tls (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, loopback,
                                                   sizeof loopback, GNUTLS_FSAN_SET));
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
