/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-client-rest.h"

G_BEGIN_DECLS

#define MESH_TYPE_DEVICES_PAGE (mesh_devices_page_get_type ())

G_DECLARE_FINAL_TYPE (MeshDevicesPage, mesh_devices_page, MESH, DEVICES_PAGE, AdwPreferencesPage)

/* The user's devices on the server (GET /api/v1/devices), each with a Remove
 * button that revokes it (DELETE /api/v1/devices/{id}) after asking.  The
 * device of this app's own agent, @own_device_id (may be NULL), is marked.
 * "busy" is TRUE while a request is in flight. */
GtkWidget *mesh_devices_page_new      (MeshClientRest  *rest,
                                       const char      *own_device_id);
gboolean   mesh_devices_page_get_busy (MeshDevicesPage *self);
void       mesh_devices_page_reload   (MeshDevicesPage *self);

G_END_DECLS
