/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-rest"

#include "config.h"

#include "mesh-cap-token.h"
#include "mesh-config.h"
#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-rest.h"
#include "mesh-store.h"
#include "mesh-test-server.h"

#include <glib/gstdio.h>

#define FINGERPRINT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FINGERPRINT_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAX_BODY      4096

typedef struct {
  char        *dir;
  MeshStore   *store;
  MeshCapKey  *cap_key;
  SoupServer  *server;
  SoupSession *session;
  char        *base;
  char        *controller;   /* the user_id that may hold terminal control */
} Fixture;

typedef struct {
  guint               status;
  char               *body;
  JsonNode           *json;
  SoupMessageHeaders *headers;
} Response;

static void
response_free (Response *response)
{
  g_free (response->body);
  g_clear_pointer (&response->json, json_node_unref);
  g_clear_pointer (&response->headers, soup_message_headers_unref);
  g_free (response);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

static gboolean
allow_control (gpointer    data,
               const char *room_id,
               const char *user_id,
               const char *bearer_token)
{
  Fixture *fixture = data;

  return g_strcmp0 (user_id, fixture->controller) == 0;
}

/* (Re)starts the REST server on the fixture's store: open registration
 * or not, and the [turn] settings (NULL: none). */
static void
fixture_listen (Fixture            *fixture,
                gboolean            open,
                const MeshRestTurn *turn)
{
  g_autoptr(GError) error = NULL;
  g_autoslist(GUri) uris = NULL;
  MeshRestConfig config = { 0, };

  if (fixture->server != NULL) {
    soup_server_disconnect (fixture->server);
    g_clear_object (&fixture->server);
    g_clear_pointer (&fixture->base, g_free);
  }
  config.store = fixture->store;
  config.cap_key = fixture->cap_key;
  config.open_registration = open;
  config.max_body_size = MAX_BODY;
  config.may_control_terminal = allow_control;
  config.hook_data = fixture;
  if (turn != NULL)
    config.turn = *turn;

  fixture->server = soup_server_new ("server-header", "mesh-test", NULL);
  mesh_rest_add_handlers (fixture->server, &config);
  soup_server_listen_local (fixture->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (fixture->server);
  g_assert_nonnull (uris);
  fixture->base = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uris->data));
}

/* @data: GINT_TO_POINTER (TRUE) for a server with open registration. */
static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *db = NULL;
  g_autofree char *key = NULL;

  fixture->dir = g_dir_make_tmp ("mesh-rest-XXXXXX", &error);
  g_assert_no_error (error);
  db = g_build_filename (fixture->dir, "mesh.db", NULL);
  key = g_build_filename (fixture->dir, "cap-key.pem", NULL);
  fixture->store = mesh_store_open (db, &error);
  g_assert_no_error (error);
  fixture->cap_key = mesh_cap_key_load_or_create (key, &error);
  g_assert_no_error (error);

  fixture_listen (fixture, GPOINTER_TO_INT (data), NULL);
  fixture->session = soup_session_new ();
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_object (&fixture->session);
  soup_server_disconnect (fixture->server);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->cap_key);
  g_clear_object (&fixture->store);

  mesh_test_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->base);
  g_free (fixture->controller);
}

static void
send_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* One HTTP exchange with the in-process server.  @authorization is the
 * whole header value; @body a string or @stream a body of unknown length
 * (sent chunked).  Every answer must be JSON with `Connection: close`. */
static Response *
http (Fixture      *fixture,
      const char   *method,
      const char   *path,
      const char   *authorization,
      const char   *body,
      GInputStream *stream)
{
  g_autofree char *url = g_strconcat (fixture->base, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  Response *response = g_new0 (Response, 1);
  const char *content_type;
  gsize len;

  g_assert_nonnull (msg);
  if (authorization != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                  authorization);
  if (body != NULL) {
    g_autoptr(GBytes) request = g_bytes_new (body, strlen (body));

    soup_message_set_request_body_from_bytes (msg, "application/json", request);
  } else if (stream != NULL) {
    soup_message_set_request_body (msg, "application/json", stream, -1);
  }

  soup_session_send_and_read_async (fixture->session, msg, G_PRIORITY_DEFAULT, NULL,
                                    send_done, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  bytes = soup_session_send_and_read_finish (fixture->session, result, &error);
  g_assert_no_error (error);

  response->status = soup_message_get_status (msg);
  response->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  response->body = g_strndup (g_bytes_get_data (bytes, &len), g_bytes_get_size (bytes));

  g_assert_cmpstr (soup_message_headers_get_one (response->headers, "Connection"), ==, "close");
  content_type = soup_message_headers_get_content_type (response->headers, NULL);
  g_assert_cmpstr (content_type, ==, "application/json");
  {
    g_autoptr(JsonParser) parser = json_parser_new ();

    json_parser_load_from_data (parser, response->body, -1, &error);
    g_assert_no_error (error);
    response->json = json_node_ref (json_parser_get_root (parser));
  }
  return response;
}

static Response *
api (Fixture    *fixture,
     const char *method,
     const char *path,
     const char *token,
     const char *body)
{
  g_autofree char *authorization = token ? g_strconcat ("Bearer ", token, NULL) : NULL;

  return http (fixture, method, path, authorization, body, NULL);
}

static JsonObject *
response_object (Response *response)
{
  g_assert_true (JSON_NODE_HOLDS_OBJECT (response->json));
  return json_node_get_object (response->json);
}

static JsonArray *
response_array (Response *response)
{
  g_assert_true (JSON_NODE_HOLDS_ARRAY (response->json));
  return json_node_get_array (response->json);
}

static const char *
response_string (Response   *response,
                 const char *field)
{
  JsonObject *obj = response_object (response);

  g_assert_true (json_object_has_member (obj, field));
  return json_object_get_string_member (obj, field);
}

/* An error answer: the status, {"code", "message"}, and when @mentions is
 * given, a message that names it (the field or rule at fault). */
static void
assert_error (Response   *response,
              guint       status,
              const char *code,
              const char *mentions)
{
  JsonObject *obj = response_object (response);
  const char *message;

  g_assert_cmpuint (response->status, ==, status);
  g_assert_cmpstr (json_object_get_string_member (obj, "code"), ==, code);
  message = json_object_get_string_member (obj, "message");
  g_assert_nonnull (message);
  g_assert_cmpstr (message, !=, "");
  if (mentions != NULL && strstr (message, mentions) == NULL)
    g_error ("The message \"%s\" does not mention \"%s\"", message, mentions);
  if (status == 401)
    g_assert_cmpstr (soup_message_headers_get_one (response->headers, "WWW-Authenticate"), ==,
                     "Bearer");
}

/* A user made as an administrator would (no REST round trip), with an
 * access token. */
static char *
make_user (Fixture     *fixture,
           const char  *name,
           char       **token)
{
  g_autoptr(GError) error = NULL;
  char *user_id = mesh_store_add_user (fixture->store, name, "correct horse", &error);

  g_assert_no_error (error);
  *token = mesh_store_create_access_token (fixture->store, user_id, NULL, &error);
  g_assert_no_error (error);
  return user_id;
}

static char *
make_room (Fixture    *fixture,
           const char *token,
           const char *name)
{
  g_autofree char *body = g_strdup_printf ("{\"name\": \"%s\"}", name);
  g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms", token, body);

  g_assert_cmpuint (r->status, ==, 201);
  g_assert_true (mesh_id_is_valid (response_string (r, "room_id")));
  return g_strdup (response_string (r, "room_id"));
}

static void
test_health (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(Response) ok = api (fixture, "GET", "/health", NULL, NULL);
  g_autoptr(Response) post = api (fixture, "POST", "/health", NULL, "{}");
  g_autoptr(Response) other = api (fixture, "GET", "/healthz", NULL, NULL);

  g_assert_cmpuint (ok->status, ==, 200);
  g_assert_cmpstr (ok->body, ==, "{\"status\":\"ok\"}");
  assert_error (post, 405, "BAD_REQUEST", NULL);
  assert_error (other, 404, "NOT_FOUND", NULL);
}

static void
test_register_login (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(Response) created = NULL;
  g_autoptr(Response) taken = NULL;
  g_autoptr(Response) login = NULL;
  g_autoptr(Response) rooms = NULL;
  g_autoptr(Response) wrong = NULL;
  g_autoptr(Response) unknown = NULL;
  g_autofree char *user_id = NULL;
  static const struct {
    const char *body;
    const char *mentions;
  } bad[] = {
    { "{\"username\": \"bad name\", \"password\": \"correct horse\"}", "username" },
    { "{\"username\": \"carol\", \"password\": \"short\"}", "password" },
    { "{\"password\": \"correct horse\"}", "'username'" },
    { "{\"username\": \"carol\"}", "'password'" },
    { "{\"username\": 5, \"password\": \"correct horse\"}", "'username'" },
    { "{\"username\": \"carol\", \"password\": [\"x\"]}", "'password'" },
    { "{\"username\": \"\", \"password\": \"correct horse\"}", "username" },
    { "{\"username\": \"carol\", \"password\": ", "JSON" },
    { "[\"carol\", \"correct horse\"]", "object" },
    { "", "empty" },
  };

  created = api (fixture, "POST", "/api/v1/auth/register", NULL,
                 "{\"username\": \"alice\", \"password\": \"correct horse\"}");
  g_assert_cmpuint (created->status, ==, 201);
  user_id = g_strdup (response_string (created, "user_id"));
  g_assert_true (mesh_id_is_valid (user_id));

  taken = api (fixture, "POST", "/api/v1/auth/register", NULL,
               "{\"username\": \"Alice\", \"password\": \"other password\"}");
  assert_error (taken, 409, "CONFLICT", "taken");

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/auth/register", NULL, bad[i].body);

    assert_error (r, 400, "BAD_REQUEST", bad[i].mentions);
  }

  login = api (fixture, "POST", "/api/v1/auth/login", NULL,
               "{\"username\": \"alice\", \"password\": \"correct horse\"}");
  g_assert_cmpuint (login->status, ==, 200);
  g_assert_cmpstr (response_string (login, "user_id"), ==, user_id);
  g_assert_cmpint (json_object_get_int_member (response_object (login), "expires_in"), ==,
                   MESH_STORE_ACCESS_TTL);
  rooms = api (fixture, "GET", "/api/v1/rooms", response_string (login, "access_token"), NULL);
  g_assert_cmpuint (rooms->status, ==, 200);
  g_assert_cmpuint (json_array_get_length (response_array (rooms)), ==, 0);

  /* Unknown user and wrong password: the very same answer. */
  wrong = api (fixture, "POST", "/api/v1/auth/login", NULL,
               "{\"username\": \"alice\", \"password\": \"wrong horse\"}");
  unknown = api (fixture, "POST", "/api/v1/auth/login", NULL,
                 "{\"username\": \"nobody\", \"password\": \"correct horse\"}");
  assert_error (wrong, 401, "UNAUTHORIZED", NULL);
  assert_error (unknown, 401, "UNAUTHORIZED", NULL);
  g_assert_cmpstr (wrong->body, ==, unknown->body);

  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/auth/login", NULL,
                                 "{\"username\": \"alice\", \"password\": true}");

    assert_error (r, 400, "BAD_REQUEST", "'password'");
  }
}

static void
test_register_closed (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(Response) refused = NULL;
  g_autoptr(Response) login = NULL;
  g_autofree char *user_id = NULL;

  refused = api (fixture, "POST", "/api/v1/auth/register", NULL,
                 "{\"username\": \"alice\", \"password\": \"correct horse\"}");
  assert_error (refused, 403, "FORBIDDEN", NULL);

  /* Administrators still add users, who then log in. */
  user_id = mesh_store_add_user (fixture->store, "alice", "correct horse", &error);
  g_assert_no_error (error);
  login = api (fixture, "POST", "/api/v1/auth/login", NULL,
               "{\"username\": \"alice\", \"password\": \"correct horse\"}");
  g_assert_cmpuint (login->status, ==, 200);
  g_assert_cmpstr (response_string (login, "user_id"), ==, user_id);
}

static void
count_signal (SoupServer        *server,
              SoupServerMessage *msg,
              gpointer           user_data)
{
  (*(guint *) user_data)++;
}

static void
cancel_when_read (SoupServer        *server,
                  SoupServerMessage *msg,
                  gpointer           user_data)
{
  g_cancellable_cancel (user_data);
}

/* A client that hangs up while its password is being checked costs the
 * server nothing more than the check. */
static void
test_login_hangup (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = g_strconcat (fixture->base, "/api/v1/auth/login", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
  g_autoptr(GBytes) body = g_bytes_new_static ("{\"username\": \"alice\", "
                                               "\"password\": \"correct horse\"}", 50);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(Response) login = NULL;
  g_autofree char *user_id = NULL;
  guint done = 0;
  gulong read_id;

  user_id = mesh_store_add_user (fixture->store, "alice", "correct horse", &error);
  g_assert_no_error (error);

  g_signal_connect (fixture->server, "request-finished", G_CALLBACK (count_signal), &done);
  g_signal_connect (fixture->server, "request-aborted", G_CALLBACK (count_signal), &done);
  read_id = g_signal_connect (fixture->server, "request-read", G_CALLBACK (cancel_when_read),
                              cancellable);

  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  soup_session_send_and_read_async (fixture->session, msg, G_PRIORITY_DEFAULT, cancellable,
                                    send_done, &result);
  while (result == NULL || done == 0)
    g_main_context_iteration (NULL, TRUE);
  bytes = soup_session_send_and_read_finish (fixture->session, result, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (bytes);
  g_signal_handler_disconnect (fixture->server, read_id);

  login = api (fixture, "POST", "/api/v1/auth/login", NULL,
               "{\"username\": \"alice\", \"password\": \"correct horse\"}");
  g_assert_cmpuint (login->status, ==, 200);
  g_assert_cmpstr (response_string (login, "user_id"), ==, user_id);
}

static void
test_auth (Fixture       *fixture,
           gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autofree char *user_id = make_user (fixture, "alice", &token);
  g_autofree char *lower = g_strconcat ("bearer ", token, NULL);
  g_autofree char *query = g_strconcat ("/api/v1/rooms?access_token=", token, NULL);
  g_autofree char *bad_query = g_strconcat ("/api/v1/rooms?access_token=x", token, NULL);
  g_autoptr(Response) none = api (fixture, "GET", "/api/v1/rooms", NULL, NULL);
  g_autoptr(Response) garbage = api (fixture, "GET", "/api/v1/rooms", "garbage", NULL);
  g_autoptr(Response) basic = http (fixture, "GET", "/api/v1/rooms", "Basic YWxpY2U6eA==",
                                    NULL, NULL);
  g_autoptr(Response) empty = http (fixture, "GET", "/api/v1/rooms", "Bearer ", NULL, NULL);
  g_autoptr(Response) by_query = api (fixture, "GET", query, NULL, NULL);
  g_autoptr(Response) by_bad_query = api (fixture, "GET", bad_query, NULL, NULL);
  g_autoptr(Response) any_case = http (fixture, "GET", "/api/v1/rooms", lower, NULL, NULL);
  g_autoptr(Response) keys = api (fixture, "GET", "/api/v1/keys", NULL, NULL);

  assert_error (none, 401, "UNAUTHORIZED", NULL);
  assert_error (garbage, 401, "UNAUTHORIZED", NULL);
  assert_error (basic, 401, "UNAUTHORIZED", NULL);
  assert_error (empty, 401, "UNAUTHORIZED", NULL);
  assert_error (by_bad_query, 401, "UNAUTHORIZED", NULL);
  assert_error (keys, 401, "UNAUTHORIZED", NULL);
  /* ?access_token= is for the WebSocket upgrade only: REST URLs must not
   * carry tokens into logs. */
  assert_error (by_query, 401, "UNAUTHORIZED", NULL);
  g_assert_cmpuint (any_case->status, ==, 200);
}

static void
test_devices (Fixture       *fixture,
              gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autofree char *user_id = make_user (fixture, "alice", &token);
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(Response) added = NULL;
  g_autoptr(Response) again = NULL;
  g_autoptr(Response) list = NULL;
  g_autoptr(Response) by_device = NULL;
  g_autoptr(Response) rooms = NULL;
  JsonObject *first;

  added = api (fixture, "POST", "/api/v1/devices", token,
               "{\"name\": \"laptop\", \"fingerprint\": \"" FINGERPRINT_A "\"}");
  g_assert_cmpuint (added->status, ==, 201);
  device_id = g_strdup (response_string (added, "device_id"));
  device_token = g_strdup (response_string (added, "device_token"));
  g_assert_true (mesh_id_is_valid (device_id));

  /* Registering the same name again keeps the device's id. */
  again = api (fixture, "POST", "/api/v1/devices", token,
               "{\"name\": \"laptop\", \"fingerprint\": \"" FINGERPRINT_B "\"}");
  g_assert_cmpuint (again->status, ==, 201);
  g_assert_cmpstr (response_string (again, "device_id"), ==, device_id);
  g_clear_pointer (&device_token, g_free);
  device_token = g_strdup (response_string (again, "device_token"));

  /* A device token works for the rest of the API... */
  list = api (fixture, "GET", "/api/v1/devices", device_token, NULL);
  g_assert_cmpuint (list->status, ==, 200);
  g_assert_cmpuint (json_array_get_length (response_array (list)), ==, 1);
  first = json_array_get_object_element (response_array (list), 0);
  g_assert_cmpstr (json_object_get_string_member (first, "device_id"), ==, device_id);
  g_assert_cmpstr (json_object_get_string_member (first, "name"), ==, "laptop");
  g_assert_cmpstr (json_object_get_string_member (first, "fingerprint"), ==, FINGERPRINT_B);
  rooms = api (fixture, "GET", "/api/v1/rooms", device_token, NULL);
  g_assert_cmpuint (rooms->status, ==, 200);

  /* ...but does not register devices. */
  by_device = api (fixture, "POST", "/api/v1/devices", device_token,
                   "{\"name\": \"other\", \"fingerprint\": \"" FINGERPRINT_A "\"}");
  assert_error (by_device, 403, "FORBIDDEN", NULL);

  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/devices", token,
                                 "{\"name\": \"x\", \"fingerprint\": \"AA:BB\"}");

    assert_error (r, 400, "BAD_REQUEST", "fingerprint");
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/devices", token,
                                 "{\"fingerprint\": \"" FINGERPRINT_A "\"}");

    assert_error (r, 400, "BAD_REQUEST", "'name'");
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/devices", token,
                                 "{\"name\": {}, \"fingerprint\": \"" FINGERPRINT_A "\"}");

    assert_error (r, 400, "BAD_REQUEST", "'name'");
  }
}

static void
test_rooms_invites (Fixture       *fixture,
                    gconstpointer  data)
{
  char *tokens[5] = { NULL, };
  char *users[5] = { NULL, };
  g_autofree char *room = NULL;
  g_autofree char *code = NULL;
  g_autofree char *invites_path = NULL;
  g_autofree char *accept_path = NULL;
  g_autoptr(Response) list = NULL;
  g_autoptr(Response) invite = NULL;
  JsonObject *first;
  JsonArray *members;

  for (guint i = 0; i < G_N_ELEMENTS (users); i++) {
    g_autofree char *name = g_strdup_printf ("user%u", i);

    users[i] = make_user (fixture, name, &tokens[i]);
  }

  room = make_room (fixture, tokens[0], "Family");
  invites_path = g_strdup_printf ("/api/v1/rooms/%s/invites", room);

  invite = api (fixture, "POST", invites_path, tokens[0], NULL);
  g_assert_cmpuint (invite->status, ==, 201);
  code = g_strdup (response_string (invite, "code"));
  g_assert_cmpuint (strlen (code), ==, 12);
  g_assert_cmpint (json_object_get_int_member (response_object (invite), "expires_in"), ==,
                   MESH_STORE_INVITE_TTL);
  accept_path = g_strdup_printf ("/api/v1/invites/%s/accept", code);

  {
    g_autoptr(Response) r = api (fixture, "POST", invites_path, tokens[1], NULL);

    assert_error (r, 403, "FORBIDDEN", NULL);
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms/no-such-room/invites",
                                 tokens[0], NULL);

    assert_error (r, 404, "ROOM_NOT_FOUND", NULL);
  }

  for (guint i = 1; i < 4; i++) {
    g_autoptr(Response) r = api (fixture, "POST", accept_path, tokens[i], NULL);

    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpstr (response_string (r, "room_id"), ==, room);
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", accept_path, tokens[4], NULL);

    assert_error (r, 409, "ROOM_FULL", NULL);
  }
  {
    /* Accepting again as a member is fine, even in a full room. */
    g_autoptr(Response) r = api (fixture, "POST", accept_path, tokens[3], NULL);

    g_assert_cmpuint (r->status, ==, 200);
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/invites/ABCDEFGHJKLM/accept",
                                 tokens[4], NULL);

    assert_error (r, 404, "NOT_FOUND", NULL);
  }

  list = api (fixture, "GET", "/api/v1/rooms", tokens[2], NULL);
  g_assert_cmpuint (list->status, ==, 200);
  g_assert_cmpuint (json_array_get_length (response_array (list)), ==, 1);
  first = json_array_get_object_element (response_array (list), 0);
  g_assert_cmpstr (json_object_get_string_member (first, "room_id"), ==, room);
  g_assert_cmpstr (json_object_get_string_member (first, "name"), ==, "Family");
  members = json_object_get_array_member (first, "members");
  g_assert_cmpuint (json_array_get_length (members), ==, 4);
  first = json_array_get_object_element (members, 0);
  g_assert_cmpstr (json_object_get_string_member (first, "user_id"), ==, users[0]);
  g_assert_cmpstr (json_object_get_string_member (first, "username"), ==, "user0");
  g_assert_cmpstr (json_object_get_string_member (first, "role"), ==, "owner");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (members, 3),
                                                  "role"), ==, "member");

  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms", tokens[0], "{\"name\": \"\"}");

    assert_error (r, 400, "BAD_REQUEST", "name");
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms", tokens[0], "{\"name\": 3}");

    assert_error (r, 400, "BAD_REQUEST", "'name'");
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms", tokens[0], "{}");

    assert_error (r, 400, "BAD_REQUEST", "'name'");
  }

  for (guint i = 0; i < G_N_ELEMENTS (users); i++) {
    g_free (users[i]);
    g_free (tokens[i]);
  }
}

static void
test_messages (Fixture       *fixture,
               gconstpointer  data)
{
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *alice = make_user (fixture, "alice", &alice_token);
  g_autofree char *bob = make_user (fixture, "bob", &bob_token);
  g_autofree char *room = make_room (fixture, alice_token, "Chat");
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/messages", room);
  g_autofree char *third_id = NULL;
  g_autoptr(Response) all = NULL;
  JsonArray *array;
  JsonObject *last;

  for (guint i = 0; i < 60; i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *text = g_strdup_printf ("message %u", i);
    g_autofree char *client_id = g_strdup_printf ("c%u", i);
    g_autoptr(MeshStoreMessage) message = mesh_store_add_message (fixture->store, room, alice,
                                                                  "peer-a", text, client_id,
                                                                  NULL, &error);

    g_assert_no_error (error);
    if (i == 2)
      third_id = g_strdup (message->message_id);
  }

  /* Fifty by default, the newest last. */
  all = api (fixture, "GET", path, alice_token, NULL);
  g_assert_cmpuint (all->status, ==, 200);
  array = response_array (all);
  g_assert_cmpuint (json_array_get_length (array), ==, 50);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (array, 0),
                                                  "content"), ==, "message 10");
  last = json_array_get_object_element (array, 49);
  g_assert_cmpstr (json_object_get_string_member (last, "content"), ==, "message 59");
  g_assert_cmpstr (json_object_get_string_member (last, "from"), ==, "peer-a");
  g_assert_cmpstr (json_object_get_string_member (last, "user_id"), ==, alice);
  g_assert_cmpstr (json_object_get_string_member (last, "username"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (last, "room_id"), ==, room);
  g_assert_cmpstr (json_object_get_string_member (last, "client_msg_id"), ==, "c59");
  g_assert_true (mesh_id_is_valid (json_object_get_string_member (last, "message_id")));
  g_assert_true (mesh_timestamp_is_valid (json_object_get_string_member (last, "timestamp")));

  {
    g_autofree char *p = g_strdup_printf ("%s?limit=2", path);
    g_autoptr(Response) r = api (fixture, "GET", p, alice_token, NULL);

    g_assert_cmpuint (json_array_get_length (response_array (r)), ==, 2);
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (
                       response_array (r), 1), "content"), ==, "message 59");
  }
  {
    g_autofree char *p = g_strdup_printf ("%s?before=%s&limit=200", path, third_id);
    g_autoptr(Response) r = api (fixture, "GET", p, alice_token, NULL);

    g_assert_cmpuint (json_array_get_length (response_array (r)), ==, 2);
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (
                       response_array (r), 0), "content"), ==, "message 0");
  }
  for (guint i = 0; i < 4; i++) {
    static const char * const bad_limits[] = { "0", "201", "abc", "-1" };
    g_autofree char *p = g_strdup_printf ("%s?limit=%s", path, bad_limits[i]);
    g_autoptr(Response) r = api (fixture, "GET", p, alice_token, NULL);

    assert_error (r, 400, "BAD_REQUEST", "limit");
  }
  {
    g_autofree char *p = g_strdup_printf ("%s?before=%s", path, room);
    g_autoptr(Response) r = api (fixture, "GET", p, alice_token, NULL);

    assert_error (r, 404, "NOT_FOUND", NULL);
  }
  {
    g_autoptr(Response) r = api (fixture, "GET", path, bob_token, NULL);

    assert_error (r, 403, "FORBIDDEN", NULL);
  }
  {
    g_autoptr(Response) r = api (fixture, "GET", "/api/v1/rooms/no-such-room/messages",
                                 alice_token, NULL);

    assert_error (r, 404, "ROOM_NOT_FOUND", NULL);
  }
}

static void
test_caps (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *alice = make_user (fixture, "alice", &alice_token);
  g_autofree char *bob = make_user (fixture, "bob", &bob_token);
  g_autofree char *room = make_room (fixture, alice_token, "Work");
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/caps", room);
  g_autoptr(Response) issued = NULL;
  g_autoptr(Response) keys = NULL;
  g_autoptr(MeshCapClaims) claims = NULL;
  g_autoptr(MeshCapKey) public_key = NULL;
  static const struct {
    const char *body;
    const char *mentions;
  } bad[] = {
    { "{}", "'caps'" },
    { "{\"caps\": \"call\"}", "'caps'" },
    { "{\"caps\": [1]}", "'caps'" },
    { "{\"caps\": []}", "'caps'" },
    { "{\"caps\": [\"call\", \"teleport\"]}", "teleport" },
    { "{\"caps\": [\"file\"], \"max_size\": -1}", "'max_size'" },
    { "{\"caps\": [\"file\"], \"max_rate\": \"fast\"}", "'max_rate'" },
    { "{\"caps\": [\"file\"], \"ttl\": 0}", "'ttl'" },
    { "{\"caps\": [\"file\"], \"ttl\": 1.5}", "'ttl'" },
    { "{\"caps\": [\"file\"], \"target_peer_id\": 7}", "'target_peer_id'" },
    { "{\"caps\": [\"file\"], \"target_device_id\": \"\"}", "'target_device_id'" },
  };

  issued = api (fixture, "POST", path, alice_token,
                "{\"caps\": [\"file\", \"folder\", \"file\"], \"target_device_id\": \"dev-1\","
                " \"max_size\": 1048576, \"max_rate\": 0, \"ttl\": 60}");
  g_assert_cmpuint (issued->status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (response_object (issued), "expires_in"), ==, 60);

  /* The token carries what was asked, signed by the server's key. */
  claims = mesh_cap_key_verify (fixture->cap_key, response_string (issued, "cap_token"), 0,
                                &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claims->sub, ==, alice);
  g_assert_cmpstr (claims->room_id, ==, room);
  g_assert_cmpuint (g_strv_length (claims->caps), ==, 2);
  g_assert_true (mesh_cap_claims_has_cap (claims, "file"));
  g_assert_true (mesh_cap_claims_has_cap (claims, "folder"));
  g_assert_false (mesh_cap_claims_has_cap (claims, "call"));
  g_assert_cmpstr (claims->target_device_id, ==, "dev-1");
  g_assert_null (claims->target_peer_id);
  g_assert_cmpint (claims->max_size, ==, 1048576);
  g_assert_cmpint (claims->max_rate, ==, 0);
  g_assert_cmpint (claims->exp - claims->iat, ==, 60);
  g_assert_true (mesh_id_is_valid (claims->jti));
  g_clear_pointer (&claims, mesh_cap_claims_free);

  /* GET /keys gives what agents need to check tokens offline. */
  keys = api (fixture, "GET", "/api/v1/keys", alice_token, NULL);
  g_assert_cmpuint (keys->status, ==, 200);
  g_assert_cmpstr (response_string (keys, "alg"), ==, "ES256");
  public_key = mesh_cap_key_new_public (response_string (keys, "public_key_pem"), &error);
  g_assert_no_error (error);
  claims = mesh_cap_key_verify (public_key, response_string (issued, "cap_token"), 0, &error);
  g_assert_no_error (error);
  g_assert_null (claims->target_peer_id);
  g_clear_pointer (&claims, mesh_cap_claims_free);

  {
    /* The default lifetime, and a too long one shortened to the maximum. */
    g_autoptr(Response) plain = api (fixture, "POST", path, alice_token,
                                     "{\"caps\": [\"call\"], \"target_peer_id\": \"p\"}");
    g_autoptr(Response) longer = api (fixture, "POST", path, alice_token,
                                      "{\"caps\": [\"call\"], \"ttl\": 3600}");

    g_assert_cmpint (json_object_get_int_member (response_object (plain), "expires_in"), ==,
                     MESH_CAP_DEFAULT_TTL);
    claims = mesh_cap_key_verify (fixture->cap_key, response_string (plain, "cap_token"), 0,
                                  &error);
    g_assert_no_error (error);
    g_assert_cmpstr (claims->target_peer_id, ==, "p");
    g_assert_cmpint (claims->max_size, ==, -1);
    g_assert_cmpint (claims->exp - claims->iat, ==, MESH_CAP_DEFAULT_TTL);
    g_clear_pointer (&claims, mesh_cap_claims_free);
    g_assert_cmpint (json_object_get_int_member (response_object (longer), "expires_in"), ==,
                     MESH_CAP_MAX_TTL);
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(Response) r = api (fixture, "POST", path, alice_token, bad[i].body);

    assert_error (r, 400, "BAD_REQUEST", bad[i].mentions);
  }

  {
    /* terminal:control only for whoever holds control right now. */
    g_autoptr(Response) refused = api (fixture, "POST", path, alice_token,
                                       "{\"caps\": [\"terminal:view\", \"terminal:control\"]}");
    g_autoptr(Response) granted = NULL;

    assert_error (refused, 403, "FORBIDDEN", "terminal:control");
    fixture->controller = g_strdup (alice);
    granted = api (fixture, "POST", path, alice_token,
                   "{\"caps\": [\"terminal:view\", \"terminal:control\"]}");
    g_assert_cmpuint (granted->status, ==, 200);
    claims = mesh_cap_key_verify (fixture->cap_key, response_string (granted, "cap_token"), 0,
                                  &error);
    g_assert_no_error (error);
    g_assert_true (mesh_cap_claims_has_cap (claims, MESH_CAP_TERMINAL_CONTROL));
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", path, bob_token, "{\"caps\": [\"call\"]}");

    assert_error (r, 403, "FORBIDDEN", NULL);
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms/no-such-room/caps", alice_token,
                                 "{\"caps\": [\"call\"]}");

    assert_error (r, 404, "ROOM_NOT_FOUND", NULL);
  }
}

static void
test_routing (Fixture       *fixture,
              gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autofree char *user_id = make_user (fixture, "alice", &token);
  g_autofree char *big = NULL;
  g_autofree char *padded = NULL;
  g_autoptr(Response) wrong_method = NULL;
  g_autoptr(GInputStream) stream = NULL;

  for (guint i = 0; i < 5; i++) {
    static const char * const unknown[] = {
      "/api/v1/nope", "/api/v1", "/api/v1x/rooms", "/api/v1/rooms/x/y", "/api/v1/rooms//invites",
    };
    g_autoptr(Response) r = api (fixture, "POST", unknown[i], token, "{}");

    assert_error (r, 404, "NOT_FOUND", NULL);
  }

  wrong_method = api (fixture, "DELETE", "/api/v1/rooms", token, NULL);
  assert_error (wrong_method, 405, "BAD_REQUEST", NULL);
  g_assert_cmpstr (soup_message_headers_get_one (wrong_method->headers, "Allow"), ==, "GET, POST");
  {
    g_autoptr(Response) r = api (fixture, "GET", "/api/v1/auth/login", NULL, NULL);

    assert_error (r, 405, "BAD_REQUEST", NULL);
  }

  /* Oversized bodies, with a length or chunked, are refused as such. */
  big = g_strdup_printf ("{\"name\": \"%*s\"}", MAX_BODY, "x");
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms", token, big);

    assert_error (r, 413, "PAYLOAD_TOO_LARGE", NULL);
  }
  stream = g_memory_input_stream_new_from_data (g_strdup (big), strlen (big), g_free);
  {
    g_autofree char *authorization = g_strconcat ("Bearer ", token, NULL);
    g_autoptr(Response) r = http (fixture, "POST", "/api/v1/rooms", authorization, NULL, stream);

    assert_error (r, 413, "PAYLOAD_TOO_LARGE", NULL);
  }
  /* Just below the limit the body is read; here the name is what is wrong. */
  padded = g_strdup_printf ("{\"name\": \"%*s\"}", MAX_BODY - 20, "x");
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms", token, padded);

    assert_error (r, 400, "BAD_REQUEST", "name");
  }
  {
    g_autoptr(Response) r = api (fixture, "POST", "/api/v1/rooms", token, "{\"name\": \"ok\"");

    assert_error (r, 400, "BAD_REQUEST", "JSON");
  }
  {
    /* The server is still fine after all that. */
    g_autoptr(Response) r = api (fixture, "GET", "/api/v1/rooms", token, NULL);

    g_assert_cmpuint (r->status, ==, 200);
  }
}

/* GET /turn with no [turn] settings: 404 (clients take it as "no ICE
 * servers"), and it is still behind authentication. */
static void
test_turn_not_configured (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autofree char *user_id = make_user (fixture, "alice", &token);
  g_autoptr(Response) none = api (fixture, "GET", "/api/v1/turn", NULL, NULL);
  g_autoptr(Response) found = api (fixture, "GET", "/api/v1/turn", token, NULL);
  g_autoptr(Response) post = api (fixture, "POST", "/api/v1/turn", token, "{}");

  assert_error (none, 401, "UNAUTHORIZED", NULL);
  assert_error (found, 404, "NOT_FOUND", NULL);
  assert_error (post, 405, "BAD_REQUEST", NULL);
}

/* The password a TURN server with use-auth-secret expects for @username. */
static char *
expected_password (const char *secret,
                   const char *username)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) secret, strlen (secret));
  guint8 digest[20];
  gsize len = sizeof digest;

  g_hmac_update (hmac, (const guchar *) username, -1);
  g_hmac_get_digest (hmac, digest, &len);
  return g_base64_encode (digest, len);
}

static void
test_turn_credentials (Fixture       *fixture,
                       gconstpointer  data)
{
  static const char * const uris[] = {
    "stun:turn.example.org:3478", "turn:turn.example.org:3478?transport=udp",
    "turns:turn.example.org:5349?transport=tcp", NULL,
  };
  MeshRestTurn turn = { .uris = (GStrv) uris, .secret = (char *) "north-wind", .ttl_s = 600 };
  g_autofree char *token = NULL;
  g_autofree char *user_id = make_user (fixture, "alice", &token);
  g_autofree char *other_token = NULL;
  g_autofree char *other_id = make_user (fixture, "bob", &other_token);
  g_autofree char *known_user = NULL;
  g_autofree char *known_password = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *password = NULL;
  g_autoptr(Response) none = NULL;
  g_autoptr(Response) garbage = NULL;
  g_autoptr(Response) r = NULL;
  g_autoptr(Response) other = NULL;
  JsonObject *obj;
  JsonArray *got;
  const char *username;
  gint64 before, after, expiry;
  char *end;

  /* Against a vector computed elsewhere (Python's hmac + base64). */
  mesh_rest_turn_credentials ("north-wind", "0123456789abcdef", 1700000000, &known_user,
                              &known_password);
  g_assert_cmpstr (known_user, ==, "1700000000:0123456789abcdef");
  g_assert_cmpstr (known_password, ==, "/6lsfTkWkNvdDL/RFkqnVcdmStU=");

  fixture_listen (fixture, FALSE, &turn);
  none = api (fixture, "GET", "/api/v1/turn", NULL, NULL);
  garbage = api (fixture, "GET", "/api/v1/turn", "garbage", NULL);
  assert_error (none, 401, "UNAUTHORIZED", NULL);
  assert_error (garbage, 401, "UNAUTHORIZED", NULL);
  /* No credentials leak into a refusal. */
  g_assert_null (strstr (none->body, "password"));

  before = g_get_real_time () / G_USEC_PER_SEC;
  r = api (fixture, "GET", "/api/v1/turn", token, NULL);
  after = g_get_real_time () / G_USEC_PER_SEC;
  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_one (r->headers, "Cache-Control"), ==, "no-store");
  obj = response_object (r);
  got = json_object_get_array_member (obj, "uris");
  g_assert_cmpuint (json_array_get_length (got), ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (json_array_get_string_element (got, i), ==, uris[i]);
  g_assert_cmpint (json_object_get_int_member (obj, "ttl"), ==, 600);

  /* "<expiry>:<user_id>", expiring ttl seconds after the request. */
  username = json_object_get_string_member (obj, "username");
  g_assert_nonnull (username);
  expiry = g_ascii_strtoll (username, &end, 10);
  g_assert_cmpint (*end, ==, ':');
  g_assert_cmpstr (end + 1, ==, user_id);
  g_assert_cmpint (expiry, >=, before + 600);
  g_assert_cmpint (expiry, <=, after + 600);
  password = expected_password ("north-wind", username);
  g_assert_cmpstr (json_object_get_string_member (obj, "password"), ==, password);

  /* Each user gets their own name, so coturn's logs and quotas are per user. */
  other = api (fixture, "GET", "/api/v1/turn", other_token, NULL);
  g_assert_cmpuint (other->status, ==, 200);
  prefix = g_strconcat (":", other_id, NULL);
  g_assert_true (g_str_has_suffix (json_object_get_string_member (response_object (other),
                                                                   "username"), prefix));
}

/* STUN needs no credentials: a STUN-only server answers bare URIs. */
static void
test_turn_stun_only (Fixture       *fixture,
                     gconstpointer  data)
{
  static const char * const uris[] = { "stun:stun.example.org", NULL };
  MeshRestTurn turn = { .uris = (GStrv) uris, .ttl_s = 3600 };
  g_autofree char *token = NULL;
  g_autofree char *user_id = make_user (fixture, "alice", &token);
  g_autoptr(Response) r = NULL;
  JsonObject *obj;

  fixture_listen (fixture, FALSE, &turn);
  r = api (fixture, "GET", "/api/v1/turn", token, NULL);
  g_assert_cmpuint (r->status, ==, 200);
  obj = response_object (r);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj, "uris")), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (obj, "uris"), 0),
                   ==, "stun:stun.example.org");
  g_assert_false (json_object_has_member (obj, "username"));
  g_assert_false (json_object_has_member (obj, "password"));
  g_assert_cmpint (json_object_get_int_member (obj, "ttl"), ==, 3600);
}

/* Loads @text as a config file; returns the config or NULL with @error. */
static MeshConfig *
load_config (Fixture     *fixture,
             const char  *text,
             GError     **error)
{
  g_autofree char *path = g_build_filename (fixture->dir, "mesh-server.conf", NULL);
  g_autoptr(MeshConfig) config = mesh_config_new ();
  g_autoptr(GError) write_error = NULL;

  g_file_set_contents (path, text, -1, &write_error);
  g_assert_no_error (write_error);
  if (!mesh_config_load_file (config, path, error))
    return NULL;
  return g_steal_pointer (&config);
}

static void
test_turn_config (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshConfig) defaults = load_config (fixture, "[server]\n", &error);
  g_autoptr(MeshConfig) full = NULL;
  g_autoptr(MeshConfig) from_file = NULL;
  g_autofree char *secret_path = g_build_filename (fixture->dir, "turn-secret", NULL);
  g_autofree char *text = NULL;
  static const struct {
    const char *text;
    const char *mentions;
  } bad[] = {
    { "[turn]\nuris=turn:example.org:3478\n", "secret" },
    { "[turn]\nuris=http://example.org/\nsecret=x\n", "'http://example.org/'" },
    { "[turn]\nuris=turn:user:pass@example.org\nsecret=x\n", "turn:user:pass@example.org" },
    { "[turn]\nuris=stun:example.org?transport=udp\n", "stun:example.org?transport=udp" },
    { "[turn]\nuris=turn:example.org?transport=sctp\nsecret=x\n", "transport=sctp" },
    { "[turn]\nuris=stun:\n", "'stun:'" },
    { "[turn]\nuris=stun:example.org\nttl=10\n", "ttl" },
    { "[turn]\nuris=stun:example.org\nttl=soon\n", "ttl" },
    { "[turn]\nuris=turn:example.org\nsecret=\n", "empty" },
    { "[turn]\nsecret=x\nsecret-file=/nonexistent\n", "not both" },
    { "[turn]\nsecret-file=/nonexistent/secret\n", "secret-file" },
  };

  g_assert_no_error (error);
  g_assert_null (defaults->turn.uris);
  g_assert_null (defaults->turn.secret);
  g_assert_cmpuint (defaults->turn.ttl_s, ==, 86400);

  full = load_config (fixture,
                      "[turn]\n"
                      "uris=stun:turn.example.org; turn:turn.example.org:3478?transport=udp;"
                      "turns:[2001:db8::1]:5349?transport=tcp\n"
                      "secret=north-wind\n"
                      "ttl=3600\n", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (full->turn.uris), ==, 3);
  g_assert_cmpstr (full->turn.uris[0], ==, "stun:turn.example.org");
  g_assert_cmpstr (full->turn.uris[1], ==, "turn:turn.example.org:3478?transport=udp");
  g_assert_cmpstr (full->turn.uris[2], ==, "turns:[2001:db8::1]:5349?transport=tcp");
  g_assert_cmpstr (full->turn.secret, ==, "north-wind");
  g_assert_cmpuint (full->turn.ttl_s, ==, 3600);

  /* The secret may live in a file of its own (first line). */
  g_file_set_contents (secret_path, "from-a-file\nignored\n", -1, &error);
  g_assert_no_error (error);
  text = g_strdup_printf ("[turn]\nuris=turn:example.org\nsecret-file=%s\n", secret_path);
  from_file = load_config (fixture, text, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (from_file->turn.secret, ==, "from-a-file");

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GError) bad_error = NULL;
    g_autoptr(MeshConfig) config = load_config (fixture, bad[i].text, &bad_error);

    g_assert_null (config);
    g_assert_nonnull (bad_error);
    if (strstr (bad_error->message, bad[i].mentions) == NULL)
      g_error ("config %u: \"%s\" does not mention \"%s\"", i, bad_error->message,
               bad[i].mentions);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, open) \
  g_test_add ("/mesh/rest/" path, Fixture, GINT_TO_POINTER (open), fixture_set_up, func, \
              fixture_tear_down)

  ADD ("health", test_health, TRUE);
  ADD ("register-login", test_register_login, TRUE);
  ADD ("register-closed", test_register_closed, FALSE);
  ADD ("login-hangup", test_login_hangup, FALSE);
  ADD ("auth", test_auth, FALSE);
  ADD ("devices", test_devices, FALSE);
  ADD ("rooms-invites", test_rooms_invites, FALSE);
  ADD ("messages", test_messages, FALSE);
  ADD ("caps", test_caps, FALSE);
  ADD ("routing", test_routing, FALSE);
  ADD ("turn-not-configured", test_turn_not_configured, FALSE);
  ADD ("turn-credentials", test_turn_credentials, FALSE);
  ADD ("turn-stun-only", test_turn_stun_only, FALSE);
  ADD ("turn-config", test_turn_config, FALSE);

#undef ADD

  return g_test_run ();
}
