/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-transfer-engine.h"

G_BEGIN_DECLS

#define MESH_TYPE_FOLDER_SENDER (mesh_folder_sender_get_type ())

G_DECLARE_FINAL_TYPE (MeshFolderSender, mesh_folder_sender, MESH, FOLDER_SENDER, MeshTransferEngine)

MeshFolderSender *mesh_folder_sender_new            (GIOStream            *stream,
                                                     GFile                *folder);
void              mesh_folder_sender_send_async     (MeshFolderSender     *self,
                                                     GCancellable         *cancellable,
                                                     GAsyncReadyCallback   callback,
                                                     gpointer              user_data);
gboolean          mesh_folder_sender_send_finish    (MeshFolderSender     *self,
                                                     GAsyncResult         *result,
                                                     GError              **error);
guint64           mesh_folder_sender_get_zip_size   (MeshFolderSender     *self);
const char       *mesh_folder_sender_get_hash       (MeshFolderSender     *self);

#define MESH_TYPE_FOLDER_RECEIVER (mesh_folder_receiver_get_type ())

G_DECLARE_FINAL_TYPE (MeshFolderReceiver, mesh_folder_receiver, MESH, FOLDER_RECEIVER, MeshTransferEngine)

MeshFolderReceiver *mesh_folder_receiver_new            (GIOStream            *stream,
                                                         GFile                *download_dir);
void                mesh_folder_receiver_set_max_size   (MeshFolderReceiver   *self,
                                                         guint64               max_size);
void                mesh_folder_receiver_set_offer      (MeshFolderReceiver   *self,
                                                         const char           *name,
                                                         guint64               size);
void                mesh_folder_receiver_receive_async  (MeshFolderReceiver   *self,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
gboolean            mesh_folder_receiver_receive_finish (MeshFolderReceiver   *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);
const char         *mesh_folder_receiver_get_name       (MeshFolderReceiver   *self);
GFile              *mesh_folder_receiver_get_folder     (MeshFolderReceiver   *self);

G_END_DECLS
