/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-interop"

#include "config.h"

#include "aiortc-harness.h"
#ifdef MESH_TEST_WITH_ENGINE
#include "test-interop-engine.h"
#endif

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

#ifdef MESH_TEST_WITH_ENGINE
/* What our side decoded, read while the call runs (the peer object goes
 * when the call ends). */
typedef struct {
  MeshTestEngine *engine;
  MeshTestAiortc *aiortc;
  MeshCallPeer   *peer;
  guint64         video_frames;
  guint64         audio_buffers;
} Watch;

static gboolean
watch_aiortc_done (gpointer data)
{
  Watch *watch = data;

  if (watch->peer == NULL)
    watch->peer = mesh_test_engine_dup_peer (watch->engine);
  if (watch->peer != NULL) {
    watch->video_frames = MAX (watch->video_frames,
                               mesh_video_output_get_frames (mesh_call_peer_get_video (watch->peer)));
    watch->audio_buffers = MAX (watch->audio_buffers,
                                mesh_call_peer_get_audio_buffers (watch->peer));
  }
  return mesh_test_aiortc_has_exited (watch->aiortc);
}

static gboolean
no_calls (gpointer data)
{
  return mesh_test_engine_n_calls (data) == 0;
}

static void
assert_both_ways (Watch      *watch,
                  JsonObject *result)
{
  g_assert_nonnull (result);
  assert_media (result, "aiortc");
  g_test_message ("our side decoded %" G_GUINT64_FORMAT " video frames and %" G_GUINT64_FORMAT
                  " audio buffers; aiortc %" G_GINT64_FORMAT " video frames and %" G_GINT64_FORMAT
                  " audio frames", watch->video_frames, watch->audio_buffers,
                  result_int (result, "video_frames"), result_int (result, "audio_frames"));
  if (watch->video_frames < 10 || watch->audio_buffers < 10)
    g_error ("our side decoded too little from aiortc: %" G_GUINT64_FORMAT " video frames, %"
             G_GUINT64_FORMAT " audio buffers", watch->video_frames, watch->audio_buffers);
  /* aiortc hung up: the call ends here too, nothing left running. */
  g_assert_true (mesh_test_wait_for (no_calls, watch->engine, 10000));
}

/* Our engine calls aiortc, which answers; media both ways. */
static void
test_engine_calls_aiortc (void)
{
  Fixture fixture = { 0, };
  g_autoptr(MeshTestAiortc) aiortc = NULL;
  g_autoptr(MeshTestEngine) alice = NULL;
  g_autoptr(GError) error = NULL;
  static const char * const args[] = { "--mode", "answer", "--duration", "6", "--verbose",
                                       NULL };
  const char *aiortc_peer;
  MeshCall *call;
  Watch watch = { 0, };

  if (!fixture_set_up (&fixture))
    return;
  alice = mesh_test_engine_new (fixture.server, "alice", PASSWORD, fixture.room_id,
                                mesh_test_netns_get_host_address (fixture.netns), 320, 240);
  aiortc = mesh_test_aiortc_spawn (fixture.netns, fixture.server, "bob", PASSWORD,
                                   fixture.room_id, args);
  aiortc_peer = mesh_test_aiortc_wait_ready (aiortc, 20000);
  g_assert_nonnull (aiortc_peer);
  /* The session must have seen bob join before it can call him. */
  mesh_test_media_pump (500);

  call = mesh_call_engine_start_call (alice->engine, fixture.room_id, aiortc_peer, &error);
  g_assert_no_error (error);
  g_assert_nonnull (call);

  watch.engine = alice;
  watch.aiortc = aiortc;
  mesh_test_wait_for (watch_aiortc_done, &watch, 60000);
  assert_both_ways (&watch, mesh_test_aiortc_wait_result (aiortc, 1000));
  g_clear_object (&watch.peer);

  g_clear_pointer (&alice, mesh_test_engine_free);
  fixture_tear_down (&fixture);
}

/* aiortc calls our engine, which accepts; media both ways. */
static void
test_aiortc_calls_engine (void)
{
  Fixture fixture = { 0, };
  g_autoptr(MeshTestAiortc) aiortc = NULL;
  g_autoptr(MeshTestEngine) alice = NULL;
  static const char * const args[] = { "--mode", "call", "--target-user", "alice",
                                       "--duration", "6", NULL };
  Watch watch = { 0, };

  if (!fixture_set_up (&fixture))
    return;
  alice = mesh_test_engine_new (fixture.server, "alice", PASSWORD, fixture.room_id,
                                mesh_test_netns_get_host_address (fixture.netns), 320, 240);
  alice->auto_accept = TRUE;
  aiortc = mesh_test_aiortc_spawn (fixture.netns, fixture.server, "bob", PASSWORD,
                                   fixture.room_id, args);

  watch.engine = alice;
  watch.aiortc = aiortc;
  mesh_test_wait_for (watch_aiortc_done, &watch, 60000);
  g_assert_nonnull (alice->incoming);
  g_assert_cmpint (mesh_call_get_direction (alice->incoming), ==, MESH_CALL_DIRECTION_INCOMING);
  g_assert_cmpstr (mesh_call_get_caller_name (alice->incoming), ==, "bob");
  assert_both_ways (&watch, mesh_test_aiortc_wait_result (aiortc, 1000));
  g_clear_object (&watch.peer);

  g_clear_pointer (&alice, mesh_test_engine_free);
  fixture_tear_down (&fixture);
}
#endif

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/interop/aiortc-to-aiortc", test_aiortc_to_aiortc);
#ifdef MESH_TEST_WITH_ENGINE
  gst_init (&argc, &argv);
  g_test_add_func ("/interop/engine-calls-aiortc", test_engine_calls_aiortc);
  g_test_add_func ("/interop/aiortc-calls-engine", test_aiortc_calls_engine);
#endif

  return g_test_run ();
}
