/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-agent-identity.h"
#include "mesh-agent-state.h"
#include "mesh-p2p-session.h"
#include "mesh-terminal-host.h"
#include "mesh-terminal-viewer.h"

G_BEGIN_DECLS

/* The agent's control plane (protocol §3.1, §5, §7): its own WebSocket as
 * `peer_type: "agent"` with the device token, the rooms of its user, P2P
 * sessions in both roles over its QUIC endpoint, and terminal shares.
 *
 * Everything runs on the GMainContext that is thread-default when the
 * controller is made; use it from that thread only. */

#define MESH_TYPE_AGENT_CONTROLLER (mesh_agent_controller_get_type ())

G_DECLARE_FINAL_TYPE (MeshAgentController, mesh_agent_controller, MESH, AGENT_CONTROLLER, GObject)

MeshAgentController *mesh_agent_controller_new               (MeshAgentState       *state,
                                                              MeshAgentIdentity    *identity);

/* Policies for sessions other agents open to us (set before start). */
void                 mesh_agent_controller_set_download_dir  (MeshAgentController  *self,
                                                              GFile                *dir);
void                 mesh_agent_controller_set_accept_offers (MeshAgentController  *self,
                                                              gboolean              accept);
void                 mesh_agent_controller_set_accept_from   (MeshAgentController  *self,
                                                              const char * const   *usernames);
void                 mesh_agent_controller_set_allow_control (MeshAgentController  *self,
                                                              const char * const   *usernames);
void                 mesh_agent_controller_set_reconnect     (MeshAgentController  *self,
                                                              gboolean              reconnect);
void                 mesh_agent_controller_set_transient     (MeshAgentController  *self,
                                                              gboolean              transient);
void                 mesh_agent_controller_set_max_token_lifetime
                                                             (MeshAgentController  *self,
                                                              guint                 seconds);
void                 mesh_agent_controller_set_quic_address  (MeshAgentController  *self,
                                                              GInetSocketAddress   *address);

gboolean             mesh_agent_controller_start             (MeshAgentController  *self,
                                                              GError              **error);
void                 mesh_agent_controller_stop              (MeshAgentController  *self);
gboolean             mesh_agent_controller_is_ready          (MeshAgentController  *self);
const char          *mesh_agent_controller_get_peer_id       (MeshAgentController  *self);
const char          *mesh_agent_controller_get_device_id     (MeshAgentController  *self);
guint16              mesh_agent_controller_get_quic_port     (MeshAgentController  *self);

/* Rooms and members as the server told us (after "ready"). */
char                *mesh_agent_controller_resolve_room      (MeshAgentController  *self,
                                                              const char           *room,
                                                              GError              **error);
char                *mesh_agent_controller_resolve_device    (MeshAgentController  *self,
                                                              const char           *room_id,
                                                              const char           *device,
                                                              GError              **error);

/* Sends a file or a folder (detected) to @device_id in @room_id.  Completes
 * once the receiver confirmed the hash.  Returns (transfer none) its session,
 * alive at least until @callback runs. */
MeshP2pSession      *mesh_agent_controller_send_async        (MeshAgentController  *self,
                                                              const char           *room_id,
                                                              const char           *device_id,
                                                              GFile                *path,
                                                              GCancellable         *cancellable,
                                                              GAsyncReadyCallback   callback,
                                                              gpointer              user_data);
gboolean             mesh_agent_controller_send_finish       (MeshAgentController  *self,
                                                              GAsyncResult         *result,
                                                              GError              **error);

/* Terminal host: runs @argv (NULL: the user's shell) in a PTY and shares it. */
void                 mesh_agent_controller_share_terminal_async
                                                             (MeshAgentController  *self,
                                                              const char           *room_id,
                                                              const char * const   *argv,
                                                              GCancellable         *cancellable,
                                                              GAsyncReadyCallback   callback,
                                                              gpointer              user_data);
char                *mesh_agent_controller_share_terminal_finish
                                                             (MeshAgentController  *self,
                                                              GAsyncResult         *result,
                                                              GError              **error);
void                 mesh_agent_controller_stop_share        (MeshAgentController  *self,
                                                              const char           *share_id);

/* Terminal viewer: opens a session to the share's host. */
void                 mesh_agent_controller_view_terminal_async
                                                             (MeshAgentController  *self,
                                                              const char           *room_id,
                                                              const char           *share_id,
                                                              GCancellable         *cancellable,
                                                              GAsyncReadyCallback   callback,
                                                              gpointer              user_data);
MeshTerminalViewer  *mesh_agent_controller_view_terminal_finish
                                                             (MeshAgentController  *self,
                                                              GAsyncResult         *result,
                                                              GError              **error);
void                 mesh_agent_controller_take_control      (MeshAgentController  *self,
                                                              const char           *share_id);
void                 mesh_agent_controller_release_control   (MeshAgentController  *self,
                                                              const char           *share_id);

/* Asking the user (the app) instead of applying a fixed policy. */
void                 mesh_agent_controller_set_ask_offers    (MeshAgentController  *self,
                                                              gboolean              ask);
gboolean             mesh_agent_controller_answer_offer      (MeshAgentController  *self,
                                                              const char           *session_id,
                                                              GFile                *folder);
void                 mesh_agent_controller_cancel_session    (MeshAgentController  *self,
                                                              const char           *session_id);
void                 mesh_agent_controller_set_ask_control   (MeshAgentController  *self,
                                                              gboolean              ask);
void                 mesh_agent_controller_answer_control    (MeshAgentController  *self,
                                                              const char           *share_id,
                                                              const char           *peer_id,
                                                              gboolean              grant);
MeshTerminalHost    *mesh_agent_controller_get_share_host    (MeshAgentController  *self,
                                                              const char           *share_id);
const char          *mesh_agent_controller_get_peer_username (MeshAgentController *self,
                                                              const char           *room_id,
                                                              const char           *peer_id);
void                 mesh_agent_controller_join_room         (MeshAgentController  *self,
                                                              const char           *room_id);

G_END_DECLS
