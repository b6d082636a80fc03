/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-agent-identity.h"
#include "mesh-quic-stream.h"

G_BEGIN_DECLS

/* ALPN of the Mesh data plane (protocol §6). */
#define MESH_QUIC_ALPN "mesh/2"

#define MESH_TYPE_QUIC_ENDPOINT (mesh_quic_endpoint_get_type ())
#define MESH_TYPE_QUIC_CONNECTION (mesh_quic_connection_get_type ())

G_DECLARE_FINAL_TYPE (MeshQuicEndpoint, mesh_quic_endpoint, MESH, QUIC_ENDPOINT, GObject)
G_DECLARE_FINAL_TYPE (MeshQuicConnection, mesh_quic_connection, MESH, QUIC_CONNECTION, GObject)

MeshQuicEndpoint   *mesh_quic_endpoint_new               (MeshAgentIdentity    *identity,
                                                          GInetSocketAddress   *bind_address,
                                                          GError              **error);
guint16             mesh_quic_endpoint_get_port          (MeshQuicEndpoint     *self);
GInetSocketAddress *mesh_quic_endpoint_get_local_address (MeshQuicEndpoint     *self);
MeshAgentIdentity  *mesh_quic_endpoint_get_identity      (MeshQuicEndpoint     *self);
void                mesh_quic_endpoint_expect_peer       (MeshQuicEndpoint     *self,
                                                          const char           *fingerprint);
void                mesh_quic_endpoint_forget_peer       (MeshQuicEndpoint     *self,
                                                          const char           *fingerprint);
void                mesh_quic_endpoint_set_idle_timeout  (MeshQuicEndpoint     *self,
                                                          guint                 timeout_ms);
guint               mesh_quic_endpoint_get_idle_timeout  (MeshQuicEndpoint     *self);
void                mesh_quic_endpoint_connect_async     (MeshQuicEndpoint     *self,
                                                          GSocketAddress       *remote,
                                                          const char           *pinned_fingerprint,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
MeshQuicConnection *mesh_quic_endpoint_connect_finish    (MeshQuicEndpoint     *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
void                mesh_quic_endpoint_shutdown          (MeshQuicEndpoint     *self);

MeshQuicStream     *mesh_quic_connection_open_stream     (MeshQuicConnection   *self,
                                                          GError              **error);
const char         *mesh_quic_connection_get_peer_fingerprint
                                                         (MeshQuicConnection   *self);
GInetSocketAddress *mesh_quic_connection_get_remote_address
                                                         (MeshQuicConnection   *self);
gboolean            mesh_quic_connection_is_server       (MeshQuicConnection   *self);
gboolean            mesh_quic_connection_is_closed       (MeshQuicConnection   *self);
void                mesh_quic_connection_close           (MeshQuicConnection   *self,
                                                          guint64               app_error_code,
                                                          const char           *reason);

G_END_DECLS
