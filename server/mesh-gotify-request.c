/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-gotify"

#include "config.h"

#include "mesh-gotify-private.h"

char *
mesh_gotify_message_url (const char  *base,
                         GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *scheme;
  gsize len;

  if (base == NULL || base[0] == '\0' || strlen (base) > MAX_URL_BYTES) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "field 'url' must be an http or https URL of at most %d bytes", MAX_URL_BYTES);
    return NULL;
  }
  uri = g_uri_parse (base, G_URI_FLAGS_ENCODED, &local_error);
  if (uri == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "field 'url' is not a URL: %s",
                 local_error->message);
    return NULL;
  }
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "field 'url' must use http or https, not '%s'", scheme);
    return NULL;
  }
  if (g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0') {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "field 'url' has no host");
    return NULL;
  }
  /* Credentials in a URL end up in logs; the token goes in X-Gotify-Key. */
  if (g_uri_get_userinfo (uri) != NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "field 'url' must not hold a user name or password");
    return NULL;
  }
  /* A `?token=` would also win over the header in Gotify's lookup order. */
  if (g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "field 'url' must not have a query or a fragment "
                         "(the token goes in the 'token' field)");
    return NULL;
  }

  len = strlen (base);
  while (len > 0 && base[len - 1] == '/')
    len--;
  return g_strdup_printf ("%.*s/message", (int) len, base);
}

static char *
url_origin (const char *url)
{
  g_autoptr(GUri) uri = url ? g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL) : NULL;
  g_autofree char *scheme = NULL;
  g_autofree char *host = NULL;
  int port;

  if (uri == NULL || g_uri_get_host (uri) == NULL)
    return NULL;
  scheme = g_ascii_strdown (g_uri_get_scheme (uri), -1);
  host = g_ascii_strdown (g_uri_get_host (uri), -1);
  /* "example.org." and "example.org" are the same host. */
  if (host[0] != '\0' && host[strlen (host) - 1] == '.')
    host[strlen (host) - 1] = '\0';
  port = g_uri_get_port (uri);
  if (port <= 0)
    port = g_str_equal (scheme, "https") ? 443 : 80;
  return g_strdup_printf ("%s://[%s]:%d", scheme, host, port);
}

gboolean
mesh_gotify_same_origin (const char *a,
                         const char *b)
{
  g_autofree char *origin_a = url_origin (a);
  g_autofree char *origin_b = url_origin (b);

  return origin_a != NULL && origin_b != NULL && g_str_equal (origin_a, origin_b);
}

/* At most @max_bytes of UTF-8, cut at a character boundary, with "…" when
 * something was cut. */
char *
gotify_truncate_utf8 (const char *text,
                      gsize       max_bytes)
{
  const char *end;

  if (strlen (text) <= max_bytes)
    return g_strdup (text);
  max_bytes -= strlen ("…");
  end = text + max_bytes;
  while (end > text && (*end & 0xC0) == 0x80)
    end--;
  return g_strdup_printf ("%.*s…", (int) (end - text), text);
}

SoupMessage *
gotify_build_request (const char  *url,
                      const char  *token,
                      const char  *title,
                      const char  *message,
                      gint64       priority,
                      const char  *extras_json,
                      GError     **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GBytes) body = NULL;
  SoupMessage *msg;
  char *text;
  gsize len;

  msg = soup_message_new (SOUP_METHOD_POST, url);
  if (msg == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "cannot post to '%s'", url);
    return NULL;
  }

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "title");
  json_builder_add_string_value (builder, title);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  /* Always explicit: a new Gotify app defaults to 0, which Android hides. */
  json_builder_set_member_name (builder, "priority");
  json_builder_add_int_value (builder, priority);
  if (extras_json != NULL) {
    g_autoptr(JsonNode) extras = mesh_json_parse (extras_json, -1, NULL);

    if (extras != NULL && JSON_NODE_HOLDS_OBJECT (extras)) {
      json_builder_set_member_name (builder, "extras");
      json_builder_add_value (builder, g_steal_pointer (&extras));
    }
  }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  text = mesh_json_to_string (root, &len);
  body = g_bytes_new_take (text, len);

  /* JSON, or Gotify parses a form and silently drops the extras. */
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Gotify-Key", token);
  /* libsoup turns a POST answered with 301/302 into a GET: see them instead. */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  return msg;
}

/* What Gotify said, in a sentence for the user: the status line and our
 * own hint, never anything of the body (a user could otherwise read what
 * some other service answers).  The phrase is libsoup's for the code, not
 * the one the server sent. */
char *
gotify_describe_answer (SoupMessage *msg)
{
  guint status = soup_message_get_status (msg);
  const char *phrase = soup_status_get_phrase (status);

  if (phrase == NULL)
    phrase = "";
  if (status == SOUP_STATUS_UNAUTHORIZED)
    return g_strdup_printf ("Gotify answered %u %s (check the application token; a client "
                            "token is refused)", status, phrase);
  if (SOUP_STATUS_IS_REDIRECTION (status)) {
    const char *location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                         "Location");
    g_autoptr(GUri) target = NULL;
    g_autofree char *origin = NULL;

    /* Only the origin of an http(s) Location: enough to see "use https". */
    if (location != NULL && strlen (location) <= MAX_URL_BYTES)
      target = g_uri_parse (location, G_URI_FLAGS_ENCODED, NULL);
    if (target != NULL && g_uri_get_host (target) != NULL &&
        (g_str_equal (g_uri_get_scheme (target), "http") ||
         g_str_equal (g_uri_get_scheme (target), "https")))
      origin = g_uri_join (G_URI_FLAGS_ENCODED, g_uri_get_scheme (target), NULL,
                           g_uri_get_host (target), g_uri_get_port (target), "", NULL, NULL);
    return g_strdup_printf ("Gotify answered %u %s, pointing to %s: store that address as the "
                            "URL (a redirected POST would arrive as a GET)", status, phrase,
                            origin ? origin : "another address");
  }
  return g_strdup_printf ("Gotify answered %u %s", status, phrase);
}
