/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-rest"

#include "config.h"

#include "mesh-rest-private.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

#define API_PREFIX        "/api/v1"
#define DEFAULT_MAX_BODY  (64 * 1024)

typedef enum {
  ROUTE_PUBLIC = 0,
  ROUTE_AUTH   = 1 << 0,   /* needs an access or device token */
  ROUTE_BODY   = 1 << 1,   /* takes a JSON object body */
} RouteFlags;

static void
rest_clear (MeshRest *rest)
{
  g_clear_pointer (&rest->ip_buckets, g_hash_table_unref);
  g_clear_pointer (&rest->user_buckets, g_hash_table_unref);
  g_clear_pointer (&rest->known, g_hash_table_unref);
  g_clear_pointer (&rest->throttle.trusted_proxies, g_strfreev);
  mesh_rest_turn_clear (&rest->turn);
  g_clear_object (&rest->store);
  g_clear_object (&rest->cap_key);
  g_clear_object (&rest->notifier);
}

static void
rest_release (gpointer data)
{
  g_rc_box_release_full (data, (GDestroyNotify) rest_clear);
}

static void
rest_release_closure (gpointer  data,
                      GClosure *closure)
{
  rest_release (data);
}

static void
reply_error_full (SoupServerMessage *msg,
                  guint              status,
                  MeshErrorCode      code,
                  const char        *message)
{
  g_autofree char *body = mesh_json_error_body (mesh_error_code_to_string (code), message, NULL);

  if (status == SOUP_STATUS_UNAUTHORIZED)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "WWW-Authenticate", "Bearer");
  mesh_rest_reply_json (msg, status, body);
}

void G_GNUC_PRINTF (3, 4)
mesh_rest_reply_error_code (SoupServerMessage *msg,
                            MeshErrorCode      code,
                            const char        *format,
                            ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  reply_error_full (msg, mesh_error_code_http_status (code), code, message);
}

static void
reply_node (SoupServerMessage *msg,
            guint              status,
            JsonNode          *node)
{
  g_autofree char *body = mesh_json_to_string (node, NULL);

  mesh_rest_reply_json (msg, status, body);
}

void
mesh_rest_reply_object (SoupServerMessage *msg,
                        guint              status,
                        JsonObject        *object)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);

  reply_node (msg, status, node);
}

void
mesh_rest_reply_array (SoupServerMessage *msg,
                       JsonArray         *array)
{
  g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), array);

  reply_node (msg, SOUP_STATUS_OK, node);
}

/* 204 for a deletion or a leave; the connection closes after it. */
void
mesh_rest_reply_no_content (SoupServerMessage *msg)
{
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
}

static void
on_pending_disconnected (SoupServerMessage *msg,
                         PendingReply      *pending)
{
  pending->gone = TRUE;
}

PendingReply *
mesh_rest_pending_reply_new (MeshRestRequest *request)
{
  PendingReply *pending = g_new0 (PendingReply, 1);

  pending->rest = g_rc_box_acquire (request->rest);
  pending->msg = g_object_ref (request->msg);
  pending->disconnected_id = g_signal_connect (pending->msg, "disconnected",
                                               G_CALLBACK (on_pending_disconnected), pending);
  soup_server_message_pause (pending->msg);
  return pending;
}

void
mesh_rest_pending_reply_free (PendingReply *pending)
{
  g_signal_handler_disconnect (pending->msg, pending->disconnected_id);
  g_object_unref (pending->msg);
  g_free (pending->user_key);
  g_free (pending->address);
  rest_release (pending->rest);
  g_free (pending);
}

/* Returns the message to answer, or NULL when the client is gone. */
SoupServerMessage *
mesh_rest_pending_reply_get_message (PendingReply *pending)
{
  return pending->gone ? NULL : pending->msg;
}

gboolean
mesh_rest_request_get_string (MeshRestRequest  *request,
                              const char       *field,
                              gboolean          required,
                              const char      **value)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_json_get_string (request->body, field, required, value, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  if (*value != NULL && (*value)[0] == '\0') {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST, "field '%s' must not be empty", field);
    return FALSE;
  }
  return TRUE;
}

/* An optional integer field that must lie in [@min, @max]; *@value is
 * left alone when the field is absent. */
gboolean
mesh_rest_request_get_int (MeshRestRequest *request,
                           const char      *field,
                           gint64           min,
                           gint64           max,
                           gint64          *value)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_object_get_member (request->body, field);
  gint64 v;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!mesh_json_get_int (request->body, field, TRUE, &v, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  if (v < min || v > max) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                "field '%s' must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT,
                                field, min, max);
    return FALSE;
  }
  *value = v;
  return TRUE;
}

/* Room routes: unknown room 404 ROOM_NOT_FOUND, non-member 403 FORBIDDEN. */
gboolean
mesh_rest_request_check_member (MeshRestRequest *request,
                                const char      *room_id)
{
  g_autofree char *role = NULL;

  if (!mesh_store_room_exists (request->rest->store, room_id)) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_ROOM_NOT_FOUND, "unknown room");
    return FALSE;
  }
  role = mesh_store_get_member_role (request->rest->store, room_id, request->user_id);
  if (role == NULL) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_FORBIDDEN, "not a member of this room");
    return FALSE;
  }
  return TRUE;
}

/* Every route of protocol §2 below /api/v1 ('*' is one path segment). */
static const struct {
  const char      *method;
  const char      *pattern;
  RouteFlags       flags;
  MeshRestHandler  handler;
} routes[] = {
  { "POST", "auth/register",     ROUTE_PUBLIC | ROUTE_BODY, mesh_rest_handle_register },
  { "POST", "auth/login",        ROUTE_PUBLIC | ROUTE_BODY, mesh_rest_handle_login },
  { "GET",  "devices",           ROUTE_AUTH,                mesh_rest_handle_list_devices },
  { "POST", "devices",           ROUTE_AUTH | ROUTE_BODY,   mesh_rest_handle_add_device },
  { "DELETE", "devices/*",       ROUTE_AUTH,                mesh_rest_handle_delete_device },
  { "GET",  "rooms",             ROUTE_AUTH,                mesh_rest_handle_list_rooms },
  { "POST", "rooms",             ROUTE_AUTH | ROUTE_BODY,   mesh_rest_handle_create_room },
  { "PATCH",  "rooms/*",         ROUTE_AUTH | ROUTE_BODY,   mesh_rest_handle_rename_room },
  { "DELETE", "rooms/*",         ROUTE_AUTH,                mesh_rest_handle_delete_room },
  { "POST", "rooms/*/leave",     ROUTE_AUTH,                mesh_rest_handle_leave_room },
  { "POST", "rooms/*/invites",   ROUTE_AUTH,                mesh_rest_handle_create_invite },
  { "GET",  "rooms/*/messages",  ROUTE_AUTH,                mesh_rest_handle_list_messages },
  { "POST", "rooms/*/caps",      ROUTE_AUTH | ROUTE_BODY,   mesh_rest_handle_issue_caps },
  { "POST", "invites/*/accept",  ROUTE_AUTH,                mesh_rest_handle_accept_invite },
  { "GET",  "keys",              ROUTE_AUTH,                mesh_rest_handle_get_keys },
  { "GET",    "me/gotify",       ROUTE_AUTH,                mesh_rest_handle_get_gotify },
  { "PUT",    "me/gotify",       ROUTE_AUTH | ROUTE_BODY,   mesh_rest_handle_put_gotify },
  { "DELETE", "me/gotify",       ROUTE_AUTH,                mesh_rest_handle_delete_gotify },
  { "POST",   "me/gotify/test",  ROUTE_AUTH,                mesh_rest_handle_test_gotify },
  { "GET",    "turn",            ROUTE_AUTH,                mesh_rest_handle_get_turn },
};

/* Matches @segments against @pattern; '*' takes one non-empty segment,
 * stored into @params. */
static gboolean
route_matches (const char  *pattern,
               char       **segments,
               const char **params)
{
  g_auto(GStrv) parts = g_strsplit (pattern, "/", 0);
  guint n_params = 0;

  if (g_strv_length (parts) != g_strv_length (segments))
    return FALSE;
  for (guint i = 0; parts[i] != NULL; i++) {
    if (g_str_equal (parts[i], "*")) {
      if (segments[i][0] == '\0')
        return FALSE;
      g_assert (n_params < 2);
      params[n_params++] = segments[i];
    } else if (!g_str_equal (parts[i], segments[i])) {
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
request_authenticate (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *token = mesh_rest_get_bearer (request->msg, FALSE);

  if (token == NULL) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_UNAUTHORIZED,
                                "missing 'Authorization: Bearer' token");
    return FALSE;
  }
  request->user_id = mesh_store_authenticate (request->rest->store, token,
                                              &request->device_id, &error);
  if (request->user_id == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  return TRUE;
}

static gboolean
request_parse_body (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  SoupMessageBody *body = soup_server_message_get_request_body (request->msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  request->body = mesh_json_parse_object (data, (gssize) len, &error);
  if (request->body == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  return TRUE;
}

static void
api_handler (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  MeshRestRequest request = { .rest = user_data, .msg = msg, .query = query };
  const char *method = soup_server_message_get_method (msg);
  g_auto(GStrv) segments = NULL;
  g_autoptr(GString) allowed = NULL;
  gint found = -1;

  /* The handler's prefix also catches "/api/v1x"; only "/api/v1/…" is ours. */
  if (!g_str_has_prefix (path, API_PREFIX "/")) {
    mesh_rest_reply_error_code (msg, MESH_ERROR_NOT_FOUND, "no such resource: %s", path);
    return;
  }
  segments = g_strsplit (path + strlen (API_PREFIX "/"), "/", 0);

  allowed = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (routes) && found < 0; i++) {
    const char *params[2] = { NULL, NULL };

    if (!route_matches (routes[i].pattern, segments, params))
      continue;
    if (!g_str_equal (routes[i].method, method)) {
      g_string_append_printf (allowed, "%s%s", allowed->len ? ", " : "", routes[i].method);
      continue;
    }
    found = i;
    memcpy (request.params, params, sizeof params);
  }

  if (found < 0 && allowed->len > 0) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Allow", allowed->str);
    reply_error_full (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, MESH_ERROR_BAD_REQUEST,
                      "method not allowed here");
    return;
  }
  if (found < 0) {
    mesh_rest_reply_error_code (msg, MESH_ERROR_NOT_FOUND, "no such resource: %s", path);
    return;
  }

  if ((!(routes[found].flags & ROUTE_AUTH) || request_authenticate (&request)) &&
      (!(routes[found].flags & ROUTE_BODY) || request_parse_body (&request)))
    routes[found].handler (&request);

  g_free (request.user_id);
  g_free (request.device_id);
  g_clear_pointer (&request.body, json_object_unref);
}

static gboolean
body_too_large (MeshRest          *rest,
                SoupServerMessage *msg,
                goffset            length)
{
  if (length <= (goffset) rest->max_body_size)
    return FALSE;

  mesh_rest_reply_error_code (msg, MESH_ERROR_PAYLOAD_TOO_LARGE,
                              "the request body is larger than %" G_GSIZE_FORMAT " bytes",
                              rest->max_body_size);
  /* Whatever still arrives is read and dropped, not kept. */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_message_body_truncate (soup_server_message_get_request_body (msg));
  return TRUE;
}

/* Bodies sent without a length (chunked) are counted as they come. */
static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  if (soup_server_message_get_status (msg) != 0)
    return;
  body_too_large (user_data, msg, soup_server_message_get_request_body (msg)->length);
}

/* Runs once the headers are in, before the body is read: an oversized
 * body is refused by its Content-Length without being buffered. */
static void
api_early_handler (SoupServer        *server,
                   SoupServerMessage *msg,
                   const char        *path,
                   GHashTable        *query,
                   gpointer           user_data)
{
  MeshRest *rest = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      body_too_large (rest, msg, soup_message_headers_get_content_length (headers)))
    return;
  g_signal_connect_data (msg, "got-chunk", G_CALLBACK (on_got_chunk),
                         g_rc_box_acquire (rest), rest_release_closure, 0);
}

static void
health_handler (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  const char *method = soup_server_message_get_method (msg);

  if (!g_str_equal (path, "/health")) {
    mesh_rest_reply_error_code (msg, MESH_ERROR_NOT_FOUND, "no such resource: %s", path);
    return;
  }
  if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD")) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Allow", "GET, HEAD");
    reply_error_full (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, MESH_ERROR_BAD_REQUEST,
                      "method not allowed here");
    return;
  }
  mesh_rest_reply_json (msg, SOUP_STATUS_OK, "{\"status\":\"ok\"}");
}

void
mesh_rest_add_handlers (SoupServer           *server,
                        const MeshRestConfig *config)
{
  MeshRest *rest;

  g_return_if_fail (SOUP_IS_SERVER (server));
  g_return_if_fail (config != NULL);
  g_return_if_fail (MESH_IS_STORE (config->store));
  g_return_if_fail (MESH_IS_CAP_KEY (config->cap_key));
  g_return_if_fail (mesh_cap_key_can_sign (config->cap_key));

  rest = g_rc_box_new0 (MeshRest);
  rest->store = g_object_ref (config->store);
  rest->cap_key = g_object_ref (config->cap_key);
  rest->open_registration = config->open_registration;
  rest->max_body_size = config->max_body_size ? config->max_body_size : DEFAULT_MAX_BODY;
  rest->may_control_terminal = config->may_control_terminal;
  rest->hook_data = config->hook_data;
  rest->notifier = config->notifier ? g_object_ref (config->notifier) : NULL;
  rest->device_revoked = config->device_revoked;
  mesh_rest_throttle_init_default (&rest->throttle);
  if (config->throttle.max_entries > 0)
    rest->throttle = config->throttle;
  rest->throttle.trusted_proxies = g_strdupv (config->throttle.trusted_proxies);
  mesh_rest_turn_copy (&rest->turn, &config->turn);
  if (rest->turn.ttl_s == 0)
    rest->turn.ttl_s = MESH_REST_TURN_DEFAULT_TTL;
  rest->ip_buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  rest->user_buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  rest->known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  soup_server_add_early_handler (server, API_PREFIX, api_early_handler,
                                 g_rc_box_acquire (rest), rest_release);
  soup_server_add_handler (server, API_PREFIX, api_handler, g_rc_box_acquire (rest),
                           rest_release);
  soup_server_add_handler (server, "/health", health_handler, NULL, NULL);
  /* Anything else gets a JSON 404 rather than libsoup's empty one. */
  soup_server_add_handler (server, "/", health_handler, NULL, NULL);
  rest_release (rest);
}

char *
mesh_rest_get_bearer (SoupServerMessage *msg,
                      gboolean           allow_query)
{
  const char *header;
  const char *query;

  g_return_val_if_fail (SOUP_IS_SERVER_MESSAGE (msg), NULL);

  header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                         "Authorization");
  if (header != NULL) {
    while (*header == ' ')
      header++;
    if (g_ascii_strncasecmp (header, "Bearer ", 7) == 0) {
      g_autofree char *token = g_strstrip (g_strdup (header + 7));

      if (token[0] != '\0')
        return g_steal_pointer (&token);
    }
  }

  query = allow_query ? g_uri_get_query (soup_server_message_get_uri (msg)) : NULL;
  if (query != NULL) {
    g_autoptr(GHashTable) form = soup_form_decode (query);
    const char *token = g_hash_table_lookup (form, "access_token");

    if (token != NULL && token[0] != '\0')
      return g_strdup (token);
  }
  return NULL;
}

void
mesh_rest_reply_json (SoupServerMessage *msg,
                      guint              status,
                      const char        *body)
{
  g_return_if_fail (SOUP_IS_SERVER_MESSAGE (msg));
  g_return_if_fail (body != NULL);

  soup_server_message_set_status (msg, status, NULL);
  /* Replaces any earlier body (an error set while the request came in). */
  soup_message_body_truncate (soup_server_message_get_response_body (msg));
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body, strlen (body));
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
}

void
mesh_rest_reply_error (SoupServerMessage *msg,
                       const GError      *error)
{
  MeshErrorCode code;

  g_return_if_fail (SOUP_IS_SERVER_MESSAGE (msg));
  g_return_if_fail (error != NULL);

  code = mesh_error_get_code (error);
  /* Database and I/O details are for the log, not for clients. */
  if (code == MESH_ERROR_INTERNAL) {
    g_autofree char *path = mesh_escape_for_display (g_uri_get_path (soup_server_message_get_uri (msg)),
                                                     -1);

    g_warning ("%s %s: %s", soup_server_message_get_method (msg), path, error->message);
    reply_error_full (msg, mesh_error_code_http_status (code), code, "internal server error");
    return;
  }
  reply_error_full (msg, mesh_error_code_http_status (code), code, error->message);
}
