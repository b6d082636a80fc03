/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "mesh-rest.h"

#include "mesh-error.h"

G_BEGIN_DECLS

/* Shared by the REST modules: mesh-rest.c (the route table, authentication
 * and replies), mesh-rest-auth.c (registration, login and their throttle),
 * mesh-rest-rooms.c (rooms, invites, history, caps) and mesh-rest-me.c
 * (devices, keys, Gotify, TURN). */

/* The handlers' shared state, reference-counted (g_rc_box): the server
 * holds one reference per handler, each pending login one more. */
typedef struct {
  MeshStore           *store;
  MeshCapKey          *cap_key;
  gboolean             open_registration;
  gsize                max_body_size;
  MeshRestControlFunc  may_control_terminal;
  gpointer             hook_data;
  MeshNotifier        *notifier;
  void               (*device_revoked) (gpointer user_data, const char *device_id);
  MeshRestThrottle     throttle;
  GHashTable          *ip_buckets;      /* address → Bucket */
  GHashTable          *user_buckets;    /* lower-case username → Bucket */
  GHashTable          *known;           /* "username\naddress" → expiry (µs, boxed) */
  MeshRestTurn         turn;
} MeshRest;

/* One request on its way through the route table. */
typedef struct {
  MeshRest          *rest;
  SoupServerMessage *msg;
  GHashTable        *query;       /* decoded query string, may be NULL */
  const char        *params[2];   /* the path's '*' segments, in order */
  char              *user_id;     /* the caller, once authenticated */
  char              *device_id;   /* set when the caller used a device token */
  JsonObject        *body;        /* for routes that take a JSON object */
} MeshRestRequest;

typedef void (*MeshRestHandler) (MeshRestRequest *request);

/* A login or registration waiting for its PBKDF2 work: the message is
 * paused meanwhile, and the client may hang up before the answer. */
typedef struct {
  MeshRest          *rest;
  SoupServerMessage *msg;
  gulong             disconnected_id;
  gboolean           gone;
  char              *user_key;        /* login: the username's bucket key */
  char              *address;         /* login: the client's address key */
  gboolean           user_token;      /* login: took a token from user_key */
} PendingReply;

void                mesh_rest_reply_error_code          (SoupServerMessage  *msg,
                                                         MeshErrorCode       code,
                                                         const char         *format,
                                                         ...) G_GNUC_PRINTF (3, 4);
void                mesh_rest_reply_object              (SoupServerMessage  *msg,
                                                         guint               status,
                                                         JsonObject         *object);
void                mesh_rest_reply_array               (SoupServerMessage  *msg,
                                                         JsonArray          *array);
void                mesh_rest_reply_no_content          (SoupServerMessage  *msg);

PendingReply       *mesh_rest_pending_reply_new         (MeshRestRequest    *request);
void                mesh_rest_pending_reply_free        (PendingReply       *pending);
SoupServerMessage  *mesh_rest_pending_reply_get_message (PendingReply       *pending);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PendingReply, mesh_rest_pending_reply_free)

gboolean            mesh_rest_request_get_string        (MeshRestRequest    *request,
                                                         const char         *field,
                                                         gboolean            required,
                                                         const char        **value);
gboolean            mesh_rest_request_get_int           (MeshRestRequest    *request,
                                                         const char         *field,
                                                         gint64              min,
                                                         gint64              max,
                                                         gint64             *value);
gboolean            mesh_rest_request_check_member      (MeshRestRequest    *request,
                                                         const char         *room_id);

/* The route handlers, by module. */
void mesh_rest_handle_register       (MeshRestRequest *request);
void mesh_rest_handle_login          (MeshRestRequest *request);

void mesh_rest_handle_list_rooms     (MeshRestRequest *request);
void mesh_rest_handle_create_room    (MeshRestRequest *request);
void mesh_rest_handle_rename_room    (MeshRestRequest *request);
void mesh_rest_handle_delete_room    (MeshRestRequest *request);
void mesh_rest_handle_leave_room     (MeshRestRequest *request);
void mesh_rest_handle_create_invite  (MeshRestRequest *request);
void mesh_rest_handle_accept_invite  (MeshRestRequest *request);
void mesh_rest_handle_list_messages  (MeshRestRequest *request);
void mesh_rest_handle_issue_caps     (MeshRestRequest *request);

void mesh_rest_handle_add_device     (MeshRestRequest *request);
void mesh_rest_handle_list_devices   (MeshRestRequest *request);
void mesh_rest_handle_delete_device  (MeshRestRequest *request);
void mesh_rest_handle_get_keys       (MeshRestRequest *request);
void mesh_rest_handle_get_gotify     (MeshRestRequest *request);
void mesh_rest_handle_put_gotify     (MeshRestRequest *request);
void mesh_rest_handle_delete_gotify  (MeshRestRequest *request);
void mesh_rest_handle_test_gotify    (MeshRestRequest *request);
void mesh_rest_handle_get_turn       (MeshRestRequest *request);

G_END_DECLS
