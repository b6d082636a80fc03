/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-error"

#include "config.h"

#include "mesh-error.h"

static const struct {
  const char *name;
  guint       http_status;
} codes[] = {
  [MESH_ERROR_CAP_REQUIRED]        = { "CAP_REQUIRED", 403 },
  [MESH_ERROR_CAP_EXPIRED]         = { "CAP_EXPIRED", 403 },
  [MESH_ERROR_CAP_INVALID]         = { "CAP_INVALID", 403 },
  [MESH_ERROR_ROOM_NOT_FOUND]      = { "ROOM_NOT_FOUND", 404 },
  [MESH_ERROR_ROOM_FULL]           = { "ROOM_FULL", 409 },
  [MESH_ERROR_FORBIDDEN]           = { "FORBIDDEN", 403 },
  [MESH_ERROR_P2P_SESSION_DENIED]  = { "P2P_SESSION_DENIED", 403 },
  [MESH_ERROR_UNROUTABLE]          = { "UNROUTABLE", 404 },
  [MESH_ERROR_BAD_REQUEST]         = { "BAD_REQUEST", 400 },
  [MESH_ERROR_UNAUTHORIZED]        = { "UNAUTHORIZED", 401 },
  [MESH_ERROR_RATE_LIMITED]        = { "RATE_LIMITED", 429 },
  [MESH_ERROR_PAYLOAD_TOO_LARGE]   = { "PAYLOAD_TOO_LARGE", 413 },
  [MESH_ERROR_VERSION_UNSUPPORTED] = { "VERSION_UNSUPPORTED", 400 },
  [MESH_ERROR_INTERNAL]            = { "INTERNAL", 500 },
  /* Not in the §8 list of WebSocket codes, but REST needs them for unknown
   * resources (an invite code) and for conflicts the §8 codes do not name. */
  [MESH_ERROR_NOT_FOUND]           = { "NOT_FOUND", 404 },
  [MESH_ERROR_CONFLICT]            = { "CONFLICT", 409 },
};

G_DEFINE_QUARK (mesh-error-quark, mesh_error)

const char *
mesh_error_code_to_string (MeshErrorCode code)
{
  if ((guint) code >= G_N_ELEMENTS (codes))
    return "INTERNAL";
  return codes[code].name;
}

gboolean
mesh_error_code_from_string (const char    *name,
                             MeshErrorCode *code)
{
  g_return_val_if_fail (code != NULL, FALSE);

  if (name == NULL)
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++) {
    if (g_str_equal (codes[i].name, name)) {
      *code = (MeshErrorCode) i;
      return TRUE;
    }
  }
  return FALSE;
}

guint
mesh_error_code_http_status (MeshErrorCode code)
{
  if ((guint) code >= G_N_ELEMENTS (codes))
    return 500;
  return codes[code].http_status;
}

/* Any error that is not ours (an I/O or SQLite failure) is INTERNAL. */
MeshErrorCode
mesh_error_get_code (const GError *error)
{
  if (error == NULL || error->domain != MESH_ERROR)
    return MESH_ERROR_INTERNAL;
  return (MeshErrorCode) error->code;
}
