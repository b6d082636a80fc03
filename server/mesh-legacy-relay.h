/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "mesh-ws-peer.h"

G_BEGIN_DECLS

/* TEMPORARY: the proof-of-concept signaling relay (spec/legacy-relay.md),
 * kept for existing clients until distributed discovery replaces it. */

#define MESH_TYPE_LEGACY_RELAY (mesh_legacy_relay_get_type ())
G_DECLARE_FINAL_TYPE (MeshLegacyRelay, mesh_legacy_relay, MESH, LEGACY_RELAY, GObject)

MeshLegacyRelay *mesh_legacy_relay_new       (const MeshWsLimits *limits);
/* Adds GET /health and the WebSocket relay on "/" to @server. */
void             mesh_legacy_relay_attach    (MeshLegacyRelay    *self,
                                              SoupServer         *server);
void             mesh_legacy_relay_close_all (MeshLegacyRelay    *self);
guint            mesh_legacy_relay_get_n_participants (MeshLegacyRelay *self);

G_END_DECLS
