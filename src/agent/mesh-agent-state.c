/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent-state"

#include "config.h"

#include "mesh-agent-state.h"
#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <errno.h>
#include <string.h>

/* agent.json is small; anything bigger is not ours. */
#define STATE_MAX_SIZE (256 * 1024)
/* REST answers are JSON documents of a few KiB at most. */
#define REST_MAX_BODY (4 * 1024 * 1024)

struct _MeshAgentState {
  GObject     parent_instance;

  char       *dir;
  char       *server_url;
  char       *server_fingerprint;
  char       *username;
  char       *user_id;
  char       *device_id;
  char       *device_name;
  char       *device_token;
  JsonObject *settings;
};

G_DEFINE_FINAL_TYPE (MeshAgentState, mesh_agent_state, G_TYPE_OBJECT)

static void
mesh_agent_state_finalize (GObject *object)
{
  MeshAgentState *self = MESH_AGENT_STATE (object);

  g_free (self->dir);
  g_free (self->server_url);
  g_free (self->server_fingerprint);
  g_free (self->username);
  g_free (self->user_id);
  g_free (self->device_id);
  g_free (self->device_name);
  g_free (self->device_token);
  g_clear_pointer (&self->settings, json_object_unref);

  G_OBJECT_CLASS (mesh_agent_state_parent_class)->finalize (object);
}

static void
mesh_agent_state_class_init (MeshAgentStateClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mesh_agent_state_finalize;
}

static void
mesh_agent_state_init (MeshAgentState *self)
{
  self->settings = json_object_new ();
}

/* $XDG_STATE_HOME/mesh-agent, else ~/.local/state/mesh-agent. */
char *
mesh_agent_state_default_dir (void)
{
  const char *xdg = g_getenv ("XDG_STATE_HOME");

  if (xdg != NULL && g_path_is_absolute (xdg))
    return g_build_filename (xdg, "mesh-agent", NULL);
  return g_build_filename (g_get_home_dir (), ".local", "state", "mesh-agent", NULL);
}

MeshAgentState *
mesh_agent_state_new (const char *state_dir)
{
  MeshAgentState *self;

  g_return_val_if_fail (state_dir != NULL, NULL);

  self = g_object_new (MESH_TYPE_AGENT_STATE, NULL);
  self->dir = g_canonicalize_filename (state_dir, NULL);
  return self;
}

static void
take_string (char       **field,
             JsonObject  *object,
             const char  *member)
{
  const char *value = NULL;

  g_clear_pointer (field, g_free);
  if (mesh_json_get_string (object, member, FALSE, &value, NULL) && value != NULL && *value != '\0')
    *field = g_strdup (value);
}

/**
 * mesh_agent_state_load:
 *
 * Reads agent.json.  A missing file is G_IO_ERROR_NOT_FOUND (never logged
 * in); a damaged one is MESH_ERROR_BAD_REQUEST naming the file.
 */
gboolean
mesh_agent_state_load (MeshAgentState  *self,
                       GError         **error)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(JsonObject) root = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *settings = NULL;
  gsize len;

  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), FALSE);

  path = g_build_filename (self->dir, MESH_AGENT_STATE_FILE, NULL);
  if (!g_file_get_contents (path, &contents, &len, &local_error)) {
    if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s does not exist", path);
    else
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", local_error->message);
    return FALSE;
  }
  if (len > STATE_MAX_SIZE) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "%s is too large", path);
    return FALSE;
  }
  root = mesh_json_parse_object (contents, len, &local_error);
  if (root == NULL ||
      !mesh_json_get_object (root, "settings", FALSE, &settings, &local_error)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "%s is damaged: %s", path,
                 local_error->message);
    return FALSE;
  }

  take_string (&self->server_url, root, "server_url");
  take_string (&self->server_fingerprint, root, "server_fingerprint");
  take_string (&self->username, root, "username");
  take_string (&self->user_id, root, "user_id");
  take_string (&self->device_id, root, "device_id");
  take_string (&self->device_name, root, "device_name");
  take_string (&self->device_token, root, "device_token");
  g_clear_pointer (&self->settings, json_object_unref);
  self->settings = settings != NULL ? json_object_ref (settings) : json_object_new ();
  return TRUE;
}

static void
put_string (JsonObject *object,
            const char *member,
            const char *value)
{
  if (value != NULL)
    json_object_set_string_member (object, member, value);
}

/* Written whole to a temporary file and renamed, mode 0600: it holds the
 * device token. */
gboolean
mesh_agent_state_save (MeshAgentState  *self,
                       GError         **error)
{
  g_autoptr(JsonObject) root = json_object_new ();
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  gsize len;

  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), FALSE);

  if (g_mkdir_with_parents (self->dir, 0700) != 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "Cannot create %s: %s",
                 self->dir, g_strerror (errno));
    return FALSE;
  }
  put_string (root, "server_url", self->server_url);
  put_string (root, "server_fingerprint", self->server_fingerprint);
  put_string (root, "username", self->username);
  put_string (root, "user_id", self->user_id);
  put_string (root, "device_id", self->device_id);
  put_string (root, "device_name", self->device_name);
  put_string (root, "device_token", self->device_token);
  json_object_set_object_member (root, "settings", json_object_ref (self->settings));

  text = mesh_json_object_to_string (root, &len);
  path = g_build_filename (self->dir, MESH_AGENT_STATE_FILE, NULL);
  return g_file_set_contents_full (path, text, len,
                                   G_FILE_SET_CONTENTS_CONSISTENT |
                                   G_FILE_SET_CONTENTS_ONLY_EXISTING,
                                   0600, error);
}

MeshAgentIdentity *
mesh_agent_state_load_identity (MeshAgentState  *self,
                                GError         **error)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);

  if (g_mkdir_with_parents (self->dir, 0700) != 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "Cannot create %s: %s",
                 self->dir, g_strerror (errno));
    return NULL;
  }
  return mesh_agent_identity_load_or_create (self->dir, error);
}

const char *
mesh_agent_state_get_dir (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->dir;
}

gboolean
mesh_agent_state_is_registered (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), FALSE);
  return self->server_url != NULL && self->device_id != NULL && self->device_token != NULL;
}

const char *
mesh_agent_state_get_server_url (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->server_url;
}

/* Kept without trailing slashes: paths are appended to it. */
void
mesh_agent_state_set_server_url (MeshAgentState *self,
                                 const char     *url)
{
  gsize len;

  g_return_if_fail (MESH_IS_AGENT_STATE (self));
  g_return_if_fail (url != NULL);

  g_free (self->server_url);
  self->server_url = g_strdup (url);
  len = strlen (self->server_url);
  while (len > 0 && self->server_url[len - 1] == '/')
    self->server_url[--len] = '\0';
}

const char *
mesh_agent_state_get_username (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->username;
}

const char *
mesh_agent_state_get_user_id (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->user_id;
}

void
mesh_agent_state_set_user (MeshAgentState *self,
                           const char     *username,
                           const char     *user_id)
{
  g_return_if_fail (MESH_IS_AGENT_STATE (self));

  g_free (self->username);
  self->username = g_strdup (username);
  g_free (self->user_id);
  self->user_id = g_strdup (user_id);
}

const char *
mesh_agent_state_get_device_id (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->device_id;
}

const char *
mesh_agent_state_get_device_name (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->device_name;
}

const char *
mesh_agent_state_get_device_token (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->device_token;
}

void
mesh_agent_state_set_device (MeshAgentState *self,
                             const char     *device_id,
                             const char     *device_name,
                             const char     *device_token)
{
  g_return_if_fail (MESH_IS_AGENT_STATE (self));

  g_free (self->device_id);
  self->device_id = g_strdup (device_id);
  g_free (self->device_name);
  self->device_name = g_strdup (device_name);
  g_free (self->device_token);
  self->device_token = g_strdup (device_token);
}

JsonObject *
mesh_agent_state_get_settings (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);
  return self->settings;
}

/* REST */

static void
on_rest_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SoupMessage *msg = g_task_get_task_data (task);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  guint status = soup_message_get_status (msg);
  const char *data;
  gsize len;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  data = g_bytes_get_data (body, &len);
  if (len > 0 && len <= REST_MAX_BODY)
    node = mesh_json_parse (data, len, NULL);

  if (status < 200 || status >= 300) {
    MeshErrorCode code = status == SOUP_STATUS_UNAUTHORIZED ? MESH_ERROR_UNAUTHORIZED
                                                            : MESH_ERROR_INTERNAL;
    const char *wire_code = NULL, *message = NULL;

    if (node != NULL && JSON_NODE_HOLDS_OBJECT (node)) {
      JsonObject *obj = json_node_get_object (node);

      if (mesh_json_get_string (obj, "code", FALSE, &wire_code, NULL) && wire_code != NULL)
        mesh_error_code_from_string (wire_code, &code);
      mesh_json_get_string (obj, "message", FALSE, &message, NULL);
    }
    g_task_return_new_error (task, MESH_ERROR, code, "%s %s: %u %s", soup_message_get_method (msg),
                             g_uri_get_path (soup_message_get_uri (msg)), status,
                             message != NULL ? message : soup_message_get_reason_phrase (msg));
    return;
  }
  if (node == NULL && len > 0) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                             "the server answered %s with something that is not JSON",
                             g_uri_get_path (soup_message_get_uri (msg)));
    return;
  }
  g_task_return_pointer (task, node != NULL ? g_steal_pointer (&node) : json_node_new (JSON_NODE_NULL),
                         (GDestroyNotify) json_node_unref);
}

void
mesh_agent_state_rest_async (MeshAgentState      *self,
                             SoupSession         *session,
                             const char          *method,
                             const char          *path,
                             const char          *token,
                             JsonNode            *body,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  SoupMessage *msg;

  g_return_if_fail (MESH_IS_AGENT_STATE (self));
  g_return_if_fail (SOUP_IS_SESSION (session));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_agent_state_rest_async);
  if (self->server_url == NULL) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_UNAUTHORIZED, "not logged in");
    return;
  }
  url = g_strconcat (self->server_url, "/api/v1", path, NULL);
  msg = soup_message_new (method, url);
  if (msg == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "'%s' is not a valid server URL", self->server_url);
    return;
  }
  mesh_agent_state_pin_message (self, msg);
  g_task_set_task_data (task, msg, g_object_unref);
  if (token == NULL)
    token = self->device_token;
  if (token != NULL) {
    g_autofree char *auth = g_strconcat ("Bearer ", token, NULL);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  }
  if (body != NULL) {
    gsize len;
    char *text = mesh_json_to_string (body, &len);
    g_autoptr(GBytes) bytes = g_bytes_new_take (text, len);

    soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  }
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, cancellable, on_rest_read,
                                    g_steal_pointer (&task));
}

JsonNode *
mesh_agent_state_rest_finish (MeshAgentState  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
mesh_agent_error_is_unreachable (const GError *error)
{
  return error != NULL && error->domain != MESH_ERROR &&
         !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

const char *
mesh_agent_state_get_server_fingerprint (MeshAgentState *self)
{
  g_return_val_if_fail (MESH_IS_AGENT_STATE (self), NULL);

  return self->server_fingerprint;
}

/* The SHA-256 (hex) of a self-signed server certificate the user accepted;
 * NULL: only certificates the system trusts. */
void
mesh_agent_state_set_server_fingerprint (MeshAgentState *self,
                                         const char     *fingerprint)
{
  g_return_if_fail (MESH_IS_AGENT_STATE (self));

  g_free (self->server_fingerprint);
  self->server_fingerprint = fingerprint != NULL && *fingerprint != '\0'
                             ? g_ascii_strdown (fingerprint, -1) : NULL;
}

static gboolean
accept_pinned_cb (SoupMessage          *msg,
                  GTlsCertificate      *certificate,
                  GTlsCertificateFlags  errors,
                  const char           *pinned)
{
  g_autoptr(GByteArray) der = NULL;
  g_autofree char *fingerprint = NULL;

  g_object_get (certificate, "certificate", &der, NULL);
  if (der == NULL)
    return FALSE;
  fingerprint = mesh_sha256_hex (der->data, der->len);
  return g_str_equal (fingerprint, pinned);
}

/* Lets @msg accept the pinned certificate (the system's trust still applies
 * to any other). */
void
mesh_agent_state_pin_message (MeshAgentState *self,
                              SoupMessage    *msg)
{
  g_return_if_fail (MESH_IS_AGENT_STATE (self));
  g_return_if_fail (SOUP_IS_MESSAGE (msg));

  if (self->server_fingerprint == NULL)
    return;
  g_object_set_data_full (G_OBJECT (msg), "mesh-pinned-fingerprint",
                          g_strdup (self->server_fingerprint), g_free);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_pinned_cb),
                    g_object_get_data (G_OBJECT (msg), "mesh-pinned-fingerprint"));
}

static void
on_device_registered (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshAgentState *self = MESH_AGENT_STATE (source);
  g_autoptr(JsonNode) answer = NULL;
  GError *error = NULL;
  const char *device_id = NULL, *device_token = NULL;

  answer = mesh_agent_state_rest_finish (self, result, &error);
  if (answer == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT (answer) ||
      !mesh_json_get_string (json_node_get_object (answer), "device_id", TRUE, &device_id, NULL) ||
      !mesh_json_get_string (json_node_get_object (answer), "device_token", TRUE, &device_token,
                             NULL)) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             "the server's answer is malformed");
    return;
  }
  mesh_agent_state_set_device (self, device_id, g_task_get_task_data (task), device_token);
  g_task_return_boolean (task, TRUE);
}

void
mesh_agent_state_register_device_async (MeshAgentState      *self,
                                        SoupSession         *session,
                                        MeshAgentIdentity   *identity,
                                        const char          *access_token,
                                        const char          *name,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  g_autoptr(JsonObject) device = json_object_new ();
  g_autoptr(JsonNode) body = json_node_new (JSON_NODE_OBJECT);
  GTask *task;

  g_return_if_fail (MESH_IS_AGENT_STATE (self));
  g_return_if_fail (MESH_IS_AGENT_IDENTITY (identity));
  g_return_if_fail (access_token != NULL && name != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_agent_state_register_device_async);
  g_task_set_task_data (task, g_strdup (name), g_free);
  json_object_set_string_member (device, "name", name);
  json_object_set_string_member (device, "fingerprint",
                                 mesh_agent_identity_get_fingerprint (identity));
  json_node_set_object (body, device);
  mesh_agent_state_rest_async (self, session, "POST", "/devices", access_token, body, cancellable,
                               on_device_registered, task);
}

gboolean
mesh_agent_state_register_device_finish (MeshAgentState  *self,
                                         GAsyncResult    *result,
                                         GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
