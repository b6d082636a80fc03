/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of the mesh-agent command share: main.c (output, the
 * state, REST calls, the controller's start, the command line) and one
 * cmd-*.c file per command. */

#include "mesh-agent-controller.h"
#include "mesh-agent-state.h"
#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-json.h"

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

G_BEGIN_DECLS

/* Exit codes scripts can rely on (docs/agent.md). */
enum {
  EXIT_OK          = 0,
  EXIT_FAILURE_    = 1,
  EXIT_USAGE       = 2,
  EXIT_AUTH        = 3,
  EXIT_UNREACHABLE = 4,
};

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

/* Output (main.c).  Anything another party chose goes through safe(). */
const char *safe (const char *text);
void say (const char *format, ...) G_GNUC_PRINTF (1, 2);
void complain (const char *format, ...) G_GNUC_PRINTF (1, 2);

void app_quit (App *app,
               int  code);
int exit_code_for (const GError *error);
gboolean load_state (App  *app,
                     int  *code);

/* REST, synchronously from a command's point of view (main.c). */
typedef struct {
  GMainLoop *loop;
  JsonNode  *node;
  GError    *error;
} RestWait;

JsonNode *rest_call (App         *app,
                     const char  *method,
                     const char  *path,
                     const char  *token,
                     JsonObject  *body,
                     GError     **error);

/* Commands on a running controller (main.c). */
gboolean start_controller (App  *app,
                           int  *code);
int run_controller (App *app);

/* cmd-run.c, also used by send. */
char *format_size (guint64 bytes);
void on_session_started (MeshAgentController *controller,
                         const char          *session_id,
                         const char          *kind,
                         const char          *role,
                         const char          *name,
                         const char          *peer,
                         App                 *app);
/* cmd-send.c, also used by the terminal commands. */
gboolean resolve_room (App *app);

/* The commands, one file each. */
int cmd_login (App *app);
int cmd_devices (App *app);
int cmd_run (App *app);
int cmd_send (App *app);
int cmd_share_terminal (App *app);
int cmd_view_terminal (App *app);

G_END_DECLS
