/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

static void
test_build_parse_round_trip (void)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autoptr(MeshEnvelope) env = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  const char *room_id;
  gsize len;

  json_object_set_string_member (payload, "room_id", "r1");
  json_object_set_string_member (payload, "content", "héllo \"quoted\" \\ back");
  text = mesh_envelope_build ("chat.message.send", "peer-a", "r1", payload, &len);
  g_assert_cmpuint (len, ==, strlen (text));

  env = mesh_envelope_parse (text, len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (env->type, ==, "chat.message.send");
  g_assert_cmpstr (env->from, ==, "peer-a");
  g_assert_cmpstr (env->to, ==, "r1");
  g_assert_true (mesh_id_is_valid (env->id));
  g_assert_true (mesh_timestamp_is_valid (env->timestamp));
  g_assert_true (mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, &error));
  g_assert_cmpstr (room_id, ==, "r1");
  g_assert_cmpstr (json_object_get_string_member (env->payload, "content"), ==,
                   "héllo \"quoted\" \\ back");
}

static void
test_build_defaults (void)
{
  g_autoptr(MeshEnvelope) env = mesh_envelope_new ("system.welcome", NULL, NULL, NULL);
  g_autoptr(JsonObject) root = NULL;
  g_autofree char *text = NULL;

  text = mesh_envelope_to_string (env, NULL);
  root = mesh_json_parse_object (text, -1, NULL);
  g_assert_nonnull (root);
  /* A server frame always says who sent it, and always has a payload. */
  g_assert_cmpstr (json_object_get_string_member (root, "from"), ==, "server");
  g_assert_true (json_object_has_member (root, "payload"));
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_object_get_member (root, "payload")));
  g_assert_false (json_object_has_member (root, "to"));
}

static void
test_parse_minimal (void)
{
  g_autoptr(MeshEnvelope) env = NULL;
  g_autoptr(GError) error = NULL;
  const char *text = "{\"type\":\"room.join\"}";

  env = mesh_envelope_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (env->type, ==, "room.join");
  g_assert_null (env->id);
  g_assert_nonnull (env->payload);
  g_assert_cmpuint (json_object_get_size (env->payload), ==, 0);
}

static void
test_parse_rejects (void)
{
  static const struct {
    const char *text;
    const char *needle;
  } cases[] = {
    { "", "empty" },
    { "not json", "invalid JSON" },
    { "{\"type\":", "invalid JSON" },
    { "[1,2,3]", "object" },
    { "\"just a string\"", "object" },
    { "{}", "type" },
    { "{\"type\":42}", "type" },
    { "{\"type\":\"\"}", "type" },
    { "{\"type\":null}", "type" },
    { "{\"type\":\"a\",\"payload\":[]}", "payload" },
    { "{\"type\":\"a\",\"payload\":\"x\"}", "payload" },
    { "{\"type\":\"a\",\"id\":7}", "id" },
    { "{\"type\":\"a\",\"to\":{}}", "to" },
    { "{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "type" },
  };

  g_autofree char *deep = g_strnfill (MESH_JSON_MAX_DEPTH + 1, '[');
  g_autofree char *deep_env = g_strdup_printf ("{\"type\":\"a\",\"payload\":{\"x\":%s}}", deep);
  g_autofree char *ok_env = g_strdup_printf ("{\"type\":\"a\",\"payload\":{\"x\":\"%s\"}}", deep);
  g_autoptr(GError) deep_error = NULL;
  g_autoptr(MeshEnvelope) deep_parsed = mesh_envelope_parse (deep_env, strlen (deep_env), &deep_error);
  g_autoptr(MeshEnvelope) ok_parsed = mesh_envelope_parse (ok_env, strlen (ok_env), NULL);

  /* Nesting is bounded before json-glib recurses; brackets in strings do
   * not count. */
  g_assert_null (deep_parsed);
  g_assert_error (deep_error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (deep_error->message, "nested"));
  g_assert_nonnull (ok_parsed);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshEnvelope) env = mesh_envelope_parse (cases[i].text, strlen (cases[i].text), &error);

    g_assert_null (env);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
    if (strstr (error->message, cases[i].needle) == NULL)
      g_error ("case %u (%s): '%s' does not name '%s'", i, cases[i].text, error->message,
               cases[i].needle);
  }
}

/* §3: the server overwrites `from`, and a client cannot know its peer_id
 * before system.welcome: no `from` is ever a reason to refuse a frame. */
static void
test_parse_any_from (void)
{
  static const char * const cases[] = {
    "{\"type\":\"system.hello\",\"from\":\"\"}",
    "{\"type\":\"system.hello\"}",
    "{\"type\":\"system.hello\",\"from\":null}",
    "{\"type\":\"system.hello\",\"from\":42}",
    "{\"type\":\"system.hello\",\"from\":{\"a\":1}}",
    "{\"type\":\"system.hello\",\"from\":[\"x\"]}",
    "{\"type\":\"system.hello\",\"from\":true}",
  };
  g_autofree char *long_from = g_strnfill (MESH_ENVELOPE_MAX_ID_LEN + 1, 'f');
  g_autofree char *long_text = g_strdup_printf ("{\"type\":\"a\",\"from\":\"%s\"}", long_from);
  g_autoptr(MeshEnvelope) long_env = mesh_envelope_parse (long_text, strlen (long_text), NULL);
  const char *kept = "{\"type\":\"a\",\"from\":\"peer-1\"}";
  g_autoptr(MeshEnvelope) kept_env = mesh_envelope_parse (kept, strlen (kept), NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshEnvelope) env = mesh_envelope_parse (cases[i], strlen (cases[i]), &error);

    g_assert_no_error (error);
    g_assert_nonnull (env);
    g_assert_cmpstr (env->type, ==, "system.hello");
    g_assert_null (env->from);
  }
  g_assert_nonnull (long_env);
  g_assert_null (long_env->from);
  g_assert_nonnull (kept_env);
  g_assert_cmpstr (kept_env->from, ==, "peer-1");
}

/* §3: `error` always carries payload.ref when the request's id was
 * readable, whatever else about the envelope is wrong. */
static void
test_parse_error_ref (void)
{
  static const struct {
    const char *text;
    const char *ref;
  } cases[] = {
    { "{\"id\":\"r1\",\"type\":\"a\",\"payload\":[]}", "r1" },
    { "{\"type\":\"a\",\"payload\":\"x\",\"id\":\"r2\"}", "r2" },
    { "{\"id\":\"r3\",\"type\":42}", "r3" },
    { "{\"id\":\"r4\"}", "r4" },
    { "{\"id\":\"r5\",\"type\":\"\"}", "r5" },
    { "{\"id\":\"r6\",\"type\":\"a\",\"to\":{}}", "r6" },
    { "{\"id\":\"r7\",\"type\":\"a\",\"timestamp\":5}", "r7" },
    { "{\"id\":\"r8\",\"type\":null,\"payload\":1}", "r8" },
    /* JSON that goes wrong after a readable id. */
    { "{\"id\":\"r9\",\"type\":\"a\"", "r9" },
    { "{\"id\":\"r10\",\"type\":\"a\",\"payload\":{'x':1}}", "r10" },
    { "{\"type\":\"a\",\"id\":\"r11\",\"payload\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
      "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "r11" },
    { "{\"i\\u0064\":\"r\\u0031\\u0032\",\"type\":'a'}", "r12" },
    { "{\"id\":\"r13\",\"type\":\"a\",\"id\":7,\"x\":'a'}", NULL },
    /* The id itself is unreadable: nothing to refer to. */
    { "{\"id\":7,\"type\":\"a\",\"payload\":[]}", NULL },
    { "{\"id\":\"\",\"type\":\"a\",\"payload\":[]}", NULL },
    { "{\"type\":'a',\"id\":\"r14\"}", NULL },
    { "{\"id\":'r15'}", NULL },
    { "[{\"id\":\"r16\"}]", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *ref = NULL;
    g_autoptr(MeshEnvelope) env = mesh_envelope_parse_full (cases[i].text, strlen (cases[i].text),
                                                            &ref, &error);

    g_assert_null (env);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
    if (g_strcmp0 (ref, cases[i].ref) != 0)
      g_error ("case %u (%s): ref '%s', expected '%s'", i, cases[i].text, ref, cases[i].ref);
  }
}

static void
test_parse_not_utf8 (void)
{
  g_autoptr(GError) error = NULL;
  const char text[] = "{\"type\":\"a\xff\"}";
  g_autoptr(MeshEnvelope) env = mesh_envelope_parse (text, sizeof text - 1, &error);

  g_assert_null (env);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
}

/* Found by fuzz/fuzz-envelope: json-glib 1.6 turns bad \\u escapes into
 * invalid UTF-8 instead of refusing them. */
static void
test_parse_bad_escapes (void)
{
  static const char * const cases[] = {
    "{\"type\":\"a\",\"payload\":{\"c\":\"h\\u00e\xce\xa3x\"}}",
    "{\"type\":\"a\",\"payload\":{\"c\":\"\\ud800\"}}",
    "{\"type\":\"a\",\"payload\":{\"\\u00e\xce\xa3\":1}}",
    "{\"type\":\"a\",\"payload\":{\"l\":[\"ok\",\"\\udc00x\"]}}",
  };
  g_autoptr(GError) nul_error = NULL;
  const char *nul = "{\"type\":\"a\",\"payload\":{\"content\":\"a\\u0000b\"}}";
  const char *not_nul = "{\"type\":\"a\",\"payload\":{\"content\":\"a\\\\u0000b\"}}";
  g_autoptr(MeshEnvelope) nul_env = mesh_envelope_parse (nul, strlen (nul), &nul_error);
  g_autoptr(MeshEnvelope) not_nul_env = mesh_envelope_parse (not_nul, strlen (not_nul), NULL);

  /* An escaped NUL would silently cut the string: refused.  An escaped
   * backslash followed by "u0000" is ordinary text. */
  g_assert_null (nul_env);
  g_assert_error (nul_error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_nonnull (not_nul_env);
  g_assert_cmpstr (json_object_get_string_member (not_nul_env->payload, "content"), ==, "a\\u0000b");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(MeshEnvelope) env = mesh_envelope_parse (cases[i], strlen (cases[i]), &error);

    if (env != NULL) {
      g_autofree char *again = mesh_envelope_to_string (env, NULL);

      /* Accepting is fine only if what comes out is valid UTF-8. */
      g_assert_true (g_utf8_validate (again, -1, NULL));
    } else {
      g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
    }
  }
}

static void
test_json_getters (void)
{
  g_autoptr(JsonObject) obj = mesh_json_parse_object (
    "{\"s\":\"x\",\"i\":5,\"f\":1.5,\"b\":true,\"o\":{},\"a\":[\"p\",\"q\"],\"bad\":[1]}", -1, NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) strv = NULL;
  const char *s;
  gint64 i;
  gboolean b;

  g_assert_true (mesh_json_get_string (obj, "s", TRUE, &s, &error));
  g_assert_cmpstr (s, ==, "x");
  g_assert_true (mesh_json_get_int (obj, "i", TRUE, &i, &error));
  g_assert_cmpint (i, ==, 5);
  g_assert_true (mesh_json_get_bool (obj, "b", TRUE, &b, &error));
  g_assert_true (b);
  g_assert_true (mesh_json_get_strv (obj, "a", TRUE, &strv, &error));
  g_assert_cmpstrv (strv, ((const char * const[]) { "p", "q", NULL }));
  g_assert_true (mesh_json_get_string (obj, "missing", FALSE, &s, &error));
  g_assert_null (s);

  g_assert_false (mesh_json_get_int (obj, "f", TRUE, &i, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, "'f'"));
  g_clear_error (&error);
  g_assert_false (mesh_json_get_string (obj, "i", TRUE, &s, &error));
  g_assert_nonnull (strstr (error->message, "'i'"));
  g_clear_error (&error);
  g_assert_false (mesh_json_get_string (obj, "missing", TRUE, &s, &error));
  g_assert_nonnull (strstr (error->message, "missing field 'missing'"));
  g_clear_error (&error);
  g_clear_pointer (&strv, g_strfreev);
  g_assert_false (mesh_json_get_strv (obj, "bad", TRUE, &strv, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
}

static void
test_ids (void)
{
  g_autofree char *a = mesh_id_new ();
  g_autofree char *b = mesh_id_new ();

  g_assert_true (mesh_id_is_valid (a));
  g_assert_cmpstr (a, !=, b);
  g_assert_cmpuint (strlen (a), ==, 36);
  /* Version 4, RFC 4122 variant. */
  g_assert_cmpint (a[14], ==, '4');
  g_assert_nonnull (strchr ("89ab", a[19]));
  g_assert_false (mesh_id_is_valid ("not-a-uuid"));
  g_assert_false (mesh_id_is_valid (NULL));
}

static void
test_timestamps (void)
{
  g_autofree char *fixed = mesh_timestamp_format (1700000000123456);
  g_autofree char *now = mesh_timestamp_now ();

  g_assert_cmpstr (fixed, ==, "2023-11-14T22:13:20.123Z");
  g_assert_true (mesh_timestamp_is_valid (now));
  g_assert_true (mesh_timestamp_is_valid (fixed));
  g_assert_false (mesh_timestamp_is_valid ("2023-11-14T22:13:20+01:00"));
  g_assert_false (mesh_timestamp_is_valid ("yesterday"));
  g_assert_false (mesh_timestamp_is_valid (NULL));
}

static void
test_tokens_and_fingerprints (void)
{
  g_autofree char *token = mesh_random_token (32);
  g_autofree char *other = mesh_random_token (32);
  g_autofree char *hex = mesh_sha256_hex ("abc", 3);

  /* 32 bytes in base64url without padding: 43 characters. */
  g_assert_cmpuint (strlen (token), ==, 43);
  g_assert_null (strpbrk (token, "+/="));
  g_assert_cmpstr (token, !=, other);
  g_assert_cmpstr (hex, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  g_assert_true (mesh_fingerprint_is_valid (hex));
  g_assert_false (mesh_fingerprint_is_valid ("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  g_assert_false (mesh_fingerprint_is_valid ("ba:78"));
  g_assert_false (mesh_fingerprint_is_valid (NULL));
}

static void
test_error_codes (void)
{
  MeshErrorCode code;

  g_assert_cmpstr (mesh_error_code_to_string (MESH_ERROR_CAP_REQUIRED), ==, "CAP_REQUIRED");
  g_assert_cmpstr (mesh_error_code_to_string (MESH_ERROR_VERSION_UNSUPPORTED), ==, "VERSION_UNSUPPORTED");
  g_assert_true (mesh_error_code_from_string ("ROOM_FULL", &code));
  g_assert_cmpint (code, ==, MESH_ERROR_ROOM_FULL);
  g_assert_false (mesh_error_code_from_string ("NOPE", &code));
  g_assert_cmpuint (mesh_error_code_http_status (MESH_ERROR_ROOM_FULL), ==, 409);
  g_assert_cmpuint (mesh_error_code_http_status (MESH_ERROR_UNAUTHORIZED), ==, 401);
  g_assert_cmpuint (mesh_error_code_http_status (MESH_ERROR_PAYLOAD_TOO_LARGE), ==, 413);
  g_assert_cmpuint (mesh_error_code_http_status (MESH_ERROR_RATE_LIMITED), ==, 429);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/unit/envelope/round-trip", test_build_parse_round_trip);
  g_test_add_func ("/mesh/unit/envelope/defaults", test_build_defaults);
  g_test_add_func ("/mesh/unit/envelope/minimal", test_parse_minimal);
  g_test_add_func ("/mesh/unit/envelope/rejects", test_parse_rejects);
  g_test_add_func ("/mesh/unit/envelope/not-utf8", test_parse_not_utf8);
  g_test_add_func ("/mesh/unit/envelope/any-from", test_parse_any_from);
  g_test_add_func ("/mesh/unit/envelope/error-ref", test_parse_error_ref);
  g_test_add_func ("/mesh/unit/envelope/bad-escapes", test_parse_bad_escapes);
  g_test_add_func ("/mesh/unit/json/getters", test_json_getters);
  g_test_add_func ("/mesh/unit/ids/uuid", test_ids);
  g_test_add_func ("/mesh/unit/ids/timestamps", test_timestamps);
  g_test_add_func ("/mesh/unit/ids/tokens", test_tokens_and_fingerprints);
  g_test_add_func ("/mesh/unit/error/codes", test_error_codes);

  return g_test_run ();
}
