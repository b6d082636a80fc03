/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-client-rest.h"

G_BEGIN_DECLS

#define MESH_TYPE_GOTIFY_PAGE (mesh_gotify_page_get_type ())

G_DECLARE_FINAL_TYPE (MeshGotifyPage, mesh_gotify_page, MESH, GOTIFY_PAGE, AdwPreferencesPage)

/* The user's Gotify target on the server (protocol §9, /api/v1/me/gotify):
 * loaded when created, saved, tested and removed through @rest.  Errors and
 * results are shown as toasts of the preferences window it is in.  "busy"
 * is TRUE while a request is in flight. */
GtkWidget *mesh_gotify_page_new      (MeshClientRest *rest);
gboolean   mesh_gotify_page_get_busy (MeshGotifyPage *self);

G_END_DECLS
