/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-json"

#include "config.h"

#include "mesh-error.h"
#include "mesh-json.h"
#include "mesh-json-scan.h"

#include <string.h>

static JsonNode *
get_member (JsonObject  *object,
            const char  *field,
            gboolean     required,
            GError     **error)
{
  JsonNode *node = json_object_get_member (object, field);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node)) {
    if (required)
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "missing field '%s'", field);
    return NULL;
  }
  return node;
}

static gboolean
wrong_type (const char  *field,
            const char  *expected,
            GError     **error)
{
  g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
               "field '%s' must be %s", field, expected);
  return FALSE;
}

gboolean
mesh_json_get_string (JsonObject  *object,
                      const char  *field,
                      gboolean     required,
                      const char **value,
                      GError     **error)
{
  JsonNode *node = get_member (object, field, required, error);

  *value = NULL;
  if (node == NULL)
    return !required;
  if (json_node_get_value_type (node) != G_TYPE_STRING)
    return wrong_type (field, "a string", error);
  *value = json_node_get_string (node);
  return TRUE;
}

gboolean
mesh_json_get_int (JsonObject  *object,
                   const char  *field,
                   gboolean     required,
                   gint64      *value,
                   GError     **error)
{
  JsonNode *node = get_member (object, field, required, error);

  if (node == NULL)
    return !required;
  /* json-glib parses integral numbers as gint64 and anything with a
   * fraction or exponent as double: only the first is an integer here. */
  if (json_node_get_value_type (node) != G_TYPE_INT64)
    return wrong_type (field, "an integer", error);
  *value = json_node_get_int (node);
  return TRUE;
}

gboolean
mesh_json_get_bool (JsonObject  *object,
                    const char  *field,
                    gboolean     required,
                    gboolean    *value,
                    GError     **error)
{
  JsonNode *node = get_member (object, field, required, error);

  if (node == NULL)
    return !required;
  if (json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return wrong_type (field, "a boolean", error);
  *value = json_node_get_boolean (node);
  return TRUE;
}

gboolean
mesh_json_get_object (JsonObject  *object,
                      const char  *field,
                      gboolean     required,
                      JsonObject **value,
                      GError     **error)
{
  JsonNode *node = get_member (object, field, required, error);

  *value = NULL;
  if (node == NULL)
    return !required;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return wrong_type (field, "an object", error);
  *value = json_node_get_object (node);
  return TRUE;
}

gboolean
mesh_json_get_array (JsonObject  *object,
                     const char  *field,
                     gboolean     required,
                     JsonArray  **value,
                     GError     **error)
{
  JsonNode *node = get_member (object, field, required, error);

  *value = NULL;
  if (node == NULL)
    return !required;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return wrong_type (field, "an array", error);
  *value = json_node_get_array (node);
  return TRUE;
}

gboolean
mesh_json_get_strv (JsonObject  *object,
                    const char  *field,
                    gboolean     required,
                    GStrv       *value,
                    GError     **error)
{
  g_autoptr(GPtrArray) strv = NULL;
  JsonArray *array;
  guint n;

  *value = NULL;
  if (!mesh_json_get_array (object, field, required, &array, error))
    return FALSE;
  if (array == NULL)
    return TRUE;

  n = json_array_get_length (array);
  strv = g_ptr_array_new_full (n + 1, g_free);
  for (guint i = 0; i < n; i++) {
    JsonNode *item = json_array_get_element (array, i);

    if (json_node_get_value_type (item) != G_TYPE_STRING)
      return wrong_type (field, "an array of strings", error);
    g_ptr_array_add (strv, g_strdup (json_node_get_string (item)));
  }
  g_ptr_array_add (strv, NULL);
  *value = (GStrv) g_ptr_array_free (g_steal_pointer (&strv), FALSE);
  return TRUE;
}

/* json-glib 1.6 accepts malformed escapes ("\u00e" followed by a non-hex
 * character, lone surrogates) and turns them into invalid UTF-8, which would
 * then fail (or be dropped) when sent on as a WebSocket text frame. */
static gboolean
node_is_valid_utf8 (JsonNode *node)
{
  switch (JSON_NODE_TYPE (node)) {
  case JSON_NODE_OBJECT: {
    JsonObjectIter iter;
    const char *name;
    JsonNode *member;

    json_object_iter_init (&iter, json_node_get_object (node));
    while (json_object_iter_next (&iter, &name, &member)) {
      if (!g_utf8_validate (name, -1, NULL) || !node_is_valid_utf8 (member))
        return FALSE;
    }
    return TRUE;
  }
  case JSON_NODE_ARRAY: {
    JsonArray *array = json_node_get_array (node);
    guint n = json_array_get_length (array);

    for (guint i = 0; i < n; i++) {
      if (!node_is_valid_utf8 (json_array_get_element (array, i)))
        return FALSE;
    }
    return TRUE;
  }
  case JSON_NODE_VALUE:
    return json_node_get_value_type (node) != G_TYPE_STRING ||
           g_utf8_validate (json_node_get_string (node), -1, NULL);
  case JSON_NODE_NULL:
  default:
    return TRUE;
  }
}

/* json-glib 1.6 recurses once per nesting level (as does
 * node_is_valid_utf8), accepts what JSON refuses (single-quoted strings,
 * comment blocks, in which any number of brackets hide from a scan that
 * only knows JSON), cuts strings at \u0000 and wraps integers past 64 bits.
 * The strict scan of mesh-json-scan.c runs first, so json-glib only ever
 * sees JSON that is shallow, complete and means what it says. */
JsonNode *
mesh_json_parse_full (const char         *data,
                      gssize              len,
                      guint               max_depth,
                      MeshJsonScanFlags   flags,
                      GError            **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  MeshJsonScanError problem = { NULL, 0 };
  JsonNode *root;

  if (len < 0)
    len = data ? (gssize) strlen (data) : 0;
  if (data == NULL || len == 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "empty body: expected JSON");
    return NULL;
  }
  if (!mesh_json_scan (data, len, max_depth, flags, NULL, NULL, &problem)) {
    if (g_str_equal (problem.problem, "nested too deeply"))
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "invalid JSON at byte %" G_GSIZE_FORMAT ": nested deeper than %u levels",
                   problem.offset, max_depth);
    else
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "invalid JSON at byte %" G_GSIZE_FORMAT ": %s", problem.offset, problem.problem);
    return NULL;
  }

  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, data, len, &local_error)) {
    g_autofree char *message = g_utf8_make_valid (local_error->message, -1);

    /* Valid JSON json-glib still refuses: a lone surrogate, when allowed. */
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "invalid JSON: %s", message);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "invalid JSON: empty document");
    return NULL;
  }
  /* The scan refused every escape json-glib would decode to invalid UTF-8;
   * this stays as a second line behind it. */
  if (!(flags & MESH_JSON_SCAN_LONE_SURROGATES) && !node_is_valid_utf8 (root)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "invalid JSON: a \\u escape is malformed or a lone surrogate");
    return NULL;
  }
  return json_node_ref (root);
}

JsonNode *
mesh_json_parse (const char  *data,
                 gssize       len,
                 GError     **error)
{
  return mesh_json_parse_full (data, len, MESH_JSON_MAX_DEPTH, MESH_JSON_SCAN_STRICT, error);
}

JsonObject *
mesh_json_parse_object (const char  *data,
                        gssize       len,
                        GError     **error)
{
  g_autoptr(JsonNode) root = mesh_json_parse (data, len, error);

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "expected a JSON object");
    return NULL;
  }
  return json_object_ref (json_node_get_object (root));
}

char *
mesh_json_to_string (JsonNode *node,
                     gsize    *len)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, len);
}

char *
mesh_json_object_to_string (JsonObject *object,
                            gsize      *len)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);

  return mesh_json_to_string (node, len);
}

/* The error body shared by REST answers and the WebSocket `error` payload. */
char *
mesh_json_error_body (const char *code,
                      const char *message,
                      const char *ref)
{
  g_autoptr(JsonObject) obj = json_object_new ();

  json_object_set_string_member (obj, "code", code);
  json_object_set_string_member (obj, "message", message);
  if (ref != NULL)
    json_object_set_string_member (obj, "ref", ref);
  return mesh_json_object_to_string (obj, NULL);
}
