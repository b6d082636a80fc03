/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-call"

#include "config.h"

#include "../mesh-test-server.h"
#include "mesh-call-engine.h"
#include "mesh-client-rest.h"
#include "mesh-client-session.h"
#include "mesh-media-private.h"

#include "mesh-cap-token.h"
#include "mesh-error.h"

#include <gst/gst.h>
#include <string.h>

#define PASSWORD "correct horse battery"
#define WAIT_S   30
/* Media enough to tell that it flows, little enough for a busy CI box. */
#define FRAMES   15
#define BUFFERS  25

static MeshTestServer *server;
/* One login per user for the whole run: the server throttles logins. */
static GHashTable *rests;
/* Started by the first test that needs it. */
static gboolean server_started;

static const char *
server_url (void)
{
  if (!server_started) {
    mesh_test_server_start (server);
    server_started = TRUE;
  }
  return mesh_test_server_get_base_url (server);
}

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

#define WAIT_UNTIL(cond, timeout_s) G_STMT_START {                                  \
    gboolean timed_out_ = FALSE;                                                   \
    guint id_ = g_timeout_add_seconds ((timeout_s), flag_cb, &timed_out_);         \
    while (!(cond) && !timed_out_)                                                 \
      g_main_context_iteration (NULL, TRUE);                                       \
    if (!timed_out_)                                                               \
      g_source_remove (id_);                                                       \
    if (!(cond))                                                                   \
      g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond);       \
  } G_STMT_END

static void
pump (guint ms)
{
  gboolean done = FALSE;
  guint id = g_timeout_add (ms, flag_cb, &done);

  while (!done)
    g_main_context_iteration (NULL, TRUE);
  (void) id;
}

static void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  WAIT_UNTIL (*slot != NULL, WAIT_S);
  return *slot;
}

/* --- One person: REST, WebSocket session, call engine ------------------- */

typedef struct {
  char              *name;
  MeshClientRest    *rest;
  MeshClientSession *session;
  MeshCallEngine    *engine;
  GPtrArray         *incoming;  /* MeshCall */
} Party;

static void
incoming_cb (MeshCallEngine *engine,
             MeshCall       *call,
             Party          *party)
{
  g_ptr_array_add (party->incoming, g_object_ref (call));
}

static GstElement *
test_camera (void)
{
  g_autoptr(GError) error = NULL;
  GstElement *bin = gst_parse_bin_from_description (
    "videotestsrc is-live=true pattern=ball ! capsfilter caps=\"video/x-raw,width=320,height=240,framerate=15/1\"",
    TRUE, &error);

  g_assert_no_error (error);
  return bin;
}

static GstElement *
test_microphone (void)
{
  g_autoptr(GError) error = NULL;
  GstElement *bin = gst_parse_bin_from_description (
    "audiotestsrc is-live=true wave=sine volume=0.2 samplesperbuffer=960", TRUE, &error);

  g_assert_no_error (error);
  return bin;
}

static MeshClientRest *
login (const char *name)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  MeshClientRest *rest = g_hash_table_lookup (rests, name);

  if (rest != NULL)
    return rest;
  rest = mesh_client_rest_new (server_url ());
  mesh_client_rest_login_async (rest, name, PASSWORD, NULL, result_cb, &result);
  g_assert_true (mesh_client_rest_login_finish (rest, wait_result (&result), &error));
  g_assert_no_error (error);
  g_hash_table_insert (rests, g_strdup (name), rest);
  return rest;
}

static Party *
party_new (const char *name,
           const char *room_id,
           gboolean    camera,
           gboolean    microphone)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) joined = NULL;
  g_autoptr(GError) error = NULL;
  Party *party = g_new0 (Party, 1);

  party->name = g_strdup (name);
  party->rest = g_object_ref (login (name));
  party->session = mesh_client_session_new (party->rest);
  mesh_client_session_connect_async (party->session, NULL, result_cb, &result);
  g_assert_true (mesh_client_session_connect_finish (party->session, wait_result (&result), &error));
  g_assert_no_error (error);

  mesh_client_session_join_room_async (party->session, room_id, NULL, result_cb, &joined);
  g_assert_true (mesh_client_session_join_room_finish (party->session, wait_result (&joined), &error));
  g_assert_no_error (error);

  /* Loopback only; echo cancellation costs CPU the tests do not have
   * (one test turns it on). */
  party->engine = g_object_new (MESH_TYPE_CALL_ENGINE,
                                "session", party->session,
                                "local-address", "127.0.0.1",
                                "echo-cancel", FALSE,
                                NULL);
  if (camera)
    mesh_call_engine_set_camera (party->engine, test_camera ());
  if (microphone)
    mesh_call_engine_set_microphone (party->engine, test_microphone ());
  party->incoming = g_ptr_array_new_with_free_func (g_object_unref);
  g_signal_connect (party->engine, "incoming-call", G_CALLBACK (incoming_cb), party);
  return party;
}

static void
party_free (Party *party)
{
  if (party == NULL)
    return;
  g_clear_object (&party->engine);
  if (party->session != NULL)
    mesh_client_session_disconnect (party->session);
  g_clear_object (&party->session);
  g_clear_object (&party->rest);
  g_ptr_array_unref (party->incoming);
  g_free (party->name);
  g_free (party);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Party, party_free)

static char *
create_room (const char  *owner,
             const char **members)
{
  MeshClientRest *rest = login (owner);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = NULL;

  mesh_client_rest_create_room_async (rest, "Call room", NULL, result_cb, &result);
  room_id = mesh_client_rest_create_room_finish (rest, wait_result (&result), &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  for (guint i = 0; members[i] != NULL; i++) {
    MeshClientRest *member = login (members[i]);
    g_autofree char *code = NULL;
    g_autofree char *joined = NULL;

    mesh_client_rest_create_invite_async (rest, room_id, NULL, result_cb, &result);
    code = mesh_client_rest_create_invite_finish (rest, wait_result (&result), NULL, &error);
    g_assert_no_error (error);
    g_clear_object (&result);
    mesh_client_rest_accept_invite_async (member, code, NULL, result_cb, &result);
    joined = mesh_client_rest_accept_invite_finish (member, wait_result (&result), &error);
    g_assert_no_error (error);
    g_clear_object (&result);
  }
  return g_steal_pointer (&room_id);
}

/* Waits until every party in @others is in the room for @party's session. */
static void
wait_room_peers (Party      *party,
                 const char *room_id,
                 guint       n)
{
  WAIT_UNTIL (({ g_autoptr(GPtrArray) p = mesh_client_session_dup_room_peers (party->session, room_id);
                 p != NULL && p->len >= n; }), WAIT_S);
}

static MeshCallPeer *
peer_of (MeshCall   *call,
         const char *peer_id)
{
  return mesh_call_find_peer (call, peer_id);
}

static guint64
video_frames (MeshCallPeer *peer)
{
  return peer ? mesh_video_output_get_frames (mesh_call_peer_get_video (peer)) : 0;
}

static guint64
audio_buffers (MeshCallPeer *peer)
{
  return peer ? mesh_call_peer_get_audio_buffers (peer) : 0;
}

static MeshCall *
wait_incoming (Party *party)
{
  WAIT_UNTIL (party->incoming->len > 0, WAIT_S);
  return party->incoming->pdata[party->incoming->len - 1];
}

/* Weak pointers on every pipeline and webrtcbin of @call. */
static void
watch_elements (MeshCall  *call,
                GPtrArray *watched)
{
  GListModel *peers = mesh_call_get_peers (call);
  GstElement *pipeline = mesh_call_get_pipeline (call);
  gpointer *slot;

  g_assert_nonnull (pipeline);
  slot = g_new0 (gpointer, 1);
  *slot = pipeline;
  g_object_add_weak_pointer (G_OBJECT (pipeline), slot);
  g_ptr_array_add (watched, slot);
  for (guint i = 0; i < g_list_model_get_n_items (peers); i++) {
    g_autoptr(MeshCallPeer) peer = g_list_model_get_item (peers, i);
    GstElement *webrtc = mesh_call_peer_get_webrtcbin (peer);

    g_assert_nonnull (webrtc);
    slot = g_new0 (gpointer, 1);
    *slot = webrtc;
    g_object_add_weak_pointer (G_OBJECT (webrtc), slot);
    g_ptr_array_add (watched, slot);
  }
}

static gboolean
all_finalized (GPtrArray *watched)
{
  for (guint i = 0; i < watched->len; i++) {
    gpointer *slot = watched->pdata[i];

    if (*slot != NULL)
      return FALSE;
  }
  return TRUE;
}

/* --- Two people and a call between them ----------------------------------- */

enum {
  MEDIA_NONE   = 0,
  MEDIA_CAMERA = 1 << 0,
  MEDIA_MIC    = 1 << 1,
  MEDIA_BOTH   = MEDIA_CAMERA | MEDIA_MIC,
};

/* Alice calls, Bob answers: the set-up most tests share. */
typedef struct {
  char       *room_id;
  Party      *alice;
  Party      *bob;
  const char *alice_id;
  const char *bob_id;
  MeshCall   *call;      /* Alice's, owned */
  MeshCall   *incoming;  /* Bob's, owned by bob->incoming */
} CallPair;

/* A new room of Alice and Bob, both connected with the media they have. */
static void
call_pair_set_up (CallPair *pair,
                  guint     alice_media,
                  guint     bob_media)
{
  const char *members[] = { "bob", NULL };

  pair->room_id = create_room ("alice", members);
  pair->alice = party_new ("alice", pair->room_id, alice_media & MEDIA_CAMERA,
                           alice_media & MEDIA_MIC);
  pair->bob = party_new ("bob", pair->room_id, bob_media & MEDIA_CAMERA, bob_media & MEDIA_MIC);
  pair->alice_id = mesh_client_session_get_peer_id (pair->alice->session);
  pair->bob_id = mesh_client_session_get_peer_id (pair->bob->session);
}

/* A call of the whole room from @from's engine (a reference). */
static MeshCall *
start_call (Party      *from,
            const char *room_id)
{
  g_autoptr(GError) error = NULL;
  MeshCall *call = mesh_call_engine_start_call (from->engine, room_id, NULL, &error);

  g_assert_no_error (error);
  return g_object_ref (call);
}

/* Alice calls the room once she sees Bob in it. */
static MeshCall *
call_pair_call (CallPair *pair)
{
  wait_room_peers (pair->alice, pair->room_id, 2);
  pair->call = start_call (pair->alice, pair->room_id);
  return pair->call;
}

/* Alice calls, Bob's engine rings and (with @accept) he picks up. */
static MeshCall *
call_pair_start (CallPair *pair,
                 gboolean  accept)
{
  call_pair_call (pair);
  pair->incoming = wait_incoming (pair->bob);
  if (accept)
    mesh_call_accept (pair->incoming);
  return pair->incoming;
}

static void
call_pair_clear (CallPair *pair)
{
  g_clear_object (&pair->call);
  g_clear_pointer (&pair->bob, party_free);
  g_clear_pointer (&pair->alice, party_free);
  g_clear_pointer (&pair->room_id, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CallPair, call_pair_clear)

/* --- Tests ------------------------------------------------------------------ */

static void
test_two_party (void)
{
  g_auto(CallPair) pair = { 0 };
  g_autoptr(GPtrArray) watched = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  Party *alice, *bob;
  MeshCall *call, *incoming;
  MeshCallPeer *at_alice, *at_bob;
  const char *room_id;
  guint64 frames;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_BOTH);
  alice = pair.alice;
  bob = pair.bob;
  room_id = pair.room_id;
  /* The default: echo cancellation on, with a microphone. */
  g_object_set (alice->engine, "echo-cancel", TRUE, NULL);

  call = call_pair_call (&pair);
  g_assert_cmpint (mesh_call_get_state (call), ==, MESH_CALL_STATE_CALLING);
  g_assert_cmpint (mesh_call_get_direction (call), ==, MESH_CALL_DIRECTION_OUTGOING);
  /* One call of a room at a time. */
  g_assert_null (mesh_call_engine_start_call (alice->engine, room_id, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_null (mesh_call_engine_start_call (bob->engine, "no-such-room", NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  g_assert_null (mesh_call_engine_start_call (bob->engine, room_id, "no-such-peer", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  incoming = wait_incoming (bob);
  g_assert_cmpint (mesh_call_get_state (incoming), ==, MESH_CALL_STATE_RINGING);
  g_assert_cmpstr (mesh_call_get_caller_name (incoming), ==, "alice");
  g_assert_cmpstr (mesh_call_get_call_id (incoming), ==, mesh_call_get_call_id (call));
  g_assert_true (mesh_call_engine_find_call (bob->engine, room_id, MESH_MEDIA_KIND_CALL) == incoming);
  mesh_call_accept (incoming);
  g_assert_cmpint (mesh_call_get_state (incoming), ==, MESH_CALL_STATE_ACTIVE);
  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ACTIVE, WAIT_S);

  at_alice = peer_of (call, pair.bob_id);
  at_bob = peer_of (incoming, pair.alice_id);
  g_assert_nonnull (at_alice);
  g_assert_nonnull (at_bob);
  for (guint i = 0; i < 12 && !(video_frames (at_alice) >= FRAMES && video_frames (at_bob) >= FRAMES &&
                                audio_buffers (at_alice) >= BUFFERS && audio_buffers (at_bob) >= BUFFERS); i++) {
    pump (5000);
    g_test_message ("after %u s: alice %" G_GUINT64_FORMAT " frames / %" G_GUINT64_FORMAT
                    " audio buffers, bob %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT, (i + 1) * 5,
                    video_frames (at_alice), audio_buffers (at_alice),
                    video_frames (at_bob), audio_buffers (at_bob));
  }
  WAIT_UNTIL (video_frames (at_alice) >= FRAMES && video_frames (at_bob) >= FRAMES &&
              audio_buffers (at_alice) >= BUFFERS && audio_buffers (at_bob) >= BUFFERS, WAIT_S);
  g_assert_cmpint (mesh_call_peer_get_state (at_alice), ==, MESH_CALL_PEER_STATE_CONNECTED);
  g_assert_cmpint (mesh_call_peer_get_state (at_bob), ==, MESH_CALL_PEER_STATE_CONNECTED);
  g_assert_cmpint (mesh_video_output_get_width (mesh_call_peer_get_video (at_bob)), ==, 320);
  g_assert_cmpuint (mesh_call_peer_get_bitrate (at_alice), >, 0);
  g_assert_cmpuint (mesh_video_output_get_frames (mesh_call_engine_get_self_view (alice->engine)), >, 0);
  g_test_message ("two-party: alice decoded %" G_GUINT64_FORMAT " frames / %" G_GUINT64_FORMAT
                  " audio buffers, bob %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT,
                  video_frames (at_alice), audio_buffers (at_alice),
                  video_frames (at_bob), audio_buffers (at_bob));

  /* A malformed candidate is dropped with a log line; the call goes on. */
  {
    g_autoptr(JsonObject) payload = json_object_new ();
    JsonObject *candidate = json_object_new ();

    json_object_set_string_member (candidate, "candidate", "candidate:garbage \x01 typ");
    json_object_set_int_member (candidate, "sdpMLineIndex", 7);
    json_object_set_object_member (payload, "candidate", candidate);
    mesh_call_engine_send_rtc (alice->engine, call, "rtc.ice", pair.bob_id, payload);
  }
  frames = video_frames (at_bob);
  WAIT_UNTIL (video_frames (at_bob) >= frames + 5, WAIT_S);
  g_assert_cmpint (mesh_call_get_state (incoming), ==, MESH_CALL_STATE_ACTIVE);

  /* Hanging up frees every pipeline and webrtcbin, on both sides. */
  watch_elements (call, watched);
  watch_elements (incoming, watched);
  mesh_call_hang_up (call);
  g_assert_cmpint (mesh_call_get_state (call), ==, MESH_CALL_STATE_ENDED);
  g_assert_cmpint (mesh_call_get_end_reason (call), ==, MESH_CALL_END_HUNG_UP);
  WAIT_UNTIL (mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (incoming), ==, MESH_CALL_END_REMOTE_HUNG_UP);
  g_assert_cmpuint (g_list_model_get_n_items (mesh_call_engine_get_calls (alice->engine)), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (mesh_call_engine_get_calls (bob->engine)), ==, 0);
  WAIT_UNTIL (all_finalized (watched), WAIT_S);

  /* The same engines call again (the sources were given back). */
  g_clear_object (&pair.call);
  g_ptr_array_set_size (bob->incoming, 0);
  call = pair.call = g_object_ref (mesh_call_engine_start_call (alice->engine, room_id, pair.bob_id,
                                                                &error));
  g_assert_no_error (error);
  incoming = wait_incoming (bob);
  mesh_call_accept (incoming);
  WAIT_UNTIL (video_frames (peer_of (incoming, pair.alice_id)) >= 5, WAIT_S);
  mesh_call_engine_hang_up_all (bob->engine);
  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED, WAIT_S);
}

static void
test_room_of_three (void)
{
  const char *members[] = { "bob", "carol", NULL };
  g_autofree char *room_id = create_room ("alice", members);
  g_autoptr(Party) alice = party_new ("alice", room_id, TRUE, TRUE);
  g_autoptr(Party) bob = party_new ("bob", room_id, TRUE, TRUE);
  Party *carol = party_new ("carol", room_id, TRUE, TRUE);
  g_autoptr(MeshCall) call = NULL;
  MeshCall *at_bob, *at_carol;
  const char *alice_id = mesh_client_session_get_peer_id (alice->session);
  const char *bob_id = mesh_client_session_get_peer_id (bob->session);
  g_autofree char *carol_id = g_strdup (mesh_client_session_get_peer_id (carol->session));
  guint64 ab, ba;

  wait_room_peers (alice, room_id, 3);
  wait_room_peers (bob, room_id, 3);
  wait_room_peers (carol, room_id, 3);
  call = start_call (alice, room_id);
  at_bob = wait_incoming (bob);
  at_carol = wait_incoming (carol);
  mesh_call_accept (at_bob);
  mesh_call_accept (at_carol);

  /* A full mesh: everyone decodes the two others. */
  WAIT_UNTIL (g_list_model_get_n_items (mesh_call_get_peers (call)) == 2 &&
              g_list_model_get_n_items (mesh_call_get_peers (at_bob)) == 2 &&
              g_list_model_get_n_items (mesh_call_get_peers (at_carol)) == 2, WAIT_S);
  WAIT_UNTIL (video_frames (peer_of (call, bob_id)) >= FRAMES &&
              video_frames (peer_of (call, carol_id)) >= FRAMES &&
              video_frames (peer_of (at_bob, alice_id)) >= FRAMES &&
              video_frames (peer_of (at_bob, carol_id)) >= FRAMES &&
              video_frames (peer_of (at_carol, alice_id)) >= FRAMES &&
              video_frames (peer_of (at_carol, bob_id)) >= FRAMES &&
              audio_buffers (peer_of (at_carol, bob_id)) >= BUFFERS &&
              audio_buffers (peer_of (call, carol_id)) >= BUFFERS, WAIT_S * 2);
  g_test_message ("three: alice<-bob %" G_GUINT64_FORMAT " alice<-carol %" G_GUINT64_FORMAT
                  " bob<-carol %" G_GUINT64_FORMAT " carol<-bob %" G_GUINT64_FORMAT " frames",
                  video_frames (peer_of (call, bob_id)), video_frames (peer_of (call, carol_id)),
                  video_frames (peer_of (at_bob, carol_id)), video_frames (peer_of (at_carol, bob_id)));

  /* Carol's app dies: her socket closes, the others drop her and go on. */
  mesh_client_session_disconnect (carol->session);
  WAIT_UNTIL (peer_of (call, carol_id) == NULL && peer_of (at_bob, carol_id) == NULL, WAIT_S);
  g_assert_cmpint (mesh_call_get_state (call), ==, MESH_CALL_STATE_ACTIVE);
  g_assert_cmpint (mesh_call_get_state (at_bob), ==, MESH_CALL_STATE_ACTIVE);
  WAIT_UNTIL (mesh_call_get_state (at_carol) == MESH_CALL_STATE_ENDED, WAIT_S);
  party_free (carol);
  ab = video_frames (peer_of (call, bob_id));
  ba = video_frames (peer_of (at_bob, alice_id));
  WAIT_UNTIL (video_frames (peer_of (call, bob_id)) >= ab + 10 &&
              video_frames (peer_of (at_bob, alice_id)) >= ba + 10, WAIT_S);

  mesh_call_hang_up (at_bob);
  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (call), ==, MESH_CALL_END_REMOTE_HUNG_UP);
}

/* A camera that never delivers a frame (a driver stuck, a device gone
 * quiet): its send branch never gets caps, so no offer could name its
 * stream.  The call must not connect as if all were well with no video
 * from us: that peer fails, with a reason, on both sides. */
static GstElement *
dead_camera (void)
{
  g_autoptr(GError) error = NULL;
  GstElement *bin = gst_parse_bin_from_description (
    "appsrc is-live=true format=time caps=\"video/x-raw,format=I420,width=320,height=240,framerate=15/1\"",
    TRUE, &error);

  g_assert_no_error (error);
  return bin;
}

static void
test_dead_camera (void)
{
  g_auto(CallPair) pair = { 0 };
  MeshCall *call;
  Party *bob;

  call_pair_set_up (&pair, MEDIA_MIC, MEDIA_BOTH);
  bob = pair.bob;
  mesh_call_engine_set_camera (pair.alice->engine, dead_camera ());
  call = call_pair_call (&pair);
  /* Bob rings once Alice's offer goes out, if ever; he picks up. */
  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED || bob->incoming->len > 0, WAIT_S * 2);
  if (bob->incoming->len > 0)
    mesh_call_accept (bob->incoming->pdata[0]);
  /* 10 s for the senders, the offer without video, 10 s more. */
  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED, WAIT_S * 2);
  g_assert_cmpint (mesh_call_get_end_reason (call), ==, MESH_CALL_END_FAILED);
  g_assert_nonnull (strstr (mesh_call_get_error_message (call), "sent nothing"));
  g_test_message ("dead camera: %s", mesh_call_get_error_message (call));
  for (guint i = 0; i < bob->incoming->len; i++) {
    MeshCall *incoming = bob->incoming->pdata[i];

    WAIT_UNTIL (mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S);
  }
}

/* The answerer's camera sends nothing.  It applies the offer after its
 * first wait for its senders and waits again: a connection rebuilt then
 * has no offer left to answer (once seen as "bad offer: not an SDP
 * description", the peer dropped and the other side left waiting).  It
 * answers without its video instead and fails with the reason the user
 * sees. */
static void
test_dead_camera_answerer (void)
{
  g_auto(CallPair) pair = { 0 };
  MeshCall *incoming;
  const char *error;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_MIC);
  mesh_call_engine_set_camera (pair.bob->engine, dead_camera ());
  /* Waiting for Bob's senders outlasts the default ring. */
  g_object_set (pair.alice->engine, "ring-timeout", 300, NULL);
  incoming = call_pair_start (&pair, TRUE);
  /* 10 s for the senders, the offer applied and 10 s more, the answer
   * without video, 10 s more. */
  WAIT_UNTIL (mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S * 3);
  error = mesh_call_get_error_message (incoming);
  g_test_message ("dead camera at the answerer: %s", error ? error : "(none)");
  g_assert_cmpint (mesh_call_get_end_reason (incoming), ==, MESH_CALL_END_FAILED);
  g_assert_nonnull (error);
  g_assert_null (strstr (error, "bad offer"));
  g_assert_nonnull (strstr (error, "sent nothing"));
  /* Alice heard of it. */
  WAIT_UNTIL (mesh_call_get_state (pair.call) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (pair.call), ==, MESH_CALL_END_FAILED);
}

static void
test_decline (void)
{
  g_auto(CallPair) pair = { 0 };
  MeshCall *incoming;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_BOTH);
  incoming = call_pair_start (&pair, FALSE);
  mesh_call_decline (incoming);
  g_assert_cmpint (mesh_call_get_end_reason (incoming), ==, MESH_CALL_END_DECLINED);
  g_assert_null (mesh_call_get_pipeline (incoming));
  WAIT_UNTIL (mesh_call_get_state (pair.call) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (pair.call), ==, MESH_CALL_END_DECLINED);
  g_assert_null (mesh_call_get_pipeline (pair.call));
}

static void
test_ring_timeout (void)
{
  g_auto(CallPair) pair = { 0 };
  MeshCall *incoming;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_BOTH);
  g_object_set (pair.alice->engine, "ring-timeout", 2, NULL);
  g_object_set (pair.bob->engine, "ring-timeout", 2, NULL);
  incoming = call_pair_start (&pair, FALSE);
  WAIT_UNTIL (mesh_call_get_state (pair.call) == MESH_CALL_STATE_ENDED &&
              mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (pair.call), ==, MESH_CALL_END_MISSED);
  g_assert_cmpint (mesh_call_get_end_reason (incoming), ==, MESH_CALL_END_MISSED);
}

static void
test_audio_only (void)
{
  g_auto(CallPair) pair = { 0 };
  MeshCall *incoming;

  /* Alice has no camera, Bob no microphone: each still gets what the
   * other sends. */
  call_pair_set_up (&pair, MEDIA_MIC, MEDIA_CAMERA);
  incoming = call_pair_start (&pair, TRUE);
  WAIT_UNTIL (audio_buffers (peer_of (incoming, pair.alice_id)) >= BUFFERS &&
              video_frames (peer_of (pair.call, pair.bob_id)) >= FRAMES, WAIT_S);
  g_assert_cmpuint (video_frames (peer_of (incoming, pair.alice_id)), ==, 0);
  g_assert_cmpuint (audio_buffers (peer_of (pair.call, pair.bob_id)), ==, 0);
  mesh_call_hang_up (pair.call);
  WAIT_UNTIL (mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S);
}

/* A token the server signed, with the claims we want (an expired one). */
static char *
forge_token (const char *user_id,
             const char *room_id,
             gint64      exp)
{
  g_autofree char *key_path = g_build_filename (mesh_test_server_get_data_dir (server),
                                                "signing-key.pem", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCapKey) key = mesh_cap_key_load_or_create (key_path, &error);
  g_autoptr(MeshCapClaims) claims = mesh_cap_claims_new ();
  const char *caps[] = { "call", NULL };
  char *token;

  g_assert_no_error (error);
  claims->sub = g_strdup (user_id);
  claims->room_id = g_strdup (room_id);
  claims->caps = g_strdupv ((char **) caps);
  claims->iat = exp - 120;
  claims->exp = exp;
  claims->jti = g_uuid_string_random ();
  token = mesh_cap_key_sign (key, claims, &error);
  g_assert_no_error (error);
  return token;
}

static void
test_refused_caps (void)
{
  const char *members[] = { "bob", NULL };
  g_auto(CallPair) pair = { 0 };
  g_autofree char *other_room = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *foreign = NULL;
  g_autofree char *expired = NULL;
  const char *caps[] = { "call", NULL };
  Party *alice, *bob;
  struct {
    const char *token;
    const char *what;
  } cases[3];

  call_pair_set_up (&pair, MEDIA_MIC, MEDIA_MIC);
  other_room = create_room ("alice", members);
  alice = pair.alice;
  bob = pair.bob;
  wait_room_peers (alice, pair.room_id, 2);
  mesh_client_rest_request_caps_async (alice->rest, other_room, caps, NULL, NULL, 0, NULL,
                                       result_cb, &result);
  foreign = mesh_client_rest_request_caps_finish (alice->rest, wait_result (&result), NULL, &error);
  g_assert_no_error (error);
  expired = forge_token (mesh_client_rest_get_user_id (alice->rest), pair.room_id,
                         g_get_real_time () / G_USEC_PER_SEC - 60);
  cases[0].token = "";
  cases[0].what = "CAP_REQUIRED";
  cases[1].token = foreign;
  cases[1].what = "CAP_INVALID";
  cases[2].token = expired;
  cases[2].what = "CAP_EXPIRED";

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(MeshCall) call = NULL;

    mesh_call_engine_set_cap_token_override (alice->engine, cases[i].token);
    call = start_call (alice, pair.room_id);
    WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED, WAIT_S);
    g_assert_cmpint (mesh_call_get_end_reason (call), ==, MESH_CALL_END_FAILED);
    g_assert_nonnull (mesh_call_get_error_message (call));
    g_test_message ("%s: %s", cases[i].what, mesh_call_get_error_message (call));
  }
  /* Nothing rang. */
  pump (300);
  g_assert_cmpuint (bob->incoming->len, ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (mesh_call_engine_get_calls (bob->engine)), ==, 0);
}

/* Sends a @type event from @from to @target in @room_id: @payload with the
 * room, the target, the media and a call token added. */
static void
send_signal (Party      *from,
             const char *type,
             const char *room_id,
             const char *target,
             JsonObject *payload)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *id = NULL;
  const char *caps[] = { "call", NULL };

  mesh_client_rest_request_caps_async (from->rest, room_id, caps, target, NULL, 0, NULL,
                                       result_cb, &result);
  token = mesh_client_rest_request_caps_finish (from->rest, wait_result (&result), NULL, &error);
  g_assert_no_error (error);
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "target_peer_id", target);
  json_object_set_string_member (payload, "media", "call");
  json_object_set_string_member (payload, "cap_token", token);
  id = mesh_client_session_send_event (from->session, type, target, payload, &error);
  g_assert_no_error (error);
}

/* An offer or answer of @call_id with that @sdp. */
static void
send_sdp (Party      *from,
          const char *type,
          const char *room_id,
          const char *target,
          const char *call_id,
          const char *sdp)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  json_object_set_string_member (payload, "call_id", call_id);
  json_object_set_string_member (payload, "sdp", sdp);
  send_signal (from, type, room_id, target, payload);
}

/* An rtc event with @extra_json's members added (sdp, call_id...), and a token. */
static void
send_raw (Party      *from,
          const char *type,
          const char *room_id,
          const char *target,
          const char *extra_json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) extra = json_from_string (extra_json, &error);

  g_assert_no_error (error);
  send_signal (from, type, room_id, target, json_node_get_object (extra));
}

static void
count_hangup (MeshClientSession *session,
              const char        *type,
              const char        *from,
              JsonObject        *payload,
              guint             *count)
{
  (*count)++;
}

static void
test_malformed_offer (void)
{
  /* Alice speaks raw signaling: no engine of hers answers anything. */
  g_auto(CallPair) pair = { 0 };
  const char *offers[] = {
    "not an sdp at all",
    "v=0\r\n",
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
      "a=rtpmap:96 VP8/90000\r\n",   /* no ICE credentials, no fingerprint */
    "v=0\r\nm=application 9 DTLS/SCTP 5000\r\n",
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:x\r\na=ice-pwd:y\r\n"
      "a=fingerprint:sha-256 00\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
      "a=mid:0\r\na=sendrecv\r\n",   /* looks right, says nothing usable */
  };
  guint hangups = 0;

  call_pair_set_up (&pair, MEDIA_NONE, MEDIA_BOTH);
  g_clear_object (&pair.alice->engine);
  g_signal_connect (pair.alice->session, "event::rtc.hangup", G_CALLBACK (count_hangup), &hangups);
  wait_room_peers (pair.alice, pair.room_id, 2);
  for (guint i = 0; i < 4; i++)
    send_sdp (pair.alice, "rtc.offer", pair.room_id, pair.bob_id, "bad-call", offers[i]);
  /* The first four are refused without ringing. */
  WAIT_UNTIL (hangups >= 4, WAIT_S);
  g_assert_cmpuint (pair.bob->incoming->len, ==, 0);

  /* The last one rings; accepting it fails cleanly (webrtcbin refuses the
   * description or ICE never completes), and Bob's engine survives. */
  send_sdp (pair.alice, "rtc.offer", pair.room_id, pair.bob_id, "odd-call", offers[4]);
  {
    pair.incoming = wait_incoming (pair.bob);

    /* The same offer again while ringing replaces the first: one call, one
     * peer.  An offer for another call of that room is answered "busy". */
    hangups = 0;
    send_sdp (pair.alice, "rtc.offer", pair.room_id, pair.bob_id, "odd-call", offers[4]);
    send_sdp (pair.alice, "rtc.offer", pair.room_id, pair.bob_id, "other-call", offers[4]);
    WAIT_UNTIL (hangups >= 1, WAIT_S);
    g_assert_cmpuint (pair.bob->incoming->len, ==, 1);
    g_assert_cmpuint (g_list_model_get_n_items (mesh_call_get_peers (pair.incoming)), ==, 1);
    g_assert_cmpuint (g_list_model_get_n_items (mesh_call_engine_get_calls (pair.bob->engine)), ==,
                      1);

    /* What the server does not check, hostile: ignored, nothing rings. */
    send_raw (pair.alice, "rtc.offer", pair.room_id, pair.bob_id,
              "{\"call_id\": {\"x\": 1}, \"scope\": [1], \"sdp\": \"v=0\"}");
    send_raw (pair.alice, "rtc.offer", pair.room_id, pair.bob_id,
              "{\"call_id\": \"bad id with spaces\", \"sdp\": \"v=0\"}");
    send_raw (pair.alice, "rtc.ice", pair.room_id, pair.bob_id,
              "{\"call_id\": \"odd-call\", \"candidate\": {\"candidate\": {}, \"sdpMLineIndex\": \"x\"}}");
    send_raw (pair.alice, "rtc.ice", pair.room_id, pair.bob_id,
              "{\"call_id\": \"odd-call\", \"candidate\": {\"candidate\": \"candidate:1 1 UDP 1 10.0.0.1 9 typ host\", "
              "\"sdpMLineIndex\": 99}}");
    send_raw (pair.alice, "rtc.hangup", pair.room_id, pair.bob_id,
              "{\"call_id\": [], \"reason\": {}}");
    pump (500);
    g_assert_cmpuint (pair.bob->incoming->len, ==, 1);
    g_assert_cmpint (mesh_call_get_state (pair.incoming), ==, MESH_CALL_STATE_RINGING);

    mesh_call_accept (pair.incoming);
    pump (500);
    mesh_call_hang_up (pair.incoming);
    g_assert_cmpint (mesh_call_get_state (pair.incoming), ==, MESH_CALL_STATE_ENDED);
    g_assert_null (mesh_call_get_pipeline (pair.incoming));
  }
}

static void
keep_sdp (MeshClientSession *session,
          const char        *type,
          const char        *from,
          JsonObject        *payload,
          char             **sdp)
{
  g_free (*sdp);
  *sdp = g_strdup (json_object_get_string_member_with_default (payload, "sdp", NULL));
}

/* Firefox numbers Opus 109 and VP8 120: the answer keeps them, and media
 * flows both ways. */
static void
test_offer_payload_types (void)
{
  g_auto(CallPair) pair = { 0 };
  g_autofree char *answer = NULL;
  MeshCall *call, *incoming;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_BOTH);
  mesh_call_engine_set_offer_payload_types (pair.alice->engine, 120, 109);
  g_signal_connect (pair.alice->session, "event::rtc.answer", G_CALLBACK (keep_sdp), &answer);
  incoming = call_pair_start (&pair, TRUE);
  call = pair.call;
  WAIT_UNTIL (answer != NULL, WAIT_S);
  g_assert_nonnull (strstr (answer, "a=rtpmap:120 VP8/90000"));
  g_assert_nonnull (g_strrstr (answer, "a=rtpmap:109 OPUS/48000") ?: strstr (answer, "a=rtpmap:109 opus/48000"));
  g_assert_null (strstr (answer, "a=rtpmap:96 "));
  g_assert_null (strstr (answer, "a=rtpmap:97 "));
  WAIT_UNTIL (video_frames (peer_of (call, pair.bob_id)) >= FRAMES &&
              video_frames (peer_of (incoming, pair.alice_id)) >= FRAMES &&
              audio_buffers (peer_of (call, pair.bob_id)) >= BUFFERS &&
              audio_buffers (peer_of (incoming, pair.alice_id)) >= BUFFERS, WAIT_S);
  mesh_call_hang_up (incoming);
  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED, WAIT_S);
}

/* ICE to a peer fails: the connection is rebuilt (webrtcbin 1.22 cannot
 * restart ICE), the peer shows RECONNECTING, then media flows again. */
static void
test_reconnect (void)
{
  g_auto(CallPair) pair = { 0 };
  MeshCall *call, *incoming, *lower_call, *higher_call;
  MeshCallPeer *at_lower, *at_higher;
  GstElement *old_webrtc, *old_other;
  const char *alice_id, *bob_id;
  gboolean saw_reconnecting = FALSE;
  guint64 frames_lower, frames_higher;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_BOTH);
  incoming = call_pair_start (&pair, TRUE);
  call = pair.call;
  alice_id = pair.alice_id;
  bob_id = pair.bob_id;
  WAIT_UNTIL (video_frames (peer_of (call, bob_id)) >= 5 &&
              video_frames (peer_of (incoming, alice_id)) >= 5, WAIT_S);

  /* The lower peer id rebuilds and offers again. */
  if (g_strcmp0 (alice_id, bob_id) < 0) {
    lower_call = call;
    higher_call = incoming;
    at_lower = peer_of (call, bob_id);
    at_higher = peer_of (incoming, alice_id);
  } else {
    lower_call = incoming;
    higher_call = call;
    at_lower = peer_of (incoming, alice_id);
    at_higher = peer_of (call, bob_id);
  }
  /* Held, so that a new webrtcbin cannot take an old one's address. */
  old_webrtc = gst_object_ref (mesh_call_peer_get_webrtcbin (at_lower));
  old_other = gst_object_ref (mesh_call_peer_get_webrtcbin (at_higher));
  mesh_call_peer_simulate_ice_failure (at_lower);
  saw_reconnecting = mesh_call_peer_get_state (at_lower) == MESH_CALL_PEER_STATE_RECONNECTING;
  g_assert_true (saw_reconnecting);
  frames_lower = video_frames (at_lower);
  frames_higher = video_frames (at_higher);
  WAIT_UNTIL (mesh_call_peer_get_state (at_lower) == MESH_CALL_PEER_STATE_CONNECTED &&
              mesh_call_peer_get_webrtcbin (at_higher) != old_other &&
              video_frames (at_lower) >= frames_lower + 10 &&
              video_frames (at_higher) >= frames_higher + 10, WAIT_S);
  g_assert_true (mesh_call_peer_get_webrtcbin (at_lower) != old_webrtc);
  g_assert_cmpint (mesh_call_get_state (lower_call), ==, MESH_CALL_STATE_ACTIVE);
  g_assert_cmpint (mesh_call_get_state (higher_call), ==, MESH_CALL_STATE_ACTIVE);
  g_assert_cmpuint (g_list_model_get_n_items (mesh_call_get_peers (higher_call)), ==, 1);
  gst_object_unref (old_webrtc);
  gst_object_unref (old_other);
  mesh_call_hang_up (call);
  WAIT_UNTIL (mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S);
}

/* What the call view's buttons do, seen from the other side. */
static void
test_controls (void)
{
  g_auto(CallPair) pair = { 0 };
  g_autoptr(GError) parse_error = NULL;
  MeshCall *call, *incoming;
  MeshCallPeer *alice_at_bob;
  Party *alice;
  guint64 audio;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_BOTH);
  alice = pair.alice;
  incoming = call_pair_start (&pair, TRUE);
  call = pair.call;
  alice_at_bob = peer_of (incoming, pair.alice_id);
  WAIT_UNTIL (video_frames (alice_at_bob) >= 5 && audio_buffers (alice_at_bob) >= 5, WAIT_S);
  g_assert_false (mesh_call_peer_get_camera_off (alice_at_bob));

  /* A small tile: frames come scaled to it, aspect ratio kept (4:3 in 16:9). */
  mesh_video_output_set_size_hint (mesh_call_peer_get_video (alice_at_bob), 160, 90);
  WAIT_UNTIL (mesh_video_output_get_width (mesh_call_peer_get_video (alice_at_bob)) == 120, WAIT_S);
  g_assert_cmpint (mesh_video_output_get_height (mesh_call_peer_get_video (alice_at_bob)), ==, 90);
  mesh_video_output_set_size_hint (mesh_call_peer_get_video (alice_at_bob), 0, 0);

  /* A clean link: the sender raises that peer's bitrate from its start. */
  WAIT_UNTIL (mesh_call_peer_get_bitrate (peer_of (call, pair.bob_id))
              > 600000, WAIT_S);
  g_assert_false (mesh_call_peer_get_poor_connection (alice_at_bob));

  /* Camera off: Bob's tile says so; on again: it does not. */
  mesh_call_set_camera_enabled (call, FALSE);
  WAIT_UNTIL (mesh_call_peer_get_camera_off (alice_at_bob), WAIT_S);
  mesh_call_set_camera_enabled (call, TRUE);
  WAIT_UNTIL (!mesh_call_peer_get_camera_off (alice_at_bob), WAIT_S);

  /* Muted while the microphone hears something: "you are muted". */
  mesh_call_set_muted (call, TRUE);
  WAIT_UNTIL (mesh_call_get_speaking_while_muted (call), WAIT_S);
  mesh_call_set_muted (call, FALSE);
  g_assert_false (mesh_call_get_speaking_while_muted (call));

  /* Another camera and microphone in the middle of the call. */
  mesh_call_engine_set_camera (alice->engine, gst_parse_bin_from_description (
    "videotestsrc is-live=true ! capsfilter caps=\"video/x-raw,width=160,height=120,framerate=15/1\"",
    TRUE, &parse_error));
  g_assert_no_error (parse_error);
  mesh_call_engine_set_microphone (alice->engine, test_microphone ());
  WAIT_UNTIL (mesh_video_output_get_width (mesh_call_peer_get_video (alice_at_bob)) == 160, WAIT_S);
  audio = audio_buffers (alice_at_bob);
  WAIT_UNTIL (audio_buffers (alice_at_bob) >= audio + BUFFERS, WAIT_S);

  /* No microphone any more: Bob still sees her. */
  mesh_call_engine_set_microphone (alice->engine, NULL);
  audio = video_frames (alice_at_bob);
  WAIT_UNTIL (video_frames (alice_at_bob) >= audio + 10, WAIT_S);
  mesh_call_hang_up (call);
  WAIT_UNTIL (mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S);
}

/* The caller's app goes away while the callee is still negotiating: the
 * callee's call ends cleanly and frees its pipeline. */
static void
test_vanishing_peer (void)
{
  g_autoptr(GPtrArray) watched = g_ptr_array_new_with_free_func (g_free);
  g_auto(CallPair) pair = { 0 };
  MeshCall *call, *incoming;

  call_pair_set_up (&pair, MEDIA_BOTH, MEDIA_BOTH);
  incoming = call_pair_start (&pair, TRUE);
  call = pair.call;
  WAIT_UNTIL (mesh_call_peer_get_webrtcbin (peer_of (incoming, pair.alice_id)) != NULL, WAIT_S);
  watch_elements (incoming, watched);
  /* Gone at once, before ICE could complete. */
  mesh_client_session_disconnect (pair.alice->session);
  WAIT_UNTIL (mesh_call_get_state (incoming) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (incoming), ==, MESH_CALL_END_REMOTE_HUNG_UP);
  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (call), ==, MESH_CALL_END_FAILED);
  g_clear_pointer (&pair.alice, party_free);
  WAIT_UNTIL (all_finalized (watched), WAIT_S);
}

static void
test_screenshare (void)
{
  g_auto(CallPair) pair = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCall) share = NULL;
  MeshCall *watched;
  MeshCallPeer *sharer;

  call_pair_set_up (&pair, MEDIA_NONE, MEDIA_NONE);
  wait_room_peers (pair.alice, pair.room_id, 2);
  share = g_object_ref (mesh_call_engine_start_screenshare (pair.alice->engine, pair.room_id,
                                                            test_camera (), &error));
  g_assert_no_error (error);
  g_assert_cmpint (mesh_call_get_kind (share), ==, MESH_MEDIA_KIND_SCREENSHARE);
  /* A share is its own connection: none for calls is in the way. */
  g_assert_null (mesh_call_engine_find_call (pair.alice->engine, pair.room_id,
                                             MESH_MEDIA_KIND_CALL));

  watched = wait_incoming (pair.bob);
  g_assert_cmpint (mesh_call_get_kind (watched), ==, MESH_MEDIA_KIND_SCREENSHARE);
  g_assert_cmpint (mesh_call_get_state (watched), ==, MESH_CALL_STATE_RINGING);
  g_assert_cmpstr (mesh_call_get_caller_name (watched), ==, "alice");
  mesh_call_accept (watched);
  sharer = peer_of (watched, pair.alice_id);
  WAIT_UNTIL (video_frames (sharer) >= FRAMES, WAIT_S);
  g_test_message ("screenshare: bob decoded %" G_GUINT64_FORMAT " frames of alice's screen",
                  video_frames (sharer));
  g_assert_cmpint (mesh_video_output_get_width (mesh_call_peer_get_video (sharer)), ==, 320);

  /* Alice stops sharing: Bob's view ends. */
  mesh_call_hang_up (share);
  WAIT_UNTIL (mesh_call_get_state (watched) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (watched), ==, MESH_CALL_END_REMOTE_HUNG_UP);
}

static void
test_bitrate_steps (void)
{
  guint rate = 600000;

  /* Clean: up, slowly, to the ceiling. */
  g_assert_cmpuint (mesh_call_next_bitrate (rate, 0, 0.02, 1500000), >, rate);
  g_assert_cmpuint (mesh_call_next_bitrate (rate, 0, 0.02, 1500000), <, rate * 11 / 10);
  for (guint i = 0; i < 50; i++)
    rate = mesh_call_next_bitrate (rate, 0, 0.02, 1500000);
  g_assert_cmpuint (rate, ==, 1500000);
  /* Heavy loss: down fast, to the floor. */
  g_assert_cmpuint (mesh_call_next_bitrate (rate, 0.2, 0.02, 1500000), ==, 1050000);
  for (guint i = 0; i < 50; i++)
    rate = mesh_call_next_bitrate (rate, 0.2, 0.02, 1500000);
  g_assert_cmpuint (rate, ==, 100000);
  /* Some loss, or a long round trip: down gently. */
  g_assert_cmpuint (mesh_call_next_bitrate (1000000, 0.05, 0.02, 1500000), ==, 900000);
  g_assert_cmpuint (mesh_call_next_bitrate (1000000, 0, 0.5, 1500000), ==, 900000);
}

static void
keep_from (MeshClientSession *session,
           const char        *type,
           const char        *from,
           JsonObject        *payload,
           char             **call_id)
{
  g_free (*call_id);
  *call_id = g_strdup (json_object_get_string_member_with_default (payload, "call_id", "?"));
}

/* A garbage answer ends that peer's connection with a clear error; the
 * engine goes on. */
static void
test_malformed_answer (void)
{
  g_auto(CallPair) pair = { 0 };
  g_autofree char *call_id = NULL;
  MeshCall *call;

  call_pair_set_up (&pair, MEDIA_MIC, MEDIA_NONE);
  /* Bob speaks raw signaling. */
  g_clear_object (&pair.bob->engine);
  g_signal_connect (pair.bob->session, "event::rtc.offer", G_CALLBACK (keep_from), &call_id);
  call = call_pair_call (&pair);
  WAIT_UNTIL (call_id != NULL, WAIT_S);

  send_sdp (pair.bob, "rtc.answer", pair.room_id, pair.alice_id, call_id,
            "v=0\r\nthis is not an answer\r\n");

  WAIT_UNTIL (mesh_call_get_state (call) == MESH_CALL_STATE_ENDED, WAIT_S);
  g_assert_cmpint (mesh_call_get_end_reason (call), ==, MESH_CALL_END_FAILED);
  g_assert_nonnull (strstr (mesh_call_get_error_message (call), "bad answer"));
  g_assert_null (mesh_call_get_pipeline (call));
  g_test_message ("malformed answer: %s", mesh_call_get_error_message (call));
}

int
main (int   argc,
      char *argv[])
{
  const char *users[] = { "alice", "bob", "carol" };
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  server = mesh_test_server_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (users); i++)
    g_free (mesh_test_server_add_user (server, users[i], PASSWORD));
  rests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);

  g_test_add_func ("/media/bitrate-steps", test_bitrate_steps);
  g_test_add_func ("/media/call/two-party", test_two_party);
  g_test_add_func ("/media/call/decline", test_decline);
  g_test_add_func ("/media/call/dead-camera", test_dead_camera);
  g_test_add_func ("/media/call/dead-camera-answerer", test_dead_camera_answerer);
  g_test_add_func ("/media/call/ring-timeout", test_ring_timeout);
  g_test_add_func ("/media/call/audio-only", test_audio_only);
  g_test_add_func ("/media/call/refused-caps", test_refused_caps);
  g_test_add_func ("/media/call/malformed-offer", test_malformed_offer);
  g_test_add_func ("/media/call/malformed-answer", test_malformed_answer);
  g_test_add_func ("/media/call/offer-payload-types", test_offer_payload_types);
  g_test_add_func ("/media/call/reconnect", test_reconnect);
  g_test_add_func ("/media/call/controls", test_controls);
  g_test_add_func ("/media/call/vanishing-peer", test_vanishing_peer);
  g_test_add_func ("/media/call/screenshare", test_screenshare);
  g_test_add_func ("/media/call/room-of-three", test_room_of_three);
  status = g_test_run ();

  g_hash_table_unref (rests);
  if (server_started)
    mesh_test_server_stop (server);
  mesh_test_server_free (server);
  return status;
}
