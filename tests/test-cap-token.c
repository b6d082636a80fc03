/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-cap-token"

#include "config.h"

#include "mesh-cap-token.h"
#include "mesh-error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jwt.h>

/* A fixed clock keeps every test independent of the real time. */
#define NOW ((gint64) 1700000000)

typedef struct {
  char       *dir;
  char       *key_path;
  MeshCapKey *key;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("mesh-cap-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->key_path = g_build_filename (fixture->dir, "cap-key.pem", NULL);
  fixture->key = mesh_cap_key_load_or_create (fixture->key_path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->key);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GDir) dir = g_dir_open (fixture->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (fixture->dir, name, NULL);

    g_unlink (path);
  }
  g_rmdir (fixture->dir);
  g_clear_object (&fixture->key);
  g_free (fixture->key_path);
  g_free (fixture->dir);
}

static MeshCapClaims *
make_claims (void)
{
  MeshCapClaims *claims = mesh_cap_claims_new ();
  const char *caps[] = { MESH_CAP_CALL, MESH_CAP_FILE, NULL };

  claims->sub = g_strdup ("user-1");
  claims->room_id = g_strdup ("room-1");
  claims->caps = g_strdupv ((GStrv) caps);
  claims->iat = NOW;
  claims->exp = NOW + MESH_CAP_DEFAULT_TTL;
  claims->jti = g_strdup ("jti-1");
  return claims;
}

static char *
sign_claims (MeshCapKey          *key,
             const MeshCapClaims *claims)
{
  g_autoptr(GError) error = NULL;
  char *token = mesh_cap_key_sign (key, claims, &error);

  g_assert_no_error (error);
  g_assert_nonnull (token);
  return token;
}

static char *
b64url (const void *data,
        gsize       len)
{
  g_autofree char *text = g_base64_encode (data, len);
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0' && *p != '='; p++)
    g_string_append_c (out, *p == '+' ? '-' : *p == '/' ? '_' : *p);
  return g_string_free (out, FALSE);
}

static char *
b64url_str (const char *text)
{
  return b64url (text, strlen (text));
}

static guint8 *
unb64url (const char *text,
          gsize       len,
          gsize      *out_len)
{
  GString *std = g_string_new (NULL);
  g_autofree char *padded = NULL;

  for (gsize i = 0; i < len; i++)
    g_string_append_c (std, text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i]);
  while (std->len % 4 != 0)
    g_string_append_c (std, '=');
  padded = g_string_free (std, FALSE);
  return g_base64_decode (padded, out_len);
}

/* Left-pads (or strips the sign byte of) a DER integer to 32 bytes. */
static void
put_scalar (guint8               *out,
            const gnutls_datum_t *value)
{
  gsize skip = value->size > 32 ? value->size - 32 : 0;

  memset (out, 0, 32);
  memcpy (out + 32 - (value->size - skip), value->data + skip, value->size - skip);
}

/* An ES256 signer written straight on GnuTLS, independent of the code under
 * test, so tests can sign any header and payload with the server's key. */
static char *
sign_es256 (const char *key_path,
            const char *header_json,
            const char *payload_json)
{
  g_autofree char *pem = NULL;
  g_autofree char *header = b64url_str (header_json);
  g_autofree char *payload = b64url_str (payload_json);
  g_autofree char *input = g_strdup_printf ("%s.%s", header, payload);
  g_autofree char *sig_b64 = NULL;
  gnutls_x509_privkey_t x509;
  gnutls_privkey_t key;
  gnutls_datum_t pem_datum, data, sig, r, s;
  guint8 rs[64];
  gsize pem_len;

  g_assert_true (g_file_get_contents (key_path, &pem, &pem_len, NULL));
  pem_datum.data = (unsigned char *) pem;
  pem_datum.size = pem_len;
  data.data = (unsigned char *) input;
  data.size = strlen (input);

  g_assert_cmpint (gnutls_x509_privkey_init (&x509), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_import (x509, &pem_datum, GNUTLS_X509_FMT_PEM), ==, 0);
  g_assert_cmpint (gnutls_privkey_init (&key), ==, 0);
  g_assert_cmpint (gnutls_privkey_import_x509 (key, x509, 0), ==, 0);
  g_assert_cmpint (gnutls_privkey_sign_data (key, GNUTLS_DIG_SHA256, 0, &data, &sig), ==, 0);
  g_assert_cmpint (gnutls_decode_rs_value (&sig, &r, &s), ==, 0);
  put_scalar (rs, &r);
  put_scalar (rs + 32, &s);
  sig_b64 = b64url (rs, sizeof rs);

  gnutls_free (r.data);
  gnutls_free (s.data);
  gnutls_free (sig.data);
  gnutls_privkey_deinit (key);
  gnutls_x509_privkey_deinit (x509);
  return g_strdup_printf ("%s.%s", input, sig_b64);
}

#define ES256_HEADER "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

static char *
sign_payload (Fixture    *fixture,
              const char *payload_json)
{
  return sign_es256 (fixture->key_path, ES256_HEADER, payload_json);
}

static void
assert_refused (MeshCapKey    *key,
                const char    *token,
                MeshErrorCode  code,
                const char    *in_message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCapClaims) claims = mesh_cap_key_verify (key, token, NOW, &error);

  g_assert_null (claims);
  g_assert_error (error, MESH_ERROR, (int) code);
  if (in_message != NULL && strstr (error->message, in_message) == NULL)
    g_error ("expected '%s' in the error message, got: %s", in_message, error->message);
}

static void
assert_claims_equal (const MeshCapClaims *a,
                     const MeshCapClaims *b)
{
  g_assert_cmpstr (a->sub, ==, b->sub);
  g_assert_cmpstr (a->room_id, ==, b->room_id);
  g_assert_true (g_strv_equal ((const char * const *) a->caps, (const char * const *) b->caps));
  g_assert_cmpint (a->iat, ==, b->iat);
  g_assert_cmpint (a->exp, ==, b->exp);
  g_assert_cmpstr (a->jti, ==, b->jti);
  g_assert_cmpstr (a->target_peer_id, ==, b->target_peer_id);
  g_assert_cmpstr (a->target_device_id, ==, b->target_device_id);
  g_assert_cmpint (a->max_size, ==, b->max_size);
  g_assert_cmpint (a->max_rate, ==, b->max_rate);
}

static void
test_round_trip (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(MeshCapClaims) plain = make_claims ();
  g_autoptr(MeshCapClaims) full = make_claims ();
  g_autoptr(GError) error = NULL;

  full->target_peer_id = g_strdup ("peer-2");
  full->target_device_id = g_strdup ("device-2");
  full->max_size = 1 << 30;
  full->max_rate = 0;

  for (guint i = 0; i < 2; i++) {
    const MeshCapClaims *claims = i == 0 ? plain : full;
    g_autofree char *token = sign_claims (fixture->key, claims);
    g_autoptr(MeshCapClaims) verified = NULL;
    g_auto(GStrv) parts = g_strsplit (token, ".", -1);
    g_autofree guint8 *header = NULL;
    gsize header_len;

    g_assert_cmpuint (g_strv_length (parts), ==, 3);
    header = unb64url (parts[0], strlen (parts[0]), &header_len);
    g_assert_nonnull (g_strstr_len ((const char *) header, header_len, "\"ES256\""));

    verified = mesh_cap_key_verify (fixture->key, token, NOW + 1, &error);
    g_assert_no_error (error);
    assert_claims_equal (verified, claims);
  }

  g_assert_true (mesh_cap_claims_has_cap (plain, MESH_CAP_CALL));
  g_assert_false (mesh_cap_claims_has_cap (plain, MESH_CAP_TERMINAL_CONTROL));
  g_assert_true (mesh_cap_is_known (MESH_CAP_TERMINAL_CONTROL));
  g_assert_false (mesh_cap_is_known ("terminal"));
  g_assert_false (mesh_cap_is_known (NULL));
}

/* Tokens must be plain RFC 7518 ES256 (a 64-byte r || s signature) so any
 * JWT library holding the public key can check them, and we must accept
 * such tokens from another signer. */
static void
test_standard_signature (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autofree char *token = sign_claims (fixture->key, claims);
  g_autofree guint8 *sig = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCapClaims) verified = NULL;
  g_autofree char *other = NULL;
  const char *pem = mesh_cap_key_get_public_pem (fixture->key);
  const char *dot = strrchr (token, '.');
  gnutls_datum_t pem_datum = { (unsigned char *) pem, strlen (pem) };
  gnutls_datum_t input = { (unsigned char *) token, dot - token };
  gnutls_datum_t r, s, der;
  gnutls_pubkey_t pubkey;
  gsize sig_len;

  sig = unb64url (dot + 1, strlen (dot + 1), &sig_len);
  g_assert_cmpuint (sig_len, ==, 64);

  r.data = sig;
  r.size = 32;
  s.data = sig + 32;
  s.size = 32;
  g_assert_cmpint (gnutls_encode_rs_value (&der, &r, &s), ==, 0);
  g_assert_cmpint (gnutls_pubkey_init (&pubkey), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import (pubkey, &pem_datum, GNUTLS_X509_FMT_PEM), ==, 0);
  g_assert_cmpint (gnutls_pubkey_verify_data2 (pubkey, GNUTLS_SIGN_ECDSA_SHA256, 0, &input, &der),
                   >=, 0);
  gnutls_free (der.data);
  gnutls_pubkey_deinit (pubkey);

  other = sign_payload (fixture, "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"folder\"],"
                                 "\"iat\":1700000000,\"exp\":1700000100,\"jti\":\"j\"}");
  verified = mesh_cap_key_verify (fixture->key, other, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (verified->room_id, ==, "r");
  g_assert_cmpstr (verified->caps[0], ==, MESH_CAP_FOLDER);
  g_assert_null (verified->caps[1]);
  g_assert_cmpint (verified->max_size, ==, -1);
}

static void
test_key_file (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(MeshCapKey) reloaded = NULL;
  g_autoptr(MeshCapKey) verifier = NULL;
  g_autoptr(MeshCapKey) bad = NULL;
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autoptr(MeshCapClaims) verified = NULL;
  g_autofree char *token = NULL;
  g_autofree char *garbage_path = g_build_filename (fixture->dir, "garbage.pem", NULL);
  g_autofree char *missing_dir = g_build_filename (fixture->dir, "no-such-dir", "key.pem", NULL);
  g_autoptr(GError) error = NULL;
  const char *pem = mesh_cap_key_get_public_pem (fixture->key);
  GStatBuf st;

  g_assert_cmpint (g_stat (fixture->key_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (mesh_cap_key_can_sign (fixture->key));
  g_assert_true (g_str_has_prefix (pem, "-----BEGIN PUBLIC KEY-----"));

  reloaded = mesh_cap_key_load_or_create (fixture->key_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mesh_cap_key_get_public_pem (reloaded), ==, pem);

  /* A token signed before the reload still verifies after it. */
  token = sign_claims (fixture->key, claims);
  verified = mesh_cap_key_verify (reloaded, token, NOW, &error);
  g_assert_no_error (error);
  g_clear_pointer (&verified, mesh_cap_claims_free);

  verifier = mesh_cap_key_new_public (pem, &error);
  g_assert_no_error (error);
  g_assert_false (mesh_cap_key_can_sign (verifier));
  g_assert_cmpstr (mesh_cap_key_get_public_pem (verifier), ==, pem);
  verified = mesh_cap_key_verify (verifier, token, NOW, &error);
  g_assert_no_error (error);
  assert_claims_equal (verified, claims);

  bad = mesh_cap_key_new_public ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                 &error);
  g_assert_null (bad);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_INTERNAL);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (garbage_path, "not a key\n", -1, NULL));
  bad = mesh_cap_key_load_or_create (garbage_path, &error);
  g_assert_null (bad);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_INTERNAL);
  g_clear_error (&error);

  bad = mesh_cap_key_load_or_create (missing_dir, &error);
  g_assert_null (bad);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_INTERNAL);
}

/* Only P-256 keys make ES256 tokens. */
static void
test_key_wrong_curve (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "p384.pem", NULL);
  g_autoptr(MeshCapKey) key = NULL;
  g_autoptr(GError) error = NULL;
  gnutls_x509_privkey_t x509;
  gnutls_datum_t pem;

  g_assert_cmpint (gnutls_x509_privkey_init (&x509), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_generate (x509, GNUTLS_PK_ECDSA,
                                                 GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP384R1),
                                                 0), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_export2 (x509, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
  g_assert_true (g_file_set_contents (path, (const char *) pem.data, pem.size, NULL));
  gnutls_free (pem.data);
  gnutls_x509_privkey_deinit (x509);

  key = mesh_cap_key_load_or_create (path, &error);
  g_assert_null (key);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_INTERNAL);
  g_assert_nonnull (strstr (error->message, "P-256"));
}

#define PAYLOAD_OK \
  "{\"sub\":\"user-1\",\"room_id\":\"room-1\",\"caps\":[\"call\"]," \
  "\"iat\":1700000000,\"exp\":1700000120,\"jti\":\"j\"}"

static void
test_alg_none (Fixture       *fixture,
               gconstpointer  data)
{
  g_autofree char *header = b64url_str ("{\"alg\":\"none\",\"typ\":\"JWT\"}");
  g_autofree char *payload = b64url_str (PAYLOAD_OK);
  g_autofree char *unsigned_token = g_strdup_printf ("%s.%s.", header, payload);
  g_autofree char *valid = sign_payload (fixture, PAYLOAD_OK);
  g_autofree char *borrowed = NULL;

  assert_refused (fixture->key, unsigned_token, MESH_ERROR_CAP_INVALID, NULL);
  /* A "none" header in front of a real signature is refused too. */
  borrowed = g_strdup_printf ("%s.%s%s", header, payload, strrchr (valid, '.'));
  assert_refused (fixture->key, borrowed, MESH_ERROR_CAP_INVALID, "none");
}

static void
test_alg_confusion (Fixture       *fixture,
                    gconstpointer  data)
{
  const char *pem = mesh_cap_key_get_public_pem (fixture->key);
  jwt_t *jwt = NULL;
  jwt_t *decoded = NULL;
  char *token;

  g_assert_cmpint (jwt_new (&jwt), ==, 0);
  g_assert_cmpint (jwt_add_grants_json (jwt, PAYLOAD_OK), ==, 0);
  g_assert_cmpint (jwt_set_alg (jwt, JWT_ALG_HS256, (const unsigned char *) pem,
                                strlen (pem)), ==, 0);
  token = jwt_encode_str (jwt);
  g_assert_nonnull (token);

  /* libjwt alone falls for it: the public key works as an HMAC secret. */
  g_assert_cmpint (jwt_decode (&decoded, token, (const unsigned char *) pem, strlen (pem)), ==, 0);
  g_assert_cmpint (jwt_get_alg (decoded), ==, JWT_ALG_HS256);
  jwt_free (decoded);

  assert_refused (fixture->key, token, MESH_ERROR_CAP_INVALID, "HS256");
  free (token);
  jwt_free (jwt);
}

static void
test_alg_other (Fixture       *fixture,
                gconstpointer  data)
{
  g_autofree char *valid = sign_payload (fixture, PAYLOAD_OK);
  const char *sig = strrchr (valid, '.');
  const char *headers[] = {
    "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
    "{\"alg\":\"ES512\",\"typ\":\"JWT\"}",
    "{\"alg\":\"es256\",\"typ\":\"JWT\"}",
    "{\"alg\":256,\"typ\":\"JWT\"}",
    "{\"typ\":\"JWT\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (headers); i++) {
    g_autofree char *header = b64url_str (headers[i]);
    g_autofree char *payload = b64url_str (PAYLOAD_OK);
    g_autofree char *token = g_strdup_printf ("%s.%s%s", header, payload, sig);

    assert_refused (fixture->key, token, MESH_ERROR_CAP_INVALID, NULL);
  }
}

static void
test_other_key (Fixture       *fixture,
                gconstpointer  data)
{
  g_autofree char *other_path = g_build_filename (fixture->dir, "other-key.pem", NULL);
  g_autoptr(MeshCapKey) other = NULL;
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autoptr(MeshCapClaims) verified = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GError) error = NULL;

  other = mesh_cap_key_load_or_create (other_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mesh_cap_key_get_public_pem (other), !=,
                   mesh_cap_key_get_public_pem (fixture->key));

  token = sign_claims (other, claims);
  verified = mesh_cap_key_verify (other, token, NOW, &error);
  g_assert_no_error (error);
  assert_refused (fixture->key, token, MESH_ERROR_CAP_INVALID, "signature");
}

static void
test_expired (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autofree char *token = NULL;
  g_autofree char *at_exp = NULL;

  claims->iat = NOW - 200;
  claims->exp = NOW - 80;
  token = sign_claims (fixture->key, claims);
  assert_refused (fixture->key, token, MESH_ERROR_CAP_EXPIRED, NULL);

  /* `exp` is the first second the token is no longer valid. */
  claims->exp = NOW;
  at_exp = sign_claims (fixture->key, claims);
  assert_refused (fixture->key, at_exp, MESH_ERROR_CAP_EXPIRED, NULL);
}

/* Validly signed tokens whose claims are wrong. */
static void
test_bad_claims (Fixture       *fixture,
                 gconstpointer  data)
{
  const struct { const char *payload; const char *reason; } cases[] = {
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":\"1700000120\",\"jti\":\"j\"}", "exp" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,\"jti\":\"j\"}",
      "exp" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1.70000012e9,\"jti\":\"j\"}", "exp" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":null,\"jti\":\"j\"}", "exp" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"exp\":1700000120,\"jti\":\"j\"}",
      "iat" },
    /* Issued two minutes ahead of our clock. */
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000120,"
      "\"exp\":1700000240,\"jti\":\"j\"}", "future" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1700003600,\"jti\":\"j\"}", "lifetime" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000100,"
      "\"exp\":1700000050,\"jti\":\"j\"}", "iat" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"root\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\"}", "root" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":\"call\",\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\"}", "caps" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\",7],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\"}", "caps" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\"}", "caps" },
    { "{\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\"}", "sub" },
    { "{\"sub\":\"\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\"}", "sub" },
    { "{\"sub\":\"u\",\"room_id\":[\"r\"],\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\"}", "room_id" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1700000120}", "jti" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\",\"target_peer_id\":42}", "target_peer_id" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"call\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\",\"target_device_id\":\"\"}", "target_device_id" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"file\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\",\"max_size\":\"10\"}", "max_size" },
    { "{\"sub\":\"u\",\"room_id\":\"r\",\"caps\":[\"file\"],\"iat\":1700000000,"
      "\"exp\":1700000120,\"jti\":\"j\",\"max_rate\":-5}", "max_rate" },
    { "[\"sub\",\"room_id\"]", "object" },
    { "\"just a string\"", "object" },
    { "{\"sub\":", "object" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *token = sign_payload (fixture, cases[i].payload);

    g_test_message ("payload %s", cases[i].payload);
    assert_refused (fixture->key, token, MESH_ERROR_CAP_INVALID, cases[i].reason);
  }
}

static void
test_tampered (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autofree char *token = sign_claims (fixture->key, claims);
  g_auto(GStrv) parts = g_strsplit (token, ".", -1);
  g_autofree guint8 *payload = NULL;
  g_autofree char *json = NULL;
  g_auto(GStrv) halves = NULL;
  g_autofree char *forged_json = NULL;
  g_autofree char *forged_payload = NULL;
  g_autofree char *forged = NULL;
  g_autofree char *bad_sig = g_strdup (token);
  gsize len;

  payload = unb64url (parts[1], strlen (parts[1]), &len);
  json = g_strndup ((const char *) payload, len);
  g_assert_nonnull (strstr (json, "\"room_id\":\"room-1\""));
  halves = g_strsplit (json, "room-1", 2);
  forged_json = g_strjoinv ("room-2", halves);
  forged_payload = b64url_str (forged_json);
  forged = g_strdup_printf ("%s.%s.%s", parts[0], forged_payload, parts[2]);
  assert_refused (fixture->key, forged, MESH_ERROR_CAP_INVALID, "signature");

  /* One changed signature character. */
  bad_sig[strlen (bad_sig) - 10] = bad_sig[strlen (bad_sig) - 10] == 'A' ? 'B' : 'A';
  assert_refused (fixture->key, bad_sig, MESH_ERROR_CAP_INVALID, "signature");
}

static void
test_truncated (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autofree char *token = sign_claims (fixture->key, claims);
  gsize len = strlen (token);

  /* Every proper prefix, and every token missing one character. */
  for (gsize cut = 0; cut < len; cut++) {
    g_autofree char *prefix = g_strndup (token, cut);
    g_autofree char *gap = g_strdup_printf ("%.*s%s", (int) cut, token, token + cut + 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshCapClaims) verified = NULL;

    verified = mesh_cap_key_verify (fixture->key, prefix, NOW, &error);
    g_assert_null (verified);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID);
    g_clear_error (&error);

    verified = mesh_cap_key_verify (fixture->key, gap, NOW, &error);
    g_assert_null (verified);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID);
  }
}

static void
test_garbage (Fixture       *fixture,
              gconstpointer  data)
{
  g_autofree char *valid = sign_payload (fixture, PAYLOAD_OK);
  g_auto(GStrv) parts = g_strsplit (valid, ".", -1);
  g_autofree char *extra = g_strdup_printf ("%s.", valid);
  g_autofree char *junk_after = g_strdup_printf ("%s!!", valid);
  g_autofree char *padded = g_strdup_printf ("%s==", valid);
  g_autofree char *null_payload = g_strdup_printf ("%s.bnVsbA.%s", parts[0], parts[2]);
  const char *fixed[] = {
    ".", "..", "...", "....", "a.b.c", "a.b.c.d", "!!!.@@@.###", "eyJ.eyJ.eyJ",
    "e30.e30.e30", "e30.e30.", ".e30.e30", "e30..e30", " ", "\xff\xfe.\x80\x80.\xc3",
    "eyJhbGciOiJFUzI1NiJ9", "Bearer x.y.z", "e30.e30.e30=",
    extra, junk_after, padded, null_payload,
  };

  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++) {
    g_autofree char *printable = g_strescape (fixed[i], NULL);

    g_test_message ("token '%s'", printable);
    assert_refused (fixture->key, fixed[i], MESH_ERROR_CAP_INVALID, NULL);
  }

  /* Random bytes, dots salted in so some inputs have three parts. */
  for (guint i = 0; i < 2000; i++) {
    guint len = g_test_rand_int_range (1, 600);
    g_autofree char *random = g_malloc (len + 1);

    for (guint j = 0; j < len; j++) {
      random[j] = (char) g_test_rand_int_range (1, 256);
      if (g_test_rand_int_range (0, 40) == 0)
        random[j] = '.';
    }
    random[len] = '\0';
    assert_refused (fixture->key, random, MESH_ERROR_CAP_INVALID, NULL);
  }

  /* Random base64url parts: well formed, but never a real token. */
  for (guint i = 0; i < 200; i++) {
    g_autofree char *head = g_strnfill (g_test_rand_int_range (2, 60), 'e');
    guint8 sig[64];
    g_autofree char *sig_b64 = NULL;
    g_autofree char *token = NULL;

    for (guint j = 0; j < sizeof sig; j++)
      sig[j] = (guint8) g_test_rand_int_range (0, 256);
    sig_b64 = b64url (sig, sizeof sig);
    token = g_strdup_printf ("%s.%s.%s", head, head, sig_b64);
    assert_refused (fixture->key, token, MESH_ERROR_CAP_INVALID, NULL);
  }
}

static void
test_oversize (Fixture       *fixture,
               gconstpointer  data)
{
  g_autofree char *just_over = g_strnfill (MESH_CAP_MAX_TOKEN_LEN + 1, 'A');
  g_autofree char *huge = g_strnfill (8 * 1024 * 1024, 'A');
  guint count = mesh_cap_key_get_verify_count (fixture->key);

  just_over[10] = '.';
  just_over[20] = '.';
  assert_refused (fixture->key, just_over, MESH_ERROR_CAP_INVALID, "longer");
  assert_refused (fixture->key, huge, MESH_ERROR_CAP_INVALID, "longer");
  assert_refused (fixture->key, "", MESH_ERROR_CAP_INVALID, "empty");
  g_assert_cmpuint (mesh_cap_key_get_verify_count (fixture->key), ==, count);
}

static void
assert_check_fails (Fixture       *fixture,
                    const char    *token,
                    const char    *room_id,
                    const char    *cap,
                    const char    *target_peer_id,
                    const char    *target_device_id,
                    MeshErrorCode  code,
                    const char    *in_message)
{
  g_autoptr(GError) error = NULL;
  const MeshCapClaims *claims;

  claims = mesh_cap_key_check (fixture->key, token, room_id, cap, target_peer_id,
                               target_device_id, NOW, &error);
  g_assert_null (claims);
  g_assert_error (error, MESH_ERROR, (int) code);
  if (in_message != NULL && strstr (error->message, in_message) == NULL)
    g_error ("expected '%s' in the error message, got: %s", in_message, error->message);
}

static void
test_check (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(MeshCapClaims) open_claims = make_claims ();
  g_autoptr(MeshCapClaims) peer_claims = make_claims ();
  g_autoptr(MeshCapClaims) device_claims = make_claims ();
  g_autofree char *open_token = NULL;
  g_autofree char *peer_token = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(GError) error = NULL;
  const MeshCapClaims *claims;

  peer_claims->target_peer_id = g_strdup ("peer-2");
  device_claims->target_device_id = g_strdup ("device-2");
  open_token = sign_claims (fixture->key, open_claims);
  peer_token = sign_claims (fixture->key, peer_claims);
  device_token = sign_claims (fixture->key, device_claims);

  claims = mesh_cap_key_check (fixture->key, open_token, "room-1", MESH_CAP_CALL, "peer-9", NULL,
                               NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claims->sub, ==, "user-1");
  claims = mesh_cap_key_check (fixture->key, peer_token, "room-1", MESH_CAP_CALL, "peer-2", NULL,
                               NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claims->target_peer_id, ==, "peer-2");
  claims = mesh_cap_key_check (fixture->key, device_token, "room-1", MESH_CAP_FILE, NULL,
                               "device-2", NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claims->target_device_id, ==, "device-2");

  assert_check_fails (fixture, NULL, "room-1", MESH_CAP_CALL, NULL, NULL,
                      MESH_ERROR_CAP_REQUIRED, NULL);
  assert_check_fails (fixture, "", "room-1", MESH_CAP_CALL, NULL, NULL,
                      MESH_ERROR_CAP_REQUIRED, NULL);
  assert_check_fails (fixture, "x.y.z", "room-1", MESH_CAP_CALL, NULL, NULL,
                      MESH_ERROR_CAP_INVALID, NULL);
  assert_check_fails (fixture, open_token, "room-2", MESH_CAP_CALL, NULL, NULL,
                      MESH_ERROR_CAP_INVALID, "room");
  assert_check_fails (fixture, open_token, "room-1", MESH_CAP_SCREENSHARE, NULL, NULL,
                      MESH_ERROR_CAP_INVALID, MESH_CAP_SCREENSHARE);
  assert_check_fails (fixture, peer_token, "room-1", MESH_CAP_CALL, "peer-3", NULL,
                      MESH_ERROR_CAP_INVALID, "peer");
  assert_check_fails (fixture, peer_token, "room-1", MESH_CAP_CALL, NULL, NULL,
                      MESH_ERROR_CAP_INVALID, "peer");
  assert_check_fails (fixture, device_token, "room-1", MESH_CAP_FILE, NULL, "device-3",
                      MESH_ERROR_CAP_INVALID, "device");
  assert_check_fails (fixture, device_token, "room-1", MESH_CAP_FILE, NULL, NULL,
                      MESH_ERROR_CAP_INVALID, "device");
}

static void
test_sign_refuses (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *max_ttl = NULL;
  g_autofree char *not_utf8 = NULL;

  claims->exp = claims->iat + MESH_CAP_MAX_TTL;
  max_ttl = sign_claims (fixture->key, claims);

  claims->exp = claims->iat + MESH_CAP_MAX_TTL + 1;
  token = mesh_cap_key_sign (fixture->key, claims, &error);
  g_assert_null (token);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  claims->exp = claims->iat + MESH_CAP_DEFAULT_TTL;

  g_free (claims->caps[1]);
  claims->caps[1] = g_strdup ("sudo");
  token = mesh_cap_key_sign (fixture->key, claims, &error);
  g_assert_null (token);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, "sudo"));
  g_clear_error (&error);
  g_free (claims->caps[1]);
  claims->caps[1] = g_strdup (MESH_CAP_FILE);

  g_free (claims->sub);
  claims->sub = g_strdup ("\xff\xfe");
  not_utf8 = mesh_cap_key_sign (fixture->key, claims, &error);
  g_assert_null (not_utf8);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
}

static void
test_cache (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autofree char *token = sign_claims (fixture->key, claims);
  g_autoptr(MeshCapClaims) first = NULL;
  g_autoptr(MeshCapClaims) second = NULL;
  g_autoptr(GError) error = NULL;
  const MeshCapClaims *checked;
  guint count = mesh_cap_key_get_verify_count (fixture->key);

  first = mesh_cap_key_verify (fixture->key, token, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mesh_cap_key_get_verify_count (fixture->key), ==, count + 1);

  second = mesh_cap_key_verify (fixture->key, token, NOW + 30, &error);
  g_assert_no_error (error);
  assert_claims_equal (first, second);
  g_assert_true (first != second);
  checked = mesh_cap_key_check (fixture->key, token, "room-1", MESH_CAP_FILE, NULL, NULL,
                                NOW + 60, &error);
  g_assert_no_error (error);
  assert_claims_equal (checked, first);
  /* Both answered from the cache: no second signature check. */
  g_assert_cmpuint (mesh_cap_key_get_verify_count (fixture->key), ==, count + 1);

  /* The cached token still expires. */
  {
    g_autoptr(MeshCapClaims) late = mesh_cap_key_verify (fixture->key, token, claims->exp, &error);

    g_assert_null (late);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_CAP_EXPIRED);
    g_clear_error (&error);
  }
  checked = mesh_cap_key_check (fixture->key, token, "room-1", MESH_CAP_FILE, NULL, NULL,
                                claims->exp + 1, &error);
  g_assert_null (checked);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_CAP_EXPIRED);
}

/* A refused token is checked again every time, never remembered as good. */
static void
test_failures_not_cached (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autofree char *other_path = g_build_filename (fixture->dir, "other-key.pem", NULL);
  g_autoptr(MeshCapKey) other = NULL;
  g_autoptr(MeshCapClaims) claims = make_claims ();
  g_autofree char *token = NULL;
  g_autoptr(GError) error = NULL;
  guint count = mesh_cap_key_get_verify_count (fixture->key);

  other = mesh_cap_key_load_or_create (other_path, &error);
  g_assert_no_error (error);
  token = sign_claims (other, claims);

  for (guint i = 1; i <= 3; i++) {
    assert_refused (fixture->key, token, MESH_ERROR_CAP_INVALID, "signature");
    g_assert_cmpuint (mesh_cap_key_get_verify_count (fixture->key), ==, count + i);
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/mesh/unit/cap-token/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("round-trip", test_round_trip);
  ADD ("standard-signature", test_standard_signature);
  ADD ("key-file", test_key_file);
  ADD ("key-wrong-curve", test_key_wrong_curve);
  ADD ("refuse/alg-none", test_alg_none);
  ADD ("refuse/alg-hs256-public-key", test_alg_confusion);
  ADD ("refuse/alg-other", test_alg_other);
  ADD ("refuse/other-key", test_other_key);
  ADD ("refuse/expired", test_expired);
  ADD ("refuse/bad-claims", test_bad_claims);
  ADD ("refuse/tampered", test_tampered);
  ADD ("refuse/truncated", test_truncated);
  ADD ("refuse/garbage", test_garbage);
  ADD ("refuse/oversize", test_oversize);
  ADD ("check", test_check);
  ADD ("sign-refuses", test_sign_refuses);
  ADD ("cache", test_cache);
  ADD ("cache/failures-not-cached", test_failures_not_cached);

#undef ADD

  return g_test_run ();
}
