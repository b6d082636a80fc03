/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-rest-private.h"

/* The user's devices: the boxed MeshClientDevice, listing, registering
 * and deleting devices, their public keys and capability tokens. */

G_DEFINE_BOXED_TYPE (MeshClientDevice, mesh_client_device, mesh_client_device_copy,
                     mesh_client_device_free)

MeshClientDevice *
mesh_client_device_copy (const MeshClientDevice *device)
{
  MeshClientDevice *copy = g_new0 (MeshClientDevice, 1);

  copy->device_id = g_strdup (device->device_id);
  copy->name = g_strdup (device->name);
  copy->fingerprint = g_strdup (device->fingerprint);
  return copy;
}

void
mesh_client_device_free (MeshClientDevice *device)
{
  if (device == NULL)
    return;
  g_free (device->device_id);
  g_free (device->name);
  g_free (device->fingerprint);
  g_free (device);
}

void
mesh_client_rest_request_caps_async (MeshClientRest      *self,
                                     const char          *room_id,
                                     const char * const  *caps,
                                     const char          *target_peer_id,
                                     const char          *target_device_id,
                                     guint64              max_size,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  JsonArray *array = json_array_new ();

  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (room_id != NULL && caps != NULL);

  for (guint i = 0; caps[i] != NULL; i++)
    json_array_add_string_element (array, caps[i]);
  json_object_set_array_member (body, "caps", array);
  if (target_peer_id != NULL)
    json_object_set_string_member (body, "target_peer_id", target_peer_id);
  if (target_device_id != NULL)
    json_object_set_string_member (body, "target_device_id", target_device_id);
  if (max_size > 0)
    json_object_set_int_member (body, "max_size", (gint64) MIN (max_size, (guint64) G_MAXINT64));
  node = json_node_init_object (json_node_alloc (), body);
  rest_segment_send (self, "POST", "rooms/", room_id, "/caps", node,
                     mesh_client_rest_request_caps_async, cancellable, callback, user_data);
}

char *
mesh_client_rest_request_caps_finish (MeshClientRest  *self,
                                      GAsyncResult    *result,
                                      gint64          *expires_in,
                                      GError         **error)
{
  return rest_finish_string (self, result, mesh_client_rest_request_caps_async, "cap_token",
                             "expires_in", expires_in, error);
}

void
mesh_client_rest_list_devices_async (MeshClientRest      *self,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));

  rest_send (self, "GET", "devices", NULL, mesh_client_rest_list_devices_async, cancellable,
             callback, user_data);
}

static gpointer
device_from_json (MeshClientRest  *self,
                  JsonObject      *object,
                  GError         **error)
{
  const char *device_id, *name, *fingerprint;
  MeshClientDevice *device;

  if (!mesh_json_get_string (object, "device_id", TRUE, &device_id, error) ||
      !mesh_json_get_string (object, "name", TRUE, &name, error) ||
      !mesh_json_get_string (object, "fingerprint", TRUE, &fingerprint, error))
    return NULL;
  device = g_new0 (MeshClientDevice, 1);
  device->device_id = g_strdup (device_id);
  device->name = g_strdup (name);
  device->fingerprint = g_strdup (fingerprint);
  return device;
}

GPtrArray *
mesh_client_rest_list_devices_finish (MeshClientRest  *self,
                                      GAsyncResult    *result,
                                      GError         **error)
{
  return rest_finish_list (self, result, mesh_client_rest_list_devices_async, device_from_json,
                           (GDestroyNotify) mesh_client_device_free, error);
}

void
mesh_client_rest_delete_device_async (MeshClientRest      *self,
                                      const char          *device_id,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (device_id != NULL);

  rest_segment_send (self, "DELETE", "devices/", device_id, "", NULL,
                     mesh_client_rest_delete_device_async, cancellable, callback, user_data);
}

gboolean
mesh_client_rest_delete_device_finish (MeshClientRest  *self,
                                       GAsyncResult    *result,
                                       GError         **error)
{
  g_autoptr(JsonNode) node = rest_finish (self, result, mesh_client_rest_delete_device_async,
                                          error);

  return node != NULL;
}

void
mesh_client_rest_register_device_async (MeshClientRest      *self,
                                        const char          *name,
                                        const char          *fingerprint,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  g_autoptr(JsonNode) body = NULL;

  g_return_if_fail (MESH_IS_CLIENT_REST (self));
  g_return_if_fail (name != NULL && fingerprint != NULL);

  body = rest_strings_body ("name", name, "fingerprint", fingerprint, NULL);
  rest_send (self, "POST", "devices", body, mesh_client_rest_register_device_async, cancellable,
             callback, user_data);
}

char *
mesh_client_rest_register_device_finish (MeshClientRest  *self,
                                         GAsyncResult    *result,
                                         char           **device_token,
                                         GError         **error)
{
  const char *device_id, *token;
  g_autoptr(JsonNode) node = rest_finish_strings (self, result,
                                                  mesh_client_rest_register_device_async, error,
                                                  "device_id", &device_id, "device_token", &token,
                                                  NULL);

  if (node == NULL)
    return NULL;
  if (device_token != NULL)
    *device_token = g_strdup (token);
  return g_strdup (device_id);
}

void
mesh_client_rest_get_keys_async (MeshClientRest      *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (MESH_IS_CLIENT_REST (self));

  rest_send (self, "GET", "keys", NULL, mesh_client_rest_get_keys_async, cancellable, callback,
             user_data);
}

char *
mesh_client_rest_get_keys_finish (MeshClientRest  *self,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  return rest_finish_string (self, result, mesh_client_rest_get_keys_async, "public_key_pem", NULL,
                             NULL, error);
}
