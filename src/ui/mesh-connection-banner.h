/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-client-session.h"

G_BEGIN_DECLS

#define MESH_TYPE_CONNECTION_BANNER (mesh_connection_banner_get_type ())

G_DECLARE_FINAL_TYPE (MeshConnectionBanner, mesh_connection_banner, MESH, CONNECTION_BANNER, AdwBin)

/* A bar that says, while the session is not connected, what it is doing
 * (connecting, reconnecting, offline) with a button to retry at once.
 * (AdwBanner is libadwaita 1.3.) */
GtkWidget *mesh_connection_banner_new         (void);
void       mesh_connection_banner_set_session (MeshConnectionBanner *self,
                                               MeshClientSession    *session);

G_END_DECLS
