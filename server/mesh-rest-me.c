/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-rest"

#include "config.h"

#include "mesh-rest-private.h"

#include "mesh-error.h"
#include "mesh-gotify.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

/* The caller's own things: devices, the signing key, Gotify and TURN. */

#define MAX_GOTIFY_TOKEN  512

void
mesh_rest_handle_add_device (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(JsonObject) reply = NULL;
  const char *name, *fingerprint;

  /* Otherwise one stolen agent token could mint more of them. */
  if (request->device_id != NULL) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                                "a device token cannot register devices: use the user's access token");
    return;
  }
  if (!mesh_rest_request_get_string (request, "name", TRUE, &name) ||
      !mesh_rest_request_get_string (request, "fingerprint", TRUE, &fingerprint))
    return;

  if (!mesh_store_add_device (request->rest->store, request->user_id, name, fingerprint,
                              &device_id, &device_token, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "device_id", device_id);
  json_object_set_string_member (reply, "device_token", device_token);
  mesh_rest_reply_object (request->msg, SOUP_STATUS_CREATED, reply);
}

void
mesh_rest_handle_list_devices (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = mesh_store_list_devices (request->rest->store, request->user_id,
                                                          &error);
  g_autoptr(JsonArray) array = json_array_new ();

  if (devices == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  for (guint i = 0; i < devices->len; i++) {
    MeshStoreDevice *device = devices->pdata[i];
    JsonObject *obj = json_object_new ();

    json_object_set_string_member (obj, "device_id", device->device_id);
    json_object_set_string_member (obj, "name", device->name);
    json_object_set_string_member (obj, "fingerprint", device->fingerprint);
    json_array_add_object_element (array, obj);
  }
  mesh_rest_reply_array (request->msg, array);
}

/* Revoking: the token stops working at once and the device's sockets are
 * closed.  The user's own devices only; not with a device token (a stolen
 * agent token must not lock the user's other devices out). */
void
mesh_rest_handle_delete_device (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  const char *device_id = request->params[0];

  if (request->device_id != NULL) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                                "a device token cannot revoke devices: use the user's access token");
    return;
  }
  if (!mesh_store_delete_device (request->rest->store, request->user_id, device_id, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  if (request->rest->device_revoked != NULL)
    request->rest->device_revoked (request->rest->hook_data, device_id);
  mesh_rest_reply_no_content (request->msg);
}

void
mesh_rest_handle_get_keys (MeshRestRequest *request)
{
  g_autoptr(JsonObject) reply = json_object_new ();

  json_object_set_string_member (reply, "alg", "ES256");
  json_object_set_string_member (reply, "public_key_pem",
                                 mesh_cap_key_get_public_pem (request->rest->cap_key));
  mesh_rest_reply_object (request->msg, SOUP_STATUS_OK, reply);
}

/* §9 Gotify settings: the user's own, never through a device token (a
 * stolen agent token must not redirect the user's notifications). */
static gboolean
request_check_gotify (MeshRestRequest *request)
{
  MeshNotifier *notifier = request->rest->notifier;

  if (notifier == NULL || !mesh_notifier_gotify_enabled (notifier)) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                                "Gotify push is turned off on this server");
    return FALSE;
  }
  if (request->device_id != NULL) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                                "a device token cannot manage Gotify settings: use the user's access token");
    return FALSE;
  }
  return TRUE;
}

/* The view of GET and PUT: {url, token_set, priority, events, priorities,
 * pending, last_error?, retry_error?}; never the token. */
static JsonObject *
gotify_view (MeshRest              *rest,
             const MeshStoreGotify *gotify)
{
  JsonObject *view = json_object_new ();
  JsonObject *priorities = json_object_new ();
  JsonArray *events = json_array_new ();

  json_object_set_string_member (view, "url", gotify->url);
  json_object_set_boolean_member (view, "token_set", gotify->token[0] != '\0');
  if (gotify->priority >= 0)
    json_object_set_int_member (view, "priority", gotify->priority);
  else
    json_object_set_null_member (view, "priority");
  for (guint i = 0; i < MESH_NOTIFY_N_KINDS; i++) {
    const char *kind = mesh_notify_kind_to_string (i);

    if (gotify->events == NULL || g_strv_contains ((const char * const *) gotify->events, kind))
      json_array_add_string_element (events, kind);
    json_object_set_int_member (priorities, kind,
                                gotify->priority >= 0 ? gotify->priority
                                                      : mesh_notifier_get_priority (rest->notifier, i));
  }
  json_object_set_array_member (view, "events", events);
  json_object_set_object_member (view, "priorities", priorities);
  json_object_set_int_member (view, "pending", mesh_store_outbox_count (rest->store, gotify->user_id));
  if (gotify->last_error != NULL)
    json_object_set_string_member (view, "last_error", gotify->last_error);
  if (gotify->retry_error != NULL)
    json_object_set_string_member (view, "retry_error", gotify->retry_error);
  return view;
}

/* The user's Gotify target; without one, the reply is the store's error or
 * @code with @message. */
static MeshStoreGotify *
get_gotify_or_reply (MeshRestRequest *request,
                     MeshErrorCode    code,
                     const char      *message)
{
  g_autoptr(GError) error = NULL;
  MeshStoreGotify *gotify = mesh_store_get_gotify (request->rest->store, request->user_id, &error);

  if (gotify != NULL)
    return gotify;
  if (error != NULL)
    mesh_rest_reply_error (request->msg, error);
  else
    mesh_rest_reply_error_code (request->msg, code, "%s", message);
  return NULL;
}

static void
reply_gotify_view (MeshRestRequest *request)
{
  g_autoptr(MeshStoreGotify) gotify = get_gotify_or_reply (request, MESH_ERROR_NOT_FOUND,
                                                           "no Gotify target is set");
  g_autoptr(JsonObject) view = NULL;

  if (gotify == NULL)
    return;
  view = gotify_view (request->rest, gotify);
  mesh_rest_reply_object (request->msg, SOUP_STATUS_OK, view);
}

void
mesh_rest_handle_get_gotify (MeshRestRequest *request)
{
  if (request_check_gotify (request))
    reply_gotify_view (request);
}

void
mesh_rest_handle_put_gotify (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshStoreGotify) previous = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autofree char *message_url = NULL;
  g_auto(GStrv) requested = NULL;
  const char *url, *token;
  gint64 priority = -1;

  if (!request_check_gotify (request) ||
      !mesh_rest_request_get_string (request, "url", TRUE, &url) ||
      !mesh_rest_request_get_string (request, "token", FALSE, &token) ||
      !mesh_rest_request_get_int (request, "priority", 0, 10, &priority))
    return;

  message_url = mesh_gotify_message_url (url, &error);
  if (message_url == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  /* The token is kept as it is (Gotify's formats changed with v3), but it
   * goes into a header: visible ASCII only. */
  if (token != NULL) {
    gsize len = strlen (token);

    for (gsize i = 0; i < len; i++) {
      if (token[i] <= ' ' || token[i] > '~') {
        mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                    "field 'token' must be visible ASCII characters only");
        return;
      }
    }
    if (len > MAX_GOTIFY_TOKEN) {
      mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                  "field 'token' is longer than %d bytes", MAX_GOTIFY_TOKEN);
      return;
    }
  } else {
    /* GET never shows the token: a client changing other settings may
     * leave it out and keep the stored one. */
    previous = get_gotify_or_reply (request, MESH_ERROR_BAD_REQUEST, "missing field 'token'");
    if (previous == NULL)
      return;
    /* The stored token goes only where it went before: a new scheme, host
     * or port needs it again (else a stolen session could redirect it). */
    if (!mesh_gotify_same_origin (previous->url, url)) {
      mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                  "field 'token' is required when the URL's scheme, host or port changes");
      return;
    }
    token = previous->token;
  }

  if (!mesh_json_get_strv (request->body, "events", FALSE, &requested, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  if (requested != NULL) {
    events = g_ptr_array_new ();
    for (guint i = 0; requested[i] != NULL; i++) {
      if (!mesh_notify_kind_from_string (requested[i], NULL)) {
        mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                    "field 'events': unknown kind '%s' (known: chat.message.created, "
                                    "call.missed, share.completed, terminal.share.started, agent.offline)",
                                    requested[i]);
        return;
      }
      if (!g_ptr_array_find_with_equal_func (events, requested[i], g_str_equal, NULL))
        g_ptr_array_add (events, requested[i]);
    }
    g_ptr_array_add (events, NULL);
  }

  if (!mesh_store_set_gotify (request->rest->store, request->user_id, url, token, priority,
                              events ? (const char * const *) events->pdata : NULL, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  mesh_gotify_target_changed (mesh_notifier_get_gotify (request->rest->notifier),
                              request->user_id);
  reply_gotify_view (request);
}

void
mesh_rest_handle_delete_gotify (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;

  if (!request_check_gotify (request))
    return;
  /* Idempotent: deleting nothing is done as well. */
  if (!mesh_store_delete_gotify (request->rest->store, request->user_id, NULL, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  mesh_gotify_target_changed (mesh_notifier_get_gotify (request->rest->notifier),
                              request->user_id);
  mesh_rest_reply_no_content (request->msg);
}

static void
gotify_tested (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(PendingReply) pending = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) report = mesh_gotify_test_finish (MESH_GOTIFY (source), result, &error);
  SoupServerMessage *msg = mesh_rest_pending_reply_get_message (pending);

  if (msg == NULL)
    return;
  if (report == NULL)
    mesh_rest_reply_error (msg, error);
  else
    mesh_rest_reply_object (msg, SOUP_STATUS_OK, report);
  soup_server_message_unpause (msg);
}

/* Gotify's refusal is reported as {ok:false}, never as an error of ours. */
void
mesh_rest_handle_test_gotify (MeshRestRequest *request)
{
  g_autoptr(MeshStoreGotify) gotify = NULL;
  MeshNotifier *notifier = request->rest->notifier;

  if (!request_check_gotify (request))
    return;
  gotify = get_gotify_or_reply (request, MESH_ERROR_NOT_FOUND, "no Gotify target is set");
  if (gotify == NULL)
    return;
  mesh_gotify_test_async (mesh_notifier_get_gotify (notifier), gotify->url, gotify->token,
                          gotify->priority >= 0 ? gotify->priority
                                                : mesh_notifier_get_priority (notifier,
                                                                              MESH_NOTIFY_CHAT_MESSAGE),
                          NULL, gotify_tested, mesh_rest_pending_reply_new (request));
}

void
mesh_rest_turn_init_default (MeshRestTurn *turn)
{
  memset (turn, 0, sizeof *turn);
  turn->ttl_s = MESH_REST_TURN_DEFAULT_TTL;
}

void
mesh_rest_turn_copy (MeshRestTurn       *dest,
                     const MeshRestTurn *src)
{
  dest->uris = g_strdupv (src->uris);
  dest->secret = g_strdup (src->secret);
  dest->ttl_s = src->ttl_s;
}

void
mesh_rest_turn_clear (MeshRestTurn *turn)
{
  g_clear_pointer (&turn->uris, g_strfreev);
  if (turn->secret != NULL) {
    /* A shared secret should not linger in freed memory. */
    memset (turn->secret, 0, strlen (turn->secret));
    g_clear_pointer (&turn->secret, g_free);
  }
}

void
mesh_rest_turn_credentials (const char  *secret,
                            const char  *user_id,
                            gint64       expiry,
                            char       **username,
                            char       **password)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) secret, strlen (secret));
  guint8 digest[20];
  gsize len = sizeof digest;
  g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", expiry, user_id);

  g_hmac_update (hmac, (const guchar *) name, -1);
  g_hmac_get_digest (hmac, digest, &len);
  *password = g_base64_encode (digest, len);
  *username = g_steal_pointer (&name);
}

/* ICE servers for calls.  Credentials are only minted with a secret and
 * are worth nothing to STUN, so a STUN-only setup gets bare URIs. */
void
mesh_rest_handle_get_turn (MeshRestRequest *request)
{
  const MeshRestTurn *turn = &request->rest->turn;
  g_autoptr(JsonObject) reply = NULL;
  JsonArray *uris;

  if (turn->uris == NULL || turn->uris[0] == NULL) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_NOT_FOUND, "no ICE servers are configured");
    return;
  }
  reply = json_object_new ();
  uris = json_array_new ();
  for (guint i = 0; turn->uris[i] != NULL; i++)
    json_array_add_string_element (uris, turn->uris[i]);
  json_object_set_array_member (reply, "uris", uris);
  if (turn->secret != NULL) {
    g_autofree char *username = NULL;
    g_autofree char *password = NULL;
    gint64 expiry = g_get_real_time () / G_USEC_PER_SEC + turn->ttl_s;

    mesh_rest_turn_credentials (turn->secret, request->user_id, expiry, &username, &password);
    json_object_set_string_member (reply, "username", username);
    json_object_set_string_member (reply, "password", password);
  }
  json_object_set_int_member (reply, "ttl", turn->ttl_s);
  /* Fresh credentials every time: no cache may hand them to someone else. */
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Cache-Control", "no-store");
  mesh_rest_reply_object (request->msg, SOUP_STATUS_OK, reply);
}
