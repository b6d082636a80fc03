/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-saved-session"

#include "config.h"

#include "mesh-saved-session.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#define GROUP "session"

G_DEFINE_BOXED_TYPE (MeshSavedSession, mesh_saved_session, mesh_saved_session_copy,
                     mesh_saved_session_free)

MeshSavedSession *
mesh_saved_session_copy (const MeshSavedSession *session)
{
  MeshSavedSession *copy = g_new0 (MeshSavedSession, 1);

  copy->server_url = g_strdup (session->server_url);
  copy->user_id = g_strdup (session->user_id);
  copy->username = g_strdup (session->username);
  copy->access_token = g_strdup (session->access_token);
  return copy;
}

void
mesh_saved_session_free (MeshSavedSession *session)
{
  if (session == NULL)
    return;
  g_free (session->server_url);
  g_free (session->user_id);
  g_free (session->username);
  /* The token is a credential: do not leave it in freed memory. */
  if (session->access_token != NULL)
    memset (session->access_token, 0, strlen (session->access_token));
  g_free (session->access_token);
  g_free (session);
}

char *
mesh_saved_session_path (const char *profile)
{
  return g_build_filename (g_get_user_config_dir (), "mesh", profile ? profile : "default",
                           "session.ini", NULL);
}

MeshSavedSession *
mesh_saved_session_load (const char  *profile,
                         GError     **error)
{
  g_autofree char *path = mesh_saved_session_path (profile);
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  g_autoptr(MeshSavedSession) session = g_new0 (MeshSavedSession, 1);

  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &local_error)) {
    if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return NULL;
    g_propagate_error (error, g_steal_pointer (&local_error));
    return NULL;
  }

  session->server_url = g_key_file_get_string (file, GROUP, "server-url", &local_error);
  if (session->server_url != NULL)
    session->user_id = g_key_file_get_string (file, GROUP, "user-id", &local_error);
  if (session->user_id != NULL)
    session->username = g_key_file_get_string (file, GROUP, "username", &local_error);
  if (session->username != NULL)
    session->access_token = g_key_file_get_string (file, GROUP, "access-token", &local_error);
  if (session->access_token == NULL || *session->access_token == '\0') {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                 _("The saved sign-in in %s is incomplete"), path);
    return NULL;
  }
  return g_steal_pointer (&session);
}

gboolean
mesh_saved_session_save (const MeshSavedSession  *session,
                         const char              *profile,
                         GError                 **error)
{
  g_autofree char *path = mesh_saved_session_path (profile);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autofree char *data = NULL;
  gsize length;

  g_return_val_if_fail (session != NULL, FALSE);

  if (g_mkdir_with_parents (dir, 0700) != 0) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 _("Could not create %s: %s"), dir, g_strerror (saved_errno));
    return FALSE;
  }

  g_key_file_set_string (file, GROUP, "server-url", session->server_url);
  g_key_file_set_string (file, GROUP, "user-id", session->user_id);
  g_key_file_set_string (file, GROUP, "username", session->username);
  g_key_file_set_string (file, GROUP, "access-token", session->access_token);
  data = g_key_file_to_data (file, &length, NULL);
  return g_file_set_contents_full (path, data, (gssize) length,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

void
mesh_saved_session_forget (const char *profile)
{
  g_autofree char *path = mesh_saved_session_path (profile);

  if (g_unlink (path) != 0 && errno != ENOENT)
    g_debug ("Could not remove %s: %s", path, g_strerror (errno));
}
