/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "cli-private.h"

#include <locale.h>

/* Output.  Anything another party chose (file names, user and device names, reasons,
 * messages, ids, error texts that quote them) goes through safe() before it reaches the
 * terminal: an escape sequence in a peer's file name must not drive the user's terminal.
 * The escaped copies live until the line is printed. */

static GPtrArray *scratch;

const char *
safe (const char *text)
{
  char *escaped = mesh_escape_for_display (text, -1);

  if (scratch == NULL)
    scratch = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (scratch, escaped);
  return escaped;
}

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

void
say (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  print_line (FALSE, format, args);
  va_end (args);
}

void
complain (const char *format,
          ...)
{
  va_list args;

  va_start (args, format);
  print_line (TRUE, format, args);
  va_end (args);
}

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

void
app_quit (App *app,
          int  code)
{
  app->exit_code = code;
  g_main_loop_quit (app->loop);
}

int
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

gboolean
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

static void
on_rest_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  RestWait *wait = user_data;

  wait->node = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &wait->error);
  g_main_loop_quit (wait->loop);
}

JsonNode *
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

/* Commands on a running controller */

static void
on_fatal (MeshAgentController *controller,
          GError              *error,
          App                 *app)
{
  complain ("%s\n", safe (error->message));
  app_quit (app, exit_code_for (error));
}

gboolean
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

int
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
