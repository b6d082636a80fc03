/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-client-session.h"
#include "mesh-room-list.h"

G_BEGIN_DECLS

#define MESH_TYPE_ROOM_SIDEBAR (mesh_room_sidebar_get_type ())

G_DECLARE_FINAL_TYPE (MeshRoomSidebar, mesh_room_sidebar, MESH, ROOM_SIDEBAR, AdwBin)

/* The rooms of the user, with unread badges; creates a room and joins one
 * with an invite code.  Emits "room-activated" (MeshRoom *) when the user
 * picks a room (or mesh_room_sidebar_select_room does). */
GtkWidget *mesh_room_sidebar_new            (void);
void       mesh_room_sidebar_set_room_list  (MeshRoomSidebar   *self,
                                             MeshRoomList      *room_list,
                                             MeshClientSession *session,
                                             const char        *username);
gboolean   mesh_room_sidebar_select_room    (MeshRoomSidebar   *self,
                                             const char        *room_id);
void       mesh_room_sidebar_create_room    (MeshRoomSidebar   *self);
void       mesh_room_sidebar_join_room      (MeshRoomSidebar   *self);
void       mesh_room_sidebar_focus_rooms    (MeshRoomSidebar   *self);

G_END_DECLS
