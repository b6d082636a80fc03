/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-test-server.h"
#include "mesh-client-rest.h"
#include "mesh-client-session.h"
#include "mesh-shared-terminal.h"
#include "mesh-window.h"
#include "ui-test-util.h"

G_BEGIN_DECLS

/* Window tests against a real mesh-server: another user through the client
 * library, mesh-agent processes, and a MeshWindow signed in.  Every wait
 * gives up after UI_TEST_WAIT_S. */

/* Stores the result of an async call in the GAsyncResult * at @user_data
 * (with a reference) for ui_test_wait_result (). */
void         ui_test_store_result_cb  (GObject           *source,
                                       GAsyncResult      *result,
                                       gpointer           user_data);
void         ui_test_wait_result      (GAsyncResult     **result,
                                       const char        *what);

/* ui_test_init (), with XDG_CONFIG_HOME and XDG_STATE_HOME (the saved
 * sign-in, the embedded agent's state) in a new throwaway folder made from
 * @template (as g_dir_make_tmp () takes it); returns the folder. */
char        *ui_test_init_with_home   (int               *argc,
                                       char            ***argv,
                                       const char        *template);

/* g_test_run (), then releases and drops @app (from ui_test_app_new ())
 * and deletes the folder @tmp_dir (may be NULL) with all it holds; frees
 * @tmp_dir.  Returns what g_test_run () did. */
int          ui_test_run              (MeshApplication **app,
                                       char             *tmp_dir);

/* Adds the users named (up to a NULL) to @server, each with the password
 * "NAME-password", and starts it. */
void         ui_test_start_server     (MeshTestServer    *server,
                                       const char        *first_username,
                                       ...) G_GNUC_NULL_TERMINATED;

/* A REST client signed in at @url as @username (trusting the certificate
 * of @fingerprint, may be NULL): a user of the server without a session. */
MeshClientRest *ui_test_rest_login    (const char        *url,
                                       const char        *fingerprint,
                                       const char        *username,
                                       const char        *password);
void         ui_test_rest_accept_invite (MeshClientRest  *rest,
                                         const char      *invite);
/* Creates a room named @name; returns its id. */
char        *ui_test_rest_create_room (MeshClientRest    *rest,
                                       const char        *name);

/* Another user of the server, through the client library. */
typedef struct {
  MeshClientRest    *rest;
  MeshClientSession *session;
  char              *room_id;    /* the test's room, freed by ui_test_peer_clear () */
  GPtrArray         *received;   /* contents of chat-message from others */
} UiTestPeer;

/* Signs @peer in at @url and connects its session. */
void         ui_test_peer_start       (UiTestPeer        *peer,
                                       const char        *url,
                                       const char        *username,
                                       const char        *password);
/* Creates a room, joins it and makes an invite code for it; returns the
 * room's id. */
char        *ui_test_peer_create_room (UiTestPeer        *peer,
                                       const char        *name,
                                       char             **invite);
void         ui_test_peer_chat        (UiTestPeer        *peer,
                                       const char        *room_id,
                                       const char        *text);
void         ui_test_peer_clear       (UiTestPeer        *peer);
/* Waits until the server has confirmed every message @session sent. */
void         ui_test_wait_outbox_empty (MeshClientSession *session,
                                        const char        *what);

/* Starts $MESH_AGENT_BIN with the arguments that follow (up to a NULL),
 * its output silenced; it dies with the test. */
GSubprocess *ui_test_spawn_agent      (GSubprocessFlags   flags,
                                       const char        *first_arg,
                                       ...) G_GNUC_NULL_TERMINATED;
/* `mesh-agent login` into @state_dir as a user would: @password typed on
 * its standard input; @device_name may be NULL (the agent's default). */
void         ui_test_agent_login      (const char        *url,
                                       const char        *state_dir,
                                       const char        *username,
                                       const char        *password,
                                       const char        *device_name);
/* `mesh-agent run` of @state_dir on 127.0.0.1, saving into @downloads
 * (made here); it takes the files of @accept_from at once (NULL: it asks). */
GSubprocess *ui_test_agent_run        (const char        *state_dir,
                                       const char        *downloads,
                                       const char        *accept_from);
/* Asks @agent to quit (SIGTERM) and waits until it has. */
void         ui_test_stop_agent       (GSubprocess       *agent);

/* A new window of @app, @width × @height (without the decorations). */
MeshWindow  *ui_test_window_new       (MeshApplication   *app,
                                       int                width,
                                       int                height);
/* A new window of @app signed in as @username, from the sign-in page
 * (ui_test_ensure_signed_out (), ui_test_sign_in ()). */
MeshWindow  *ui_test_window_signed_in (MeshApplication   *app,
                                       int                width,
                                       int                height,
                                       const char        *server,
                                       const char        *username,
                                       const char        *password);
/* Alice, the only user of @server (started here), in a new window
 * (1280 × 800) on a room of her own named @room_name, once her embedded
 * agent is there; sets @room_id to the room's id. */
MeshWindow  *ui_test_alone_in_room    (MeshApplication   *app,
                                       MeshTestServer    *server,
                                       const char        *room_name,
                                       char             **room_id);
/* Signs @window out when it is signed in (from an earlier test). */
void         ui_test_ensure_signed_out (MeshWindow       *window);
/* Signs out (the next test starts from the sign-in page) and destroys
 * @window. */
void         ui_test_sign_out_and_close (MeshWindow      *window);

/* Types into the sign-in page's rows, as a person would. */
void         ui_test_fill_sign_in     (MeshWindow        *window,
                                       const char        *server,
                                       const char        *username,
                                       const char        *password);
/* Clicks the sign-in page's button. */
void         ui_test_click_sign_in    (MeshWindow        *window);
/* Both, then waits for the rooms page and the connected session. */
void         ui_test_sign_in          (MeshWindow        *window,
                                       const char        *server,
                                       const char        *username,
                                       const char        *password);
void         ui_test_wait_page        (MeshWindow        *window,
                                       const char        *page);
void         ui_test_wait_connected   (MeshWindow        *window,
                                       const char        *what);
void         ui_test_wait_room_open   (MeshWindow        *window,
                                       const char        *room_id,
                                       const char        *what);
/* Waits until @room_id is in the window's list, opens it and waits until
 * it is on screen. */
void         ui_test_open_room        (MeshWindow        *window,
                                       const char        *room_id);
/* ui_test_sign_in (), then waits for the embedded agent and opens
 * @room_id, where the agent's device shows once it has joined. */
void         ui_test_sign_in_to_room  (MeshWindow        *window,
                                       const char        *server,
                                       const char        *username,
                                       const char        *password,
                                       const char        *room_id);
/* Waits until the window's embedded agent has its device. */
void         ui_test_wait_agent_ready (MeshWindow        *window,
                                       const char        *what);
/* Accepts @invite through the window's room list and waits until its
 * session is in @room_id. */
void         ui_test_accept_invite    (MeshWindow        *window,
                                       const char        *invite,
                                       const char        *room_id);

/* The usual cast of a window test: a mesh-server of its own with alice and
 * bob (ui_test_start_server ()), bob as a peer through the client library,
 * and alice signed in in a window of @app, @width × @height. */
typedef struct {
  MeshTestServer *server;
  UiTestPeer      bob;
  MeshWindow     *window;
} UiTestScene;

void         ui_test_scene_start      (UiTestScene       *scene,
                                       MeshApplication   *app,
                                       int                width,
                                       int                height);
/* Bob creates a room named @name and alice's window accepts its invite;
 * returns the room's id. */
char        *ui_test_scene_add_room   (UiTestScene       *scene,
                                       const char        *name);
/* Signs alice out and closes her window (unless the test has set it to
 * NULL, having closed it), lets bob go and stops the server. */
void         ui_test_scene_stop       (UiTestScene       *scene);

/* Opens the preferences through @app, on the Gotify page once it has
 * loaded what the server holds; returns the window and sets @page and
 * (unless NULL) the page's address and token rows. */
GtkWindow   *ui_test_open_gotify      (MeshApplication   *app,
                                       GtkWidget        **page,
                                       GtkWidget        **url_row,
                                       GtkWidget        **token_row);
/* Clicks a button of the Gotify page and waits for the server's answer. */
void         ui_test_click_gotify     (GtkWidget         *page,
                                       const char        *label);

/* Shares the user's shell from the room on screen, as the room's menu does;
 * returns the share (a reference) and its window. */
MeshSharedTerminal *ui_test_share_terminal (MeshWindow   *window,
                                            GtkWindow   **terminal_window);
void         ui_test_wait_terminal_state (MeshSharedTerminal      *terminal,
                                          MeshSharedTerminalState  state,
                                          const char              *what);

G_END_DECLS
