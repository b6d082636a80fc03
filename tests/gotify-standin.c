/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "gotify-standin"

#include "config.h"

#include "gotify-standin.h"

#include <string.h>

#define UNAUTHORIZED_TEXT "you need to provide a valid access token or user credentials to access this api"

typedef struct {
  gint64  appid;
  char   *name;
  char   *token;
  gint64  default_priority;
} App;

struct _GotifyStandin {
  SoupServer        *server;       /* NULL while down */
  guint16            port;
  char              *url;
  GotifyStandinMode  mode;
  GPtrArray         *apps;         /* App* */
  GPtrArray         *messages;     /* GotifyStandinMessage* */
  GPtrArray         *hanging;      /* SoupServerMessage*, paused */
  gint64             next_id;
  guint              n_posts;
  guint64            body_bytes_sent;
};

#define HUGE_CHUNK_BYTES (64 * 1024)

static void
huge_wrote_body_data_cb (SoupServerMessage *msg,
                         guint              chunk_size,
                         GotifyStandin     *self)
{
  self->body_bytes_sent += chunk_size;
}

/* One more chunk each time one went out, until the whole size. */
static void
huge_wrote_chunk_cb (SoupServerMessage *msg,
                     gpointer           user_data)
{
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  guint64 queued = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (msg), "huge-queued"));
  static char chunk[HUGE_CHUNK_BYTES];

  if (queued >= GOTIFY_STANDIN_HUGE_BYTES) {
    soup_message_body_complete (body);
    return;
  }
  memset (chunk, 'x', sizeof chunk);
  soup_message_body_append (body, SOUP_MEMORY_STATIC, chunk, sizeof chunk);
  g_object_set_data (G_OBJECT (msg), "huge-queued", GSIZE_TO_POINTER (queued + sizeof chunk));
}

static void
reply_huge (GotifyStandin     *self,
            SoupServerMessage *msg)
{
  static const char start[] = "{\"error\":\"Bad Request\",\"errorCode\":400,"
                              "\"errorDescription\":\"" GOTIFY_STANDIN_SECRET "\",\"pad\":\"";

  soup_server_message_set_status (msg, SOUP_STATUS_BAD_REQUEST, NULL);
  soup_message_headers_set_encoding (soup_server_message_get_response_headers (msg),
                                     SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type (soup_server_message_get_response_headers (msg),
                                         "application/json", NULL);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_STATIC,
                            start, strlen (start));
  g_object_set_data (G_OBJECT (msg), "huge-queued", GSIZE_TO_POINTER (strlen (start)));
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (huge_wrote_chunk_cb), NULL);
  g_signal_connect (msg, "wrote-body-data", G_CALLBACK (huge_wrote_body_data_cb), self);
}

static void
app_free (App *app)
{
  g_free (app->name);
  g_free (app->token);
  g_free (app);
}

static void
message_free (GotifyStandinMessage *message)
{
  g_free (message->title);
  g_free (message->message);
  g_clear_pointer (&message->extras, json_object_unref);
  g_free (message->content_type);
  g_free (message);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GotifyStandinMessage, message_free)

static gboolean
is_blank (const char *text)
{
  for (; text != NULL && *text != '\0'; text++) {
    if (!g_ascii_isspace (*text))
      return FALSE;
  }
  return TRUE;
}

/* Gotify's error body: {"error": StatusText, "errorCode": n, "errorDescription": text}. */
static void
reply_error (SoupServerMessage *msg,
             guint              status,
             const char        *description)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  char *body;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, soup_status_get_phrase (status));
  json_builder_set_member_name (builder, "errorCode");
  json_builder_add_int_value (builder, status);
  json_builder_set_member_name (builder, "errorDescription");
  json_builder_add_string_value (builder, description);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  body = json_to_string (root, FALSE);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, body,
                                    strlen (body));
}

static void
reply_json (SoupServerMessage *msg,
            const char        *body)
{
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body,
                                    strlen (body));
}

/* query ?token=, then X-Gotify-Key, then Authorization: Bearer (any case):
 * the first non-empty one wins. */
static const char *
find_token (SoupServerMessage *msg,
            GHashTable        *query)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *token = query ? g_hash_table_lookup (query, "token") : NULL;
  const char *auth;

  if (token != NULL && token[0] != '\0')
    return token;
  token = soup_message_headers_get_one (headers, "X-Gotify-Key");
  if (token != NULL && token[0] != '\0')
    return token;
  auth = soup_message_headers_get_one (headers, "Authorization");
  if (auth != NULL && g_ascii_strncasecmp (auth, "bearer ", 7) == 0 && auth[7] != '\0')
    return auth + 7;
  return NULL;
}

static App *
find_app (GotifyStandin *self,
          const char    *token)
{
  for (guint i = 0; token != NULL && i < self->apps->len; i++) {
    App *app = self->apps->pdata[i];

    if (g_str_equal (app->token, token))
      return app;
  }
  return NULL;
}

/* Reads {message, title, priority, extras} from a JSON body like Go's
 * encoding/json into Gotify's struct would; FALSE with a 400 sent. */
static gboolean
parse_json (SoupServerMessage     *msg,
            GBytes                *body,
            GotifyStandinMessage  *out,
            gboolean              *has_priority)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *object;
  JsonNode *node;
  gsize len;
  const char *data = g_bytes_get_data (body, &len);

  if (len == 0) {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST, "EOF");
    return FALSE;
  }
  if (!json_parser_load_from_data (parser, data, (gssize) len, &error)) {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST, error->message);
    return FALSE;
  }
  node = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                 "json: cannot unmarshal value into Go value of type model.MessageExternal");
    return FALSE;
  }
  object = json_node_get_object (node);

  node = json_object_get_member (object, "message");
  if (node != NULL && json_node_get_value_type (node) == G_TYPE_STRING) {
    out->message = g_strdup (json_node_get_string (node));
  } else if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST, "json: cannot unmarshal value into Go struct "
                 "field MessageExternal.message of type string");
    return FALSE;
  }
  node = json_object_get_member (object, "title");
  if (node != NULL && json_node_get_value_type (node) == G_TYPE_STRING) {
    out->title = g_strdup (json_node_get_string (node));
  } else if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST, "json: cannot unmarshal value into Go struct "
                 "field MessageExternal.title of type string");
    return FALSE;
  }
  node = json_object_get_member (object, "priority");
  if (node != NULL && json_node_get_value_type (node) == G_TYPE_INT64) {
    out->priority = json_node_get_int (node);
    *has_priority = TRUE;
  } else if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST, "json: cannot unmarshal value into Go struct "
                 "field MessageExternal.priority of type int");
    return FALSE;
  }
  node = json_object_get_member (object, "extras");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node)) {
    if (json_object_get_size (json_node_get_object (node)) > 0)
      out->extras = json_object_ref (json_node_get_object (node));
  } else if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST, "json: cannot unmarshal value into Go struct "
                 "field MessageExternal.extras of type map[string]interface {}");
    return FALSE;
  }
  return TRUE;
}

/* A form (or no Content-Type at all): the body's fields merged with the
 * query's; extras cannot come this way. */
static gboolean
parse_form (SoupServerMessage     *msg,
            GBytes                *body,
            GHashTable            *query,
            GotifyStandinMessage  *out,
            gboolean              *has_priority)
{
  g_autofree char *text = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  g_autoptr(GHashTable) form = soup_form_decode (text);
  const char *priority;

  if (query != NULL) {
    GHashTableIter iter;
    gpointer key, value;

    g_hash_table_iter_init (&iter, query);
    while (g_hash_table_iter_next (&iter, &key, &value)) {
      if (!g_hash_table_contains (form, key))
        g_hash_table_insert (form, g_strdup (key), g_strdup (value));
    }
  }
  out->message = g_strdup (g_hash_table_lookup (form, "message"));
  out->title = g_strdup (g_hash_table_lookup (form, "title"));
  priority = g_hash_table_lookup (form, "priority");
  if (priority != NULL) {
    if (!g_ascii_string_to_signed (priority, 10, G_MININT64, G_MAXINT64, &out->priority, NULL)) {
      reply_error (msg, SOUP_STATUS_BAD_REQUEST, "strconv.ParseInt: invalid syntax");
      return FALSE;
    }
    *has_priority = TRUE;
  }
  return TRUE;
}

static char *
message_to_json (GotifyStandinMessage *message,
                 const char           *date)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  /* The key order of Gotify's struct; extras left out when empty. */
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_int_value (builder, message->id);
  json_builder_set_member_name (builder, "appid");
  json_builder_add_int_value (builder, message->appid);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message->message);
  json_builder_set_member_name (builder, "title");
  json_builder_add_string_value (builder, message->title);
  json_builder_set_member_name (builder, "priority");
  json_builder_add_int_value (builder, message->priority);
  if (message->extras != NULL) {
    json_builder_set_member_name (builder, "extras");
    json_builder_add_value (builder, json_node_init_object (json_node_alloc (), message->extras));
  }
  json_builder_set_member_name (builder, "date");
  json_builder_add_string_value (builder, date);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

static void
hanging_disconnected_cb (SoupServerMessage *msg,
                         GotifyStandin     *self)
{
  g_ptr_array_remove (self->hanging, msg);
}

static void
handle_message (GotifyStandin     *self,
                SoupServerMessage *msg,
                GHashTable        *query)
{
  g_autoptr(GotifyStandinMessage) message = g_new0 (GotifyStandinMessage, 1);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autofree char *date = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *location = NULL;
  const char *content_type;
  gboolean has_priority = FALSE;
  App *app;

  self->n_posts++;
  switch (self->mode) {
  case GOTIFY_STANDIN_HANG:
    soup_server_message_pause (msg);
    g_ptr_array_add (self->hanging, g_object_ref (msg));
    g_signal_connect (msg, "disconnected", G_CALLBACK (hanging_disconnected_cb), self);
    return;
  case GOTIFY_STANDIN_FAIL:
    reply_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "database is locked");
    return;
  case GOTIFY_STANDIN_REDIRECT:
    /* What a proxy sending plain HTTP to HTTPS does. */
    location = g_strdup_printf ("https://127.0.0.1:%u/message", self->port);
    soup_server_message_set_redirect (msg, SOUP_STATUS_MOVED_PERMANENTLY, location);
    return;
  case GOTIFY_STANDIN_HUGE:
    reply_huge (self, msg);
    return;
  case GOTIFY_STANDIN_UP:
  case GOTIFY_STANDIN_DOWN:
    break;
  }

  /* Authentication comes before the body is looked at. */
  app = find_app (self, find_token (msg, query));
  if (app == NULL) {
    reply_error (msg, SOUP_STATUS_UNAUTHORIZED, UNAUTHORIZED_TEXT);
    return;
  }

  body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  content_type = soup_message_headers_get_content_type (
    soup_server_message_get_request_headers (msg), NULL);
  message->content_type = g_strdup (content_type ? content_type : "");
  if (g_strcmp0 (content_type, "application/json") == 0) {
    if (!parse_json (msg, body, message, &has_priority))
      return;
  } else if (!parse_form (msg, body, query, message, &has_priority)) {
    return;
  }

  if (message->message == NULL || message->message[0] == '\0') {
    reply_error (msg, SOUP_STATUS_BAD_REQUEST, "Field 'message' is required");
    return;
  }
  if (is_blank (message->title)) {
    g_free (message->title);
    message->title = g_strdup (app->name);
  }
  if (!has_priority)
    message->priority = app->default_priority;
  message->id = ++self->next_id;
  message->appid = app->appid;

  now = g_date_time_new_now_local ();
  date = g_date_time_format_iso8601 (now);
  reply = message_to_json (message, date);
  reply_json (msg, reply);
  g_ptr_array_add (self->messages, g_steal_pointer (&message));
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  GotifyStandin *self = user_data;
  const char *method = soup_server_message_get_method (msg);

  if (g_str_equal (path, "/message") && g_str_equal (method, "POST")) {
    handle_message (self, msg, query);
  } else if (g_str_equal (path, "/message/") && g_str_equal (method, "POST")) {
    /* gin's trailing-slash redirect keeps the method: 307. */
    soup_server_message_set_redirect (msg, SOUP_STATUS_TEMPORARY_REDIRECT, "/message");
  } else if (g_str_equal (path, "/version") && g_str_equal (method, "GET")) {
    reply_json (msg, "{\"version\":\"2.9.1\",\"commit\":\"standin\","
                     "\"buildDate\":\"2026-02-28-12:34:56\"}");
  } else if (g_str_equal (path, "/health") &&
             (g_str_equal (method, "GET") || g_str_equal (method, "HEAD"))) {
    reply_json (msg, "{\"health\":\"green\",\"database\":\"green\"}");
  } else {
    reply_error (msg, SOUP_STATUS_NOT_FOUND, "page not found");
  }
}

static void
go_up (GotifyStandin *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, self->port);

  self->server = soup_server_new ("server-header", "gotify-standin", NULL);
  soup_server_add_handler (self->server, NULL, server_cb, self, NULL);
  soup_server_listen (self->server, address, 0, &error);
  g_assert_no_error (error);
  if (self->port == 0) {
    GSList *uris = soup_server_get_uris (self->server);

    self->port = (guint16) g_uri_get_port (uris->data);
    g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  }
}

static void
release_hanging (GotifyStandin *self)
{
  /* Their clients may have given up already: never count them delivered. */
  while (self->hanging->len > 0) {
    SoupServerMessage *msg = g_ptr_array_steal_index (self->hanging, 0);

    g_signal_handlers_disconnect_by_func (msg, hanging_disconnected_cb, self);
    reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the stand-in stopped hanging");
    soup_server_message_unpause (msg);
    g_object_unref (msg);
  }
}

GotifyStandin *
gotify_standin_new (void)
{
  GotifyStandin *self = g_new0 (GotifyStandin, 1);

  self->apps = g_ptr_array_new_with_free_func ((GDestroyNotify) app_free);
  self->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) message_free);
  self->hanging = g_ptr_array_new ();
  self->mode = GOTIFY_STANDIN_UP;
  go_up (self);
  self->url = g_strdup_printf ("http://127.0.0.1:%u", self->port);
  return self;
}

void
gotify_standin_free (GotifyStandin *self)
{
  if (self == NULL)
    return;
  release_hanging (self);
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_ptr_array_unref (self->hanging);
  g_ptr_array_unref (self->apps);
  g_ptr_array_unref (self->messages);
  g_free (self->url);
  g_free (self);
}

const char *
gotify_standin_get_url (GotifyStandin *self)
{
  return self->url;
}

const char *
gotify_standin_add_app (GotifyStandin *self,
                        const char    *name,
                        gint64         default_priority)
{
  App *app = g_new0 (App, 1);
  g_autofree char *random = g_uuid_string_random ();

  app->appid = self->apps->len + 1;
  app->name = g_strdup (name);
  /* v2's shape: 'A' and 14 characters. */
  app->token = g_strdup_printf ("A%.8s%.6s", random, random + 9);
  app->default_priority = default_priority;
  g_ptr_array_add (self->apps, app);
  return app->token;
}

void
gotify_standin_set_mode (GotifyStandin     *self,
                         GotifyStandinMode  mode)
{
  if (self->mode == GOTIFY_STANDIN_HANG && mode != GOTIFY_STANDIN_HANG)
    release_hanging (self);
  if (mode == GOTIFY_STANDIN_DOWN && self->server != NULL) {
    soup_server_disconnect (self->server);
    g_clear_object (&self->server);
  } else if (mode != GOTIFY_STANDIN_DOWN && self->server == NULL) {
    go_up (self);
  }
  self->mode = mode;
}

GPtrArray *
gotify_standin_get_messages (GotifyStandin *self)
{
  return self->messages;
}

guint64
gotify_standin_get_body_bytes_sent (GotifyStandin *self)
{
  return self->body_bytes_sent;
}

guint
gotify_standin_get_n_posts (GotifyStandin *self)
{
  return self->n_posts;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
gotify_standin_wait_messages (GotifyStandin *self,
                              guint          n,
                              guint          timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, set_flag_cb, &timed_out);

  while (self->messages->len < n && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return self->messages->len >= n;
}
