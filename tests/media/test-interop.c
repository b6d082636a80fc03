/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-interop"

#include "config.h"

#include "aiortc-harness.h"

#include <string.h>

#define PASSWORD "correct horse"

typedef struct {
  MeshTestNetns       *netns;
  MeshTestMediaServer *server;
  char                *room_id;
  char                *tokens[3];
} Fixture;

/* A namespace for the aiortc side, mesh-server on its host end, users
 * alice, bob and carol in one room.  FALSE (the test skipped) when no
 * namespace can be made here. */
static gboolean
fixture_set_up (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  static const char * const names[] = { "alice", "bob", "carol" };
  const char *members[3];

  fixture->netns = mesh_test_netns_new (&error);
  if (fixture->netns == NULL) {
    g_test_skip (error->message);
    return FALSE;
  }
  fixture->server = mesh_test_media_server_new (mesh_test_netns_get_host_address (fixture->netns),
                                                NULL);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    g_free (mesh_test_media_server_add_user (fixture->server, names[i], PASSWORD));
  mesh_test_media_server_start (fixture->server);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    fixture->tokens[i] = mesh_test_media_server_login (fixture->server, names[i], PASSWORD);
  members[0] = fixture->tokens[1];
  members[1] = fixture->tokens[2];
  members[2] = NULL;
  fixture->room_id = mesh_test_media_server_shared_room (fixture->server, fixture->tokens[0],
                                                         members);
  return TRUE;
}

static void
fixture_tear_down (Fixture *fixture)
{
  g_clear_pointer (&fixture->server, mesh_test_media_server_free);
  g_clear_pointer (&fixture->netns, mesh_test_netns_free);
  g_free (fixture->room_id);
  for (guint i = 0; i < G_N_ELEMENTS (fixture->tokens); i++)
    g_free (fixture->tokens[i]);
}

static gint64
result_int (JsonObject *result,
            const char *member)
{
  return json_object_get_int_member_with_default (result, member, -1);
}

static void
assert_media (JsonObject *result,
              const char *who)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), result);
  g_autofree char *text = json_to_string (node, FALSE);

  if (!json_object_get_boolean_member_with_default (result, "ok", FALSE) ||
      result_int (result, "video_frames") < 10 || result_int (result, "audio_frames") < 10)
    g_error ("%s received too little: %s", who, text);
}

/* The harness itself, with no engine: two aiortc peers in the namespace
 * call each other through mesh-server (signalling, caps, rtc.ice made
 * from aiortc's SDP, trickled candidates applied). */
static void
test_aiortc_to_aiortc (void)
{
  Fixture fixture = { 0, };
  g_autoptr(MeshTestAiortc) answerer = NULL;
  g_autoptr(MeshTestAiortc) caller = NULL;
  static const char * const answer_args[] = { "--mode", "answer", "--duration", "4",
                                              "--no-hangup", NULL };
  static const char * const call_args[] = { "--mode", "call", "--target-user", "bob",
                                            "--duration", "4", NULL };
  JsonObject *answered, *called;

  if (!fixture_set_up (&fixture))
    return;

  answerer = mesh_test_aiortc_spawn (fixture.netns, fixture.server, "bob", PASSWORD,
                                     fixture.room_id, answer_args);
  g_assert_nonnull (mesh_test_aiortc_wait_ready (answerer, 20000));
  caller = mesh_test_aiortc_spawn (fixture.netns, fixture.server, "carol", PASSWORD,
                                   fixture.room_id, call_args);
  called = mesh_test_aiortc_wait_result (caller, 60000);
  answered = mesh_test_aiortc_wait_result (answerer, 30000);
  g_assert_nonnull (called);
  g_assert_nonnull (answered);
  assert_media (called, "the caller");
  assert_media (answered, "the answerer");
  /* Both sides announced candidates as rtc.ice and got the other's. */
  g_assert_cmpint (result_int (called, "ice_sent"), >, 0);
  g_assert_cmpint (result_int (called, "ice_received"), >, 0);
  g_assert_cmpint (result_int (answered, "ice_received"), >, 0);

  fixture_tear_down (&fixture);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/interop/aiortc-to-aiortc", test_aiortc_to_aiortc);

  return g_test_run ();
}
