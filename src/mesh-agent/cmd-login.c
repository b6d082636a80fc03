/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "cli-private.h"

#define PASSWORD_MAX 1024


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

int
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
