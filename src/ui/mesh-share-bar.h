/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-client-session.h"

G_BEGIN_DECLS

#define MESH_TYPE_SHARE_BAR (mesh_share_bar_get_type ())

G_DECLARE_FINAL_TYPE (MeshShareBar, mesh_share_bar, MESH, SHARE_BAR, AdwBin)

/* A bar above the chat listing the terminals shared in the room shown, each
 * with a "Watch" button ("Show" for one's own).  It follows every room's
 * shares from the session's terminal.share.started/stopped events, so that
 * switching rooms shows the right ones.
 * Signal "watch" (room_id, share_id, host username, host device_id). */
GtkWidget  *mesh_share_bar_new             (void);
void        mesh_share_bar_set_session     (MeshShareBar      *self,
                                            MeshClientSession *session);
/* The user's own agent's device: its shares are "yours". */
void        mesh_share_bar_set_own_device  (MeshShareBar      *self,
                                            const char        *device_id);
void        mesh_share_bar_set_room_id     (MeshShareBar      *self,
                                            const char        *room_id);
/* How many shares the room shown has. */
guint       mesh_share_bar_get_n_shares    (MeshShareBar      *self);

G_END_DECLS
