/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "mesh-test-server.h"

G_BEGIN_DECLS

/* The `server` suite in one executable: tests/test-server.c has the shared
 * servers, the helpers below and main(); each tests/test-server-<theme>.c
 * has the tests of one theme and adds them with test_server_add_<theme>_tests(). */

#define PASSWORD     "correct horse battery"
#define FINGERPRINT  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define QUIC_HELLO   "\"quic\":{\"port\":4433,\"fingerprint\":\"" FINGERPRINT "\"," \
                     "\"addrs\":[\"127.0.0.1\",\"::1\"]}"
#define UNKNOWN_ID   "00000000-0000-4000-8000-000000000000"

enum { ALICE, BOB, CAROL, DAVE, EVE, N_USERS };

/* The main server with the users above, logged in; and the strict one. */
extern MeshTestUsers shared;
extern MeshTestUsers strict;

MeshTestServer   *main_server             (void);
MeshTestServer   *strict_server           (void);

void              assert_uuid4            (const char      *id);
const char       *get_str                 (JsonObject      *obj,
                                           const char      *member);

char             *create_room             (const char      *token,
                                           const char      *name);
char             *create_invite           (const char      *token,
                                           const char      *room_id);
MeshTestResponse *accept_invite           (const char      *token,
                                           const char      *code);
char             *room_with               (int              owner,
                                           const char      *name,
                                           ...);
char             *add_device              (int              user,
                                           const char      *name,
                                           const char      *fingerprint,
                                           char           **device_id);
char             *strict_user             (const char      *username);

MeshTestClient   *client_for              (int              user,
                                           JsonObject     **welcome);
void              assert_closed_by_server (MeshTestClient  *client);
JsonObject       *ws_call                 (MeshTestClient  *client,
                                           const char      *type,
                                           const char      *payload,
                                           const char      *answer_type);
JsonObject       *ws_join                 (MeshTestClient  *client,
                                           const char      *room_id);
JsonObject       *ws_chat                 (MeshTestClient  *client,
                                           const char      *room_id,
                                           const char      *content,
                                           const char      *client_msg_id);
void              ws_chat_many            (MeshTestClient  *client,
                                           const char      *room_id,
                                           const char      *prefix,
                                           guint            n,
                                           GPtrArray       *ids);

JsonArray        *history                 (MeshTestServer  *server,
                                           const char      *token,
                                           const char      *room_id,
                                           const char      *query,
                                           MeshTestResponse **keep);
void              assert_chat_history     (JsonArray       *messages,
                                           GPtrArray       *ids,
                                           const char      *prefix,
                                           const char      *member,
                                           const char      *value);
const char       *message_content         (JsonArray       *messages,
                                           guint            i);

/* In the order main() calls them: the order the tests run in. */
void test_server_add_accounts_tests (void);
void test_server_add_ws_tests       (void);
void test_server_add_rooms_tests    (void);
void test_server_add_chat_tests     (void);
void test_server_add_rtc_tests      (void);
void test_server_add_limits_tests   (void);
void test_server_add_process_tests  (void);

G_END_DECLS
