/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-store"

#include "config.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-password.h"
#include "mesh-store.h"
#include "mesh-test-server.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <sqlite3.h>
#include <sys/stat.h>

#define FINGERPRINT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FINGERPRINT_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct {
  char      *dir;
  char      *path;
  MeshStore *store;
} Fixture;

/* Asserts a MESH_ERROR of @code and clears it for the next call. */
#define assert_mesh_error(error, code) \
  G_STMT_START { \
    g_assert_error ((error), MESH_ERROR, (code)); \
    g_clear_error (&(error)); \
  } G_STMT_END

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("mesh-store-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->path = g_build_filename (fixture->dir, "mesh.db", NULL);
  fixture->store = mesh_store_open (fixture->path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->store);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_object (&fixture->store);
  mesh_test_remove_tree (fixture->dir);
  g_free (fixture->path);
  g_free (fixture->dir);
}

static void
reopen (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&fixture->store);
  fixture->store = mesh_store_open (fixture->path, &error);
  g_assert_no_error (error);
}

/* Runs @sql on a second connection, as an operator's sqlite3 shell would:
 * used to age tokens and invites, and to look at what is really stored. */
static char *
sql_query (Fixture    *fixture,
           const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *result = NULL;

  g_assert_cmpint (sqlite3_open (fixture->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    result = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return result;
}

static char *
add_user (Fixture    *fixture,
          const char *name)
{
  g_autoptr(GError) error = NULL;
  char *user_id = mesh_store_add_user (fixture->store, name, "correct horse", &error);

  g_assert_no_error (error);
  g_assert_true (mesh_id_is_valid (user_id));
  return user_id;
}

static void
test_schema (Fixture       *fixture,
             gconstpointer  data)
{
  g_autofree char *mode = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *username = NULL;
  g_autofree char *version = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshStore) newer = NULL;
  GStatBuf st;

  g_assert_cmpint (mesh_store_get_schema_version (fixture->store), ==, MESH_STORE_SCHEMA_VERSION);
  version = sql_query (fixture, "PRAGMA user_version");
  g_assert_cmpint (atoi (version), ==, MESH_STORE_SCHEMA_VERSION);
  mode = sql_query (fixture, "PRAGMA journal_mode");
  g_assert_cmpstr (mode, ==, "wal");

  /* The database holds password hashes: only its owner may read it. */
  g_assert_cmpint (g_stat (fixture->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* Reopening migrates nothing and keeps the data. */
  user_id = add_user (fixture, "alice");
  reopen (fixture);
  g_assert_cmpint (mesh_store_get_schema_version (fixture->store), ==, MESH_STORE_SCHEMA_VERSION);
  username = mesh_store_get_username (fixture->store, user_id);
  g_assert_cmpstr (username, ==, "alice");

  /* A database from a newer server is refused, not damaged. */
  g_clear_object (&fixture->store);
  g_free (sql_query (fixture, "PRAGMA user_version = 99"));
  newer = mesh_store_open (fixture->path, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_INTERNAL);
  g_assert_null (newer);
  g_assert_nonnull (strstr (error->message, "99"));
  g_free (sql_query (fixture, "PRAGMA user_version = " G_STRINGIFY (MESH_STORE_SCHEMA_VERSION)));
  reopen (fixture);
}

static void
test_closed (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *user_id = NULL;

  mesh_store_close (fixture->store);
  mesh_store_close (fixture->store);
  user_id = mesh_store_add_user (fixture->store, "alice", "correct horse", &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_INTERNAL);
  g_assert_null (user_id);
  g_assert_false (mesh_store_room_exists (fixture->store, "x"));
}

static void
test_password_format (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *encoded = mesh_password_hash ("correct horse", &error);
  g_autofree char *again = mesh_password_hash ("correct horse", NULL);
  g_autofree char *prefix = g_strdup_printf ("pbkdf2-sha256$%d$", MESH_PASSWORD_ROUNDS);
  g_autofree char *tampered = NULL;
  g_auto(GStrv) parts = NULL;
  g_autofree guint8 *salt = NULL;
  gsize salt_len;
  gboolean rehash = TRUE;

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (encoded, prefix));
  g_assert_cmpint (MESH_PASSWORD_ROUNDS, >=, 200000);
  parts = g_strsplit (encoded, "$", 0);
  g_assert_cmpuint (g_strv_length (parts), ==, 4);
  salt = g_base64_decode (parts[2], &salt_len);
  g_assert_cmpuint (salt_len, ==, 16);
  /* A fresh salt each time: equal passwords do not give equal hashes. */
  g_assert_cmpstr (encoded, !=, again);

  g_assert_true (mesh_password_verify ("correct horse", encoded, &rehash));
  g_assert_false (rehash);
  g_assert_false (mesh_password_verify ("correct horsE", encoded, NULL));
  g_assert_false (mesh_password_verify ("", encoded, NULL));

  /* Malformed stored strings never match (and never crash). */
  g_assert_false (mesh_password_verify ("correct horse", NULL, NULL));
  g_assert_false (mesh_password_verify ("correct horse", "", NULL));
  g_assert_false (mesh_password_verify ("correct horse", "plain", NULL));
  g_assert_false (mesh_password_verify ("correct horse", "pbkdf2-sha256$$$", NULL));
  g_assert_false (mesh_password_verify ("correct horse", "pbkdf2-sha256$-5$AAAA$AAAA", NULL));
  g_assert_false (mesh_password_verify ("correct horse",
                                        "pbkdf2-sha256$99999999999999$AAAAAAAAAAAA$AAAA", NULL));
  tampered = g_strdup_printf ("md5$%s$%s$%s", parts[1], parts[2], parts[3]);
  g_assert_false (mesh_password_verify ("correct horse", tampered, NULL));
  g_clear_pointer (&tampered, g_free);
  tampered = g_strdup_printf ("pbkdf2-sha256$%s$%s$%s!", parts[1], parts[2], parts[3]);
  g_assert_false (mesh_password_verify ("correct horse", tampered, NULL));
}

static void
test_users (Fixture       *fixture,
            gconstpointer  data)
{
  static const char * const bad_names[] = {
    "", "has space", "ünïcode", "slash/", "semi;colon",
    "a234567890123456789012345678901234567890123456789012345678901234x",
  };
  g_autoptr(GError) error = NULL;
  g_autofree char *alice = add_user (fixture, "alice");
  g_autofree char *bob = add_user (fixture, "Bob_the-2.0");
  g_autofree char *stored = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  char *user_id;

  g_assert_cmpstr (alice, !=, bob);

  /* Names are unique regardless of case. */
  user_id = mesh_store_add_user (fixture->store, "ALICE", "another password", &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_CONFLICT);
  g_assert_null (user_id);
  g_clear_error (&error);

  for (guint i = 0; i < G_N_ELEMENTS (bad_names); i++) {
    user_id = mesh_store_add_user (fixture->store, bad_names[i], "correct horse", &error);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
    g_assert_nonnull (strstr (error->message, "username"));
    g_assert_null (user_id);
    g_clear_error (&error);
  }
  user_id = mesh_store_add_user (fixture->store, NULL, "correct horse", &error);
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  user_id = mesh_store_add_user (fixture->store, "carol", "short", &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, "password"));
  g_clear_error (&error);

  /* Only the slow hash is stored, never the password. */
  stored = sql_query (fixture, "SELECT password_hash FROM users WHERE username = 'alice'");
  g_assert_true (g_str_has_prefix (stored, "pbkdf2-sha256$"));
  g_assert_null (strstr (stored, "correct horse"));

  user_id = mesh_store_check_password (fixture->store, "alice", "correct horse", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user_id, ==, alice);
  g_free (user_id);

  user_id = mesh_store_check_password (fixture->store, "alice", "wrong horse", &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED);
  g_assert_null (user_id);
  g_clear_error (&error);

  user_id = mesh_store_check_password (fixture->store, "mallory", "correct horse", &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED);
  g_assert_null (user_id);
  g_clear_error (&error);

  user_id = mesh_store_check_password (fixture->store, "bad name!", "correct horse", &error);
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);

  lines = mesh_store_list_users (fixture->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_true (g_str_has_prefix (lines->pdata[0], alice));
  g_assert_nonnull (strstr (lines->pdata[0], "\talice\t"));
  g_assert_nonnull (strstr (lines->pdata[1], "\tBob_the-2.0\t"));

  g_assert_null (mesh_store_get_username (fixture->store, "no-such-user"));
}

/* A hash stored with fewer rounds (an older server) still logs in, and is
 * replaced by one with the current rounds on the way. */
static void
test_password_upgrade (Fixture       *fixture,
                       gconstpointer  data)
{
  static const guint8 salt[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
  g_autoptr(GError) error = NULL;
  g_autofree char *alice = add_user (fixture, "alice");
  g_autofree char *salt_b64 = g_base64_encode (salt, sizeof salt);
  g_autofree char *hash_b64 = NULL;
  g_autofree char *old = NULL;
  g_autofree char *update = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *prefix = g_strdup_printf ("pbkdf2-sha256$%d$", MESH_PASSWORD_ROUNDS);
  g_autofree char *user_id = NULL;
  gnutls_datum_t key = { (unsigned char *) "correct horse", 13 };
  gnutls_datum_t salt_datum = { (unsigned char *) salt, sizeof salt };
  guint8 hash[32];

  g_assert_cmpint (gnutls_pbkdf2 (GNUTLS_MAC_SHA256, &key, &salt_datum, 1000, hash, 32), ==, 0);
  hash_b64 = g_base64_encode (hash, sizeof hash);
  old = g_strdup_printf ("pbkdf2-sha256$1000$%s$%s", salt_b64, hash_b64);
  update = g_strdup_printf ("UPDATE users SET password_hash = '%s'", old);
  g_free (sql_query (fixture, update));

  user_id = mesh_store_check_password (fixture->store, "alice", "correct horse", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user_id, ==, alice);
  stored = sql_query (fixture, "SELECT password_hash FROM users");
  g_assert_true (g_str_has_prefix (stored, prefix));
  g_assert_true (mesh_password_verify ("correct horse", stored, NULL));
}

static void
async_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static void
test_users_async (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) added = NULL;
  g_autoptr(GAsyncResult) taken = NULL;
  g_autoptr(GAsyncResult) bad = NULL;
  g_autoptr(GAsyncResult) right = NULL;
  g_autoptr(GAsyncResult) wrong = NULL;
  g_autoptr(GAsyncResult) unknown = NULL;
  g_autofree char *alice = NULL;
  g_autofree char *user_id = NULL;
  char *none;

  mesh_store_add_user_async (fixture->store, "alice", "correct horse", NULL, async_done, &added);
  alice = mesh_store_add_user_finish (fixture->store, wait_result (&added), &error);
  g_assert_no_error (error);
  g_assert_true (mesh_id_is_valid (alice));

  mesh_store_add_user_async (fixture->store, "Alice", "correct horse", NULL, async_done, &taken);
  none = mesh_store_add_user_finish (fixture->store, wait_result (&taken), &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_CONFLICT);
  g_assert_null (none);
  g_clear_error (&error);

  mesh_store_add_user_async (fixture->store, "bad name", "correct horse", NULL, async_done, &bad);
  none = mesh_store_add_user_finish (fixture->store, wait_result (&bad), &error);
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);

  mesh_store_check_password_async (fixture->store, "alice", "correct horse", NULL,
                                   async_done, &right);
  user_id = mesh_store_check_password_finish (fixture->store, wait_result (&right), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user_id, ==, alice);

  mesh_store_check_password_async (fixture->store, "alice", "wrong horse", NULL,
                                   async_done, &wrong);
  none = mesh_store_check_password_finish (fixture->store, wait_result (&wrong), &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED);
  g_assert_null (none);
  g_clear_error (&error);

  mesh_store_check_password_async (fixture->store, "nobody", "correct horse", NULL,
                                   async_done, &unknown);
  none = mesh_store_check_password_finish (fixture->store, wait_result (&unknown), &error);
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
}

static void
test_tokens (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *alice = add_user (fixture, "alice");
  g_autofree char *token = NULL;
  g_autofree char *token_hash = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autofree char *auth_device = NULL;
  char *user_id;
  gint64 expires_in = 0;

  token = mesh_store_create_access_token (fixture->store, alice, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, ==, MESH_STORE_ACCESS_TTL);
  /* 32 random bytes in base64url without padding. */
  g_assert_cmpuint (strlen (token), ==, 43);

  user_id = mesh_store_authenticate (fixture->store, token, &auth_device, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user_id, ==, alice);
  g_assert_null (auth_device);
  g_free (user_id);

  /* The database keeps only the token's SHA-256. */
  token_hash = mesh_sha256_hex (token, strlen (token));
  stored = sql_query (fixture, "SELECT token_hash FROM access_tokens");
  g_assert_cmpstr (stored, ==, token_hash);

  g_assert_true (mesh_store_add_device (fixture->store, alice, "laptop", FINGERPRINT_A,
                                        &device_id, &device_token, &error));
  g_assert_no_error (error);
  user_id = mesh_store_authenticate (fixture->store, device_token, &auth_device, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user_id, ==, alice);
  g_assert_cmpstr (auth_device, ==, device_id);
  g_free (user_id);

  user_id = mesh_store_authenticate (fixture->store, "garbage", NULL, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED);
  g_assert_null (user_id);
  g_clear_error (&error);
  user_id = mesh_store_authenticate (fixture->store, "", NULL, &error);
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
  user_id = mesh_store_authenticate (fixture->store, NULL, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
  /* The stored hash is not a token. */
  user_id = mesh_store_authenticate (fixture->store, token_hash, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);

  /* Expired tokens no longer authenticate. */
  g_free (sql_query (fixture, "UPDATE access_tokens SET expires_usec = 1"));
  user_id = mesh_store_authenticate (fixture->store, token, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);

  user_id = mesh_store_create_access_token (fixture->store, "no-such-user", NULL, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND);
  g_assert_null (user_id);
}

static void
test_devices (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *alice = add_user (fixture, "alice");
  g_autofree char *first_id = NULL;
  g_autofree char *first_token = NULL;
  g_autofree char *second_id = NULL;
  g_autofree char *second_token = NULL;
  g_autofree char *other_id = NULL;
  g_autofree char *user_id = NULL;
  g_autoptr(MeshStoreDevice) device = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  char *id = NULL;

  g_assert_true (mesh_store_add_device (fixture->store, alice, "laptop", FINGERPRINT_A,
                                        &first_id, &first_token, &error));
  g_assert_no_error (error);
  g_assert_true (mesh_id_is_valid (first_id));

  /* The same name again: same device, new fingerprint and token. */
  g_assert_true (mesh_store_add_device (fixture->store, alice, "laptop", FINGERPRINT_B,
                                        &second_id, &second_token, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (second_id, ==, first_id);
  g_assert_cmpstr (second_token, !=, first_token);
  g_assert_null (mesh_store_authenticate (fixture->store, first_token, NULL, &error));
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
  user_id = mesh_store_authenticate (fixture->store, second_token, NULL, &error);
  g_assert_cmpstr (user_id, ==, alice);

  device = mesh_store_get_device (fixture->store, first_id);
  g_assert_nonnull (device);
  g_assert_cmpstr (device->fingerprint, ==, FINGERPRINT_B);
  g_assert_cmpstr (device->name, ==, "laptop");
  g_assert_cmpstr (device->user_id, ==, alice);
  g_assert_null (mesh_store_get_device (fixture->store, "nope"));

  g_assert_true (mesh_store_add_device (fixture->store, alice, "Büro-PC", FINGERPRINT_A,
                                        &other_id, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (other_id, !=, first_id);

  devices = mesh_store_list_devices (fixture->store, alice, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (devices->len, ==, 2);
  g_assert_cmpstr (((MeshStoreDevice *) devices->pdata[0])->name, ==, "laptop");
  g_assert_cmpstr (((MeshStoreDevice *) devices->pdata[1])->name, ==, "Büro-PC");

  /* Fingerprints are lower-case hex SHA-256 without colons. */
  g_assert_false (mesh_store_add_device (fixture->store, alice, "x", "AA:BB", &id, NULL, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, "fingerprint"));
  g_clear_error (&error);
  g_assert_false (mesh_store_add_device (fixture->store, alice, "", FINGERPRINT_A, &id, NULL,
                                         &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, "name"));
  g_clear_error (&error);
  g_assert_false (mesh_store_add_device (fixture->store, alice, "tab\there", FINGERPRINT_A, &id,
                                         NULL, &error));
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  g_assert_false (mesh_store_add_device (fixture->store, "no-such-user", "pc", FINGERPRINT_A, &id,
                                         NULL, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND);
  g_assert_null (id);
}

/* What a commit acknowledges survives a power loss: WAL with FULL sync
 * (NORMAL only syncs the WAL at checkpoints). */
static void
test_durability (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autofree char *mode = sql_query (fixture, "PRAGMA journal_mode");

  g_assert_cmpstr (mode, ==, "wal");
  g_assert_cmpint (mesh_store_get_synchronous (fixture->store), ==, 2);
  reopen (fixture);
  g_assert_cmpint (mesh_store_get_synchronous (fixture->store), ==, 2);
}

/* Revoking: own devices only, the token stops working at once.  Expiry: a
 * token unused for the idle TTL stops working; using it extends it. */
static void
test_device_revoke_expiry (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *alice = add_user (fixture, "alice");
  g_autofree char *bob = add_user (fixture, "bob");
  g_autofree char *laptop = NULL;
  g_autofree char *laptop_token = NULL;
  g_autofree char *desk = NULL;
  g_autofree char *desk_token = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *sql = NULL;
  g_autoptr(GPtrArray) devices = NULL;

  g_assert_true (mesh_store_add_device (fixture->store, alice, "laptop", FINGERPRINT_A,
                                        &laptop, &laptop_token, &error));
  g_assert_true (mesh_store_add_device (fixture->store, alice, "desk", FINGERPRINT_B,
                                        &desk, &desk_token, &error));
  g_assert_no_error (error);

  g_assert_false (mesh_store_delete_device (fixture->store, bob, laptop, &error));
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);
  user_id = mesh_store_authenticate (fixture->store, laptop_token, &device_id, &error);
  g_assert_cmpstr (user_id, ==, alice);
  g_assert_cmpstr (device_id, ==, laptop);
  g_clear_pointer (&user_id, g_free);
  g_clear_pointer (&device_id, g_free);

  g_assert_true (mesh_store_delete_device (fixture->store, alice, laptop, &error));
  g_assert_no_error (error);
  g_assert_null (mesh_store_authenticate (fixture->store, laptop_token, NULL, &error));
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);
  g_assert_false (mesh_store_delete_device (fixture->store, alice, laptop, &error));
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);
  devices = mesh_store_list_devices (fixture->store, alice, &error);
  g_assert_cmpuint (devices->len, ==, 1);

  /* 80 days unused: still good, and this use starts the 90 days again. */
  sql = g_strdup_printf ("UPDATE devices SET last_used_usec = last_used_usec - %" G_GINT64_FORMAT,
                         (gint64) 80 * 86400 * G_USEC_PER_SEC);
  g_free (sql_query (fixture, sql));
  user_id = mesh_store_authenticate (fixture->store, desk_token, NULL, &error);
  g_assert_cmpstr (user_id, ==, alice);
  g_clear_pointer (&user_id, g_free);
  g_free (sql_query (fixture, sql));
  user_id = mesh_store_authenticate (fixture->store, desk_token, NULL, &error);
  g_assert_cmpstr (user_id, ==, alice);
  g_clear_pointer (&user_id, g_free);

  /* Then more than 90 days without use: expired. */
  g_free (sql);
  sql = g_strdup_printf ("UPDATE devices SET last_used_usec = last_used_usec - %" G_GINT64_FORMAT,
                         (gint64) 91 * 86400 * G_USEC_PER_SEC);
  g_free (sql_query (fixture, sql));
  g_assert_null (mesh_store_authenticate (fixture->store, desk_token, NULL, &error));
  assert_mesh_error (error, MESH_ERROR_UNAUTHORIZED);

  /* Registering the device again gives a fresh token. */
  g_clear_pointer (&desk_token, g_free);
  g_assert_true (mesh_store_add_device (fixture->store, alice, "desk", FINGERPRINT_B,
                                        NULL, &desk_token, &error));
  user_id = mesh_store_authenticate (fixture->store, desk_token, NULL, &error);
  g_assert_cmpstr (user_id, ==, alice);
}

static void
test_rooms (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *alice = add_user (fixture, "alice");
  g_autofree char *bob = add_user (fixture, "bob");
  g_autofree char *room = NULL;
  g_autofree char *second = NULL;
  g_autofree char *role = NULL;
  g_autofree char *name = NULL;
  g_autofree char *json = NULL;
  g_autofree char *code = NULL;
  g_autofree char *joined = NULL;
  g_autoptr(GPtrArray) members = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(JsonArray) rooms = NULL;
  JsonObject *first;
  JsonArray *first_members;
  char *none;

  room = mesh_store_create_room (fixture->store, alice, "Family", &error);
  g_assert_no_error (error);
  g_assert_true (mesh_id_is_valid (room));
  second = mesh_store_create_room (fixture->store, alice, "Work ☕", &error);
  g_assert_no_error (error);

  g_assert_true (mesh_store_room_exists (fixture->store, room));
  g_assert_false (mesh_store_room_exists (fixture->store, "nope"));
  name = mesh_store_get_room_name (fixture->store, room);
  g_assert_cmpstr (name, ==, "Family");
  role = mesh_store_get_member_role (fixture->store, room, alice);
  g_assert_cmpstr (role, ==, "owner");
  g_assert_null (mesh_store_get_member_role (fixture->store, room, bob));

  code = mesh_store_create_invite (fixture->store, room, alice, NULL, &error);
  g_assert_no_error (error);
  joined = mesh_store_accept_invite (fixture->store, code, bob, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (joined, ==, room);

  members = mesh_store_list_members (fixture->store, room, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (members->len, ==, 2);
  g_assert_cmpstr (((MeshStoreMember *) members->pdata[0])->user_id, ==, alice);
  g_assert_cmpstr (((MeshStoreMember *) members->pdata[0])->role, ==, "owner");
  g_assert_cmpstr (((MeshStoreMember *) members->pdata[1])->username, ==, "bob");
  g_assert_cmpstr (((MeshStoreMember *) members->pdata[1])->role, ==, "member");
  g_assert_null (mesh_store_list_members (fixture->store, "nope", &error));
  assert_mesh_error (error, MESH_ERROR_ROOM_NOT_FOUND);

  rooms = mesh_store_list_rooms_json (fixture->store, alice, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (rooms), ==, 2);
  first = json_array_get_object_element (rooms, 0);
  g_assert_cmpstr (json_object_get_string_member (first, "room_id"), ==, room);
  g_assert_cmpstr (json_object_get_string_member (first, "name"), ==, "Family");
  first_members = json_object_get_array_member (first, "members");
  g_assert_cmpuint (json_array_get_length (first_members), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (first_members, 1),
                                                  "username"), ==, "bob");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (rooms, 1), "name"),
                   ==, "Work ☕");
  g_clear_pointer (&rooms, json_array_unref);

  /* Bob sees only the room he joined. */
  rooms = mesh_store_list_rooms_json (fixture->store, bob, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (rooms), ==, 1);
  ids = mesh_store_list_room_ids (fixture->store, bob, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 1);
  g_assert_cmpstr (ids->pdata[0], ==, room);

  none = mesh_store_create_room (fixture->store, alice, "", &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_null (none);
  g_clear_error (&error);
  none = mesh_store_create_room (fixture->store, alice, "   ", &error);
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  json = g_strnfill (101, 'x');
  none = mesh_store_create_room (fixture->store, alice, json, &error);
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  none = mesh_store_create_room (fixture->store, "no-such-user", "Room", &error);
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);
}

static void
test_invites (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  char *users[5] = { NULL, };
  g_autofree char *room = NULL;
  g_autofree char *code = NULL;
  g_autofree char *lower = NULL;
  g_autofree char *expired = NULL;
  g_autofree char *update = NULL;
  g_autoptr(GPtrArray) members = NULL;
  gint64 expires_in = 0;
  char *joined;

  for (guint i = 0; i < G_N_ELEMENTS (users); i++) {
    g_autofree char *name = g_strdup_printf ("user%u", i);

    users[i] = add_user (fixture, name);
  }
  room = mesh_store_create_room (fixture->store, users[0], "Four at most", &error);
  g_assert_no_error (error);

  code = mesh_store_create_invite (fixture->store, room, users[0], &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (code), ==, 12);
  g_assert_cmpint (expires_in, ==, MESH_STORE_INVITE_TTL);
  for (const char *p = code; *p != '\0'; p++)
    g_assert_nonnull (strchr ("23456789ABCDEFGHJKLMNPQRSTUVWXYZ", *p));

  /* Only members invite. */
  g_assert_null (mesh_store_create_invite (fixture->store, room, users[1], NULL, &error));
  assert_mesh_error (error, MESH_ERROR_FORBIDDEN);
  g_assert_null (mesh_store_create_invite (fixture->store, "nope", users[0], NULL, &error));
  assert_mesh_error (error, MESH_ERROR_ROOM_NOT_FOUND);

  /* One code serves several people, and accepting twice is harmless. */
  joined = mesh_store_accept_invite (fixture->store, code, users[1], &error);
  g_assert_no_error (error);
  g_assert_cmpstr (joined, ==, room);
  g_free (joined);
  joined = mesh_store_accept_invite (fixture->store, code, users[1], &error);
  g_assert_no_error (error);
  g_assert_cmpstr (joined, ==, room);
  g_free (joined);
  lower = g_ascii_strdown (code, -1);
  joined = mesh_store_accept_invite (fixture->store, lower, users[2], &error);
  g_assert_no_error (error);
  g_free (joined);
  /* The owner accepting keeps being the owner. */
  joined = mesh_store_accept_invite (fixture->store, code, users[0], &error);
  g_assert_no_error (error);
  g_free (joined);
  joined = mesh_store_accept_invite (fixture->store, code, users[3], &error);
  g_assert_no_error (error);
  g_free (joined);

  /* A fifth user does not fit; members already in still "accept". */
  joined = mesh_store_accept_invite (fixture->store, code, users[4], &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_ROOM_FULL);
  g_assert_null (joined);
  g_clear_error (&error);
  joined = mesh_store_accept_invite (fixture->store, code, users[3], &error);
  g_assert_no_error (error);
  g_free (joined);

  members = mesh_store_list_members (fixture->store, room, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (members->len, ==, MESH_STORE_ROOM_MAX_USERS);
  g_assert_cmpstr (((MeshStoreMember *) members->pdata[0])->role, ==, "owner");

  joined = mesh_store_accept_invite (fixture->store, "ZZZZZZZZZZZZ", users[4], &error);
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);
  joined = mesh_store_accept_invite (fixture->store, "", users[4], &error);
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);
  joined = mesh_store_accept_invite (fixture->store, "' OR 1=1 --", users[4], &error);
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);

  /* An expired code is unknown. */
  {
    g_autofree char *small = NULL;
    g_autofree char *room2 = mesh_store_create_room (fixture->store, users[4], "Other", &error);

    g_assert_no_error (error);
    expired = mesh_store_create_invite (fixture->store, room2, users[4], NULL, &error);
    g_assert_no_error (error);
    update = g_strdup_printf ("UPDATE invites SET expires_usec = %" G_GINT64_FORMAT
                              " WHERE code = '%s'", g_get_real_time () - 1, expired);
    g_free (sql_query (fixture, update));
    joined = mesh_store_accept_invite (fixture->store, expired, users[0], &error);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND);
    g_assert_null (joined);
    g_clear_error (&error);
    small = mesh_store_get_member_role (fixture->store, room2, users[0]);
    g_assert_null (small);
  }

  for (guint i = 0; i < G_N_ELEMENTS (users); i++)
    g_free (users[i]);
}

static MeshStoreMessage *
post (Fixture    *fixture,
      const char *room,
      const char *user,
      const char *content,
      const char *client_msg_id,
      gboolean   *duplicate)
{
  g_autoptr(GError) error = NULL;
  MeshStoreMessage *message = mesh_store_add_message (fixture->store, room, user, "peer-1", content,
                                                      client_msg_id, duplicate, &error);

  g_assert_no_error (error);
  g_assert_nonnull (message);
  return message;
}

/* Lists up to @limit messages of @room before @before_id (NULL: the
 * newest): @n of them, the first and last with these contents (NULL: not
 * checked). */
static void
assert_page (Fixture    *fixture,
             const char *room,
             const char *before_id,
             guint       limit,
             guint       n,
             const char *first,
             const char *last)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = mesh_store_list_messages (fixture->store, room, before_id, limit,
                                                        &error);

  g_assert_no_error (error);
  g_assert_cmpuint (page->len, ==, n);
  if (first != NULL)
    g_assert_cmpstr (((MeshStoreMessage *) page->pdata[0])->content, ==, first);
  if (last != NULL)
    g_assert_cmpstr (((MeshStoreMessage *) page->pdata[n - 1])->content, ==, last);
}

static void
test_messages (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *alice = add_user (fixture, "alice");
  g_autofree char *bob = add_user (fixture, "bob");
  g_autofree char *room = mesh_store_create_room (fixture->store, alice, "Chat", NULL);
  g_autofree char *other = mesh_store_create_room (fixture->store, alice, "Other", NULL);
  g_autofree char *first_id = NULL;
  g_autofree char *fifth_id = NULL;
  g_autofree char *big = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(MeshStoreMessage) once = NULL;
  g_autoptr(MeshStoreMessage) twice = NULL;
  g_autoptr(JsonObject) json = NULL;
  gboolean duplicate = TRUE;
  MeshStoreMessage *none;

  for (guint i = 0; i < 10; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i);
    g_autoptr(MeshStoreMessage) message = post (fixture, room, alice, text, NULL, &duplicate);

    g_assert_false (duplicate);
    g_assert_true (mesh_id_is_valid (message->message_id));
    g_assert_cmpstr (message->username, ==, "alice");
    g_assert_cmpstr (message->sender_id, ==, "peer-1");
    g_assert_null (message->client_msg_id);
    if (i == 0)
      first_id = g_strdup (message->message_id);
    if (i == 5)
      fifth_id = g_strdup (message->message_id);
  }
  g_autoptr(MeshStoreMessage) elsewhere = post (fixture, other, alice, "elsewhere", NULL, NULL);

  /* The newest, newest last. */
  assert_page (fixture, room, NULL, 3, 3, "message 7", "message 9");
  /* Paging back from message 5. */
  assert_page (fixture, room, fifth_id, 4, 4, "message 1", "message 4");
  assert_page (fixture, room, fifth_id, 200, 5, NULL, NULL);
  assert_page (fixture, room, first_id, 10, 0, NULL, NULL);

  g_assert_null (mesh_store_list_messages (fixture->store, room, NULL, 0, &error));
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  g_assert_null (mesh_store_list_messages (fixture->store, room, NULL, 201, &error));
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  g_assert_null (mesh_store_list_messages (fixture->store, "nope", NULL, 10, &error));
  assert_mesh_error (error, MESH_ERROR_ROOM_NOT_FOUND);
  /* A message of another room is no paging anchor here. */
  g_assert_null (mesh_store_list_messages (fixture->store, room, elsewhere->message_id, 10,
                                           &error));
  assert_mesh_error (error, MESH_ERROR_NOT_FOUND);

  /* A retried client_msg_id gives back the first message. */
  once = post (fixture, room, alice, "retry me", "c-1", &duplicate);
  g_assert_false (duplicate);
  twice = post (fixture, room, alice, "retry me (again)", "c-1", &duplicate);
  g_assert_true (duplicate);
  g_assert_cmpstr (twice->message_id, ==, once->message_id);
  g_assert_cmpstr (twice->content, ==, "retry me");
  g_assert_cmpstr (twice->client_msg_id, ==, "c-1");
  assert_page (fixture, room, NULL, 200, 11, NULL, NULL);

  none = mesh_store_add_message (fixture->store, other, alice, "p", "x", "c-1", NULL, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_CONFLICT);
  g_assert_null (none);
  g_clear_error (&error);

  /* Bob is not in the room yet; once in, his ids are his own. */
  none = mesh_store_add_message (fixture->store, room, bob, "p", "hi", NULL, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_FORBIDDEN);
  {
    g_autofree char *code = mesh_store_create_invite (fixture->store, room, alice, NULL, NULL);
    g_autofree char *joined = mesh_store_accept_invite (fixture->store, code, bob, &error);
    g_autoptr(MeshStoreMessage) bobs = post (fixture, room, bob, "mine", "c-1", &duplicate);

    g_assert_no_error (error);
    g_assert_false (duplicate);
    g_assert_cmpstr (bobs->message_id, !=, once->message_id);
  }

  none = mesh_store_add_message (fixture->store, "nope", alice, "p", "hi", NULL, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_ROOM_NOT_FOUND);
  none = mesh_store_add_message (fixture->store, room, alice, "p", "", NULL, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  none = mesh_store_add_message (fixture->store, room, alice, "p", "\xff\xfe", NULL, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_BAD_REQUEST);
  big = g_strnfill (16385, 'x');
  none = mesh_store_add_message (fixture->store, room, alice, "p", big, NULL, NULL, &error);
  assert_mesh_error (error, MESH_ERROR_PAYLOAD_TOO_LARGE);
  big[16384] = '\0';
  g_clear_pointer (&once, mesh_store_message_free);
  once = post (fixture, room, alice, big, NULL, NULL);

  /* The JSON view. */
  json = mesh_store_message_to_json (twice);
  g_assert_cmpstr (json_object_get_string_member (json, "message_id"), ==, twice->message_id);
  g_assert_cmpstr (json_object_get_string_member (json, "room_id"), ==, room);
  g_assert_cmpstr (json_object_get_string_member (json, "from"), ==, "peer-1");
  g_assert_cmpstr (json_object_get_string_member (json, "user_id"), ==, alice);
  g_assert_cmpstr (json_object_get_string_member (json, "username"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (json, "client_msg_id"), ==, "c-1");
  g_assert_true (mesh_timestamp_is_valid (json_object_get_string_member (json, "timestamp")));
  g_clear_pointer (&json, json_object_unref);
  json = mesh_store_message_to_json (elsewhere);
  g_assert_false (json_object_has_member (json, "client_msg_id"));

  /* Everything is still there after a restart, in order, and ids keep
   * deduplicating. */
  reopen (fixture);
  page = mesh_store_list_messages (fixture->store, room, NULL, 200, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->len, ==, 13);
  g_assert_cmpstr (((MeshStoreMessage *) page->pdata[0])->message_id, ==, first_id);
  g_assert_cmpstr (((MeshStoreMessage *) page->pdata[10])->content, ==, "retry me");
  g_assert_cmpstr (((MeshStoreMessage *) page->pdata[11])->username, ==, "bob");
  g_assert_cmpuint (strlen (((MeshStoreMessage *) page->pdata[12])->content), ==, 16384);
  {
    g_autoptr(MeshStoreMessage) thrice = post (fixture, room, alice, "again", "c-1", &duplicate);

    g_assert_true (duplicate);
    g_assert_cmpstr (thrice->message_id, ==, twice->message_id);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/mesh/store/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  g_test_add_func ("/mesh/store/password-format", test_password_format);
  ADD ("durability", test_durability);
  ADD ("device-revoke-expiry", test_device_revoke_expiry);
  ADD ("schema", test_schema);
  ADD ("closed", test_closed);
  ADD ("users", test_users);
  ADD ("password-upgrade", test_password_upgrade);
  ADD ("users-async", test_users_async);
  ADD ("tokens", test_tokens);
  ADD ("devices", test_devices);
  ADD ("rooms", test_rooms);
  ADD ("invites", test_invites);
  ADD ("messages", test_messages);

#undef ADD

  return g_test_run ();
}
