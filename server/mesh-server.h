/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "mesh-config.h"
#include "mesh-hub.h"
#include "mesh-store.h"

G_BEGIN_DECLS

/* The whole daemon: store, signing key, REST + /ws on one port, the legacy
 * relay on another. */

#define MESH_TYPE_SERVER (mesh_server_get_type ())
G_DECLARE_FINAL_TYPE (MeshServer, mesh_server, MESH, SERVER, GObject)

MeshServer *mesh_server_new            (const MeshConfig *config,
                                        GError          **error);
/* Binds the listeners; after this the server answers. */
gboolean    mesh_server_start          (MeshServer       *self,
                                        GError          **error);
/* Closes every socket and the database. */
void        mesh_server_stop           (MeshServer       *self);
char       *mesh_server_get_url        (MeshServer       *self);
char       *mesh_server_get_legacy_url (MeshServer       *self);
MeshStore  *mesh_server_get_store      (MeshServer       *self);
MeshHub    *mesh_server_get_hub        (MeshServer       *self);

/* Opens the store of @data_dir (creating the folder 0700), for the `user`
 * commands and the server alike. */
MeshStore  *mesh_server_open_store     (const char       *data_dir,
                                        GError          **error);

G_END_DECLS
