/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of the `ui` window test (tests/ui/test-ui*.c) share: one
 * application, bob's Lab, and a few conditions.  test-ui.c holds them and
 * main (); each test-ui-THEME.c adds its tests. */

#include "mesh-test-server.h"
#include "mesh-agent-controller.h"
#include "mesh-agent-state.h"
#include "mesh-application.h"
#include "mesh-connection-banner.h"
#include "mesh-embedded-agent.h"
#include "mesh-member-row.h"
#include "mesh-message-row.h"
#include "mesh-client-rest.h"
#include "mesh-error.h"
#include "mesh-frame.h"
#include "mesh-devices-page.h"
#include "mesh-gotify-page.h"
#include "mesh-ids.h"
#include "mesh-client-session.h"
#include "mesh-notifier.h"
#include "mesh-offer-dialog.h"
#include "mesh-preferences-window.h"
#include "mesh-room-list.h"
#include "mesh-saved-session.h"
#include "mesh-share-bar.h"
#include "mesh-signin-page.h"
#include "mesh-terminal-view.h"
#include "mesh-terminal-window.h"
#include "mesh-transfer-row.h"
#include "mesh-window.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

G_BEGIN_DECLS

/* One application for the whole run, as in the app: windows come and go. */
extern MeshApplication *app;

/* Conditions for ui_test_wait_until (): the terminal window shows the text
 * @user_data; the GSubprocess @user_data has exited. */
gboolean             terminal_shows       (gpointer    user_data);
gboolean             process_exited       (gpointer    user_data);

/* Bob's room "Lab" on a server of its own, and a throwaway folder for the
 * test's files and agents.  Alice joins the Lab before she signs in (her
 * embedded agent joins the rooms it finds when it connects), so that bob's
 * agents can be started in between. */
typedef struct {
  MeshTestServer *server;
  const char     *url;
  UiTestPeer      bob;              /* bob.room_id: the Lab */
  char           *invite;
  char           *tmp;
  char           *bob_state;        /* TMP/bob-agent */
  char           *bob_downloads;    /* TMP/bob-downloads */
  char           *alice_downloads;  /* TMP/alice-downloads, alice's download folder */
  MeshClientRest *alice_rest;
  MeshWindow     *window;
} Lab;

void                 lab_start            (Lab        *lab,
                                           const char *tmp_template);
/* Bob's `mesh-agent login` into @state_dir, as @device_name (may be NULL). */
void                 lab_login_bob        (Lab        *lab,
                                           const char *state_dir,
                                           const char *device_name);
/* Alice joins the Lab, signs in in a new window and opens it once her
 * embedded agent is there; returns her agent.  Files offered to her go to
 * TMP/alice-downloads: set while signed in, the preference applies at once. */
MeshEmbeddedAgent   *lab_enter            (Lab        *lab);
/* Waits until bob's member row in the open room lists @device_id (NULL:
 * a device). */
void                 lab_wait_bob_device  (Lab        *lab,
                                           const char *device_id);
void                 lab_stop             (Lab        *lab);

/* Bob's agent, in this process: the test cancels its send as a user would. */
MeshAgentController *start_agent_here     (const char *state_dir);
gboolean             agent_here_ready     (gpointer    controller);

/* The tests of each theme, in the order they run. */
void test_ui_add_signin_tests      (void);
void test_ui_add_chat_tests        (void);
void test_ui_add_preferences_tests (void);
void test_ui_add_transfers_tests   (void);
void test_ui_add_terminals_tests   (void);
void test_ui_add_same_name_tests   (void);

G_END_DECLS
