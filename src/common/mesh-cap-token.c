/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-cap-token"

#include "config.h"

#include "mesh-cap-token.h"
#include "mesh-error.h"
#include "mesh-json.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jwt.h>

/* How far in the future a signer's clock may put `iat`. */
#define CLOCK_SKEW 60
/* Lets a signer that reads the clock twice exceed the TTL by a little. */
#define TTL_SKEW 5
#define CACHE_MAX 100000
/* RFC 7518 §3.4: an ES256 signature is r || s, 32 bytes each, base64url
 * without padding. */
#define ES256_SIG_LEN     64
#define ES256_SIG_B64_LEN 86
/* libjwt 1.10.2's GnuTLS backend pads r and s to the ES512 size (its size
 * test reads `if (JWT_ALG_ES256)` for every alg), giving 132 bytes. */
#define LIBJWT_SIG_LEN 132
#define LIBJWT_HALF    66

struct _MeshCapKey {
  GObject     parent_instance;

  char       *private_pem;   /* NULL for a verify-only key */
  char       *public_pem;
  GHashTable *cache;         /* token → MeshCapClaims of a verified token */
  gint64      last_sweep;
  guint       verify_count;
};

G_DEFINE_FINAL_TYPE (MeshCapKey, mesh_cap_key, G_TYPE_OBJECT)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (jwt_t, jwt_free)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_privkey_t, gnutls_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_pubkey_t, gnutls_pubkey_deinit, NULL)

static const char * const known_caps[] = {
  MESH_CAP_CALL,
  MESH_CAP_SCREENSHARE,
  MESH_CAP_FILE,
  MESH_CAP_FOLDER,
  MESH_CAP_TERMINAL_VIEW,
  MESH_CAP_TERMINAL_CONTROL,
  NULL
};

MeshCapClaims *
mesh_cap_claims_new (void)
{
  MeshCapClaims *claims = g_new0 (MeshCapClaims, 1);

  claims->max_size = -1;
  claims->max_rate = -1;
  return claims;
}

MeshCapClaims *
mesh_cap_claims_copy (const MeshCapClaims *claims)
{
  MeshCapClaims *copy;

  g_return_val_if_fail (claims != NULL, NULL);

  copy = g_new0 (MeshCapClaims, 1);
  copy->sub = g_strdup (claims->sub);
  copy->room_id = g_strdup (claims->room_id);
  copy->caps = g_strdupv (claims->caps);
  copy->iat = claims->iat;
  copy->exp = claims->exp;
  copy->jti = g_strdup (claims->jti);
  copy->target_peer_id = g_strdup (claims->target_peer_id);
  copy->target_device_id = g_strdup (claims->target_device_id);
  copy->max_size = claims->max_size;
  copy->max_rate = claims->max_rate;
  return copy;
}

void
mesh_cap_claims_free (MeshCapClaims *claims)
{
  if (claims == NULL)
    return;

  g_free (claims->sub);
  g_free (claims->room_id);
  g_strfreev (claims->caps);
  g_free (claims->jti);
  g_free (claims->target_peer_id);
  g_free (claims->target_device_id);
  g_free (claims);
}

gboolean
mesh_cap_claims_has_cap (const MeshCapClaims *claims,
                         const char          *cap)
{
  g_return_val_if_fail (claims != NULL, FALSE);

  return cap != NULL && claims->caps != NULL &&
         g_strv_contains ((const char * const *) claims->caps, cap);
}

gboolean
mesh_cap_is_known (const char *cap)
{
  return cap != NULL && g_strv_contains (known_caps, cap);
}

/* Private key text is wiped before it goes back to the allocator. */
static void
secret_free (char *secret)
{
  if (secret == NULL)
    return;

  gnutls_memset (secret, 0, strlen (secret));
  g_free (secret);
}

static void
datum_clear (gnutls_datum_t *datum)
{
  if (datum->data != NULL)
    gnutls_memset (datum->data, 0, datum->size);
  gnutls_free (datum->data);
  datum->data = NULL;
  datum->size = 0;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (gnutls_datum_t, datum_clear)

static gboolean
gnutls_error (int          rc,
              const char  *what,
              GError     **error)
{
  g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL, "%s: %s", what, gnutls_strerror (rc));
  return FALSE;
}

static char *
base64url_encode (const guint8 *data,
                  gsize         len)
{
  char *text = g_base64_encode (data, len);
  char *out = text;

  for (char *p = text; *p != '\0'; p++) {
    if (*p == '=')
      break;
    *out++ = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  }
  *out = '\0';
  return text;
}

static gboolean
is_base64url (const char *text,
              gsize       len)
{
  /* A lone trailing character encodes no whole byte: not valid base64. */
  if (len == 0 || len % 4 == 1)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    if (!g_ascii_isalnum (text[i]) && text[i] != '-' && text[i] != '_')
      return FALSE;
  }
  return TRUE;
}

/* @text must have passed is_base64url(). */
static guint8 *
base64url_decode (const char *text,
                  gsize       len,
                  gsize      *out_len)
{
  g_autofree char *padded = g_malloc (len + 4);
  gsize i;

  for (i = 0; i < len; i++)
    padded[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
  while (i % 4 != 0)
    padded[i++] = '=';
  padded[i] = '\0';
  return g_base64_decode (padded, out_len);
}

/* Checks what both the signer and the verifier require of claims; @code is
 * the error to report (a bad request when signing, CAP_INVALID when
 * verifying) and @ttl_slack the lifetime allowed past MESH_CAP_MAX_TTL. */
static gboolean
validate_claims (const MeshCapClaims  *claims,
                 gint64                ttl_slack,
                 MeshErrorCode         code,
                 GError              **error)
{
  const struct { const char *name; const char *value; gboolean required; } strings[] = {
    { "sub", claims->sub, TRUE },
    { "room_id", claims->room_id, TRUE },
    { "jti", claims->jti, TRUE },
    { "target_peer_id", claims->target_peer_id, FALSE },
    { "target_device_id", claims->target_device_id, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (strings); i++) {
    if (strings[i].value == NULL && !strings[i].required)
      continue;
    if (strings[i].value == NULL || strings[i].value[0] == '\0') {
      g_set_error (error, MESH_ERROR, code, "claim '%s' is missing or empty", strings[i].name);
      return FALSE;
    }
    if (!g_utf8_validate (strings[i].value, -1, NULL)) {
      g_set_error (error, MESH_ERROR, code, "claim '%s' is not UTF-8", strings[i].name);
      return FALSE;
    }
  }

  if (claims->caps == NULL || claims->caps[0] == NULL) {
    g_set_error_literal (error, MESH_ERROR, code, "claim 'caps' names no capability");
    return FALSE;
  }
  for (guint i = 0; claims->caps[i] != NULL; i++) {
    if (!mesh_cap_is_known (claims->caps[i])) {
      g_set_error (error, MESH_ERROR, code, "unknown capability '%s'", claims->caps[i]);
      return FALSE;
    }
  }

  if (claims->max_size < -1 || claims->max_rate < -1) {
    g_set_error_literal (error, MESH_ERROR, code,
                         "claims 'max_size' and 'max_rate' must not be negative");
    return FALSE;
  }

  /* Both positive, so exp - iat cannot overflow. */
  if (claims->iat <= 0 || claims->exp <= claims->iat) {
    g_set_error_literal (error, MESH_ERROR, code, "claim 'exp' must come after a positive 'iat'");
    return FALSE;
  }
  if (claims->exp - claims->iat > MESH_CAP_MAX_TTL + ttl_slack) {
    g_set_error (error, MESH_ERROR, code,
                 "token lifetime of %" G_GINT64_FORMAT " s exceeds %d s",
                 claims->exp - claims->iat, MESH_CAP_MAX_TTL);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_times (const MeshCapClaims  *claims,
             gint64                now,
             GError              **error)
{
  if (claims->exp <= now) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_CAP_EXPIRED,
                 "capability token expired %" G_GINT64_FORMAT " s ago", now - claims->exp);
    return FALSE;
  }
  if (claims->iat > now + CLOCK_SKEW) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "capability token issued in the future ('iat')");
    return FALSE;
  }
  return TRUE;
}

static gboolean
cap_invalid (GError     **error,
             const char  *what,
             GError      *inner)
{
  g_set_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID, "%s: %s", what, inner->message);
  return FALSE;
}

/* Reads the claims with their JSON types: libjwt's grant getters cannot tell
 * a string "exp" from a missing one. */
static MeshCapClaims *
claims_from_json (JsonObject  *object,
                  GError     **error)
{
  g_autoptr(MeshCapClaims) claims = mesh_cap_claims_new ();
  g_autoptr(GError) local_error = NULL;
  const char *sub, *room_id, *jti, *target_peer_id, *target_device_id;

  /* max_size and max_rate keep -1 when absent; validate_claims() refuses
   * other negative values. */
  if (!mesh_json_get_string (object, "sub", TRUE, &sub, &local_error) ||
      !mesh_json_get_string (object, "room_id", TRUE, &room_id, &local_error) ||
      !mesh_json_get_string (object, "jti", TRUE, &jti, &local_error) ||
      !mesh_json_get_strv (object, "caps", TRUE, &claims->caps, &local_error) ||
      !mesh_json_get_int (object, "iat", TRUE, &claims->iat, &local_error) ||
      !mesh_json_get_int (object, "exp", TRUE, &claims->exp, &local_error) ||
      !mesh_json_get_string (object, "target_peer_id", FALSE, &target_peer_id, &local_error) ||
      !mesh_json_get_string (object, "target_device_id", FALSE, &target_device_id, &local_error) ||
      !mesh_json_get_int (object, "max_size", FALSE, &claims->max_size, &local_error) ||
      !mesh_json_get_int (object, "max_rate", FALSE, &claims->max_rate, &local_error)) {
    cap_invalid (error, "invalid token claims", local_error);
    return NULL;
  }

  claims->sub = g_strdup (sub);
  claims->room_id = g_strdup (room_id);
  claims->jti = g_strdup (jti);
  claims->target_peer_id = g_strdup (target_peer_id);
  claims->target_device_id = g_strdup (target_device_id);

  if (!validate_claims (claims, TTL_SKEW, MESH_ERROR_CAP_INVALID, error))
    return NULL;
  return g_steal_pointer (&claims);
}

static JsonObject *
decode_segment (const char  *text,
                gsize        len,
                const char  *name,
                GError     **error)
{
  g_autofree guint8 *data = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object;
  gsize data_len;

  data = base64url_decode (text, len, &data_len);
  object = mesh_json_parse_object ((const char *) data, data_len, &local_error);
  if (object == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                 "token %s is not a JSON object: %s", name, local_error->message);
    return NULL;
  }
  return object;
}

/* Everything but the time checks: shape, algorithm, signature, claims. */
static MeshCapClaims *
decode_token (MeshCapKey  *self,
              const char  *token,
              gsize        len,
              GError     **error)
{
  g_autoptr(JsonObject) header = NULL;
  g_autoptr(JsonObject) payload = NULL;
  g_autoptr(JsonObject) grants = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(jwt_t) jwt = NULL;
  const char *dot1, *dot2, *alg;
  char *grants_json;

  dot1 = memchr (token, '.', len);
  dot2 = dot1 != NULL ? memchr (dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
  if (dot2 == NULL || memchr (dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "capability token is not three dot-separated parts");
    return NULL;
  }
  /* libjwt's base64 decoder stops at the first foreign character and reads
   * an empty part out of bounds, so check the alphabet first. */
  if (!is_base64url (token, dot1 - token) ||
      !is_base64url (dot1 + 1, dot2 - dot1 - 1) ||
      !is_base64url (dot2 + 1, len - (dot2 + 1 - token))) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "capability token part is empty or not base64url");
    return NULL;
  }

  header = decode_segment (token, dot1 - token, "header", error);
  if (header == NULL)
    return NULL;
  if (!mesh_json_get_string (header, "alg", TRUE, &alg, &local_error)) {
    cap_invalid (error, "invalid token header", local_error);
    return NULL;
  }
  /* Checked before libjwt sees the token, so no key ever serves as an HMAC
   * secret, and checked again after decoding below. */
  if (g_strcmp0 (alg, "ES256") != 0) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                 "token algorithm '%s' is not allowed: capability tokens are ES256", alg);
    return NULL;
  }

  /* Decoded here only to name a malformed payload before paying for a
   * signature check; the claims are read from what libjwt verified. */
  payload = decode_segment (dot1 + 1, dot2 - dot1 - 1, "payload", error);
  if (payload == NULL)
    return NULL;

  if (len - (dot2 + 1 - token) != ES256_SIG_B64_LEN) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "token signature is not a 64-byte ES256 signature");
    return NULL;
  }

  self->verify_count++;
  if (jwt_decode (&jwt, token, (const unsigned char *) self->public_pem,
                  (int) strlen (self->public_pem)) != 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "token signature does not match the server key");
    return NULL;
  }
  /* Upstream's advice against algorithm confusion (libjwt #33, #43). */
  if (jwt_get_alg (jwt) != JWT_ALG_ES256) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                 "token algorithm %s is not ES256", jwt_alg_str (jwt_get_alg (jwt)));
    return NULL;
  }

  /* The claims libjwt verified, re-read by json-glib for their real types. */
  grants_json = jwt_get_grants_json (jwt, NULL);
  if (grants_json == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID, "token has no claims");
    return NULL;
  }
  grants = mesh_json_parse_object (grants_json, -1, &local_error);
  free (grants_json);
  if (grants == NULL) {
    cap_invalid (error, "invalid token claims", local_error);
    return NULL;
  }
  return claims_from_json (grants, error);
}

static gboolean
claims_expired (gpointer key,
                gpointer value,
                gpointer user_data)
{
  const MeshCapClaims *claims = value;
  gint64 now = *(const gint64 *) user_data;

  return claims->exp <= now;
}

static void
cache_sweep (MeshCapKey *self,
             gint64      now)
{
  /* A sweep walks the whole table: do it at most once per second. */
  if (now == self->last_sweep)
    return;
  self->last_sweep = now;
  g_hash_table_foreach_remove (self->cache, claims_expired, &now);
}

static void
cache_insert (MeshCapKey    *self,
              const char    *token,
              MeshCapClaims *claims,
              gint64         now)
{
  if (g_hash_table_size (self->cache) >= CACHE_MAX) {
    GHashTableIter iter;

    g_hash_table_foreach_remove (self->cache, claims_expired, &now);
    /* Still full of live tokens: drop an eighth of them; they only cost a
     * new verification when they come back. */
    g_hash_table_iter_init (&iter, self->cache);
    while (g_hash_table_size (self->cache) > CACHE_MAX - CACHE_MAX / 8 &&
           g_hash_table_iter_next (&iter, NULL, NULL))
      g_hash_table_iter_remove (&iter);
  }
  g_hash_table_insert (self->cache, g_strdup (token), claims);
}

/* Returns claims owned by the cache. */
static const MeshCapClaims *
verify_cached (MeshCapKey  *self,
               const char  *token,
               gint64       now,
               GError     **error)
{
  MeshCapClaims *claims;
  gsize len;

  if (now <= 0)
    now = g_get_real_time () / G_USEC_PER_SEC;

  len = strnlen (token, MESH_CAP_MAX_TOKEN_LEN + 1);
  if (len == 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID, "capability token is empty");
    return NULL;
  }
  if (len > MESH_CAP_MAX_TOKEN_LEN) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                 "capability token is longer than %d bytes", MESH_CAP_MAX_TOKEN_LEN);
    return NULL;
  }

  cache_sweep (self, now);

  claims = g_hash_table_lookup (self->cache, token);
  if (claims != NULL) {
    if (!check_times (claims, now, error)) {
      g_hash_table_remove (self->cache, token);
      return NULL;
    }
    return claims;
  }

  claims = decode_token (self, token, len, error);
  if (claims == NULL)
    return NULL;
  if (!check_times (claims, now, error)) {
    mesh_cap_claims_free (claims);
    return NULL;
  }
  cache_insert (self, token, claims, now);
  return claims;
}

/* Turns libjwt 1.10's padded ECDSA signature into the RFC 7518 form that
 * other JWT implementations (and libjwt itself) accept. */
static char *
normalize_signature (const char  *token,
                     GError     **error)
{
  g_autofree guint8 *sig = NULL;
  const char *dot = strrchr (token, '.');
  const char *sig_b64;
  gsize sig_len = 0;
  guint8 rs[ES256_SIG_LEN];
  g_autofree char *rs_b64 = NULL;

  sig_b64 = dot != NULL ? dot + 1 : "";
  if (is_base64url (sig_b64, strlen (sig_b64)))
    sig = base64url_decode (sig_b64, strlen (sig_b64), &sig_len);

  if (sig_len == ES256_SIG_LEN)
    return g_strdup (token);

  if (sig_len == LIBJWT_SIG_LEN) {
    const guint8 zeros[LIBJWT_HALF - ES256_SIG_LEN / 2] = { 0 };
    const gsize pad = sizeof zeros;

    if (memcmp (sig, zeros, pad) == 0 && memcmp (sig + LIBJWT_HALF, zeros, pad) == 0) {
      memcpy (rs, sig + pad, ES256_SIG_LEN / 2);
      memcpy (rs + ES256_SIG_LEN / 2, sig + LIBJWT_HALF + pad, ES256_SIG_LEN / 2);
      rs_b64 = base64url_encode (rs, sizeof rs);
      return g_strdup_printf ("%.*s.%s", (int) (dot - token), token, rs_b64);
    }
  }

  g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
               "libjwt produced an unexpected %" G_GSIZE_FORMAT "-byte ES256 signature", sig_len);
  return NULL;
}

/* Exports @pubkey as "PUBLIC KEY" PEM after checking it is a P-256 key. */
static char *
public_pem_from_pubkey (gnutls_pubkey_t   pubkey,
                        GError          **error)
{
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
  gnutls_datum_t pem = { NULL, 0 };
  char *text;
  int rc;

  if (gnutls_pubkey_get_pk_algorithm (pubkey, NULL) != GNUTLS_PK_ECDSA ||
      gnutls_pubkey_export_ecc_raw (pubkey, &curve, &x, &y) != GNUTLS_E_SUCCESS ||
      curve != GNUTLS_ECC_CURVE_SECP256R1) {
    gnutls_free (x.data);
    gnutls_free (y.data);
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                         "capability key is not an ECDSA P-256 key");
    return NULL;
  }
  gnutls_free (x.data);
  gnutls_free (y.data);

  rc = gnutls_pubkey_export2 (pubkey, GNUTLS_X509_FMT_PEM, &pem);
  if (rc != GNUTLS_E_SUCCESS) {
    gnutls_error (rc, "cannot export the public key", error);
    return NULL;
  }
  text = g_strndup ((const char *) pem.data, pem.size);
  gnutls_free (pem.data);
  return text;
}

static gnutls_x509_privkey_t
generate_private_key (const char  *path,
                      GError     **error)
{
  g_auto(gnutls_x509_privkey_t) key = NULL;
  g_auto(gnutls_datum_t) pem = { NULL, 0 };
  g_autoptr(GError) local_error = NULL;
  int rc;

  if ((rc = gnutls_x509_privkey_init (&key)) != GNUTLS_E_SUCCESS ||
      (rc = gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1),
                                          0)) != GNUTLS_E_SUCCESS) {
    gnutls_error (rc, "cannot generate the capability key", error);
    return NULL;
  }
  /* SEC1 "EC PRIVATE KEY" PEM: what libjwt's gnutls_x509_privkey_import()
   * reads back when signing. */
  if ((rc = gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &pem)) != GNUTLS_E_SUCCESS) {
    gnutls_error (rc, "cannot export the capability key", error);
    return NULL;
  }
  /* A 0600 temporary file renamed into place: the key is never readable by
   * others, and a crash leaves no half-written key. */
  if (!g_file_set_contents_full (path, (const char *) pem.data, pem.size,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                 "cannot write the capability key: %s", local_error->message);
    return NULL;
  }
  g_debug ("created capability key %s", path);
  return g_steal_pointer (&key);
}

static gnutls_x509_privkey_t
read_private_key (const char  *path,
                  const char  *pem,
                  gsize        len,
                  GError     **error)
{
  g_auto(gnutls_x509_privkey_t) key = NULL;
  gnutls_datum_t datum = { (unsigned char *) pem, len };
  int rc;

  if ((rc = gnutls_x509_privkey_init (&key)) != GNUTLS_E_SUCCESS) {
    gnutls_error (rc, "cannot read the capability key", error);
    return NULL;
  }
  /* The same parser libjwt uses for signing. */
  if ((rc = gnutls_x509_privkey_import (key, &datum, GNUTLS_X509_FMT_PEM)) != GNUTLS_E_SUCCESS) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                 "%s is not a PEM private key: %s", path, gnutls_strerror (rc));
    return NULL;
  }
  if (gnutls_x509_privkey_get_pk_algorithm (key) != GNUTLS_PK_ECDSA) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL, "%s is not an ECDSA key", path);
    return NULL;
  }
  return g_steal_pointer (&key);
}

static void
mesh_cap_key_finalize (GObject *object)
{
  MeshCapKey *self = (MeshCapKey *) object;

  secret_free (self->private_pem);
  g_free (self->public_pem);
  g_hash_table_unref (self->cache);

  G_OBJECT_CLASS (mesh_cap_key_parent_class)->finalize (object);
}

static void
mesh_cap_key_class_init (MeshCapKeyClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_cap_key_finalize;
}

static void
mesh_cap_key_init (MeshCapKey *self)
{
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) mesh_cap_claims_free);
}

static MeshCapKey *
mesh_cap_key_new_private (gnutls_x509_privkey_t   key,
                          GError                **error)
{
  g_autoptr(MeshCapKey) self = NULL;
  g_auto(gnutls_privkey_t) privkey = NULL;
  g_auto(gnutls_pubkey_t) pubkey = NULL;
  g_auto(gnutls_datum_t) pem = { NULL, 0 };
  int rc;

  if ((rc = gnutls_privkey_init (&privkey)) != GNUTLS_E_SUCCESS ||
      (rc = gnutls_privkey_import_x509 (privkey, key, 0)) != GNUTLS_E_SUCCESS ||
      (rc = gnutls_pubkey_init (&pubkey)) != GNUTLS_E_SUCCESS ||
      (rc = gnutls_pubkey_import_privkey (pubkey, privkey, 0, 0)) != GNUTLS_E_SUCCESS) {
    gnutls_error (rc, "cannot derive the public key", error);
    return NULL;
  }
  if ((rc = gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &pem)) != GNUTLS_E_SUCCESS) {
    gnutls_error (rc, "cannot export the capability key", error);
    return NULL;
  }

  self = g_object_new (MESH_TYPE_CAP_KEY, NULL);
  self->public_pem = public_pem_from_pubkey (pubkey, error);
  if (self->public_pem == NULL)
    return NULL;
  self->private_pem = g_strndup ((const char *) pem.data, pem.size);
  return g_steal_pointer (&self);
}

MeshCapKey *
mesh_cap_key_load_or_create (const char  *path,
                             GError     **error)
{
  g_auto(gnutls_x509_privkey_t) key = NULL;
  g_autoptr(GError) local_error = NULL;
  char *pem = NULL;
  gsize len;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_file_get_contents (path, &pem, &len, &local_error)) {
    key = read_private_key (path, pem, len, error);
    secret_free (pem);
  } else if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
    key = generate_private_key (path, error);
  } else {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                 "cannot read the capability key: %s", local_error->message);
  }
  if (key == NULL)
    return NULL;

  return mesh_cap_key_new_private (key, error);
}

MeshCapKey *
mesh_cap_key_new_public (const char  *public_key_pem,
                         GError     **error)
{
  g_autoptr(MeshCapKey) self = NULL;
  g_auto(gnutls_pubkey_t) pubkey = NULL;
  gnutls_datum_t datum;
  int rc;

  g_return_val_if_fail (public_key_pem != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  datum.data = (unsigned char *) public_key_pem;
  datum.size = strlen (public_key_pem);
  if ((rc = gnutls_pubkey_init (&pubkey)) != GNUTLS_E_SUCCESS) {
    gnutls_error (rc, "cannot read the public key", error);
    return NULL;
  }
  if ((rc = gnutls_pubkey_import (pubkey, &datum, GNUTLS_X509_FMT_PEM)) != GNUTLS_E_SUCCESS) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                 "not a PEM public key: %s", gnutls_strerror (rc));
    return NULL;
  }

  self = g_object_new (MESH_TYPE_CAP_KEY, NULL);
  /* Re-exported, so libjwt always gets one canonical PEM. */
  self->public_pem = public_pem_from_pubkey (pubkey, error);
  if (self->public_pem == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

const char *
mesh_cap_key_get_public_pem (MeshCapKey *self)
{
  g_return_val_if_fail (MESH_IS_CAP_KEY (self), NULL);

  return self->public_pem;
}

gboolean
mesh_cap_key_can_sign (MeshCapKey *self)
{
  g_return_val_if_fail (MESH_IS_CAP_KEY (self), FALSE);

  return self->private_pem != NULL;
}

guint
mesh_cap_key_get_verify_count (MeshCapKey *self)
{
  g_return_val_if_fail (MESH_IS_CAP_KEY (self), 0);

  return self->verify_count;
}

char *
mesh_cap_key_sign (MeshCapKey           *self,
                   const MeshCapClaims  *claims,
                   GError              **error)
{
  g_autoptr(jwt_t) jwt = NULL;
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autoptr(JsonArray) caps = json_array_new ();
  g_autofree char *payload_json = NULL;
  char *raw;
  char *token;
  int rc;

  g_return_val_if_fail (MESH_IS_CAP_KEY (self), NULL);
  g_return_val_if_fail (mesh_cap_key_can_sign (self), NULL);
  g_return_val_if_fail (claims != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_claims (claims, 0, MESH_ERROR_BAD_REQUEST, error))
    return NULL;

  for (guint i = 0; claims->caps[i] != NULL; i++)
    json_array_add_string_element (caps, claims->caps[i]);
  json_object_set_string_member (payload, "sub", claims->sub);
  json_object_set_string_member (payload, "room_id", claims->room_id);
  json_object_set_array_member (payload, "caps", g_steal_pointer (&caps));
  json_object_set_int_member (payload, "iat", claims->iat);
  json_object_set_int_member (payload, "exp", claims->exp);
  json_object_set_string_member (payload, "jti", claims->jti);
  if (claims->target_peer_id != NULL)
    json_object_set_string_member (payload, "target_peer_id", claims->target_peer_id);
  if (claims->target_device_id != NULL)
    json_object_set_string_member (payload, "target_device_id", claims->target_device_id);
  if (claims->max_size >= 0)
    json_object_set_int_member (payload, "max_size", claims->max_size);
  if (claims->max_rate >= 0)
    json_object_set_int_member (payload, "max_rate", claims->max_rate);
  payload_json = mesh_json_object_to_string (payload, NULL);

  if ((rc = jwt_new (&jwt)) != 0 ||
      (rc = jwt_add_grants_json (jwt, payload_json)) != 0 ||
      (rc = jwt_set_alg (jwt, JWT_ALG_ES256, (const unsigned char *) self->private_pem,
                         (int) strlen (self->private_pem))) != 0) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                 "cannot build the capability token: %s", g_strerror (rc));
    return NULL;
  }
  raw = jwt_encode_str (jwt);
  if (raw == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                         "cannot sign the capability token");
    return NULL;
  }
  token = normalize_signature (raw, error);
  free (raw);
  return token;
}

MeshCapClaims *
mesh_cap_key_verify (MeshCapKey  *self,
                     const char  *token,
                     gint64       now,
                     GError     **error)
{
  const MeshCapClaims *claims;

  g_return_val_if_fail (MESH_IS_CAP_KEY (self), NULL);
  g_return_val_if_fail (token != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  claims = verify_cached (self, token, now, error);
  return claims != NULL ? mesh_cap_claims_copy (claims) : NULL;
}

const MeshCapClaims *
mesh_cap_key_check (MeshCapKey  *self,
                    const char  *token,
                    const char  *room_id,
                    const char  *cap,
                    const char  *target_peer_id,
                    const char  *target_device_id,
                    gint64       now,
                    GError     **error)
{
  const MeshCapClaims *claims;

  g_return_val_if_fail (MESH_IS_CAP_KEY (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (cap != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (token == NULL || token[0] == '\0') {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_REQUIRED,
                         "a capability token is required");
    return NULL;
  }

  claims = verify_cached (self, token, now, error);
  if (claims == NULL)
    return NULL;

  if (g_strcmp0 (claims->room_id, room_id) != 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "capability token is for another room");
    return NULL;
  }
  if (!mesh_cap_claims_has_cap (claims, cap)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                 "capability token does not grant '%s'", cap);
    return NULL;
  }
  if (claims->target_peer_id != NULL && g_strcmp0 (claims->target_peer_id, target_peer_id) != 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "capability token is for another target peer");
    return NULL;
  }
  if (claims->target_device_id != NULL &&
      g_strcmp0 (claims->target_device_id, target_device_id) != 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "capability token is for another target device");
    return NULL;
  }
  return claims;
}
