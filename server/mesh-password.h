/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Slow salted password hashing: PBKDF2-HMAC-SHA256 (GnuTLS), kept as
 * "pbkdf2-sha256$<rounds>$<salt base64>$<hash base64>" so that the round
 * count can grow later without invalidating stored passwords.  600 000
 * rounds is OWASP's 2023 advice for PBKDF2-SHA256 (about 0.1 s on one core
 * of the target machine). */
#define MESH_PASSWORD_ROUNDS     600000
#define MESH_PASSWORD_SALT_LEN   16
#define MESH_PASSWORD_HASH_LEN   32

/* These functions touch no shared state: they may run in a worker thread. */
char     *mesh_password_hash         (const char *password,
                                      GError    **error);
/* Constant-time check of @password against @encoded.  @needs_rehash (may
 * be NULL) is set when @encoded uses fewer rounds than the current ones.
 * A malformed @encoded never matches. */
gboolean  mesh_password_verify       (const char *password,
                                      const char *encoded,
                                      gboolean   *needs_rehash);
/* The work of one verification at the current rounds, for callers that have
 * no hash to compare with (an unknown user): the answer time does not tell
 * whether the user exists. */
void      mesh_password_verify_dummy (const char *password);

G_END_DECLS
