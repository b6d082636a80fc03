/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "mesh-agent-identity.h"

G_BEGIN_DECLS

/* What an agent keeps between runs, in its state folder: the QUIC identity
 * (identity.key, identity.crt) and agent.json (mode 0600) with the server,
 * the user, the registered device and its token, and settings. */

#define MESH_TYPE_AGENT_STATE (mesh_agent_state_get_type ())

G_DECLARE_FINAL_TYPE (MeshAgentState, mesh_agent_state, MESH, AGENT_STATE, GObject)

#define MESH_AGENT_STATE_FILE "agent.json"

char              *mesh_agent_state_default_dir      (void);

MeshAgentState    *mesh_agent_state_new              (const char      *state_dir);
gboolean           mesh_agent_state_load             (MeshAgentState  *self,
                                                      GError         **error);
gboolean           mesh_agent_state_save             (MeshAgentState  *self,
                                                      GError         **error);
MeshAgentIdentity *mesh_agent_state_load_identity    (MeshAgentState  *self,
                                                      GError         **error);

const char        *mesh_agent_state_get_dir          (MeshAgentState  *self);
gboolean           mesh_agent_state_is_registered    (MeshAgentState  *self);
const char        *mesh_agent_state_get_server_url   (MeshAgentState  *self);
void               mesh_agent_state_set_server_url   (MeshAgentState  *self,
                                                      const char      *url);
const char        *mesh_agent_state_get_server_fingerprint (MeshAgentState *self);
void               mesh_agent_state_set_server_fingerprint (MeshAgentState *self,
                                                            const char     *fingerprint);
void               mesh_agent_state_pin_message      (MeshAgentState  *self,
                                                      SoupMessage     *msg);
const char        *mesh_agent_state_get_username     (MeshAgentState  *self);
const char        *mesh_agent_state_get_user_id      (MeshAgentState  *self);
void               mesh_agent_state_set_user         (MeshAgentState  *self,
                                                      const char      *username,
                                                      const char      *user_id);
const char        *mesh_agent_state_get_device_id    (MeshAgentState  *self);
const char        *mesh_agent_state_get_device_name  (MeshAgentState  *self);
const char        *mesh_agent_state_get_device_token (MeshAgentState  *self);
void               mesh_agent_state_set_device       (MeshAgentState  *self,
                                                      const char      *device_id,
                                                      const char      *device_name,
                                                      const char      *device_token);
/* Free-form settings ("download_dir", "accept_from", ...), kept as given. */
JsonObject        *mesh_agent_state_get_settings     (MeshAgentState  *self);

/* REST against the state's server: @token NULL means the device token.
 * Errors: MESH_ERROR with the server's code (UNAUTHORIZED for 401, ...) or a
 * G_IO_ERROR / G_RESOLVER_ERROR / G_TLS_ERROR when the server is unreachable. */
void               mesh_agent_state_rest_async       (MeshAgentState       *self,
                                                      SoupSession          *session,
                                                      const char           *method,
                                                      const char           *path,
                                                      const char           *token,
                                                      JsonNode             *body,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
JsonNode          *mesh_agent_state_rest_finish      (MeshAgentState       *self,
                                                      GAsyncResult         *result,
                                                      GError              **error);

/* The one way a device is registered (the CLI's login and the app's first
 * start): POST /devices {name, fingerprint of @identity} with the user's
 * @access_token, then the answer's device id and token are set on the state
 * (not saved).  A malformed answer fails with G_IO_ERROR_INVALID_DATA. */
void               mesh_agent_state_register_device_async  (MeshAgentState       *self,
                                                            SoupSession          *session,
                                                            MeshAgentIdentity    *identity,
                                                            const char           *access_token,
                                                            const char           *name,
                                                            GCancellable         *cancellable,
                                                            GAsyncReadyCallback   callback,
                                                            gpointer              user_data);
gboolean           mesh_agent_state_register_device_finish (MeshAgentState       *self,
                                                            GAsyncResult         *result,
                                                            GError              **error);

/* Whether @error means "could not reach the server" rather than a refusal. */
gboolean           mesh_agent_error_is_unreachable   (const GError         *error);

G_END_DECLS
