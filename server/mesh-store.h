/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The server's SQLite store: users, access tokens, devices, rooms, members,
 * invites and chat messages.  All calls are synchronous and run on the
 * server's main thread (WAL, synchronous=NORMAL keeps writes short).
 * Errors are in MESH_ERROR (see src/common/mesh-error.h) where they map to a
 * protocol code (UNAUTHORIZED, ROOM_NOT_FOUND, ROOM_FULL, NOT_FOUND, CONFLICT,
 * BAD_REQUEST), MESH_ERROR_INTERNAL for SQLite failures. */

/* The schema version this build migrates to (one migration per version). */
#define MESH_STORE_SCHEMA_VERSION  3
#define MESH_STORE_ROOM_MAX_USERS  4
#define MESH_STORE_ACCESS_TTL      (30 * 24 * 3600)   /* seconds */
/* A device token unused for this long stops working (a default; see
 * mesh_store_set_device_idle_ttl()). */
#define MESH_STORE_DEVICE_IDLE_TTL (90 * 24 * 3600)   /* seconds */
#define MESH_STORE_INVITE_TTL      (24 * 3600)        /* seconds */

typedef struct {
  char *user_id;
  char *username;
  char *role;           /* "owner" | "member" */
} MeshStoreMember;

typedef struct {
  char *device_id;
  char *user_id;
  char *name;
  char *fingerprint;
} MeshStoreDevice;

typedef struct {
  char   *message_id;
  char   *room_id;
  char   *user_id;
  char   *username;
  char   *sender_id;      /* peer_id (or device_id) of the socket that sent it */
  char   *content;
  char   *client_msg_id;  /* NULL when the client gave none */
  gint64  created_usec;   /* unix time, microseconds */
} MeshStoreMessage;

/* A user's Gotify target (§9). */
typedef struct {
  char   *user_id;
  char   *url;            /* the base URL, as given (checked by the caller) */
  char   *token;          /* the application token: never handed to clients */
  gint64  priority;       /* 0..10, or -1: the server's default per kind */
  GStrv   events;         /* kinds to push; NULL: every kind */
  char   *last_error;     /* why delivery stopped (a refusal); NULL while it runs */
  char   *retry_error;    /* the last passing failure while messages wait */
} MeshStoreGotify;

/* One message waiting in the Gotify outbox. */
typedef struct {
  gint64  id;             /* increasing: the delivery order */
  char   *user_id;
  char   *kind;
  char   *title;
  char   *message;
  gint64  priority;
  char   *extras;         /* JSON object text, or NULL */
  gint64  created_usec;
  gint64  attempts;       /* failed tries so far */
  gint64  next_attempt_usec;  /* unix µs; 0: now */
} MeshStoreOutboxItem;

void mesh_store_member_free  (MeshStoreMember  *member);
void mesh_store_gotify_free  (MeshStoreGotify  *gotify);
void mesh_store_outbox_item_free (MeshStoreOutboxItem *item);
void mesh_store_device_free  (MeshStoreDevice  *device);
void mesh_store_message_free (MeshStoreMessage *message);
/* The JSON view of a message: {message_id, room_id, from, user_id, username,
 * content, timestamp, client_msg_id?} (from = sender_id). */
JsonObject *mesh_store_message_to_json (const MeshStoreMessage *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshStoreMember, mesh_store_member_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshStoreDevice, mesh_store_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshStoreMessage, mesh_store_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshStoreGotify, mesh_store_gotify_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshStoreOutboxItem, mesh_store_outbox_item_free)

#define MESH_TYPE_STORE (mesh_store_get_type ())
G_DECLARE_FINAL_TYPE (MeshStore, mesh_store, MESH, STORE, GObject)

/* Opens (creating if needed) the database at @path and migrates its schema
 * to the latest version. */
MeshStore  *mesh_store_open              (const char   *path,
                                          GError      **error);
void        mesh_store_close             (MeshStore    *self);
int         mesh_store_get_schema_version (MeshStore   *self);

/* Users.  Usernames: 1..64 characters of [A-Za-z0-9._-]; passwords 8..1024
 * bytes.  Taken name: CONFLICT.  Passwords are kept only as PBKDF2-SHA256
 * (≥ 200 000 rounds, 16-byte salt) in a self-describing string. */
char       *mesh_store_add_user          (MeshStore    *self,
                                          const char   *username,
                                          const char   *password,
                                          GError      **error);
/* Returns the user_id, or NULL with UNAUTHORIZED for an unknown user or a
 * wrong password alike (and the same work in both cases). */
char       *mesh_store_check_password    (MeshStore    *self,
                                          const char   *username,
                                          const char   *password,
                                          GError      **error);
/* GPtrArray of char* "user_id\tusername\tcreated ISO-8601" lines. */
/* The same two calls with the PBKDF2 work in a worker thread, so that the
 * main loop keeps serving everyone else meanwhile; the database itself is
 * still used only from the calling thread. */
void        mesh_store_add_user_async    (MeshStore           *self,
                                          const char          *username,
                                          const char          *password,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
char       *mesh_store_add_user_finish   (MeshStore           *self,
                                          GAsyncResult        *result,
                                          GError             **error);
void        mesh_store_check_password_async  (MeshStore           *self,
                                              const char          *username,
                                              const char          *password,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
char       *mesh_store_check_password_finish (MeshStore           *self,
                                              GAsyncResult        *result,
                                              GError             **error);
GPtrArray  *mesh_store_list_users        (MeshStore    *self,
                                          GError      **error);
char       *mesh_store_get_username      (MeshStore    *self,
                                          const char   *user_id);

/* Access tokens: 32 random bytes, base64url; only their SHA-256 is stored.
 * @expires_in receives the lifetime in seconds. */
char       *mesh_store_create_access_token (MeshStore  *self,
                                            const char *user_id,
                                            gint64     *expires_in,
                                            GError    **error);

/* Resolves an access token or a device token.  Returns the user_id, and for
 * a device token sets @device_id (else NULL).  Unknown or expired:
 * UNAUTHORIZED.  A device token expires when it was not used for the idle
 * TTL; each use (recorded at most every few minutes) extends it. */
char       *mesh_store_authenticate      (MeshStore    *self,
                                          const char   *token,
                                          char        **device_id,
                                          GError      **error);

/* Devices (agents).  @fingerprint is validated with mesh_fingerprint_is_valid;
 * name 1..64 printable characters.  A user registering the same name again
 * replaces that device's fingerprint and token but keeps its device_id. */
gboolean    mesh_store_add_device        (MeshStore    *self,
                                          const char   *user_id,
                                          const char   *name,
                                          const char   *fingerprint,
                                          char        **device_id,
                                          char        **device_token,
                                          GError      **error);
MeshStoreDevice *mesh_store_get_device   (MeshStore    *self,
                                          const char   *device_id);
/* SQLite's `synchronous` level of the store's connection (2: FULL, every
 * commit is on disk before it returns). */
int         mesh_store_get_synchronous   (MeshStore    *self);
/* Deletes @user_id's device @device_id: its token stops working at once.
 * Someone else's device, or none: NOT_FOUND. */
gboolean    mesh_store_delete_device     (MeshStore    *self,
                                          const char   *user_id,
                                          const char   *device_id,
                                          GError      **error);
/* Seconds a device token may go unused before it expires. */
void        mesh_store_set_device_idle_ttl (MeshStore  *self,
                                            gint64      seconds);
/* GPtrArray of MeshStoreDevice* of one user. */
GPtrArray  *mesh_store_list_devices      (MeshStore    *self,
                                          const char   *user_id,
                                          GError      **error);

/* Rooms: name 1..100 characters.  The creator becomes "owner". */
char       *mesh_store_create_room       (MeshStore    *self,
                                          const char   *owner_user_id,
                                          const char   *name,
                                          GError      **error);
gboolean    mesh_store_room_exists       (MeshStore    *self,
                                          const char   *room_id);
char       *mesh_store_get_room_name     (MeshStore    *self,
                                          const char   *room_id);
/* The member's role, or NULL when @user_id is not a member. */
char       *mesh_store_get_member_role   (MeshStore    *self,
                                          const char   *room_id,
                                          const char   *user_id);
/* GPtrArray of MeshStoreMember*, in joining order. */
GPtrArray  *mesh_store_list_members      (MeshStore    *self,
                                          const char   *room_id,
                                          GError      **error);
/* The rooms @user_id belongs to: JSON array [{room_id, name, members:[{user_id,
 * username, role}]}] in creation order. */
JsonArray  *mesh_store_list_rooms_json   (MeshStore    *self,
                                          const char   *user_id,
                                          GError      **error);
/* Owner only (else FORBIDDEN; unknown room ROOM_NOT_FOUND): renames the
 * room (1..100 characters) or deletes it with its members, invites and
 * messages.  Each emits MeshStore::room-event ("room.updated" with
 * {room_id, name, user_id}, "room.deleted" with {room_id, user_id}) for
 * every member, so that the hub can tell them. */
gboolean    mesh_store_rename_room       (MeshStore    *self,
                                          const char   *room_id,
                                          const char   *user_id,
                                          const char   *name,
                                          GError      **error);
gboolean    mesh_store_delete_room       (MeshStore    *self,
                                          const char   *room_id,
                                          const char   *user_id,
                                          GError      **error);
/* Any member leaves.  An owner's ownership passes to the member who joined
 * first; the last member out deletes the room.  Emits "room.member.left"
 * {room_id, user_id, username, new_owner?} for every member before. */
gboolean    mesh_store_leave_room        (MeshStore    *self,
                                          const char   *room_id,
                                          const char   *user_id,
                                          GError      **error);
/* GPtrArray of char* room_ids of @user_id. */
GPtrArray  *mesh_store_list_room_ids     (MeshStore    *self,
                                          const char   *user_id,
                                          GError      **error);

/* Invites: a code of 12 characters from an unambiguous alphabet, valid
 * MESH_STORE_INVITE_TTL seconds, usable by several people until then.
 * Accepting: unknown or expired code: NOT_FOUND; room has 4 users:
 * ROOM_FULL; already a member: succeeds (idempotent).  A new member emits
 * MeshStore::room-event "room.member.joined" {room_id, user_id, username}
 * for every member, the new one included. */
char       *mesh_store_create_invite     (MeshStore    *self,
                                          const char   *room_id,
                                          const char   *created_by,
                                          gint64       *expires_in,
                                          GError      **error);
char       *mesh_store_accept_invite     (MeshStore    *self,
                                          const char   *code,
                                          const char   *user_id,
                                          GError      **error);

/* Chat.  Persists a message; when (user_id, client_msg_id) was seen before,
 * returns the message stored then and sets @duplicate. */
MeshStoreMessage *mesh_store_add_message (MeshStore    *self,
                                          const char   *room_id,
                                          const char   *user_id,
                                          const char   *sender_id,
                                          const char   *content,
                                          const char   *client_msg_id,
                                          gboolean     *duplicate,
                                          GError      **error);
/* Up to @limit (1..200) messages older than @before_message_id (NULL: the
 * newest), newest last.  Unknown @before_message_id in that room: NOT_FOUND. */
GPtrArray  *mesh_store_list_messages     (MeshStore    *self,
                                          const char   *room_id,
                                          const char   *before_message_id,
                                          guint         limit,
                                          GError      **error);
/* Up to @limit (1..200) messages newer than @after_message_id, oldest
 * first (a client catching up after a reconnect pages forward with the
 * last one).  Unknown @after_message_id in that room: NOT_FOUND. */
GPtrArray  *mesh_store_list_messages_after (MeshStore  *self,
                                            const char *room_id,
                                            const char *after_message_id,
                                            guint       limit,
                                            GError    **error);

/* Gotify (§9).  Setting a target replaces the user's previous one and
 * clears its errors; deleting it also drops the user's outbox (@existed says
 * whether there was one).  get: NULL without @error when the user has none. */
gboolean    mesh_store_set_gotify        (MeshStore           *self,
                                          const char          *user_id,
                                          const char          *url,
                                          const char          *token,
                                          gint64               priority,
                                          const char * const  *events,
                                          GError             **error);
MeshStoreGotify *mesh_store_get_gotify   (MeshStore           *self,
                                          const char          *user_id,
                                          GError             **error);
gboolean    mesh_store_delete_gotify     (MeshStore           *self,
                                          const char          *user_id,
                                          gboolean            *existed,
                                          GError             **error);
gboolean    mesh_store_set_gotify_status (MeshStore           *self,
                                          const char          *user_id,
                                          const char          *last_error,
                                          const char          *retry_error,
                                          GError             **error);
/* Appends a message to @user_id's outbox and returns its id (0 on error).
 * With @max_pending > 0 the oldest messages beyond the newest @max_pending
 * are dropped; @n_dropped (optional) says how many. */
gint64      mesh_store_outbox_add        (MeshStore           *self,
                                          const char          *user_id,
                                          const char          *kind,
                                          const char          *title,
                                          const char          *message,
                                          gint64               priority,
                                          const char          *extras,
                                          guint                max_pending,
                                          guint               *n_dropped,
                                          GError             **error);
/* The oldest waiting message of @user_id; NULL without @error when none. */
MeshStoreOutboxItem *mesh_store_outbox_head (MeshStore        *self,
                                          const char          *user_id,
                                          GError             **error);
gboolean    mesh_store_outbox_remove     (MeshStore           *self,
                                          gint64               id,
                                          GError             **error);
gboolean    mesh_store_outbox_defer      (MeshStore           *self,
                                          gint64               id,
                                          gint64               attempts,
                                          gint64               next_attempt_usec,
                                          GError             **error);
/* Makes every waiting message of @user_id due now (new settings). */
gboolean    mesh_store_outbox_reset_user (MeshStore           *self,
                                          const char          *user_id,
                                          GError             **error);
gint64      mesh_store_outbox_count      (MeshStore           *self,
                                          const char          *user_id);
/* GPtrArray of char* user_ids with waiting messages. */
GPtrArray  *mesh_store_outbox_list_users (MeshStore           *self,
                                          GError             **error);

G_END_DECLS
