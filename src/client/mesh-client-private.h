/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the library's objects use of each other; not for the app. */

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "mesh-chat-message.h"
#include "mesh-client-rest.h"
#include "mesh-member.h"
#include "mesh-room.h"

#include "mesh-error.h"

G_BEGIN_DECLS

SoupMessage     *mesh_client_rest_new_message          (MeshClientRest     *self,
                                                        const char         *method,
                                                        const char         *path,
                                                        GError            **error);
GError          *mesh_client_rest_transport_error      (SoupMessage        *msg,
                                                        GError             *error);

MeshChatMessage *mesh_chat_message_new_from_json       (JsonObject         *object,
                                                        const char         *own_user_id,
                                                        GError            **error);
MeshChatMessage *mesh_chat_message_new_pending         (const char         *room_id,
                                                        const char         *client_msg_id,
                                                        const char         *content,
                                                        const char         *user_id);
MeshChatMessage *mesh_chat_message_new_event           (const char         *room_id,
                                                        const char         *event,
                                                        const char         *user_id,
                                                        const char         *username,
                                                        const char         *own_user_id);
void             mesh_chat_message_confirm             (MeshChatMessage    *self,
                                                        MeshChatMessage    *created);
void             mesh_chat_message_set_delivery_state  (MeshChatMessage    *self,
                                                        MeshDeliveryState   state);

MeshMember      *mesh_member_new                       (const char         *user_id,
                                                        const char         *username,
                                                        const char         *role);
void             mesh_member_set_username              (MeshMember         *self,
                                                        const char         *username);
void             mesh_member_set_role                  (MeshMember         *self,
                                                        const char         *role);
void             mesh_member_set_status                (MeshMember         *self,
                                                        MeshPresence        status);
void             mesh_member_set_devices               (MeshMember         *self,
                                                        const char * const *devices);

MeshRoom        *mesh_room_new_from_json               (JsonObject         *object,
                                                        GError            **error);
void             mesh_room_update                      (MeshRoom           *self,
                                                        MeshRoom           *fresh);

G_END_DECLS
