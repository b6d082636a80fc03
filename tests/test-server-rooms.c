/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include <string.h>

/* Rooms and membership: rooms and invites over REST (protocol §2), joining,
 * leaving and presence over the WebSocket (§3). */

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

void
test_server_add_rooms_tests (void)
{
  g_test_add_func ("/mesh/server/rest/rooms", test_rest_rooms);
  g_test_add_func ("/mesh/server/rest/invites", test_rest_invites);
  g_test_add_func ("/mesh/server/ws/room-join", test_ws_room_join);
  g_test_add_func ("/mesh/server/ws/room-leave", test_ws_room_leave);
  g_test_add_func ("/mesh/server/ws/presence", test_ws_presence);
  g_test_add_func ("/mesh/server/ws/close-notifies", test_ws_close_notifies);
}
