/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  MESH_SHARED_TERMINAL_HOST,    /* this computer runs the shell and shares it */
  MESH_SHARED_TERMINAL_VIEWER,  /* another member's shared shell */
} MeshSharedTerminalRole;

typedef enum {
  MESH_SHARED_TERMINAL_CONNECTING,
  MESH_SHARED_TERMINAL_RUNNING,
  MESH_SHARED_TERMINAL_ENDED,
} MeshSharedTerminalState;

#define MESH_TYPE_SHARED_TERMINAL (mesh_shared_terminal_get_type ())

G_DECLARE_FINAL_TYPE (MeshSharedTerminal, mesh_shared_terminal, MESH, SHARED_TERMINAL, GObject)

/* A terminal share (protocol §7) as the app shows it: a main-thread model
 * between the embedded agent, which runs the shell or the viewer session,
 * and a terminal view.
 *
 * Agent → UI: "output" (GBytes: what the shell wrote), the "state",
 * "cols"/"rows" (the shell's size), "controller-peer-id"/"controller-name"
 * (who may type besides the host; NULL: nobody), "has-control" (this app may
 * type: always for the host) and "error" properties; "control-requested"
 * (peer_id, username) asks the host's user to grant or deny; "control-denied"
 * (reason) tells a viewer the host said no.
 *
 * UI → agent: write(), resize() (the host's view sets the shell's size),
 * request_control(), release_control(), answer_control(), stop().  Each
 * emits the signal of the same name ("input" for write) for the agent. */
MeshSharedTerminal      *mesh_shared_terminal_new                    (MeshSharedTerminalRole  role,
                                                                      const char             *room_id,
                                                                      const char             *host_name);
MeshSharedTerminalRole   mesh_shared_terminal_get_role               (MeshSharedTerminal     *self);
const char              *mesh_shared_terminal_get_room_id            (MeshSharedTerminal     *self);
/* NULL until the server announced the share. */
const char              *mesh_shared_terminal_get_share_id           (MeshSharedTerminal     *self);
/* The user whose shell it is. */
const char              *mesh_shared_terminal_get_host_name          (MeshSharedTerminal     *self);
MeshSharedTerminalState  mesh_shared_terminal_get_state              (MeshSharedTerminal     *self);
guint                    mesh_shared_terminal_get_cols               (MeshSharedTerminal     *self);
guint                    mesh_shared_terminal_get_rows               (MeshSharedTerminal     *self);
const char              *mesh_shared_terminal_get_controller_peer_id (MeshSharedTerminal     *self);
const char              *mesh_shared_terminal_get_controller_name    (MeshSharedTerminal     *self);
gboolean                 mesh_shared_terminal_get_has_control        (MeshSharedTerminal     *self);
/* Why it ended, when it did not end normally; else NULL. */
const char              *mesh_shared_terminal_get_error              (MeshSharedTerminal     *self);

/* For the agent. */
void                     mesh_shared_terminal_set_share_id           (MeshSharedTerminal     *self,
                                                                      const char             *share_id);
void                     mesh_shared_terminal_set_state              (MeshSharedTerminal     *self,
                                                                      MeshSharedTerminalState state,
                                                                      const char             *error);
void                     mesh_shared_terminal_set_size               (MeshSharedTerminal     *self,
                                                                      guint                   cols,
                                                                      guint                   rows);
void                     mesh_shared_terminal_set_controller         (MeshSharedTerminal     *self,
                                                                      const char             *peer_id,
                                                                      const char             *name,
                                                                      gboolean                is_self);
void                     mesh_shared_terminal_push_output            (MeshSharedTerminal     *self,
                                                                      GBytes                 *data);
void                     mesh_shared_terminal_ask_control            (MeshSharedTerminal     *self,
                                                                      const char             *peer_id,
                                                                      const char             *username);
void                     mesh_shared_terminal_report_denied          (MeshSharedTerminal     *self,
                                                                      const char             *reason);

/* For the UI. */
void                     mesh_shared_terminal_write                  (MeshSharedTerminal     *self,
                                                                      const void             *data,
                                                                      gsize                   len);
void                     mesh_shared_terminal_resize                 (MeshSharedTerminal     *self,
                                                                      guint                   cols,
                                                                      guint                   rows);
void                     mesh_shared_terminal_request_control        (MeshSharedTerminal     *self);
void                     mesh_shared_terminal_release_control        (MeshSharedTerminal     *self);
void                     mesh_shared_terminal_answer_control         (MeshSharedTerminal     *self,
                                                                      const char             *peer_id,
                                                                      gboolean                grant);
/* The host ends the share; a viewer stops watching. */
void                     mesh_shared_terminal_stop                   (MeshSharedTerminal     *self);

G_END_DECLS
