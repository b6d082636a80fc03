/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "ui-test-session.h"

#include "mesh-gotify-page.h"
#include "mesh-preferences-window.h"
#include "mesh-terminal-window.h"

#include <signal.h>
#include <sys/prctl.h>

void
ui_test_store_result_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

void
ui_test_wait_result (GAsyncResult **result,
                     const char    *what)
{
  ui_test_wait_until (ui_test_pointer_is_set, result, UI_TEST_WAIT_S, what);
}

char *
ui_test_init_with_home (int         *argc,
                        char      ***argv,
                        const char  *template)
{
  g_autoptr(GError) error = NULL;
  char *home = g_dir_make_tmp (template, &error);

  g_assert_no_error (error);
  g_setenv ("XDG_CONFIG_HOME", home, TRUE);
  g_setenv ("XDG_STATE_HOME", home, TRUE);
  ui_test_init (argc, argv);
  return home;
}

int
ui_test_run (MeshApplication **app,
             char             *tmp_dir)
{
  int ret = g_test_run ();

  g_application_release (G_APPLICATION (*app));
  g_clear_object (app);
  if (tmp_dir != NULL)
    mesh_test_remove_tree (tmp_dir);
  g_free (tmp_dir);
  return ret;
}

void
ui_test_start_server (MeshTestServer *server,
                      const char     *first_username,
                      ...)
{
  va_list args;

  va_start (args, first_username);
  for (const char *name = first_username; name != NULL; name = va_arg (args, const char *)) {
    g_autofree char *password = g_strdup_printf ("%s-password", name);

    g_free (mesh_test_server_add_user (server, name, password));
  }
  va_end (args);
  mesh_test_server_start (server);
}

MeshClientRest *
ui_test_rest_login (const char *url,
                    const char *fingerprint,
                    const char *username,
                    const char *password)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *what = g_strdup_printf ("%s's login", username);
  MeshClientRest *rest = mesh_client_rest_new (url);
  GAsyncResult *result = NULL;

  mesh_client_rest_set_pinned_fingerprint (rest, fingerprint);
  mesh_client_rest_login_async (rest, username, password, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, what);
  g_assert_true (mesh_client_rest_login_finish (rest, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  return rest;
}

void
ui_test_rest_accept_invite (MeshClientRest *rest,
                            const char     *invite)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;

  mesh_client_rest_accept_invite_async (rest, invite, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "the invite to be accepted");
  g_free (mesh_client_rest_accept_invite_finish (rest, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
}

char *
ui_test_rest_create_room (MeshClientRest *rest,
                          const char     *name)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  char *room_id;

  mesh_client_rest_create_room_async (rest, name, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "the room");
  room_id = mesh_client_rest_create_room_finish (rest, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  return room_id;
}

static void
chat_message_cb (MeshClientSession *session,
                 MeshChatMessage   *message,
                 UiTestPeer        *peer)
{
  if (!mesh_chat_message_get_is_own (message))
    g_ptr_array_add (peer->received, g_strdup (mesh_chat_message_get_content (message)));
}

void
ui_test_peer_start (UiTestPeer *peer,
                    const char *url,
                    const char *username,
                    const char *password)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;

  peer->rest = ui_test_rest_login (url, NULL, username, password);
  peer->received = g_ptr_array_new_with_free_func (g_free);
  peer->session = mesh_client_session_new (peer->rest);
  g_signal_connect (peer->session, "chat-message", G_CALLBACK (chat_message_cb), peer);
  mesh_client_session_connect_async (peer->session, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "the peer's session");
  g_assert_true (mesh_client_session_connect_finish (peer->session, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
}

char *
ui_test_peer_create_room (UiTestPeer *peer,
                          const char *name,
                          char      **invite)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  g_autofree char *room_id = ui_test_rest_create_room (peer->rest, name);

  mesh_client_session_join_room_async (peer->session, room_id, NULL, ui_test_store_result_cb,
                                       &result);
  ui_test_wait_result (&result, "the peer to join");
  g_assert_true (mesh_client_session_join_room_finish (peer->session, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  mesh_client_rest_create_invite_async (peer->rest, room_id, NULL, ui_test_store_result_cb,
                                        &result);
  ui_test_wait_result (&result, "the invite");
  *invite = mesh_client_rest_create_invite_finish (peer->rest, result, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  return g_steal_pointer (&room_id);
}

void
ui_test_peer_chat (UiTestPeer *peer,
                   const char *room_id,
                   const char *text)
{
  g_autoptr(GError) error = NULL;

  g_free (mesh_client_session_send_chat (peer->session, room_id, text, &error));
  g_assert_no_error (error);
}

void
ui_test_peer_clear (UiTestPeer *peer)
{
  mesh_client_session_disconnect (peer->session);
  g_clear_object (&peer->session);
  g_clear_object (&peer->rest);
  g_clear_pointer (&peer->room_id, g_free);
  g_clear_pointer (&peer->received, g_ptr_array_unref);
}

static gboolean
outbox_empty (gpointer session)
{
  g_autoptr(GPtrArray) outbox = mesh_client_session_dup_outbox (session, NULL);

  return outbox->len == 0;
}

void
ui_test_wait_outbox_empty (MeshClientSession *session,
                           const char        *what)
{
  ui_test_wait_until (outbox_empty, session, UI_TEST_WAIT_S, what);
}

/* An agent left running by a test that aborted would hold the test's output
 * open and keep meson waiting until its timeout. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

GSubprocess *
ui_test_spawn_agent (GSubprocessFlags  flags,
                     const char       *first_arg,
                     ...)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  GSubprocess *process;
  va_list args;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  launcher = g_subprocess_launcher_new (flags | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  /* The agent's own warnings are its business, not this test's. */
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_ptr_array_add (argv, (gpointer) g_getenv ("MESH_AGENT_BIN"));
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  return process;
}

void
ui_test_agent_login (const char *url,
                     const char *state_dir,
                     const char *username,
                     const char *password,
                     const char *device_name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) login = NULL;
  g_autofree char *typed = g_strconcat (password, "\n", NULL);

  if (device_name != NULL)
    login = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_STDIN_PIPE, "login", "--state-dir", state_dir,
                                 "--server", url, "--user", username, "--device-name", device_name,
                                 NULL);
  else
    login = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_STDIN_PIPE, "login", "--state-dir", state_dir,
                                 "--server", url, "--user", username, NULL);
  g_assert_true (g_subprocess_communicate_utf8 (login, typed, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (login));
}

GSubprocess *
ui_test_agent_run (const char *state_dir,
                   const char *downloads,
                   const char *accept_from)
{
  g_assert_cmpint (g_mkdir_with_parents (downloads, 0700), ==, 0);
  if (accept_from != NULL)
    return ui_test_spawn_agent (G_SUBPROCESS_FLAGS_NONE, "run", "--state-dir", state_dir,
                                "--download-dir", downloads, "--accept-from", accept_from,
                                "--listen", "127.0.0.1", NULL);
  return ui_test_spawn_agent (G_SUBPROCESS_FLAGS_NONE, "run", "--state-dir", state_dir,
                              "--download-dir", downloads, "--listen", "127.0.0.1", NULL);
}

void
ui_test_stop_agent (GSubprocess *agent)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;

  g_subprocess_send_signal (agent, SIGTERM);
  g_subprocess_wait_async (agent, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "an agent to stop");
  g_assert_true (g_subprocess_wait_finish (agent, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
}

MeshWindow *
ui_test_window_new (MeshApplication *app,
                    int              width,
                    int              height)
{
  MeshWindow *window = mesh_window_new (app);

  ui_test_present (GTK_WINDOW (window), width, height);
  return window;
}

MeshWindow *
ui_test_window_signed_in (MeshApplication *app,
                          int              width,
                          int              height,
                          const char      *server,
                          const char      *username,
                          const char      *password)
{
  MeshWindow *window = ui_test_window_new (app, width, height);

  ui_test_ensure_signed_out (window);
  ui_test_sign_in (window, server, username, password);
  return window;
}

MeshWindow *
ui_test_alone_in_room (MeshApplication  *app,
                       MeshTestServer   *server,
                       const char       *room_name,
                       char            **room_id)
{
  g_autoptr(MeshClientRest) rest = NULL;
  MeshWindow *window;

  ui_test_start_server (server, "alice", NULL);
  rest = ui_test_rest_login (mesh_test_server_get_base_url (server), NULL, "alice",
                             "alice-password");
  *room_id = ui_test_rest_create_room (rest, room_name);
  window = ui_test_window_new (app, 1280, 800);
  ui_test_sign_in_to_room (window, mesh_test_server_get_base_url (server), "alice",
                           "alice-password", *room_id);
  return window;
}

void
ui_test_ensure_signed_out (MeshWindow *window)
{
  if (g_strcmp0 (mesh_window_get_page (window), "signin") != 0)
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
}

void
ui_test_sign_out_and_close (MeshWindow *window)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  ui_test_destroy_window (GTK_WINDOW (window));
}

void
ui_test_fill_sign_in (MeshWindow *window,
                      const char *server,
                      const char *username,
                      const char *password)
{
  GtkWidget *page = GTK_WIDGET (mesh_window_get_signin_page (window));
  GtkWidget *rows[3] = { NULL };
  guint n = 0;

  for (GtkWidget *w = ui_test_find_widget (page, ADW_TYPE_ENTRY_ROW, NULL, NULL);
       w != NULL && n < 3; w = gtk_widget_get_next_sibling (w))
    rows[n++] = w;
  g_assert_cmpuint (n, ==, 3);
  gtk_editable_set_text (GTK_EDITABLE (rows[0]), server);
  gtk_editable_set_text (GTK_EDITABLE (rows[1]), username);
  gtk_editable_set_text (GTK_EDITABLE (rows[2]), password);
}

void
ui_test_click_sign_in (MeshWindow *window)
{
  GtkWidget *page = GTK_WIDGET (mesh_window_get_signin_page (window));
  GtkWidget *button = ui_test_find_button_for_action (page, "signin.sign-in");

  g_assert_nonnull (button);
  g_assert_true (gtk_widget_is_sensitive (button));
  gtk_widget_activate (button);
}

void
ui_test_sign_in (MeshWindow *window,
                 const char *server,
                 const char *username,
                 const char *password)
{
  ui_test_fill_sign_in (window, server, username, password);
  ui_test_click_sign_in (window);
  ui_test_wait_page (window, "rooms");
  ui_test_wait_connected (window, "the session");
}

typedef struct {
  MeshWindow *window;
  const char *value;   /* the page's name or the room's id */
} WindowWait;

static gboolean
page_is (gpointer user_data)
{
  WindowWait *wait = user_data;

  return g_strcmp0 (mesh_window_get_page (wait->window), wait->value) == 0;
}

void
ui_test_wait_page (MeshWindow *window,
                   const char *page)
{
  WindowWait wait = { window, page };
  g_autofree char *what = g_strdup_printf ("the “%s” page", page);

  ui_test_wait_until (page_is, &wait, UI_TEST_WAIT_S, what);
}

static gboolean
session_connected (gpointer window)
{
  MeshClientSession *session = mesh_window_get_session (window);

  return session != NULL &&
         mesh_client_session_get_state (session) == MESH_CLIENT_SESSION_CONNECTED;
}

void
ui_test_wait_connected (MeshWindow *window,
                        const char *what)
{
  ui_test_wait_until (session_connected, window, UI_TEST_WAIT_S, what);
}

static gboolean
room_is_open (gpointer user_data)
{
  WindowWait *wait = user_data;
  MeshRoom *room = mesh_room_view_get_room (mesh_window_get_room_view (wait->window));

  return room != NULL && g_strcmp0 (mesh_room_get_room_id (room), wait->value) == 0;
}

void
ui_test_wait_room_open (MeshWindow *window,
                        const char *room_id,
                        const char *what)
{
  WindowWait wait = { window, room_id };

  ui_test_wait_until (room_is_open, &wait, UI_TEST_WAIT_S, what);
}

static gboolean
room_opened (gpointer user_data)
{
  WindowWait *wait = user_data;

  return mesh_window_open_room (wait->window, wait->value);
}

void
ui_test_open_room (MeshWindow *window,
                   const char *room_id)
{
  WindowWait wait = { window, room_id };

  ui_test_wait_until (room_opened, &wait, UI_TEST_WAIT_S, "the room to be listed and opened");
  ui_test_wait_room_open (window, room_id, "the room on screen");
}

static gboolean
agent_ready (gpointer window)
{
  MeshEmbeddedAgent *agent = mesh_window_get_agent (window);

  return agent != NULL && mesh_embedded_agent_get_device_id (agent) != NULL;
}

void
ui_test_wait_agent_ready (MeshWindow *window,
                          const char *what)
{
  ui_test_wait_until (agent_ready, window, UI_TEST_WAIT_S, what);
}

void
ui_test_sign_in_to_room (MeshWindow *window,
                         const char *server,
                         const char *username,
                         const char *password,
                         const char *room_id)
{
  ui_test_sign_in (window, server, username, password);
  ui_test_wait_agent_ready (window, "the embedded agent");
  ui_test_open_room (window, room_id);
}

static gboolean
room_joined (gpointer user_data)
{
  WindowWait *wait = user_data;

  return mesh_client_session_is_room_joined (mesh_window_get_session (wait->window), wait->value);
}

void
ui_test_accept_invite (MeshWindow *window,
                       const char *invite,
                       const char *room_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshRoom) joined = NULL;
  GAsyncResult *result = NULL;
  WindowWait wait = { window, room_id };

  mesh_room_list_accept_invite_async (mesh_window_get_room_list (window), invite, NULL,
                                      ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "the invite to be accepted");
  joined = mesh_room_list_accept_invite_finish (mesh_window_get_room_list (window), result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  ui_test_wait_until (room_joined, &wait, UI_TEST_WAIT_S, "the window's session to join the room");
}

void
ui_test_scene_start (UiTestScene     *scene,
                     MeshApplication *app,
                     int              width,
                     int              height)
{
  scene->server = mesh_test_server_new (NULL);
  ui_test_start_server (scene->server, "alice", "bob", NULL);
  ui_test_peer_start (&scene->bob, mesh_test_server_get_base_url (scene->server), "bob",
                      "bob-password");
  scene->window = ui_test_window_signed_in (app, width, height,
                                            mesh_test_server_get_base_url (scene->server),
                                            "alice", "alice-password");
}

char *
ui_test_scene_add_room (UiTestScene *scene,
                        const char  *name)
{
  g_autofree char *invite = NULL;
  char *room_id = ui_test_peer_create_room (&scene->bob, name, &invite);

  ui_test_accept_invite (scene->window, invite, room_id);
  return room_id;
}

void
ui_test_scene_stop (UiTestScene *scene)
{
  if (scene->window != NULL)
    ui_test_sign_out_and_close (scene->window);
  ui_test_peer_clear (&scene->bob);
  g_clear_pointer (&scene->server, mesh_test_server_free);
}

static gboolean
gotify_idle (gpointer page)
{
  return !mesh_gotify_page_get_busy (page);
}

GtkWindow *
ui_test_open_gotify (MeshApplication  *app,
                     GtkWidget       **page,
                     GtkWidget       **url_row,
                     GtkWidget       **token_row)
{
  GtkWindow *preferences;

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  preferences = ui_test_wait_toplevel (MESH_TYPE_PREFERENCES_WINDOW, "the preferences");
  *page = mesh_preferences_window_get_gotify_page (MESH_PREFERENCES_WINDOW (preferences));
  g_assert_nonnull (*page);
  adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (preferences),
                                           ADW_PREFERENCES_PAGE (*page));
  ui_test_wait_until (gotify_idle, *page, UI_TEST_WAIT_S, "the Gotify settings");
  if (url_row != NULL)
    *url_row = ui_test_find_widget (*page, ADW_TYPE_ENTRY_ROW, NULL, NULL);
  if (token_row != NULL)
    *token_row = ui_test_find_widget (*page, ADW_TYPE_PASSWORD_ENTRY_ROW, NULL, NULL);
  return preferences;
}

void
ui_test_click_gotify (GtkWidget  *page,
                      const char *label)
{
  ui_test_click_labelled (page, label);
  g_assert_true (mesh_gotify_page_get_busy (MESH_GOTIFY_PAGE (page)));
  ui_test_wait_until (gotify_idle, page, UI_TEST_WAIT_S, label);
}

MeshSharedTerminal *
ui_test_share_terminal (MeshWindow  *window,
                        GtkWindow  **terminal_window)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (mesh_window_get_room_view (window)),
                                             "room.share-terminal", NULL));
  *terminal_window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  g_assert_nonnull (*terminal_window);
  return g_object_ref (mesh_terminal_window_get_terminal (MESH_TERMINAL_WINDOW (*terminal_window)));
}

typedef struct {
  MeshSharedTerminal      *terminal;
  MeshSharedTerminalState  state;
} TerminalWait;

static gboolean
terminal_state_is (gpointer user_data)
{
  TerminalWait *wait = user_data;

  return mesh_shared_terminal_get_state (wait->terminal) == wait->state;
}

void
ui_test_wait_terminal_state (MeshSharedTerminal      *terminal,
                             MeshSharedTerminalState  state,
                             const char              *what)
{
  TerminalWait wait = { terminal, state };

  ui_test_wait_until (terminal_state_is, &wait, UI_TEST_WAIT_S, what);
}
