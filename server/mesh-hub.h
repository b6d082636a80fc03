/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "mesh-cap-token.h"
#include "mesh-notify.h"
#include "mesh-store.h"
#include "mesh-ws-peer.h"

G_BEGIN_DECLS

/* The protocol v2 WebSocket hub (§3, §7, §8): the connected peers, the
 * live rooms, and one table from event type to handler. */

#define MESH_TYPE_HUB (mesh_hub_get_type ())
G_DECLARE_FINAL_TYPE (MeshHub, mesh_hub, MESH, HUB, GObject)

MeshHub  *mesh_hub_new                    (MeshStore          *store,
                                           MeshCapKey         *cap_key,
                                           const MeshWsLimits *limits,
                                           guint               hello_timeout_s);
/* Adds the authenticating handler and the WebSocket handler on @path. */
void      mesh_hub_attach                 (MeshHub            *self,
                                           SoupServer         *server,
                                           const char         *path);
/* Where notifiable events (§9) go; NULL: nowhere. */
void      mesh_hub_set_notifier           (MeshHub            *self,
                                           MeshNotifier       *notifier);
/* Closes every socket (server shutdown). */
void      mesh_hub_close_all              (MeshHub            *self);
guint     mesh_hub_get_n_peers            (MeshHub            *self);
/* TRUE when the peer that holds control of a terminal share in @room_id
 * (§4, §7: control is a peer's, not every client of its user) belongs to
 * @user_id and authenticated with @bearer_token, the token of the request
 * that asks for `terminal:control`. */
gboolean  mesh_hub_user_controls_terminal (MeshHub            *self,
                                           const char         *room_id,
                                           const char         *user_id,
                                           const char         *bearer_token);

G_END_DECLS
