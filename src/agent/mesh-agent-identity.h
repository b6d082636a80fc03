/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

G_BEGIN_DECLS

#define MESH_TYPE_AGENT_IDENTITY (mesh_agent_identity_get_type ())

G_DECLARE_FINAL_TYPE (MeshAgentIdentity, mesh_agent_identity, MESH, AGENT_IDENTITY, GObject)

MeshAgentIdentity     *mesh_agent_identity_load_or_create      (const char         *state_dir,
                                                                GError            **error);
const char            *mesh_agent_identity_get_fingerprint     (MeshAgentIdentity  *self);
gnutls_x509_crt_t      mesh_agent_identity_get_certificate     (MeshAgentIdentity  *self);
gnutls_x509_privkey_t  mesh_agent_identity_get_private_key     (MeshAgentIdentity  *self);
gnutls_certificate_credentials_t
                       mesh_agent_identity_new_credentials     (MeshAgentIdentity  *self,
                                                                GError            **error);

char                  *mesh_agent_fingerprint_from_der         (const guint8       *der,
                                                                gsize               der_len);

G_END_DECLS
