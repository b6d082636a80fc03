/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ids"

#include "config.h"

#include "mesh-ids.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

/* A random (version 4) UUID, lower case: the form of every server-made id. */
char *
mesh_id_new (void)
{
  return g_uuid_string_random ();
}

gboolean
mesh_id_is_valid (const char *id)
{
  return id != NULL && g_uuid_string_is_valid (id);
}

/* ISO-8601 in UTC with milliseconds, e.g. "2026-11-22T04:13:43.123Z". */
char *
mesh_timestamp_format (gint64 unix_usec)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (unix_usec / G_USEC_PER_SEC);
  g_autofree char *base = NULL;

  if (dt == NULL)
    return NULL;
  base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%03dZ", base, (int) ((unix_usec % G_USEC_PER_SEC) / 1000));
}

char *
mesh_timestamp_now (void)
{
  return mesh_timestamp_format (g_get_real_time ());
}

gboolean
mesh_timestamp_is_valid (const char *timestamp)
{
  g_autoptr(GDateTime) dt = NULL;
  gsize len;

  if (timestamp == NULL)
    return FALSE;
  len = strlen (timestamp);
  /* Only the UTC form we emit: an explicit "Z" and no offset. */
  if (len < 20 || timestamp[len - 1] != 'Z')
    return FALSE;
  dt = g_date_time_new_from_iso8601 (timestamp, NULL);
  return dt != NULL;
}

/* n_bytes of cryptographic randomness, base64url without padding. */
char *
mesh_random_token (gsize n_bytes)
{
  g_autofree guint8 *buf = g_malloc (n_bytes);
  g_autofree char *b64 = NULL;
  GString *out;

  if (gnutls_rnd (GNUTLS_RND_KEY, buf, n_bytes) != 0)
    g_error ("The system's random source failed");

  b64 = g_base64_encode (buf, n_bytes);
  out = g_string_new (NULL);
  for (const char *p = b64; *p != '\0'; p++) {
    if (*p == '+')
      g_string_append_c (out, '-');
    else if (*p == '/')
      g_string_append_c (out, '_');
    else if (*p != '=')
      g_string_append_c (out, *p);
  }
  return g_string_free (out, FALSE);
}

char *
mesh_sha256_hex (const void *data,
                 gsize       len)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}

/* SHA-256 in lower-case hex without colons: 64 characters. */
gboolean
mesh_fingerprint_is_valid (const char *fingerprint)
{
  if (fingerprint == NULL || strlen (fingerprint) != 64)
    return FALSE;
  for (const char *p = fingerprint; *p != '\0'; p++) {
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  }
  return TRUE;
}
