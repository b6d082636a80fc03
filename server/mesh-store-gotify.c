/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-store"

#include "config.h"

#include "mesh-store-private.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <sqlite3.h>

/* Gotify targets and the outbox (§9). */

void
mesh_store_gotify_free (MeshStoreGotify *gotify)
{
  if (gotify == NULL)
    return;
  g_free (gotify->user_id);
  g_free (gotify->url);
  g_free (gotify->token);
  g_strfreev (gotify->events);
  g_free (gotify->last_error);
  g_free (gotify->retry_error);
  g_free (gotify);
}

void
mesh_store_outbox_item_free (MeshStoreOutboxItem *item)
{
  if (item == NULL)
    return;
  g_free (item->user_id);
  g_free (item->kind);
  g_free (item->title);
  g_free (item->message);
  g_free (item->extras);
  g_free (item);
}

static char *
events_to_json (const char * const *events)
{
  g_autoptr(JsonArray) array = NULL;
  g_autoptr(JsonNode) node = NULL;

  if (events == NULL)
    return NULL;
  array = json_array_new ();
  for (guint i = 0; events[i] != NULL; i++)
    json_array_add_string_element (array, events[i]);
  node = json_node_init_array (json_node_alloc (), array);
  return json_to_string (node, FALSE);
}

/* The stored text is ours, but a damaged row must not crash: anything that
 * is not an array of strings reads as "every kind". */
static GStrv
events_from_json (const char *text)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;
  JsonArray *array;

  if (text == NULL)
    return NULL;
  root = mesh_json_parse (text, -1, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    return NULL;
  array = json_node_get_array (root);
  builder = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *element = json_array_get_element (array, i);

    if (json_node_get_value_type (element) == G_TYPE_STRING)
      g_strv_builder_add (builder, json_node_get_string (element));
  }
  return g_strv_builder_end (builder);
}

gboolean
mesh_store_set_gotify (MeshStore           *self,
                       const char          *user_id,
                       const char          *url,
                       const char          *token,
                       gint64               priority,
                       const char * const  *events,
                       GError             **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;
  g_autofree char *events_json = events_to_json (events);

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);
  g_return_val_if_fail (url != NULL && token != NULL, FALSE);

  if (!mesh_store_user_exists (self, user_id, error))
    return FALSE;
  /* New settings are a fresh start: whatever stopped delivery is forgotten. */
  stmt = mesh_store_prepare (self, error,
                             "INSERT INTO gotify_targets (user_id, url, token, priority, events,"
                             " last_error, retry_error, updated_usec)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6)"
                             " ON CONFLICT (user_id) DO UPDATE SET url = ?2, token = ?3,"
                             " priority = ?4, events = ?5, last_error = NULL, retry_error = NULL,"
                             " updated_usec = ?6",
                             "sssisi", user_id, url, token, priority, events_json,
                             g_get_real_time ());
  return stmt != NULL && mesh_store_run (self, stmt, error);
}

MeshStoreGotify *
mesh_store_get_gotify (MeshStore   *self,
                       const char  *user_id,
                       GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;
  MeshStoreGotify *gotify;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = mesh_store_prepare (self, error,
                             "SELECT url, token, priority, events, last_error, retry_error"
                             "  FROM gotify_targets WHERE user_id = ?1",
                             "s", user_id);
  if (stmt == NULL || mesh_store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  gotify = g_new0 (MeshStoreGotify, 1);
  gotify->user_id = g_strdup (user_id);
  gotify->url = mesh_store_column_strdup (stmt, 0);
  gotify->token = mesh_store_column_strdup (stmt, 1);
  gotify->priority = sqlite3_column_int64 (stmt, 2);
  gotify->events = events_from_json ((const char *) sqlite3_column_text (stmt, 3));
  gotify->last_error = mesh_store_column_strdup (stmt, 4);
  gotify->retry_error = mesh_store_column_strdup (stmt, 5);
  return gotify;
}

gboolean
mesh_store_delete_gotify (MeshStore   *self,
                          const char  *user_id,
                          gboolean    *existed,
                          GError     **error)
{
  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (existed != NULL)
    *existed = FALSE;
  if (!mesh_store_begin (self, error))
    return FALSE;
  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "DELETE FROM gotify_targets WHERE user_id = ?1",
                                                        "s", user_id);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      goto fail;
    if (existed != NULL)
      *existed = sqlite3_changes (self->db) > 0;
  }
  {
    /* Without a target nothing could ever deliver them. */
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "DELETE FROM gotify_outbox WHERE user_id = ?1",
                                                        "s", user_id);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      goto fail;
  }
  if (mesh_store_commit (self, error))
    return TRUE;
fail:
  mesh_store_rollback (self);
  return FALSE;
}

gboolean
mesh_store_set_gotify_status (MeshStore   *self,
                              const char  *user_id,
                              const char  *last_error,
                              const char  *retry_error,
                              GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  stmt = mesh_store_prepare (self, error,
                             "UPDATE gotify_targets SET last_error = ?2, retry_error = ?3"
                             " WHERE user_id = ?1",
                             "sss", user_id, last_error, retry_error);
  return stmt != NULL && mesh_store_run (self, stmt, error);
}

gint64
mesh_store_outbox_add (MeshStore   *self,
                       const char  *user_id,
                       const char  *kind,
                       const char  *title,
                       const char  *message,
                       gint64       priority,
                       const char  *extras,
                       guint        max_pending,
                       guint       *n_dropped,
                       GError     **error)
{
  gint64 id;

  g_return_val_if_fail (MESH_IS_STORE (self), 0);
  g_return_val_if_fail (kind != NULL && title != NULL && message != NULL, 0);

  if (n_dropped != NULL)
    *n_dropped = 0;
  if (!mesh_store_begin (self, error))
    return 0;
  {
    g_autoptr(MeshStoreStmt) stmt = NULL;

    stmt = mesh_store_prepare (self, error,
                               "INSERT INTO gotify_outbox (user_id, kind, title, message, priority,"
                               " extras, created_usec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                               "ssssisi", user_id, kind, title, message, priority, extras,
                               g_get_real_time ());
    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      goto fail;
    id = sqlite3_last_insert_rowid (self->db);
  }
  if (max_pending > 0) {
    /* A target that stays stopped must not grow the database without end:
     * the oldest messages beyond the newest @max_pending go. */
    g_autoptr(MeshStoreStmt) stmt = NULL;

    stmt = mesh_store_prepare (self, error,
                               "DELETE FROM gotify_outbox WHERE user_id = ?1 AND id <="
                               " (SELECT id FROM gotify_outbox WHERE user_id = ?1"
                               "   ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                               "si", user_id, (gint64) max_pending);
    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      goto fail;
    if (n_dropped != NULL)
      *n_dropped = sqlite3_changes (self->db);
  }
  if (mesh_store_commit (self, error))
    return id;
fail:
  mesh_store_rollback (self);
  return 0;
}

MeshStoreOutboxItem *
mesh_store_outbox_head (MeshStore   *self,
                        const char  *user_id,
                        GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;
  MeshStoreOutboxItem *item;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = mesh_store_prepare (self, error,
                             "SELECT id, kind, title, message, priority, extras, created_usec,"
                             "       attempts, next_attempt_usec"
                             "  FROM gotify_outbox WHERE user_id = ?1 ORDER BY id LIMIT 1",
                             "s", user_id);
  if (stmt == NULL || mesh_store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  item = g_new0 (MeshStoreOutboxItem, 1);
  item->id = sqlite3_column_int64 (stmt, 0);
  item->user_id = g_strdup (user_id);
  item->kind = mesh_store_column_strdup (stmt, 1);
  item->title = mesh_store_column_strdup (stmt, 2);
  item->message = mesh_store_column_strdup (stmt, 3);
  item->priority = sqlite3_column_int64 (stmt, 4);
  item->extras = mesh_store_column_strdup (stmt, 5);
  item->created_usec = sqlite3_column_int64 (stmt, 6);
  item->attempts = sqlite3_column_int64 (stmt, 7);
  item->next_attempt_usec = sqlite3_column_int64 (stmt, 8);
  return item;
}

gboolean
mesh_store_outbox_remove (MeshStore   *self,
                          gint64       id,
                          GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  stmt = mesh_store_prepare (self, error, "DELETE FROM gotify_outbox WHERE id = ?1", "i", id);
  return stmt != NULL && mesh_store_run (self, stmt, error);
}

gboolean
mesh_store_outbox_defer (MeshStore   *self,
                         gint64       id,
                         gint64       attempts,
                         gint64       next_attempt_usec,
                         GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  stmt = mesh_store_prepare (self, error,
                             "UPDATE gotify_outbox SET attempts = ?2, next_attempt_usec = ?3"
                             " WHERE id = ?1",
                             "iii", id, attempts, next_attempt_usec);
  return stmt != NULL && mesh_store_run (self, stmt, error);
}

gboolean
mesh_store_outbox_reset_user (MeshStore   *self,
                              const char  *user_id,
                              GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  stmt = mesh_store_prepare (self, error,
                             "UPDATE gotify_outbox SET attempts = 0, next_attempt_usec = 0"
                             " WHERE user_id = ?1",
                             "s", user_id);
  return stmt != NULL && mesh_store_run (self, stmt, error);
}

gint64
mesh_store_outbox_count (MeshStore  *self,
                         const char *user_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), 0);

  stmt = mesh_store_prepare (self, NULL, "SELECT count(*) FROM gotify_outbox WHERE user_id = ?1",
                             "s", user_id);
  if (stmt == NULL || mesh_store_step (self, stmt, NULL) != SQLITE_ROW)
    return 0;
  return sqlite3_column_int64 (stmt, 0);
}

GPtrArray *
mesh_store_outbox_list_users (MeshStore  *self,
                              GError    **error)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = mesh_store_prepare (self, error, "SELECT DISTINCT user_id FROM gotify_outbox", "");
  if (stmt == NULL)
    return NULL;
  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (users, mesh_store_column_strdup (stmt, 0));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&users);
}
