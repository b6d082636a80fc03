/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the QUIC endpoint (mesh-quic-endpoint.c: endpoint and connections)
 * and its streams (mesh-quic-stream.c) call in each other, and two counters
 * for tests.  Nothing else includes this. */

#include <ngtcp2/ngtcp2.h>

#include "mesh-quic-endpoint.h"
#include "mesh-quic-stream.h"

G_BEGIN_DECLS

/* For tests. */
guint _mesh_quic_endpoint_get_n_connections (MeshQuicEndpoint *self);
guint _mesh_quic_endpoint_get_n_retries     (MeshQuicEndpoint *self);

/* Called by MeshQuicStream only, never from inside an ngtcp2 callback. */
void _mesh_quic_connection_stream_send_ready   (MeshQuicConnection *self,
                                                MeshQuicStream     *stream);
void _mesh_quic_connection_stream_consumed     (MeshQuicConnection *self,
                                                MeshQuicStream     *stream,
                                                gsize               n_bytes);
void _mesh_quic_connection_stream_stop_reading (MeshQuicConnection *self,
                                                MeshQuicStream     *stream,
                                                guint64             app_error_code);
void _mesh_quic_connection_stream_abort        (MeshQuicConnection *self,
                                                MeshQuicStream     *stream,
                                                guint64             app_error_code);

/* Called by MeshQuicConnection (mesh-quic-endpoint.c) only, on the endpoint's
 * thread and never from inside an ngtcp2 callback unless noted "callback-safe". */
MeshQuicStream *_mesh_quic_stream_new            (MeshQuicConnection *connection,
                                                  gint64              stream_id);
/* Unsent bytes (up to two vectors because the buffer is a ring) and whether FIN is due. */
gsize           _mesh_quic_stream_peek_unsent    (MeshQuicStream     *self,
                                                  ngtcp2_vec          vec[2],
                                                  gsize              *n_vec,
                                                  gboolean           *fin);
/* callback-safe from here on */
void            _mesh_quic_stream_mark_sent      (MeshQuicStream     *self,
                                                  gsize               n_bytes,
                                                  gboolean            fin);
void            _mesh_quic_stream_acked          (MeshQuicStream     *self,
                                                  guint64             offset,
                                                  guint64             length);
gboolean        _mesh_quic_stream_received       (MeshQuicStream     *self,
                                                  const guint8       *data,
                                                  gsize               length,
                                                  gboolean            fin);
void            _mesh_quic_stream_peer_reset     (MeshQuicStream     *self,
                                                  guint64             app_error_code);
void            _mesh_quic_stream_peer_stop_sending (MeshQuicStream  *self,
                                                  guint64             app_error_code);
void            _mesh_quic_stream_closed         (MeshQuicStream     *self,
                                                  gboolean            app_error_set,
                                                  guint64             app_error_code);
void            _mesh_quic_stream_detach         (MeshQuicStream     *self,
                                                  const GError       *error);
/* Completes pending reads, writes and closes that became possible; may run user callbacks. */
void            _mesh_quic_stream_dispatch       (MeshQuicStream     *self);

G_END_DECLS
