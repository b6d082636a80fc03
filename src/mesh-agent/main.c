/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "mesh-agent-controller.h"
#include "mesh-agent-state.h"
#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-json.h"

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Exit codes scripts can rely on (docs/agent.md). */
enum {
  EXIT_OK          = 0,
  EXIT_FAILURE_    = 1,
  EXIT_USAGE       = 2,
  EXIT_AUTH        = 3,
  EXIT_UNREACHABLE = 4,
};

#define PASSWORD_MAX 1024

/* Output.  Anything another party chose (file names, user and device names, reasons,
 * messages, ids, error texts that quote them) goes through safe() before it reaches the
 * terminal: an escape sequence in a peer's file name must not drive the user's terminal.
 * The escaped copies live until the line is printed. */

static GPtrArray *scratch;

static const char *
safe (const char *text)
{
  char *escaped = mesh_escape_for_display (text, -1);

  if (scratch == NULL)
    scratch = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (scratch, escaped);
  return escaped;
}

static void say (const char *format, ...) G_GNUC_PRINTF (1, 2);
static void complain (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Prints a line made with safe () arguments, then frees what safe () made. */
static void
print_line (gboolean    to_stderr,
            const char *format,
            va_list     args)
{
  g_autofree char *line = g_strdup_vprintf (format, args);

  if (to_stderr)
    g_printerr ("%s", line);
  else
    g_print ("%s", line);
  if (scratch != NULL)
    g_ptr_array_set_size (scratch, 0);
}

static void
say (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  print_line (FALSE, format, args);
  va_end (args);
}

static void
complain (const char *format,
          ...)
{
  va_list args;

  va_start (args, format);
  print_line (TRUE, format, args);
  va_end (args);
}

typedef struct {
  GMainLoop           *loop;
  int                  exit_code;
  MeshAgentState      *state;
  MeshAgentController *controller;
  SoupSession         *soup;
  GCancellable        *cancellable;
  /* options */
  char                *state_dir;
  char                *server;
  char                *user;
  char                *device_name;
  char                *download_dir;
  char               **accept_from;
  char               **allow_control;
  char                *room;
  char                *to;
  char                *share;
  char                *listen;
  gboolean             control;
  char               **rest;
  /* running command */
  char                *room_id;
  char                *share_id;
  char                *active_session;
  MeshTerminalViewer  *viewer;
  GInputStream        *stdin_stream;
  gboolean             forwarding;
  gboolean             tty;
  gint64               started_at;
  gint64               last_print;
} App;

static void
app_clear (App *app)
{
  g_clear_object (&app->controller);
  g_clear_object (&app->state);
  g_clear_object (&app->soup);
  g_clear_object (&app->cancellable);
  g_clear_object (&app->viewer);
  g_clear_object (&app->stdin_stream);
  g_clear_pointer (&app->loop, g_main_loop_unref);
  g_free (app->state_dir);
  g_free (app->server);
  g_free (app->user);
  g_free (app->device_name);
  g_free (app->download_dir);
  g_strfreev (app->accept_from);
  g_strfreev (app->allow_control);
  g_free (app->room);
  g_free (app->to);
  g_free (app->share);
  g_free (app->listen);
  g_strfreev (app->rest);
  g_free (app->room_id);
  g_free (app->share_id);
  g_free (app->active_session);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (App, app_clear)

static void
app_quit (App *app,
          int  code)
{
  app->exit_code = code;
  g_main_loop_quit (app->loop);
}

static int
exit_code_for (const GError *error)
{
  if (error->domain == MESH_ERROR &&
      (error->code == MESH_ERROR_UNAUTHORIZED || error->code == MESH_ERROR_FORBIDDEN))
    return EXIT_AUTH;
  if (mesh_agent_error_is_unreachable (error) && error->domain != G_IO_ERROR)
    return EXIT_UNREACHABLE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
    return EXIT_UNREACHABLE;
  return EXIT_FAILURE_;
}

static gboolean
on_unix_signal (gpointer user_data)
{
  App *app = user_data;

  complain ("Stopping.\n");
  if (app->share_id != NULL && app->controller != NULL)
    mesh_agent_controller_stop_share (app->controller, app->share_id);
  app_quit (app, EXIT_OK);
  return G_SOURCE_CONTINUE;
}

/* State */

static gboolean
load_state (App  *app,
            int  *code)
{
  g_autoptr(GError) error = NULL;

  app->state = mesh_agent_state_new (app->state_dir);
  if (!mesh_agent_state_load (app->state, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
      complain ("Not logged in (no %s in %s): run `mesh-agent login` first.\n",
                MESH_AGENT_STATE_FILE, app->state_dir);
    else
      complain ("%s\n", safe (error->message));
    *code = EXIT_AUTH;
    return FALSE;
  }
  if (!mesh_agent_state_is_registered (app->state)) {
    complain ("This agent has no registered device: run `mesh-agent login` first.\n");
    *code = EXIT_AUTH;
    return FALSE;
  }
  return TRUE;
}

/* REST, synchronously from a command's point of view */

typedef struct {
  GMainLoop *loop;
  JsonNode  *node;
  GError    *error;
} RestWait;

static void
on_rest_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  RestWait *wait = user_data;

  wait->node = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &wait->error);
  g_main_loop_quit (wait->loop);
}

static JsonNode *
rest_call (App         *app,
           const char  *method,
           const char  *path,
           const char  *token,
           JsonObject  *body,
           GError     **error)
{
  RestWait wait = { g_main_loop_new (NULL, FALSE), NULL, NULL };
  g_autoptr(JsonNode) node = NULL;

  if (body != NULL) {
    node = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (node, body);
  }
  mesh_agent_state_rest_async (app->state, app->soup, method, path, token, node, NULL,
                               on_rest_done, &wait);
  g_main_loop_run (wait.loop);
  g_main_loop_unref (wait.loop);
  if (wait.error != NULL)
    g_propagate_error (error, wait.error);
  return wait.node;
}

static void
on_registered (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  RestWait *wait = user_data;

  mesh_agent_state_register_device_finish (MESH_AGENT_STATE (source), result, &wait->error);
  g_main_loop_quit (wait->loop);
}

static gboolean
register_device (App                *app,
                 MeshAgentIdentity  *identity,
                 const char         *access_token,
                 const char         *name,
                 GError            **error)
{
  RestWait wait = { g_main_loop_new (NULL, FALSE), NULL, NULL };

  mesh_agent_state_register_device_async (app->state, app->soup, identity, access_token, name,
                                          NULL, on_registered, &wait);
  g_main_loop_run (wait.loop);
  g_main_loop_unref (wait.loop);
  if (wait.error != NULL) {
    g_propagate_error (error, wait.error);
    return FALSE;
  }
  return TRUE;
}

static char *
read_password (void)
{
  char buffer[PASSWORD_MAX + 2];
  gsize len;

  if (isatty (STDIN_FILENO))
    complain ("Password: ");
  if (fgets (buffer, sizeof buffer, stdin) == NULL)
    return NULL;
  len = strlen (buffer);
  while (len > 0 && (buffer[len - 1] == '\n' || buffer[len - 1] == '\r'))
    buffer[--len] = '\0';
  return len > 0 ? g_strdup (buffer) : NULL;
}

static int
cmd_login (App *app)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshAgentIdentity) identity = NULL;
  g_autoptr(JsonObject) login = json_object_new ();
  g_autoptr(JsonNode) answer = NULL;
  g_autofree char *password = NULL;
  g_autofree char *access_token = NULL;
  g_autofree char *user_id = NULL;
  const char *token = NULL, *uid = NULL;
  const char *name;

  if (app->server == NULL || app->user == NULL) {
    complain ("login needs --server URL and --user NAME (see --help).\n");
    return EXIT_USAGE;
  }
  if (!g_str_has_prefix (app->server, "http://") && !g_str_has_prefix (app->server, "https://")) {
    complain ("--server must be an http:// or https:// URL.\n");
    return EXIT_USAGE;
  }
  password = read_password ();
  if (password == NULL) {
    complain ("No password on standard input.\n");
    return EXIT_USAGE;
  }

  app->state = mesh_agent_state_new (app->state_dir);
  /* Keep settings of an earlier login; a damaged file is simply replaced. */
  mesh_agent_state_load (app->state, NULL);
  mesh_agent_state_set_server_url (app->state, app->server);
  identity = mesh_agent_state_load_identity (app->state, &error);
  if (identity == NULL) {
    complain ("Cannot create the agent's identity: %s\n", safe (error->message));
    return EXIT_FAILURE_;
  }

  json_object_set_string_member (login, "username", app->user);
  json_object_set_string_member (login, "password", password);
  answer = rest_call (app, "POST", "/auth/login", NULL, login, &error);
  if (answer == NULL) {
    complain ("Login failed: %s\n", safe (error->message));
    return exit_code_for (error);
  }
  if (!JSON_NODE_HOLDS_OBJECT (answer) ||
      !mesh_json_get_string (json_node_get_object (answer), "access_token", TRUE, &token, NULL) ||
      !mesh_json_get_string (json_node_get_object (answer), "user_id", TRUE, &uid, NULL)) {
    complain ("Login failed: the server's answer is malformed.\n");
    return EXIT_FAILURE_;
  }
  access_token = g_strdup (token);
  user_id = g_strdup (uid);

  name = app->device_name != NULL ? app->device_name : g_get_host_name ();
  if (!register_device (app, identity, access_token, name, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA)) {
      complain ("Cannot register this device: the server's answer is malformed.\n");
      return EXIT_FAILURE_;
    }
    complain ("Cannot register this device: %s\n", safe (error->message));
    return exit_code_for (error);
  }

  mesh_agent_state_set_user (app->state, app->user, user_id);
  if (!mesh_agent_state_save (app->state, &error)) {
    complain ("Cannot save the agent's state: %s\n", safe (error->message));
    return EXIT_FAILURE_;
  }
  say ("%s\n", safe (mesh_agent_state_get_device_id (app->state)));
  return EXIT_OK;
}

static int
cmd_devices (App *app)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) answer = NULL;
  JsonArray *array;
  int code;

  if (!load_state (app, &code))
    return code;
  answer = rest_call (app, "GET", "/devices", NULL, NULL, &error);
  if (answer == NULL) {
    complain ("Cannot list devices: %s\n", safe (error->message));
    return exit_code_for (error);
  }
  if (!JSON_NODE_HOLDS_ARRAY (answer)) {
    complain ("Cannot list devices: the server's answer is malformed.\n");
    return EXIT_FAILURE_;
  }
  array = json_node_get_array (answer);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *node = json_array_get_element (array, i);
    const char *id = NULL, *name = NULL, *fingerprint = NULL;

    if (!JSON_NODE_HOLDS_OBJECT (node))
      continue;
    mesh_json_get_string (json_node_get_object (node), "device_id", FALSE, &id, NULL);
    mesh_json_get_string (json_node_get_object (node), "name", FALSE, &name, NULL);
    mesh_json_get_string (json_node_get_object (node), "fingerprint", FALSE, &fingerprint, NULL);
    say ("%s\t%s\t%s%s\n", id != NULL ? safe (id) : "?", name != NULL ? safe (name) : "",
         fingerprint != NULL ? safe (fingerprint) : "",
         g_strcmp0 (id, mesh_agent_state_get_device_id (app->state)) == 0 ? "\t(this device)"
                                                                          : "");
  }
  return EXIT_OK;
}

/* Commands on a running controller */

static void
on_fatal (MeshAgentController *controller,
          GError              *error,
          App                 *app)
{
  complain ("%s\n", safe (error->message));
  app_quit (app, exit_code_for (error));
}

static gboolean
start_controller (App  *app,
                  int  *code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshAgentIdentity) identity = NULL;

  if (!load_state (app, code))
    return FALSE;
  identity = mesh_agent_state_load_identity (app->state, &error);
  if (identity == NULL) {
    complain ("Cannot load the agent's identity: %s\n", safe (error->message));
    *code = EXIT_FAILURE_;
    return FALSE;
  }
  app->controller = mesh_agent_controller_new (app->state, identity);
  if (app->listen != NULL) {
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string (app->listen);

    if (address == NULL) {
      complain ("--listen must be an IP address.\n");
      *code = EXIT_USAGE;
      return FALSE;
    }
    {
      g_autoptr(GSocketAddress) bind = g_inet_socket_address_new (address, 0);

      mesh_agent_controller_set_quic_address (app->controller, G_INET_SOCKET_ADDRESS (bind));
    }
  }
  g_signal_connect (app->controller, "fatal", G_CALLBACK (on_fatal), app);
  g_unix_signal_add (SIGINT, on_unix_signal, app);
  g_unix_signal_add (SIGTERM, on_unix_signal, app);
  return TRUE;
}

static int
run_controller (App *app)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_agent_controller_start (app->controller, &error)) {
    complain ("%s\n", safe (error->message));
    return exit_code_for (error);
  }
  g_main_loop_run (app->loop);
  mesh_agent_controller_stop (app->controller);
  return app->exit_code;
}

static char *
format_size (guint64 bytes)
{
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}

static void
on_session_started (MeshAgentController *controller,
                    const char          *session_id,
                    const char          *kind,
                    const char          *role,
                    const char          *name,
                    const char          *peer,
                    App                 *app)
{
  if (g_str_equal (role, "server"))
    say ("%s session %s from %s: %s\n", safe (kind), safe (session_id), safe (peer),
         name != NULL ? safe (name) : "");
  else
    say ("Sending %s “%s” to %s\n", safe (kind), name != NULL ? safe (name) : "", safe (peer));
  app->started_at = g_get_monotonic_time ();
}

static void
on_session_finished (MeshAgentController *controller,
                     const char          *session_id,
                     const char          *kind,
                     const char          *role,
                     gboolean             ok,
                     guint64              bytes,
                     GError              *error,
                     App                 *app)
{
  g_autofree char *size = format_size (bytes);

  if (g_str_equal (role, "server") && !g_str_equal (kind, "terminal"))
    say ("%s session %s %s (%s)%s%s\n", safe (kind), safe (session_id),
         ok ? "completed" : "failed", size, error != NULL ? ": " : "",
         error != NULL ? safe (error->message) : "");
}

static void
on_session_rejected (MeshAgentController *controller,
                     const char          *session_id,
                     const char          *kind,
                     const char          *peer,
                     const char          *reason,
                     App                 *app)
{
  say ("Refused %s session %s from %s: %s\n", safe (kind), safe (session_id), safe (peer),
       safe (reason));
}

static int
cmd_run (App *app)
{
  int code;

  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_accept_offers (app->controller, TRUE);
  mesh_agent_controller_set_accept_from (app->controller, (const char * const *) app->accept_from);
  if (app->download_dir != NULL) {
    g_autoptr(GFile) dir = g_file_new_for_commandline_arg (app->download_dir);

    mesh_agent_controller_set_download_dir (app->controller, dir);
  }
  g_signal_connect (app->controller, "session-started", G_CALLBACK (on_session_started), app);
  g_signal_connect (app->controller, "session-finished", G_CALLBACK (on_session_finished), app);
  g_signal_connect (app->controller, "session-rejected", G_CALLBACK (on_session_rejected), app);
  return run_controller (app);
}

static void
print_progress (App     *app,
                guint64  done,
                guint64  total,
                gboolean last)
{
  gint64 now = g_get_monotonic_time ();
  double elapsed = (now - app->started_at) / (double) G_USEC_PER_SEC;
  double rate = elapsed > 0 ? done / elapsed : 0;
  g_autofree char *done_s = format_size (done);
  g_autofree char *total_s = format_size (total);
  g_autofree char *rate_s = format_size ((guint64) rate);

  if (!last && now - app->last_print < (app->tty ? G_USEC_PER_SEC / 10 : G_USEC_PER_SEC))
    return;
  app->last_print = now;
  if (app->tty) {
    char bar[31];
    guint filled = total > 0 ? (guint) (30 * (double) done / total) : 30;
    guint64 eta = rate > 0 && total > done ? (guint64) ((total - done) / rate) : 0;

    memset (bar, '#', MIN (filled, 30));
    memset (bar + MIN (filled, 30), '-', 30 - MIN (filled, 30));
    bar[30] = '\0';
    say ("\r[%s] %3u%% %s / %s  %s/s  ETA %" G_GUINT64_FORMAT ":%02" G_GUINT64_FORMAT "  ",
         bar, total > 0 ? (guint) (100 * (double) done / total) : 100, done_s, total_s, rate_s,
         eta / 60, eta % 60);
    if (last)
      say ("\n");
  } else {
    say ("progress %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %s/s\n", done, total, rate_s);
  }
}

static void
on_send_progress (MeshAgentController *controller,
                  const char          *session_id,
                  guint64              done,
                  guint64              total,
                  App                 *app)
{
  print_progress (app, done, total, FALSE);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  if (!mesh_agent_controller_send_finish (MESH_AGENT_CONTROLLER (source), result, &error)) {
    if (app->tty)
      say ("\n");
    complain ("Transfer failed: %s\n", safe (error->message));
    app_quit (app, g_error_matches (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED) ? EXIT_AUTH
                                                                                : EXIT_FAILURE_);
    return;
  }
  say ("%sDone: the receiver confirmed the hash.\n", app->tty ? "\n" : "");
  app_quit (app, EXIT_OK);
}

static gboolean
resolve_room (App *app)
{
  g_autoptr(GError) error = NULL;

  app->room_id = mesh_agent_controller_resolve_room (app->controller, app->room, &error);
  if (app->room_id == NULL) {
    complain ("%s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return FALSE;
  }
  return TRUE;
}

static void
on_send_ready (MeshAgentController *controller,
               App                 *app)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *device_id = NULL;

  if (app->room_id != NULL)
    return;   /* a reconnect: the transfer is already under way */
  if (!resolve_room (app))
    return;
  device_id = mesh_agent_controller_resolve_device (controller, app->room_id, app->to, &error);
  if (device_id == NULL) {
    complain ("%s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  file = g_file_new_for_commandline_arg (app->rest[0]);
  app->started_at = g_get_monotonic_time ();
  mesh_agent_controller_send_async (controller, app->room_id, device_id, file, app->cancellable,
                                    on_sent, app);
}

static int
cmd_send (App *app)
{
  int code;

  if (app->room == NULL || app->to == NULL || app->rest == NULL || g_strv_length (app->rest) != 1) {
    complain ("send needs --room ROOM --to DEVICE and one PATH (see --help).\n");
    return EXIT_USAGE;
  }
  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_reconnect (app->controller, FALSE);
  mesh_agent_controller_set_transient (app->controller, TRUE);
  app->tty = isatty (STDOUT_FILENO);
  g_signal_connect (app->controller, "ready", G_CALLBACK (on_send_ready), app);
  g_signal_connect (app->controller, "session-started", G_CALLBACK (on_session_started), app);
  g_signal_connect (app->controller, "session-progress", G_CALLBACK (on_send_progress), app);
  return run_controller (app);
}

/* Terminal host */

static void
on_shared (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  app->share_id = mesh_agent_controller_share_terminal_finish (MESH_AGENT_CONTROLLER (source),
                                                               result, &error);
  if (app->share_id == NULL) {
    complain ("Cannot share the terminal: %s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  say ("%s\n", safe (app->share_id));
}

static void
on_share_stopped (MeshAgentController *controller,
                  const char          *share_id,
                  App                 *app)
{
  if (g_strcmp0 (share_id, app->share_id) != 0)
    return;
  complain ("The terminal share ended.\n");
  g_clear_pointer (&app->share_id, g_free);
  app_quit (app, EXIT_OK);
}

static void
on_share_ready (MeshAgentController *controller,
                App                 *app)
{
  if (app->room_id != NULL) {
    /* The server ends a share whose host went away: this one is over. */
    if (app->share_id == NULL)
      return;
    complain ("The connection to the server was lost, which ended the share.\n");
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  if (!resolve_room (app))
    return;
  mesh_agent_controller_share_terminal_async (controller, app->room_id,
                                              (const char * const *) app->rest, app->cancellable,
                                              on_shared, app);
}

static int
cmd_share_terminal (App *app)
{
  int code;

  if (app->room == NULL) {
    complain ("share-terminal needs --room ROOM (see --help).\n");
    return EXIT_USAGE;
  }
  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_reconnect (app->controller, FALSE);
  mesh_agent_controller_set_transient (app->controller, TRUE);
  mesh_agent_controller_set_allow_control (app->controller,
                                           (const char * const *) app->allow_control);
  g_signal_connect (app->controller, "ready", G_CALLBACK (on_share_ready), app);
  g_signal_connect (app->controller, "share-stopped", G_CALLBACK (on_share_stopped), app);
  return run_controller (app);
}

/* Terminal viewer */

static void read_stdin (App *app);

static void
on_stdin_read (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0) {
    app->forwarding = FALSE;
    return;
  }
  if (app->viewer != NULL && app->forwarding)
    mesh_terminal_viewer_send_input (app->viewer, g_bytes_get_data (bytes, NULL),
                                     g_bytes_get_size (bytes));
  if (app->forwarding)
    read_stdin (app);
}

static void
read_stdin (App *app)
{
  if (app->stdin_stream == NULL)
    app->stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  g_input_stream_read_bytes_async (app->stdin_stream, 4096, G_PRIORITY_DEFAULT, app->cancellable,
                                   on_stdin_read, app);
}

static void
on_viewer_output (MeshTerminalViewer *viewer,
                  GBytes             *data,
                  App                *app)
{
  fwrite (g_bytes_get_data (data, NULL), 1, g_bytes_get_size (data), stdout);
  fflush (stdout);
}

static void
on_viewer_closed (MeshTerminalViewer *viewer,
                  GError             *error,
                  App                *app)
{
  if (error != NULL) {
    complain ("\nThe terminal session failed: %s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  complain ("\nThe terminal share ended.\n");
  app_quit (app, EXIT_OK);
}

static void
on_host_error (MeshTerminalViewer *viewer,
               const char         *code,
               const char         *message,
               App                *app)
{
  complain ("\nThe host says %s: %s\n", safe (code), safe (message));
}

static void
on_control_changed (MeshAgentController *controller,
                    const char          *share_id,
                    const char          *controller_peer_id,
                    App                 *app)
{
  gboolean mine = g_strcmp0 (controller_peer_id, mesh_agent_controller_get_peer_id (controller)) == 0;

  if (g_strcmp0 (share_id, app->share) != 0)
    return;
  complain ("\n%s\n", mine ? "You have control: standard input goes to the terminal."
                           : controller_peer_id != NULL ? "Someone else has control."
                                                        : "Control was released.");
  if (mine && !app->forwarding) {
    app->forwarding = TRUE;
    read_stdin (app);
  } else if (!mine) {
    app->forwarding = FALSE;
  }
}

static void
on_control_denied (MeshAgentController *controller,
                   const char          *share_id,
                   const char          *reason,
                   App                 *app)
{
  if (g_strcmp0 (share_id, app->share) == 0)
    complain ("\nControl denied%s%s\n", reason != NULL ? ": " : "",
              reason != NULL ? safe (reason) : "");
}

static void
on_viewing (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  app->viewer = mesh_agent_controller_view_terminal_finish (MESH_AGENT_CONTROLLER (source), result,
                                                           &error);
  if (app->viewer == NULL) {
    complain ("Cannot view the terminal: %s\n", safe (error->message));
    app_quit (app, EXIT_FAILURE_);
    return;
  }
  g_signal_connect (app->viewer, "output", G_CALLBACK (on_viewer_output), app);
  g_signal_connect (app->viewer, "closed", G_CALLBACK (on_viewer_closed), app);
  g_signal_connect (app->viewer, "host-error", G_CALLBACK (on_host_error), app);
  if (app->control)
    mesh_agent_controller_take_control (MESH_AGENT_CONTROLLER (source), app->share);
}

static void
on_view_ready (MeshAgentController *controller,
               App                 *app)
{
  if (app->room_id != NULL)
    return;
  if (!resolve_room (app))
    return;
  mesh_agent_controller_view_terminal_async (controller, app->room_id, app->share,
                                             app->cancellable, on_viewing, app);
}

static int
cmd_view_terminal (App *app)
{
  int code;

  if (app->room == NULL || app->share == NULL) {
    complain ("view-terminal needs --room ROOM and --share ID (see --help).\n");
    return EXIT_USAGE;
  }
  if (!start_controller (app, &code))
    return code;
  mesh_agent_controller_set_reconnect (app->controller, FALSE);
  mesh_agent_controller_set_transient (app->controller, TRUE);
  g_signal_connect (app->controller, "ready", G_CALLBACK (on_view_ready), app);
  g_signal_connect (app->controller, "control-changed", G_CALLBACK (on_control_changed), app);
  g_signal_connect (app->controller, "control-denied", G_CALLBACK (on_control_denied), app);
  return run_controller (app);
}

/* Command line */

typedef struct {
  const char *name;
  const char *parameters;
  const char *summary;
  int       (*run) (App *app);
} Command;

static const Command commands[] = {
  { "login", "", "Log in (password on standard input) and register this device", cmd_login },
  { "devices", "", "List your devices", cmd_devices },
  { "run", "", "Serve incoming sessions until SIGINT or SIGTERM", cmd_run },
  { "send", "PATH", "Send a file or a folder to a device", cmd_send },
  { "share-terminal", "[-- COMMAND…]", "Share a terminal (your shell by default)",
    cmd_share_terminal },
  { "view-terminal", "", "Watch a shared terminal", cmd_view_terminal },
};

static void
add_entries (GOptionContext *context,
             const Command  *command,
             App            *app)
{
  const GOptionEntry common[] = {
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &app->state_dir,
      "The agent's state folder (default $XDG_STATE_HOME/mesh-agent)", "DIR" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &app->rest, NULL, NULL },
    { NULL }
  };
  const GOptionEntry login[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &app->server, "The server's URL", "URL" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &app->user, "Your user name", "NAME" },
    { "device-name", 0, 0, G_OPTION_ARG_STRING, &app->device_name,
      "This device's name (default: the host name)", "NAME" },
    { NULL }
  };
  const GOptionEntry listen[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &app->listen,
      "The IP address QUIC listens on (default 0.0.0.0)", "ADDRESS" },
    { NULL }
  };
  const GOptionEntry run[] = {
    { "download-dir", 0, 0, G_OPTION_ARG_FILENAME, &app->download_dir,
      "Where received files go (default: the XDG download folder)", "DIR" },
    { "accept-from", 0, 0, G_OPTION_ARG_STRING_ARRAY, &app->accept_from,
      "Accept files from this user (repeatable; your own devices always)", "USER" },
    { NULL }
  };
  const GOptionEntry room[] = {
    { "room", 0, 0, G_OPTION_ARG_STRING, &app->room, "The room's id or name", "ROOM" },
    { NULL }
  };
  const GOptionEntry send[] = {
    { "to", 0, 0, G_OPTION_ARG_STRING, &app->to,
      "The receiving device: its id, or user/device-name for your own devices", "DEVICE" },
    { NULL }
  };
  const GOptionEntry share[] = {
    { "allow-control", 0, 0, G_OPTION_ARG_STRING_ARRAY, &app->allow_control,
      "Grant control to this user when asked (repeatable; others are denied)", "USER" },
    { NULL }
  };
  const GOptionEntry view[] = {
    { "share", 0, 0, G_OPTION_ARG_STRING, &app->share, "The share's id", "ID" },
    { "control", 0, 0, G_OPTION_ARG_NONE, &app->control,
      "Ask for control; once granted, standard input is typed into the terminal", NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, common, NULL);
  if (g_str_equal (command->name, "login"))
    g_option_context_add_main_entries (context, login, NULL);
  if (g_str_equal (command->name, "run"))
    g_option_context_add_main_entries (context, run, NULL);
  if (g_str_equal (command->name, "send") || g_str_has_suffix (command->name, "-terminal"))
    g_option_context_add_main_entries (context, room, NULL);
  if (g_str_equal (command->name, "send"))
    g_option_context_add_main_entries (context, send, NULL);
  if (g_str_equal (command->name, "share-terminal"))
    g_option_context_add_main_entries (context, share, NULL);
  if (g_str_equal (command->name, "view-terminal"))
    g_option_context_add_main_entries (context, view, NULL);
  if (!g_str_equal (command->name, "login") && !g_str_equal (command->name, "devices"))
    g_option_context_add_main_entries (context, listen, NULL);
}

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: mesh-agent COMMAND [OPTION…]\n\nThe headless Mesh agent.\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-16s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun `mesh-agent COMMAND --help` for a command's options.\n"
                "Exit codes: 0 ok, 1 failure, 2 usage, 3 not logged in or refused, "
                "4 server unreachable.\n");
}

int
main (int   argc,
      char *argv[])
{
  g_auto(App) app = { 0 };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *parameter = NULL;
  const Command *command = NULL;
  char **args;
  int n_args;
  int code;

  /* libarchive converts names through the locale's character set. */
  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);

  if (argc < 2 || g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") ||
      g_str_equal (argv[1], "help")) {
    print_usage (argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  if (g_str_equal (argv[1], "--version")) {
    say ("mesh-agent %s (protocol %s)\n", PACKAGE_VERSION, MESH_PROTOCOL_VERSION);
    return EXIT_OK;
  }
  /* Options may come before the command ("mesh-agent --state-dir D send …"):
   * move the first command word to the front, keeping the rest in order. */
  for (int i = 2; i < argc && argv[1][0] == '-'; i++) {
    const char *previous = argv[i - 1];
    gboolean is_value = g_str_equal (previous, "--state-dir") || g_str_equal (previous, "--listen");
    gboolean is_command = FALSE;

    for (guint j = 0; j < G_N_ELEMENTS (commands); j++)
      is_command |= g_str_equal (argv[i], commands[j].name);
    if (is_command && !is_value) {
      char *word = argv[i];

      memmove (&argv[2], &argv[1], (i - 1) * sizeof (char *));
      argv[1] = word;
      break;
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (g_str_equal (argv[1], commands[i].name))
      command = &commands[i];
  }
  if (command == NULL) {
    complain ("Unknown command “%s”.\n\n", safe (argv[1]));
    print_usage (stderr);
    return EXIT_USAGE;
  }

  parameter = g_strdup_printf ("%s %s", command->name, command->parameters);
  context = g_option_context_new (parameter);
  g_option_context_set_summary (context, command->summary);
  add_entries (context, command, &app);
  /* argv[1] is the command: the option parser starts after it. */
  args = argv + 1;
  n_args = argc - 1;
  args[0] = argv[0];
  if (!g_option_context_parse (context, &n_args, &args, &error)) {
    complain ("%s\n", safe (error->message));
    return EXIT_USAGE;
  }
  if (app.rest != NULL && !g_str_equal (command->name, "send") &&
      !g_str_equal (command->name, "share-terminal")) {
    complain ("Unexpected argument “%s”.\n", safe (app.rest[0]));
    return EXIT_USAGE;
  }
  if (app.state_dir == NULL)
    app.state_dir = mesh_agent_state_default_dir ();

  app.loop = g_main_loop_new (NULL, FALSE);
  app.soup = soup_session_new ();
  app.cancellable = g_cancellable_new ();
  code = command->run (&app);
  return code;
}
