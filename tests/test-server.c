/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include <string.h>

/* Integration tests of the real mesh-server: protocol §2 (REST), §3 (WebSocket),
 * §4 (capability tokens as the hub checks them) and §8 (errors, limits).
 * This file holds the shared servers and helpers and main(); the tests are in
 * tests/test-server-<theme>.c, which main() adds theme by theme. */

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

static const char * const usernames[N_USERS + 1] = {
  "alice", "bob", "carol", "dave", "eve", NULL
};

MeshTestUsers shared;
/* No users of its own: its tests register them. */
MeshTestUsers strict;

MeshTestServer *
main_server (void)
{
  return mesh_test_users_get_server (&shared, NULL, usernames, PASSWORD);
}

MeshTestServer *
strict_server (void)
{
  static const char * const nobody[] = { NULL };

  return mesh_test_users_get_server (&strict, STRICT_CONFIG, nobody, PASSWORD);
}

void
assert_uuid4 (const char *id)
{
  g_assert_nonnull (id);
  g_assert_true (g_uuid_string_is_valid (id));
  g_assert_cmpint (strlen (id), ==, 36);
  g_assert_cmpint (id[14], ==, '4');
}

const char *
get_str (JsonObject *obj,
         const char *member)
{
  return json_object_get_string_member_with_default (obj, member, NULL);
}

char *
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

char *
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

MeshTestResponse *
accept_invite (const char *token,
               const char *code)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/invites/%s/accept", code);

  return mesh_test_request (main_server (), "POST", path, token, NULL);
}

/* A room owned by @owner with the other users given (-1 ends the list). */
char *
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

/* POST /devices as @user; asserts 201, a UUID and a long token.  Returns
 * the device_token; @device_id (optional) gets the device_id. */
char *
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

MeshTestClient *
client_for (int          user,
            JsonObject **welcome)
{
  /* Started first: it is what logs the users in. */
  MeshTestServer *server = main_server ();

  return mesh_test_client_new_hello (server, shared.token[user], "client", NULL, welcome);
}

/* Sends @type with @payload and returns the payload of the answer (the
 * frame whose ref is the request), which must be of @answer_type. */
JsonObject *
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
JsonObject *
ws_join (MeshTestClient *client,
         const char     *room_id)
{
  g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);

  return ws_call (client, "room.join", payload, "room.joined");
}

/* Sends a chat message and returns the sender's own created payload. */
JsonObject *
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
void
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

JsonArray *
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
void
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

const char *
message_content (JsonArray *messages,
                 guint      i)
{
  return get_str (json_array_get_object_element (messages, i), "content");
}

void
assert_closed_by_server (MeshTestClient *client)
{
  g_assert_true (mesh_test_client_wait_closed (client, MESH_TEST_TIMEOUT_MS));
  g_assert_cmpuint (mesh_test_client_get_close_code (client), ==,
                    SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
}

/* An account on the strict server, made through open registration. */
char *
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

  test_server_add_accounts_tests ();
  test_server_add_ws_tests ();
  test_server_add_rooms_tests ();
  test_server_add_chat_tests ();
  test_server_add_rtc_tests ();
  test_server_add_limits_tests ();
  test_server_add_process_tests ();

  ret = g_test_run ();

  /* Runs of a single test (-p) leave the shared servers up. */
  mesh_test_users_clear (&strict);
  mesh_test_users_clear (&shared);
  return ret;
}
