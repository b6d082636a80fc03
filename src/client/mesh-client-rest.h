/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* A device of the user (GET /api/v1/devices). */
typedef struct {
  char *device_id;
  char *name;
  char *fingerprint;
} MeshClientDevice;

#define MESH_TYPE_CLIENT_DEVICE (mesh_client_device_get_type ())

GType             mesh_client_device_get_type (void) G_GNUC_CONST;
MeshClientDevice *mesh_client_device_copy     (const MeshClientDevice *device);
void              mesh_client_device_free     (MeshClientDevice       *device);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshClientDevice, mesh_client_device_free)

#define MESH_TYPE_CLIENT_REST (mesh_client_rest_get_type ())

G_DECLARE_FINAL_TYPE (MeshClientRest, mesh_client_rest, MESH, CLIENT_REST, GObject)

/* The REST side of mesh-server (protocol §2) over one SoupSession, which
 * the WebSocket session shares.  Failed calls give MESH_ERROR codes from
 * the server's {code, message} body (MESH_ERROR_INTERNAL naming the HTTP
 * status when the body has no known code), GIO errors for the transport,
 * and G_TLS_ERROR_BAD_CERTIFICATE for an untrusted certificate whose
 * fingerprint is not the pinned one: "presented-fingerprint" then holds
 * the certificate's SHA-256 so that the user can be asked to trust it. */

/* @base_url: "https://host:port" (a trailing "/api/v1" is accepted too). */
MeshClientRest *mesh_client_rest_new                     (const char           *base_url);
const char     *mesh_client_rest_get_base_url            (MeshClientRest       *self);
SoupSession    *mesh_client_rest_get_soup_session        (MeshClientRest       *self);
/* Set by login; may be set directly with a token saved earlier. */
const char     *mesh_client_rest_get_access_token        (MeshClientRest       *self);
void            mesh_client_rest_set_access_token        (MeshClientRest       *self,
                                                          const char           *access_token);
const char     *mesh_client_rest_get_user_id             (MeshClientRest       *self);
void            mesh_client_rest_set_user_id             (MeshClientRest       *self,
                                                          const char           *user_id);
/* SHA-256 of the server's DER certificate, hex (case and colons are
 * ignored); NULL trusts only certificates the system trusts. */
void            mesh_client_rest_set_pinned_fingerprint  (MeshClientRest       *self,
                                                          const char           *fingerprint);
const char     *mesh_client_rest_get_pinned_fingerprint  (MeshClientRest       *self);
/* The fingerprint of the last certificate the system did not trust. */
const char     *mesh_client_rest_get_presented_fingerprint (MeshClientRest     *self);

/* Any call: @path below /api/v1 ("rooms"), @body may be NULL.  The
 * result is the parsed answer (a null node for an empty one). */
void            mesh_client_rest_call_async              (MeshClientRest       *self,
                                                          const char           *method,
                                                          const char           *path,
                                                          JsonNode             *body,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
JsonNode       *mesh_client_rest_call_finish             (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);

/* POST /auth/login; on success sets access-token and user-id. */
void            mesh_client_rest_login_async             (MeshClientRest       *self,
                                                          const char           *username,
                                                          const char           *password,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean        mesh_client_rest_login_finish            (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* POST /auth/register; returns the new user_id. */
void            mesh_client_rest_register_async          (MeshClientRest       *self,
                                                          const char           *username,
                                                          const char           *password,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char           *mesh_client_rest_register_finish         (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* GET /rooms; returns a GPtrArray of new MeshRoom. */
void            mesh_client_rest_list_rooms_async        (MeshClientRest       *self,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
GPtrArray      *mesh_client_rest_list_rooms_finish       (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* POST /rooms; returns the room_id. */
void            mesh_client_rest_create_room_async       (MeshClientRest       *self,
                                                          const char           *name,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char           *mesh_client_rest_create_room_finish      (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* PATCH /rooms/{room_id} {name} (owner), DELETE /rooms/{room_id} (owner),
 * POST /rooms/{room_id}/leave (any member); each finishes with
 * mesh_client_rest_change_room_finish(). */
void            mesh_client_rest_rename_room_async       (MeshClientRest       *self,
                                                          const char           *room_id,
                                                          const char           *name,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
void            mesh_client_rest_delete_room_async       (MeshClientRest       *self,
                                                          const char           *room_id,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
void            mesh_client_rest_leave_room_async        (MeshClientRest       *self,
                                                          const char           *room_id,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean        mesh_client_rest_change_room_finish      (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* POST /rooms/{room_id}/invites; returns the code. */
void            mesh_client_rest_create_invite_async     (MeshClientRest       *self,
                                                          const char           *room_id,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char           *mesh_client_rest_create_invite_finish    (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          gint64               *expires_in,
                                                          GError              **error);
/* POST /invites/{code}/accept; returns the room_id. */
void            mesh_client_rest_accept_invite_async     (MeshClientRest       *self,
                                                          const char           *code,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char           *mesh_client_rest_accept_invite_finish    (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* GET /rooms/{room_id}/messages; @before may be NULL (the newest page),
 * @limit 1..200.  Returns a GPtrArray of MeshChatMessage, oldest first. */
void            mesh_client_rest_list_messages_async     (MeshClientRest       *self,
                                                          const char           *room_id,
                                                          const char           *before,
                                                          guint                 limit,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
/* GET /rooms/{room_id}/messages?after=: up to @limit messages newer than
 * @after, oldest first (ends with list_messages_finish). */
void            mesh_client_rest_list_messages_after_async (MeshClientRest     *self,
                                                          const char           *room_id,
                                                          const char           *after,
                                                          guint                 limit,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
GPtrArray      *mesh_client_rest_list_messages_finish    (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* POST /rooms/{room_id}/caps; targets may be NULL, @max_size 0 for none.
 * Returns the capability token. */
void            mesh_client_rest_request_caps_async      (MeshClientRest       *self,
                                                          const char           *room_id,
                                                          const char * const   *caps,
                                                          const char           *target_peer_id,
                                                          const char           *target_device_id,
                                                          guint64               max_size,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char           *mesh_client_rest_request_caps_finish     (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          gint64               *expires_in,
                                                          GError              **error);
/* GET /devices; returns a GPtrArray of MeshClientDevice. */
void            mesh_client_rest_list_devices_async      (MeshClientRest       *self,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
GPtrArray      *mesh_client_rest_list_devices_finish     (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* POST /devices; returns the device_id and its token. */
void            mesh_client_rest_register_device_async   (MeshClientRest       *self,
                                                          const char           *name,
                                                          const char           *fingerprint,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char           *mesh_client_rest_register_device_finish  (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          char                **device_token,
                                                          GError              **error);
/* DELETE /devices/{id}: revokes one of the user's devices (its token stops
 * working and its sockets close).  Needs the user's access token. */
void            mesh_client_rest_delete_device_async     (MeshClientRest       *self,
                                                          const char           *device_id,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean        mesh_client_rest_delete_device_finish    (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
/* GET /keys; returns the PEM public key that signs capability tokens. */
void            mesh_client_rest_get_keys_async          (MeshClientRest       *self,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char           *mesh_client_rest_get_keys_finish         (MeshClientRest       *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);

G_END_DECLS
