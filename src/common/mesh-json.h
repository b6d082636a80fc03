/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "mesh-json-scan.h"

G_BEGIN_DECLS

/* Deeper JSON is refused: no message of the protocol nests past a few
 * levels, and json-glib parses recursively. */
#define MESH_JSON_MAX_DEPTH 64

/* Typed field access for untrusted JSON objects.  Each getter fails with
 * MESH_ERROR_BAD_REQUEST naming the field when it is missing (and required)
 * or of the wrong type. */
gboolean    mesh_json_get_string    (JsonObject   *object,
                                     const char   *field,
                                     gboolean      required,
                                     const char  **value,
                                     GError      **error);
gboolean    mesh_json_get_int       (JsonObject   *object,
                                     const char   *field,
                                     gboolean      required,
                                     gint64       *value,
                                     GError      **error);
gboolean    mesh_json_get_bool      (JsonObject   *object,
                                     const char   *field,
                                     gboolean      required,
                                     gboolean     *value,
                                     GError      **error);
gboolean    mesh_json_get_object    (JsonObject   *object,
                                     const char   *field,
                                     gboolean      required,
                                     JsonObject  **value,
                                     GError      **error);
gboolean    mesh_json_get_array     (JsonObject   *object,
                                     const char   *field,
                                     gboolean      required,
                                     JsonArray   **value,
                                     GError      **error);
gboolean    mesh_json_get_strv      (JsonObject   *object,
                                     const char   *field,
                                     gboolean      required,
                                     GStrv        *value,
                                     GError      **error);
/* Untrusted text to a tree: strict JSON (mesh-json-scan.h) at most
 * MESH_JSON_MAX_DEPTH deep, no \u0000, integers within 64 bits, valid
 * UTF-8; anything else is MESH_ERROR_BAD_REQUEST. */
JsonNode   *mesh_json_parse         (const char   *data,
                                     gssize        len,
                                     GError      **error);
/* The same with another depth bound and scan flags (the legacy relay). */
JsonNode   *mesh_json_parse_full    (const char        *data,
                                     gssize             len,
                                     guint              max_depth,
                                     MeshJsonScanFlags  flags,
                                     GError           **error);
JsonObject *mesh_json_parse_object  (const char   *data,
                                     gssize        len,
                                     GError      **error);
char       *mesh_json_to_string     (JsonNode     *node,
                                     gsize        *len);
char       *mesh_json_object_to_string (JsonObject *object,
                                        gsize      *len);
char       *mesh_json_error_body    (const char   *code,
                                     const char   *message,
                                     const char   *ref);

G_END_DECLS
