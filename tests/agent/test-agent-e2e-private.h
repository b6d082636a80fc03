/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the agent-e2e tests share (test-agent-e2e.c) and what each theme
 * file adds to the one test program. */

#include "mesh-agent-controller.h"
#include "mesh-agent-identity.h"
#include "mesh-quic-endpoint.h"
#include "mesh-test-server.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define PASSWORD    "correct horse battery"
#define WAIT_MS     60000

enum { ALICE, BOB, CAROL, N_USERS };
extern const char *usernames[N_USERS];

typedef struct {
  MeshTestServer *server;
  char           *tmp;
  char           *token[N_USERS];
  char           *user_id[N_USERS];
  char           *state_dir[N_USERS];
  char           *device_id[N_USERS];
  char           *room_id;
  char           *download_dir;
  GSubprocess    *bob_run;
  char           *bob_log;
  MeshTestClient *watcher;   /* alice's client in the room: sees agents join */
} AgentE2eShared;

extern AgentE2eShared shared;

/* Processes (test-agent-e2e.c): mesh-agent with NULL-terminated arguments */

int           agent_run         (const char  *stdin_text,
                                 char       **out,
                                 char       **err,
                                 ...) G_GNUC_NULL_TERMINATED;
GSubprocess  *agent_spawn       (const char  *log,
                                 ...) G_GNUC_NULL_TERMINATED;
int           wait_process      (GSubprocess *process);
char         *read_text         (const char  *path);
gboolean      wait_for_text     (const char  *path,
                                 const char  *needle);
/* bob's `mesh-agent run`, receiving into shared.download_dir from alice. */
void          start_bob         (void);

/* Files */

void          write_random_file (const char  *path,
                                 gsize        size,
                                 guint32      seed);
/* Where bob's agent puts @name. */
char         *received          (const char  *name);

/* Async waits on the main context */

typedef struct {
  GAsyncResult *result;
} AsyncWait;

void          on_async_done     (GObject      *source,
                                 GAsyncResult *result,
                                 gpointer      user_data);
GAsyncResult *wait_result       (AsyncWait    *wait);

/* In-process agents */

void          on_ready          (MeshAgentController *controller,
                                 gboolean            *flag);
/* @user's agent, in this process, once it is ready. */
MeshAgentController *controller_new (guint user);

/* The forged client (test-agent-e2e-sessions.c) */

typedef struct {
  MeshAgentIdentity *identity;
  MeshQuicEndpoint  *endpoint;
  MeshTestClient    *client;
  char              *device_id;
} Raw;

void          raw_free          (Raw         *raw);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Raw, raw_free)

Raw          *raw_new_named     (const char  *device_name);
Raw          *raw_new           (void);
char         *issue_cap         (const char  *cap,
                                 const char  *target_device_id,
                                 gint64       max_size);
JsonObject   *raw_request_meta  (Raw         *raw,
                                 const char  *target,
                                 const char  *cap_token,
                                 const char  *kind,
                                 const char  *meta);
MeshQuicConnection *raw_connect (Raw         *raw,
                                 JsonObject  *created,
                                 const char  *pin,
                                 GError     **error);
GError       *raw_hello         (MeshQuicConnection *connection,
                                 const char         *session_id,
                                 const char         *token,
                                 const char         *device_id,
                                 GIOStream         **stream_out);
/* Fails unless @error is P2P_SESSION_DENIED for @reason; frees it. */
void          assert_denied     (GError      *error,
                                 const char  *reason);

/* The themes, in the order main () adds them */

void test_agent_e2e_add_login_tests    (void);
void test_agent_e2e_add_files_tests    (void);
void test_agent_e2e_add_sessions_tests (void);
void test_agent_e2e_add_hostile_tests  (void);
void test_agent_e2e_add_terminal_tests (void);
void test_agent_e2e_add_control_tests  (void);

G_END_DECLS
