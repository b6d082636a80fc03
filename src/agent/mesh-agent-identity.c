/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent-identity"

#include "config.h"

#include "mesh-agent-identity.h"

#include "mesh-ids.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <string.h>
#include <sys/stat.h>

/* The agent's long-lived TLS identity: a P-256 key and a self-signed certificate kept in the
 * state folder.  Peers never check a chain: they pin the SHA-256 of our DER certificate (the
 * fingerprint the server relays in p2p.session.created), so the certificate only needs to be
 * stable and valid for a long time. */

#define KEY_FILE "identity.key"
#define CERT_FILE "identity.crt"
#define CERT_LIFETIME_DAYS (20 * 365)

struct _MeshAgentIdentity {
  GObject                parent_instance;

  gnutls_x509_privkey_t  key;
  gnutls_x509_crt_t      crt;
  char                  *fingerprint;
};

G_DEFINE_FINAL_TYPE (MeshAgentIdentity, mesh_agent_identity, G_TYPE_OBJECT)

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_crt_t, gnutls_x509_crt_deinit, NULL)

static gboolean
tls_failed (int          rv,
            GError     **error,
            const char  *what)
{
  if (rv >= 0)
    return FALSE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, gnutls_strerror (rv));
  return TRUE;
}

static gboolean
generate_key (gnutls_x509_privkey_t  *out,
              GError                **error)
{
  g_auto(gnutls_x509_privkey_t) key = NULL;

  if (tls_failed (gnutls_x509_privkey_init (&key), error, "Cannot allocate a private key") ||
      tls_failed (gnutls_x509_privkey_generate2 (key, GNUTLS_PK_ECDSA,
                                                 GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1),
                                                 0, NULL, 0),
                  error, "Cannot generate a P-256 key"))
    return FALSE;

  *out = g_steal_pointer (&key);
  return TRUE;
}

static gboolean
generate_certificate (gnutls_x509_privkey_t   key,
                      gnutls_x509_crt_t      *out,
                      GError                **error)
{
  g_auto(gnutls_x509_crt_t) crt = NULL;
  guint8 serial[16];
  time_t now = time (NULL);

  /* A positive 128-bit random serial: RFC 5280 wants it unique and non-negative. */
  if (tls_failed (gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof serial), error, "No randomness"))
    return FALSE;
  serial[0] &= 0x7f;

  if (tls_failed (gnutls_x509_crt_init (&crt), error, "Cannot allocate a certificate") ||
      tls_failed (gnutls_x509_crt_set_version (crt, 3), error, "Cannot set the version") ||
      tls_failed (gnutls_x509_crt_set_serial (crt, serial, sizeof serial), error,
                  "Cannot set the serial") ||
      /* A day of slack for peers whose clocks run behind. */
      tls_failed (gnutls_x509_crt_set_activation_time (crt, now - 24 * 3600), error,
                  "Cannot set the activation time") ||
      tls_failed (gnutls_x509_crt_set_expiration_time (crt, now + (time_t) CERT_LIFETIME_DAYS * 86400),
                  error, "Cannot set the expiration time") ||
      tls_failed (gnutls_x509_crt_set_dn (crt, "CN=mesh-agent", NULL), error,
                  "Cannot set the subject") ||
      tls_failed (gnutls_x509_crt_set_key (crt, key), error, "Cannot set the public key") ||
      tls_failed (gnutls_x509_crt_set_basic_constraints (crt, 0, -1), error,
                  "Cannot set basic constraints") ||
      tls_failed (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE), error,
                  "Cannot set the key usage") ||
      tls_failed (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0), error,
                  "Cannot set the key purpose") ||
      tls_failed (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), error,
                  "Cannot set the key purpose") ||
      tls_failed (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0), error,
                  "Cannot sign the certificate"))
    return FALSE;

  *out = g_steal_pointer (&crt);
  return TRUE;
}

static gboolean
write_datum (const char            *path,
             const gnutls_datum_t  *datum,
             int                    mode,
             GError               **error)
{
  if (!g_file_set_contents_full (path, (const char *) datum->data, datum->size,
                                 G_FILE_SET_CONTENTS_CONSISTENT, mode, error))
    return FALSE;
  /* g_file_set_contents_full() keeps the mode of a file it replaces; force ours. */
  if (g_chmod (path, mode) != 0) {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot set the mode of %s: %s",
                 path, g_strerror (saved));
    return FALSE;
  }
  return TRUE;
}

static gboolean
save_key (gnutls_x509_privkey_t   key,
          const char             *path,
          GError                **error)
{
  gnutls_datum_t pem = { NULL, 0 };
  gboolean ok;

  if (tls_failed (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL,
                                                     GNUTLS_PKCS_PLAIN, &pem),
                  error, "Cannot export the private key"))
    return FALSE;
  ok = write_datum (path, &pem, 0600, error);
  gnutls_memset (pem.data, 0, pem.size);
  gnutls_free (pem.data);
  return ok;
}

static gboolean
save_certificate (gnutls_x509_crt_t   crt,
                  const char         *path,
                  GError            **error)
{
  gnutls_datum_t pem = { NULL, 0 };
  gboolean ok;

  if (tls_failed (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &pem), error,
                  "Cannot export the certificate"))
    return FALSE;
  ok = write_datum (path, &pem, 0644, error);
  gnutls_free (pem.data);
  return ok;
}

/* Returns FALSE with @error set, or TRUE with *@contents NULL when the file does not exist. */
static gboolean
read_optional (const char  *path,
               char       **contents,
               gsize       *len,
               GError     **error)
{
  g_autoptr(GError) local_error = NULL;

  *contents = NULL;
  if (g_file_get_contents (path, contents, len, &local_error))
    return TRUE;
  if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

static gboolean
load_key (const char             *path,
          const char             *pem_text,
          gsize                   len,
          gnutls_x509_privkey_t  *out,
          GError                **error)
{
  g_auto(gnutls_x509_privkey_t) key = NULL;
  gnutls_datum_t pem = { (unsigned char *) pem_text, (unsigned int) len };
  int rv;

  if (tls_failed (gnutls_x509_privkey_init (&key), error, "Cannot allocate a private key"))
    return FALSE;
  rv = gnutls_x509_privkey_import2 (key, &pem, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
  if (rv < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s is not a valid PEM private key: %s", path, gnutls_strerror (rv));
    return FALSE;
  }
  if (gnutls_x509_privkey_get_pk_algorithm (key) != GNUTLS_PK_ECDSA) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s does not hold an ECDSA key", path);
    return FALSE;
  }
  /* An identity key readable by others is worthless: make sure it is private. */
  if (g_chmod (path, 0600) != 0)
    g_warning ("Cannot restrict the mode of %s: %s", path, g_strerror (errno));

  *out = g_steal_pointer (&key);
  return TRUE;
}

static gboolean
load_certificate (const char          *path,
                  const char          *pem_text,
                  gsize                len,
                  gnutls_x509_crt_t   *out,
                  GError             **error)
{
  g_auto(gnutls_x509_crt_t) crt = NULL;
  gnutls_datum_t pem = { (unsigned char *) pem_text, (unsigned int) len };
  int rv;

  if (tls_failed (gnutls_x509_crt_init (&crt), error, "Cannot allocate a certificate"))
    return FALSE;
  rv = gnutls_x509_crt_import (crt, &pem, GNUTLS_X509_FMT_PEM);
  if (rv < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s is not a valid PEM certificate: %s", path, gnutls_strerror (rv));
    return FALSE;
  }
  *out = g_steal_pointer (&crt);
  return TRUE;
}

static gboolean
key_matches_certificate (gnutls_x509_privkey_t key,
                         gnutls_x509_crt_t     crt)
{
  guint8 key_id[64], crt_id[64];
  size_t key_id_len = sizeof key_id, crt_id_len = sizeof crt_id;

  if (gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id, &key_id_len) < 0 ||
      gnutls_x509_crt_get_key_id (crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_id_len) < 0)
    return FALSE;
  return key_id_len == crt_id_len && memcmp (key_id, crt_id, key_id_len) == 0;
}

static char *
certificate_fingerprint (gnutls_x509_crt_t   crt,
                         GError            **error)
{
  gnutls_datum_t der = { NULL, 0 };
  char *fingerprint;

  if (tls_failed (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der), error,
                  "Cannot encode the certificate"))
    return NULL;
  fingerprint = mesh_agent_fingerprint_from_der (der.data, der.size);
  gnutls_free (der.data);
  return fingerprint;
}

static void
mesh_agent_identity_finalize (GObject *object)
{
  MeshAgentIdentity *self = MESH_AGENT_IDENTITY (object);

  g_clear_pointer (&self->key, gnutls_x509_privkey_deinit);
  g_clear_pointer (&self->crt, gnutls_x509_crt_deinit);
  g_clear_pointer (&self->fingerprint, g_free);

  G_OBJECT_CLASS (mesh_agent_identity_parent_class)->finalize (object);
}

static void
mesh_agent_identity_class_init (MeshAgentIdentityClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_agent_identity_finalize;
}

static void
mesh_agent_identity_init (MeshAgentIdentity *self)
{
}

/**
 * mesh_agent_identity_load_or_create:
 * @state_dir: the agent's state folder, created (mode 0700) when missing
 * @error: return location for an error
 *
 * Loads `identity.key` and `identity.crt` from @state_dir, or makes them on first run.  A
 * missing certificate is re-made from the existing key; a file that exists but cannot be
 * parsed is an error rather than silently replaced, since replacing it changes the
 * fingerprint every peer pins.
 */
MeshAgentIdentity *
mesh_agent_identity_load_or_create (const char  *state_dir,
                                    GError     **error)
{
  g_autoptr(MeshAgentIdentity) self = NULL;
  g_autofree char *key_path = NULL;
  g_autofree char *crt_path = NULL;
  g_autofree char *key_pem = NULL;
  g_autofree char *crt_pem = NULL;
  gsize key_len = 0, crt_len = 0;

  g_return_val_if_fail (state_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_mkdir_with_parents (state_dir, 0700) != 0) {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 "Cannot create the state folder %s: %s", state_dir, g_strerror (saved));
    return NULL;
  }

  self = g_object_new (MESH_TYPE_AGENT_IDENTITY, NULL);
  key_path = g_build_filename (state_dir, KEY_FILE, NULL);
  crt_path = g_build_filename (state_dir, CERT_FILE, NULL);

  if (!read_optional (key_path, &key_pem, &key_len, error) ||
      !read_optional (crt_path, &crt_pem, &crt_len, error))
    return NULL;

  if (key_pem == NULL) {
    if (!generate_key (&self->key, error) || !save_key (self->key, key_path, error))
      return NULL;
    g_clear_pointer (&crt_pem, g_free);
  } else if (!load_key (key_path, key_pem, key_len, &self->key, error)) {
    return NULL;
  }

  if (crt_pem == NULL) {
    if (!generate_certificate (self->key, &self->crt, error) ||
        !save_certificate (self->crt, crt_path, error))
      return NULL;
  } else {
    if (!load_certificate (crt_path, crt_pem, crt_len, &self->crt, error))
      return NULL;
    if (!key_matches_certificate (self->key, self->crt)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s does not belong to the key in %s", crt_path, key_path);
      return NULL;
    }
  }

  self->fingerprint = certificate_fingerprint (self->crt, error);
  if (self->fingerprint == NULL)
    return NULL;

  return g_steal_pointer (&self);
}

/* SHA-256 of the DER certificate in lower-case hex, 64 characters, no colons. */
const char *
mesh_agent_identity_get_fingerprint (MeshAgentIdentity *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_IDENTITY (self), NULL);

  return self->fingerprint;
}

/* Owned by @self. */
gnutls_x509_crt_t
mesh_agent_identity_get_certificate (MeshAgentIdentity *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_IDENTITY (self), NULL);

  return self->crt;
}

/* Owned by @self. */
gnutls_x509_privkey_t
mesh_agent_identity_get_private_key (MeshAgentIdentity *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_IDENTITY (self), NULL);

  return self->key;
}

/**
 * mesh_agent_identity_new_credentials:
 *
 * Returns: (transfer full): certificate credentials holding a copy of the identity, with no
 * trust store (peers are verified by fingerprint only); free with
 * gnutls_certificate_free_credentials().
 */
gnutls_certificate_credentials_t
mesh_agent_identity_new_credentials (MeshAgentIdentity  *self,
                                     GError            **error)
{
  gnutls_certificate_credentials_t cred = NULL;
  int rv;

  g_return_val_if_fail (MESH_IS_AGENT_IDENTITY (self), NULL);

  if (tls_failed (gnutls_certificate_allocate_credentials (&cred), error,
                  "Cannot allocate TLS credentials"))
    return NULL;
  rv = gnutls_certificate_set_x509_key (cred, &self->crt, 1, self->key);
  if (rv < 0) {
    gnutls_certificate_free_credentials (cred);
    tls_failed (rv, error, "Cannot load the identity into TLS credentials");
    return NULL;
  }
  return cred;
}

char *
mesh_agent_fingerprint_from_der (const guint8 *der,
                                 gsize         der_len)
{
  g_return_val_if_fail (der != NULL || der_len == 0, NULL);

  return mesh_sha256_hex (der, der_len);
}
