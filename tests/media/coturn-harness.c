/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "coturn-harness"

#include "coturn-harness.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define START_TIMEOUT_MS 10000

struct _MeshTestCoturn {
  GSubprocess *process;
  char        *dir;
  char        *log_path;
  char        *address;
  guint16      port;
};

/* A port free for both UDP and TCP on @address (coturn listens on both).
 * Another process may take it before coturn does: the caller retries. */
static guint16
pick_port (GInetAddress  *address,
           GError       **error)
{
  for (guint attempt = 0; attempt < 20; attempt++) {
    g_autoptr(GSocket) udp = g_socket_new (g_inet_address_get_family (address),
                                           G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
    g_autoptr(GSocket) tcp = NULL;
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new (address, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GSocketAddress) same = NULL;
    guint16 port;

    if (udp == NULL || !g_socket_bind (udp, any, FALSE, error))
      return 0;
    bound = g_socket_get_local_address (udp, error);
    if (bound == NULL)
      return 0;
    port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
    tcp = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                        G_SOCKET_PROTOCOL_TCP, error);
    if (tcp == NULL)
      return 0;
    same = g_inet_socket_address_new (address, port);
    if (g_socket_bind (tcp, same, FALSE, NULL))
      return port;
  }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE, "no free port for coturn");
  return 0;
}

/* A test that crashes must not leave coturn behind. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
wait_listening (MeshTestCoturn *self)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (self->address);
  g_autoptr(GSocketAddress) target = g_inet_socket_address_new (inet, self->port);
  gint64 deadline = g_get_monotonic_time () + START_TIMEOUT_MS * 1000;

  while (g_get_monotonic_time () < deadline) {
    g_autoptr(GSocket) socket = g_socket_new (g_inet_address_get_family (inet),
                                              G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                              NULL);

    /* Exited (reaped by GLib's worker thread): no identifier. */
    if (g_subprocess_get_identifier (self->process) == NULL)
      return FALSE;
    if (socket != NULL && g_socket_connect (socket, target, NULL, NULL))
      return TRUE;
    g_usleep (50 * 1000);
  }
  return FALSE;
}

static void
print_log (MeshTestCoturn *self)
{
  g_autofree char *log = NULL;

  if (g_file_get_contents (self->log_path, &log, NULL, NULL))
    g_printerr ("--- coturn log ---\n%s--- end of coturn log ---\n", log);
}

static void
stop_process (MeshTestCoturn *self)
{
  if (self->process == NULL)
    return;
  if (g_subprocess_get_identifier (self->process) != NULL) {
    gint64 deadline = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;

    g_subprocess_send_signal (self->process, SIGTERM);
    while (g_subprocess_get_identifier (self->process) != NULL &&
           g_get_monotonic_time () < deadline) {
      /* GSubprocess reaps through the GLib worker: poll it. */
      g_usleep (20 * 1000);
      g_main_context_iteration (NULL, FALSE);
    }
    if (g_subprocess_get_identifier (self->process) != NULL)
      g_subprocess_force_exit (self->process);
    g_subprocess_wait (self->process, NULL, NULL);
  }
  g_clear_object (&self->process);
}

void
mesh_test_coturn_free (MeshTestCoturn *self)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (self == NULL)
    return;
  stop_process (self);
  dir = g_dir_open (self->dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (self->dir, name, NULL);

    g_unlink (path);
  }
  g_rmdir (self->dir);
  g_free (self->dir);
  g_free (self->log_path);
  g_free (self->address);
  g_free (self);
}

MeshTestCoturn *
mesh_test_coturn_start (const char  *address,
                        const char  *secret,
                        GError     **error)
{
  g_autoptr(MeshTestCoturn) self = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  g_autofree char *binary = g_find_program_in_path ("turnserver");

  g_return_val_if_fail (address != NULL && secret != NULL, NULL);

  if (binary == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                         "turnserver is not installed (Debian package coturn)");
    return NULL;
  }
  inet = g_inet_address_new_from_string (address);
  if (inet == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not an IP address",
                 address);
    return NULL;
  }

  self = g_new0 (MeshTestCoturn, 1);
  self->address = g_strdup (address);
  self->dir = g_dir_make_tmp ("mesh-coturn-XXXXXX", error);
  if (self->dir == NULL)
    return NULL;
  self->log_path = g_build_filename (self->dir, "turn.log", NULL);

  for (guint attempt = 0; attempt < 3; attempt++) {
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autofree char *port_arg = NULL;
    g_autofree char *listen_arg = g_strconcat ("--listening-ip=", address, NULL);
    g_autofree char *relay_arg = g_strconcat ("--relay-ip=", address, NULL);
    g_autofree char *secret_arg = g_strconcat ("--static-auth-secret=", secret, NULL);
    g_autofree char *log_arg = g_strconcat ("--log-file=", self->log_path, NULL);
    g_autofree char *db_arg = g_strconcat ("--userdb=", self->dir, "/turndb", NULL);
    g_autofree char *pid_arg = g_strconcat ("--pidfile=", self->dir, "/turnserver.pid", NULL);

    self->port = pick_port (inet, error);
    if (self->port == 0)
      return NULL;
    port_arg = g_strdup_printf ("--listening-port=%u", self->port);
    launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                          G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
    self->process = g_subprocess_launcher_spawn (launcher, error, binary, "-n",
                                                 listen_arg, relay_arg, port_arg,
                                                 "--use-auth-secret", secret_arg,
                                                 "--realm=mesh.test", "--allow-loopback-peers",
                                                 "--no-tls", "--no-dtls", "--no-cli", "--verbose",
                                                 "--no-software-attribute", "--no-rfc5780",
                                                 "--no-stdout-log", "--simple-log", log_arg,
                                                 db_arg, pid_arg, NULL);
    if (self->process == NULL)
      return NULL;
    if (wait_listening (self))
      return g_steal_pointer (&self);
    print_log (self);
    stop_process (self);
  }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "turnserver did not start on %s", address);
  return NULL;
}

guint16
mesh_test_coturn_get_port (MeshTestCoturn *self)
{
  return self->port;
}

char *
mesh_test_coturn_get_uri (MeshTestCoturn *self)
{
  if (strchr (self->address, ':') != NULL)
    return g_strdup_printf ("turn:[%s]:%u?transport=udp", self->address, self->port);
  return g_strdup_printf ("turn:%s:%u?transport=udp", self->address, self->port);
}

guint
mesh_test_coturn_count_log (MeshTestCoturn *self,
                            const char     *needle)
{
  g_autofree char *log = NULL;
  guint count = 0;

  if (!g_file_get_contents (self->log_path, &log, NULL, NULL))
    return 0;
  for (const char *p = strstr (log, needle); p != NULL; p = strstr (p + 1, needle))
    count++;
  return count;
}

gboolean
mesh_test_coturn_try_allocate (MeshTestCoturn  *self,
                               const char      *username,
                               const char      *password,
                               char           **output)
{
  g_autoptr(GSubprocess) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *port = g_strdup_printf ("%u", self->port);
  gboolean ok;

  client = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                             &error, "turnutils_uclient", "-y", "-n", "5", "-p", port,
                             "-u", username, "-w", password, self->address, NULL);
  if (client == NULL) {
    if (output != NULL)
      *output = g_strdup (error->message);
    return FALSE;
  }
  if (!g_subprocess_communicate_utf8 (client, NULL, NULL, &out, NULL, &error)) {
    if (output != NULL)
      *output = g_strdup (error->message);
    return FALSE;
  }
  /* It exits 0 either way: read what it says ("tot_send_msgs=N,
   * tot_recv_msgs=M" per client, then in all). */
  ok = FALSE;
  if (out != NULL && strstr (out, "ERROR") == NULL) {
    g_autoptr(GRegex) regex = g_regex_new ("tot_send_msgs=(\\d+), tot_recv_msgs=(\\d+)", 0, 0,
                                           NULL);
    g_autoptr(GMatchInfo) match = NULL;

    g_regex_match (regex, out, 0, &match);
    while (g_match_info_matches (match)) {
      g_autofree char *sent = g_match_info_fetch (match, 1);
      g_autofree char *received = g_match_info_fetch (match, 2);

      ok = g_ascii_strtoull (received, NULL, 10) > 0 && g_str_equal (sent, received);
      g_match_info_next (match, NULL);
    }
  }
  if (output != NULL)
    *output = g_steal_pointer (&out);
  return ok;
}
