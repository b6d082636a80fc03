/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-turn"

#include "config.h"

#include "aiortc-harness.h"
#include "coturn-harness.h"
#include "mesh-test-server.h"
#ifdef MESH_TEST_WITH_ENGINE
#include "test-interop-engine.h"

#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>
#endif

#include <string.h>

#define SECRET "turn-test-secret-2c9f"

/* coturn with our secret on @address, and the [turn] section of a mesh-server
 * configuration for it (with its STUN URI first if @with_stun); NULL when
 * coturn is not installed (the test skips). */
static MeshTestCoturn *
coturn_start (const char  *address,
              gboolean     with_stun,
              char       **uri,
              char       **config)
{
  g_autoptr(GError) error = NULL;
  MeshTestCoturn *coturn = mesh_test_coturn_start (address, SECRET, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
    g_test_skip (error->message);
    return NULL;
  }
  g_assert_no_error (error);
  *uri = mesh_test_coturn_get_uri (coturn);
  if (with_stun)
    *config = g_strdup_printf ("[turn]\nuris=stun:%s:%u;%s\nsecret=" SECRET "\nttl=600\n",
                               address, mesh_test_coturn_get_port (coturn), *uri);
  else
    *config = g_strdup_printf ("[turn]\nuris=%s\nsecret=" SECRET "\nttl=600\n", *uri);
  return coturn;
}

/* mesh-server's GET /api/v1/turn credentials are accepted by a real coturn
 * with use-auth-secret (the HMAC and the username format are what coturn
 * checks); tampered or expired ones are not. */
static void
test_coturn_accepts_credentials (void)
{
  g_autoptr(MeshTestCoturn) coturn = NULL;
  g_autoptr(MeshTestServer) server = NULL;
  g_autoptr(MeshTestResponse) r = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *config = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *token = NULL;
  g_autofree char *output = NULL;
  g_autofree char *tampered = NULL;
  g_autofree char *expired_user = NULL;
  g_autofree char *expired_password = NULL;
  JsonObject *obj;
  const char *username, *password;

  coturn = coturn_start ("127.0.0.1", TRUE, &uri, &config);
  if (coturn == NULL)
    return;
  server = mesh_test_server_new (config);
  g_free (mesh_test_server_add_user (server, "alice", "correct horse"));
  mesh_test_server_start (server);
  token = mesh_test_login (server, "alice", "correct horse", &user_id);

  r = mesh_test_request (server, "GET", "/api/v1/turn", token, NULL);
  g_assert_cmpuint (r->status, ==, 200);
  obj = mesh_test_response_object (r);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj, "uris")), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (obj, "uris"), 1),
                   ==, uri);
  username = json_object_get_string_member (obj, "username");
  password = json_object_get_string_member (obj, "password");
  g_assert_true (g_str_has_suffix (username, user_id));

  if (!mesh_test_coturn_try_allocate (coturn, username, password, &output))
    g_error ("coturn refused mesh-server's credentials:\n%s", output);
  g_clear_pointer (&output, g_free);

  /* One character off: refused. */
  tampered = g_strdup (password);
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  g_assert_false (mesh_test_coturn_try_allocate (coturn, username, tampered, NULL));
  /* The right HMAC for an expiry in the past: refused (what ttl buys). */
  {
    g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) SECRET,
                                        strlen (SECRET));
    guint8 digest[20];
    gsize len = sizeof digest;

    expired_user = g_strdup_printf ("%" G_GINT64_FORMAT ":%s",
                                    g_get_real_time () / G_USEC_PER_SEC - 60, user_id);
    g_hmac_update (hmac, (const guchar *) expired_user, -1);
    g_hmac_get_digest (hmac, digest, &len);
    expired_password = g_base64_encode (digest, len);
  }
  g_assert_false (mesh_test_coturn_try_allocate (coturn, expired_user, expired_password, NULL));

  mesh_test_server_stop (server);
}

/* An independent client (aiortc) takes the ICE servers of GET /api/v1/turn
 * too: two aiortc peers in a namespace, announcing relayed candidates
 * only, talk through coturn on the namespace's host end. */
static void
test_aiortc_through_coturn (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshTestNetns) netns = mesh_test_netns_new (&error);
  g_autoptr(MeshTestCoturn) coturn = NULL;
  g_autoptr(MeshTestMediaServer) server = NULL;
  g_autoptr(MeshTestAiortc) answerer = NULL;
  g_autoptr(MeshTestAiortc) caller = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *config = NULL;
  g_autofree char *bob_id = NULL;
  g_autofree char *carol_id = NULL;
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *carol_token = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *bob_alloc = NULL;
  g_autofree char *carol_alloc = NULL;
  const char *members[3];
  static const char * const answer_args[] = { "--mode", "answer", "--duration", "4", "--turn",
                                              "--relay-only", "--no-hangup", NULL };
  static const char * const call_args[] = { "--mode", "call", "--target-user", "bob",
                                            "--duration", "4", "--turn", "--relay-only", NULL };
  JsonObject *results[2];

  if (netns == NULL) {
    g_test_skip (error->message);
    return;
  }
  coturn = coturn_start (mesh_test_netns_get_host_address (netns), FALSE, &uri, &config);
  if (coturn == NULL)
    return;
  server = mesh_test_media_server_new (mesh_test_netns_get_host_address (netns), config);
  g_free (mesh_test_media_server_add_user (server, "alice", "correct horse"));
  bob_id = mesh_test_media_server_add_user (server, "bob", "correct horse");
  carol_id = mesh_test_media_server_add_user (server, "carol", "correct horse");
  mesh_test_media_server_start (server);
  alice_token = mesh_test_media_server_login (server, "alice", "correct horse");
  bob_token = mesh_test_media_server_login (server, "bob", "correct horse");
  carol_token = mesh_test_media_server_login (server, "carol", "correct horse");
  members[0] = bob_token;
  members[1] = carol_token;
  members[2] = NULL;
  room_id = mesh_test_media_server_shared_room (server, alice_token, members);

  answerer = mesh_test_aiortc_spawn (netns, server, "bob", "correct horse", room_id, answer_args);
  g_assert_nonnull (mesh_test_aiortc_wait_ready (answerer, 20000));
  caller = mesh_test_aiortc_spawn (netns, server, "carol", "correct horse", room_id, call_args);
  results[0] = mesh_test_aiortc_wait_result (caller, 60000);
  results[1] = mesh_test_aiortc_wait_result (answerer, 30000);
  for (guint i = 0; i < 2; i++) {
    JsonObject *pair;

    g_assert_nonnull (results[i]);
    g_assert_true (json_object_get_boolean_member_with_default (results[i], "ok", FALSE));
    g_assert_cmpint (json_object_get_int_member (results[i], "video_frames"), >=, 10);
    g_assert_cmpint (json_object_get_int_member (results[i], "audio_frames"), >=, 10);
    /* Only relayed candidates were announced: the other end is a relay. */
    pair = json_object_get_object_member (results[i], "selected_pair");
    g_assert_nonnull (pair);
    g_assert_cmpstr (json_object_get_string_member (pair, "remote"), ==, "relay");
  }
  bob_alloc = g_strdup_printf (":%s>: incoming packet ALLOCATE processed, success", bob_id);
  carol_alloc = g_strdup_printf (":%s>: incoming packet ALLOCATE processed, success", carol_id);
  g_assert_cmpuint (mesh_test_coturn_count_log (coturn, bob_alloc), >, 0);
  g_assert_cmpuint (mesh_test_coturn_count_log (coturn, carol_alloc), >, 0);
}

#ifdef MESH_TEST_WITH_ENGINE
typedef struct {
  MeshTestEngine *engines[2];
  guint64         video[2];
  guint64         audio[2];
} Flow;

static gboolean
both_receive (gpointer data)
{
  Flow *flow = data;
  gboolean done = TRUE;

  for (guint i = 0; i < 2; i++) {
    g_autoptr(MeshCallPeer) peer = mesh_test_engine_dup_peer (flow->engines[i]);

    if (peer != NULL) {
      flow->video[i] = mesh_video_output_get_frames (mesh_call_peer_get_video (peer));
      flow->audio[i] = mesh_call_peer_get_audio_buffers (peer);
    }
    done &= flow->video[i] >= 30 && flow->audio[i] >= 30;
  }
  return done;
}

static gboolean
no_calls (gpointer data)
{
  Flow *flow = data;

  return mesh_test_engine_n_calls (flow->engines[0]) == 0 &&
         mesh_test_engine_n_calls (flow->engines[1]) == 0;
}

typedef struct {
  MeshTestCoturn *coturn;
  guint           before;
} Closing;

static gboolean
relays_released (gpointer data)
{
  Closing *closing = data;

  return mesh_test_coturn_count_log (closing->coturn, "REFRESH processed, success") >=
         closing->before + 2;
}

/* Two engines forced to relay-only (ice-transport-policy=relay) with ICE
 * servers from GET /api/v1/turn: the call still carries media, and coturn
 * allocated a relay for each of them with mesh-server's credentials.  Only
 * relayed candidates exist, so every packet went through coturn. */
static void
test_relay_only_call (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshTestCoturn) coturn = NULL;
  g_autoptr(MeshTestMediaServer) server = NULL;
  g_autoptr(MeshTestEngine) alice = NULL;
  g_autoptr(MeshTestEngine) bob = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *config = NULL;
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *room_id = NULL;
  const char *members[2] = { NULL, NULL };
  Flow flow = { 0, };
  Closing closing = { 0, };
  guint refreshes;

  coturn = coturn_start ("127.0.0.1", FALSE, &uri, &config);
  if (coturn == NULL)
    return;
  server = mesh_test_media_server_new ("127.0.0.1", config);
  g_free (mesh_test_media_server_add_user (server, "alice", "correct horse"));
  g_free (mesh_test_media_server_add_user (server, "bob", "correct horse"));
  mesh_test_media_server_start (server);
  alice_token = mesh_test_media_server_login (server, "alice", "correct horse");
  bob_token = mesh_test_media_server_login (server, "bob", "correct horse");
  members[0] = bob_token;
  room_id = mesh_test_media_server_shared_room (server, alice_token, members);

  alice = mesh_test_engine_new (server, "alice", "correct horse", room_id, "127.0.0.1", 320, 240);
  bob = mesh_test_engine_new (server, "bob", "correct horse", room_id, "127.0.0.1", 320, 240);
  g_object_set (alice->engine, "ice-transport-policy", GST_WEBRTC_ICE_TRANSPORT_POLICY_RELAY,
                NULL);
  g_object_set (bob->engine, "ice-transport-policy", GST_WEBRTC_ICE_TRANSPORT_POLICY_RELAY,
                NULL);
  bob->auto_accept = TRUE;
  mesh_test_media_pump (300);

  g_assert_nonnull (mesh_call_engine_start_call (alice->engine, room_id, NULL, &error));
  g_assert_no_error (error);
  flow.engines[0] = alice;
  flow.engines[1] = bob;
  if (!mesh_test_wait_for (both_receive, &flow, 45000))
    g_error ("relayed call: alice decoded %" G_GUINT64_FORMAT " video frames / %" G_GUINT64_FORMAT
             " audio buffers, bob %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT
             " (coturn allocations: %u)", flow.video[0], flow.audio[0], flow.video[1],
             flow.audio[1], mesh_test_coturn_count_log (coturn, "ALLOCATE processed, success"));
  g_test_message ("relayed: alice decoded %" G_GUINT64_FORMAT " video frames, bob %"
                  G_GUINT64_FORMAT, flow.video[0], flow.video[1]);

  /* Each side allocated a relay with its own mesh-server credentials. */
  {
    g_autofree char *alice_user = g_strdup_printf (":%s>: incoming packet ALLOCATE processed, "
                                                   "success", alice->user_id);
    g_autofree char *bob_user = g_strdup_printf (":%s>: incoming packet ALLOCATE processed, "
                                                 "success", bob->user_id);

    g_assert_cmpuint (mesh_test_coturn_count_log (coturn, alice_user), >, 0);
    g_assert_cmpuint (mesh_test_coturn_count_log (coturn, bob_user), >, 0);
    g_assert_cmpuint (mesh_test_coturn_count_log (coturn, "CREATE_PERMISSION processed, success") +
                      mesh_test_coturn_count_log (coturn, "CHANNEL_BIND processed, success"), >, 0);
  }

  /* Hanging up gives the relays back: each side's agent deallocates
   * (a REFRESH with lifetime 0) instead of leaving its allocation on coturn
   * with its refreshes still scheduled (libnice then warns, fatal here). */
  refreshes = mesh_test_coturn_count_log (coturn, "REFRESH processed, success");
  mesh_call_engine_hang_up_all (alice->engine);
  g_assert_true (mesh_test_wait_for (no_calls, &flow, 10000));
  closing.coturn = coturn;
  closing.before = refreshes;
  if (!mesh_test_wait_for (relays_released, &closing, 10000))
    g_error ("coturn saw %u deallocations after the call (want 2)",
             mesh_test_coturn_count_log (coturn, "REFRESH processed, success") - refreshes);
  g_clear_pointer (&alice, mesh_test_engine_free);
  g_clear_pointer (&bob, mesh_test_engine_free);
  mesh_test_media_pump (300);
}
#endif

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/turn/coturn-accepts-credentials", test_coturn_accepts_credentials);
  g_test_add_func ("/turn/aiortc-through-coturn", test_aiortc_through_coturn);
#ifdef MESH_TEST_WITH_ENGINE
  gst_init (&argc, &argv);
  g_test_add_func ("/turn/relay-only-call", test_relay_only_call);
#endif

  return g_test_run ();
}
