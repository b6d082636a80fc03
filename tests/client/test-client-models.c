/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client"

#include "config.h"

#include "test-client-private.h"

/* Models */

static MeshMember *
member_of (MeshMemberList *list,
           const char     *user_id)
{
  MeshMember *member = mesh_member_list_find (list, user_id, NULL);

  g_assert_nonnull (member);
  return member;
}

/* A headless agent of @rest's user: a raw socket with its device token. */
static SoupWebsocketConnection *
connect_agent (MeshClientRest *rest,
               const char     *room_id,
               char          **device_id_out)
{
  return connect_agent_hello (rest, room_id, "server box", "", device_id_out);
}

static void
test_models (void)
{
  static const char * const users[] = { "alice", "bob", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) alice = login (server, "alice");
  g_autoptr(MeshClientRest) bob = login (server, "bob");
  g_autoptr(MeshClientSession) alice_session = connect_session (alice);
  g_autoptr(MeshClientSession) bob_session = NULL;
  g_autoptr(MeshRoomList) alice_rooms = mesh_room_list_new (alice, alice_session);
  g_autoptr(MeshRoomList) bob_rooms = NULL;
  g_autoptr(MeshMemberList) members = NULL;
  g_autoptr(MeshRoom) room = NULL;
  g_autoptr(MeshRoom) accepted = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) room_changes = track_changes (alice_rooms);
  g_autoptr(GArray) member_changes = NULL;
  g_autoptr(MeshChatModel) bob_chat = NULL;
  g_autoptr(SoupWebsocketConnection) agent = NULL;
  g_autofree char *code = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *other_room = NULL;
  MeshMember *alice_member, *bob_member;
  const char *alice_id = mesh_client_rest_get_user_id (alice);
  const char *bob_id = mesh_client_rest_get_user_id (bob);

  refresh_rooms (alice_rooms);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_rooms)), ==, 0);
  g_assert_cmpuint (room_changes->len, ==, 0);

  /* Creating a room refreshes the list: one insertion at 0. */
  mesh_room_list_create_room_async (alice_rooms, "Team", NULL, result_cb, &result);
  room = mesh_room_list_create_room_finish (alice_rooms, wait_result (&result), &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_rooms)), ==, 1);
  g_assert_true (room_at (alice_rooms, 0) == room);
  g_assert_cmpstr (mesh_room_get_name (room), ==, "Team");
  g_assert_cmpuint (room_changes->len, ==, 1);
  g_assert_cmpuint (g_array_index (room_changes, Change, 0).position, ==, 0);
  g_assert_cmpuint (g_array_index (room_changes, Change, 0).added, ==, 1);
  /* The list joins its rooms on the session. */
  WAIT_UNTIL (mesh_client_session_is_room_joined (alice_session, mesh_room_get_room_id (room)),
              WAIT_S);

  /* A second room goes after the first, without touching it. */
  other_room = create_room (alice, "Attic");
  refresh_rooms (alice_rooms);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (alice_rooms)), ==, 2);
  g_assert_true (room_at (alice_rooms, 0) == room);
  g_assert_cmpuint (room_changes->len, ==, 2);
  g_assert_cmpuint (g_array_index (room_changes, Change, 1).position, ==, 1);

  /* Members: alice online (this session), nobody else yet. */
  members = mesh_member_list_new (alice_session, room);
  member_changes = track_changes (members);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (members)), ==, 1);
  alice_member = member_of (members, alice_id);
  g_assert_cmpstr (mesh_member_get_username (alice_member), ==, "alice");
  g_assert_cmpstr (mesh_member_get_role (alice_member), ==, "owner");
  g_assert_cmpint (mesh_member_get_status (alice_member), ==, MESH_PRESENCE_ONLINE);

  /* Bob accepts an invite through his own room list. */
  code = create_invite (alice, mesh_room_get_room_id (room));
  bob_session = connect_session (bob);
  bob_rooms = mesh_room_list_new (bob, bob_session);
  mesh_room_list_accept_invite_async (bob_rooms, code, NULL, result_cb, &result);
  accepted = mesh_room_list_accept_invite_finish (bob_rooms, wait_result (&result), &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpstr (mesh_room_get_room_id (accepted), ==, mesh_room_get_room_id (room));
  g_assert_cmpuint (mesh_room_get_n_members (accepted), ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_rooms)), ==, 1);

  /* Bob's list joins the room: alice sees him online without a refresh. */
  WAIT_UNTIL (mesh_member_list_find (members, bob_id, NULL) != NULL &&
              mesh_member_get_status (member_of (members, bob_id)) == MESH_PRESENCE_ONLINE,
              WAIT_S);
  bob_member = member_of (members, bob_id);
  g_assert_cmpstr (mesh_member_get_username (bob_member), ==, "bob");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (members)), ==, 2);
  g_assert_cmpuint (member_changes->len, ==, 1);
  g_assert_cmpuint (g_array_index (member_changes, Change, 0).position, ==, 1);
  g_assert_cmpuint (g_array_index (member_changes, Change, 0).added, ==, 1);

  /* A refresh brings the REST view (role); the same item stays. */
  refresh_rooms (alice_rooms);
  g_assert_cmpuint (mesh_room_get_n_members (room), ==, 2);
  g_assert_true (member_of (members, bob_id) == bob_member);
  g_assert_cmpstr (mesh_member_get_role (bob_member), ==, "member");
  g_assert_cmpuint (member_changes->len, ==, 1);

  /* Presence goes through, as "busy". */
  mesh_client_session_set_presence (bob_session, MESH_PRESENCE_BUSY);
  WAIT_UNTIL (mesh_member_get_status (bob_member) == MESH_PRESENCE_BUSY, WAIT_S);

  /* Bob's agent shows as a device of his, not as a status. */
  agent = connect_agent (bob, mesh_room_get_room_id (room), &device_id);
  WAIT_UNTIL (g_strv_length ((GStrv) mesh_member_get_devices (bob_member)) == 1, WAIT_S);
  g_assert_cmpstr (mesh_member_get_devices (bob_member)[0], ==, device_id);
  g_assert_cmpint (mesh_member_get_status (bob_member), ==, MESH_PRESENCE_BUSY);

  /* Unread counts: messages of others count, own ones do not. */
  bob_chat = mesh_chat_model_new (bob_session, mesh_room_get_room_id (room));
  g_free (mesh_chat_model_send (bob_chat, "anyone home?", &error));
  g_assert_no_error (error);
  WAIT_UNTIL (mesh_room_get_unread_count (room) == 1, WAIT_S);
  g_free (mesh_client_session_send_chat (alice_session, mesh_room_get_room_id (room), "yes",
                                         &error));
  g_assert_no_error (error);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (bob_chat)) == 2, WAIT_S);
  g_assert_cmpuint (mesh_room_get_unread_count (room), ==, 1);
  g_assert_cmpuint (mesh_room_get_unread_count (room_at (bob_rooms, 0)), ==, 1);
  mesh_room_set_unread_count (room, 0);
  g_assert_cmpuint (mesh_room_get_unread_count (room), ==, 0);

  /* Bob leaves: offline, still a member, still the same row. */
  soup_websocket_connection_close (agent, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  mesh_client_session_disconnect (bob_session);
  WAIT_UNTIL (mesh_member_get_status (bob_member) == MESH_PRESENCE_OFFLINE &&
              g_strv_length ((GStrv) mesh_member_get_devices (bob_member)) == 0, WAIT_S);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (members)), ==, 2);
  g_assert_true (member_of (members, bob_id) == bob_member);
  g_assert_cmpuint (member_changes->len, ==, 1);
  g_assert_cmpint (mesh_member_get_status (alice_member), ==, MESH_PRESENCE_ONLINE);
}

/* Rename, leave and delete (issue 11, item 13): the caller's list and the
 * other member's list (through the live events) both follow. */
static void
test_room_changes (void)
{
  static const char * const users[] = { "alice", "bob", "carol", NULL };
  g_autoptr(MeshTestServer) server = server_with_users (users);
  g_autoptr(MeshClientRest) alice = login (server, "alice");
  g_autoptr(MeshClientRest) bob = login (server, "bob");
  g_autofree char *kept_id = create_room (alice, "Kept");
  g_autofree char *doomed_id = create_room (alice, "Doomed");
  g_autoptr(MeshClientSession) alice_session = NULL;
  g_autoptr(MeshClientSession) bob_session = NULL;
  g_autoptr(MeshRoomList) alice_rooms = NULL;
  g_autoptr(MeshRoomList) bob_rooms = NULL;
  g_autoptr(MeshChatModel) alice_chat = NULL;
  g_autoptr(MeshClientRest) carol = login (server, "carol");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  MeshRoom *bob_kept;

  share_rooms (alice, bob, (const char * const []) { kept_id, doomed_id, NULL });
  alice_session = connect_session (alice);
  bob_session = connect_session (bob);
  alice_rooms = mesh_room_list_new (alice, alice_session);
  bob_rooms = mesh_room_list_new (bob, bob_session);
  refresh_rooms (alice_rooms);
  refresh_rooms (bob_rooms);
  WAIT_UNTIL (mesh_client_session_is_room_joined (bob_session, kept_id) &&
              mesh_client_session_is_room_joined (bob_session, doomed_id), WAIT_S);
  bob_kept = mesh_room_list_find (bob_rooms, kept_id, NULL);
  g_assert_nonnull (bob_kept);
  WAIT_UNTIL (mesh_client_session_is_room_joined (alice_session, kept_id), WAIT_S);
  alice_chat = mesh_chat_model_new (alice_session, kept_id);

  /* A new member: a "joined" line in the chat, a third member in the list. */
  {
    MeshChatMessage *line;

    share_rooms (alice, carol, (const char * const []) { kept_id, NULL });
    WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)) == 1, WAIT_S);
    line = message_at (alice_chat, 0);
    g_assert_cmpstr (mesh_chat_message_get_event (line), ==, "joined");
    g_assert_cmpstr (mesh_chat_message_get_username (line), ==, "carol");
    g_assert_false (mesh_chat_message_get_is_own (line));
    WAIT_UNTIL (mesh_room_get_n_members (bob_kept) == 3, WAIT_S);
    /* Not a message: no unread count, no preview. */
    g_assert_cmpuint (mesh_room_get_unread_count (bob_kept), ==, 0);
  }

  /* Only the owner renames; bob's list shows the new name by itself. */
  mesh_room_list_rename_room_async (bob_rooms, kept_id, "Bob's", NULL, result_cb, &result);
  g_assert_false (mesh_room_list_change_room_finish (bob_rooms, wait_result (&result), &error));
  assert_mesh_error (error, MESH_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_clear_object (&result);
  mesh_room_list_rename_room_async (alice_rooms, kept_id, "Renamed", NULL, result_cb, &result);
  g_assert_true (mesh_room_list_change_room_finish (alice_rooms, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpstr (mesh_room_get_name (mesh_room_list_find (alice_rooms, kept_id, NULL)), ==,
                   "Renamed");
  WAIT_UNTIL (g_strcmp0 (mesh_room_get_name (bob_kept), "Renamed") == 0, WAIT_S);

  /* The owner deletes a room: gone from both lists, and bob's session no
   * longer counts it as joined (nor joins it again). */
  mesh_room_list_delete_room_async (alice_rooms, doomed_id, NULL, result_cb, &result);
  g_assert_true (mesh_room_list_change_room_finish (alice_rooms, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_null (mesh_room_list_find (alice_rooms, doomed_id, NULL));
  WAIT_UNTIL (mesh_room_list_find (bob_rooms, doomed_id, NULL) == NULL, WAIT_S);
  WAIT_UNTIL (!mesh_client_session_is_room_joined (bob_session, doomed_id), WAIT_S);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_rooms)), ==, 1);

  /* Bob leaves: gone from his list; alice's room has one member left. */
  mesh_room_list_leave_room_async (bob_rooms, kept_id, NULL, result_cb, &result);
  g_assert_true (mesh_room_list_change_room_finish (bob_rooms, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_rooms)), ==, 0);
  WAIT_UNTIL (!mesh_client_session_is_room_joined (bob_session, kept_id), WAIT_S);
  WAIT_UNTIL (mesh_room_get_n_members (mesh_room_list_find (alice_rooms, kept_id, NULL)) == 2,
              WAIT_S);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (alice_chat)) == 2, WAIT_S);
  g_assert_cmpstr (mesh_chat_message_get_event (message_at (alice_chat, 1)), ==, "left");
  g_assert_cmpstr (mesh_chat_message_get_username (message_at (alice_chat, 1)), ==, "bob");
}

void
test_client_add_models_tests (void)
{
  g_test_add_func ("/mesh/client/models/rooms-members", test_models);
  g_test_add_func ("/mesh/client/models/room-changes", test_room_changes);
}
