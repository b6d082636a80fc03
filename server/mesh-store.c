/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-store"

#include "config.h"

#include "mesh-store-private.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

/* Each entry migrates the schema from version i to i + 1; entries are never
 * edited once released, new versions are appended. */
static const char * const migrations[] = {
  /* 1: the first schema. */
  "CREATE TABLE users ("
  "  user_id       TEXT PRIMARY KEY,"
  "  username      TEXT NOT NULL UNIQUE COLLATE NOCASE,"
  "  password_hash TEXT NOT NULL,"
  "  created_usec  INTEGER NOT NULL"
  ");"
  "CREATE TABLE access_tokens ("
  "  token_hash   TEXT PRIMARY KEY,"
  "  user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
  "  created_usec INTEGER NOT NULL,"
  "  expires_usec INTEGER NOT NULL"
  ");"
  "CREATE INDEX access_tokens_by_user ON access_tokens (user_id, expires_usec);"
  "CREATE TABLE devices ("
  "  device_id    TEXT PRIMARY KEY,"
  "  user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
  "  name         TEXT NOT NULL,"
  "  fingerprint  TEXT NOT NULL,"
  "  token_hash   TEXT NOT NULL UNIQUE,"
  "  created_usec INTEGER NOT NULL,"
  "  UNIQUE (user_id, name)"
  ");"
  "CREATE TABLE rooms ("
  "  room_id      TEXT PRIMARY KEY,"
  "  name         TEXT NOT NULL,"
  "  created_by   TEXT REFERENCES users (user_id) ON DELETE SET NULL,"
  "  created_usec INTEGER NOT NULL"
  ");"
  "CREATE TABLE room_members ("
  "  room_id     TEXT NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,"
  "  user_id     TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
  "  role        TEXT NOT NULL CHECK (role IN ('owner', 'member')),"
  "  joined_usec INTEGER NOT NULL,"
  "  PRIMARY KEY (room_id, user_id)"
  ");"
  "CREATE INDEX room_members_by_user ON room_members (user_id);"
  "CREATE TABLE invites ("
  "  code         TEXT PRIMARY KEY,"
  "  room_id      TEXT NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,"
  "  created_by   TEXT REFERENCES users (user_id) ON DELETE SET NULL,"
  "  created_usec INTEGER NOT NULL,"
  "  expires_usec INTEGER NOT NULL"
  ");"
  "CREATE INDEX invites_by_room ON invites (room_id);"
  "CREATE INDEX invites_by_expiry ON invites (expires_usec);"
  /* AUTOINCREMENT: seq never goes back, even after the newest rows are
   * deleted, so it orders messages for good. */
  "CREATE TABLE messages ("
  "  seq           INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  message_id    TEXT NOT NULL UNIQUE,"
  "  room_id       TEXT NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,"
  "  user_id       TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
  "  sender_id     TEXT NOT NULL,"
  "  content       TEXT NOT NULL,"
  "  client_msg_id TEXT,"
  "  created_usec  INTEGER NOT NULL"
  ");"
  "CREATE INDEX messages_by_room ON messages (room_id, seq);"
  "CREATE UNIQUE INDEX messages_by_client_id ON messages (user_id, client_msg_id);",
  /* 2: Gotify push (§9): one target per user and the persistent outbox.
   * priority -1 means the server's default for each kind; events NULL means
   * every kind.  The outbox is delivered per user in id order. */
  "CREATE TABLE gotify_targets ("
  "  user_id      TEXT PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,"
  "  url          TEXT NOT NULL,"
  "  token        TEXT NOT NULL,"
  "  priority     INTEGER NOT NULL DEFAULT -1,"
  "  events       TEXT,"
  "  last_error   TEXT,"
  "  retry_error  TEXT,"
  "  updated_usec INTEGER NOT NULL"
  ");"
  "CREATE TABLE gotify_outbox ("
  "  id                INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  user_id           TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
  "  kind              TEXT NOT NULL,"
  "  title             TEXT NOT NULL,"
  "  message           TEXT NOT NULL,"
  "  priority          INTEGER NOT NULL,"
  "  extras            TEXT,"
  "  created_usec      INTEGER NOT NULL,"
  "  attempts          INTEGER NOT NULL DEFAULT 0,"
  "  next_attempt_usec INTEGER NOT NULL DEFAULT 0"
  ");"
  "CREATE INDEX gotify_outbox_by_user ON gotify_outbox (user_id, id);",
  /* 3: device tokens expire when unused for the idle TTL. */
  "ALTER TABLE devices ADD COLUMN last_used_usec INTEGER NOT NULL DEFAULT 0;"
  "UPDATE devices SET last_used_usec = created_usec;",
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == MESH_STORE_SCHEMA_VERSION);

G_DEFINE_FINAL_TYPE (MeshStore, mesh_store, G_TYPE_OBJECT)

enum {
  SIGNAL_ROOM_EVENT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

void
mesh_store_stmt_release (MeshStoreStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

static void
finalize_statement (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

static gboolean
set_db_error (MeshStore   *self,
              GError     **error,
              const char  *what)
{
  g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL, "database error (%s): %s",
               what, self->db ? sqlite3_errmsg (self->db) : "closed");
  return FALSE;
}

static gboolean
check_open (MeshStore  *self,
            GError    **error)
{
  if (self->db == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_INTERNAL, "the store is closed");
    return FALSE;
  }
  return TRUE;
}

/* Returns the cached statement for @sql with the arguments described by
 * @types bound to ?1, ?2, …: 's' a string (NULL binds NULL), 'i' a gint64. */
MeshStoreStmt *
mesh_store_prepare (MeshStore   *self,
                    GError     **error,
                    const char  *sql,
                    const char  *types,
                    ...)
{
  sqlite3_stmt *stmt;
  va_list args;
  int rc = SQLITE_OK;

  if (!check_open (self, error))
    return NULL;

  stmt = g_hash_table_lookup (self->statements, sql);
  if (stmt == NULL) {
    if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                            NULL) != SQLITE_OK) {
      set_db_error (self, error, "prepare");
      return NULL;
    }
    g_hash_table_insert (self->statements, (gpointer) sql, stmt);
  }

  va_start (args, types);
  for (int i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
    if (types[i] == 's') {
      const char *value = va_arg (args, const char *);

      if (value != NULL)
        rc = sqlite3_bind_text (stmt, i + 1, value, -1, SQLITE_TRANSIENT);
      else
        rc = sqlite3_bind_null (stmt, i + 1);
    } else {
      g_assert (types[i] == 'i');
      rc = sqlite3_bind_int64 (stmt, i + 1, va_arg (args, gint64));
    }
  }
  va_end (args);

  if (rc != SQLITE_OK) {
    set_db_error (self, error, "bind");
    mesh_store_stmt_release (stmt);
    return NULL;
  }
  return stmt;
}

/* SQLITE_ROW or SQLITE_DONE; anything else sets @error and is returned so
 * that callers can tell a constraint violation apart. */
int
mesh_store_step (MeshStore      *self,
                 MeshStoreStmt  *stmt,
                 GError        **error)
{
  int rc = sqlite3_step (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    set_db_error (self, error, "step");
  return rc;
}

gboolean
mesh_store_run (MeshStore      *self,
                MeshStoreStmt  *stmt,
                GError        **error)
{
  return mesh_store_step (self, stmt, error) == SQLITE_DONE;
}

static gboolean
store_exec (MeshStore   *self,
            const char  *sql,
            GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error, sql, "");

  return stmt != NULL && mesh_store_run (self, stmt, error);
}

gboolean
mesh_store_begin (MeshStore  *self,
                  GError    **error)
{
  /* IMMEDIATE takes the write lock up front: no upgrade deadlock with
   * another connection (the admin CLI) that reads first. */
  return store_exec (self, "BEGIN IMMEDIATE", error);
}

gboolean
mesh_store_commit (MeshStore  *self,
                   GError    **error)
{
  return store_exec (self, "COMMIT", error);
}

void
mesh_store_rollback (MeshStore *self)
{
  if (self->db != NULL && !sqlite3_get_autocommit (self->db))
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
}

char *
mesh_store_column_strdup (sqlite3_stmt *stmt,
                          int           column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

/* Fetches the first column of a query's only row.  TRUE with *@value NULL
 * when there is no row; FALSE (and @error) only when the query failed. */
gboolean
mesh_store_lookup_string (MeshStore      *self,
                          MeshStoreStmt  *stmt,
                          char          **value,
                          GError        **error)
{
  int rc;

  *value = NULL;
  if (stmt == NULL)
    return FALSE;
  rc = mesh_store_step (self, stmt, error);
  if (rc == SQLITE_ROW)
    *value = mesh_store_column_strdup (stmt, 0);
  return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

gboolean
mesh_store_user_exists (MeshStore   *self,
                        const char  *user_id,
                        GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                      "SELECT user_id FROM users WHERE user_id = ?1",
                                                      "s", user_id);
  g_autofree char *found = NULL;

  if (!mesh_store_lookup_string (self, stmt, &found, error))
    return FALSE;
  if (found == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND, "unknown user");
    return FALSE;
  }
  return TRUE;
}

gboolean
mesh_store_check_room_exists (MeshStore   *self,
                              const char  *room_id,
                              GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                      "SELECT room_id FROM rooms WHERE room_id = ?1",
                                                      "s", room_id);
  g_autofree char *found = NULL;

  if (!mesh_store_lookup_string (self, stmt, &found, error))
    return FALSE;
  if (found == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "unknown room");
    return FALSE;
  }
  return TRUE;
}

/* 1..@max_chars characters of UTF-8, no control characters, not blank. */
gboolean
mesh_store_check_display_text (const char  *text,
                               const char  *field,
                               glong        max_chars,
                               GError     **error)
{
  gboolean blank = TRUE;
  glong n;

  if (text == NULL || !g_utf8_validate (text, -1, NULL) ||
      (n = g_utf8_strlen (text, -1)) < 1 || n > max_chars)
    goto bad;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (!g_unichar_isprint (c))
      goto bad;
    if (!g_unichar_isspace (c))
      blank = FALSE;
  }
  if (!blank)
    return TRUE;

bad:
  g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
               "%s must be 1 to %ld printable characters", field, max_chars);
  return FALSE;
}

static gboolean
migrate (MeshStore  *self,
         GError    **error)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error, "PRAGMA user_version", "");
  int version;

  if (stmt == NULL || mesh_store_step (self, stmt, error) != SQLITE_ROW)
    return FALSE;
  version = sqlite3_column_int (stmt, 0);
  mesh_store_stmt_release (g_steal_pointer (&stmt));

  if (version > (int) G_N_ELEMENTS (migrations)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                 "the database has schema version %d, newer than this server knows (%d)",
                 version, (int) G_N_ELEMENTS (migrations));
    return FALSE;
  }

  for (; version < (int) G_N_ELEMENTS (migrations); version++) {
    /* The version is a number of ours, never input: PRAGMA takes no
     * parameters, so it is formatted into the statement. */
    g_autofree char *set_version = g_strdup_printf ("PRAGMA user_version = %d", version + 1);

    if (!mesh_store_begin (self, error))
      return FALSE;
    if (sqlite3_exec (self->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec (self->db, set_version, NULL, NULL, NULL) != SQLITE_OK) {
      g_autofree char *what = g_strdup_printf ("migration to version %d", version + 1);

      set_db_error (self, error, what);
      mesh_store_rollback (self);
      return FALSE;
    }
    if (!mesh_store_commit (self, error)) {
      mesh_store_rollback (self);
      return FALSE;
    }
    g_debug ("Migrated %s to schema version %d", sqlite3_db_filename (self->db, "main"),
             version + 1);
  }
  self->schema_version = version;
  return TRUE;
}

void
mesh_store_emit_room_event (MeshStore  *self,
                            const char *type,
                            const char *room_id,
                            GStrv       user_ids,
                            JsonObject *payload)
{
  g_signal_emit (self, signals[SIGNAL_ROOM_EVENT], 0, type, room_id, user_ids, payload);
}

static void
mesh_store_finalize (GObject *object)
{
  MeshStore *self = MESH_STORE (object);

  mesh_store_close (self);
  g_clear_pointer (&self->statements, g_hash_table_unref);

  G_OBJECT_CLASS (mesh_store_parent_class)->finalize (object);
}

static void
mesh_store_class_init (MeshStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_store_finalize;

  /* A room was renamed, deleted or left through REST: the hub tells the
   * members live.  (event type, room_id, user_ids to tell, payload). */
  signals[SIGNAL_ROOM_EVENT] =
    g_signal_new ("room-event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRV,
                  JSON_TYPE_OBJECT);
}

static void
mesh_store_init (MeshStore *self)
{
  self->statements = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, finalize_statement);
  self->device_idle_usec = (gint64) MESH_STORE_DEVICE_IDLE_TTL * G_USEC_PER_SEC;
}

void
mesh_store_member_free (MeshStoreMember *member)
{
  if (member == NULL)
    return;
  g_free (member->user_id);
  g_free (member->username);
  g_free (member->role);
  g_free (member);
}

void
mesh_store_device_free (MeshStoreDevice *device)
{
  if (device == NULL)
    return;
  g_free (device->device_id);
  g_free (device->user_id);
  g_free (device->name);
  g_free (device->fingerprint);
  g_free (device);
}

void
mesh_store_message_free (MeshStoreMessage *message)
{
  if (message == NULL)
    return;
  g_free (message->message_id);
  g_free (message->room_id);
  g_free (message->user_id);
  g_free (message->username);
  g_free (message->sender_id);
  g_free (message->content);
  g_free (message->client_msg_id);
  g_free (message);
}

JsonObject *
mesh_store_message_to_json (const MeshStoreMessage *message)
{
  JsonObject *obj = json_object_new ();
  g_autofree char *timestamp = NULL;

  g_return_val_if_fail (message != NULL, obj);

  timestamp = mesh_timestamp_format (message->created_usec);
  json_object_set_string_member (obj, "message_id", message->message_id);
  json_object_set_string_member (obj, "room_id", message->room_id);
  json_object_set_string_member (obj, "from", message->sender_id);
  json_object_set_string_member (obj, "user_id", message->user_id);
  json_object_set_string_member (obj, "username", message->username);
  json_object_set_string_member (obj, "content", message->content);
  json_object_set_string_member (obj, "timestamp", timestamp);
  if (message->client_msg_id != NULL)
    json_object_set_string_member (obj, "client_msg_id", message->client_msg_id);
  return obj;
}

MeshStore *
mesh_store_open (const char  *path,
                 GError     **error)
{
  g_autoptr(MeshStore) self = NULL;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

  g_return_val_if_fail (path != NULL, NULL);

  /* The file holds password hashes: create it private.  SQLite gives its
   * -wal and -shm files the same mode. */
  if (!g_str_equal (path, ":memory:") && !g_file_test (path, G_FILE_TEST_EXISTS)) {
    int fd = g_open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0 && errno != EEXIST) {
      int saved_errno = errno;

      g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL, "cannot create %s: %s",
                   path, g_strerror (saved_errno));
      return NULL;
    }
    if (fd >= 0)
      g_close (fd, NULL);
  }

  self = g_object_new (MESH_TYPE_STORE, NULL);
  if (sqlite3_open_v2 (path, &self->db, flags, NULL) != SQLITE_OK) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL, "cannot open %s: %s", path,
                 self->db ? sqlite3_errmsg (self->db) : "out of memory");
    mesh_store_close (self);
    return NULL;
  }
  sqlite3_extended_result_codes (self->db, 1);
  sqlite3_busy_timeout (self->db, 5000);

  if (sqlite3_exec (self->db,
                    "PRAGMA journal_mode = WAL;"
                    /* NORMAL in WAL mode only syncs at checkpoints: a power
                     * loss could take back acknowledged messages and outbox
                     * rows.  FULL syncs the WAL at every commit. */
                    "PRAGMA synchronous = FULL;"
                    "PRAGMA foreign_keys = ON;",
                    NULL, NULL, NULL) != SQLITE_OK) {
    set_db_error (self, error, "pragmas");
    return NULL;
  }
  if (!migrate (self, error))
    return NULL;

  return g_steal_pointer (&self);
}

void
mesh_store_close (MeshStore *self)
{
  g_return_if_fail (MESH_IS_STORE (self));

  if (self->db == NULL)
    return;
  /* Statements must go before the connection, or it stays open. */
  g_hash_table_remove_all (self->statements);
  sqlite3_close (self->db);
  self->db = NULL;
}

int
mesh_store_get_schema_version (MeshStore *self)
{
  g_return_val_if_fail (MESH_IS_STORE (self), 0);

  return self->schema_version;
}

int
mesh_store_get_synchronous (MeshStore *self)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), -1);

  stmt = mesh_store_prepare (self, NULL, "PRAGMA synchronous", "");
  if (stmt == NULL || mesh_store_step (self, stmt, NULL) != SQLITE_ROW)
    return -1;
  return sqlite3_column_int (stmt, 0);
}
