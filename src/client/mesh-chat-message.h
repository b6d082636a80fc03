/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-client-enums.h"

G_BEGIN_DECLS

#define MESH_TYPE_CHAT_MESSAGE (mesh_chat_message_get_type ())

G_DECLARE_FINAL_TYPE (MeshChatMessage, mesh_chat_message, MESH, CHAT_MESSAGE, GObject)

/* One chat message (protocol §3.3), read-only for the UI: the session and
 * the chat model fill it in.  message-id is NULL while an own message is
 * pending. */
const char        *mesh_chat_message_get_message_id     (MeshChatMessage *self);
const char        *mesh_chat_message_get_client_msg_id  (MeshChatMessage *self);
const char        *mesh_chat_message_get_room_id        (MeshChatMessage *self);
const char        *mesh_chat_message_get_from           (MeshChatMessage *self);
const char        *mesh_chat_message_get_user_id        (MeshChatMessage *self);
const char        *mesh_chat_message_get_username       (MeshChatMessage *self);
const char        *mesh_chat_message_get_content        (MeshChatMessage *self);
const char        *mesh_chat_message_get_timestamp      (MeshChatMessage *self);
GDateTime         *mesh_chat_message_get_date_time      (MeshChatMessage *self);
MeshDeliveryState  mesh_chat_message_get_delivery_state (MeshChatMessage *self);
gboolean           mesh_chat_message_get_is_own         (MeshChatMessage *self);
/* NULL for a chat message; "joined" or "left" for a line saying that the
 * member (user_id, username) joined or left the room, seen live. */
const char        *mesh_chat_message_get_event          (MeshChatMessage *self);

/* A local item, not a message: a file or folder sent to or received from
 * @peer_name that ended here (@outcome "done", "cancelled" or "failed").
 * Its event is "file-sent" or "file-received"; @file (may be NULL) is what
 * was sent, or where it was saved.  Live only: nothing stores it. */
MeshChatMessage   *mesh_chat_message_new_file           (const char      *room_id,
                                                         gboolean         outgoing,
                                                         const char      *peer_name,
                                                         const char      *name,
                                                         gboolean         is_folder,
                                                         guint64          size,
                                                         const char      *outcome,
                                                         GFile           *file);
const char        *mesh_chat_message_get_file_name      (MeshChatMessage *self);
guint64            mesh_chat_message_get_file_size      (MeshChatMessage *self);
gboolean           mesh_chat_message_get_file_is_folder (MeshChatMessage *self);
const char        *mesh_chat_message_get_file_outcome   (MeshChatMessage *self);
GFile             *mesh_chat_message_get_file           (MeshChatMessage *self);

G_END_DECLS
