/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* A small harness for integration tests: a real `mesh-server` process on
 * 127.0.0.1 with a temporary data folder, REST calls over a real
 * SoupSession, and WebSocket clients that queue what they receive.  Every
 * wait pumps the thread-default main context, so sockets keep reading
 * while a test waits for something else. */

#define MESH_TEST_TIMEOUT_MS 10000

typedef struct _MeshTestServer MeshTestServer;
typedef struct _MeshTestClient MeshTestClient;

typedef struct {
  guint     status;
  GBytes   *body;
  JsonNode *json;        /* NULL when the body is not JSON */
  SoupMessageHeaders *headers;   /* NULL on a transport failure */
} MeshTestResponse;

/* @config_text: the contents of a GKeyFile passed with --config, or NULL.
 * Unless it sets them, the login throttle per address and the socket cap
 * per user are relaxed (tests log in and connect far more than people). */
MeshTestServer *mesh_test_server_new          (const char     *config_text);
void            mesh_test_server_free         (MeshTestServer *self);
const char     *mesh_test_server_get_data_dir (MeshTestServer *self);
const char     *mesh_test_server_get_pid      (MeshTestServer *self);
/* Serve HTTPS with this certificate from the next start on. */
void            mesh_test_server_set_tls      (MeshTestServer *self,
                                               const char     *cert_path,
                                               const char     *key_path);
/* Pass --open-registration from the next start on. */
void            mesh_test_server_set_open_registration (MeshTestServer *self,
                                                        gboolean        open);
/* Runs `mesh-server --data-dir D user add NAME` with the password on
 * standard input; asserts success and returns the new user_id. */
char           *mesh_test_server_add_user     (MeshTestServer *self,
                                               const char     *username,
                                               const char     *password);
/* The same for the server whose data folder is @data_dir. */
char           *mesh_test_add_user_in         (const char     *data_dir,
                                               const char     *username,
                                               const char     *password);
/* Starts the server (asserts it comes up and prints its REST URL).  The
 * first start takes a free port; a start after a stop reuses that port. */
void            mesh_test_server_start        (MeshTestServer *self);
/* SIGTERM, then asserts a clean exit with status 0. */
void            mesh_test_server_stop         (MeshTestServer *self);
gboolean        mesh_test_server_is_running   (MeshTestServer *self);
/* "http://127.0.0.1:PORT/api/v1", as the server printed it. */
const char     *mesh_test_server_get_rest_url (MeshTestServer *self);
/* "http://127.0.0.1:PORT" (or "https://…" with TLS) */
const char     *mesh_test_server_get_base_url (MeshTestServer *self);
SoupSession    *mesh_test_server_get_session  (MeshTestServer *self);

/* REST.  @path is taken from the server's root ("/health",
 * "/api/v1/rooms"); @token may be NULL; @body (JSON text) may be NULL. */
MeshTestResponse *mesh_test_request           (MeshTestServer *self,
                                               const char     *method,
                                               const char     *path,
                                               const char     *token,
                                               const char     *body);
/* The same with a raw body and content type (bad JSON, oversize bodies). */
MeshTestResponse *mesh_test_request_raw       (MeshTestServer *self,
                                               const char     *method,
                                               const char     *path,
                                               const char     *token,
                                               const char     *content_type,
                                               GBytes         *body);
void              mesh_test_response_free     (MeshTestResponse *response);
/* The body as an object (asserts it is one). */
JsonObject       *mesh_test_response_object   (MeshTestResponse *response);
/* The body as an array (asserts it is one). */
JsonArray        *mesh_test_response_array    (MeshTestResponse *response);
/* Asserts @status and an error body {code: @code, message: non-empty}. */
void              mesh_test_response_assert_error (MeshTestResponse *response,
                                                   guint             status,
                                                   const char       *code);
/* mesh_test_request, then asserts @status. */
MeshTestResponse *mesh_test_request_expect    (MeshTestServer *self,
                                               const char     *method,
                                               const char     *path,
                                               const char     *token,
                                               const char     *body,
                                               guint           status);
/* mesh_test_request, then mesh_test_response_assert_error: for a request
 * that must be refused with @status and error @code. */
void              mesh_test_request_expect_error (MeshTestServer *self,
                                                  const char     *method,
                                                  const char     *path,
                                                  const char     *token,
                                                  const char     *body,
                                                  guint           status,
                                                  const char     *code);
/* POST /auth/login; asserts 200 and returns the access token. */
char             *mesh_test_login             (MeshTestServer *self,
                                               const char     *username,
                                               const char     *password,
                                               char          **user_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestResponse, mesh_test_response_free)

/* WebSocket clients. */
typedef enum {
  MESH_TEST_AUTH_NONE,
  MESH_TEST_AUTH_HEADER,   /* Authorization: Bearer */
  MESH_TEST_AUTH_QUERY,    /* /ws?access_token= */
} MeshTestAuth;

/* Opens /ws.  On a refused upgrade returns NULL with @error set and the
 * HTTP status in @http_status (when not NULL). */
MeshTestClient *mesh_test_client_connect      (MeshTestServer *server,
                                               const char     *token,
                                               MeshTestAuth    auth,
                                               guint          *http_status,
                                               GError        **error);
/* Connects with a header token and completes the hello: asserts the
 * welcome and returns the client; @welcome (optional) gets its payload. */
MeshTestClient *mesh_test_client_new_hello    (MeshTestServer *server,
                                               const char     *token,
                                               const char     *peer_type,
                                               const char     *extra_hello_json,
                                               JsonObject    **welcome);
void            mesh_test_client_free         (MeshTestClient *self);
/* Closes from our side and waits for the close to complete. */
void            mesh_test_client_close        (MeshTestClient *self);

/* Sends {type, id, timestamp, payload}; @payload_json is JSON object text
 * (NULL: {}).  Returns the id (owned by the client, valid until freed). */
const char     *mesh_test_client_send         (MeshTestClient *self,
                                               const char     *type,
                                               const char     *payload_json);
/* The same with a `from` of our choosing (servers must ignore it). */
const char     *mesh_test_client_send_from    (MeshTestClient *self,
                                               const char     *type,
                                               const char     *from,
                                               const char     *payload_json);
void            mesh_test_client_send_raw     (MeshTestClient *self,
                                               const char     *text,
                                               gsize           len);
void            mesh_test_client_send_binary  (MeshTestClient *self,
                                               GBytes         *data);

/* Waits for the first queued or incoming frame of @type, removes it from
 * the queue (frames before it stay) and returns the whole frame, or NULL
 * when none came within @timeout_ms or the socket closed first. */
JsonObject     *mesh_test_client_wait_for_type (MeshTestClient *self,
                                                const char     *type,
                                                guint           timeout_ms);
/* The same for the first frame whose `payload.ref` is @ref, any type. */
JsonObject     *mesh_test_client_wait_for_ref (MeshTestClient *self,
                                               const char     *ref,
                                               guint           timeout_ms);
/* wait_for_type and wait_for_ref with MESH_TEST_TIMEOUT_MS that assert a
 * frame came; they return it. */
JsonObject     *mesh_test_client_expect_type  (MeshTestClient *self,
                                               const char     *type);
JsonObject     *mesh_test_client_expect_ref   (MeshTestClient *self,
                                               const char     *ref);
/* Waits for the next `error` frame and asserts its code, its ref (NULL: no
 * ref) and a non-empty message. */
void            mesh_test_client_expect_error (MeshTestClient *self,
                                               const char     *code,
                                               const char     *ref);
/* Frames of @type still queued (already received, not yet taken). */
guint           mesh_test_client_count_type   (MeshTestClient *self,
                                               const char     *type);
guint           mesh_test_client_get_n_queued (MeshTestClient *self);
/* Every queued frame, oldest first (JsonObject*, owned); empties the queue. */
GPtrArray      *mesh_test_client_take_all     (MeshTestClient *self);
void            mesh_test_client_clear        (MeshTestClient *self);
/* Waits until the server closed the socket; FALSE after @timeout_ms. */
gboolean        mesh_test_client_wait_closed  (MeshTestClient *self,
                                               guint           timeout_ms);
gboolean        mesh_test_client_is_open      (MeshTestClient *self);
gushort         mesh_test_client_get_close_code (MeshTestClient *self);

/* Sends room.join for @room_id and asserts the server's room.joined. */
void            mesh_test_client_join         (MeshTestClient *self,
                                               const char     *room_id);
/* Creates a room named @name as @owner_token and has @member_token accept
 * an invite to it; returns the room_id. */
char           *mesh_test_shared_room         (MeshTestServer *server,
                                               const char     *owner_token,
                                               const char     *member_token,
                                               const char     *name);

/* A self-signed certificate for 127.0.0.1 written to @dir; returns the
 * SHA-256 fingerprint of its DER form (hex). */
char           *mesh_test_make_certificate    (const char     *dir,
                                               char          **cert_path,
                                               char          **key_path);
/* The same for @address (an IP address) and 127.0.0.1. */
char           *mesh_test_make_certificate_for (const char    *dir,
                                                const char    *address,
                                                char         **cert_path,
                                                char         **key_path);

/* Iterates the main context until *@flag or @timeout_ms; returns *@flag. */
gboolean        mesh_test_wait_flag           (const gboolean *flag,
                                               guint           timeout_ms);
/* Runs the main context for @ms milliseconds. */
void            mesh_test_pump                (guint           ms);
/* Deletes @path and everything under it (symlinks are removed, not followed). */
void            mesh_test_remove_tree         (const char     *path);
/* A payload member of a frame. */
JsonObject     *mesh_test_frame_payload       (JsonObject     *frame);

/* A server shared by a whole suite, with its users added and logged in. */
#define MESH_TEST_MAX_USERS 8

typedef struct {
  MeshTestServer *server;
  char           *user_id[MESH_TEST_MAX_USERS];
  char           *token[MESH_TEST_MAX_USERS];
} MeshTestUsers;

/* The first call makes the server (@config_text as for mesh_test_server_new),
 * adds @usernames (NULL-terminated, all with @password), starts it and logs
 * each in, asserting the login is the user that was added; every call
 * returns the server. */
MeshTestServer *mesh_test_users_get_server    (MeshTestUsers      *self,
                                               const char         *config_text,
                                               const char * const *usernames,
                                               const char         *password);
/* The end of a suite: stops the server if it runs (asserting a clean exit)
 * and frees it and the users' strings. */
void            mesh_test_users_clear         (MeshTestUsers      *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestServer, mesh_test_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestClient, mesh_test_client_free)

G_END_DECLS
