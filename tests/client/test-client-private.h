/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the client suite's files share: the waits, the fixtures that log in,
 * connect and share rooms, and one function per file adding its tests.  The
 * helpers live in test-client.c. */

#include "mesh-test-server.h"
#include "mesh-chat-model.h"
#include "mesh-client-rest.h"
#include "mesh-client-session.h"
#include "mesh-member-list.h"
#include "mesh-room-list.h"

#include "mesh-error.h"
#include "mesh-ids.h"

#include <string.h>

#define PASSWORD     "correct horse battery"
#define WAIT_S       30
/* Long enough for a few backoff steps (1 s, 2 s, 4 s, 8 s …). */
#define RECONNECT_S  90

/* Runs the main context until @cond; a hang fails the test, not a slow box. */
#define WAIT_UNTIL(cond, timeout_s) G_STMT_START {                                  \
    gboolean timed_out_ = FALSE;                                                   \
    guint id_ = g_timeout_add_seconds ((timeout_s), flag_cb, &timed_out_);         \
    while (!(cond) && !timed_out_)                                                 \
      g_main_context_iteration (NULL, TRUE);                                       \
    if (!timed_out_)                                                               \
      g_source_remove (id_);                                                       \
    if (!(cond))                                                                   \
      g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond);       \
  } G_STMT_END

gboolean            flag_cb             (gpointer            user_data);
void                count_cb            (guint              *counter);
void                result_cb           (GObject            *source,
                                         GAsyncResult       *result,
                                         gpointer            user_data);
GAsyncResult       *wait_result         (GAsyncResult      **slot);

MeshClientRest     *rest_new            (MeshTestServer     *server);
MeshClientRest     *login               (MeshTestServer     *server,
                                         const char         *username);
MeshClientSession  *connect_session     (MeshClientRest     *rest);
void                join_room           (MeshClientSession  *session,
                                         const char         *room_id);
char               *create_room         (MeshClientRest     *rest,
                                         const char         *name);
char               *create_invite       (MeshClientRest     *rest,
                                         const char         *room_id);
GError             *accept_invite       (MeshClientRest     *rest,
                                         const char         *code,
                                         const char         *expected_room_id);
void                share_rooms         (MeshClientRest     *owner,
                                         MeshClientRest     *member,
                                         const char * const *room_ids);
MeshTestServer     *server_with_users   (const char * const *names);
void                assert_mesh_error   (GError             *error,
                                         MeshErrorCode       code);

/* Models */

typedef struct {
  guint position;
  guint removed;
  guint added;
} Change;

GArray             *track_changes       (gpointer            model);
gpointer            item_at             (gpointer            model,
                                         guint               position);
void                refresh_rooms       (MeshRoomList       *list);

#define room_at(list, position) ((MeshRoom *) item_at ((list), (position)))
#define message_at(chat, position) ((MeshChatMessage *) item_at ((chat), (position)))

SoupWebsocketConnection *connect_agent_hello (MeshClientRest *rest,
                                              const char     *room_id,
                                              const char     *name,
                                              const char     *extra,
                                              char          **device_id_out);

/* Two users sharing a room, both connected and joined. */
typedef struct {
  MeshTestServer  *server;
  MeshClientRest    *alice;
  MeshClientRest    *bob;
  MeshClientSession *alice_session;
  MeshClientSession *bob_session;
  char              *room_id;
} Pair;

void                pair_setup          (Pair               *pair);
void                pair_teardown       (Pair               *pair);

/* Each file adds its tests; main () calls them in the order the paths run. */
void test_client_add_rest_tests    (void);
void test_client_add_session_tests (void);
void test_client_add_models_tests  (void);
void test_client_add_chat_tests    (void);
void test_client_add_tls_tests     (void);
