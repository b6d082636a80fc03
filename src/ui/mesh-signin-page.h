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
/* The server URL meant by what the user typed: without a scheme, http on
 * this computer and local networks (loopback, private and link-local
 * addresses, localhost, *.local), https elsewhere; NULL with a sentence in
 * @error when it is no server address. */
char      *mesh_signin_page_normalize_url (const char  *text,
                                           GError     **error);

G_END_DECLS
