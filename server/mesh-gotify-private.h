/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of MeshGotify share: mesh-gotify.c (targets, deliveries,
 * retries, the API), mesh-gotify-address.c (the checked addresses a request
 * may connect to) and mesh-gotify-request.c (URLs, the request, the answer
 * in words). */

#include "mesh-gotify.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-json.h"

#include <string.h>

G_BEGIN_DECLS

#define MAX_URL_BYTES         2048

/* A GNetworkAddress (so that TLS still checks the certificate against the
 * URL's host name) whose enumerators yield only checked addresses, and never
 * a proxy: a proxy would resolve the name itself. */
#define MESH_TYPE_CHECKED_ADDRESS (mesh_checked_address_get_type ())
G_DECLARE_FINAL_TYPE (MeshCheckedAddress, mesh_checked_address, MESH, CHECKED_ADDRESS,
                      GNetworkAddress)

struct _MeshCheckedAddress {
  GNetworkAddress  parent_instance;
  gboolean         allow_private;
  char            *refusal;       /* why the last lookup was refused, or NULL */
};

char        *gotify_truncate_utf8    (const char   *text,
                                     gsize         max_bytes);
SoupMessage *gotify_build_request    (const char   *url,
                                     const char   *token,
                                     const char   *title,
                                     const char   *message,
                                     gint64        priority,
                                     const char   *extras_json,
                                     GError      **error);
char        *gotify_describe_answer  (SoupMessage  *msg);

G_END_DECLS
