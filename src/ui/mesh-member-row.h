/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "mesh-member.h"

G_BEGIN_DECLS

#define MESH_TYPE_MEMBER_ROW (mesh_member_row_get_type ())

G_DECLARE_FINAL_TYPE (MeshMemberRow, mesh_member_row, MESH, MEMBER_ROW, GtkListBoxRow)

/* A member of the room: avatar with a presence dot, name, role and status. */
GtkWidget  *mesh_member_row_new        (MeshMember    *member);
MeshMember *mesh_member_row_get_member (MeshMemberRow *self);

/* Marks the row as the signed-in user's own: it offers no sending. */
void        mesh_member_row_set_is_self (MeshMemberRow *self,
                                         gboolean       is_self);

G_END_DECLS
