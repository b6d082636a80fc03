/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A strict RFC 8259 validator that runs before json-glib sees untrusted
 * text.  json-glib 1.6 parses recursively and also accepts what JSON
 * refuses (single-quoted strings, comment blocks, leading zeros, hex
 * numbers, raw control characters and unknown escapes in strings, trailing
 * data), so a scan that only knows JSON's own grammar cannot bound nesting:
 * 500 000 levels hide inside a single-quoted string or a comment.  This
 * scanner accepts exactly JSON, one value, and counts nesting as it goes. */

typedef enum {
  MESH_JSON_SCAN_DEFAULT         = 0,
  /* A \u escape of a lone surrogate (JavaScript's JSON.stringify writes
   * them) is accepted; otherwise it is refused. */
  MESH_JSON_SCAN_LONE_SURROGATES = 1 << 0,
  /* \u0000 is refused: json-glib 1.6 cuts a string there. */
  MESH_JSON_SCAN_NO_NUL          = 1 << 1,
  /* An integer (no fraction, no exponent) must fit in gint64: json-glib
   * 1.6 wraps larger ones silently (18446744073709551615 reads as -1). */
  MESH_JSON_SCAN_INT64           = 1 << 2,
  /* A number with a fraction or an exponent must be a double json-glib 1.6
   * can write back as JSON, into every frame that carries the value on: it
   * writes 1e400 (infinity) as `inf.0` and 1e17 as `1e+17.0`. */
  MESH_JSON_SCAN_FINITE          = 1 << 3,
} MeshJsonScanFlags;

/* What mesh_json_parse() asks for. */
#define MESH_JSON_SCAN_STRICT (MESH_JSON_SCAN_NO_NUL | MESH_JSON_SCAN_INT64 | MESH_JSON_SCAN_FINITE)

typedef enum {
  MESH_JSON_KIND_STRING,
  MESH_JSON_KIND_NUMBER,
  MESH_JSON_KIND_LITERAL,       /* true, false, null */
  MESH_JSON_KIND_OBJECT,
  MESH_JSON_KIND_ARRAY,
} MeshJsonKind;

/* A token as it is in the text. */
typedef struct {
  MeshJsonKind  kind;
  const char   *text;           /* strings: between the quotes, escapes and all */
  gsize         len;            /* containers: 1 (the opening bracket) */
  gboolean      escaped;        /* a string with escapes: @text is not its value */
  gboolean      nul;            /* a string holding \u0000 */
} MeshJsonToken;

/* Called for each member of an object, once its value's first token is
 * known (a whole scalar, or a container's opening bracket).  @depth is the
 * object's depth: 1 for a top-level object. */
typedef void (*MeshJsonMemberFunc) (guint                depth,
                                    const MeshJsonToken *key,
                                    const MeshJsonToken *value,
                                    gpointer             user_data);

typedef struct {
  const char *problem;          /* static text */
  gsize       offset;           /* byte where the problem is */
} MeshJsonScanError;

/* TRUE when @data is exactly one JSON value (whitespace around it allowed)
 * nested at most @max_depth containers deep, in valid UTF-8.  On failure
 * @error (may be NULL) says what and where. */
gboolean mesh_json_scan (const char         *data,
                         gsize               len,
                         guint               max_depth,
                         MeshJsonScanFlags   flags,
                         MeshJsonMemberFunc  member_func,
                         gpointer            user_data,
                         MeshJsonScanError  *error);

G_END_DECLS
