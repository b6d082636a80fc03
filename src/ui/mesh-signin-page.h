/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-client-rest.h"

G_BEGIN_DECLS

#define MESH_TYPE_SIGNIN_PAGE (mesh_signin_page_get_type ())

G_DECLARE_FINAL_TYPE (MeshSigninPage, mesh_signin_page, MESH, SIGNIN_PAGE, AdwBin)

/* The first-run page: server address, user name and password; signs in or
 * creates the account, asks the user to trust a self-signed certificate by
 * its fingerprint (and pins it in @settings), and emits "signed-in"
 * (MeshClientRest *rest, const char *username) with a REST object holding
 * the access token.  Errors go to the "win.toast" action. */
GtkWidget *mesh_signin_page_new      (void);
void       mesh_signin_page_set_settings (MeshSigninPage *self,
                                          GSettings      *settings);
/* Fills in the fields and signs in at once. */
void       mesh_signin_page_sign_in  (MeshSigninPage *self,
                                      const char     *server_url,
                                      const char     *username,
                                      const char     *password);
gboolean   mesh_signin_page_get_busy (MeshSigninPage *self);

G_END_DECLS
