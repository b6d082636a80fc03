/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-call-controller.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL_VIEW (mesh_call_view_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallView, mesh_call_view, MESH, CALL_VIEW, AdwBin)

/* The call of one room, above its conversation: a tile per person (the
 * user's own camera small in a corner, or as one tile among the others
 * when there are three or four), the call's duration, "You are muted" while
 * the user speaks muted, and the buttons: mute, camera, share screen, hang
 * up.  Visible ("active" property) while the room has a call that is
 * calling or running. */
GtkWidget  *mesh_call_view_new            (void);
void        mesh_call_view_set_controller (MeshCallView       *self,
                                           MeshCallController *controller);
void        mesh_call_view_set_room_id    (MeshCallView       *self,
                                           const char         *room_id);
/* The call shown, or NULL. */
MeshCall   *mesh_call_view_get_call       (MeshCallView       *self);
gboolean    mesh_call_view_get_active     (MeshCallView       *self);
/* The tiles of the other people, in the order shown (MeshCallTile). */
GPtrArray  *mesh_call_view_dup_tiles      (MeshCallView       *self);
GtkWidget  *mesh_call_view_get_self_tile  (MeshCallView       *self);
/* The duration as shown ("Calling…" before anyone answered). */
const char *mesh_call_view_get_duration_text (MeshCallView    *self);

G_END_DECLS
