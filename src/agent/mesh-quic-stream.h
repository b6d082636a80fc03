/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

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

G_END_DECLS
