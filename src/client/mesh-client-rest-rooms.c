/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-rest-private.h"

/* Rooms, invites and the messages of a room. */

void
mesh_client_rest_list_rooms_async (MeshClientRest      *self,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));

  rest_send (self, "GET", "rooms", NULL, mesh_client_rest_list_rooms_async, cancellable,
             callback, user_data);
}

static gpointer
room_from_json (MeshClientRest  *self,
                JsonObject      *object,
                GError         **error)
{
  return mesh_room_new_from_json (object, error);
}

GPtrArray *
mesh_client_rest_list_rooms_finish (MeshClientRest  *self,
                                    GAsyncResult    *result,
                                    GError         **error)
{
  return rest_finish_list (self, result, mesh_client_rest_list_rooms_async, room_from_json,
                           g_object_unref, error);
}

void
mesh_client_rest_create_room_async (MeshClientRest      *self,
                                    const char          *name,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(JsonNode) body = NULL;

  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (name != NULL);

  body = rest_strings_body ("name", name, NULL);
  rest_send (self, "POST", "rooms", body, mesh_client_rest_create_room_async, cancellable,
             callback, user_data);
}

char *
mesh_client_rest_create_room_finish (MeshClientRest  *self,
                                     GAsyncResult    *result,
                                     GError         **error)
{
  return rest_finish_string (self, result, mesh_client_rest_create_room_async, "room_id", NULL,
                             NULL, error);
}

/* PATCH /rooms/{id} {name}, DELETE /rooms/{id}, POST /rooms/{id}/leave:
 * one source tag each, one finish for the three. */
void
mesh_client_rest_rename_room_async (MeshClientRest      *self,
                                    const char          *room_id,
                                    const char          *name,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(JsonNode) body = NULL;

  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (room_id != NULL && name != NULL);

  body = rest_strings_body ("name", name, NULL);
  rest_segment_send (self, "PATCH", "rooms/", room_id, "", body,
                     mesh_client_rest_rename_room_async, cancellable, callback, user_data);
}

void
mesh_client_rest_delete_room_async (MeshClientRest      *self,
                                    const char          *room_id,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (room_id != NULL);

  rest_segment_send (self, "DELETE", "rooms/", room_id, "", NULL,
                     mesh_client_rest_delete_room_async, cancellable, callback, user_data);
}

void
mesh_client_rest_leave_room_async (MeshClientRest      *self,
                                   const char          *room_id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (room_id != NULL);

  rest_segment_send (self, "POST", "rooms/", room_id, "/leave", NULL,
                     mesh_client_rest_leave_room_async, cancellable, callback, user_data);
}

gboolean
mesh_client_rest_change_room_finish (MeshClientRest  *self,
                                     GAsyncResult    *result,
                                     GError         **error)
{
  gpointer tag = g_task_get_source_tag (G_TASK (result));
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (tag == mesh_client_rest_rename_room_async ||
                        tag == mesh_client_rest_delete_room_async ||
                        tag == mesh_client_rest_leave_room_async, FALSE);
  node = rest_finish (self, result, tag, error);
  return node != NULL;
}

void
mesh_client_rest_create_invite_async (MeshClientRest      *self,
                                      const char          *room_id,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (room_id != NULL);

  rest_segment_send (self, "POST", "rooms/", room_id, "/invites", NULL,
                     mesh_client_rest_create_invite_async, cancellable, callback, user_data);
}

char *
mesh_client_rest_create_invite_finish (MeshClientRest  *self,
                                       GAsyncResult    *result,
                                       gint64          *expires_in,
                                       GError         **error)
{
  return rest_finish_string (self, result, mesh_client_rest_create_invite_async, "code",
                             "expires_in", expires_in, error);
}

void
mesh_client_rest_accept_invite_async (MeshClientRest      *self,
                                      const char          *code,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (code != NULL);

  rest_segment_send (self, "POST", "invites/", code, "/accept", NULL,
                     mesh_client_rest_accept_invite_async, cancellable, callback, user_data);
}

char *
mesh_client_rest_accept_invite_finish (MeshClientRest  *self,
                                       GAsyncResult    *result,
                                       GError         **error)
{
  return rest_finish_string (self, result, mesh_client_rest_accept_invite_async, "room_id", NULL,
                             NULL, error);
}

static void
list_messages (MeshClientRest      *self,
               const char          *room_id,
               const char          *cursor_name,
               const char          *cursor,
               guint                limit,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  g_autofree char *base = rest_segment_path ("rooms/", room_id, "/messages");
  g_autoptr(GString) path = g_string_new (base);

  g_string_append_printf (path, "?limit=%u", limit);
  if (cursor != NULL) {
    g_autofree char *escaped = g_uri_escape_string (cursor, NULL, FALSE);

    g_string_append_printf (path, "&%s=%s", cursor_name, escaped);
  }
  /* One source tag: both directions end with list_messages_finish. */
  rest_send (self, "GET", path->str, NULL, mesh_client_rest_list_messages_async, cancellable,
             callback, user_data);
}

void
mesh_client_rest_list_messages_async (MeshClientRest      *self,
                                      const char          *room_id,
                                      const char          *before,
                                      guint                limit,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (room_id != NULL);

  list_messages (self, room_id, "before", before, limit, cancellable, callback, user_data);
}

void
mesh_client_rest_list_messages_after_async (MeshClientRest      *self,
                                            const char          *room_id,
                                            const char          *after,
                                            guint                limit,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (room_id != NULL);
  g_return_if_fail (after != NULL);

  list_messages (self, room_id, "after", after, limit, cancellable, callback, user_data);
}

static gpointer
message_from_json (MeshClientRest  *self,
                   JsonObject      *object,
                   GError         **error)
{
  return mesh_chat_message_new_from_json (object, self->user_id, error);
}

GPtrArray *
mesh_client_rest_list_messages_finish (MeshClientRest  *self,
                                       GAsyncResult    *result,
                                       GError         **error)
{
  return rest_finish_list (self, result, mesh_client_rest_list_messages_async, message_from_json,
                           g_object_unref, error);
}
