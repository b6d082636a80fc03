/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-call-controller.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL_BUTTONS (mesh_call_buttons_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallButtons, mesh_call_buttons, MESH, CALL_BUTTONS, AdwBin)

/* The room header's Call and Share Screen buttons (app.call-room and
 * app.share-screen with the room's id); Share Screen becomes Stop Sharing
 * while this app shares its screen with the room, and Call is off while
 * the room's call runs. */
GtkWidget *mesh_call_buttons_new            (void);
void       mesh_call_buttons_set_controller (MeshCallButtons    *self,
                                             MeshCallController *controller);
void       mesh_call_buttons_set_room_id    (MeshCallButtons    *self,
                                             const char         *room_id);

G_END_DECLS
