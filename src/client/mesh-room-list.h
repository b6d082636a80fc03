/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-client-rest.h"
#include "mesh-client-session.h"
#include "mesh-room.h"

G_BEGIN_DECLS

#define MESH_TYPE_ROOM_LIST (mesh_room_list_get_type ())

G_DECLARE_FINAL_TYPE (MeshRoomList, mesh_room_list, MESH, ROOM_LIST, GObject)

/* The user's rooms (a GListModel of MeshRoom, in creation order) from
 * GET /rooms, refreshed after a create or an accepted invite.  With a
 * session it joins every room on it (presence, live chat) and counts the
 * messages of others in MeshRoom:unread-count. */
MeshRoomList *mesh_room_list_new                  (MeshClientRest      *rest,
                                                   MeshClientSession   *session);
MeshRoom     *mesh_room_list_find                 (MeshRoomList        *self,
                                                   const char          *room_id,
                                                   guint               *position);
void          mesh_room_list_refresh_async        (MeshRoomList        *self,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean      mesh_room_list_refresh_finish       (MeshRoomList        *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);
/* Creates a room (the user is its owner); returns its item (a new reference). */
void          mesh_room_list_create_room_async    (MeshRoomList        *self,
                                                   const char          *name,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
MeshRoom     *mesh_room_list_create_room_finish   (MeshRoomList        *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);
/* Accepts an invite code; returns the room's item (a new reference). */
void          mesh_room_list_accept_invite_async  (MeshRoomList        *self,
                                                   const char          *code,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
MeshRoom     *mesh_room_list_accept_invite_finish (MeshRoomList        *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);

/* Renames (owner), deletes (owner) or leaves a room; a deleted or left room
 * leaves the list at once, after MeshRoomList::room-removed (MeshRoom *room,
 * const char *why: "deleted" or "left", const char *by_user_id: who did it).  Other clients' lists follow through the
 * room.updated, room.deleted and room.member.left events.  All three end
 * with mesh_room_list_change_room_finish(). */
void          mesh_room_list_rename_room_async    (MeshRoomList        *self,
                                                   const char          *room_id,
                                                   const char          *name,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
void          mesh_room_list_delete_room_async    (MeshRoomList        *self,
                                                   const char          *room_id,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
void          mesh_room_list_leave_room_async     (MeshRoomList        *self,
                                                   const char          *room_id,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean      mesh_room_list_change_room_finish   (MeshRoomList        *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);

G_END_DECLS
