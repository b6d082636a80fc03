/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-shared-terminal.h"
#include "mesh-transfer.h"

G_BEGIN_DECLS

#define MESH_TYPE_EMBEDDED_AGENT (mesh_embedded_agent_get_type ())

G_DECLARE_FINAL_TYPE (MeshEmbeddedAgent, mesh_embedded_agent, MESH, EMBEDDED_AGENT, GObject)

/* The app's own agent, signed in with the app's account: a thread with its
 * own GMainContext runs a MeshAgentController whose state lives in
 * $XDG_STATE_HOME/mesh/PROFILE/agent (PROFILE "default" when NULL; the device is registered with the
 * app's access token on first use).  Use it from the main thread only: what
 * the thread does is shown through main-thread models (MeshTransfer,
 * MeshSharedTerminal) and these signals, all emitted on the main thread:
 *   ready (device_id), failed (message): the agent is connected, or gave up;
 *   offer (MeshTransfer): someone wants to send a file or folder: accept or decline it;
 *   received (MeshTransfer): an incoming file or folder is complete and checked.
 * Offers from the user's own devices are taken without asking when the
 * "auto-accept-own-devices" setting is on; it and "download-folder" apply
 * as soon as they change.  Control of a terminal shared
 * from here is asked for with MeshSharedTerminal "control-requested".
 * $MESH_AGENT_LISTEN names the address its QUIC endpoint binds (default: all). */
MeshEmbeddedAgent  *mesh_embedded_agent_new            (const char        *profile,
                                                        const char        *server_url,
                                                        const char        *user_id,
                                                        const char        *username,
                                                        const char        *access_token,
                                                        GSettings         *settings);
void                mesh_embedded_agent_start          (MeshEmbeddedAgent *self);
/* Quits the thread's loop and joins it; no signal is emitted afterwards, unfinished
 * transfers fail and terminals end. */
void                mesh_embedded_agent_stop           (MeshEmbeddedAgent *self);
const char         *mesh_embedded_agent_get_user_id    (MeshEmbeddedAgent *self);
/* NULL until "ready". */
const char         *mesh_embedded_agent_get_device_id  (MeshEmbeddedAgent *self);
/* Every transfer of this run (MeshTransfer), oldest first. */
GListModel         *mesh_embedded_agent_get_transfers  (MeshEmbeddedAgent *self);
/* Removes the finished transfers from the list. */
void                mesh_embedded_agent_clear_finished (MeshEmbeddedAgent *self);
/* Sends a file or a folder to @device_id (of @peer_name) in @room_id.
 * Returns: (transfer none): the transfer, already in the list. */
MeshTransfer       *mesh_embedded_agent_send           (MeshEmbeddedAgent *self,
                                                        const char        *room_id,
                                                        const char        *device_id,
                                                        const char        *peer_name,
                                                        GFile             *file);
/* Starts the user's shell in a terminal shared with @room_id. */
MeshSharedTerminal *mesh_embedded_agent_share_terminal (MeshEmbeddedAgent *self,
                                                        const char        *room_id);
/* Watches @share_id, shared by @host_name in @room_id. */
MeshSharedTerminal *mesh_embedded_agent_view_terminal  (MeshEmbeddedAgent *self,
                                                        const char        *room_id,
                                                        const char        *share_id,
                                                        const char        *host_name);
/* The agent joins a room the user entered after it connected. */
void                mesh_embedded_agent_join_room      (MeshEmbeddedAgent *self,
                                                        const char        *room_id);

G_END_DECLS
