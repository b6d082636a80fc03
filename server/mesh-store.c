/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-store"

#include "config.h"

#include "mesh-store.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-password.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

#define MAX_CONTENT_BYTES       16384
#define MAX_CLIENT_MSG_ID_BYTES 128
#define MAX_TOKEN_BYTES         512
#define INVITE_CODE_LEN         12
/* 32 symbols without 0/O and 1/I, so a code read aloud or copied by hand
 * survives; 12 of them are 60 random bits. */
#define INVITE_ALPHABET         "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

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


#define MESSAGE_SELECT \
  "SELECT m.message_id, m.room_id, m.user_id, u.username, m.sender_id, m.content," \
  "       m.client_msg_id, m.created_usec" \
  "  FROM messages m JOIN users u ON u.user_id = m.user_id "

struct _MeshStore {
  GObject     parent_instance;

  sqlite3    *db;
  /* SQL text → sqlite3_stmt*: each query is compiled once. */
  GHashTable *statements;
  int         schema_version;
  gint64      device_idle_usec;
};

G_DEFINE_FINAL_TYPE (MeshStore, mesh_store, G_TYPE_OBJECT)

enum {
  SIGNAL_ROOM_EVENT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* A cached statement borrowed for one use: releasing it resets it for the
 * next caller instead of finalizing it. */
typedef sqlite3_stmt MeshStoreStmt;

static void
mesh_store_stmt_release (MeshStoreStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshStoreStmt, mesh_store_stmt_release)

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
static MeshStoreStmt *
store_prepare (MeshStore   *self,
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
static int
store_step (MeshStore      *self,
            MeshStoreStmt  *stmt,
            GError        **error)
{
  int rc = sqlite3_step (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    set_db_error (self, error, "step");
  return rc;
}

static gboolean
store_run (MeshStore      *self,
           MeshStoreStmt  *stmt,
           GError        **error)
{
  return store_step (self, stmt, error) == SQLITE_DONE;
}

static gboolean
store_exec (MeshStore   *self,
            const char  *sql,
            GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error, sql, "");

  return stmt != NULL && store_run (self, stmt, error);
}

static gboolean
store_begin (MeshStore  *self,
             GError    **error)
{
  /* IMMEDIATE takes the write lock up front: no upgrade deadlock with
   * another connection (the admin CLI) that reads first. */
  return store_exec (self, "BEGIN IMMEDIATE", error);
}

static gboolean
store_commit (MeshStore  *self,
              GError    **error)
{
  return store_exec (self, "COMMIT", error);
}

static void
store_rollback (MeshStore *self)
{
  if (self->db != NULL && !sqlite3_get_autocommit (self->db))
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
}

static char *
column_strdup (sqlite3_stmt *stmt,
               int           column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

/* Fetches the first column of a query's only row.  TRUE with *@value NULL
 * when there is no row; FALSE (and @error) only when the query failed. */
static gboolean
store_lookup_string (MeshStore      *self,
                     MeshStoreStmt  *stmt,
                     char          **value,
                     GError        **error)
{
  int rc;

  *value = NULL;
  if (stmt == NULL)
    return FALSE;
  rc = store_step (self, stmt, error);
  if (rc == SQLITE_ROW)
    *value = column_strdup (stmt, 0);
  return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

static gboolean
user_exists (MeshStore   *self,
             const char  *user_id,
             GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                 "SELECT user_id FROM users WHERE user_id = ?1",
                                                 "s", user_id);
  g_autofree char *found = NULL;

  if (!store_lookup_string (self, stmt, &found, error))
    return FALSE;
  if (found == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND, "unknown user");
    return FALSE;
  }
  return TRUE;
}

static gboolean
room_exists (MeshStore   *self,
             const char  *room_id,
             GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                 "SELECT room_id FROM rooms WHERE room_id = ?1",
                                                 "s", room_id);
  g_autofree char *found = NULL;

  if (!store_lookup_string (self, stmt, &found, error))
    return FALSE;
  if (found == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "unknown room");
    return FALSE;
  }
  return TRUE;
}

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

/* 1..@max_chars characters of UTF-8, no control characters, not blank. */
static gboolean
check_display_text (const char  *text,
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
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error, "PRAGMA user_version", "");
  int version;

  if (stmt == NULL || store_step (self, stmt, error) != SQLITE_ROW)
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

    if (!store_begin (self, error))
      return FALSE;
    if (sqlite3_exec (self->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec (self->db, set_version, NULL, NULL, NULL) != SQLITE_OK) {
      g_autofree char *what = g_strdup_printf ("migration to version %d", version + 1);

      set_db_error (self, error, what);
      store_rollback (self);
      return FALSE;
    }
    if (!store_commit (self, error)) {
      store_rollback (self);
      return FALSE;
    }
    g_debug ("Migrated %s to schema version %d", sqlite3_db_filename (self->db, "main"),
             version + 1);
  }
  self->schema_version = version;
  return TRUE;
}

static MeshStoreMessage *
message_from_row (sqlite3_stmt *stmt)
{
  MeshStoreMessage *message = g_new0 (MeshStoreMessage, 1);

  message->message_id = column_strdup (stmt, 0);
  message->room_id = column_strdup (stmt, 1);
  message->user_id = column_strdup (stmt, 2);
  message->username = column_strdup (stmt, 3);
  message->sender_id = column_strdup (stmt, 4);
  message->content = column_strdup (stmt, 5);
  message->client_msg_id = column_strdup (stmt, 6);
  message->created_usec = sqlite3_column_int64 (stmt, 7);
  return message;
}

static MeshStoreMessage *
get_message (MeshStore   *self,
             const char  *message_id,
             GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                 MESSAGE_SELECT "WHERE m.message_id = ?1",
                                                 "s", message_id);

  if (stmt == NULL || store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  return message_from_row (stmt);
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

  stmt = store_prepare (self, NULL, "PRAGMA synchronous", "");
  if (stmt == NULL || store_step (self, stmt, NULL) != SQLITE_ROW)
    return -1;
  return sqlite3_column_int (stmt, 0);
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
  stmt = store_prepare (self, error, "SELECT 1 FROM users WHERE username = ?1", "s", username);
  if (stmt == NULL)
    return NULL;
  switch (store_step (self, stmt, error)) {
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
  stmt = store_prepare (self, error,
                        "INSERT INTO users (user_id, username, password_hash, created_usec)"
                        " VALUES (?1, ?2, ?3, ?4)",
                        "sssi", user_id, job->username, job->encoded, g_get_real_time ());
  if (stmt == NULL)
    return NULL;
  rc = store_step (self, stmt, &local_error);
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

  stmt = store_prepare (self, error,
                        "SELECT user_id, password_hash FROM users WHERE username = ?1",
                        "s", username);
  if (stmt == NULL)
    return NULL;
  switch (store_step (self, stmt, error)) {
  case SQLITE_ROW:
    job->user_id = column_strdup (stmt, 0);
    job->encoded = column_strdup (stmt, 1);
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
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, &local_error,
                                                   "UPDATE users SET password_hash = ?1"
                                                   " WHERE user_id = ?2 AND password_hash = ?3",
                                                   "sss", job->rehashed, job->user_id,
                                                   job->encoded);

    /* The login stands even if the upgrade cannot be saved now. */
    if (stmt == NULL || !store_run (self, stmt, &local_error)) {
      g_autofree char *username = mesh_escape_for_display (job->username, -1);

      g_message ("Could not upgrade the password hash of %s: %s", username, local_error->message);
    }
  }
  return g_steal_pointer (&job->user_id);
}

static void
add_user_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  add_user_work (task_data);
  g_task_return_boolean (task, TRUE);
}

static void
check_password_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  check_password_work (task_data);
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
  MeshStore *self = MESH_STORE (source);
  PasswordJob *job = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;
  char *user_id;

  if (g_task_get_source_tag (G_TASK (result)) == add_user_thread)
    user_id = add_user_end (self, job, &error);
  else
    user_id = check_password_end (self, job, &error);

  if (user_id != NULL)
    g_task_return_pointer (task, user_id, g_free);
  else
    g_task_return_error (task, error);
}

static void
run_password_job (MeshStore           *self,
                  PasswordJob         *job,
                  GTaskThreadFunc      thread_func,
                  GTask               *task)
{
  g_autoptr(GTask) worker = g_task_new (self, NULL, password_work_done, g_object_ref (task));

  g_task_set_source_tag (worker, thread_func);
  g_task_set_task_data (worker, job, (GDestroyNotify) password_job_free);
  g_task_run_in_thread (worker, thread_func);
}

char *
mesh_store_add_user (MeshStore   *self,
                     const char  *username,
                     const char  *password,
                     GError     **error)
{
  g_autoptr(PasswordJob) job = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  job = add_user_begin (self, username, password, error);
  if (job == NULL)
    return NULL;
  add_user_work (job);
  return add_user_end (self, job, error);
}

void
mesh_store_add_user_async (MeshStore           *self,
                           const char          *username,
                           const char          *password,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  PasswordJob *job;

  g_return_if_fail (MESH_IS_STORE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_store_add_user_async);
  job = add_user_begin (self, username, password, &error);
  if (job == NULL) {
    g_task_return_error (task, error);
    return;
  }
  run_password_job (self, job, add_user_thread, task);
}

char *
mesh_store_add_user_finish (MeshStore     *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mesh_store_add_user_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

char *
mesh_store_check_password (MeshStore   *self,
                           const char  *username,
                           const char  *password,
                           GError     **error)
{
  g_autoptr(PasswordJob) job = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  job = check_password_begin (self, username, password, error);
  if (job == NULL)
    return NULL;
  check_password_work (job);
  return check_password_end (self, job, error);
}

void
mesh_store_check_password_async (MeshStore           *self,
                                 const char          *username,
                                 const char          *password,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  PasswordJob *job;

  g_return_if_fail (MESH_IS_STORE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_store_check_password_async);
  job = check_password_begin (self, username, password, &error);
  if (job == NULL) {
    g_task_return_error (task, error);
    return;
  }
  run_password_job (self, job, check_password_thread, task);
}

char *
mesh_store_check_password_finish (MeshStore     *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        mesh_store_check_password_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

GPtrArray *
mesh_store_list_users (MeshStore  *self,
                       GError    **error)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = store_prepare (self, error,
                        "SELECT user_id, username, created_usec FROM users ORDER BY rowid", "");
  if (stmt == NULL)
    return NULL;
  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW) {
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

  stmt = store_prepare (self, NULL, "SELECT username FROM users WHERE user_id = ?1",
                        "s", user_id);
  store_lookup_string (self, stmt, &username, NULL);
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

  if (!user_exists (self, user_id, error))
    return NULL;

  token = mesh_random_token (32);
  token_hash = mesh_sha256_hex (token, strlen (token));

  {
    g_autoptr(MeshStoreStmt) purge = store_prepare (self, error,
                                                    "DELETE FROM access_tokens"
                                                    " WHERE user_id = ?1 AND expires_usec <= ?2",
                                                    "si", user_id, now);

    if (purge == NULL || !store_run (self, purge, error))
      return NULL;
  }
  {
    g_autoptr(MeshStoreStmt) insert =
      store_prepare (self, error,
                     "INSERT INTO access_tokens (token_hash, user_id, created_usec, expires_usec)"
                     " VALUES (?1, ?2, ?3, ?4)",
                     "ssii", token_hash, user_id, now,
                     now + (gint64) MESH_STORE_ACCESS_TTL * G_USEC_PER_SEC);

    if (insert == NULL || !store_run (self, insert, error))
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
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "SELECT user_id FROM access_tokens"
                                                   " WHERE token_hash = ?1 AND expires_usec > ?2",
                                                   "si", token_hash, g_get_real_time ());

    if (stmt == NULL)
      return NULL;
    switch (store_step (self, stmt, error)) {
    case SQLITE_ROW:
      return column_strdup (stmt, 0);
    case SQLITE_DONE:
      break;
    default:
      return NULL;
    }
  }
  {
    gint64 now = g_get_real_time ();
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
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
    switch (store_step (self, stmt, error)) {
    case SQLITE_ROW:
      user_id = column_strdup (stmt, 0);
      found_device = column_strdup (stmt, 1);
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
      g_autoptr(MeshStoreStmt) touch = store_prepare (self, &touch_error,
                                                      "UPDATE devices SET last_used_usec = ?1"
                                                      " WHERE device_id = ?2",
                                                      "is", now, found_device);

      if (touch == NULL || !store_run (self, touch, &touch_error))
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

  if (!check_display_text (name, "name", 64, error))
    return FALSE;
  if (!mesh_fingerprint_is_valid (fingerprint)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "fingerprint must be the SHA-256 of the certificate:"
                         " 64 lower-case hex digits without colons");
    return FALSE;
  }
  if (!user_exists (self, user_id, error))
    return FALSE;

  token = mesh_random_token (32);
  token_hash = mesh_sha256_hex (token, strlen (token));

  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "SELECT device_id FROM devices"
                                                   " WHERE user_id = ?1 AND name = ?2",
                                                   "ss", user_id, name);

    if (!store_lookup_string (self, stmt, &id, error))
      return FALSE;
  }

  if (id != NULL) {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "UPDATE devices SET fingerprint = ?1,"
                                                   " token_hash = ?2, last_used_usec = ?3"
                                                   " WHERE device_id = ?4",
                                                   "ssis", fingerprint, token_hash,
                                                   g_get_real_time (), id);

    if (stmt == NULL || !store_run (self, stmt, error))
      return FALSE;
  } else {
    g_autoptr(MeshStoreStmt) stmt = NULL;

    id = mesh_id_new ();
    stmt = store_prepare (self, error,
                          "INSERT INTO devices (device_id, user_id, name, fingerprint,"
                          " token_hash, created_usec, last_used_usec)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                          "sssssi", id, user_id, name, fingerprint, token_hash,
                          g_get_real_time ());
    if (stmt == NULL || !store_run (self, stmt, error))
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

  device->device_id = column_strdup (stmt, 0);
  device->user_id = column_strdup (stmt, 1);
  device->name = column_strdup (stmt, 2);
  device->fingerprint = column_strdup (stmt, 3);
  return device;
}

MeshStoreDevice *
mesh_store_get_device (MeshStore  *self,
                       const char *device_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = store_prepare (self, NULL,
                        "SELECT device_id, user_id, name, fingerprint FROM devices"
                        " WHERE device_id = ?1",
                        "s", device_id);
  if (stmt == NULL || store_step (self, stmt, NULL) != SQLITE_ROW)
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

  stmt = store_prepare (self, error, "DELETE FROM devices WHERE device_id = ?1 AND user_id = ?2",
                        "ss", device_id, user_id);
  if (stmt == NULL || !store_run (self, stmt, error))
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

  stmt = store_prepare (self, error,
                        "SELECT device_id, user_id, name, fingerprint FROM devices"
                        " WHERE user_id = ?1 ORDER BY rowid",
                        "s", user_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (devices, device_from_row (stmt));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&devices);
}

/* Rooms and members. */

static char *
create_room_locked (MeshStore   *self,
                    const char  *owner_user_id,
                    const char  *name,
                    GError     **error)
{
  g_autofree char *room_id = mesh_id_new ();
  gint64 now = g_get_real_time ();

  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "INSERT INTO rooms (room_id, name, created_by,"
                                                   " created_usec) VALUES (?1, ?2, ?3, ?4)",
                                                   "sssi", room_id, name, owner_user_id, now);

    if (stmt == NULL || !store_run (self, stmt, error))
      return NULL;
  }
  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "INSERT INTO room_members (room_id, user_id,"
                                                   " role, joined_usec) VALUES (?1, ?2, ?3, ?4)",
                                                   "sssi", room_id, owner_user_id, "owner", now);

    if (stmt == NULL || !store_run (self, stmt, error))
      return NULL;
  }
  return g_steal_pointer (&room_id);
}

char *
mesh_store_create_room (MeshStore   *self,
                        const char  *owner_user_id,
                        const char  *name,
                        GError     **error)
{
  char *room_id;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!check_display_text (name, "name", 100, error))
    return NULL;
  if (!user_exists (self, owner_user_id, error))
    return NULL;

  if (!store_begin (self, error))
    return NULL;
  room_id = create_room_locked (self, owner_user_id, name, error);
  if (room_id == NULL || !store_commit (self, error)) {
    store_rollback (self);
    g_clear_pointer (&room_id, g_free);
  }
  return room_id;
}

gboolean
mesh_store_room_exists (MeshStore  *self,
                        const char *room_id)
{
  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  return room_exists (self, room_id, NULL);
}

char *
mesh_store_get_room_name (MeshStore  *self,
                          const char *room_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  g_autofree char *name = NULL;

  stmt = store_prepare (self, NULL, "SELECT name FROM rooms WHERE room_id = ?1", "s", room_id);
  store_lookup_string (self, stmt, &name, NULL);
  return g_steal_pointer (&name);
}

char *
mesh_store_get_member_role (MeshStore  *self,
                            const char *room_id,
                            const char *user_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  g_autofree char *role = NULL;

  stmt = store_prepare (self, NULL,
                        "SELECT role FROM room_members WHERE room_id = ?1 AND user_id = ?2",
                        "ss", room_id, user_id);
  store_lookup_string (self, stmt, &role, NULL);
  return g_steal_pointer (&role);
}

GPtrArray *
mesh_store_list_members (MeshStore   *self,
                         const char  *room_id,
                         GError     **error)
{
  g_autoptr(GPtrArray) members =
    g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_store_member_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!room_exists (self, room_id, error))
    return NULL;

  stmt = store_prepare (self, error,
                        "SELECT m.user_id, u.username, m.role FROM room_members m"
                        " JOIN users u ON u.user_id = m.user_id"
                        " WHERE m.room_id = ?1 ORDER BY m.rowid",
                        "s", room_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW) {
    MeshStoreMember *member = g_new0 (MeshStoreMember, 1);

    member->user_id = column_strdup (stmt, 0);
    member->username = column_strdup (stmt, 1);
    member->role = column_strdup (stmt, 2);
    g_ptr_array_add (members, member);
  }
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&members);
}

JsonArray *
mesh_store_list_rooms_json (MeshStore   *self,
                            const char  *user_id,
                            GError     **error)
{
  g_autoptr(JsonArray) rooms = json_array_new ();
  g_autoptr(MeshStoreStmt) stmt = NULL;
  JsonArray *members = NULL;
  const char *last_room = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  /* One row per (room of the caller, member of that room), grouped by room. */
  stmt = store_prepare (self, error,
                        "SELECT r.room_id, r.name, m.user_id, u.username, m.role"
                        "  FROM room_members me"
                        "  JOIN rooms r ON r.room_id = me.room_id"
                        "  JOIN room_members m ON m.room_id = r.room_id"
                        "  JOIN users u ON u.user_id = m.user_id"
                        " WHERE me.user_id = ?1"
                        " ORDER BY r.created_usec, r.rowid, m.rowid",
                        "s", user_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW) {
    const char *room_id = (const char *) sqlite3_column_text (stmt, 0);
    JsonObject *member;

    if (last_room == NULL || !g_str_equal (last_room, room_id)) {
      JsonObject *room = json_object_new ();

      json_object_set_string_member (room, "room_id", room_id);
      json_object_set_string_member (room, "name", (const char *) sqlite3_column_text (stmt, 1));
      members = json_array_new ();
      json_object_set_array_member (room, "members", members);
      json_array_add_object_element (rooms, room);
      last_room = json_object_get_string_member (room, "room_id");
    }
    member = json_object_new ();
    json_object_set_string_member (member, "user_id",
                                   (const char *) sqlite3_column_text (stmt, 2));
    json_object_set_string_member (member, "username",
                                   (const char *) sqlite3_column_text (stmt, 3));
    json_object_set_string_member (member, "role",
                                   (const char *) sqlite3_column_text (stmt, 4));
    json_array_add_object_element (members, member);
  }
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&rooms);
}

GPtrArray *
mesh_store_list_room_ids (MeshStore   *self,
                          const char  *user_id,
                          GError     **error)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = store_prepare (self, error,
                        "SELECT room_id FROM room_members WHERE user_id = ?1 ORDER BY rowid",
                        "s", user_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (ids, column_strdup (stmt, 0));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&ids);
}

static char *
lookup_username (MeshStore  *self,
                 const char *user_id)
{
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, NULL,
                                                 "SELECT username FROM users WHERE user_id = ?1",
                                                 "s", user_id);
  char *username = NULL;

  store_lookup_string (self, stmt, &username, NULL);
  return username;
}

/* The user_ids of a room's members, in joining order. */
static GStrv
member_ids_locked (MeshStore   *self,
                   const char  *room_id,
                   GError     **error)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                 "SELECT user_id FROM room_members"
                                                 " WHERE room_id = ?1 ORDER BY rowid",
                                                 "s", room_id);
  int rc;

  if (stmt == NULL)
    return NULL;
  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW)
    g_strv_builder_add (builder, (const char *) sqlite3_column_text (stmt, 0));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_strv_builder_end (builder);
}

/* ROOM_NOT_FOUND for an unknown room, FORBIDDEN for a non-member, and for
 * a member who is not the owner when @need_owner. */
static gboolean
check_room_role (MeshStore   *self,
                 const char  *room_id,
                 const char  *user_id,
                 gboolean     need_owner,
                 GError     **error)
{
  g_autofree char *role = NULL;

  if (!room_exists (self, room_id, error))
    return FALSE;
  role = mesh_store_get_member_role (self, room_id, user_id);
  if (role == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "not a member of this room");
    return FALSE;
  }
  if (need_owner && !g_str_equal (role, "owner")) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "only the room's owner may do this");
    return FALSE;
  }
  return TRUE;
}

static void
emit_room_event (MeshStore  *self,
                 const char *type,
                 const char *room_id,
                 GStrv       user_ids,
                 JsonObject *payload)
{
  g_signal_emit (self, signals[SIGNAL_ROOM_EVENT], 0, type, room_id, user_ids, payload);
}

gboolean
mesh_store_rename_room (MeshStore   *self,
                        const char  *room_id,
                        const char  *user_id,
                        const char  *name,
                        GError     **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_auto(GStrv) members = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (!check_display_text (name, "name", 100, error))
    return FALSE;
  if (!check_room_role (self, room_id, user_id, TRUE, error))
    return FALSE;
  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "UPDATE rooms SET name = ?2 WHERE room_id = ?1",
                                                   "ss", room_id, name);

    if (stmt == NULL || !store_run (self, stmt, error))
      return FALSE;
  }
  members = member_ids_locked (self, room_id, NULL);
  payload = json_object_new ();
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "name", name);
  json_object_set_string_member (payload, "user_id", user_id);
  if (members != NULL)
    emit_room_event (self, "room.updated", room_id, members, payload);
  return TRUE;
}

gboolean
mesh_store_delete_room (MeshStore   *self,
                        const char  *room_id,
                        const char  *user_id,
                        GError     **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_auto(GStrv) members = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (!check_room_role (self, room_id, user_id, TRUE, error))
    return FALSE;
  members = member_ids_locked (self, room_id, error);
  if (members == NULL)
    return FALSE;
  {
    /* Members, invites and messages go with it (ON DELETE CASCADE). */
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "DELETE FROM rooms WHERE room_id = ?1",
                                                   "s", room_id);

    if (stmt == NULL || !store_run (self, stmt, error))
      return FALSE;
  }
  payload = json_object_new ();
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "user_id", user_id);
  emit_room_event (self, "room.deleted", room_id, members, payload);
  return TRUE;
}

gboolean
mesh_store_leave_room (MeshStore   *self,
                       const char  *room_id,
                       const char  *user_id,
                       GError     **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_auto(GStrv) members = NULL;
  g_autofree char *role = NULL;
  g_autofree char *username = NULL;
  g_autofree char *new_owner = NULL;
  gboolean emptied;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (!check_room_role (self, room_id, user_id, FALSE, error))
    return FALSE;
  role = mesh_store_get_member_role (self, room_id, user_id);
  members = member_ids_locked (self, room_id, error);
  if (members == NULL)
    return FALSE;
  username = lookup_username (self, user_id);

  if (!store_begin (self, error))
    return FALSE;
  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "DELETE FROM room_members"
                                                   " WHERE room_id = ?1 AND user_id = ?2",
                                                   "ss", room_id, user_id);

    if (stmt == NULL || !store_run (self, stmt, error))
      goto fail;
  }
  emptied = g_strv_length (members) <= 1;
  if (emptied) {
    /* Nobody is left to see it: the room goes. */
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "DELETE FROM rooms WHERE room_id = ?1",
                                                   "s", room_id);

    if (stmt == NULL || !store_run (self, stmt, error))
      goto fail;
  } else if (g_str_equal (role, "owner")) {
    /* A room always has an owner: the longest-standing member takes over. */
    g_autoptr(MeshStoreStmt) pick = store_prepare (self, error,
                                                   "SELECT user_id FROM room_members"
                                                   " WHERE room_id = ?1 ORDER BY rowid LIMIT 1",
                                                   "s", room_id);

    if (!store_lookup_string (self, pick, &new_owner, error) || new_owner == NULL)
      goto fail;
    {
      g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                     "UPDATE room_members SET role = 'owner'"
                                                     " WHERE room_id = ?1 AND user_id = ?2",
                                                     "ss", room_id, new_owner);

      if (stmt == NULL || !store_run (self, stmt, error))
        goto fail;
    }
  }
  if (!store_commit (self, error))
    goto fail;

  payload = json_object_new ();
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "user_id", user_id);
  json_object_set_string_member (payload, "username", username != NULL ? username : "");
  if (new_owner != NULL)
    json_object_set_string_member (payload, "new_owner", new_owner);
  emit_room_event (self, "room.member.left", room_id, members, payload);
  return TRUE;

fail:
  store_rollback (self);
  return FALSE;
}

/* Invites. */

static char *
new_invite_code (void)
{
  guint8 random[INVITE_CODE_LEN];
  char code[INVITE_CODE_LEN + 1];

  if (gnutls_rnd (GNUTLS_RND_NONCE, random, sizeof random) != 0)
    g_error ("The system's random source failed");
  /* 32 symbols: masking keeps the choice uniform. */
  for (guint i = 0; i < INVITE_CODE_LEN; i++)
    code[i] = INVITE_ALPHABET[random[i] & 31];
  code[INVITE_CODE_LEN] = '\0';
  return g_strdup (code);
}

char *
mesh_store_create_invite (MeshStore   *self,
                          const char  *room_id,
                          const char  *created_by,
                          gint64      *expires_in,
                          GError     **error)
{
  g_autofree char *role = NULL;
  gint64 now = g_get_real_time ();

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!room_exists (self, room_id, error))
    return NULL;
  role = mesh_store_get_member_role (self, room_id, created_by);
  if (role == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "only members of the room can invite");
    return NULL;
  }

  {
    g_autoptr(MeshStoreStmt) purge = store_prepare (self, error,
                                                    "DELETE FROM invites WHERE expires_usec <= ?1",
                                                    "i", now);

    if (purge == NULL || !store_run (self, purge, error))
      return NULL;
  }

  /* 60 random bits: a collision is all but impossible, but cheap to retry. */
  for (guint attempt = 0; attempt < 3; attempt++) {
    g_autofree char *code = new_invite_code ();
    g_autoptr(GError) local_error = NULL;
    g_autoptr(MeshStoreStmt) stmt =
      store_prepare (self, error,
                     "INSERT INTO invites (code, room_id, created_by, created_usec, expires_usec)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)",
                     "sssii", code, room_id, created_by, now,
                     now + (gint64) MESH_STORE_INVITE_TTL * G_USEC_PER_SEC);
    int rc;

    if (stmt == NULL)
      return NULL;
    rc = store_step (self, stmt, &local_error);
    if (rc == SQLITE_DONE) {
      if (expires_in != NULL)
        *expires_in = MESH_STORE_INVITE_TTL;
      return g_steal_pointer (&code);
    }
    if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  }
  g_set_error_literal (error, MESH_ERROR, MESH_ERROR_INTERNAL, "could not pick an invite code");
  return NULL;
}

static char *
accept_invite_locked (MeshStore   *self,
                      const char  *code,
                      const char  *user_id,
                      gboolean    *added,
                      GError     **error)
{
  g_autofree char *room_id = NULL;
  g_autofree char *role = NULL;
  gint64 count;

  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "SELECT room_id FROM invites"
                                                   " WHERE code = ?1 AND expires_usec > ?2",
                                                   "si", code, g_get_real_time ());

    if (!store_lookup_string (self, stmt, &room_id, error))
      return NULL;
  }
  if (room_id == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND,
                         "unknown or expired invite code");
    return NULL;
  }

  role = mesh_store_get_member_role (self, room_id, user_id);
  if (role != NULL)
    return g_steal_pointer (&room_id);

  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "SELECT COUNT(*) FROM room_members"
                                                   " WHERE room_id = ?1",
                                                   "s", room_id);

    if (stmt == NULL || store_step (self, stmt, error) != SQLITE_ROW)
      return NULL;
    count = sqlite3_column_int64 (stmt, 0);
  }
  if (count >= MESH_STORE_ROOM_MAX_USERS) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_FULL, "the room already has %d users",
                 MESH_STORE_ROOM_MAX_USERS);
    return NULL;
  }

  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "INSERT INTO room_members (room_id, user_id,"
                                                   " role, joined_usec) VALUES (?1, ?2, ?3, ?4)",
                                                   "sssi", room_id, user_id, "member",
                                                   g_get_real_time ());

    if (stmt == NULL || !store_run (self, stmt, error))
      return NULL;
  }
  *added = TRUE;
  return g_steal_pointer (&room_id);
}

char *
mesh_store_accept_invite (MeshStore   *self,
                          const char  *code,
                          const char  *user_id,
                          GError     **error)
{
  g_autofree char *normalized = NULL;
  gboolean added = FALSE;
  char *room_id;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (code == NULL || strlen (code) != INVITE_CODE_LEN) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND,
                         "unknown or expired invite code");
    return NULL;
  }
  if (!user_exists (self, user_id, error))
    return NULL;

  /* Codes are shown in upper case; people type them in any case. */
  normalized = g_ascii_strup (code, -1);

  /* One transaction: two people accepting at once cannot make five. */
  if (!store_begin (self, error))
    return NULL;
  room_id = accept_invite_locked (self, normalized, user_id, &added, error);
  if (room_id == NULL || !store_commit (self, error)) {
    store_rollback (self);
    g_clear_pointer (&room_id, g_free);
    return NULL;
  }
  /* A new member (not a second accept): the others' chats say so. */
  if (added) {
    g_auto(GStrv) members = member_ids_locked (self, room_id, NULL);
    g_autoptr(JsonObject) payload = json_object_new ();
    g_autofree char *username = lookup_username (self, user_id);

    json_object_set_string_member (payload, "room_id", room_id);
    json_object_set_string_member (payload, "user_id", user_id);
    json_object_set_string_member (payload, "username", username != NULL ? username : "");
    if (members != NULL)
      emit_room_event (self, "room.member.joined", room_id, members, payload);
  }
  return room_id;
}

/* Chat. */

static MeshStoreMessage *
find_client_message (MeshStore   *self,
                     const char  *user_id,
                     const char  *client_msg_id,
                     GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                 MESSAGE_SELECT
                                                 "WHERE m.user_id = ?1 AND m.client_msg_id = ?2",
                                                 "ss", user_id, client_msg_id);

  if (stmt == NULL || store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  return message_from_row (stmt);
}

MeshStoreMessage *
mesh_store_add_message (MeshStore   *self,
                        const char  *room_id,
                        const char  *user_id,
                        const char  *sender_id,
                        const char  *content,
                        const char  *client_msg_id,
                        gboolean    *duplicate,
                        GError     **error)
{
  g_autofree char *role = NULL;
  g_autofree char *message_id = NULL;
  g_autoptr(MeshStoreStmt) stmt = NULL;
  gsize len;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (duplicate != NULL)
    *duplicate = FALSE;

  len = content ? strlen (content) : 0;
  if (len == 0 || !g_utf8_validate (content, len, NULL)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "content must be 1 to 16384 bytes of UTF-8");
    return NULL;
  }
  if (len > MAX_CONTENT_BYTES) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "content is %" G_GSIZE_FORMAT " bytes, more than %d", len, MAX_CONTENT_BYTES);
    return NULL;
  }
  if (client_msg_id != NULL &&
      (client_msg_id[0] == '\0' || strlen (client_msg_id) > MAX_CLIENT_MSG_ID_BYTES)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "client_msg_id must be 1 to %d bytes", MAX_CLIENT_MSG_ID_BYTES);
    return NULL;
  }
  if (sender_id == NULL || sender_id[0] == '\0') {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "missing sender");
    return NULL;
  }
  if (!room_exists (self, room_id, error))
    return NULL;
  role = mesh_store_get_member_role (self, room_id, user_id);
  if (role == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "not a member of the room");
    return NULL;
  }

  if (client_msg_id != NULL) {
    g_autoptr(GError) local_error = NULL;
    g_autoptr(MeshStoreMessage) previous = find_client_message (self, user_id, client_msg_id,
                                                                &local_error);

    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    if (previous != NULL) {
      /* The id names one message of this user: reusing it for another
       * room is a client bug, not a retry. */
      if (!g_str_equal (previous->room_id, room_id)) {
        g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CONFLICT,
                             "client_msg_id was already used in another room");
        return NULL;
      }
      if (duplicate != NULL)
        *duplicate = TRUE;
      return g_steal_pointer (&previous);
    }
  }

  message_id = mesh_id_new ();
  stmt = store_prepare (self, error,
                        "INSERT INTO messages (message_id, room_id, user_id, sender_id, content,"
                        " client_msg_id, created_usec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        "ssssssi", message_id, room_id, user_id, sender_id, content,
                        client_msg_id, g_get_real_time ());
  if (stmt == NULL || !store_run (self, stmt, error))
    return NULL;
  return get_message (self, message_id, error);
}

/* The seq of @message_id in @room_id (NOT_FOUND when it is not there). */
static gboolean
message_seq (MeshStore   *self,
             const char  *room_id,
             const char  *message_id,
             gint64      *seq,
             GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                 "SELECT seq FROM messages"
                                                 " WHERE message_id = ?1 AND room_id = ?2",
                                                 "ss", message_id, room_id);
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = store_step (self, stmt, error);
  if (rc == SQLITE_DONE) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND,
                         "no such message in this room");
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return FALSE;
  *seq = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

static gboolean
check_list_args (MeshStore   *self,
                 const char  *room_id,
                 guint        limit,
                 GError     **error)
{
  if (limit < 1 || limit > 200) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "limit must be between 1 and 200");
    return FALSE;
  }
  return room_exists (self, room_id, error);
}

/* Every row @stmt yields, as MeshStoreMessages in row order. */
static GPtrArray *
read_messages (MeshStore      *self,
               MeshStoreStmt  *stmt,
               GError        **error)
{
  g_autoptr(GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_store_message_free);
  int rc;

  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (messages, message_from_row (stmt));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&messages);
}

GPtrArray *
mesh_store_list_messages (MeshStore   *self,
                          const char  *room_id,
                          const char  *before_message_id,
                          guint        limit,
                          GError     **error)
{
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(MeshStoreStmt) stmt = NULL;
  gint64 before_seq = G_MAXINT64;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!check_list_args (self, room_id, limit, error))
    return NULL;
  if (before_message_id != NULL &&
      !message_seq (self, room_id, before_message_id, &before_seq, error))
    return NULL;

  stmt = store_prepare (self, error,
                        MESSAGE_SELECT "WHERE m.room_id = ?1 AND m.seq < ?2"
                        " ORDER BY m.seq DESC LIMIT ?3",
                        "sii", room_id, before_seq, (gint64) limit);
  if (stmt == NULL || (messages = read_messages (self, stmt, error)) == NULL)
    return NULL;

  /* Fetched newest first for the LIMIT; handed out newest last. */
  for (guint i = 0, j = messages->len; i + 1 < j; i++, j--) {
    gpointer tmp = messages->pdata[i];

    messages->pdata[i] = messages->pdata[j - 1];
    messages->pdata[j - 1] = tmp;
  }
  return g_steal_pointer (&messages);
}

GPtrArray *
mesh_store_list_messages_after (MeshStore   *self,
                                const char  *room_id,
                                const char  *after_message_id,
                                guint        limit,
                                GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;
  gint64 after_seq = 0;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);
  g_return_val_if_fail (after_message_id != NULL, NULL);

  if (!check_list_args (self, room_id, limit, error) ||
      !message_seq (self, room_id, after_message_id, &after_seq, error))
    return NULL;

  stmt = store_prepare (self, error,
                        MESSAGE_SELECT "WHERE m.room_id = ?1 AND m.seq > ?2"
                        " ORDER BY m.seq ASC LIMIT ?3",
                        "sii", room_id, after_seq, (gint64) limit);
  return stmt != NULL ? read_messages (self, stmt, error) : NULL;
}

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

  if (!user_exists (self, user_id, error))
    return FALSE;
  /* New settings are a fresh start: whatever stopped delivery is forgotten. */
  stmt = store_prepare (self, error,
                        "INSERT INTO gotify_targets (user_id, url, token, priority, events,"
                        " last_error, retry_error, updated_usec)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6)"
                        " ON CONFLICT (user_id) DO UPDATE SET url = ?2, token = ?3,"
                        " priority = ?4, events = ?5, last_error = NULL, retry_error = NULL,"
                        " updated_usec = ?6",
                        "sssisi", user_id, url, token, priority, events_json,
                        g_get_real_time ());
  return stmt != NULL && store_run (self, stmt, error);
}

MeshStoreGotify *
mesh_store_get_gotify (MeshStore   *self,
                       const char  *user_id,
                       GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;
  MeshStoreGotify *gotify;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = store_prepare (self, error,
                        "SELECT url, token, priority, events, last_error, retry_error"
                        "  FROM gotify_targets WHERE user_id = ?1",
                        "s", user_id);
  if (stmt == NULL || store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  gotify = g_new0 (MeshStoreGotify, 1);
  gotify->user_id = g_strdup (user_id);
  gotify->url = column_strdup (stmt, 0);
  gotify->token = column_strdup (stmt, 1);
  gotify->priority = sqlite3_column_int64 (stmt, 2);
  gotify->events = events_from_json ((const char *) sqlite3_column_text (stmt, 3));
  gotify->last_error = column_strdup (stmt, 4);
  gotify->retry_error = column_strdup (stmt, 5);
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
  if (!store_begin (self, error))
    return FALSE;
  {
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "DELETE FROM gotify_targets WHERE user_id = ?1",
                                                   "s", user_id);

    if (stmt == NULL || !store_run (self, stmt, error))
      goto fail;
    if (existed != NULL)
      *existed = sqlite3_changes (self->db) > 0;
  }
  {
    /* Without a target nothing could ever deliver them. */
    g_autoptr(MeshStoreStmt) stmt = store_prepare (self, error,
                                                   "DELETE FROM gotify_outbox WHERE user_id = ?1",
                                                   "s", user_id);

    if (stmt == NULL || !store_run (self, stmt, error))
      goto fail;
  }
  if (store_commit (self, error))
    return TRUE;
fail:
  store_rollback (self);
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

  stmt = store_prepare (self, error,
                        "UPDATE gotify_targets SET last_error = ?2, retry_error = ?3"
                        " WHERE user_id = ?1",
                        "sss", user_id, last_error, retry_error);
  return stmt != NULL && store_run (self, stmt, error);
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
  if (!store_begin (self, error))
    return 0;
  {
    g_autoptr(MeshStoreStmt) stmt = NULL;

    stmt = store_prepare (self, error,
                          "INSERT INTO gotify_outbox (user_id, kind, title, message, priority,"
                          " extras, created_usec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                          "ssssisi", user_id, kind, title, message, priority, extras,
                          g_get_real_time ());
    if (stmt == NULL || !store_run (self, stmt, error))
      goto fail;
    id = sqlite3_last_insert_rowid (self->db);
  }
  if (max_pending > 0) {
    /* A target that stays stopped must not grow the database without end:
     * the oldest messages beyond the newest @max_pending go. */
    g_autoptr(MeshStoreStmt) stmt = NULL;

    stmt = store_prepare (self, error,
                          "DELETE FROM gotify_outbox WHERE user_id = ?1 AND id <="
                          " (SELECT id FROM gotify_outbox WHERE user_id = ?1"
                          "   ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                          "si", user_id, (gint64) max_pending);
    if (stmt == NULL || !store_run (self, stmt, error))
      goto fail;
    if (n_dropped != NULL)
      *n_dropped = sqlite3_changes (self->db);
  }
  if (store_commit (self, error))
    return id;
fail:
  store_rollback (self);
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

  stmt = store_prepare (self, error,
                        "SELECT id, kind, title, message, priority, extras, created_usec,"
                        "       attempts, next_attempt_usec"
                        "  FROM gotify_outbox WHERE user_id = ?1 ORDER BY id LIMIT 1",
                        "s", user_id);
  if (stmt == NULL || store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  item = g_new0 (MeshStoreOutboxItem, 1);
  item->id = sqlite3_column_int64 (stmt, 0);
  item->user_id = g_strdup (user_id);
  item->kind = column_strdup (stmt, 1);
  item->title = column_strdup (stmt, 2);
  item->message = column_strdup (stmt, 3);
  item->priority = sqlite3_column_int64 (stmt, 4);
  item->extras = column_strdup (stmt, 5);
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

  stmt = store_prepare (self, error, "DELETE FROM gotify_outbox WHERE id = ?1", "i", id);
  return stmt != NULL && store_run (self, stmt, error);
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

  stmt = store_prepare (self, error,
                        "UPDATE gotify_outbox SET attempts = ?2, next_attempt_usec = ?3"
                        " WHERE id = ?1",
                        "iii", id, attempts, next_attempt_usec);
  return stmt != NULL && store_run (self, stmt, error);
}

gboolean
mesh_store_outbox_reset_user (MeshStore   *self,
                              const char  *user_id,
                              GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  stmt = store_prepare (self, error,
                        "UPDATE gotify_outbox SET attempts = 0, next_attempt_usec = 0"
                        " WHERE user_id = ?1",
                        "s", user_id);
  return stmt != NULL && store_run (self, stmt, error);
}

gint64
mesh_store_outbox_count (MeshStore  *self,
                         const char *user_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), 0);

  stmt = store_prepare (self, NULL, "SELECT count(*) FROM gotify_outbox WHERE user_id = ?1",
                        "s", user_id);
  if (stmt == NULL || store_step (self, stmt, NULL) != SQLITE_ROW)
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

  stmt = store_prepare (self, error, "SELECT DISTINCT user_id FROM gotify_outbox", "");
  if (stmt == NULL)
    return NULL;
  while ((rc = store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (users, column_strdup (stmt, 0));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&users);
}
