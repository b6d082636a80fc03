/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-client-rest.h"
#include "mesh-client-session.h"
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
/* Asks @agent to quit (SIGTERM) and waits until it has. */
void         ui_test_stop_agent       (GSubprocess       *agent);

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
/* Waits until the window's embedded agent has its device. */
void         ui_test_wait_agent_ready (MeshWindow        *window,
                                       const char        *what);
/* Accepts @invite through the window's room list and waits until its
 * session is in @room_id. */
void         ui_test_accept_invite    (MeshWindow        *window,
                                       const char        *invite,
                                       const char        *room_id);

G_END_DECLS
