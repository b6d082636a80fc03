/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "mesh-chat-message.h"

G_BEGIN_DECLS

#define MESH_TYPE_ROOM (mesh_room_get_type ())

G_DECLARE_FINAL_TYPE (MeshRoom, mesh_room, MESH, ROOM, GObject)

/* A room of the user, as GET /api/v1/rooms lists it, with an unread count
 * kept by MeshRoomList.  Signal "members-changed": the membership (who,
 * which role) changed at a refresh. */
const char *mesh_room_get_room_id      (MeshRoom *self);
const char *mesh_room_get_name         (MeshRoom *self);
guint       mesh_room_get_n_members    (MeshRoom *self);
/* New MeshMember objects (status offline) for the room's users, in the
 * server's order (owner first). */
GPtrArray  *mesh_room_dup_members      (MeshRoom *self);
guint       mesh_room_get_unread_count (MeshRoom *self);
/* The app resets it (0) when the user reads the room. */
void        mesh_room_set_unread_count (MeshRoom *self,
                                        guint     count);
/* The newest message known in the room ("last-message", NULL before any),
 * for the room list's preview; kept by MeshRoomList. */
MeshChatMessage *mesh_room_get_last_message (MeshRoom        *self);
void             mesh_room_set_last_message (MeshRoom        *self,
                                             MeshChatMessage *message);

G_END_DECLS
