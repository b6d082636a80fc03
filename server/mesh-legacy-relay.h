/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "mesh-ws-peer.h"

G_BEGIN_DECLS

/* TEMPORARY: the proof-of-concept signaling relay (spec/legacy-relay.md),
 * kept for existing clients until distributed discovery replaces it.
 *
 * Choices the spec leaves open:
 * - "Everyone" and "the others" are the registered sockets.  A socket that
 *   has not registered receives nothing but answers to its own messages
 *   (errors, and its own role-assign).
 * - A second socket registering a live nodeId takes it over: the others get
 *   `presence` leave for the old entry, the new `participants`, then
 *   `presence` join; the older socket gets an `error` saying the nodeId was
 *   registered by another connection and is closed (1000).
 * - A socket registering again under a new nodeId leaves under the old one
 *   first (leave, participants, join); under the same nodeId it updates its
 *   entry in place (participants, join with the new details).
 * - `signal` needs a registered sender; `from` is not compared with the
 *   sender's nodeId (no authentication: security is end to end).  The
 *   frame is forwarded byte for byte.
 * - `heartbeat` from an unregistered socket is neither relayed nor an error.
 * - nodeId must be a non-empty string; nodeId and username may not contain
 *   U+0000, and no registered string may hold a lone surrogate escape.
 * - Frames are checked as strict JSON (RFC 8259) before anything else.
 * - GET /health answers {"status":"ok"}; any other plain HTTP request gets a
 *   JSON error (400 on "/", 404 elsewhere); a WebSocket upgrade on any path
 *   but /health reaches the relay. */

#define MESH_TYPE_LEGACY_RELAY (mesh_legacy_relay_get_type ())
G_DECLARE_FINAL_TYPE (MeshLegacyRelay, mesh_legacy_relay, MESH, LEGACY_RELAY, GObject)

MeshLegacyRelay *mesh_legacy_relay_new       (const MeshWsLimits *limits);
/* Adds GET /health and the WebSocket relay on "/" to @server. */
void             mesh_legacy_relay_attach    (MeshLegacyRelay    *self,
                                              SoupServer         *server);
/* Closes every socket (server shutdown). */
void             mesh_legacy_relay_close_all (MeshLegacyRelay    *self);
/* The number of registered nodeIds. */
guint            mesh_legacy_relay_get_n_participants (MeshLegacyRelay *self);

G_END_DECLS
