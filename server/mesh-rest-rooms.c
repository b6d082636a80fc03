/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-rest"

#include "config.h"

#include "mesh-rest-private.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

/* Rooms, invites, chat history and capability tokens. */

#define DEFAULT_LIMIT     50
#define MAX_LIMIT         200

void
mesh_rest_handle_list_rooms (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) rooms = mesh_store_list_rooms_json (request->rest->store,
                                                           request->user_id, &error);

  if (rooms == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  mesh_rest_reply_array (request->msg, rooms);
}

void
mesh_rest_handle_create_room (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = NULL;
  g_autoptr(JsonObject) reply = NULL;
  const char *name;

  if (!mesh_rest_request_get_string (request, "name", TRUE, &name))
    return;
  room_id = mesh_store_create_room (request->rest->store, request->user_id, name, &error);
  if (room_id == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "room_id", room_id);
  mesh_rest_reply_object (request->msg, SOUP_STATUS_CREATED, reply);
}

void
mesh_rest_handle_rename_room (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reply = NULL;
  const char *name;

  if (!mesh_rest_request_get_string (request, "name", TRUE, &name))
    return;
  if (!mesh_store_rename_room (request->rest->store, request->params[0], request->user_id, name,
                               &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "room_id", request->params[0]);
  json_object_set_string_member (reply, "name", name);
  mesh_rest_reply_object (request->msg, SOUP_STATUS_OK, reply);
}

/* DELETE /rooms/{id} and POST /rooms/{id}/leave: the store checks who may. */
static void
reply_room_change (MeshRestRequest *request,
                   gboolean (*change) (MeshStore   *store,
                                       const char  *room_id,
                                       const char  *user_id,
                                       GError     **error))
{
  g_autoptr(GError) error = NULL;

  if (!change (request->rest->store, request->params[0], request->user_id, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  mesh_rest_reply_no_content (request->msg);
}

void
mesh_rest_handle_delete_room (MeshRestRequest *request)
{
  reply_room_change (request, mesh_store_delete_room);
}

void
mesh_rest_handle_leave_room (MeshRestRequest *request)
{
  reply_room_change (request, mesh_store_leave_room);
}

void
mesh_rest_handle_create_invite (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autoptr(JsonObject) reply = NULL;
  gint64 expires_in = 0;

  /* The store answers ROOM_NOT_FOUND and FORBIDDEN (non-member) itself. */
  code = mesh_store_create_invite (request->rest->store, request->params[0], request->user_id,
                                   &expires_in, &error);
  if (code == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "code", code);
  json_object_set_int_member (reply, "expires_in", expires_in);
  mesh_rest_reply_object (request->msg, SOUP_STATUS_CREATED, reply);
}

void
mesh_rest_handle_accept_invite (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = NULL;
  g_autoptr(JsonObject) reply = NULL;

  room_id = mesh_store_accept_invite (request->rest->store, request->params[0],
                                      request->user_id, &error);
  if (room_id == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "room_id", room_id);
  mesh_rest_reply_object (request->msg, SOUP_STATUS_OK, reply);
}

void
mesh_rest_handle_list_messages (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(JsonArray) array = json_array_new ();
  const char *room_id = request->params[0];
  const char *before = NULL;
  const char *after = NULL;
  const char *limit_text = NULL;
  guint64 limit = DEFAULT_LIMIT;

  if (!mesh_rest_request_check_member (request, room_id))
    return;

  if (request->query != NULL) {
    before = g_hash_table_lookup (request->query, "before");
    after = g_hash_table_lookup (request->query, "after");
    limit_text = g_hash_table_lookup (request->query, "limit");
  }
  if (before != NULL && before[0] == '\0')
    before = NULL;
  if (after != NULL && after[0] == '\0')
    after = NULL;
  /* One direction per page: "before" pages back, "after" catches up. */
  if (before != NULL && after != NULL) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                "give either 'before' or 'after', not both");
    return;
  }
  if (limit_text != NULL &&
      (!g_ascii_string_to_unsigned (limit_text, 10, 1, MAX_LIMIT, &limit, NULL))) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                "parameter 'limit' must be an integer from 1 to %d", MAX_LIMIT);
    return;
  }

  if (after != NULL)
    messages = mesh_store_list_messages_after (request->rest->store, room_id, after,
                                               (guint) limit, &error);
  else
    messages = mesh_store_list_messages (request->rest->store, room_id, before, (guint) limit,
                                         &error);
  if (messages == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  for (guint i = 0; i < messages->len; i++)
    json_array_add_object_element (array, mesh_store_message_to_json (messages->pdata[i]));
  mesh_rest_reply_array (request->msg, array);
}

void
mesh_rest_handle_issue_caps (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCapClaims) claims = mesh_cap_claims_new ();
  g_autoptr(GPtrArray) caps = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonObject) reply = NULL;
  g_autofree char *token = NULL;
  g_auto(GStrv) requested = NULL;
  g_autofree char *bearer = mesh_rest_get_bearer (request->msg, FALSE);
  const char *room_id = request->params[0];
  const char *target_peer_id, *target_device_id;
  gint64 ttl = MESH_CAP_DEFAULT_TTL;
  gint64 now;

  if (!mesh_rest_request_check_member (request, room_id))
    return;

  if (!mesh_json_get_strv (request->body, "caps", TRUE, &requested, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  for (guint i = 0; requested[i] != NULL; i++) {
    if (!mesh_cap_is_known (requested[i])) {
      mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                  "field 'caps': unknown capability '%s'", requested[i]);
      return;
    }
    if (!g_ptr_array_find_with_equal_func (caps, requested[i], g_str_equal, NULL))
      g_ptr_array_add (caps, g_strdup (requested[i]));
  }
  if (caps->len == 0) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                                "field 'caps' must name at least one capability");
    return;
  }
  /* §4, §7: control goes only to whoever holds it right now. */
  if (g_ptr_array_find_with_equal_func (caps, MESH_CAP_TERMINAL_CONTROL, g_str_equal, NULL) &&
      (request->rest->may_control_terminal == NULL ||
       !request->rest->may_control_terminal (request->rest->hook_data, room_id, request->user_id,
                                             bearer))) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                                "'terminal:control' is issued only to the holder of terminal control");
    return;
  }

  if (!mesh_rest_request_get_string (request, "target_peer_id", FALSE, &target_peer_id) ||
      !mesh_rest_request_get_string (request, "target_device_id", FALSE, &target_device_id) ||
      !mesh_rest_request_get_int (request, "max_size", 0, G_MAXINT64, &claims->max_size) ||
      !mesh_rest_request_get_int (request, "max_rate", 0, G_MAXINT64, &claims->max_rate) ||
      !mesh_rest_request_get_int (request, "ttl", 1, G_MAXINT32, &ttl))
    return;
  /* Longer asks are shortened, not refused: expires_in tells the truth. */
  ttl = MIN (ttl, MESH_CAP_MAX_TTL);

  now = g_get_real_time () / G_USEC_PER_SEC;
  g_ptr_array_add (caps, NULL);
  claims->caps = (GStrv) g_ptr_array_free (g_steal_pointer (&caps), FALSE);
  claims->sub = g_strdup (request->user_id);
  claims->room_id = g_strdup (room_id);
  claims->iat = now;
  claims->exp = now + ttl;
  claims->jti = mesh_id_new ();
  claims->target_peer_id = g_strdup (target_peer_id);
  claims->target_device_id = g_strdup (target_device_id);

  token = mesh_cap_key_sign (request->rest->cap_key, claims, &error);
  if (token == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "cap_token", token);
  json_object_set_int_member (reply, "expires_in", ttl);
  mesh_rest_reply_object (request->msg, SOUP_STATUS_OK, reply);
}
