/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-media-devices.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALLS_PAGE (mesh_calls_page_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallsPage, mesh_calls_page, MESH, CALLS_PAGE, AdwPreferencesPage)

/* The Calls page of the preferences: camera, microphone and speaker, each
 * "Default" or one of the devices plugged in now (the lists follow devices
 * plugged in and out), saved in the "camera", "microphone" and "speaker"
 * settings.  A saved device that is unplugged shows as "Default" but stays
 * saved, so it is used again when it comes back. */
GtkWidget   *mesh_calls_page_new           (GSettings        *settings,
                                            MeshMediaDevices *devices);
AdwComboRow *mesh_calls_page_get_row       (MeshCallsPage    *self,
                                            const char       *key);

G_END_DECLS
