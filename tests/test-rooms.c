/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-rooms"

#include "config.h"

#include "mesh-test-server.h"

#include <string.h>

/* Integration tests of the real mesh-server: renaming, deleting and leaving
 * a room (issue 11, item 13), over REST, with the live events the members'
 * sockets get. */

#define PASSWORD "correct horse battery"

enum { ALICE, BOB, CAROL, N_USERS };

static const char * const usernames[N_USERS + 1] = { "alice", "bob", "carol", NULL };

static MeshTestUsers shared;

static MeshTestServer *
server (void)
{
  return mesh_test_users_get_server (&shared, NULL, usernames, PASSWORD);
}

static const char *
get_str (JsonObject *obj,
         const char *member)
{
  return json_object_get_string_member_with_default (obj, member, NULL);
}

/* The room with @room_id in @user's GET /rooms, or NULL. */
static JsonObject *
find_room (guint       user,
           const char *room_id)
{
  g_autoptr(MeshTestResponse) rooms = mesh_test_request (server (), "GET", "/api/v1/rooms",
                                                         shared.token[user], NULL);
  JsonArray *array;

  g_assert_cmpuint (rooms->status, ==, 200);
  array = mesh_test_response_array (rooms);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonObject *room = json_array_get_object_element (array, i);

    if (g_str_equal (get_str (room, "room_id"), room_id))
      return json_object_ref (room);
  }
  return NULL;
}

static const char *
role_of (JsonObject *room,
         const char *user_id)
{
  JsonArray *members = json_object_get_array_member (room, "members");

  for (guint i = 0; i < json_array_get_length (members); i++) {
    JsonObject *member = json_array_get_object_element (members, i);

    if (g_str_equal (get_str (member, "user_id"), user_id))
      return get_str (member, "role");
  }
  return NULL;
}

/* A room of Alice's that Bob is in. */
static char *
shared_room (const char *name)
{
  return mesh_test_shared_room (server (), shared.token[ALICE], shared.token[BOB], name);
}

static MeshTestClient *
client_of (guint user)
{
  return mesh_test_client_new_hello (server (), shared.token[user], "client", NULL, NULL);
}

/* Sends @type with @payload; the answer must be an error, whose payload is
 * returned. */
static JsonObject *
send_refused (MeshTestClient *client,
              const char     *type,
              const char     *payload)
{
  const char *id = mesh_test_client_send (client, type, payload);
  g_autoptr(JsonObject) frame = mesh_test_client_expect_ref (client, id);

  g_assert_cmpstr (get_str (frame, "type"), ==, "error");
  return json_object_ref (json_object_get_object_member (frame, "payload"));
}

static void
test_rename (void)
{
  g_autofree char *room_id = shared_room ("Before");
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s", room_id);
  MeshTestClient *bob = client_of (BOB);
  g_autoptr(MeshTestResponse) renamed = NULL;
  g_autoptr(JsonObject) event = NULL;
  g_autoptr(JsonObject) room = NULL;
  g_autofree char *long_body = NULL;
  g_autofree char *long_name = g_strnfill (101, 'x');

  /* Not joined over the socket: the room list still needs the new name. */
  mesh_test_request_expect_error (server (), "PATCH", path, shared.token[BOB],
                                  "{\"name\":\"Bob's\"}", 403, "FORBIDDEN");
  mesh_test_request_expect_error (server (), "PATCH", path, shared.token[CAROL],
                                  "{\"name\":\"Carol's\"}", 403, "FORBIDDEN");
  long_body = g_strdup_printf ("{\"name\":\"%s\"}", long_name);
  mesh_test_request_expect_error (server (), "PATCH", path, shared.token[ALICE], long_body, 400,
                                  "BAD_REQUEST");
  mesh_test_request_expect_error (server (), "PATCH", "/api/v1/rooms/no-such-room",
                                  shared.token[ALICE], "{\"name\":\"After\"}", 404,
                                  "ROOM_NOT_FOUND");

  renamed = mesh_test_request_expect (server (), "PATCH", path, shared.token[ALICE],
                                      "{\"name\":\"After\"}", 200);
  g_assert_cmpstr (get_str (mesh_test_response_object (renamed), "name"), ==, "After");

  event = mesh_test_client_expect_type (bob, "room.updated");
  {
    JsonObject *payload = json_object_get_object_member (event, "payload");

    g_assert_cmpstr (get_str (payload, "room_id"), ==, room_id);
    g_assert_cmpstr (get_str (payload, "name"), ==, "After");
  }
  room = find_room (BOB, room_id);
  g_assert_nonnull (room);
  g_assert_cmpstr (get_str (room, "name"), ==, "After");
  mesh_test_client_free (bob);
}

static void
test_delete (void)
{
  g_autofree char *room_id = shared_room ("Doomed");
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s", room_id);
  g_autofree char *messages = g_strdup_printf ("/api/v1/rooms/%s/messages", room_id);
  MeshTestClient *bob = client_of (BOB);
  g_autoptr(MeshTestResponse) deleted = NULL;
  g_autoptr(MeshTestResponse) history = NULL;
  g_autoptr(JsonObject) event = NULL;
  g_autoptr(JsonObject) room = NULL;
  g_autofree char *chat = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"hi\"}", room_id);
  g_autofree char *join_payload = g_strdup_printf ("{\"room_id\":\"%s\"}", room_id);

  mesh_test_client_join (bob, room_id);
  mesh_test_request_expect_error (server (), "DELETE", path, shared.token[BOB], NULL, 403,
                                  "FORBIDDEN");
  g_assert_nonnull ((room = find_room (BOB, room_id)));
  g_clear_pointer (&room, json_object_unref);

  deleted = mesh_test_request_expect (server (), "DELETE", path, shared.token[ALICE], NULL, 204);
  event = mesh_test_client_expect_type (bob, "room.deleted");
  g_assert_cmpstr (get_str (json_object_get_object_member (event, "payload"), "room_id"), ==,
                   room_id);

  /* Gone for everyone, with its history; the live room is gone too. */
  g_assert_null (find_room (ALICE, room_id));
  g_assert_null (find_room (BOB, room_id));
  history = mesh_test_request (server (), "GET", messages, shared.token[ALICE], NULL);
  mesh_test_response_assert_error (history, 404, "ROOM_NOT_FOUND");
  mesh_test_request_expect_error (server (), "DELETE", path, shared.token[ALICE], NULL, 404,
                                  "ROOM_NOT_FOUND");
  json_object_unref (send_refused (bob, "chat.message.send", chat));
  g_clear_pointer (&event, json_object_unref);
  event = send_refused (bob, "room.join", join_payload);
  g_assert_cmpstr (get_str (event, "code"), ==, "ROOM_NOT_FOUND");
  mesh_test_client_free (bob);
}

static void
test_leave (void)
{
  g_autofree char *room_id = shared_room ("Left");
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/leave", room_id);
  MeshTestClient *alice = client_of (ALICE);
  MeshTestClient *bob = client_of (BOB);
  g_autoptr(MeshTestResponse) left = NULL;
  g_autoptr(MeshTestResponse) owner_left = NULL;
  g_autoptr(JsonObject) event = NULL;
  g_autoptr(JsonObject) room = NULL;
  g_autofree char *chat = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"still here?\"}",
                                           room_id);

  mesh_test_client_join (alice, room_id);
  mesh_test_client_join (bob, room_id);
  mesh_test_request_expect_error (server (), "POST", path, shared.token[CAROL], NULL, 403,
                                  "FORBIDDEN");

  left = mesh_test_request_expect (server (), "POST", path, shared.token[BOB], NULL, 204);
  event = mesh_test_client_expect_type (alice, "room.member.left");
  {
    JsonObject *payload = json_object_get_object_member (event, "payload");

    g_assert_cmpstr (get_str (payload, "room_id"), ==, room_id);
    g_assert_cmpstr (get_str (payload, "user_id"), ==, shared.user_id[BOB]);
    g_assert_cmpstr (get_str (payload, "username"), ==, "bob");
  }
  g_clear_pointer (&event, json_object_unref);
  /* Bob's socket is out of the live room, as after room.leave. */
  event = mesh_test_client_expect_type (alice, "room.left");
  g_clear_pointer (&event, json_object_unref);
  event = mesh_test_client_expect_type (bob, "room.member.left");
  g_assert_null (find_room (BOB, room_id));
  room = find_room (ALICE, room_id);
  g_assert_nonnull (room);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (room, "members")), ==, 1);
  g_clear_pointer (&room, json_object_unref);

  json_object_unref (send_refused (bob, "chat.message.send", chat));

  mesh_test_request_expect_error (server (), "POST", path, shared.token[BOB], NULL, 403,
                                  "FORBIDDEN");

  /* The last member out: the room goes. */
  owner_left = mesh_test_request_expect (server (), "POST", path, shared.token[ALICE], NULL, 204);
  g_assert_null (find_room (ALICE, room_id));
  mesh_test_client_free (alice);
  mesh_test_client_free (bob);
}

static void
test_owner_leaves (void)
{
  g_autofree char *room_id = shared_room ("Handed over");
  g_autofree char *leave = g_strdup_printf ("/api/v1/rooms/%s/leave", room_id);
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s", room_id);
  g_autoptr(MeshTestResponse) left = NULL;
  g_autoptr(MeshTestResponse) renamed = NULL;
  g_autoptr(JsonObject) room = NULL;

  left = mesh_test_request_expect (server (), "POST", leave, shared.token[ALICE], NULL, 204);
  room = find_room (BOB, room_id);
  g_assert_nonnull (room);
  g_assert_cmpstr (role_of (room, shared.user_id[BOB]), ==, "owner");
  renamed = mesh_test_request_expect (server (), "PATCH", path, shared.token[BOB],
                                      "{\"name\":\"Bob's now\"}", 200);
}

static void
test_member_joined (void)
{
  g_autofree char *room_id = shared_room ("Growing");
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/invites", room_id);
  MeshTestClient *alice = client_of (ALICE);
  g_autoptr(MeshTestResponse) invite = NULL;
  g_autoptr(MeshTestResponse) accepted = NULL;
  g_autoptr(MeshTestResponse) again = NULL;
  g_autoptr(JsonObject) event = NULL;
  g_autofree char *accept = NULL;
  JsonObject *payload;

  invite = mesh_test_request_expect (server (), "POST", path, shared.token[BOB], NULL, 201);
  accept = g_strdup_printf ("/api/v1/invites/%s/accept",
                            get_str (mesh_test_response_object (invite), "code"));
  accepted = mesh_test_request_expect (server (), "POST", accept, shared.token[CAROL], NULL, 200);
  event = mesh_test_client_expect_type (alice, "room.member.joined");
  payload = json_object_get_object_member (event, "payload");
  g_assert_cmpstr (get_str (payload, "room_id"), ==, room_id);
  g_assert_cmpstr (get_str (payload, "user_id"), ==, shared.user_id[CAROL]);
  g_assert_cmpstr (get_str (payload, "username"), ==, "carol");
  /* Accepting again changes nothing and tells nobody. */
  again = mesh_test_request_expect (server (), "POST", accept, shared.token[CAROL], NULL, 200);
  mesh_test_client_free (alice);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mesh/rooms/rename", test_rename);
  g_test_add_func ("/mesh/rooms/delete", test_delete);
  g_test_add_func ("/mesh/rooms/leave", test_leave);
  g_test_add_func ("/mesh/rooms/owner-leaves", test_owner_leaves);
  g_test_add_func ("/mesh/rooms/member-joined", test_member_joined);
  server ();
  status = g_test_run ();

  mesh_test_users_clear (&shared);
  return status;
}
