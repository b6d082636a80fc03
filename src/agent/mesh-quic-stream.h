/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <ngtcp2/ngtcp2.h>

G_BEGIN_DECLS

#define MESH_TYPE_QUIC_STREAM (mesh_quic_stream_get_type ())

G_DECLARE_FINAL_TYPE (MeshQuicStream, mesh_quic_stream, MESH, QUIC_STREAM, GIOStream)

typedef struct _MeshQuicConnection MeshQuicConnection;

gint64              mesh_quic_stream_get_id          (MeshQuicStream *self);
MeshQuicConnection *mesh_quic_stream_get_connection  (MeshQuicStream *self);
/* The application error code of RESET_STREAM / STOP_SENDING for a user's
 * cancel ("MC"); the peer's reads and writes then fail with
 * MESH_FRAME_ERROR_CANCELLED instead of a lost connection. */
#define MESH_QUIC_STREAM_CANCELLED 0x4d43

void                mesh_quic_stream_abort           (MeshQuicStream *self,
                                                      guint64         app_error_code);
void                mesh_quic_stream_set_send_rate   (MeshQuicStream *self,
                                                      guint64         bytes_per_second);
void                mesh_quic_stream_set_receive_rate (MeshQuicStream *self,
                                                       guint64         bytes_per_second);

gboolean            mesh_quic_output_stream_is        (GOutputStream  *stream);
void                mesh_quic_output_stream_write_bytes_async
                                                      (GOutputStream       *stream,
                                                       GBytes       *const *parts,
                                                       guint                n_parts,
                                                       int                  io_priority,
                                                       GCancellable        *cancellable,
                                                       GAsyncReadyCallback  callback,
                                                       gpointer             user_data);
gboolean            mesh_quic_output_stream_write_bytes_finish
                                                      (GOutputStream  *stream,
                                                       GAsyncResult   *result,
                                                       GError        **error);

/* How many vectors _mesh_quic_stream_peek_unsent() fills at most. */
#define MESH_QUIC_STREAM_MAX_VECS 16

/* < private >  Called by MeshQuicConnection (mesh-quic-endpoint.c) only, on the endpoint's
 * thread and never from inside an ngtcp2 callback unless noted "callback-safe". */
MeshQuicStream *_mesh_quic_stream_new            (MeshQuicConnection *connection,
                                                  gint64              stream_id);
/* Unsent bytes (up to MESH_QUIC_STREAM_MAX_VECS segments) and whether FIN is due. */
gsize           _mesh_quic_stream_peek_unsent    (MeshQuicStream     *self,
                                                  ngtcp2_vec          vec[MESH_QUIC_STREAM_MAX_VECS],
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
