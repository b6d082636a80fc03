/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-password"

#include "config.h"

#include "mesh-error.h"
#include "mesh-password.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#define SCHEME "pbkdf2-sha256"

/* Bounds for rounds read back from the database: a corrupted or hostile row
 * must not make one login spin for minutes. */
#define MIN_ROUNDS 1000
#define MAX_ROUNDS 100000000

static gboolean
derive (const char   *password,
        const guint8 *salt,
        gsize         salt_len,
        guint         rounds,
        guint8        out[MESH_PASSWORD_HASH_LEN])
{
  gnutls_datum_t key = { (unsigned char *) password, (unsigned int) strlen (password) };
  gnutls_datum_t salt_datum = { (unsigned char *) salt, (unsigned int) salt_len };

  return gnutls_pbkdf2 (GNUTLS_MAC_SHA256, &key, &salt_datum, rounds,
                        out, MESH_PASSWORD_HASH_LEN) == 0;
}

char *
mesh_password_hash (const char  *password,
                    GError     **error)
{
  guint8 salt[MESH_PASSWORD_SALT_LEN];
  guint8 hash[MESH_PASSWORD_HASH_LEN];
  g_autofree char *salt_b64 = NULL;
  g_autofree char *hash_b64 = NULL;

  g_return_val_if_fail (password != NULL, NULL);

  if (gnutls_rnd (GNUTLS_RND_RANDOM, salt, sizeof salt) != 0 ||
      !derive (password, salt, sizeof salt, MESH_PASSWORD_ROUNDS, hash)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_INTERNAL, "password hashing failed");
    return NULL;
  }
  salt_b64 = g_base64_encode (salt, sizeof salt);
  hash_b64 = g_base64_encode (hash, sizeof hash);
  gnutls_memset (hash, 0, sizeof hash);
  return g_strdup_printf (SCHEME "$%u$%s$%s", (guint) MESH_PASSWORD_ROUNDS, salt_b64, hash_b64);
}

static gboolean
is_base64 (const char *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++) {
    if (!g_ascii_isalnum (*s) && *s != '+' && *s != '/' && *s != '=')
      return FALSE;
  }
  return TRUE;
}

gboolean
mesh_password_verify (const char *password,
                      const char *encoded,
                      gboolean   *needs_rehash)
{
  g_auto(GStrv) parts = NULL;
  g_autofree guint8 *salt = NULL;
  g_autofree guint8 *expected = NULL;
  guint8 hash[MESH_PASSWORD_HASH_LEN];
  gsize salt_len = 0, expected_len = 0;
  guint64 rounds;
  char *end = NULL;
  gboolean ok;

  g_return_val_if_fail (password != NULL, FALSE);

  if (needs_rehash != NULL)
    *needs_rehash = FALSE;
  if (encoded == NULL)
    return FALSE;

  parts = g_strsplit (encoded, "$", 0);
  if (g_strv_length (parts) != 4 || !g_str_equal (parts[0], SCHEME) ||
      !is_base64 (parts[2]) || !is_base64 (parts[3]))
    return FALSE;
  if (!g_ascii_isdigit (parts[1][0]))
    return FALSE;
  rounds = g_ascii_strtoull (parts[1], &end, 10);
  if (*end != '\0' || rounds < MIN_ROUNDS || rounds > MAX_ROUNDS)
    return FALSE;

  salt = g_base64_decode (parts[2], &salt_len);
  expected = g_base64_decode (parts[3], &expected_len);
  if (salt_len < 8 || expected_len != MESH_PASSWORD_HASH_LEN)
    return FALSE;

  if (!derive (password, salt, salt_len, (guint) rounds, hash))
    return FALSE;
  ok = gnutls_memcmp (hash, expected, MESH_PASSWORD_HASH_LEN) == 0;
  gnutls_memset (hash, 0, sizeof hash);

  if (ok && needs_rehash != NULL)
    *needs_rehash = rounds < MESH_PASSWORD_ROUNDS || salt_len < MESH_PASSWORD_SALT_LEN;
  return ok;
}

void
mesh_password_verify_dummy (const char *password)
{
  static const guint8 salt[MESH_PASSWORD_SALT_LEN] = { 0 };
  static const guint8 expected[MESH_PASSWORD_HASH_LEN] = { 0 };
  guint8 hash[MESH_PASSWORD_HASH_LEN];

  g_return_if_fail (password != NULL);

  /* Same derivation and comparison as a real check; the result is unused. */
  if (derive (password, salt, sizeof salt, MESH_PASSWORD_ROUNDS, hash))
    (void) gnutls_memcmp (hash, expected, sizeof hash);
  gnutls_memset (hash, 0, sizeof hash);
}
