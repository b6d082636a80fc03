/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "mesh-client-enums.h"

G_BEGIN_DECLS

#define MESH_TYPE_MEMBER (mesh_member_get_type ())

G_DECLARE_FINAL_TYPE (MeshMember, mesh_member, MESH, MEMBER, GObject)

/* A user of a room: who (REST) and, in a MeshMemberList, how they are
 * connected right now (WebSocket presence). */
const char         *mesh_member_get_user_id  (MeshMember *self);
const char         *mesh_member_get_username (MeshMember *self);
/* "owner" or "member"; NULL when not known yet. */
const char         *mesh_member_get_role     (MeshMember *self);
MeshPresence        mesh_member_get_status   (MeshMember *self);
/* The device ids of the user's agents connected to the room (never NULL). */
const char * const *mesh_member_get_devices  (MeshMember *self);

G_END_DECLS
