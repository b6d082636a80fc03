/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

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

G_END_DECLS
