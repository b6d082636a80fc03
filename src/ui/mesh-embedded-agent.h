/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MESH_TYPE_EMBEDDED_AGENT (mesh_embedded_agent_get_type ())

G_DECLARE_FINAL_TYPE (MeshEmbeddedAgent, mesh_embedded_agent, MESH, EMBEDDED_AGENT, GObject)

/* The app's own agent, signed in with the app's account: a thread with its
 * own GMainContext runs a MeshAgentController whose state lives in
 * $XDG_STATE_HOME/mesh/PROFILE/agent (the device is registered with the
 * app's access token on first use).  Use it from the main thread only; its
 * signals are emitted there:
 *   ready (device_id), failed (message): the agent is connected, or gave up;
 *   transfer-progress (id, done, total), transfer-finished (id, error message or NULL)
 *   for the ids mesh_embedded_agent_send() returned.
 * $MESH_AGENT_LISTEN names the address its QUIC endpoint binds (default: all). */
MeshEmbeddedAgent *mesh_embedded_agent_new           (const char        *profile,
                                                      const char        *server_url,
                                                      const char        *user_id,
                                                      const char        *username,
                                                      const char        *access_token,
                                                      GSettings         *settings);
void               mesh_embedded_agent_start         (MeshEmbeddedAgent *self);
/* Quits the thread's loop and joins it; no signal is emitted afterwards. */
void               mesh_embedded_agent_stop          (MeshEmbeddedAgent *self);
const char        *mesh_embedded_agent_get_user_id   (MeshEmbeddedAgent *self);
/* NULL until "ready". */
const char        *mesh_embedded_agent_get_device_id (MeshEmbeddedAgent *self);
/* Sends a file or a folder to @device_id in @room_id; returns the transfer's id (never 0). */
guint              mesh_embedded_agent_send          (MeshEmbeddedAgent *self,
                                                      const char        *room_id,
                                                      const char        *device_id,
                                                      GFile             *file);

G_END_DECLS
