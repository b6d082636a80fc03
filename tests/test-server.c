/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "mesh-test-server.h"

#include "mesh-cap-token.h"
#include "mesh-ids.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>

/* Integration tests of the real mesh-server: protocol §2 (REST), §3 (WebSocket),
 * §4 (capability tokens as the hub checks them) and §8 (errors, limits). */

#define PASSWORD     "correct horse battery"
#define FINGERPRINT  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FINGERPRINT2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define QUIC_HELLO   "\"quic\":{\"port\":4433,\"fingerprint\":\"" FINGERPRINT "\"," \
                     "\"addrs\":[\"127.0.0.1\",\"::1\"]}"
#define UNKNOWN_ID   "00000000-0000-4000-8000-000000000000"
#define HELLO_CLIENT "{\"peer_type\":\"client\",\"version\":\"2.0.0\"}"
#define SDP          "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

/* A second server for what needs other settings: open registration, a
 * 1-second hello timeout and a tight rate limit that closes abusers fast. */
#define STRICT_CONFIG \
  "[server]\n" \
  "open-registration=true\n" \
  "hello-timeout=1\n" \
  "[limits]\n" \
  "messages-per-second=1\n" \
  "burst=5\n" \
  "abuse-limit=20\n"

enum { ALICE, BOB, CAROL, DAVE, EVE, N_USERS };

static const char * const usernames[N_USERS + 1] = {
  "alice", "bob", "carol", "dave", "eve", NULL
};

static MeshTestUsers shared;
/* No users of its own: its tests register them. */
static MeshTestUsers strict;

/* Helpers */

static MeshTestServer *
main_server (void)
{
  return mesh_test_users_get_server (&shared, NULL, usernames, PASSWORD);
}

static MeshTestServer *
strict_server (void)
{
  static const char * const nobody[] = { NULL };

  return mesh_test_users_get_server (&strict, STRICT_CONFIG, nobody, PASSWORD);
}

static void
assert_uuid4 (const char *id)
{
  g_assert_nonnull (id);
  g_assert_true (g_uuid_string_is_valid (id));
  g_assert_cmpint (strlen (id), ==, 36);
  g_assert_cmpint (id[14], ==, '4');
}

static const char *
get_str (JsonObject *obj,
         const char *member)
{
  return json_object_get_string_member_with_default (obj, member, NULL);
}

static char *
create_room (const char *token,
             const char *name)
{
  g_autofree char *body = g_strdup_printf ("{\"name\":\"%s\"}", name);
  g_autoptr(MeshTestResponse) r = mesh_test_request (main_server (), "POST", "/api/v1/rooms",
                                                     token, body);
  const char *room_id;

  g_assert_cmpuint (r->status, ==, 201);
  room_id = get_str (mesh_test_response_object (r), "room_id");
  assert_uuid4 (room_id);
  return g_strdup (room_id);
}

static char *
create_invite (const char *token,
               const char *room_id)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/invites", room_id);
  g_autoptr(MeshTestResponse) r = mesh_test_request (main_server (), "POST", path, token, NULL);
  JsonObject *obj;

  g_assert_cmpuint (r->status, ==, 201);
  obj = mesh_test_response_object (r);
  g_assert_cmpint (strlen (get_str (obj, "code")), ==, 12);
  g_assert_cmpint (json_object_get_int_member (obj, "expires_in"), >, 0);
  return g_strdup (get_str (obj, "code"));
}

static MeshTestResponse *
accept_invite (const char *token,
               const char *code)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/invites/%s/accept", code);

  return mesh_test_request (main_server (), "POST", path, token, NULL);
}

/* A room owned by @owner with the other users given (-1 ends the list). */
static char *
room_with (int         owner,
           const char *name,
           ...)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = create_room (shared.token[owner], name);
  g_autofree char *code = create_invite (shared.token[owner], room_id);
  va_list args;
  int member;

  va_start (args, name);
  while ((member = va_arg (args, int)) >= 0) {
    g_autoptr(MeshTestResponse) r = accept_invite (shared.token[member], code);

    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpstr (get_str (mesh_test_response_object (r), "room_id"), ==, room_id);
  }
  va_end (args);
  g_assert_true (mesh_test_server_is_running (server));
  return g_steal_pointer (&room_id);
}

static MeshTestResponse *
request_caps (int         user,
              const char *room_id,
              const char *body)
{
  MeshTestServer *server = main_server ();
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/caps", room_id);

  return mesh_test_request (server, "POST", path, shared.token[user], body);
}

/* @fields: JSON members after "caps" (may be ""). */
static char *
issue_cap (int         user,
           const char *room_id,
           const char *caps,
           const char *fields)
{
  g_autofree char *body = g_strdup_printf ("{\"caps\":%s%s%s}", caps, *fields ? "," : "", fields);
  g_autoptr(MeshTestResponse) r = request_caps (user, room_id, body);
  JsonObject *obj;

  g_assert_cmpuint (r->status, ==, 200);
  obj = mesh_test_response_object (r);
  g_assert_cmpstr (get_str (obj, "cap_token"), !=, NULL);
  return g_strdup (get_str (obj, "cap_token"));
}

/* POST /devices as @user; asserts 201, a UUID and a long token.  Returns
 * the device_token; @device_id (optional) gets the device_id. */
static char *
add_device (int          user,
            const char  *name,
            const char  *fingerprint,
            char       **device_id)
{
  g_autofree char *body = g_strdup_printf ("{\"name\":\"%s\",\"fingerprint\":\"%s\"}",
                                           name, fingerprint);
  g_autoptr(MeshTestResponse) r = mesh_test_request_expect (main_server (), "POST",
                                                            "/api/v1/devices",
                                                            shared.token[user], body, 201);
  JsonObject *obj = mesh_test_response_object (r);

  assert_uuid4 (get_str (obj, "device_id"));
  g_assert_cmpint (strlen (get_str (obj, "device_token")), >=, 32);
  if (device_id != NULL)
    *device_id = g_strdup (get_str (obj, "device_id"));
  return g_strdup (get_str (obj, "device_token"));
}

static MeshTestClient *
client_for (int          user,
            JsonObject **welcome)
{
  /* Started first: it is what logs the users in. */
  MeshTestServer *server = main_server ();

  return mesh_test_client_new_hello (server, shared.token[user], "client", NULL, welcome);
}

static char *
peer_id_of (JsonObject *welcome)
{
  return g_strdup (get_str (welcome, "peer_id"));
}

/* Sends @type with @payload and returns the payload of the answer (the
 * frame whose ref is the request), which must be of @answer_type. */
static JsonObject *
ws_call (MeshTestClient *client,
         const char     *type,
         const char     *payload,
         const char     *answer_type)
{
  const char *id = mesh_test_client_send (client, type, payload);
  g_autoptr(JsonObject) frame = mesh_test_client_expect_ref (client, id);

  g_assert_cmpstr (get_str (frame, "type"), ==, answer_type);
  return json_object_ref (mesh_test_frame_payload (frame));
}

/* Joins and returns the joiner's room.joined payload (ref = the request). */
static JsonObject *
ws_join (MeshTestClient *client,
         const char     *room_id)
{
  g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);

  return ws_call (client, "room.join", payload, "room.joined");
}

/* Sends a chat message and returns the sender's own created payload. */
static JsonObject *
ws_chat (MeshTestClient *client,
         const char     *room_id,
         const char     *content,
         const char     *client_msg_id)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;

  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "content", content);
  if (client_msg_id != NULL)
    json_object_set_string_member (payload, "client_msg_id", client_msg_id);
  json_node_set_object (node, payload);
  text = json_to_string (node, FALSE);
  return ws_call (client, "chat.message.send", text, "chat.message.created");
}

/* Sends "@prefix 0" … "@prefix @n-1" and adds their message_ids to @ids. */
static void
ws_chat_many (MeshTestClient *client,
              const char     *room_id,
              const char     *prefix,
              guint           n,
              GPtrArray      *ids)
{
  for (guint i = 0; i < n; i++) {
    g_autofree char *content = g_strdup_printf ("%s %u", prefix, i);
    g_autoptr(JsonObject) created = ws_chat (client, room_id, content, NULL);

    g_ptr_array_add (ids, g_strdup (get_str (created, "message_id")));
  }
}

static JsonArray *
history (MeshTestServer    *server,
         const char        *token,
         const char        *room_id,
         const char        *query,
         MeshTestResponse **keep)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/messages%s", room_id, query);

  *keep = mesh_test_request (server, "GET", path, token, NULL);
  g_assert_cmpuint ((*keep)->status, ==, 200);
  return mesh_test_response_array (*keep);
}

/* @messages are the chats ws_chat_many sent: @ids, "@prefix 0" on, oldest
 * first, each with @member set to @value. */
static void
assert_chat_history (JsonArray  *messages,
                     GPtrArray  *ids,
                     const char *prefix,
                     const char *member,
                     const char *value)
{
  g_assert_cmpuint (json_array_get_length (messages), ==, ids->len);
  for (guint i = 0; i < ids->len; i++) {
    JsonObject *m = json_array_get_object_element (messages, i);
    g_autofree char *content = g_strdup_printf ("%s %u", prefix, i);

    g_assert_cmpstr (get_str (m, "message_id"), ==, ids->pdata[i]);
    g_assert_cmpstr (get_str (m, "content"), ==, content);
    g_assert_cmpstr (get_str (m, member), ==, value);
  }
}

static const char *
message_content (JsonArray *messages,
                 guint      i)
{
  return get_str (json_array_get_object_element (messages, i), "content");
}

/* Takes chat.message.created frames from @client up to the one carrying
 * @barrier_content; returns how many of them had @message_id. */
static guint
count_created_until (MeshTestClient *client,
                     const char     *message_id,
                     const char     *barrier_content)
{
  guint n = 0;

  for (;;) {
    g_autoptr(JsonObject) frame = mesh_test_client_wait_for_type (client, "chat.message.created",
                                                                  MESH_TEST_TIMEOUT_MS);
    JsonObject *payload;

    g_assert_nonnull (frame);
    payload = mesh_test_frame_payload (frame);
    if (g_strcmp0 (get_str (payload, "content"), barrier_content) == 0)
      return n;
    if (g_strcmp0 (get_str (payload, "message_id"), message_id) == 0)
      n++;
  }
}

/* A JWT with the given header and claims and @signature (base64url). */
static char *
forge_token (const char *header,
             const char *claims,
             const char *signature)
{
  g_autofree char *h = g_base64_encode ((const guchar *) header, strlen (header));
  g_autofree char *c = g_base64_encode ((const guchar *) claims, strlen (claims));
  GString *out = g_string_new (NULL);
  const char *parts[] = { h, ".", c, ".", signature };

  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    for (const char *p = parts[i]; *p != '\0'; p++) {
      if (*p == '+')
        g_string_append_c (out, '-');
      else if (*p == '/')
        g_string_append_c (out, '_');
      else if (*p != '=')
        g_string_append_c (out, *p);
    }
  }
  return g_string_free (out, FALSE);
}

/* REST */

static void
test_rest_health (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) ok = mesh_test_request (server, "GET", "/health", NULL, NULL);
  JsonObject *obj;

  g_assert_cmpuint (ok->status, ==, 200);
  obj = mesh_test_response_object (ok);
  g_assert_cmpstr (get_str (obj, "status"), ==, "ok");
  /* Minimal: nothing but the status. */
  g_assert_cmpuint (json_object_get_size (obj), ==, 1);

  mesh_test_request_expect_error (server, "POST", "/health", NULL, "{}", 405, "BAD_REQUEST");
}

static void
test_rest_register_closed (void)
{
  g_autoptr(MeshTestResponse) login = NULL;

  mesh_test_request_expect_error (main_server (), "POST", "/api/v1/auth/register", NULL,
                                  "{\"username\":\"mallory\",\"password\":\"" PASSWORD "\"}", 403,
                                  "FORBIDDEN");

  /* And no account was made. */
  login = mesh_test_request (main_server (), "POST", "/api/v1/auth/login", NULL,
                             "{\"username\":\"mallory\",\"password\":\"" PASSWORD "\"}");
  mesh_test_response_assert_error (login, 401, "UNAUTHORIZED");
}

static void
test_rest_register_open (void)
{
  static const struct {
    const char *body;
    guint       status;
    const char *code;
  } refusals[] = {
    { "{\"username\":\"newcomer\",\"password\":\"another one 123\"}", 409, "CONFLICT" },
    { "{\"username\":\"nopass\"}", 400, "BAD_REQUEST" },
    { "{\"username\":\"shorty\",\"password\":\"short\"}", 400, "BAD_REQUEST" },
  };
  MeshTestServer *server = strict_server ();
  g_autoptr(MeshTestResponse) r = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *login_user_id = NULL;
  g_autofree char *token = NULL;

  r = mesh_test_request_expect (server, "POST", "/api/v1/auth/register", NULL,
                                "{\"username\":\"newcomer\",\"password\":\"" PASSWORD "\"}", 201);
  user_id = g_strdup (get_str (mesh_test_response_object (r), "user_id"));
  assert_uuid4 (user_id);

  token = mesh_test_login (server, "newcomer", PASSWORD, &login_user_id);
  g_assert_cmpstr (login_user_id, ==, user_id);

  for (guint i = 0; i < G_N_ELEMENTS (refusals); i++)
    mesh_test_request_expect_error (server, "POST", "/api/v1/auth/register", NULL,
                                    refusals[i].body, refusals[i].status, refusals[i].code);
}

static void
test_rest_login (void)
{
  static const char * const malformed[] = {
    "{\"username\":\"alice\"}", "{\"username\":\"alice\",\"password\":12345678}",
  };
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) ok = NULL;
  g_autoptr(MeshTestResponse) wrong = NULL;
  g_autoptr(MeshTestResponse) unknown = NULL;
  JsonObject *obj;

  ok = mesh_test_request_expect (server, "POST", "/api/v1/auth/login", NULL,
                                 "{\"username\":\"alice\",\"password\":\"" PASSWORD "\"}", 200);
  obj = mesh_test_response_object (ok);
  g_assert_cmpstr (get_str (obj, "user_id"), ==, shared.user_id[ALICE]);
  g_assert_cmpint (strlen (get_str (obj, "access_token")), >=, 32);
  /* Each login is a new token. */
  g_assert_cmpstr (get_str (obj, "access_token"), !=, shared.token[ALICE]);
  g_assert_cmpint (json_object_get_int_member (obj, "expires_in"), >, 0);

  wrong = mesh_test_request (server, "POST", "/api/v1/auth/login", NULL,
                             "{\"username\":\"alice\",\"password\":\"not the password\"}");
  unknown = mesh_test_request (server, "POST", "/api/v1/auth/login", NULL,
                               "{\"username\":\"nobody\",\"password\":\"not the password\"}");
  mesh_test_response_assert_error (wrong, 401, "UNAUTHORIZED");
  mesh_test_response_assert_error (unknown, 401, "UNAUTHORIZED");
  /* The same answer: nothing tells whether the user exists. */
  g_assert_cmpstr (get_str (mesh_test_response_object (wrong), "message"), ==,
                   get_str (mesh_test_response_object (unknown), "message"));

  /* No password, or not a string. */
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    mesh_test_request_expect_error (server, "POST", "/api/v1/auth/login", NULL, malformed[i],
                                    400, "BAD_REQUEST");
}

static void
test_rest_unauthorized (void)
{
  static const struct {
    const char *method;
    const char *path;
  } routes[] = {
    { "GET", "/api/v1/devices" },
    { "POST", "/api/v1/devices" },
    { "GET", "/api/v1/rooms" },
    { "POST", "/api/v1/rooms" },
    { "POST", "/api/v1/rooms/" UNKNOWN_ID "/invites" },
    { "GET", "/api/v1/rooms/" UNKNOWN_ID "/messages" },
    { "POST", "/api/v1/rooms/" UNKNOWN_ID "/caps" },
    { "POST", "/api/v1/invites/ABCDEFGHJKLM/accept" },
    { "GET", "/api/v1/keys" },
  };
  MeshTestServer *server = main_server ();

  for (guint i = 0; i < G_N_ELEMENTS (routes); i++) {
    const char *body = g_str_equal (routes[i].method, "POST") ? "{}" : NULL;

    g_test_message ("%s %s", routes[i].method, routes[i].path);
    mesh_test_request_expect_error (server, routes[i].method, routes[i].path, NULL, body, 401,
                                    "UNAUTHORIZED");
    mesh_test_request_expect_error (server, routes[i].method, routes[i].path, "not-a-real-token",
                                    body, 401, "UNAUTHORIZED");
  }
}

static void
test_rest_devices (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) list = NULL;
  g_autoptr(MeshTestResponse) other = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = add_device (ALICE, "alice-laptop", FINGERPRINT, &device_id);
  g_autofree char *again_id = NULL;
  g_autofree char *again_token = NULL;
  JsonArray *devices;
  gboolean found = FALSE;

  /* The same name again: same device, new fingerprint and token. */
  again_token = add_device (ALICE, "alice-laptop", FINGERPRINT2, &again_id);
  g_assert_cmpstr (again_id, ==, device_id);
  g_assert_cmpstr (again_token, !=, device_token);

  list = mesh_test_request_expect (server, "GET", "/api/v1/devices", shared.token[ALICE], NULL,
                                   200);
  devices = mesh_test_response_array (list);
  for (guint i = 0; i < json_array_get_length (devices); i++) {
    JsonObject *d = json_array_get_object_element (devices, i);

    if (g_strcmp0 (get_str (d, "device_id"), device_id) == 0) {
      g_assert_false (found);
      found = TRUE;
      g_assert_cmpstr (get_str (d, "name"), ==, "alice-laptop");
      g_assert_cmpstr (get_str (d, "fingerprint"), ==, FINGERPRINT2);
    }
  }
  g_assert_true (found);

  /* Another user does not see it. */
  other = mesh_test_request_expect (server, "GET", "/api/v1/devices", shared.token[EVE], NULL, 200);
  devices = mesh_test_response_array (other);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    g_assert_cmpstr (get_str (json_array_get_object_element (devices, i), "device_id"), !=,
                     device_id);

  /* A device token cannot mint more devices. */
  mesh_test_request_expect_error (server, "POST", "/api/v1/devices", again_token,
                                  "{\"name\":\"rogue\",\"fingerprint\":\"" FINGERPRINT "\"}",
                                  403, "FORBIDDEN");

  /* Upper case with colons is not the wire form of a fingerprint. */
  mesh_test_request_expect_error (server, "POST", "/api/v1/devices", shared.token[ALICE],
                                  "{\"name\":\"other\",\"fingerprint\":\"AB:CD:EF\"}", 400,
                                  "BAD_REQUEST");
  mesh_test_request_expect_error (server, "POST", "/api/v1/devices", shared.token[ALICE],
                                  "{\"fingerprint\":\"" FINGERPRINT "\"}", 400, "BAD_REQUEST");
}

static void
test_rest_rooms (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = create_room (shared.token[CAROL], "Book club");
  g_autoptr(MeshTestResponse) list = NULL;
  g_autoptr(MeshTestResponse) other = NULL;
  JsonArray *rooms;
  JsonObject *room = NULL;
  JsonArray *members;
  JsonObject *member;

  list = mesh_test_request_expect (server, "GET", "/api/v1/rooms", shared.token[CAROL], NULL, 200);
  rooms = mesh_test_response_array (list);
  for (guint i = 0; i < json_array_get_length (rooms); i++) {
    JsonObject *r = json_array_get_object_element (rooms, i);

    if (g_strcmp0 (get_str (r, "room_id"), room_id) == 0)
      room = r;
  }
  g_assert_nonnull (room);
  g_assert_cmpstr (get_str (room, "name"), ==, "Book club");
  members = json_object_get_array_member (room, "members");
  g_assert_cmpuint (json_array_get_length (members), ==, 1);
  member = json_array_get_object_element (members, 0);
  g_assert_cmpstr (get_str (member, "user_id"), ==, shared.user_id[CAROL]);
  g_assert_cmpstr (get_str (member, "username"), ==, "carol");
  g_assert_cmpstr (get_str (member, "role"), ==, "owner");

  /* Only the caller's rooms are listed. */
  other = mesh_test_request_expect (server, "GET", "/api/v1/rooms", shared.token[EVE], NULL, 200);
  rooms = mesh_test_response_array (other);
  for (guint i = 0; i < json_array_get_length (rooms); i++)
    g_assert_cmpstr (get_str (json_array_get_object_element (rooms, i), "room_id"), !=, room_id);

  mesh_test_request_expect_error (server, "POST", "/api/v1/rooms", shared.token[CAROL],
                                  "{\"name\":\"\"}", 400, "BAD_REQUEST");
  mesh_test_request_expect_error (server, "POST", "/api/v1/rooms", shared.token[CAROL], "{}", 400,
                                  "BAD_REQUEST");
}

static guint
count_members (const char *token,
               const char *room_id,
               const char *user_id,
               char      **role)
{
  g_autoptr(MeshTestResponse) list = mesh_test_request (main_server (), "GET", "/api/v1/rooms",
                                                        token, NULL);
  JsonArray *rooms = mesh_test_response_array (list);

  for (guint i = 0; i < json_array_get_length (rooms); i++) {
    JsonObject *room = json_array_get_object_element (rooms, i);
    JsonArray *members;

    if (g_strcmp0 (get_str (room, "room_id"), room_id) != 0)
      continue;
    members = json_object_get_array_member (room, "members");
    for (guint j = 0; j < json_array_get_length (members); j++) {
      JsonObject *m = json_array_get_object_element (members, j);

      if (g_strcmp0 (get_str (m, "user_id"), user_id) == 0)
        *role = g_strdup (get_str (m, "role"));
    }
    return json_array_get_length (members);
  }
  return 0;
}

static void
test_rest_invites (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = create_room (shared.token[ALICE], "Full house");
  g_autofree char *code = create_invite (shared.token[ALICE], room_id);
  g_autofree char *role = NULL;
  g_autofree char *eve_role = NULL;
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/invites", room_id);
  g_autoptr(MeshTestResponse) unknown_code = NULL;
  g_autoptr(MeshTestResponse) twice = NULL;
  g_autoptr(MeshTestResponse) full = NULL;
  g_autofree char *member_code = NULL;

  /* Only members may invite. */
  mesh_test_request_expect_error (server, "POST", path, shared.token[BOB], NULL, 403, "FORBIDDEN");
  mesh_test_request_expect_error (server, "POST", "/api/v1/rooms/" UNKNOWN_ID "/invites",
                                  shared.token[ALICE], NULL, 404, "ROOM_NOT_FOUND");

  for (int user = BOB; user <= DAVE; user++) {
    g_autoptr(MeshTestResponse) r = accept_invite (shared.token[user], code);

    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpstr (get_str (mesh_test_response_object (r), "room_id"), ==, room_id);
  }
  g_assert_cmpuint (count_members (shared.token[BOB], room_id, shared.user_id[BOB], &role), ==, 4);
  g_assert_cmpstr (role, ==, "member");

  /* Accepting again is harmless. */
  twice = accept_invite (shared.token[BOB], code);
  g_assert_cmpuint (twice->status, ==, 200);
  g_assert_cmpstr (get_str (mesh_test_response_object (twice), "room_id"), ==, room_id);

  /* A member's own invite works too, but the room has its 4 users. */
  member_code = create_invite (shared.token[CAROL], room_id);
  full = accept_invite (shared.token[EVE], member_code);
  mesh_test_response_assert_error (full, 409, "ROOM_FULL");
  g_assert_cmpuint (count_members (shared.token[ALICE], room_id, shared.user_id[EVE], &eve_role),
                    ==, 4);
  g_assert_null (eve_role);

  unknown_code = accept_invite (shared.token[EVE], "ZZZZZZZZZZZZ");
  mesh_test_response_assert_error (unknown_code, 404, "NOT_FOUND");
}

static void
test_rest_messages (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (ALICE, "History", BOB, -1);
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/messages", room_id);
  g_autoptr(MeshTestClient) alice = client_for (ALICE, NULL);
  g_autoptr(JsonObject) joined = ws_join (alice, room_id);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(MeshTestResponse) all = NULL;
  g_autoptr(MeshTestResponse) last2 = NULL;
  g_autoptr(MeshTestResponse) page = NULL;
  g_autoptr(MeshTestResponse) first = NULL;
  g_autoptr(MeshTestResponse) none = NULL;
  JsonArray *messages;
  static const char * const bad_limits[] = { "0", "201", "abc", "-1" };

  ws_chat_many (alice, room_id, "message", 5, ids);

  /* Oldest first, newest last. */
  messages = history (server, shared.token[BOB], room_id, "", &all);
  assert_chat_history (messages, ids, "message", "room_id", room_id);
  for (guint i = 0; i < 5; i++) {
    JsonObject *m = json_array_get_object_element (messages, i);

    g_assert_cmpstr (get_str (m, "from"), ==, get_str (joined, "peer_id"));
    g_assert_true (mesh_timestamp_is_valid (get_str (m, "timestamp")));
  }

  messages = history (server, shared.token[BOB], room_id, "?limit=2", &last2);
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (message_content (messages, 0), ==, "message 3");
  g_assert_cmpstr (message_content (messages, 1), ==, "message 4");

  {
    g_autofree char *query = g_strdup_printf ("?before=%s&limit=2", (char *) ids->pdata[3]);

    messages = history (server, shared.token[BOB], room_id, query, &page);
    g_assert_cmpuint (json_array_get_length (messages), ==, 2);
    g_assert_cmpstr (message_content (messages, 0), ==, "message 1");
    g_assert_cmpstr (message_content (messages, 1), ==, "message 2");
  }
  {
    g_autofree char *query = g_strdup_printf ("?before=%s&limit=200", (char *) ids->pdata[1]);

    messages = history (server, shared.token[BOB], room_id, query, &first);
    g_assert_cmpuint (json_array_get_length (messages), ==, 1);
    g_assert_cmpstr (message_content (messages, 0), ==, "message 0");
  }
  {
    g_autofree char *query = g_strdup_printf ("?before=%s", (char *) ids->pdata[0]);

    messages = history (server, shared.token[BOB], room_id, query, &none);
    g_assert_cmpuint (json_array_get_length (messages), ==, 0);
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad_limits); i++) {
    g_autofree char *bad = g_strdup_printf ("%s?limit=%s", path, bad_limits[i]);

    mesh_test_request_expect_error (server, "GET", bad, shared.token[BOB], NULL, 400,
                                    "BAD_REQUEST");
  }
  {
    g_autofree char *bad = g_strdup_printf ("%s?before=" UNKNOWN_ID, path);

    mesh_test_request_expect_error (server, "GET", bad, shared.token[BOB], NULL, 404, "NOT_FOUND");
  }
  mesh_test_request_expect_error (server, "GET", path, shared.token[EVE], NULL, 403, "FORBIDDEN");
  mesh_test_request_expect_error (server, "GET", "/api/v1/rooms/" UNKNOWN_ID "/messages",
                                  shared.token[BOB], NULL, 404, "ROOM_NOT_FOUND");
}

static void
test_rest_caps (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (ALICE, "Caps", BOB, -1);
  g_autoptr(MeshTestResponse) r = NULL;
  g_autoptr(MeshTestResponse) keys = NULL;
  g_autoptr(MeshTestResponse) longer = NULL;
  g_autoptr(MeshCapKey) public_key = NULL;
  g_autoptr(MeshCapClaims) claims = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *obj;
  static const struct {
    const char *body;
    guint       status;
    const char *code;
  } refusals[] = {
    { "{\"caps\":[\"teleport\"]}", 400, "BAD_REQUEST" },
    { "{\"caps\":[]}", 400, "BAD_REQUEST" },
    { "{}", 400, "BAD_REQUEST" },
    { "{\"caps\":\"call\"}", 400, "BAD_REQUEST" },
    { "{\"caps\":[\"call\"],\"ttl\":0}", 400, "BAD_REQUEST" },
    { "{\"caps\":[\"call\"],\"max_size\":\"big\"}", 400, "BAD_REQUEST" },
    /* §4: only the holder of terminal control gets this one. */
    { "{\"caps\":[\"terminal:view\",\"terminal:control\"]}", 403, "FORBIDDEN" },
  };

  r = request_caps (BOB, room_id,
                    "{\"caps\":[\"call\",\"file\"],\"target_device_id\":\"dev-1\","
                    "\"max_size\":1000,\"max_rate\":500}");
  g_assert_cmpuint (r->status, ==, 200);
  obj = mesh_test_response_object (r);
  g_assert_cmpint (json_object_get_int_member (obj, "expires_in"), ==, MESH_CAP_DEFAULT_TTL);

  /* The token verifies offline with the key GET /keys serves. */
  keys = mesh_test_request_expect (server, "GET", "/api/v1/keys", shared.token[EVE], NULL, 200);
  g_assert_cmpstr (get_str (mesh_test_response_object (keys), "alg"), ==, "ES256");
  g_assert_true (g_str_has_prefix (get_str (mesh_test_response_object (keys), "public_key_pem"),
                                   "-----BEGIN PUBLIC KEY-----"));
  public_key = mesh_cap_key_new_public (get_str (mesh_test_response_object (keys),
                                                 "public_key_pem"), &error);
  g_assert_no_error (error);
  claims = mesh_cap_key_verify (public_key, get_str (obj, "cap_token"), 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claims->sub, ==, shared.user_id[BOB]);
  g_assert_cmpstr (claims->room_id, ==, room_id);
  g_assert_cmpuint (g_strv_length (claims->caps), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) claims->caps, "call"));
  g_assert_true (g_strv_contains ((const char * const *) claims->caps, "file"));
  g_assert_cmpint (claims->exp - claims->iat, ==, MESH_CAP_DEFAULT_TTL);
  g_assert_cmpstr (claims->target_device_id, ==, "dev-1");
  g_assert_null (claims->target_peer_id);
  g_assert_cmpint (claims->max_size, ==, 1000);
  g_assert_cmpint (claims->max_rate, ==, 500);
  assert_uuid4 (claims->jti);

  /* A longer TTL is cut to the 300 s ceiling, and says so. */
  longer = request_caps (ALICE, room_id, "{\"caps\":[\"screenshare\"],\"ttl\":3600}");
  g_assert_cmpuint (longer->status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (mesh_test_response_object (longer), "expires_in"),
                   ==, MESH_CAP_MAX_TTL);

  for (guint i = 0; i < G_N_ELEMENTS (refusals); i++) {
    g_autoptr(MeshTestResponse) refused = request_caps (ALICE, room_id, refusals[i].body);

    g_test_message ("caps body %s", refusals[i].body);
    mesh_test_response_assert_error (refused, refusals[i].status, refusals[i].code);
  }
  {
    g_autoptr(MeshTestResponse) outsider = request_caps (EVE, room_id, "{\"caps\":[\"call\"]}");
    g_autoptr(MeshTestResponse) unknown = request_caps (ALICE, UNKNOWN_ID,
                                                        "{\"caps\":[\"call\"]}");

    mesh_test_response_assert_error (outsider, 403, "FORBIDDEN");
    mesh_test_response_assert_error (unknown, 404, "ROOM_NOT_FOUND");
  }
}

static void
test_rest_not_found (void)
{
  MeshTestServer *server = main_server ();
  static const char * const missing[] = {
    "/api/v1/nope", "/api/v1/rooms/x/nope", "/api/v1/rooms//messages", "/api/v1x", "/nothing",
  };

  for (guint i = 0; i < G_N_ELEMENTS (missing); i++) {
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", missing[i],
                                                       shared.token[ALICE], NULL);

    g_test_message ("GET %s", missing[i]);
    g_assert_cmpuint (r->status, ==, 404);
    /* Ours answer with an error body; libsoup's own 404 for paths no
     * handler serves has none, and that is fine too. */
    if (g_str_has_prefix (missing[i], "/api/v1/"))
      mesh_test_response_assert_error (r, 404, "NOT_FOUND");
  }
  {
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "DELETE", "/api/v1/rooms",
                                                       shared.token[ALICE], NULL);

    mesh_test_response_assert_error (r, 405, "BAD_REQUEST");
    mesh_test_request_expect_error (server, "GET", "/api/v1/auth/login", NULL, NULL, 405,
                                    "BAD_REQUEST");
  }
}

static void
test_rest_bad_json (void)
{
  MeshTestServer *server = main_server ();
  static const char * const bodies[] = { "{not json", "[1,2,3]", "\"a string\"", "", "{\"name\":" };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++) {
    g_autoptr(MeshTestResponse) rooms = mesh_test_request (server, "POST", "/api/v1/rooms",
                                                           shared.token[ALICE], bodies[i]);
    g_autoptr(MeshTestResponse) login = mesh_test_request (server, "POST", "/api/v1/auth/login",
                                                           NULL, bodies[i]);

    g_test_message ("body '%s'", bodies[i]);
    mesh_test_response_assert_error (rooms, 400, "BAD_REQUEST");
    mesh_test_response_assert_error (login, 400, "BAD_REQUEST");
  }
}

static void
test_rest_oversize (void)
{
  MeshTestServer *server = main_server ();
  gsize size = 100 * 1024;
  char *data = g_malloc (size);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(MeshTestResponse) r = NULL;
  g_autoptr(MeshTestResponse) after = NULL;

  /* A JSON object with one huge name: valid, but over the 64 KiB limit. */
  memset (data, 'a', size);
  memcpy (data, "{\"name\":\"", 9);
  memcpy (data + size - 2, "\"}", 2);
  body = g_bytes_new_take (data, size);
  r = mesh_test_request_raw (server, "POST", "/api/v1/rooms", shared.token[ALICE],
                             "application/json", body);
  mesh_test_response_assert_error (r, 413, "PAYLOAD_TOO_LARGE");

  /* The server is fine afterwards. */
  after = mesh_test_request_expect (server, "GET", "/health", NULL, NULL, 200);
}

/* WebSocket */

static void
test_ws_upgrade_refused (void)
{
  MeshTestServer *server = main_server ();
  struct {
    const char   *token;
    MeshTestAuth  auth;
  } cases[] = {
    { NULL, MESH_TEST_AUTH_NONE },
    { "bad-token", MESH_TEST_AUTH_HEADER },
    { "bad-token", MESH_TEST_AUTH_QUERY },
    { "", MESH_TEST_AUTH_QUERY },
  };
  g_autoptr(MeshTestClient) by_query = NULL;
  g_autoptr(JsonObject) welcome = NULL;
  g_autoptr(GError) error = NULL;
  guint status = 0;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) refused = NULL;
    g_autoptr(MeshTestClient) client = mesh_test_client_connect (server, cases[i].token,
                                                                 cases[i].auth, &status, &refused);

    g_test_message ("case %u", i);
    g_assert_null (client);
    g_assert_nonnull (refused);
    g_assert_cmpuint (status, ==, 401);
  }

  /* The refusal carries the error body. */
  mesh_test_request_expect_error (server, "GET", "/ws", NULL, NULL, 401, "UNAUTHORIZED");
  /* A good token but no upgrade: not a WebSocket handshake. */
  mesh_test_request_expect_error (server, "GET", "/ws", shared.token[ALICE], NULL, 400,
                                  "BAD_REQUEST");

  /* Browsers put the token in the query. */
  by_query = mesh_test_client_connect (server, shared.token[ALICE], MESH_TEST_AUTH_QUERY, &status,
                                       &error);
  g_assert_no_error (error);
  g_assert_cmpuint (status, ==, 101);
  mesh_test_client_send (by_query, "system.hello", HELLO_CLIENT);
  welcome = mesh_test_client_expect_type (by_query, "system.welcome");
  g_assert_cmpstr (get_str (mesh_test_frame_payload (welcome), "user_id"), ==,
                   shared.user_id[ALICE]);
}

static MeshTestClient *
raw_client (MeshTestServer *server,
            const char     *token)
{
  g_autoptr(GError) error = NULL;
  MeshTestClient *client = mesh_test_client_connect (server, token, MESH_TEST_AUTH_HEADER, NULL,
                                                     &error);

  g_assert_no_error (error);
  return client;
}

static void
assert_closed_by_server (MeshTestClient *client)
{
  g_assert_true (mesh_test_client_wait_closed (client, MESH_TEST_TIMEOUT_MS));
  g_assert_cmpuint (mesh_test_client_get_close_code (client), ==,
                    SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
}

static void
test_ws_hello_first (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestClient) join_first = raw_client (server, shared.token[ALICE]);
  g_autoptr(MeshTestClient) junk_first = raw_client (server, shared.token[ALICE]);
  g_autoptr(MeshTestClient) unknown_first = raw_client (server, shared.token[ALICE]);
  const char *id;

  id = mesh_test_client_send (join_first, "room.join",
                              "{\"room_id\":\"" UNKNOWN_ID "\"}");
  mesh_test_client_expect_error (join_first, "BAD_REQUEST", id);
  assert_closed_by_server (join_first);

  mesh_test_client_send_raw (junk_first, "hello?", 6);
  mesh_test_client_expect_error (junk_first, "BAD_REQUEST", NULL);
  assert_closed_by_server (junk_first);

  id = mesh_test_client_send (unknown_first, "no.such.type", NULL);
  mesh_test_client_expect_error (unknown_first, "BAD_REQUEST", id);
  assert_closed_by_server (unknown_first);
}

static void
test_ws_version (void)
{
  MeshTestServer *server = main_server ();
  static const struct {
    const char *payload;
    const char *code;
  } refused[] = {
    { "{\"peer_type\":\"client\",\"version\":\"3.0.0\"}", "VERSION_UNSUPPORTED" },
    { "{\"peer_type\":\"client\",\"version\":\"1.9.9\"}", "VERSION_UNSUPPORTED" },
    { "{\"peer_type\":\"client\",\"version\":\"2.0\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\",\"version\":\"two\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\",\"version\":\"2.0.0.1\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\",\"version\":2}", "BAD_REQUEST" },
    { "{\"peer_type\":\"client\"}", "BAD_REQUEST" },
    { "{\"peer_type\":\"robot\",\"version\":\"2.0.0\"}", "BAD_REQUEST" },
  };
  g_autoptr(MeshTestClient) minor = NULL;
  g_autoptr(JsonObject) welcome = NULL;
  const char *id;

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autoptr(MeshTestClient) client = raw_client (server, shared.token[ALICE]);

    g_test_message ("hello %s", refused[i].payload);
    id = mesh_test_client_send (client, "system.hello", refused[i].payload);
    mesh_test_client_expect_error (client, refused[i].code, id);
    assert_closed_by_server (client);
  }

  /* Another minor version of protocol 2 is welcome. */
  minor = raw_client (server, shared.token[ALICE]);
  mesh_test_client_send (minor, "system.hello", "{\"peer_type\":\"client\",\"version\":\"2.7.1\"}");
  welcome = mesh_test_client_expect_type (minor, "system.welcome");
  g_assert_cmpstr (get_str (mesh_test_frame_payload (welcome), "protocol_version"), ==, "2.0.0");

  /* A second hello is refused, but the session goes on. */
  id = mesh_test_client_send (minor, "system.hello", HELLO_CLIENT);
  mesh_test_client_expect_error (minor, "BAD_REQUEST", id);
  id = mesh_test_client_send (minor, "presence.update", "{\"status\":\"away\"}");
  mesh_test_client_expect_error (minor, "BAD_REQUEST", id);
  g_assert_true (mesh_test_client_is_open (minor));
}

static void
test_ws_welcome (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(JsonObject) welcome = NULL;
  g_autoptr(JsonObject) welcome2 = NULL;
  g_autoptr(JsonObject) agent_welcome = NULL;
  g_autoptr(MeshTestClient) client = client_for (ALICE, &welcome);
  g_autoptr(MeshTestClient) client2 = client_for (ALICE, &welcome2);
  g_autoptr(MeshTestClient) agent = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;

  assert_uuid4 (get_str (welcome, "peer_id"));
  g_assert_cmpstr (get_str (welcome, "user_id"), ==, shared.user_id[ALICE]);
  g_assert_cmpstr (get_str (welcome, "protocol_version"), ==, "2.0.0");
  g_assert_cmpstr (get_str (welcome, "server_version"), ==, PACKAGE_VERSION);
  g_assert_false (json_object_has_member (welcome, "device_id"));
  /* One peer_id per connection. */
  g_assert_cmpstr (get_str (welcome2, "peer_id"), !=, get_str (welcome, "peer_id"));

  device_token = add_device (BOB, "bob-agent", FINGERPRINT, &device_id);

  agent = mesh_test_client_new_hello (server, device_token, "agent", QUIC_HELLO, &agent_welcome);
  assert_uuid4 (get_str (agent_welcome, "peer_id"));
  g_assert_cmpstr (get_str (agent_welcome, "user_id"), ==, shared.user_id[BOB]);
  g_assert_cmpstr (get_str (agent_welcome, "device_id"), ==, device_id);
  g_assert_cmpstr (get_str (agent_welcome, "protocol_version"), ==, "2.0.0");
  g_assert_cmpstr (get_str (agent_welcome, "server_version"), ==, PACKAGE_VERSION);

  {
    static const struct {
      gboolean    device;
      const char *payload;
      const char *code;
    } refused[] = {
      /* An agent must say where its QUIC endpoint is. */
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\"}", "BAD_REQUEST" },
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\",\"quic\":{\"port\":0,"
              "\"fingerprint\":\"" FINGERPRINT "\"}}", "BAD_REQUEST" },
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\",\"quic\":{\"port\":4433,"
              "\"fingerprint\":\"AB:CD\"}}", "BAD_REQUEST" },
      { TRUE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\",\"quic\":{\"port\":4433,"
              "\"fingerprint\":\"" FINGERPRINT "\",\"addrs\":[\"not-an-ip\"]}}", "BAD_REQUEST" },
      /* A device token is for agents, an access token for clients. */
      { TRUE, "{\"peer_type\":\"client\",\"version\":\"2.0.0\"}", "FORBIDDEN" },
      { FALSE, "{\"peer_type\":\"agent\",\"version\":\"2.0.0\"," QUIC_HELLO "}", "FORBIDDEN" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
      g_autoptr(MeshTestClient) c = raw_client (server, refused[i].device ? device_token
                                                                            : shared.token[BOB]);
      const char *id = mesh_test_client_send (c, "system.hello", refused[i].payload);

      g_test_message ("hello %s", refused[i].payload);
      mesh_test_client_expect_error (c, refused[i].code, id);
      assert_closed_by_server (c);
    }
  }
  /* The working agent was not disturbed by the refused ones. */
  g_assert_true (mesh_test_client_is_open (agent));
}

static void
test_ws_room_join (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (ALICE, "Join", BOB, -1);
  g_autoptr(JsonObject) wa = NULL;
  g_autoptr(JsonObject) wb = NULL;
  g_autoptr(JsonObject) wagent = NULL;
  g_autoptr(MeshTestClient) a = client_for (ALICE, &wa);
  g_autoptr(MeshTestClient) b = client_for (BOB, &wb);
  g_autoptr(MeshTestClient) carol = client_for (CAROL, NULL);
  g_autoptr(MeshTestClient) agent = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(JsonObject) ja = NULL;
  g_autoptr(JsonObject) jb = NULL;
  g_autoptr(JsonObject) jagent = NULL;
  g_autoptr(JsonObject) short_form = NULL;
  JsonObject *payload;
  JsonArray *members;
  const char *id;

  ja = ws_join (a, room_id);
  g_assert_cmpstr (get_str (ja, "peer_id"), ==, get_str (wa, "peer_id"));
  g_assert_cmpstr (get_str (ja, "room_id"), ==, room_id);
  g_assert_cmpstr (get_str (ja, "role"), ==, "owner");
  members = json_object_get_array_member (ja, "members");
  g_assert_cmpuint (json_array_get_length (members), ==, 1);

  jb = ws_join (b, room_id);
  g_assert_cmpstr (get_str (jb, "peer_id"), ==, get_str (wb, "peer_id"));
  g_assert_cmpstr (get_str (jb, "role"), ==, "member");
  members = json_object_get_array_member (jb, "members");
  g_assert_cmpuint (json_array_get_length (members), ==, 2);
  for (guint i = 0; i < 2; i++) {
    JsonObject *m = json_array_get_object_element (members, i);
    gboolean is_a = g_strcmp0 (get_str (m, "peer_id"), get_str (wa, "peer_id")) == 0;

    g_assert_true (is_a || g_strcmp0 (get_str (m, "peer_id"), get_str (wb, "peer_id")) == 0);
    g_assert_cmpstr (get_str (m, "user_id"), ==, shared.user_id[is_a ? ALICE : BOB]);
    g_assert_cmpstr (get_str (m, "peer_type"), ==, "client");
    g_assert_cmpstr (get_str (m, "status"), ==, "online");
    g_assert_false (json_object_has_member (m, "device_id"));
  }

  /* The others get the short form: who joined, no members list. */
  short_form = mesh_test_client_expect_type (a, "room.joined");
  g_assert_cmpstr (get_str (short_form, "from"), ==, "server");
  payload = mesh_test_frame_payload (short_form);
  g_assert_cmpstr (get_str (payload, "peer_id"), ==, get_str (wb, "peer_id"));
  g_assert_cmpstr (get_str (payload, "role"), ==, "member");
  g_assert_cmpstr (get_str (payload, "room_id"), ==, room_id);
  g_assert_false (json_object_has_member (payload, "members"));
  g_assert_false (json_object_has_member (payload, "ref"));

  /* An agent in the list carries its device_id. */
  device_token = add_device (BOB, "bob-join-agent", FINGERPRINT, &device_id);
  agent = mesh_test_client_new_hello (server, device_token, "agent", QUIC_HELLO, &wagent);
  jagent = ws_join (agent, room_id);
  members = json_object_get_array_member (jagent, "members");
  g_assert_cmpuint (json_array_get_length (members), ==, 3);
  for (guint i = 0; i < 3; i++) {
    JsonObject *m = json_array_get_object_element (members, i);

    if (g_strcmp0 (get_str (m, "peer_id"), get_str (wagent, "peer_id")) == 0) {
      g_assert_cmpstr (get_str (m, "peer_type"), ==, "agent");
      g_assert_cmpstr (get_str (m, "device_id"), ==, device_id);
      g_assert_cmpstr (get_str (m, "user_id"), ==, shared.user_id[BOB]);
    }
  }

  id = mesh_test_client_send (carol, "room.join", "{\"room_id\":\"" UNKNOWN_ID "\"}");
  mesh_test_client_expect_error (carol, "ROOM_NOT_FOUND", id);
  {
    g_autofree char *payload_text = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);

    id = mesh_test_client_send (carol, "room.join", payload_text);
    mesh_test_client_expect_error (carol, "FORBIDDEN", id);
  }
  id = mesh_test_client_send (carol, "room.join", "{}");
  mesh_test_client_expect_error (carol, "BAD_REQUEST", id);
  id = mesh_test_client_send (carol, "room.join", "{\"room_id\":42}");
  mesh_test_client_expect_error (carol, "BAD_REQUEST", id);
  /* Refusals do not close the socket. */
  g_assert_true (mesh_test_client_is_open (carol));
  /* Nobody in the room heard of carol. */
  g_assert_cmpuint (mesh_test_client_count_type (a, "room.joined"), ==, 1);
}

static void
test_ws_room_leave (void)
{
  g_autofree char *room_id = room_with (ALICE, "Leave", BOB, -1);
  g_autofree char *payload_text = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);
  g_autoptr(JsonObject) wb = NULL;
  g_autoptr(MeshTestClient) a = client_for (ALICE, NULL);
  g_autoptr(MeshTestClient) b = client_for (BOB, &wb);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(JsonObject) jb = ws_join (b, room_id);
  g_autoptr(JsonObject) left_a = NULL;
  g_autoptr(JsonObject) left_b = NULL;
  g_autofree char *chat = NULL;
  const char *id;

  mesh_test_client_send (b, "room.leave", payload_text);
  left_a = mesh_test_client_wait_for_type (a, "room.left", MESH_TEST_TIMEOUT_MS);
  left_b = mesh_test_client_wait_for_type (b, "room.left", MESH_TEST_TIMEOUT_MS);
  g_assert_nonnull (left_a);
  g_assert_nonnull (left_b);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (left_a), "peer_id"), ==,
                   get_str (wb, "peer_id"));
  g_assert_cmpstr (get_str (mesh_test_frame_payload (left_a), "room_id"), ==, room_id);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (left_b), "peer_id"), ==,
                   get_str (wb, "peer_id"));

  /* Out of the room: no more chat there, and leaving again is refused. */
  chat = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"still here?\"}", room_id);
  id = mesh_test_client_send (b, "chat.message.send", chat);
  mesh_test_client_expect_error (b, "FORBIDDEN", id);
  id = mesh_test_client_send (b, "room.leave", payload_text);
  mesh_test_client_expect_error (b, "FORBIDDEN", id);
  id = mesh_test_client_send (b, "room.leave", "{\"room_id\":\"" UNKNOWN_ID "\"}");
  mesh_test_client_expect_error (b, "ROOM_NOT_FOUND", id);

  /* A's messages no longer reach B.  The server queues anything for B
   * before it answers A, and answers B's own request after that. */
  {
    g_autoptr(JsonObject) created = ws_chat (a, room_id, "after the leave", NULL);

    id = mesh_test_client_send (b, "presence.update", "{\"status\":\"away\"}");
    mesh_test_client_expect_error (b, "BAD_REQUEST", id);
    g_assert_cmpuint (mesh_test_client_count_type (b, "chat.message.created"), ==, 0);
  }
}

static void
test_ws_presence (void)
{
  g_autofree char *room_id = room_with (ALICE, "Presence", BOB, CAROL, -1);
  g_autoptr(JsonObject) wa = NULL;
  g_autoptr(MeshTestClient) a = client_for (ALICE, &wa);
  g_autoptr(MeshTestClient) b = client_for (BOB, NULL);
  g_autoptr(MeshTestClient) c = client_for (CAROL, NULL);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(JsonObject) jb = ws_join (b, room_id);
  g_autoptr(JsonObject) update = NULL;
  g_autoptr(JsonObject) jc = NULL;
  JsonObject *payload;
  JsonArray *members;
  const char *id;

  mesh_test_client_send (a, "presence.update", "{\"status\":\"busy\"}");
  update = mesh_test_client_expect_type (b, "presence.update");
  g_assert_cmpstr (get_str (update, "from"), ==, get_str (wa, "peer_id"));
  payload = mesh_test_frame_payload (update);
  g_assert_cmpstr (get_str (payload, "peer_id"), ==, get_str (wa, "peer_id"));
  g_assert_cmpstr (get_str (payload, "status"), ==, "busy");

  id = mesh_test_client_send (a, "presence.update", "{\"status\":\"away\"}");
  mesh_test_client_expect_error (a, "BAD_REQUEST", id);
  id = mesh_test_client_send (a, "presence.update", "{\"status\":\"offline\"}");
  mesh_test_client_expect_error (a, "BAD_REQUEST", id);
  id = mesh_test_client_send (a, "presence.update", "{}");
  mesh_test_client_expect_error (a, "BAD_REQUEST", id);

  /* A newcomer sees A as still busy: refused updates changed nothing. */
  jc = ws_join (c, room_id);
  members = json_object_get_array_member (jc, "members");
  g_assert_cmpuint (json_array_get_length (members), ==, 3);
  for (guint i = 0; i < 3; i++) {
    JsonObject *m = json_array_get_object_element (members, i);

    if (g_strcmp0 (get_str (m, "peer_id"), get_str (wa, "peer_id")) == 0)
      g_assert_cmpstr (get_str (m, "status"), ==, "busy");
    else
      g_assert_cmpstr (get_str (m, "status"), ==, "online");
  }
  /* The sender gets no copy of its own update. */
  g_assert_cmpuint (mesh_test_client_count_type (a, "presence.update"), ==, 0);

  mesh_test_client_send (a, "presence.update", "{\"status\":\"sharing\"}");
  g_clear_pointer (&update, json_object_unref);
  update = mesh_test_client_expect_type (c, "presence.update");
  g_assert_cmpstr (get_str (mesh_test_frame_payload (update), "status"), ==, "sharing");
}

static void
test_ws_chat (void)
{
  static const char * const bad_contents[] = { ",\"content\":\"\"", "", ",\"content\":7" };
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (ALICE, "Chat", BOB, -1);
  g_autoptr(JsonObject) wa = NULL;
  g_autoptr(MeshTestClient) a = client_for (ALICE, &wa);
  g_autoptr(MeshTestClient) b = client_for (BOB, NULL);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(JsonObject) jb = ws_join (b, room_id);
  g_autoptr(JsonObject) mine = NULL;
  g_autoptr(JsonObject) theirs_frame = NULL;
  g_autoptr(JsonObject) again = NULL;
  g_autoptr(JsonObject) barrier = NULL;
  g_autoptr(MeshTestResponse) hist = NULL;
  g_autoptr(MeshTestResponse) hist2 = NULL;
  g_autofree char *max_content = NULL;
  g_autofree char *too_long = NULL;
  g_autofree char *payload_text = NULL;
  JsonObject *theirs;
  JsonArray *messages;
  const char *id;
  guint n;

  mine = ws_chat (a, room_id, "Hello, bob! é", "cm-1");
  assert_uuid4 (get_str (mine, "message_id"));
  g_assert_cmpstr (get_str (mine, "room_id"), ==, room_id);
  g_assert_cmpstr (get_str (mine, "from"), ==, get_str (wa, "peer_id"));
  g_assert_cmpstr (get_str (mine, "content"), ==, "Hello, bob! é");
  g_assert_cmpstr (get_str (mine, "client_msg_id"), ==, "cm-1");
  g_assert_true (mesh_timestamp_is_valid (get_str (mine, "timestamp")));

  /* Persisted before created was sent: history has it already. */
  messages = history (server, shared.token[BOB], room_id, "", &hist);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  g_assert_cmpstr (get_str (json_array_get_object_element (messages, 0), "message_id"), ==,
                   get_str (mine, "message_id"));

  theirs_frame = mesh_test_client_expect_type (b, "chat.message.created");
  g_assert_cmpstr (get_str (theirs_frame, "from"), ==, get_str (wa, "peer_id"));
  theirs = mesh_test_frame_payload (theirs_frame);
  g_assert_cmpstr (get_str (theirs, "message_id"), ==, get_str (mine, "message_id"));
  g_assert_cmpstr (get_str (theirs, "content"), ==, "Hello, bob! é");
  g_assert_cmpstr (get_str (theirs, "from"), ==, get_str (wa, "peer_id"));
  g_assert_cmpstr (get_str (theirs, "client_msg_id"), ==, "cm-1");
  g_assert_false (json_object_has_member (theirs, "ref"));

  /* The same client_msg_id again: same message, nothing new for others. */
  again = ws_chat (a, room_id, "Hello, bob! é", "cm-1");
  g_assert_cmpstr (get_str (again, "message_id"), ==, get_str (mine, "message_id"));
  barrier = ws_chat (a, room_id, "barrier", "cm-2");
  g_assert_cmpstr (get_str (barrier, "message_id"), !=, get_str (mine, "message_id"));
  n = count_created_until (b, get_str (mine, "message_id"), "barrier");
  g_assert_cmpuint (n, ==, 0);
  /* The sender got exactly its own copies, the ones with its refs. */
  g_assert_cmpuint (mesh_test_client_count_type (a, "chat.message.created"), ==, 0);
  messages = history (server, shared.token[ALICE], room_id, "", &hist2);
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (message_content (messages, 0), ==, "Hello, bob! é");
  g_assert_cmpstr (message_content (messages, 1), ==, "barrier");

  /* Without client_msg_id each send is a new message. */
  {
    g_autoptr(JsonObject) one = ws_chat (b, room_id, "same text", NULL);
    g_autoptr(JsonObject) two = ws_chat (b, room_id, "same text", NULL);

    g_assert_cmpstr (get_str (one, "message_id"), !=, get_str (two, "message_id"));
    g_assert_false (json_object_has_member (one, "client_msg_id"));
  }

  /* Content is 1..16384 bytes. */
  max_content = g_strnfill (16384, 'x');
  {
    g_autoptr(JsonObject) big = ws_chat (a, room_id, max_content, NULL);

    g_assert_cmpuint (strlen (get_str (big, "content")), ==, 16384);
  }
  too_long = g_strnfill (16385, 'x');
  payload_text = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"%s\"}", room_id, too_long);
  id = mesh_test_client_send (a, "chat.message.send", payload_text);
  mesh_test_client_expect_error (a, "PAYLOAD_TOO_LARGE", id);
  /* Empty, missing, not a string. */
  for (guint i = 0; i < G_N_ELEMENTS (bad_contents); i++) {
    g_free (payload_text);
    payload_text = g_strdup_printf ("{\"room_id\":\"%s\"%s}", room_id, bad_contents[i]);
    id = mesh_test_client_send (a, "chat.message.send", payload_text);
    mesh_test_client_expect_error (a, "BAD_REQUEST", id);
  }
  id = mesh_test_client_send (a, "chat.message.send",
                              "{\"room_id\":\"" UNKNOWN_ID "\",\"content\":\"hi\"}");
  mesh_test_client_expect_error (a, "ROOM_NOT_FOUND", id);
  g_assert_true (mesh_test_client_is_open (a));
}

typedef struct {
  char           *room_id;
  char           *other_room_id;
  MeshTestClient *a;        /* alice */
  MeshTestClient *b;        /* bob */
  MeshTestClient *c;        /* carol, in the other room only */
  char           *a_peer;
  char           *b_peer;
  char           *c_peer;
} Call;

static void
call_set_up (Call *call)
{
  g_autoptr(JsonObject) wa = NULL;
  g_autoptr(JsonObject) wb = NULL;
  g_autoptr(JsonObject) wc = NULL;
  g_autoptr(JsonObject) j1 = NULL;
  g_autoptr(JsonObject) j2 = NULL;
  g_autoptr(JsonObject) j3 = NULL;
  g_autoptr(JsonObject) j4 = NULL;

  call->room_id = room_with (ALICE, "Call", BOB, -1);
  call->other_room_id = room_with (ALICE, "Elsewhere", CAROL, -1);
  call->a = client_for (ALICE, &wa);
  call->b = client_for (BOB, &wb);
  call->c = client_for (CAROL, &wc);
  call->a_peer = peer_id_of (wa);
  call->b_peer = peer_id_of (wb);
  call->c_peer = peer_id_of (wc);
  j1 = ws_join (call->a, call->room_id);
  j2 = ws_join (call->b, call->room_id);
  j3 = ws_join (call->a, call->other_room_id);
  j4 = ws_join (call->c, call->other_room_id);
  mesh_test_client_clear (call->a);
  mesh_test_client_clear (call->b);
  mesh_test_client_clear (call->c);
}

static void
call_tear_down (Call *call)
{
  g_clear_pointer (&call->a, mesh_test_client_free);
  g_clear_pointer (&call->b, mesh_test_client_free);
  g_clear_pointer (&call->c, mesh_test_client_free);
  g_free (call->room_id);
  g_free (call->other_room_id);
  g_free (call->a_peer);
  g_free (call->b_peer);
  g_free (call->c_peer);
}

static char *
offer_payload (const char *room_id,
               const char *target,
               const char *media,
               const char *cap_token)
{
  g_autoptr(JsonObject) p = json_object_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (p, "room_id", room_id);
  json_object_set_string_member (p, "target_peer_id", target);
  json_object_set_string_member (p, "sdp", SDP);
  json_object_set_string_member (p, "media", media);
  if (cap_token != NULL)
    json_object_set_string_member (p, "cap_token", cap_token);
  json_node_set_object (node, p);
  return json_to_string (node, FALSE);
}

/* Sends an offer from alice to @target and expects error @code. */
static void
offer_refused (Call       *call,
               const char *room_id,
               const char *target,
               const char *media,
               const char *cap_token,
               const char *code)
{
  g_autofree char *payload = offer_payload (room_id, target, media, cap_token);
  const char *id = mesh_test_client_send (call->a, "rtc.offer", payload);

  g_test_message ("offer expecting %s", code);
  mesh_test_client_expect_error (call->a, code, id);
}

static void
test_ws_rtc_relay (void)
{
  Call call = { 0 };
  g_autofree char *a_token = NULL;
  g_autofree char *b_token = NULL;
  g_autofree char *offer = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *ice = NULL;
  g_autofree char *hangup = NULL;
  g_autoptr(JsonObject) got_offer = NULL;
  g_autoptr(JsonObject) got_answer = NULL;
  g_autoptr(JsonObject) got_ice = NULL;
  g_autoptr(JsonObject) got_hangup = NULL;
  JsonObject *payload;
  JsonObject *candidate;

  call_set_up (&call);
  a_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "");
  b_token = issue_cap (BOB, call.room_id, "[\"call\"]", "");

  /* A forged `from` is overwritten with the sender's real peer_id. */
  offer = offer_payload (call.room_id, call.b_peer, "call", a_token);
  mesh_test_client_send_from (call.a, "rtc.offer", call.c_peer, offer);
  got_offer = mesh_test_client_expect_type (call.b, "rtc.offer");
  g_assert_cmpstr (get_str (got_offer, "from"), ==, call.a_peer);
  g_assert_cmpstr (get_str (got_offer, "to"), ==, call.b_peer);
  payload = mesh_test_frame_payload (got_offer);
  g_assert_cmpstr (get_str (payload, "sdp"), ==, SDP);
  g_assert_cmpstr (get_str (payload, "media"), ==, "call");
  g_assert_cmpstr (get_str (payload, "room_id"), ==, call.room_id);
  g_assert_cmpstr (get_str (payload, "target_peer_id"), ==, call.b_peer);
  g_assert_false (json_object_has_member (payload, "cap_token"));

  answer = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"sdp\":\"v=0\","
                            "\"cap_token\":\"%s\"}", call.room_id, call.a_peer, b_token);
  mesh_test_client_send_from (call.b, "rtc.answer", "server", answer);
  got_answer = mesh_test_client_expect_type (call.a, "rtc.answer");
  g_assert_cmpstr (get_str (got_answer, "from"), ==, call.b_peer);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (got_answer), "sdp"), ==, "v=0");
  g_assert_false (json_object_has_member (mesh_test_frame_payload (got_answer), "cap_token"));

  ice = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"candidate\":"
                         "{\"candidate\":\"candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host\","
                         "\"sdpMid\":\"0\",\"sdpMLineIndex\":0},\"cap_token\":\"%s\"}",
                         call.room_id, call.b_peer, a_token);
  mesh_test_client_send (call.a, "rtc.ice", ice);
  got_ice = mesh_test_client_expect_type (call.b, "rtc.ice");
  g_assert_cmpstr (get_str (got_ice, "from"), ==, call.a_peer);
  candidate = json_object_get_object_member (mesh_test_frame_payload (got_ice), "candidate");
  g_assert_cmpstr (get_str (candidate, "sdpMid"), ==, "0");
  g_assert_cmpint (json_object_get_int_member (candidate, "sdpMLineIndex"), ==, 0);
  g_assert_false (json_object_has_member (mesh_test_frame_payload (got_ice), "cap_token"));

  /* Hanging up needs no token. */
  hangup = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"reason\":\"bye\"}",
                            call.room_id, call.a_peer);
  mesh_test_client_send (call.b, "rtc.hangup", hangup);
  got_hangup = mesh_test_client_expect_type (call.a, "rtc.hangup");
  g_assert_cmpstr (get_str (got_hangup, "from"), ==, call.b_peer);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (got_hangup), "reason"), ==, "bye");

  /* A screenshare offer with a screenshare token goes through too. */
  {
    g_autofree char *share_token = issue_cap (ALICE, call.room_id, "[\"screenshare\"]", "");
    g_autofree char *share = offer_payload (call.room_id, call.b_peer, "screenshare", share_token);
    g_autoptr(JsonObject) got_share = NULL;

    mesh_test_client_send (call.a, "rtc.offer", share);
    got_share = mesh_test_client_expect_type (call.b, "rtc.offer");
    g_assert_cmpstr (get_str (mesh_test_frame_payload (got_share), "media"), ==, "screenshare");
  }
  /* Carol, in another room, heard nothing of it. */
  g_assert_cmpuint (mesh_test_client_get_n_queued (call.c), ==, 0);
  call_tear_down (&call);
}

static void
test_ws_rtc_refusals (void)
{
  Call call = { 0 };
  g_autofree char *call_token = NULL;
  g_autofree char *short_token = NULL;
  g_autofree char *tampered = NULL;
  g_autofree char *other_room_token = NULL;
  g_autofree char *share_token = NULL;
  g_autofree char *targeted_elsewhere = NULL;
  g_autofree char *targeted_b = NULL;
  g_autofree char *bobs_token = NULL;
  g_autofree char *none_token = NULL;
  g_autofree char *claims = NULL;
  g_autofree char *fields = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *last_dot;
  gsize mid;

  call_set_up (&call);
  call_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "");
  short_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "\"ttl\":1");
  other_room_token = issue_cap (ALICE, call.other_room_id, "[\"call\"]", "");
  share_token = issue_cap (ALICE, call.room_id, "[\"screenshare\"]", "");
  fields = g_strdup_printf ("\"target_peer_id\":\"%s\"", call.c_peer);
  targeted_elsewhere = issue_cap (ALICE, call.room_id, "[\"call\"]", fields);
  g_free (fields);
  fields = g_strdup_printf ("\"target_peer_id\":\"%s\"", call.b_peer);
  targeted_b = issue_cap (ALICE, call.room_id, "[\"call\"]", fields);
  bobs_token = issue_cap (BOB, call.room_id, "[\"call\"]", "");

  /* One character of the signature changed. */
  tampered = g_strdup (call_token);
  last_dot = strrchr (tampered, '.');
  g_assert_nonnull (last_dot);
  mid = (last_dot - tampered) + (strlen (last_dot) / 2);
  tampered[mid] = tampered[mid] == 'A' ? 'B' : 'A';

  claims = g_strdup_printf ("{\"sub\":\"%s\",\"room_id\":\"%s\",\"caps\":[\"call\"],"
                            "\"iat\":%" G_GINT64_FORMAT ",\"exp\":%" G_GINT64_FORMAT ","
                            "\"jti\":\"00000000-0000-4000-8000-000000000001\"}",
                            shared.user_id[ALICE], call.room_id, now, now + 100);
  none_token = forge_token ("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "");

  offer_refused (&call, call.room_id, call.b_peer, "call", NULL, "CAP_REQUIRED");
  offer_refused (&call, call.room_id, call.b_peer, "call", "", "CAP_REQUIRED");
  offer_refused (&call, call.room_id, call.b_peer, "call", tampered, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", "not.a.jwt", "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", none_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", other_room_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", share_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "screenshare", call_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", targeted_elsewhere, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", bobs_token, "CAP_INVALID");

  /* A valid token, but the target is not reachable in that room. */
  offer_refused (&call, call.room_id, call.c_peer, "call", call_token, "UNROUTABLE");
  offer_refused (&call, call.room_id, UNKNOWN_ID, "call", call_token,
                 "UNROUTABLE");
  offer_refused (&call, call.room_id, call.a_peer, "call", call_token, "UNROUTABLE");

  /* Malformed offers and rooms one has not joined. */
  offer_refused (&call, call.room_id, call.b_peer, "video", call_token, "BAD_REQUEST");
  offer_refused (&call, UNKNOWN_ID, call.b_peer, "call", call_token,
                 "ROOM_NOT_FOUND");
  {
    const char *id;
    g_autofree char *no_sdp = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\","
                                               "\"media\":\"call\",\"cap_token\":\"%s\"}",
                                               call.room_id, call.b_peer, call_token);
    g_autofree char *carol_offer = offer_payload (call.room_id, call.a_peer, "call", call_token);
    g_autofree char *bad_ice = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\","
                                                "\"candidate\":\"x\",\"cap_token\":\"%s\"}",
                                                call.room_id, call.b_peer, call_token);
    g_autofree char *no_target = g_strdup_printf ("{\"room_id\":\"%s\",\"sdp\":\"v=0\","
                                                  "\"cap_token\":\"%s\"}",
                                                  call.room_id, call_token);

    id = mesh_test_client_send (call.a, "rtc.offer", no_sdp);
    mesh_test_client_expect_error (call.a, "BAD_REQUEST", id);
    id = mesh_test_client_send (call.a, "rtc.ice", bad_ice);
    mesh_test_client_expect_error (call.a, "BAD_REQUEST", id);
    id = mesh_test_client_send (call.a, "rtc.answer", no_target);
    mesh_test_client_expect_error (call.a, "BAD_REQUEST", id);
    /* Carol is not in the call's room. */
    id = mesh_test_client_send (call.c, "rtc.offer", carol_offer);
    mesh_test_client_expect_error (call.c, "FORBIDDEN", id);
  }

  /* The token naming B does work for B. */
  {
    g_autofree char *ok = offer_payload (call.room_id, call.b_peer, "call", targeted_b);
    g_autoptr(JsonObject) got = NULL;

    mesh_test_client_send (call.a, "rtc.offer", ok);
    got = mesh_test_client_expect_type (call.b, "rtc.offer");
  }

  /* The 1-second token, once past its exp. */
  mesh_test_pump (2100);
  offer_refused (&call, call.room_id, call.b_peer, "call", short_token, "CAP_EXPIRED");

  /* None of the refused offers reached B; the one good offer did. */
  g_assert_cmpuint (mesh_test_client_count_type (call.b, "rtc.offer"), ==, 0);
  g_assert_cmpuint (mesh_test_client_count_type (call.b, "error"), ==, 0);
  g_assert_true (mesh_test_client_is_open (call.a));
  call_tear_down (&call);
}

static void
test_ws_bad_frames (void)
{
  g_autofree char *room_id = room_with (ALICE, "Frames", -1);
  g_autoptr(MeshTestClient) a = client_for (ALICE, NULL);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(GBytes) binary = g_bytes_new_static ("\x01\x02", 2);
  gsize big_size = 70 * 1024;
  g_autofree char *big = NULL;
  const char *id;

  id = mesh_test_client_send (a, "no.such.event", NULL);
  mesh_test_client_expect_error (a, "BAD_REQUEST", id);

  mesh_test_client_send_raw (a, "{\"type\":", 8);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);
  mesh_test_client_send_raw (a, "[1,2]", 5);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);
  mesh_test_client_send_raw (a, "{\"id\":\"x\",\"payload\":{}}", 23);
  mesh_test_client_expect_error (a, "BAD_REQUEST", "x");
  mesh_test_client_send_raw (a, "{\"type\":\"room.join\",\"payload\":[]}", 33);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);

  /* Deep nesting within the size limit is just another bad frame. */
  {
    gsize depth = 30000;
    g_autofree char *deep = g_malloc (2 * depth);

    memset (deep, '[', depth);
    memset (deep + depth, ']', depth);
    mesh_test_client_send_raw (a, deep, 2 * depth);
    mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);
  }

  /* Frames are JSON text; binary ones are refused. */
  mesh_test_client_send_binary (a, binary);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);

  /* A frame over 64 KiB is refused, and the socket stays open. */
  big = g_malloc (big_size + 1);
  memset (big, ' ', big_size);
  memcpy (big, "{\"type\":\"presence.update\",\"payload\":{\"status\":\"busy\"}}", 53);
  big[big_size] = '\0';
  mesh_test_client_send_raw (a, big, big_size);
  mesh_test_client_expect_error (a, "PAYLOAD_TOO_LARGE", NULL);
  g_assert_true (mesh_test_client_is_open (a));

  /* Still usable after all of that. */
  {
    g_autoptr(JsonObject) created = ws_chat (a, room_id, "still fine", NULL);

    g_assert_cmpstr (get_str (created, "content"), ==, "still fine");
  }
}

/* An account on the strict server, made through open registration. */
static char *
strict_user (const char *username)
{
  MeshTestServer *server = strict_server ();
  g_autofree char *body = g_strdup_printf ("{\"username\":\"%s\",\"password\":\"" PASSWORD "\"}",
                                           username);
  g_autoptr(MeshTestResponse) r = mesh_test_request (server, "POST", "/api/v1/auth/register",
                                                     NULL, body);

  g_assert_cmpuint (r->status, ==, 201);
  return mesh_test_login (server, username, PASSWORD, NULL);
}

static void
test_ws_hello_timeout (void)
{
  g_autofree char *token = strict_user ("sleepy");
  g_autoptr(MeshTestClient) client = raw_client (strict_server (), token);

  /* Configured to 1 s: the server gives up on its own. */
  mesh_test_client_expect_error (client, "BAD_REQUEST", NULL);
  assert_closed_by_server (client);
}

static void
test_ws_rate_limit (void)
{
  g_autofree char *room_id = room_with (ALICE, "Flood", BOB, -1);
  g_autoptr(MeshTestClient) a = client_for (ALICE, NULL);
  g_autoptr(MeshTestClient) b = client_for (BOB, NULL);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(JsonObject) jb = ws_join (b, room_id);
  g_autoptr(JsonObject) served = NULL;
  g_autoptr(JsonObject) marker = NULL;
  g_autoptr(GHashTable) flood_ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) frames = NULL;
  guint accepted = 0, limited = 0, chats = 0;

  mesh_test_client_clear (a);
  /* 400 at once against the default 100/s with a burst of 200. */
  for (guint i = 0; i < 400; i++)
    g_hash_table_add (flood_ids, (gpointer) mesh_test_client_send (a, "test.flood", NULL));

  /* Meanwhile B is served as usual. */
  served = ws_chat (b, room_id, "not disturbed", NULL);
  g_assert_cmpstr (get_str (served, "content"), ==, "not disturbed");

  /* Once tokens are back, A is answered again; retry while still limited. */
  for (guint tries = 0; tries < 20 && marker == NULL; tries++) {
    const char *id = mesh_test_client_send (a, "presence.update", "{\"status\":\"away\"}");

    marker = mesh_test_client_wait_for_ref (a, id, 1000);
  }
  g_assert_nonnull (marker);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (marker), "code"), ==, "BAD_REQUEST");

  frames = mesh_test_client_take_all (a);
  for (guint i = 0; i < frames->len; i++) {
    JsonObject *frame = frames->pdata[i];
    JsonObject *payload = mesh_test_frame_payload (frame);

    if (g_str_equal (get_str (frame, "type"), "chat.message.created")) {
      g_assert_cmpstr (get_str (payload, "content"), ==, "not disturbed");
      chats++;
    } else if (g_str_equal (get_str (frame, "type"), "error") &&
               g_strcmp0 (get_str (payload, "code"), "RATE_LIMITED") == 0) {
      g_assert_false (json_object_has_member (payload, "ref"));
      limited++;
    } else if (g_str_equal (get_str (frame, "type"), "error") &&
               g_hash_table_contains (flood_ids, get_str (payload, "ref"))) {
      g_assert_cmpstr (get_str (payload, "code"), ==, "BAD_REQUEST");
      accepted++;
    }
  }
  g_test_message ("flood of 400: %u answered, %u RATE_LIMITED errors", accepted, limited);
  /* The burst went through, the rest was dropped with an error. */
  g_assert_cmpuint (accepted, >=, 190);
  g_assert_cmpuint (accepted, <, 400);
  g_assert_cmpuint (limited, >=, 1);
  /* A got B's message, once, and both sockets are open. */
  g_assert_cmpuint (chats, ==, 1);
  g_assert_true (mesh_test_client_is_open (a));
  g_assert_true (mesh_test_client_is_open (b));
}

static void
test_ws_abuse_closes (void)
{
  MeshTestServer *server = strict_server ();
  g_autofree char *token = strict_user ("flooder");
  g_autofree char *other_token = strict_user ("bystander");
  g_autoptr(MeshTestClient) flooder = NULL;
  g_autoptr(MeshTestClient) bystander = NULL;
  const char *id;

  flooder = mesh_test_client_new_hello (server, token, "client", NULL, NULL);
  bystander = mesh_test_client_new_hello (server, other_token, "client", NULL, NULL);

  /* 1 message/s, a burst of 5, closed after 20 refused in a row. */
  for (guint i = 0; i < 100; i++)
    mesh_test_client_send (flooder, "presence.update", "{\"status\":\"online\"}");
  mesh_test_client_expect_error (flooder, "RATE_LIMITED", NULL);
  assert_closed_by_server (flooder);

  id = mesh_test_client_send (bystander, "presence.update", "{\"status\":\"away\"}");
  mesh_test_client_expect_error (bystander, "BAD_REQUEST", id);
  g_assert_true (mesh_test_client_is_open (bystander));
}

/* Voluntary context switches of the server's thread named @name, or -1
 * when it has none by that name: a shard that ran sockets slept and woke. */
static gint64
thread_switches (const char *pid,
                 const char *name)
{
  g_autofree char *dir_path = g_strdup_printf ("/proc/%s/task", pid);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL) {
    g_autofree char *comm_path = g_build_filename (dir_path, tid, "comm", NULL);
    g_autofree char *status_path = g_build_filename (dir_path, tid, "status", NULL);
    g_autofree char *comm = NULL;
    g_autofree char *status = NULL;
    const char *line;

    if (!g_file_get_contents (comm_path, &comm, NULL, NULL) ||
        !g_str_equal (g_strstrip (comm), name) ||
        !g_file_get_contents (status_path, &status, NULL, NULL))
      continue;
    line = strstr (status, "voluntary_ctxt_switches:");
    return line ? g_ascii_strtoll (line + strlen ("voluntary_ctxt_switches:"), NULL, 10) : -1;
  }
  return -1;
}

/* A bare WebSocket client on a blocking GSocket: 2 000 libsoup clients in
 * this process's main loop would cost it O(sockets) per iteration (the
 * very thing the server's shards avoid), and the test would take a minute. */
static gboolean
raw_read_exact (GSocket *socket,
                guint8  *buffer,
                gsize    len)
{
  gsize done = 0;

  while (done < len) {
    gssize n = g_socket_receive (socket, (char *) buffer + done, len - done, NULL, NULL);

    if (n <= 0)
      return FALSE;
    done += n;
  }
  return TRUE;
}

static void
raw_ws_send (GSocket    *socket,
             const char *text)
{
  gsize len = strlen (text);
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  guint8 head[4] = { 0x81, 0, 0, 0 };
  const guint8 mask[4] = { 0x12, 0x34, 0x56, 0x78 };

  g_assert_cmpuint (len, <, 65536);
  if (len < 126) {
    head[1] = 0x80 | len;
    g_byte_array_append (frame, head, 2);
  } else {
    head[1] = 0x80 | 126;
    head[2] = len >> 8;
    head[3] = len & 0xff;
    g_byte_array_append (frame, head, 4);
  }
  g_byte_array_append (frame, mask, 4);
  for (gsize i = 0; i < len; i++) {
    guint8 c = text[i] ^ mask[i % 4];

    g_byte_array_append (frame, &c, 1);
  }
  g_assert_cmpint (g_socket_send (socket, (char *) frame->data, frame->len, NULL, NULL), ==,
                   (gssize) frame->len);
}

/* The next text frame, as a JSON object (control frames skipped). */
static JsonObject *
raw_ws_receive (GSocket *socket)
{
  for (;;) {
    guint8 head[2], ext[8];
    guint64 len;
    g_autofree guint8 *payload = NULL;

    if (!raw_read_exact (socket, head, 2))
      return NULL;
    len = head[1] & 0x7f;
    if (len == 126) {
      if (!raw_read_exact (socket, ext, 2))
        return NULL;
      len = (ext[0] << 8) | ext[1];
    } else if (len == 127) {
      if (!raw_read_exact (socket, ext, 8))
        return NULL;
      len = 0;
      for (guint i = 0; i < 8; i++)
        len = (len << 8) | ext[i];
    }
    g_assert_cmpuint (len, <, 1 << 20);
    payload = g_malloc (len + 1);
    if (!raw_read_exact (socket, payload, len))
      return NULL;
    payload[len] = '\0';
    if ((head[0] & 0x0f) == 0x1) {
      g_autoptr(JsonNode) node = json_from_string ((const char *) payload, NULL);

      g_assert_nonnull (node);
      return json_object_ref (json_node_get_object (node));
    }
    g_assert_cmpuint (head[0] & 0x0f, !=, 0x8);  /* not closed */
  }
}

static GSocket *
raw_ws_connect (guint16     port,
                const char *token)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autofree char *request = g_strdup_printf ("GET /ws HTTP/1.1\r\n"
                                              "Host: 127.0.0.1:%u\r\n"
                                              "Upgrade: websocket\r\n"
                                              "Connection: Upgrade\r\n"
                                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                              "Sec-WebSocket-Version: 13\r\n"
                                              "Authorization: Bearer %s\r\n\r\n",
                                              port, token);
  GString *response = g_string_new (NULL);
  g_autoptr(JsonObject) welcome = NULL;

  g_assert_no_error (error);
  g_socket_set_timeout (socket, MESH_TEST_TIMEOUT_MS / 1000);
  g_socket_connect (socket, address, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_socket_send (socket, request, strlen (request), NULL, NULL), ==,
                   (gssize) strlen (request));
  /* Byte by byte up to the blank line: nothing of the first frame is lost. */
  while (!g_str_has_suffix (response->str, "\r\n\r\n")) {
    guint8 c;

    g_assert_true (raw_read_exact (socket, &c, 1));
    g_string_append_c (response, c);
  }
  g_assert_true (g_str_has_prefix (response->str, "HTTP/1.1 101"));
  g_string_free (response, TRUE);

  raw_ws_send (socket, "{\"type\":\"system.hello\",\"id\":\"h\","
                       "\"payload\":{\"peer_type\":\"client\",\"version\":\"2.0.0\"}}");
  welcome = raw_ws_receive (socket);
  g_assert_nonnull (welcome);
  g_assert_cmpstr (get_str (welcome, "type"), ==, "system.welcome");
  return g_steal_pointer (&socket);
}

/* 2 000 sockets over 4 shard threads (round robin: 500 each) all get a
 * room's events, every one, in the order they were made. */
static void
test_ws_many_sockets_over_shards (void)
{
  enum { N_SOCKETS = 2000, N_SHARDS = 4, N_EVENTS = 8 };
  g_autoptr(MeshTestServer) server = NULL;
  g_autoptr(MeshTestResponse) created = NULL;
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GUri) base = NULL;
  g_autofree char *token = NULL;
  g_autofree char *path = NULL;
  struct rlimit limit;
  const char *room_id;

  /* Each socket is a descriptor here too. */
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &limit), ==, 0);
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < N_SOCKETS + 256) {
    g_test_skip ("the open-files hard limit is below 2 256");
    return;
  }
  limit.rlim_cur = limit.rlim_max;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &limit), ==, 0);

  server = mesh_test_server_new ("[server]\n"
                                 "shards=4\n"
                                 "[limits]\n"
                                 "max-sockets=4000\n");
  g_free (mesh_test_server_add_user (server, "crowd", PASSWORD));
  mesh_test_server_start (server);
  token = mesh_test_login (server, "crowd", PASSWORD, NULL);
  created = mesh_test_request_expect (server, "POST", "/api/v1/rooms", token,
                                      "{\"name\":\"crowd 0\"}", 201);
  room_id = get_str (mesh_test_response_object (created), "room_id");
  path = g_strdup_printf ("/api/v1/rooms/%s", room_id);
  base = g_uri_parse (mesh_test_server_get_base_url (server), G_URI_FLAGS_NONE, NULL);
  g_assert_nonnull (base);

  for (guint i = 0; i < N_SOCKETS; i++)
    g_ptr_array_add (sockets, raw_ws_connect (g_uri_get_port (base), token));

  for (guint k = 1; k <= N_EVENTS; k++) {
    g_autofree char *body = g_strdup_printf ("{\"name\":\"crowd %u\"}", k);
    g_autoptr(MeshTestResponse) renamed = mesh_test_request (server, "PATCH", path, token, body);

    g_assert_cmpuint (renamed->status, ==, 200);
  }

  for (guint i = 0; i < N_SOCKETS; i++) {
    for (guint k = 1; k <= N_EVENTS; k++) {
      g_autoptr(JsonObject) event = raw_ws_receive (sockets->pdata[i]);
      g_autofree char *want = g_strdup_printf ("crowd %u", k);
      JsonObject *payload;

      if (event == NULL)
        g_error ("socket %u: no event %u", i, k);
      g_assert_cmpstr (get_str (event, "type"), ==, "room.updated");
      payload = mesh_test_frame_payload (event);
      g_assert_cmpstr (get_str (payload, "room_id"), ==, room_id);
      g_assert_cmpstr (get_str (payload, "name"), ==, want);
    }
  }

  /* Every shard thread ran sockets. */
  for (guint i = 0; i < N_SHARDS; i++) {
    g_autofree char *name = g_strdup_printf ("mesh-ws-%u", i);

    g_assert_cmpint (thread_switches (mesh_test_server_get_pid (server), name), >, 10);
  }
  g_assert_cmpint (thread_switches (mesh_test_server_get_pid (server), "mesh-ws-4"), ==, -1);

  g_ptr_array_set_size (sockets, 0);
  mesh_test_server_stop (server);
}

/* rtc.ice is relayed from its text (the hub's fast path): whatever the
 * token's place and the spacing, the callee gets the payload less the
 * token, every other member as sent, and the frame is valid JSON.  Frames
 * the fast path does not take (a duplicate token) are relayed the same. */
static void
test_ws_rtc_ice_forms (void)
{
  Call call = { 0 };
  g_autofree char *a_token = NULL;
  const char *forms[] = {
    "{\"cap_token\":\"%3$s\",\"room_id\":\"%1$s\",\"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c1\"},\"extra\":[1,{\"cap_token\":\"kept\"}]}",
    "{ \"room_id\" : \"%1$s\" , \"cap_token\" : \"%3$s\" , \"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c2\"},\"extra\":[1,{\"cap_token\":\"kept\"}] }",
    "{\"room_id\":\"%1$s\",\"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c3\"},\"extra\":[1,{\"cap_token\":\"kept\"}],\n \"cap_token\":\"%3$s\"\n}",
    "{\"cap_token\":\"x\",\"room_id\":\"%1$s\",\"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c4\"},\"extra\":[1,{\"cap_token\":\"kept\"}],\"cap_token\":\"%3$s\"}",
  };

  call_set_up (&call);
  a_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "");

  for (guint i = 0; i < G_N_ELEMENTS (forms); i++) {
    g_autofree char *payload_text = NULL;
    g_autofree char *want = g_strdup_printf ("c%u", i + 1);
    g_autoptr(JsonObject) got = NULL;
    JsonObject *payload;
    JsonArray *extra;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    payload_text = g_strdup_printf (forms[i], call.room_id, call.b_peer, a_token);
#pragma GCC diagnostic pop
    g_test_message ("form %u", i);
    mesh_test_client_send (call.a, "rtc.ice", payload_text);
    got = mesh_test_client_expect_type (call.b, "rtc.ice");
    g_assert_cmpstr (get_str (got, "from"), ==, call.a_peer);
    g_assert_cmpstr (get_str (got, "to"), ==, call.b_peer);
    g_assert_true (mesh_id_is_valid (get_str (got, "id")));
    payload = mesh_test_frame_payload (got);
    g_assert_false (json_object_has_member (payload, "cap_token"));
    g_assert_cmpstr (get_str (payload, "room_id"), ==, call.room_id);
    g_assert_cmpstr (get_str (payload, "target_peer_id"), ==, call.b_peer);
    g_assert_cmpstr (get_str (json_object_get_object_member (payload, "candidate"), "candidate"), ==, want);
    extra = json_object_get_array_member (payload, "extra");
    g_assert_cmpuint (json_array_get_length (extra), ==, 2);
    g_assert_cmpstr (get_str (json_array_get_object_element (extra, 1), "cap_token"), ==, "kept");
    g_assert_cmpuint (json_object_get_size (payload), ==, 4);
  }
  call_tear_down (&call);
}

static void
test_ws_close_notifies (void)
{
  g_autofree char *room_id = room_with (ALICE, "Goodbye", BOB, -1);
  g_autoptr(JsonObject) wb = NULL;
  g_autoptr(MeshTestClient) a = client_for (ALICE, NULL);
  g_autoptr(MeshTestClient) b = client_for (BOB, &wb);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(JsonObject) jb = ws_join (b, room_id);
  g_autoptr(JsonObject) offline = NULL;
  g_autoptr(JsonObject) left = NULL;
  JsonObject *payload;

  mesh_test_client_clear (a);
  mesh_test_client_close (b);

  offline = mesh_test_client_expect_type (a, "presence.update");
  payload = mesh_test_frame_payload (offline);
  g_assert_cmpstr (get_str (payload, "peer_id"), ==, get_str (wb, "peer_id"));
  g_assert_cmpstr (get_str (payload, "status"), ==, "offline");

  left = mesh_test_client_expect_type (a, "room.left");
  payload = mesh_test_frame_payload (left);
  g_assert_cmpstr (get_str (payload, "peer_id"), ==, get_str (wb, "peer_id"));
  g_assert_cmpstr (get_str (payload, "room_id"), ==, room_id);

  /* The room goes on without B. */
  {
    g_autoptr(JsonObject) created = ws_chat (a, room_id, "anyone?", NULL);

    g_assert_cmpstr (get_str (created, "content"), ==, "anyone?");
  }
}

static char *
get_public_key (MeshTestServer *server,
                const char     *token)
{
  g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", "/api/v1/keys", token, NULL);

  g_assert_cmpuint (r->status, ==, 200);
  return g_strdup (get_str (mesh_test_response_object (r), "public_key_pem"));
}

static MeshTestResponse *
login_attempt (MeshTestServer *server,
               const char     *username,
               const char     *password)
{
  g_autofree char *body = g_strdup_printf ("{\"username\":\"%s\",\"password\":\"%s\"}",
                                           username, password);

  return mesh_test_request (server, "POST", "/api/v1/auth/login", NULL, body);
}

static void
assert_rate_limited (MeshTestResponse *r)
{
  const char *retry_after;

  mesh_test_response_assert_error (r, 429, "RATE_LIMITED");
  retry_after = soup_message_headers_get_one (r->headers, "Retry-After");
  g_assert_nonnull (retry_after);
  g_assert_cmpint (atoi (retry_after), >=, 1);
}

/* Per username: failed logins spend a bucket that refills slowly; when it
 * is empty even the right password is not checked (429 + Retry-After) —
 * except from an address that logged in as that user before, so guessing
 * cannot lock the owner out.  Other users are not affected. */
static void
test_rest_login_throttle (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[auth]\n"
                                                           "login-user-burst=3\n"
                                                           "login-user-per-minute=0.5\n");

  g_free (mesh_test_server_add_user (server, "carol", PASSWORD));
  g_free (mesh_test_server_add_user (server, "dave", PASSWORD));
  g_free (mesh_test_server_add_user (server, "erin", PASSWORD));
  mesh_test_server_start (server);

  for (guint i = 0; i < 3; i++) {
    g_autoptr(MeshTestResponse) r = login_attempt (server, "carol", "guess");

    mesh_test_response_assert_error (r, 401, "UNAUTHORIZED");
  }
  {
    /* Any case of the name is the same user. */
    g_autoptr(MeshTestResponse) wrong = login_attempt (server, "CAROL", "guess");
    g_autoptr(MeshTestResponse) right = login_attempt (server, "carol", PASSWORD);

    assert_rate_limited (wrong);
    assert_rate_limited (right);
  }
  /* Dave is not carol. */
  g_free (mesh_test_login (server, "dave", PASSWORD, NULL));

  /* Erin logged in from here before: guesses from elsewhere do not lock
   * her out here. */
  g_free (mesh_test_login (server, "erin", PASSWORD, NULL));
  for (guint i = 0; i < 6; i++) {
    g_autoptr(MeshTestResponse) r = login_attempt (server, "erin", "guess");

    mesh_test_response_assert_error (r, 401, "UNAUTHORIZED");
  }
  g_free (mesh_test_login (server, "erin", PASSWORD, NULL));
  mesh_test_server_stop (server);
}

/* Per address: logins and registrations together. */
static void
test_rest_address_throttle (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[server]\n"
                                                           "open-registration=true\n"
                                                           "[auth]\n"
                                                           "login-ip-burst=4\n"
                                                           "login-ip-per-minute=0.5\n");
  g_autoptr(MeshTestResponse) registered = NULL;
  g_autoptr(MeshTestResponse) refused = NULL;
  g_autoptr(MeshTestResponse) refused_register = NULL;

  g_free (mesh_test_server_add_user (server, "frank", PASSWORD));
  mesh_test_server_start (server);
  registered = mesh_test_request_expect (server, "POST", "/api/v1/auth/register", NULL,
                                         "{\"username\":\"gina\",\"password\":\"" PASSWORD "\"}",
                                         201);
  for (guint i = 0; i < 3; i++) {
    g_autoptr(MeshTestResponse) r = login_attempt (server, i == 0 ? "frank" : "gina",
                                                   i == 2 ? "guess" : PASSWORD);

    g_assert_cmpuint (r->status, ==, i == 2 ? 401 : 200);
  }
  refused = login_attempt (server, "frank", PASSWORD);
  assert_rate_limited (refused);
  refused_register = mesh_test_request (server, "POST", "/api/v1/auth/register", NULL,
                                        "{\"username\":\"hank\",\"password\":\"" PASSWORD
                                        "\"}");
  assert_rate_limited (refused_register);
  mesh_test_server_stop (server);
}

static guint
login_forwarded (MeshTestServer *server,
                 const char     *forwarded_for)
{
  g_autofree char *url = g_strconcat (mesh_test_server_get_rest_url (server), "/auth/login",
                                      NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
  g_autoptr(GBytes) body = g_bytes_new_static ("{\"username\":\"ivy\",\"password\":\"x\"}",
                                               strlen ("{\"username\":\"ivy\",\"password\":\"x\"}"));
  g_autoptr(GBytes) answer = NULL;

  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Forwarded-For",
                                forwarded_for);
  answer = soup_session_send_and_read (session, msg, NULL, NULL);
  return soup_message_get_status (msg);
}

/* Behind a trusted proxy each client has its own bucket: the last address
 * the proxy appended, whatever the client put before it. */
static void
test_rest_forwarded_throttle (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[auth]\n"
                                                           "login-ip-burst=2\n"
                                                           "login-ip-per-minute=0.5\n"
                                                           "login-user-burst=100\n"
                                                           "trusted-proxies=127.0.0.1;::1\n");

  mesh_test_server_start (server);
  g_assert_cmpuint (login_forwarded (server, "203.0.113.5"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "198.51.100.1, 203.0.113.5"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "203.0.113.5"), ==, 429);
  /* Made-up entries before the proxy's do not give a new bucket. */
  g_assert_cmpuint (login_forwarded (server, "192.0.2.77, 203.0.113.5"), ==, 429);
  /* Another client, and another /64 of IPv6, are not throttled. */
  g_assert_cmpuint (login_forwarded (server, "203.0.113.6"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:2::1"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:2::2"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:2:ffff::3"), ==, 429);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:3::1"), ==, 401);
  mesh_test_server_stop (server);
}

/* Sockets per user and in all are capped: refused upgrades get 429, and a
 * closed socket frees its place. */
static void
test_ws_socket_caps (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[limits]\n"
                                                           "max-sockets=3\n"
                                                           "max-sockets-per-user=2\n");
  g_autofree char *alice = NULL;
  g_autofree char *bob = NULL;
  MeshTestClient *alices[2];
  g_autoptr(MeshTestClient) bob_1 = NULL;
  g_autoptr(MeshTestClient) again = NULL;
  g_autoptr(GError) error = NULL;
  guint status = 0;

  g_free (mesh_test_server_add_user (server, "alice", PASSWORD));
  g_free (mesh_test_server_add_user (server, "bob", PASSWORD));
  mesh_test_server_start (server);
  alice = mesh_test_login (server, "alice", PASSWORD, NULL);
  bob = mesh_test_login (server, "bob", PASSWORD, NULL);

  for (guint i = 0; i < 2; i++)
    alices[i] = mesh_test_client_new_hello (server, alice, "client", NULL, NULL);
  again = mesh_test_client_connect (server, alice, MESH_TEST_AUTH_HEADER, &status, &error);
  g_assert_null (again);
  g_assert_cmpuint (status, ==, 429);
  g_clear_error (&error);

  bob_1 = mesh_test_client_new_hello (server, bob, "client", NULL, NULL);
  again = mesh_test_client_connect (server, bob, MESH_TEST_AUTH_HEADER, &status, &error);
  g_assert_null (again);
  g_assert_cmpuint (status, ==, 429);
  g_clear_error (&error);

  /* One of alice's closes: she may connect again. */
  mesh_test_client_close (alices[0]);
  mesh_test_client_free (alices[0]);
  alices[0] = NULL;
  again = mesh_test_client_new_hello (server, alice, "client", NULL, NULL);
  g_assert_nonnull (again);

  mesh_test_client_free (alices[1]);
  g_clear_pointer (&again, mesh_test_client_free);
  g_clear_pointer (&bob_1, mesh_test_client_free);
  mesh_test_server_stop (server);
}

/* DELETE /devices/{id}: own devices only, not with a device token; the
 * token stops working at once and the device's sockets are closed. */
static void
test_rest_device_revoke (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) revoked = NULL;
  g_autoptr(MeshTestResponse) list = NULL;
  g_autoptr(MeshTestClient) agent = NULL;
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(MeshTestClient) late = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  JsonArray *devices;
  guint status = 0;

  device_token = add_device (ALICE, "alice-revoked", FINGERPRINT, &device_id);
  path = g_strdup_printf ("/api/v1/devices/%s", device_id);

  agent = mesh_test_client_new_hello (server, device_token, "agent", QUIC_HELLO, NULL);
  alice = mesh_test_client_new_hello (server, shared.token[ALICE], "client", NULL, NULL);

  mesh_test_request_expect_error (server, "DELETE", path, shared.token[EVE], NULL, 404,
                                  "NOT_FOUND");
  mesh_test_request_expect_error (server, "DELETE", path, device_token, NULL, 403, "FORBIDDEN");
  g_assert_true (mesh_test_client_is_open (agent));

  revoked = mesh_test_request_expect (server, "DELETE", path, shared.token[ALICE], NULL, 204);
  assert_closed_by_server (agent);
  /* Only that device's sockets. */
  g_assert_true (mesh_test_client_is_open (alice));

  mesh_test_request_expect_error (server, "GET", "/api/v1/rooms", device_token, NULL, 401,
                                  "UNAUTHORIZED");
  late = mesh_test_client_connect (server, device_token, MESH_TEST_AUTH_HEADER, &status, &error);
  g_assert_null (late);
  g_assert_cmpuint (status, ==, 401);
  mesh_test_request_expect_error (server, "DELETE", path, shared.token[ALICE], NULL, 404,
                                  "NOT_FOUND");

  list = mesh_test_request (server, "GET", "/api/v1/devices", shared.token[ALICE], NULL);
  devices = mesh_test_response_array (list);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    g_assert_cmpstr (get_str (json_array_get_object_element (devices, i), "device_id"), !=,
                     device_id);
}

static void
test_server_restart (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autofree char *user_id = mesh_test_server_add_user (server, "rita", PASSWORD);
  g_autofree char *token = NULL;
  g_autofree char *token2 = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *key1 = NULL;
  g_autofree char *key2 = NULL;
  g_autoptr(MeshTestClient) client = NULL;
  g_autoptr(MeshTestClient) client2 = NULL;
  g_autoptr(MeshTestResponse) room = NULL;
  g_autoptr(MeshTestResponse) old_token = NULL;
  g_autoptr(MeshTestResponse) hist = NULL;
  g_autoptr(MeshTestResponse) hist2 = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonObject) joined = NULL;
  g_autoptr(JsonObject) joined2 = NULL;
  JsonArray *messages;

  mesh_test_server_start (server);
  token = mesh_test_login (server, "rita", PASSWORD, NULL);
  room = mesh_test_request_expect (server, "POST", "/api/v1/rooms", token, "{\"name\":\"Diary\"}",
                                   201);
  room_id = g_strdup (get_str (mesh_test_response_object (room), "room_id"));
  key1 = get_public_key (server, token);

  client = mesh_test_client_new_hello (server, token, "client", NULL, NULL);
  joined = ws_join (client, room_id);
  ws_chat_many (client, room_id, "entry", 3, ids);

  /* SIGTERM with a client connected: a clean exit, and the client is told. */
  mesh_test_server_stop (server);
  g_assert_true (mesh_test_client_wait_closed (client, MESH_TEST_TIMEOUT_MS));
  g_test_message ("close code after SIGTERM: %u", mesh_test_client_get_close_code (client));
  g_assert_cmpuint (mesh_test_client_get_close_code (client), ==, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);

  mesh_test_server_start (server);

  /* The old session, a new login, the history and the signing key survive. */
  old_token = mesh_test_request_expect (server, "GET", "/api/v1/rooms", token, NULL, 200);
  g_assert_cmpuint (json_array_get_length (mesh_test_response_array (old_token)), ==, 1);
  token2 = mesh_test_login (server, "rita", PASSWORD, NULL);
  messages = history (server, token2, room_id, "", &hist);
  assert_chat_history (messages, ids, "entry", "user_id", user_id);
  key2 = get_public_key (server, token2);
  g_assert_cmpstr (key1, ==, key2);

  /* And the hub works on top of it. */
  client2 = mesh_test_client_new_hello (server, token2, "client", NULL, NULL);
  joined2 = ws_join (client2, room_id);
  {
    g_autoptr(JsonObject) created = ws_chat (client2, room_id, "after restart", NULL);
  }
  messages = history (server, token2, room_id, "", &hist2);
  g_assert_cmpuint (json_array_get_length (messages), ==, 4);
  g_assert_cmpstr (message_content (messages, 3), ==, "after restart");

  mesh_test_server_stop (server);
}

static void
test_server_shutdown (void)
{
  g_autoptr(MeshTestClient) client = client_for (ALICE, NULL);

  /* The shared servers end the run: SIGTERM, exit status 0. */
  mesh_test_server_stop (main_server ());
  g_assert_true (mesh_test_client_wait_closed (client, MESH_TEST_TIMEOUT_MS));
  if (strict.server != NULL)
    mesh_test_server_stop (strict.server);
}

/* after=: a client catching up after a reconnect pages forward, oldest
 * first, from the last message it saw. */
static void
test_rest_messages_after (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (CAROL, "Catch up", DAVE, -1);
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/messages", room_id);
  g_autoptr(MeshTestClient) carol = client_for (CAROL, NULL);
  g_autoptr(JsonObject) joined = ws_join (carol, room_id);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_test_response_free);
  const char *cursor;
  guint seen = 0;
  JsonArray *messages;

  ws_chat_many (carol, room_id, "message", 7, ids);

  /* Pages of 3 after the first message: 1–3, 4–6, then nothing. */
  cursor = ids->pdata[0];
  seen = 1;
  for (guint page = 0; page < 3; page++) {
    g_autofree char *query = g_strdup_printf ("?after=%s&limit=3", cursor);
    MeshTestResponse *response = NULL;

    messages = history (server, shared.token[DAVE], room_id, query, &response);
    g_ptr_array_add (keep, response);
    g_assert_cmpuint (json_array_get_length (messages), ==, page < 2 ? 3 : 0);
    for (guint i = 0; i < json_array_get_length (messages); i++) {
      JsonObject *m = json_array_get_object_element (messages, i);

      g_assert_cmpstr (get_str (m, "message_id"), ==, ids->pdata[seen]);
      seen++;
      cursor = get_str (m, "message_id");
    }
  }
  g_assert_cmpuint (seen, ==, 7);

  {
    g_autofree char *bad = g_strdup_printf ("%s?after=" UNKNOWN_ID, path);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", bad, shared.token[DAVE], NULL);

    mesh_test_response_assert_error (r, 404, "NOT_FOUND");
  }
  {
    g_autofree char *bad = g_strdup_printf ("%s?after=%s&before=%s", path,
                                            (char *) ids->pdata[0], (char *) ids->pdata[3]);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", bad, shared.token[DAVE], NULL);

    mesh_test_response_assert_error (r, 400, "BAD_REQUEST");
  }
  {
    g_autofree char *bad = g_strdup_printf ("%s?after=%s&limit=201", path, (char *) ids->pdata[0]);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", bad, shared.token[DAVE], NULL);

    mesh_test_response_assert_error (r, 400, "BAD_REQUEST");
  }
  {
    g_autofree char *outside = g_strdup_printf ("%s?after=%s", path, (char *) ids->pdata[0]);
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", outside, shared.token[EVE],
                                                       NULL);

    mesh_test_response_assert_error (r, 403, "FORBIDDEN");
  }
  (void) joined;
}

static GLogFunc previous_handler;

/* GLib's test log handler prints every domain's debug output: thousands of
 * libsoup frame lines per run.  They stay available with G_MESSAGES_DEBUG. */
static void
quiet_debug_handler (const char     *log_domain,
                     GLogLevelFlags  log_level,
                     const char     *message,
                     gpointer        user_data)
{
  if ((log_level & G_LOG_LEVEL_DEBUG) && g_getenv ("G_MESSAGES_DEBUG") == NULL)
    return;
  previous_handler (log_domain, log_level, message, user_data);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  previous_handler = g_log_set_default_handler (quiet_debug_handler, NULL);

  g_test_add_func ("/mesh/server/rest/health", test_rest_health);
  g_test_add_func ("/mesh/server/rest/register-closed", test_rest_register_closed);
  g_test_add_func ("/mesh/server/rest/register-open", test_rest_register_open);
  g_test_add_func ("/mesh/server/rest/login", test_rest_login);
  g_test_add_func ("/mesh/server/rest/unauthorized", test_rest_unauthorized);
  g_test_add_func ("/mesh/server/rest/devices", test_rest_devices);
  g_test_add_func ("/mesh/server/rest/device-revoke", test_rest_device_revoke);
  g_test_add_func ("/mesh/server/rest/login-throttle", test_rest_login_throttle);
  g_test_add_func ("/mesh/server/rest/address-throttle", test_rest_address_throttle);
  g_test_add_func ("/mesh/server/ws/socket-caps", test_ws_socket_caps);
  g_test_add_func ("/mesh/server/rest/forwarded-throttle", test_rest_forwarded_throttle);
  g_test_add_func ("/mesh/server/rest/rooms", test_rest_rooms);
  g_test_add_func ("/mesh/server/rest/invites", test_rest_invites);
  g_test_add_func ("/mesh/server/rest/messages", test_rest_messages);
  g_test_add_func ("/mesh/server/rest/caps", test_rest_caps);
  g_test_add_func ("/mesh/server/rest/not-found", test_rest_not_found);
  g_test_add_func ("/mesh/server/rest/bad-json", test_rest_bad_json);
  g_test_add_func ("/mesh/server/rest/oversize", test_rest_oversize);
  g_test_add_func ("/mesh/server/ws/upgrade-refused", test_ws_upgrade_refused);
  g_test_add_func ("/mesh/server/ws/hello-first", test_ws_hello_first);
  g_test_add_func ("/mesh/server/ws/hello-timeout", test_ws_hello_timeout);
  g_test_add_func ("/mesh/server/ws/version", test_ws_version);
  g_test_add_func ("/mesh/server/ws/welcome", test_ws_welcome);
  g_test_add_func ("/mesh/server/ws/room-join", test_ws_room_join);
  g_test_add_func ("/mesh/server/ws/room-leave", test_ws_room_leave);
  g_test_add_func ("/mesh/server/ws/presence", test_ws_presence);
  g_test_add_func ("/mesh/server/ws/chat", test_ws_chat);
  g_test_add_func ("/mesh/server/ws/rtc-relay", test_ws_rtc_relay);
  g_test_add_func ("/mesh/server/ws/rtc-refusals", test_ws_rtc_refusals);
  g_test_add_func ("/mesh/server/ws/bad-frames", test_ws_bad_frames);
  g_test_add_func ("/mesh/server/ws/rate-limit", test_ws_rate_limit);
  g_test_add_func ("/mesh/server/ws/abuse-closes", test_ws_abuse_closes);
  g_test_add_func ("/mesh/server/ws/close-notifies", test_ws_close_notifies);
  g_test_add_func ("/mesh/server/ws/rtc-ice-forms", test_ws_rtc_ice_forms);
  g_test_add_func ("/mesh/server/ws/many-sockets-over-shards", test_ws_many_sockets_over_shards);
  g_test_add_func ("/mesh/server/rest/messages-after", test_rest_messages_after);
  g_test_add_func ("/mesh/server/process/restart", test_server_restart);
  g_test_add_func ("/mesh/server/process/shutdown", test_server_shutdown);

  ret = g_test_run ();

  /* Runs of a single test (-p) leave the shared servers up. */
  mesh_test_users_clear (&strict);
  mesh_test_users_clear (&shared);
  return ret;
}
