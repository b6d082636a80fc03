/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-server"

#include "config.h"

#include "mesh-error.h"
#include "mesh-server.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct {
  MeshConfig *config;
  MeshServer *server;
  int         exit_status;
} Daemon;

/* Command line options; applied over the config file. */
static char *opt_config;
static char *opt_listen;
static char *opt_legacy_listen;
static gboolean opt_no_legacy;
static char *opt_data_dir;
static gboolean opt_open_registration;
static char *opt_tls_cert;
static char *opt_tls_key;
static gboolean opt_version;

static const GOptionEntry entries[] = {
  { "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config, "Read settings from FILE (GKeyFile)", "FILE" },
  { "listen", 'l', 0, G_OPTION_ARG_STRING, &opt_listen,
    "REST and WebSocket address (default " MESH_DEFAULT_LISTEN ")", "HOST:PORT" },
  { "legacy-listen", 0, 0, G_OPTION_ARG_STRING, &opt_legacy_listen,
    "Legacy relay address (default " MESH_DEFAULT_LEGACY_LISTEN ")", "HOST:PORT" },
  { "no-legacy", 0, 0, G_OPTION_ARG_NONE, &opt_no_legacy, "Do not serve the legacy relay", NULL },
  { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_data_dir, "Database and signing key folder", "DIR" },
  { "open-registration", 0, 0, G_OPTION_ARG_NONE, &opt_open_registration,
    "Let anyone create an account with POST /api/v1/auth/register", NULL },
  { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_tls_cert, "TLS certificate (PEM)", "FILE" },
  { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &opt_tls_key, "TLS private key (PEM)", "FILE" },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
  { NULL }
};

static MeshConfig *
build_config (GError **error)
{
  g_autoptr(MeshConfig) config = mesh_config_new ();

  if (opt_config != NULL && !mesh_config_load_file (config, opt_config, error))
    return NULL;

#define OVERRIDE(field, value) \
  if (value != NULL) { g_free (config->field); config->field = g_strdup (value); }
  OVERRIDE (listen, opt_listen);
  OVERRIDE (legacy_listen, opt_legacy_listen);
  OVERRIDE (data_dir, opt_data_dir);
  OVERRIDE (tls_cert, opt_tls_cert);
  OVERRIDE (tls_key, opt_tls_key);
#undef OVERRIDE
  if (opt_legacy_listen != NULL)
    config->legacy_enabled = TRUE;
  if (opt_no_legacy)
    config->legacy_enabled = FALSE;
  if (opt_open_registration)
    config->open_registration = TRUE;

  if (!mesh_config_validate (config, error))
    return NULL;
  return g_steal_pointer (&config);
}

/* The password comes on standard input: the whole first line, so that it
 * never shows in the process list or the shell history. */
static char *
read_password (GError **error)
{
  g_autoptr(GString) line = g_string_new (NULL);
  int c;

  if (isatty (STDIN_FILENO))
    g_printerr ("Password: ");
  while ((c = getchar ()) != EOF && c != '\n')
    g_string_append_c (line, (char) c);
  if (line->len > 0 && line->str[line->len - 1] == '\r')
    g_string_truncate (line, line->len - 1);
  if (line->len == 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "no password on standard input");
    return NULL;
  }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

static int
user_command (int    argc,
              char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshConfig) config = NULL;
  g_autoptr(MeshStore) store = NULL;

  config = mesh_config_new ();
  if (opt_config != NULL && !mesh_config_load_file (config, opt_config, &error))
    goto fail;
  if (opt_data_dir != NULL) {
    g_free (config->data_dir);
    config->data_dir = g_strdup (opt_data_dir);
  }

  if (argc >= 4 && g_str_equal (argv[2], "add") && argc == 4) {
    g_autofree char *password = NULL;
    g_autofree char *user_id = NULL;

    password = read_password (&error);
    if (password == NULL)
      goto fail;
    store = mesh_server_open_store (config->data_dir, &error);
    if (store == NULL)
      goto fail;
    user_id = mesh_store_add_user (store, argv[3], password, &error);
    if (user_id == NULL)
      goto fail;
    g_print ("Added user %s (%s)\n", argv[3], user_id);
    return EXIT_SUCCESS;
  }

  if (argc == 3 && g_str_equal (argv[2], "list")) {
    g_autoptr(GPtrArray) users = NULL;

    store = mesh_server_open_store (config->data_dir, &error);
    if (store == NULL)
      goto fail;
    users = mesh_store_list_users (store, &error);
    if (users == NULL)
      goto fail;
    for (guint i = 0; i < users->len; i++)
      g_print ("%s\n", (const char *) g_ptr_array_index (users, i));
    return EXIT_SUCCESS;
  }

  g_printerr ("Usage: mesh-server [--data-dir DIR] user add NAME   (password on stdin)\n"
              "       mesh-server [--data-dir DIR] user list\n");
  return 2;

fail:
  g_printerr ("mesh-server: %s\n", error->message);
  return EXIT_FAILURE;
}

static gboolean
quit_cb (gpointer user_data)
{
  g_message ("Shutting down");
  g_application_quit (G_APPLICATION (user_data));
  return G_SOURCE_REMOVE;
}

static void
startup_cb (GApplication *app,
            Daemon       *daemon)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *legacy_url = NULL;

  daemon->server = mesh_server_new (daemon->config, &error);
  if (daemon->server == NULL || !mesh_server_start (daemon->server, &error)) {
    g_printerr ("mesh-server: %s\n", error->message);
    daemon->exit_status = EXIT_FAILURE;
    return;
  }

  url = mesh_server_get_url (daemon->server);
  legacy_url = mesh_server_get_legacy_url (daemon->server);
  g_print ("mesh-server %s (protocol %s) ready\n", PACKAGE_VERSION, MESH_PROTOCOL_VERSION);
  g_print ("  REST       %s/api/v1\n", url);
  g_print ("  WebSocket  %s%s/ws\n", g_str_has_prefix (url, "https") ? "wss" : "ws",
           strchr (url, ':'));
  if (legacy_url != NULL)
    g_print ("  legacy     %s/ (TEMPORARY relay)\n", legacy_url);
  g_print ("  data       %s\n", daemon->config->data_dir);
  fflush (stdout);

  g_unix_signal_add (SIGINT, quit_cb, app);
  g_unix_signal_add (SIGTERM, quit_cb, app);
  g_application_hold (app);
}

static void
activate_cb (GApplication *app,
             Daemon       *daemon)
{
  /* Nothing to show: the daemon runs from startup until a signal. */
}

static void
shutdown_cb (GApplication *app,
             Daemon       *daemon)
{
  if (daemon->server != NULL)
    mesh_server_stop (daemon->server);
  g_clear_object (&daemon->server);
}

/* libsoup 3.2 logs two g_debug() lines for each WebSocket frame, and GLib
 * 2.74's g_log() formats the message before it asks whether anyone wants
 * it: ~5 % of the relay's CPU for nothing.  This definition takes the place
 * of GLib's for the libraries this program links (the dynamic linker binds
 * their g_log to the executable's), and drops debug messages nobody asked
 * for (G_MESSAGES_DEBUG) before formatting them; the rest goes on to
 * g_logv() unchanged. */
void
g_log (const gchar    *log_domain,
       GLogLevelFlags  log_level,
       const gchar    *format,
       ...)
{
  va_list args;

  if ((log_level & G_LOG_LEVEL_MASK) == G_LOG_LEVEL_DEBUG &&
      g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, log_domain))
    return;
  va_start (args, format);
  g_logv (log_domain, log_level, format, args);
  va_end (args);
}

/* Every socket is a descriptor: the soft limit (often 1 024) would refuse
 * sockets long before the hard one.  Best effort. */
static void
raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
    g_debug ("setrlimit(RLIMIT_NOFILE): %s", g_strerror (errno));
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GApplication) app = NULL;
  g_autoptr(GError) error = NULL;
  Daemon daemon = { 0 };
  char *app_argv[] = { argv[0], NULL };
  int status;

  setlocale (LC_ALL, "");

  context = g_option_context_new ("[user add NAME | user list]");
  g_option_context_set_summary (context, "The Mesh control-plane server (protocol " MESH_PROTOCOL_VERSION ").");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("mesh-server: %s\nTry “mesh-server --help”.\n", error->message);
    return 2;
  }
  if (opt_version) {
    g_print ("mesh-server %s (protocol %s)\n", PACKAGE_VERSION, MESH_PROTOCOL_VERSION);
    return EXIT_SUCCESS;
  }
  if (argc >= 2 && g_str_equal (argv[1], "user"))
    return user_command (argc, argv);
  if (argc > 1) {
    g_printerr ("mesh-server: unexpected argument “%s”\nTry “mesh-server --help”.\n", argv[1]);
    return 2;
  }

  raise_fd_limit ();
  daemon.config = build_config (&error);
  if (daemon.config == NULL) {
    g_printerr ("mesh-server: %s\n", error->message);
    return EXIT_FAILURE;
  }

  /* A service without D-Bus: servers have no session bus, and several
   * instances (tests, benchmarks) run side by side. */
  app = g_application_new ("org.mesh.Server", G_APPLICATION_IS_SERVICE | G_APPLICATION_NON_UNIQUE);
  g_signal_connect (app, "startup", G_CALLBACK (startup_cb), &daemon);
  g_signal_connect (app, "activate", G_CALLBACK (activate_cb), &daemon);
  g_signal_connect (app, "shutdown", G_CALLBACK (shutdown_cb), &daemon);
  status = g_application_run (app, 1, app_argv);

  mesh_config_free (daemon.config);
  return daemon.exit_status != 0 ? daemon.exit_status : status;
}
