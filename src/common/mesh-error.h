/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MESH_ERROR (mesh_error_quark ())

/* One code for each wire error code of protocol §8.  The wire name is the
 * code's name without the MESH_ERROR_ prefix ("CAP_REQUIRED", ...). */
typedef enum {
  MESH_ERROR_CAP_REQUIRED,
  MESH_ERROR_CAP_EXPIRED,
  MESH_ERROR_CAP_INVALID,
  MESH_ERROR_ROOM_NOT_FOUND,
  MESH_ERROR_ROOM_FULL,
  MESH_ERROR_FORBIDDEN,
  MESH_ERROR_P2P_SESSION_DENIED,
  MESH_ERROR_UNROUTABLE,
  MESH_ERROR_BAD_REQUEST,
  MESH_ERROR_UNAUTHORIZED,
  MESH_ERROR_RATE_LIMITED,
  MESH_ERROR_PAYLOAD_TOO_LARGE,
  MESH_ERROR_VERSION_UNSUPPORTED,
  MESH_ERROR_INTERNAL,
  MESH_ERROR_NOT_FOUND,
  MESH_ERROR_CONFLICT,
} MeshErrorCode;

GQuark        mesh_error_quark           (void);
const char   *mesh_error_code_to_string  (MeshErrorCode  code);
gboolean      mesh_error_code_from_string (const char    *name,
                                           MeshErrorCode *code);
guint         mesh_error_code_http_status (MeshErrorCode  code);
MeshErrorCode mesh_error_get_code        (const GError  *error);

G_END_DECLS
