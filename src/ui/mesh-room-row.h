/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "mesh-room.h"

G_BEGIN_DECLS

#define MESH_TYPE_ROOM_ROW (mesh_room_row_get_type ())

G_DECLARE_FINAL_TYPE (MeshRoomRow, mesh_room_row, MESH, ROOM_ROW, GtkListBoxRow)

/* A room in the sidebar: avatar, name and unread badge, kept current. */
GtkWidget *mesh_room_row_new      (MeshRoom    *room);
MeshRoom  *mesh_room_row_get_room (MeshRoomRow *self);

G_END_DECLS
