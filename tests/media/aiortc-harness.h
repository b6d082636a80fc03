/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* What the interop tests need around tests/media/aiortc-peer.py.
 *
 * aiortc never uses loopback addresses, so the peer runs in a network
 * namespace joined to this one by a veth pair with a private /30 from
 * 10.231.0.0/16 (nothing else is addressed, no route leaves the pair):
 * mesh-server listens on the host end (with TLS, as it must off loopback),
 * the aiortc peer runs inside with `ip netns exec`.  Everything is deleted
 * when freed, and namespaces left by a crashed test run are removed by the
 * next one. */

typedef struct _MeshTestNetns MeshTestNetns;

/* G_IO_ERROR_PERMISSION_DENIED when namespaces cannot be made here (no
 * CAP_NET_ADMIN, no `ip`): tests skip then. */
MeshTestNetns *mesh_test_netns_new              (GError        **error);
void           mesh_test_netns_free             (MeshTestNetns  *self);
const char    *mesh_test_netns_get_name         (MeshTestNetns  *self);
/* The host end ("10.231.A.B") and the namespace's end. */
const char    *mesh_test_netns_get_host_address (MeshTestNetns  *self);
const char    *mesh_test_netns_get_peer_address (MeshTestNetns  *self);

/* mesh-server listening on @address with a self-signed certificate for
 * it (and 127.0.0.1), a temporary data folder, @config_text (GKeyFile, or
 * NULL) as its config; killed when freed. */
typedef struct _MeshTestMediaServer MeshTestMediaServer;

MeshTestMediaServer *mesh_test_media_server_new      (const char          *address,
                                                      const char          *config_text);
void                 mesh_test_media_server_free     (MeshTestMediaServer *self);
/* Asserts that `mesh-server user add` worked; returns the user_id. */
char                *mesh_test_media_server_add_user (MeshTestMediaServer *self,
                                                      const char          *username,
                                                      const char          *password);
void                 mesh_test_media_server_start    (MeshTestMediaServer *self);
/* "https://ADDRESS:PORT" */
const char          *mesh_test_media_server_get_url  (MeshTestMediaServer *self);
const char          *mesh_test_media_server_get_cert_path   (MeshTestMediaServer *self);
/* SHA-256 of the certificate's DER form, hex (MeshClientRest pins it). */
const char          *mesh_test_media_server_get_fingerprint (MeshTestMediaServer *self);
/* REST as @token (NULL: none) with a JSON @body (NULL: none); asserts a
 * 2xx answer and returns its JSON (NULL for 204). */
JsonNode            *mesh_test_media_server_rest     (MeshTestMediaServer *self,
                                                      const char          *method,
                                                      const char          *path,
                                                      const char          *token,
                                                      const char          *body);
/* Logs in (asserts success) and returns the access token. */
char                *mesh_test_media_server_login    (MeshTestMediaServer *self,
                                                      const char          *username,
                                                      const char          *password);
/* A room of @owner_token's with every token of @member_tokens (NULL-ended)
 * a member; returns its room_id. */
char                *mesh_test_media_server_shared_room (MeshTestMediaServer *self,
                                                         const char          *owner_token,
                                                         const char * const  *member_tokens);

/* One run of aiortc-peer.py: in @netns (NULL: this namespace), signed in
 * as @username, in @room_id, with @extra_args (NULL-ended: "--mode",
 * "call", …).  Its JSON lines are read as they come; stderr goes to the
 * test log. */
typedef struct _MeshTestAiortc MeshTestAiortc;

MeshTestAiortc *mesh_test_aiortc_spawn        (MeshTestNetns       *netns,
                                               MeshTestMediaServer *server,
                                               const char          *username,
                                               const char          *password,
                                               const char          *room_id,
                                               const char * const  *extra_args);
/* Pumps the main context until the peer said "ready" (joined); returns
 * its peer_id, or NULL (after @timeout_ms or when it exited). */
const char     *mesh_test_aiortc_wait_ready   (MeshTestAiortc      *self,
                                               guint                timeout_ms);
/* Pumps the main context until the peer printed its result line and
 * exited; returns the result (owned by @self) or NULL on a timeout. */
JsonObject     *mesh_test_aiortc_wait_result  (MeshTestAiortc      *self,
                                               guint                timeout_ms);
gboolean        mesh_test_aiortc_has_exited   (MeshTestAiortc      *self);
void            mesh_test_aiortc_free         (MeshTestAiortc      *self);

/* Runs the main context for @ms. */
void            mesh_test_media_pump          (guint                ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestNetns, mesh_test_netns_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestMediaServer, mesh_test_media_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestAiortc, mesh_test_aiortc_free)

G_END_DECLS
