/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-rest-private.h"

#define API_PREFIX "/api/v1/"

enum {
  PROP_0,
  PROP_BASE_URL,
  PROP_ACCESS_TOKEN,
  PROP_USER_ID,
  PROP_PINNED_FINGERPRINT,
  PROP_PRESENTED_FINGERPRINT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MeshClientRest, mesh_client_rest, G_TYPE_OBJECT)

/* Lower case, without colons or spaces: "AB:CD…" as a user may paste it. */
static char *
normalize_fingerprint (const char *fingerprint)
{
  GString *out = g_string_new (NULL);

  for (const char *p = fingerprint; *p != '\0'; p++) {
    if (*p != ':' && !g_ascii_isspace (*p))
      g_string_append_c (out, g_ascii_tolower (*p));
  }
  return g_string_free (out, FALSE);
}

static char *
certificate_fingerprint (GTlsCertificate *certificate)
{
  g_autoptr(GByteArray) der = NULL;

  g_object_get (certificate, "certificate", &der, NULL);
  if (der == NULL)
    return NULL;
  return mesh_sha256_hex (der->data, der->len);
}

/* Only for certificates the system does not trust (self-signed): accepted
 * when they are exactly the pinned one. */
static gboolean
accept_certificate_cb (SoupMessage          *msg,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       MeshClientRest       *self)
{
  g_autofree char *fingerprint = certificate_fingerprint (certificate);

  if (fingerprint == NULL)
    return FALSE;
  mesh_property_set_string (G_OBJECT (self), &self->presented_fingerprint, fingerprint,
                            properties[PROP_PRESENTED_FINGERPRINT]);
  if (self->pinned_fingerprint != NULL && g_str_equal (fingerprint, self->pinned_fingerprint))
    return TRUE;
  g_object_set_data_full (G_OBJECT (msg), "mesh-refused-fingerprint",
                          g_steal_pointer (&fingerprint), g_free);
  return FALSE;
}

/* A message to @path below the base URL ("/ws", "/api/v1/rooms") with the
 * bearer token and the pinning check. */
SoupMessage *
mesh_client_rest_new_message (MeshClientRest  *self,
                              const char      *method,
                              const char      *path,
                              GError         **error)
{
  g_autofree char *url = g_strconcat (self->base_url, path, NULL);
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, error);
  SoupMessage *msg;

  if (uri == NULL)
    return NULL;
  msg = soup_message_new_from_uri (method, uri);
  if (msg == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "'%s' is not an http or https address", url);
    return NULL;
  }
  if (self->access_token != NULL) {
    g_autofree char *value = g_strdup_printf ("Bearer %s", self->access_token);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
  }
  g_signal_connect_object (msg, "accept-certificate", G_CALLBACK (accept_certificate_cb), self, 0);
  return msg;
}

/* A transport error, with the certificate's fingerprint when we refused it. */
GError *
mesh_client_rest_transport_error (SoupMessage *msg,
                                  GError      *error)
{
  const char *refused = g_object_get_data (G_OBJECT (msg), "mesh-refused-fingerprint");

  if (refused != NULL && error->domain == G_TLS_ERROR) {
    GError *pinned = g_error_new (G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                                  "the server's certificate is not trusted "
                                  "(SHA-256 fingerprint %s)", refused);

    g_error_free (error);
    return pinned;
  }
  return error;
}

static void
send_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SoupMessage *msg = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result,
                                                               &error);
  g_autoptr(JsonNode) node = NULL;
  const char *data;
  gsize len = 0;
  guint status;

  if (bytes == NULL) {
    g_task_return_error (task, mesh_client_rest_transport_error (msg, g_steal_pointer (&error)));
    return;
  }

  status = soup_message_get_status (msg);
  data = g_bytes_get_data (bytes, &len);
  if (len > 0)
    node = mesh_json_parse (data, (gssize) len, NULL);

  if (SOUP_STATUS_IS_SUCCESSFUL (status)) {
    if (node == NULL && len > 0) {
      g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_INTERNAL,
                               "the server's answer (HTTP %u) is not JSON", status);
      return;
    }
    if (node == NULL)
      node = json_node_new (JSON_NODE_NULL);
    g_task_return_pointer (task, g_steal_pointer (&node), (GDestroyNotify) json_node_unref);
    return;
  }

  /* Errors carry {code, message}; anything else is reported by status. */
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *body = json_node_get_object (node);
    const char *code_name = NULL, *message = NULL;
    MeshErrorCode code;

    if (mesh_json_get_string (body, "code", TRUE, &code_name, NULL) &&
        mesh_json_get_string (body, "message", FALSE, &message, NULL) &&
        mesh_error_code_from_string (code_name, &code)) {
      g_task_return_new_error (task, MESH_ERROR, code, "%s",
                               message != NULL ? message : code_name);
      return;
    }
  }
  g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_INTERNAL, "HTTP %u %s", status,
                           soup_message_get_reason_phrase (msg) ? soup_message_get_reason_phrase (msg)
                                                                : "");
}

void
rest_send (MeshClientRest      *self,
           const char          *method,
           const char          *path,
           JsonNode            *body,
           gpointer             source_tag,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback,
           gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *full_path = g_strconcat (API_PREFIX, path, NULL);
  g_autoptr(GError) error = NULL;
  SoupMessage *msg;

  g_task_set_source_tag (task, source_tag);
  msg = mesh_client_rest_new_message (self, method, full_path, &error);
  if (msg == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_set_task_data (task, msg, g_object_unref);

  if (body != NULL) {
    gsize len;
    char *text = mesh_json_to_string (body, &len);
    g_autoptr(GBytes) bytes = g_bytes_new_take (text, len);

    soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  }
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, cancellable,
                                    send_done, g_steal_pointer (&task));
}

JsonNode *
rest_finish (MeshClientRest  *self,
             GAsyncResult    *result,
             gpointer         source_tag,
             GError         **error)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static gboolean
malformed (GError     **error,
           const char  *what)
{
  g_set_error (error, MESH_ERROR, MESH_ERROR_INTERNAL,
               "the server's answer is malformed: %s", what);
  return FALSE;
}

/* The answer as an object, and its string member @field (when not NULL). */
static JsonObject *
finish_object (MeshClientRest  *self,
               GAsyncResult    *result,
               gpointer         source_tag,
               JsonNode       **node_out,
               GError         **error)
{
  JsonNode *node = rest_finish (self, result, source_tag, error);

  if (node == NULL)
    return NULL;
  *node_out = node;
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    malformed (error, "expected an object");
    return NULL;
  }
  return json_node_get_object (node);
}

/* The string member @field of the answer; with @int_field, that integer
 * member is required too and goes to @int_value (when not NULL). */
char *
rest_finish_string (MeshClientRest  *self,
                    GAsyncResult    *result,
                    gpointer         source_tag,
                    const char      *field,
                    const char      *int_field,
                    gint64          *int_value,
                    GError         **error)
{
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object = finish_object (self, result, source_tag, &node, error);
  const char *value;
  gint64 number = 0;

  if (object == NULL)
    return NULL;
  if (!mesh_json_get_string (object, field, TRUE, &value, &local_error) ||
      (int_field != NULL &&
       !mesh_json_get_int (object, int_field, TRUE, &number, &local_error))) {
    malformed (error, local_error->message);
    return NULL;
  }
  if (int_value != NULL)
    *int_value = number;
  return g_strdup (value);
}

/* The answer, an object with the required string members named in the
 * pairs (name, const char **value), NULL-terminated; the values live as long
 * as the returned node. */
JsonNode *
rest_finish_strings (MeshClientRest  *self,
                     GAsyncResult    *result,
                     gpointer         source_tag,
                     GError         **error,
                     const char      *first_member,
                     ...)
{
  g_autoptr(JsonNode) node = NULL;
  JsonObject *object = finish_object (self, result, source_tag, &node, error);
  va_list args;

  if (object == NULL)
    return NULL;
  va_start (args, first_member);
  for (const char *member = first_member; member != NULL; member = va_arg (args, const char *)) {
    g_autoptr(GError) local_error = NULL;

    if (!mesh_json_get_string (object, member, TRUE, va_arg (args, const char **), &local_error)) {
      va_end (args);
      malformed (error, local_error->message);
      return NULL;
    }
  }
  va_end (args);
  return g_steal_pointer (&node);
}

/* The answer as a list of objects, each made into an item by @from_json. */
GPtrArray *
rest_finish_list (MeshClientRest  *self,
                  GAsyncResult    *result,
                  gpointer         source_tag,
                  ItemFromJson     from_json,
                  GDestroyNotify   free_item,
                  GError         **error)
{
  g_autoptr(JsonNode) node = rest_finish (self, result, source_tag, error);
  g_autoptr(GPtrArray) items = NULL;
  JsonArray *array;

  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    malformed (error, "expected an array");
    return NULL;
  }
  array = json_node_get_array (node);
  items = g_ptr_array_new_with_free_func (free_item);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    g_autoptr(GError) local_error = NULL;
    JsonNode *element = json_array_get_element (array, i);
    gpointer item;

    if (!JSON_NODE_HOLDS_OBJECT (element)) {
      malformed (error, "an element of the list is not an object");
      return NULL;
    }
    item = from_json (self, json_node_get_object (element), &local_error);
    if (item == NULL) {
      malformed (error, local_error->message);
      return NULL;
    }
    g_ptr_array_add (items, item);
  }
  return g_steal_pointer (&items);
}

/* A body of string members: name, value, …, NULL. */
JsonNode *
rest_strings_body (const char *first_member,
                   ...)
{
  g_autoptr(JsonObject) body = json_object_new ();
  va_list args;

  va_start (args, first_member);
  for (const char *member = first_member; member != NULL; member = va_arg (args, const char *))
    json_object_set_string_member (body, member, va_arg (args, const char *));
  va_end (args);
  return json_node_init_object (json_node_alloc (), body);
}

/* A path segment taken from a caller (ids, codes) is escaped. */
char *
rest_segment_path (const char *prefix,
                   const char *segment,
                   const char *after)
{
  g_autofree char *escaped = g_uri_escape_string (segment, NULL, FALSE);

  return g_strconcat (prefix, escaped, after, NULL);
}

/* A request to @prefix{segment}@after, as "rooms/{id}/leave". */
void
rest_segment_send (MeshClientRest      *self,
                   const char          *method,
                   const char          *prefix,
                   const char          *segment,
                   const char          *after,
                   JsonNode            *body,
                   gpointer             source_tag,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  g_autofree char *path = rest_segment_path (prefix, segment, after);

  rest_send (self, method, path, body, source_tag, cancellable, callback, user_data);
}

static void
mesh_client_rest_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MeshClientRest *self = MESH_CLIENT_REST (object);

  switch (prop_id) {
  case PROP_BASE_URL:
    g_value_set_string (value, self->base_url);
    break;
  case PROP_ACCESS_TOKEN:
    g_value_set_string (value, self->access_token);
    break;
  case PROP_USER_ID:
    g_value_set_string (value, self->user_id);
    break;
  case PROP_PINNED_FINGERPRINT:
    g_value_set_string (value, self->pinned_fingerprint);
    break;
  case PROP_PRESENTED_FINGERPRINT:
    g_value_set_string (value, self->presented_fingerprint);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_client_rest_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  MeshClientRest *self = MESH_CLIENT_REST (object);

  switch (prop_id) {
  case PROP_BASE_URL: {
    g_autofree char *url = g_strdup (g_value_get_string (value));
    gsize len = url ? strlen (url) : 0;

    while (len > 0 && url[len - 1] == '/')
      url[--len] = '\0';
    /* The server prints its REST URL; people will paste that. */
    if (url != NULL && g_str_has_suffix (url, "/api/v1"))
      url[len - strlen ("/api/v1")] = '\0';
    self->base_url = g_steal_pointer (&url);
    break;
  }
  case PROP_ACCESS_TOKEN:
    mesh_client_rest_set_access_token (self, g_value_get_string (value));
    break;
  case PROP_USER_ID:
    mesh_client_rest_set_user_id (self, g_value_get_string (value));
    break;
  case PROP_PINNED_FINGERPRINT:
    mesh_client_rest_set_pinned_fingerprint (self, g_value_get_string (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_client_rest_dispose (GObject *object)
{
  MeshClientRest *self = MESH_CLIENT_REST (object);

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (mesh_client_rest_parent_class)->dispose (object);
}

static void
mesh_client_rest_finalize (GObject *object)
{
  MeshClientRest *self = MESH_CLIENT_REST (object);

  g_free (self->base_url);
  g_free (self->access_token);
  g_free (self->user_id);
  g_free (self->pinned_fingerprint);
  g_free (self->presented_fingerprint);
  G_OBJECT_CLASS (mesh_client_rest_parent_class)->finalize (object);
}

static void
mesh_client_rest_class_init (MeshClientRestClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mesh_client_rest_get_property;
  object_class->set_property = mesh_client_rest_set_property;
  object_class->dispose = mesh_client_rest_dispose;
  object_class->finalize = mesh_client_rest_finalize;

  properties[PROP_BASE_URL] =
    g_param_spec_string ("base-url", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ACCESS_TOKEN] = g_param_spec_string ("access-token", NULL, NULL, NULL, rw);
  properties[PROP_USER_ID] = g_param_spec_string ("user-id", NULL, NULL, NULL, rw);
  properties[PROP_PINNED_FINGERPRINT] =
    g_param_spec_string ("pinned-fingerprint", NULL, NULL, NULL, rw);
  properties[PROP_PRESENTED_FINGERPRINT] =
    g_param_spec_string ("presented-fingerprint", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_client_rest_init (MeshClientRest *self)
{
  /* libsoup's defaults (10, 2 per host) would queue REST calls behind the
   * WebSocket and each other. */
  self->session = soup_session_new_with_options ("max-conns", 64,
                                                 "max-conns-per-host", 32,
                                                 "user-agent", "mesh/" PACKAGE_VERSION,
                                                 NULL);
}

MeshClientRest *
mesh_client_rest_new (const char *base_url)
{
  g_return_val_if_fail (base_url != NULL, NULL);

  return g_object_new (MESH_TYPE_CLIENT_REST, "base-url", base_url, NULL);
}

const char *
mesh_client_rest_get_base_url (MeshClientRest *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (self), NULL);
  return self->base_url;
}

SoupSession *
mesh_client_rest_get_soup_session (MeshClientRest *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (self), NULL);
  return self->session;
}

const char *
mesh_client_rest_get_access_token (MeshClientRest *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (self), NULL);
  return self->access_token;
}

void
mesh_client_rest_set_access_token (MeshClientRest *self,
                                   const char     *access_token)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));

  mesh_property_set_string (G_OBJECT (self), &self->access_token, access_token,
                            properties[PROP_ACCESS_TOKEN]);
}

const char *
mesh_client_rest_get_user_id (MeshClientRest *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (self), NULL);
  return self->user_id;
}

void
mesh_client_rest_set_user_id (MeshClientRest *self,
                              const char     *user_id)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));

  mesh_property_set_string (G_OBJECT (self), &self->user_id, user_id,
                            properties[PROP_USER_ID]);
}

void
mesh_client_rest_set_pinned_fingerprint (MeshClientRest *self,
                                         const char     *fingerprint)
{
  g_autofree char *normalized = NULL;

  g_return_if_fail (MESH_IS_CLIENT_REST (self));

  if (fingerprint != NULL && fingerprint[0] != '\0')
    normalized = normalize_fingerprint (fingerprint);
  mesh_property_set_string (G_OBJECT (self), &self->pinned_fingerprint, normalized,
                            properties[PROP_PINNED_FINGERPRINT]);
}

const char *
mesh_client_rest_get_pinned_fingerprint (MeshClientRest *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (self), NULL);
  return self->pinned_fingerprint;
}

const char *
mesh_client_rest_get_presented_fingerprint (MeshClientRest *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (self), NULL);
  return self->presented_fingerprint;
}

void
mesh_client_rest_call_async (MeshClientRest      *self,
                             const char          *method,
                             const char          *path,
                             JsonNode            *body,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (method != NULL && path != NULL);

  rest_send (self, method, path, body, mesh_client_rest_call_async, cancellable, callback,
             user_data);
}

JsonNode *
mesh_client_rest_call_finish (MeshClientRest  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  return rest_finish (self, result, mesh_client_rest_call_async, error);
}

void
mesh_client_rest_login_async (MeshClientRest      *self,
                              const char          *username,
                              const char          *password,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(JsonNode) body = NULL;

  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (username != NULL && password != NULL);

  body = rest_strings_body ("username", username, "password", password, NULL);
  rest_send (self, "POST", "auth/login", body, mesh_client_rest_login_async, cancellable,
             callback, user_data);
}

gboolean
mesh_client_rest_login_finish (MeshClientRest  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  const char *token, *user_id;
  g_autoptr(JsonNode) node = rest_finish_strings (self, result, mesh_client_rest_login_async, error,
                                                  "access_token", &token, "user_id", &user_id,
                                                  NULL);

  if (node == NULL)
    return FALSE;
  mesh_client_rest_set_access_token (self, token);
  mesh_client_rest_set_user_id (self, user_id);
  return TRUE;
}

void
mesh_client_rest_register_async (MeshClientRest      *self,
                                 const char          *username,
                                 const char          *password,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(JsonNode) body = NULL;

  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (username != NULL && password != NULL);

  body = rest_strings_body ("username", username, "password", password, NULL);
  rest_send (self, "POST", "auth/register", body, mesh_client_rest_register_async, cancellable,
             callback, user_data);
}

char *
mesh_client_rest_register_finish (MeshClientRest  *self,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  return rest_finish_string (self, result, mesh_client_rest_register_async, "user_id", NULL, NULL,
                             error);
}

