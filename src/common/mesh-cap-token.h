/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* Capability tokens of protocol §4: ES256 JWTs signed by the server's key. */

#define MESH_CAP_CALL             "call"
#define MESH_CAP_SCREENSHARE      "screenshare"
#define MESH_CAP_FILE             "file"
#define MESH_CAP_FOLDER           "folder"
#define MESH_CAP_TERMINAL_VIEW    "terminal:view"
#define MESH_CAP_TERMINAL_CONTROL "terminal:control"

#define MESH_CAP_DEFAULT_TTL 120
#define MESH_CAP_MAX_TTL     300
/* Longer strings are refused before any parsing. */
#define MESH_CAP_MAX_TOKEN_LEN 4096

typedef struct {
  char   *sub;               /* user_id */
  char   *room_id;
  GStrv   caps;
  gint64  iat;               /* seconds since the epoch */
  gint64  exp;
  char   *jti;
  char   *target_peer_id;    /* NULL when the token names none */
  char   *target_device_id;  /* NULL when the token names none */
  gint64  max_size;          /* -1 when absent */
  gint64  max_rate;          /* -1 when absent */
} MeshCapClaims;

MeshCapClaims *mesh_cap_claims_new      (void);
MeshCapClaims *mesh_cap_claims_copy     (const MeshCapClaims *claims);
void           mesh_cap_claims_free     (MeshCapClaims       *claims);
gboolean       mesh_cap_claims_has_cap  (const MeshCapClaims *claims,
                                         const char          *cap);
gboolean       mesh_cap_is_known        (const char          *cap);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshCapClaims, mesh_cap_claims_free)

/* A MeshCapKey is not thread-safe: every verification updates its cache.
 * Use one per thread. */
#define MESH_TYPE_CAP_KEY (mesh_cap_key_get_type ())
G_DECLARE_FINAL_TYPE (MeshCapKey, mesh_cap_key, MESH, CAP_KEY, GObject)

/* Loads the ES256 (P-256) private key kept at @path, or creates it (mode
 * 0600) when the file does not exist. */
MeshCapKey    *mesh_cap_key_load_or_create (const char     *path,
                                            GError        **error);
/* A verify-only key from a public key PEM (what GET /api/v1/keys serves). */
MeshCapKey    *mesh_cap_key_new_public     (const char     *public_key_pem,
                                            GError        **error);
const char    *mesh_cap_key_get_public_pem (MeshCapKey     *self);
gboolean       mesh_cap_key_can_sign       (MeshCapKey     *self);
/* How many signatures @self has checked: verifications the cache did not
 * answer (statistics, and tests of the cache). */
guint          mesh_cap_key_get_verify_count (MeshCapKey   *self);

/* Signs @claims (iat, exp and jti are filled in by the caller). */
char          *mesh_cap_key_sign           (MeshCapKey          *self,
                                            const MeshCapClaims *claims,
                                            GError             **error);

/* Checks signature (ES256 only: any other alg, "none" included, is refused),
 * and that `exp` is an integer in the future.  Does not check room, caps or
 * target (see mesh_cap_key_check).  Errors: MESH_ERROR_CAP_INVALID,
 * MESH_ERROR_CAP_EXPIRED.  Verified tokens are cached until they expire so a
 * stream of messages with the same token pays one ECDSA verification.
 * @now is seconds since the epoch (pass 0 for the current time). */
MeshCapClaims *mesh_cap_key_verify         (MeshCapKey     *self,
                                            const char     *token,
                                            gint64          now,
                                            GError        **error);

/* Full check of §3.4/§5: verify, then `room_id` equals @room_id, `caps`
 * contains @cap, and a target named by the token equals the given one
 * (@target_peer_id / @target_device_id may be NULL when the use has no such
 * target; then a token naming one is refused).  A NULL or empty @token is
 * MESH_ERROR_CAP_REQUIRED.  Returns claims owned by the cache, valid until
 * the next call on @self: copy them to keep them. */
const MeshCapClaims *mesh_cap_key_check   (MeshCapKey     *self,
                                            const char     *token,
                                            const char     *room_id,
                                            const char     *cap,
                                            const char     *target_peer_id,
                                            const char     *target_device_id,
                                            gint64          now,
                                            GError        **error);

G_END_DECLS
