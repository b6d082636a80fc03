/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for the strict JSON scanner (mesh-json-scan.c) that runs
 * before json-glib: whatever it accepts, json-glib must parse into a tree
 * that is valid UTF-8 and no deeper than the bound, and mesh_json_parse must
 * agree with it.  The relay's lenient flags must accept a superset. */
#include "config.h"

#include "mesh-error.h"
#include "mesh-json.h"
#include "mesh-json-scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint
node_depth (JsonNode *node)
{
  guint deepest = 0;

  if (JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObjectIter iter;
    const char *name;
    JsonNode *member;

    json_object_iter_init (&iter, json_node_get_object (node));
    while (json_object_iter_next (&iter, &name, &member)) {
      guint depth = node_depth (member);

      g_assert_true (g_utf8_validate (name, -1, NULL));
      deepest = MAX (deepest, depth);
    }
    return deepest + 1;
  }
  if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *array = json_node_get_array (node);

    for (guint i = 0; i < json_array_get_length (array); i++) {
      guint depth = node_depth (json_array_get_element (array, i));

      deepest = MAX (deepest, depth);
    }
    return deepest + 1;
  }
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    g_assert_true (g_utf8_validate (json_node_get_string (node), -1, NULL));
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const char *text = (const char *) data;
  MeshJsonScanError problem = { NULL, 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) parsed = NULL;
  gboolean strict, lenient;

  strict = mesh_json_scan (text, size, MESH_JSON_MAX_DEPTH, MESH_JSON_SCAN_STRICT, NULL, NULL,
                           &problem);
  if (!strict) {
    g_assert_nonnull (problem.problem);
    g_assert_cmpuint (problem.offset, <=, size);
  }
  lenient = mesh_json_scan (text, size, MESH_JSON_MAX_DEPTH, MESH_JSON_SCAN_LONE_SURROGATES,
                            NULL, NULL, NULL);
  if (strict)
    g_assert_true (lenient);

  /* Accepted ⇒ json-glib parses it, as valid UTF-8, within the bound. */
  if (strict) {
    g_autoptr(JsonParser) parser = json_parser_new ();
    g_autoptr(GError) glib_error = NULL;
    JsonNode *root;

    if (!json_parser_load_from_data (parser, text, size, &glib_error)) {
      g_printerr ("scanner accepted, json-glib refused: %s\n", glib_error->message);
      abort ();
    }
    root = json_parser_get_root (parser);
    g_assert_nonnull (root);
    g_assert_cmpuint (node_depth (root), <=, MESH_JSON_MAX_DEPTH);

    /* What json-glib writes back (a frame carried on to other peers) is
     * strict JSON again. */
    {
      g_autofree char *again = json_to_string (root, FALSE);

      if (!mesh_json_scan (again, strlen (again), MESH_JSON_MAX_DEPTH, MESH_JSON_SCAN_STRICT,
                           NULL, NULL, &problem)) {
        g_printerr ("written back as non-JSON (%s at %" G_GSIZE_FORMAT "): %s\n",
                    problem.problem, problem.offset, again);
        abort ();
      }
    }
  }

  /* mesh_json_parse is the scan, then json-glib: the same verdict. */
  parsed = mesh_json_parse (text, size, &error);
  if (size > 0)
    g_assert_true ((parsed != NULL) == strict);
  if (parsed == NULL)
    g_assert_true (error->domain == MESH_ERROR && error->code == MESH_ERROR_BAD_REQUEST);
  return 0;
}
