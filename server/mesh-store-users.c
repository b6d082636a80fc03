/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-store"

#include "config.h"

#include "mesh-store-private.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-password.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sqlite3.h>
#include <string.h>

#define MAX_TOKEN_BYTES         512

static gboolean
username_is_valid (const char *username)
{
  gsize len;

  if (username == NULL)
    return FALSE;
  len = strlen (username);
  if (len < 1 || len > 64)
    return FALSE;
  for (const char *p = username; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '_' && *p != '-')
      return FALSE;
  }
  return TRUE;
}

static gboolean
check_credentials_form (const char  *username,
                        const char  *password,
                        GError     **error)
{
  gsize len;

  if (!username_is_valid (username)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "username must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
    return FALSE;
  }
  len = password ? strlen (password) : 0;
  if (len < 8 || len > 1024) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "password must be 8 to 1024 bytes long");
    return FALSE;
  }
  return TRUE;
}

/* Users and passwords.  The PBKDF2 work is split from the database work so
 * that the async variants can run it in a worker thread. */

typedef struct {
  char     *username;
  char     *password;
  char     *user_id;    /* check: NULL for an unknown user */
  char     *encoded;    /* check: the stored hash; add: the new one */
  char     *rehashed;   /* check: a fresh hash when the stored one is outdated */
  gboolean  ok;
  GError   *error;
} PasswordJob;

static void
password_job_free (PasswordJob *job)
{
  g_free (job->username);
  if (job->password != NULL)
    gnutls_memset (job->password, 0, strlen (job->password));
  g_free (job->password);
  g_free (job->user_id);
  g_free (job->encoded);
  g_free (job->rehashed);
  g_clear_error (&job->error);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PasswordJob, password_job_free)

static PasswordJob *
password_job_new (const char *username,
                  const char *password)
{
  PasswordJob *job = g_new0 (PasswordJob, 1);

  job->username = g_strdup (username);
  job->password = g_strdup (password);
  return job;
}

static PasswordJob *
add_user_begin (MeshStore   *self,
                const char  *username,
                const char  *password,
                GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  if (!check_credentials_form (username, password, error))
    return NULL;

  /* Checked before hashing so a taken name costs no PBKDF2 work; the
   * UNIQUE constraint still decides at insert time. */
  stmt = mesh_store_prepare (self, error, "SELECT 1 FROM users WHERE username = ?1", "s", username);
  if (stmt == NULL)
    return NULL;
  switch (mesh_store_step (self, stmt, error)) {
  case SQLITE_ROW:
    g_set_error (error, MESH_ERROR, MESH_ERROR_CONFLICT, "the username '%s' is taken", username);
    return NULL;
  case SQLITE_DONE:
    return password_job_new (username, password);
  default:
    return NULL;
  }
}

static void
add_user_work (PasswordJob *job)
{
  job->encoded = mesh_password_hash (job->password, &job->error);
  job->ok = job->encoded != NULL;
}

static char *
add_user_end (MeshStore    *self,
              PasswordJob  *job,
              GError      **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(MeshStoreStmt) stmt = NULL;
  g_autofree char *user_id = mesh_id_new ();
  int rc;

  if (!job->ok) {
    g_propagate_error (error, g_steal_pointer (&job->error));
    return NULL;
  }
  stmt = mesh_store_prepare (self, error,
                             "INSERT INTO users (user_id, username, password_hash, created_usec)"
                             " VALUES (?1, ?2, ?3, ?4)",
                             "sssi", user_id, job->username, job->encoded, g_get_real_time ());
  if (stmt == NULL)
    return NULL;
  rc = mesh_store_step (self, stmt, &local_error);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_CONFLICT, "the username '%s' is taken",
                 job->username);
    return NULL;
  }
  if (rc != SQLITE_DONE) {
    g_propagate_error (error, g_steal_pointer (&local_error));
    return NULL;
  }
  return g_steal_pointer (&user_id);
}

static PasswordJob *
check_password_begin (MeshStore   *self,
                      const char  *username,
                      const char  *password,
                      GError     **error)
{
  g_autoptr(PasswordJob) job = password_job_new (username, password ? password : "");
  g_autoptr(MeshStoreStmt) stmt = NULL;

  /* A malformed name is just an unknown user: same answer, same work. */
  if (!username_is_valid (username))
    return g_steal_pointer (&job);

  stmt = mesh_store_prepare (self, error,
                             "SELECT user_id, password_hash FROM users WHERE username = ?1",
                             "s", username);
  if (stmt == NULL)
    return NULL;
  switch (mesh_store_step (self, stmt, error)) {
  case SQLITE_ROW:
    job->user_id = mesh_store_column_strdup (stmt, 0);
    job->encoded = mesh_store_column_strdup (stmt, 1);
    return g_steal_pointer (&job);
  case SQLITE_DONE:
    return g_steal_pointer (&job);
  default:
    return NULL;
  }
}

static void
check_password_work (PasswordJob *job)
{
  gboolean needs_rehash = FALSE;

  if (job->encoded == NULL) {
    mesh_password_verify_dummy (job->password);
    job->ok = FALSE;
    return;
  }
  job->ok = mesh_password_verify (job->password, job->encoded, &needs_rehash);
  if (job->ok && needs_rehash)
    job->rehashed = mesh_password_hash (job->password, NULL);
}

static char *
check_password_end (MeshStore    *self,
                    PasswordJob  *job,
                    GError      **error)
{
  if (!job->ok) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED,
                         "wrong username or password");
    return NULL;
  }

  if (job->rehashed != NULL) {
    g_autoptr(GError) local_error = NULL;
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, &local_error,
                                                        "UPDATE users SET password_hash = ?1"
                                                        " WHERE user_id = ?2 AND password_hash = ?3",
                                                        "sss", job->rehashed, job->user_id,
                                                        job->encoded);

    /* The login stands even if the upgrade cannot be saved now. */
    if (stmt == NULL || !mesh_store_run (self, stmt, &local_error)) {
      g_autofree char *username = mesh_escape_for_display (job->username, -1);

      g_message ("Could not upgrade the password hash of %s: %s", username, local_error->message);
    }
  }
  return g_steal_pointer (&job->user_id);
}

/* One password operation: its database step before the PBKDF2 work, the
 * work (in a worker thread for the async variants), the step after. */
typedef struct {
  PasswordJob * (*begin) (MeshStore   *self,
                          const char  *username,
                          const char  *password,
                          GError     **error);
  void          (*work)  (PasswordJob *job);
  char *        (*end)   (MeshStore    *self,
                          PasswordJob  *job,
                          GError      **error);
} PasswordOp;

static const PasswordOp add_user_op = { add_user_begin, add_user_work, add_user_end };
static const PasswordOp check_password_op = {
  check_password_begin, check_password_work, check_password_end
};

static char *
password_op_run (MeshStore         *self,
                 const PasswordOp  *op,
                 const char        *username,
                 const char        *password,
                 GError           **error)
{
  g_autoptr(PasswordJob) job = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  job = op->begin (self, username, password, error);
  if (job == NULL)
    return NULL;
  op->work (job);
  return op->end (self, job, error);
}

static void
password_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  const PasswordOp *op = g_task_get_source_tag (task);

  op->work (task_data);
  g_task_return_boolean (task, TRUE);
}

/* The worker thread's task completes in the caller's context, where the
 * database step runs, then the caller's task is answered. */
static void
password_work_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  const PasswordOp *op = g_task_get_source_tag (G_TASK (result));
  PasswordJob *job = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;
  char *user_id = op->end (MESH_STORE (source), job, &error);

  if (user_id != NULL)
    g_task_return_pointer (task, user_id, g_free);
  else
    g_task_return_error (task, error);
}

static void
password_op_async (MeshStore           *self,
                   const PasswordOp    *op,
                   const char          *username,
                   const char          *password,
                   gpointer             source_tag,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker = NULL;
  GError *error = NULL;
  PasswordJob *job;

  g_return_if_fail (MESH_IS_STORE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  job = op->begin (self, username, password, &error);
  if (job == NULL) {
    g_task_return_error (task, error);
    return;
  }
  worker = g_task_new (self, NULL, password_work_done, g_object_ref (task));
  g_task_set_source_tag (worker, (gpointer) op);
  g_task_set_task_data (worker, job, (GDestroyNotify) password_job_free);
  g_task_run_in_thread (worker, password_thread);
}

static char *
password_op_finish (MeshStore     *self,
                    GAsyncResult  *result,
                    gpointer       source_tag,
                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

char *
mesh_store_add_user (MeshStore   *self,
                     const char  *username,
                     const char  *password,
                     GError     **error)
{
  return password_op_run (self, &add_user_op, username, password, error);
}

void
mesh_store_add_user_async (MeshStore           *self,
                           const char          *username,
                           const char          *password,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  password_op_async (self, &add_user_op, username, password, mesh_store_add_user_async,
                     cancellable, callback, user_data);
}

char *
mesh_store_add_user_finish (MeshStore     *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  return password_op_finish (self, result, mesh_store_add_user_async, error);
}

char *
mesh_store_check_password (MeshStore   *self,
                           const char  *username,
                           const char  *password,
                           GError     **error)
{
  return password_op_run (self, &check_password_op, username, password, error);
}

void
mesh_store_check_password_async (MeshStore           *self,
                                 const char          *username,
                                 const char          *password,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  password_op_async (self, &check_password_op, username, password,
                     mesh_store_check_password_async, cancellable, callback, user_data);
}

char *
mesh_store_check_password_finish (MeshStore     *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  return password_op_finish (self, result, mesh_store_check_password_async, error);
}

GPtrArray *
mesh_store_list_users (MeshStore  *self,
                       GError    **error)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = mesh_store_prepare (self, error,
                             "SELECT user_id, username, created_usec FROM users ORDER BY rowid", "");
  if (stmt == NULL)
    return NULL;
  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW) {
    g_autofree char *created = mesh_timestamp_format (sqlite3_column_int64 (stmt, 2));

    g_ptr_array_add (lines, g_strdup_printf ("%s\t%s\t%s", sqlite3_column_text (stmt, 0),
                                             sqlite3_column_text (stmt, 1), created));
  }
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&lines);
}

char *
mesh_store_get_username (MeshStore  *self,
                         const char *user_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  g_autofree char *username = NULL;

  stmt = mesh_store_prepare (self, NULL, "SELECT username FROM users WHERE user_id = ?1",
                             "s", user_id);
  mesh_store_lookup_string (self, stmt, &username, NULL);
  return g_steal_pointer (&username);
}

/* Tokens. */

char *
mesh_store_create_access_token (MeshStore   *self,
                                const char  *user_id,
                                gint64      *expires_in,
                                GError     **error)
{
  g_autofree char *token = NULL;
  g_autofree char *token_hash = NULL;
  gint64 now = g_get_real_time ();

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!mesh_store_user_exists (self, user_id, error))
    return NULL;

  token = mesh_random_token (32);
  token_hash = mesh_sha256_hex (token, strlen (token));

  {
    g_autoptr(MeshStoreStmt) purge = mesh_store_prepare (self, error,
                                                         "DELETE FROM access_tokens"
                                                         " WHERE user_id = ?1 AND expires_usec <= ?2",
                                                         "si", user_id, now);

    if (purge == NULL || !mesh_store_run (self, purge, error))
      return NULL;
  }
  {
    g_autoptr(MeshStoreStmt) insert =
      mesh_store_prepare (self, error,
                          "INSERT INTO access_tokens (token_hash, user_id, created_usec, expires_usec)"
                          " VALUES (?1, ?2, ?3, ?4)",
                          "ssii", token_hash, user_id, now,
                          now + (gint64) MESH_STORE_ACCESS_TTL * G_USEC_PER_SEC);

    if (insert == NULL || !mesh_store_run (self, insert, error))
      return NULL;
  }

  if (expires_in != NULL)
    *expires_in = MESH_STORE_ACCESS_TTL;
  return g_steal_pointer (&token);
}

char *
mesh_store_authenticate (MeshStore   *self,
                         const char  *token,
                         char       **device_id,
                         GError     **error)
{
  g_autofree char *token_hash = NULL;
  gsize len;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (device_id != NULL)
    *device_id = NULL;

  len = token ? strlen (token) : 0;
  if (len == 0 || len > MAX_TOKEN_BYTES)
    goto unauthorized;
  token_hash = mesh_sha256_hex (token, len);

  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "SELECT user_id FROM access_tokens"
                                                        " WHERE token_hash = ?1 AND expires_usec > ?2",
                                                        "si", token_hash, g_get_real_time ());

    if (stmt == NULL)
      return NULL;
    switch (mesh_store_step (self, stmt, error)) {
    case SQLITE_ROW:
      return mesh_store_column_strdup (stmt, 0);
    case SQLITE_DONE:
      break;
    default:
      return NULL;
    }
  }
  {
    gint64 now = g_get_real_time ();
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "SELECT user_id, device_id, last_used_usec"
                                                        " FROM devices"
                                                        " WHERE token_hash = ?1 AND last_used_usec > ?2",
                                                        "si", token_hash,
                                                        now - self->device_idle_usec);
    g_autofree char *user_id = NULL;
    g_autofree char *found_device = NULL;
    gint64 last_used;

    if (stmt == NULL)
      return NULL;
    switch (mesh_store_step (self, stmt, error)) {
    case SQLITE_ROW:
      user_id = mesh_store_column_strdup (stmt, 0);
      found_device = mesh_store_column_strdup (stmt, 1);
      last_used = sqlite3_column_int64 (stmt, 2);
      break;
    case SQLITE_DONE:
      goto unauthorized;
    default:
      return NULL;
    }
    mesh_store_stmt_release (g_steal_pointer (&stmt));

    /* Each use extends the token's life; written only now and then, as
     * every write is synced. */
    if (now - last_used > MIN (self->device_idle_usec / 4, 600 * G_USEC_PER_SEC)) {
      g_autoptr(GError) touch_error = NULL;
      g_autoptr(MeshStoreStmt) touch = mesh_store_prepare (self, &touch_error,
                                                           "UPDATE devices SET last_used_usec = ?1"
                                                           " WHERE device_id = ?2",
                                                           "is", now, found_device);

      if (touch == NULL || !mesh_store_run (self, touch, &touch_error))
        g_warning ("Cannot record the use of device %s: %s", found_device, touch_error->message);
    }
    if (device_id != NULL)
      *device_id = g_steal_pointer (&found_device);
    return g_steal_pointer (&user_id);
  }

unauthorized:
  g_set_error_literal (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED, "invalid or expired token");
  return NULL;
}

/* Devices. */

gboolean
mesh_store_add_device (MeshStore   *self,
                       const char  *user_id,
                       const char  *name,
                       const char  *fingerprint,
                       char       **device_id,
                       char       **device_token,
                       GError     **error)
{
  g_autofree char *id = NULL;
  g_autofree char *token = NULL;
  g_autofree char *token_hash = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (!mesh_store_check_display_text (name, "name", 64, error))
    return FALSE;
  if (!mesh_fingerprint_is_valid (fingerprint)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "fingerprint must be the SHA-256 of the certificate:"
                         " 64 lower-case hex digits without colons");
    return FALSE;
  }
  if (!mesh_store_user_exists (self, user_id, error))
    return FALSE;

  token = mesh_random_token (32);
  token_hash = mesh_sha256_hex (token, strlen (token));

  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "SELECT device_id FROM devices"
                                                        " WHERE user_id = ?1 AND name = ?2",
                                                        "ss", user_id, name);

    if (!mesh_store_lookup_string (self, stmt, &id, error))
      return FALSE;
  }

  if (id != NULL) {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "UPDATE devices SET fingerprint = ?1,"
                                                        " token_hash = ?2, last_used_usec = ?3"
                                                        " WHERE device_id = ?4",
                                                        "ssis", fingerprint, token_hash,
                                                        g_get_real_time (), id);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      return FALSE;
  } else {
    g_autoptr(MeshStoreStmt) stmt = NULL;

    id = mesh_id_new ();
    stmt = mesh_store_prepare (self, error,
                               "INSERT INTO devices (device_id, user_id, name, fingerprint,"
                               " token_hash, created_usec, last_used_usec)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                               "sssssi", id, user_id, name, fingerprint, token_hash,
                               g_get_real_time ());
    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      return FALSE;
  }

  if (device_id != NULL)
    *device_id = g_steal_pointer (&id);
  if (device_token != NULL)
    *device_token = g_steal_pointer (&token);
  return TRUE;
}

static MeshStoreDevice *
device_from_row (sqlite3_stmt *stmt)
{
  MeshStoreDevice *device = g_new0 (MeshStoreDevice, 1);

  device->device_id = mesh_store_column_strdup (stmt, 0);
  device->user_id = mesh_store_column_strdup (stmt, 1);
  device->name = mesh_store_column_strdup (stmt, 2);
  device->fingerprint = mesh_store_column_strdup (stmt, 3);
  return device;
}

MeshStoreDevice *
mesh_store_get_device (MeshStore  *self,
                       const char *device_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = mesh_store_prepare (self, NULL,
                             "SELECT device_id, user_id, name, fingerprint FROM devices"
                             " WHERE device_id = ?1",
                             "s", device_id);
  if (stmt == NULL || mesh_store_step (self, stmt, NULL) != SQLITE_ROW)
    return NULL;
  return device_from_row (stmt);
}

gboolean
mesh_store_delete_device (MeshStore   *self,
                          const char  *user_id,
                          const char  *device_id,
                          GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);
  g_return_val_if_fail (user_id != NULL && device_id != NULL, FALSE);

  stmt = mesh_store_prepare (self, error, "DELETE FROM devices WHERE device_id = ?1 AND user_id = ?2",
                             "ss", device_id, user_id);
  if (stmt == NULL || !mesh_store_run (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->db) == 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND, "no such device");
    return FALSE;
  }
  return TRUE;
}

void
mesh_store_set_device_idle_ttl (MeshStore *self,
                                gint64     seconds)
{
  g_return_if_fail (MESH_IS_STORE (self));
  g_return_if_fail (seconds > 0);

  self->device_idle_usec = seconds * G_USEC_PER_SEC;
}

GPtrArray *
mesh_store_list_devices (MeshStore   *self,
                         const char  *user_id,
                         GError     **error)
{
  g_autoptr(GPtrArray) devices =
    g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_store_device_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = mesh_store_prepare (self, error,
                             "SELECT device_id, user_id, name, fingerprint FROM devices"
                             " WHERE user_id = ?1 ORDER BY rowid",
                             "s", user_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (devices, device_from_row (stmt));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&devices);
}
