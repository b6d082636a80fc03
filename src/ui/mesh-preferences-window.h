/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-client-rest.h"

G_BEGIN_DECLS

#define MESH_TYPE_PREFERENCES_WINDOW (mesh_preferences_window_get_type ())

G_DECLARE_FINAL_TYPE (MeshPreferencesWindow, mesh_preferences_window, MESH, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

/* The settings of one profile: style, notifications, the server signed in
 * to (read-only: sign out to change it), download folder and auto-accept. */
GtkWindow *mesh_preferences_window_new             (GSettings             *settings);
/* The signed-in account (NULL for none): adds the Gotify page for it.  Set
 * from the main window the preferences are made transient for. */
void       mesh_preferences_window_set_rest        (MeshPreferencesWindow *self,
                                                    MeshClientRest        *rest);
/* The MeshGotifyPage, or NULL when not signed in. */
GtkWidget *mesh_preferences_window_get_gotify_page (MeshPreferencesWindow *self);
/* The MeshCallsPage (camera, microphone, speaker), once the window is
 * transient for a main window. */
GtkWidget *mesh_preferences_window_get_calls_page  (MeshPreferencesWindow *self);
/* The MeshDevicesPage, or NULL when not signed in. */
GtkWidget *mesh_preferences_window_get_devices_page (MeshPreferencesWindow *self);

G_END_DECLS
