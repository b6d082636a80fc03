/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-client-session.h"
#include "mesh-member.h"
#include "mesh-room.h"

G_BEGIN_DECLS

#define MESH_TYPE_MEMBER_LIST (mesh_member_list_get_type ())

G_DECLARE_FINAL_TYPE (MeshMemberList, mesh_member_list, MESH, MEMBER_LIST, GObject)

/* The users of @room (a GListModel of MeshMember): the room's members from
 * REST, in their order, then any user seen joining since, merged with live
 * presence from the session.  A user's status is the strongest of their
 * app connections (sharing > busy > online; none: offline); "devices" are
 * their connected agents. */
MeshMemberList *mesh_member_list_new      (MeshClientSession *session,
                                           MeshRoom          *room);
MeshRoom       *mesh_member_list_get_room (MeshMemberList    *self);
MeshMember     *mesh_member_list_find     (MeshMemberList    *self,
                                           const char        *user_id,
                                           guint             *position);

G_END_DECLS
