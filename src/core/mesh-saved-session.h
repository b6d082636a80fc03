/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* The sign-in the app keeps between runs: the access token lives 30 days
 * (protocol §2), so it is stored in a file only its owner can read
 * ($XDG_CONFIG_HOME/mesh/PROFILE/session.ini, mode 0600) rather than asking
 * for the password at every start.  The server address and user name are in
 * GSettings too, so that a sign-in page can be filled in after sign-out. */
typedef struct {
  char *server_url;
  char *user_id;
  char *username;
  char *access_token;
} MeshSavedSession;

#define MESH_TYPE_SAVED_SESSION (mesh_saved_session_get_type ())

GType             mesh_saved_session_get_type (void) G_GNUC_CONST;
MeshSavedSession *mesh_saved_session_copy     (const MeshSavedSession *session);
void              mesh_saved_session_free     (MeshSavedSession       *session);
char             *mesh_saved_session_path     (const char             *profile);
/* NULL without error when nothing was saved. */
MeshSavedSession *mesh_saved_session_load     (const char             *profile,
                                               GError                **error);
gboolean          mesh_saved_session_save     (const MeshSavedSession *session,
                                               const char             *profile,
                                               GError                **error);
void              mesh_saved_session_forget   (const char             *profile);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshSavedSession, mesh_saved_session_free)

G_END_DECLS
