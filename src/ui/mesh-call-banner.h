/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-call-controller.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL_BANNER (mesh_call_banner_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallBanner, mesh_call_banner, MESH, CALL_BANNER, AdwBin)

/* A bar above a room's conversation for what rings or is shared: "bob is
 * calling" with Decline and Accept (in this room or, naming it, another),
 * "alice is sharing a screen" with Watch, "You are sharing your screen"
 * with Stop Sharing, and "You are in a call in “Garden”" with Go to Call
 * and Hang Up while the user looks at another room.  The buttons are the
 * app's actions with the call's room id. */
GtkWidget *mesh_call_banner_new            (void);
void       mesh_call_banner_set_controller (MeshCallBanner     *self,
                                            MeshCallController *controller);
void       mesh_call_banner_set_room_id    (MeshCallBanner     *self,
                                            const char         *room_id);
/* The sentences shown, in order (for tests and screen readers). */
GStrv      mesh_call_banner_dup_texts      (MeshCallBanner     *self);

G_END_DECLS
