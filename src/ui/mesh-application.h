/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define MESH_TYPE_APPLICATION (mesh_application_get_type ())

G_DECLARE_FINAL_TYPE (MeshApplication, mesh_application, MESH, APPLICATION, AdwApplication)

/* The app: one main window per profile.  `--profile NAME` keeps a separate
 * sign-in and settings (and runs as its own process, so that two accounts
 * can be open side by side); `--server`, `--username` and `--password-stdin`
 * fill in and submit the sign-in page (the demo uses them). */
MeshApplication *mesh_application_new                  (void);
/* Binds the text domain to where the translations are: the build folder's
 * when this program runs from it (uninstalled), else the installed ones.
 * Returns the folder bound. */
const char      *mesh_application_bind_text_domain     (void);
/* NULL for the default profile. */
const char      *mesh_application_get_profile          (MeshApplication *self);
void             mesh_application_set_profile          (MeshApplication *self,
                                                        const char      *profile);
GSettings       *mesh_application_get_settings         (MeshApplication *self);
/* A one-time sign-in from the command line; the password is handed over
 * once and then forgotten by the application. */
const char      *mesh_application_get_initial_server   (MeshApplication *self);
const char      *mesh_application_get_initial_username (MeshApplication *self);
char            *mesh_application_steal_initial_password (MeshApplication *self);

G_END_DECLS
