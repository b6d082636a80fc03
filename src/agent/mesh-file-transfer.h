/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-transfer-engine.h"

#include "mesh-hash-cache.h"

G_BEGIN_DECLS

#define MESH_TYPE_FILE_SENDER (mesh_file_sender_get_type ())

G_DECLARE_FINAL_TYPE (MeshFileSender, mesh_file_sender, MESH, FILE_SENDER, MeshTransferEngine)

MeshFileSender *mesh_file_sender_new              (GIOStream            *stream,
                                                   GFile                *file);
void            mesh_file_sender_set_name         (MeshFileSender       *self,
                                                   const char           *name);
const char     *mesh_file_sender_get_name         (MeshFileSender       *self);
void            mesh_file_sender_send_async       (MeshFileSender       *self,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
gboolean        mesh_file_sender_send_finish      (MeshFileSender       *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);
guint64         mesh_file_sender_get_bytes_done   (MeshFileSender       *self);
guint64         mesh_file_sender_get_total        (MeshFileSender       *self);
guint64         mesh_file_sender_get_resumed_from (MeshFileSender       *self);
const char     *mesh_file_sender_get_hash         (MeshFileSender       *self);
void            mesh_file_sender_set_hash_cache   (MeshFileSender       *self,
                                                   MeshHashCache        *cache);
gboolean        mesh_file_sender_get_hash_cached  (MeshFileSender       *self);

#define MESH_TYPE_FILE_RECEIVER (mesh_file_receiver_get_type ())

G_DECLARE_FINAL_TYPE (MeshFileReceiver, mesh_file_receiver, MESH, FILE_RECEIVER, MeshTransferEngine)

MeshFileReceiver *mesh_file_receiver_new              (GIOStream            *stream,
                                                       GFile                *download_dir);
void              mesh_file_receiver_set_max_size     (MeshFileReceiver     *self,
                                                       guint64               max_size);
void              mesh_file_receiver_set_offer        (MeshFileReceiver     *self,
                                                       const char           *name,
                                                       guint64               size,
                                                       const char           *hash);
void              mesh_file_receiver_discard          (MeshFileReceiver     *self);
void              mesh_file_receiver_receive_async    (MeshFileReceiver     *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean          mesh_file_receiver_receive_finish   (MeshFileReceiver     *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);
const char       *mesh_file_receiver_get_name         (MeshFileReceiver     *self);
GFile            *mesh_file_receiver_get_file         (MeshFileReceiver     *self);
guint64           mesh_file_receiver_get_bytes_done   (MeshFileReceiver     *self);
guint64           mesh_file_receiver_get_total        (MeshFileReceiver     *self);
guint64           mesh_file_receiver_get_resumed_from (MeshFileReceiver     *self);
const char       *mesh_file_receiver_get_hash         (MeshFileReceiver     *self);

G_END_DECLS
