/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mesh_json_parse and the strict scanner under it (mesh-json-scan.c). */
#include "config.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-json.h"
#include "mesh-json-scan.h"

#include <string.h>

#define HIDDEN_LEVELS 500000

static void
assert_refused (const char *text,
                gsize       len,
                const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = mesh_json_parse (text, len, &error);

  if (node != NULL)
    g_error ("accepted: %.*s", (int) MIN (len, 200), text);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  if (needle != NULL && strstr (error->message, needle) == NULL)
    g_error ("'%.*s': '%s' does not name '%s'", (int) MIN (len, 200), text, error->message, needle);
}

/* @prefix, then @levels times "[" and "]", then @suffix. */
static char *
hidden_nesting (const char *prefix,
                guint       levels,
                const char *suffix)
{
  GString *text = g_string_new (prefix);

  for (guint i = 0; i < levels; i++)
    g_string_append_c (text, '[');
  for (guint i = 0; i < levels; i++)
    g_string_append_c (text, ']');
  g_string_append (text, suffix);
  return g_string_free (text, FALSE);
}

/* json-glib 1.6 reads single-quoted strings and comment blocks, in which a
 * double quote starts nothing: a scan that only knows double-quoted strings
 * believes the nesting between two of them is text, json-glib recurses
 * through it and the stack overflows. */
static void
test_hidden_nesting (void)
{
  static const struct {
    const char *prefix;
    const char *suffix;
  } cases[] = {
    /* single quotes, in values */
    { "['\"',", ",'\"']" },
    /* comments */
    { "[/*\"*/", "/*\"*/]" },
    { "/*\"*/", "/*\"*/" },
    /* single quotes, in keys */
    { "{'\"':", ",'\"':1}" },
    /* mixed: a single-quoted key, comments around the value */
    { "{'x':/*\"*/", "/*\"*/}" },
    /* an envelope, as the server and the agent get it */
    { "{\"type\":\"system.hello\",\"payload\":{\"peer_type\":'\"',\"x\":", "},\"y\":'\"'}" },
    { "{\"type\":\"system.hello\",\"payload\":{\"x\":/*\"*/", "/*\"*/}}" },
    { "{\"t\":\"TERM_RESIZE\",'\"':", ",\"c\":'\"'}" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *text = hidden_nesting (cases[i].prefix, HIDDEN_LEVELS, cases[i].suffix);
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshEnvelope) env = NULL;

    assert_refused (text, strlen (text), "invalid JSON");
    env = mesh_envelope_parse (text, strlen (text), &error);
    g_assert_null (env);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  }
}

/* What json-glib 1.6 takes and JSON does not. */
static void
test_refuses_non_json (void)
{
  static const struct {
    const char *text;
    const char *needle;
  } cases[] = {
    { "{'a':1}", "double quotes" },
    { "['x']", "double quotes" },
    { "{\"a\":'x'}", "double quotes" },
    { "{\"a\":1 /* c */}", "comments" },
    { "[1]/* c */", "comments" },
    { "/* c */[1]", "comments" },
    { "[/*]*/1]", "comments" },
    { "[1 // c\n]", "comments" },
    { "[1,]", "comma" },
    { "{\"a\":1,}", "comma" },
    { "[,1]", NULL },
    { "[01]", "leading zero" },
    { "[-01]", "leading zero" },
    { "[00]", "leading zero" },
    { "[1.]", "number" },
    { "[.5]", NULL },
    { "[+1]", NULL },
    { "[0x10]", NULL },
    { "[- 1]", "number" },
    { "[1e]", "number" },
    { "[NaN]", NULL },
    { "[Infinity]", NULL },
    { "[foo]", NULL },
    { "[TRUE]", NULL },
    { "[truex]", NULL },
    { "{a:1}", "member name" },
    { "[1] [2]", "after the value" },
    { "[1] x", "after the value" },
    { "{\"a\":1}\n}", "after the value" },
    { "\xef\xbb\xbf[1]", NULL },
    { "[\"a\tb\"]", "control character" },
    { "[\"a\nb\"]", "control character" },
    { "[\"a\x01\"]", "control character" },
    { "[\"\\x41\"]", "escape" },
    { "[\"\\'\"]", "escape" },
    { "[\"\\u00eZ\"]", "four hex" },
    { "[\"\\u12\"]", "four hex" },
    { "[\"\\ud800\"]", "surrogate" },
    { "[\"\\ud800x\"]", "surrogate" },
    { "[\"\\udc00abc\"]", "surrogate" },
    { "[\"\\ud800\\u0041\"]", "surrogate" },
    { "[\"\\uD800\\uD800\"]", "surrogate" },
    { "[\"a\\u0000b\"]", "\\u0000" },
    { "{\"a\\u0000\":1}", "\\u0000" },
    { "[12345678901234567890]", "64-bit" },
    { "[9223372036854775808]", "64-bit" },
    { "[-9223372036854775809]", "64-bit" },
    { "[100000000000000000000000000000000000000000000000000]", "64-bit" },
    { "[1e400]", "too large" },
    { "[-1.5e+309]", "too large" },
    { "{\"a\":1.8e308}", "too large" },
    { "[40e40]", "write back" },
    { "[1e17]", "write back" },
    { "[-1E+22]", "write back" },
    { "[\"unterminated]", "unterminated" },
    { "[\"\xff\"]", "UTF-8" },
    { "[\"\xc0\x80\"]", "UTF-8" },
    { "[\"\xed\xa0\x80\"]", "UTF-8" },
    { "[\"\xf4\x90\x80\x80\"]", "UTF-8" },
    { "[\"\xe2\x82\"]", "UTF-8" },
    { " ", "empty" },
    { "[", "end" },
    { "{\"a\"}", "':'" },
    { "{\"a\":1 \"b\":2}", "','" },
    { "[1 2]", "','" },
    { "[\v1]", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    assert_refused (cases[i].text, strlen (cases[i].text), cases[i].needle);
  /* A NUL byte is not whitespace, inside a string or after the value. */
  assert_refused ("[\"a\0b\"]", 7, NULL);
  assert_refused ("[1]\0", 4, NULL);
}

static void
test_accepts_json (void)
{
  static const char *const cases[] = {
    "{\"a\":[1,-0,0,1.5e3,-1E-2,0.5e+1,true,false,null,\"\",{}],\"\":[]}",
    "\"a string\"",
    " \t\r\n1 \n",
    "[\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\\uFFFF\"]",
    "[\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"]",
    "[9223372036854775807,-9223372036854775808,12345678901234567890.0,1.7976931348623157e308]",
    "[1e-400,-0.0,0e0,1.5e20,1e16,1e-7,5e-324]",
    "{\"a\":1,\"a\":2}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = mesh_json_parse (cases[i], -1, &error);

    g_assert_no_error (error);
    g_assert_nonnull (node);
  }

  /* The values are json-glib's, unchanged by the scan. */
  {
    g_autoptr(JsonObject) obj = mesh_json_parse_object ("{\"n\":-9223372036854775808,"
                                                        "\"s\":\"\\ud83d\\ude00\"}", -1, NULL);

    g_assert_nonnull (obj);
    g_assert_cmpint (json_object_get_int_member (obj, "n"), ==, G_MININT64);
    g_assert_cmpstr (json_object_get_string_member (obj, "s"), ==, "\xf0\x9f\x98\x80");
  }
}

static void
test_depth (void)
{
  g_autofree char *ok = hidden_nesting ("", MESH_JSON_MAX_DEPTH, "");
  g_autofree char *deep = hidden_nesting ("", MESH_JSON_MAX_DEPTH + 1, "");
  g_autofree char *objects = NULL;
  GString *text = g_string_new (NULL);
  g_autoptr(JsonNode) node = mesh_json_parse (ok, -1, NULL);

  g_assert_nonnull (node);
  assert_refused (deep, strlen (deep), "nested deeper than 64");

  for (guint i = 0; i <= MESH_JSON_MAX_DEPTH; i++)
    g_string_append (text, "{\"a\":");
  g_string_append (text, "1");
  for (guint i = 0; i <= MESH_JSON_MAX_DEPTH; i++)
    g_string_append_c (text, '}');
  objects = g_string_free (text, FALSE);
  assert_refused (objects, strlen (objects), "nested");

  /* Brackets in strings are text. */
  {
    g_autofree char *in_string = g_strdup_printf ("[\"%s\"]", deep);
    g_autoptr(JsonNode) again = mesh_json_parse (in_string, -1, NULL);

    g_assert_nonnull (again);
  }
}

typedef struct {
  GPtrArray *seen;
} Members;

static void
member_cb (guint                depth,
           const MeshJsonToken *key,
           const MeshJsonToken *value,
           gpointer             user_data)
{
  Members *members = user_data;

  g_ptr_array_add (members->seen, g_strdup_printf ("%u:%.*s=%d:%.*s%s%s", depth, (int) key->len,
                                                   key->text, value->kind, (int) value->len,
                                                   value->text, value->escaped ? ":esc" : "",
                                                   value->nul ? ":nul" : ""));
}

/* The legacy relay reads top-level members from the scan itself. */
static void
test_scan_members (void)
{
  const char *text = "{\"to\":\"b\",\"n\":-1.5,\"o\":{\"x\":[true]},\"e\":\"a\\u0000\",\"l\":null}";
  Members members = { g_ptr_array_new_with_free_func (g_free) };
  MeshJsonScanError error = { NULL, 0 };

  g_assert_true (mesh_json_scan (text, strlen (text), 8, MESH_JSON_SCAN_DEFAULT, member_cb,
                                 &members, &error));
  g_assert_cmpuint (members.seen->len, ==, 6);
  g_assert_cmpstr (members.seen->pdata[0], ==, "1:to=0:b");
  g_assert_cmpstr (members.seen->pdata[1], ==, "1:n=1:-1.5");
  g_assert_cmpstr (members.seen->pdata[2], ==, "1:o=3:{");
  g_assert_cmpstr (members.seen->pdata[3], ==, "2:x=4:[");
  g_assert_cmpstr (members.seen->pdata[4], ==, "1:e=0:a\\u0000:esc:nul");
  g_assert_cmpstr (members.seen->pdata[5], ==, "1:l=2:null");
  g_ptr_array_unref (members.seen);

  /* Where and what. */
  g_assert_false (mesh_json_scan ("{\"a\":'x'}", 9, 8, 0, NULL, NULL, &error));
  g_assert_cmpuint (error.offset, ==, 5);
  g_assert_nonnull (strstr (error.problem, "double quotes"));

  /* Lone surrogates when asked for (JavaScript writes them), never bad hex. */
  g_assert_true (mesh_json_scan ("[\"\\ud800x\"]", 11, 8, MESH_JSON_SCAN_LONE_SURROGATES,
                                 NULL, NULL, NULL));
  g_assert_false (mesh_json_scan ("[\"\\ud800x\"]", 11, 8, 0, NULL, NULL, NULL));
  g_assert_false (mesh_json_scan ("[\"\\ud80x\"]", 10, 8, MESH_JSON_SCAN_LONE_SURROGATES,
                                  NULL, NULL, NULL));
  /* Deep bounds take a heap stack. */
  {
    g_autofree char *deep = hidden_nesting ("", 5000, "");

    g_assert_true (mesh_json_scan (deep, strlen (deep), 5000, 0, NULL, NULL, NULL));
    g_assert_false (mesh_json_scan (deep, strlen (deep), 4999, 0, NULL, NULL, NULL));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mesh/unit/json/hidden-nesting", test_hidden_nesting);
  g_test_add_func ("/mesh/unit/json/refuses-non-json", test_refuses_non_json);
  g_test_add_func ("/mesh/unit/json/accepts-json", test_accepts_json);
  g_test_add_func ("/mesh/unit/json/depth", test_depth);
  g_test_add_func ("/mesh/unit/json/scan-members", test_scan_members);
  return g_test_run ();
}
