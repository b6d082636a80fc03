/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench/call-setup: two call engines in one process on loopback, through a
 * real mesh-server (TLS on 127.0.0.1).  N calls: from the caller's
 * mesh_call_engine_start_call () (the offer is made and sent from there)
 * to the first decoded video frame at the callee, which accepts at once;
 * then one 720p30 two-party call held for a while, and the CPU time of the
 * process (both ends: capture, encode, send, receive, decode, convert for
 * display) over it.  Method and results: bench/README.md, "call-setup".
 *
 * Last line: call-setup setup_ms=… setup_p95_ms=… cpu_percent=… */
#define G_LOG_DOMAIN "call-setup"

#include "config.h"

#include "test-interop-engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define PASSWORD "correct horse"

typedef struct {
  MeshTestEngine *callee;
  gint64          first_frame_at;   /* monotonic µs, 0 until then */
} Watch;

static void
on_frame (MeshVideoOutput *output,
          Watch           *watch)
{
  if (watch->first_frame_at == 0)
    watch->first_frame_at = g_get_monotonic_time ();
}

static void
watch_peer (Watch        *watch,
            MeshCallPeer *peer)
{
  MeshVideoOutput *video = mesh_call_peer_get_video (peer);

  if (mesh_video_output_get_frames (video) > 0 && watch->first_frame_at == 0)
    watch->first_frame_at = g_get_monotonic_time ();
  g_signal_connect (video, "frame", G_CALLBACK (on_frame), watch);
}

static void
on_peers_changed (GListModel *peers,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Watch      *watch)
{
  for (guint i = position; i < position + added; i++) {
    g_autoptr(MeshCallPeer) peer = g_list_model_get_item (peers, i);

    watch_peer (watch, peer);
  }
}

static void
on_calls_changed (GListModel *calls,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Watch      *watch)
{
  for (guint i = position; i < position + added; i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (calls, i);
    GListModel *peers = mesh_call_get_peers (call);

    g_signal_connect (peers, "items-changed", G_CALLBACK (on_peers_changed), watch);
    on_peers_changed (peers, 0, 0, g_list_model_get_n_items (peers), watch);
  }
}

static gboolean
got_frame (gpointer data)
{
  return ((Watch *) data)->first_frame_at != 0;
}

typedef struct {
  MeshTestEngine *engines[2];
} Pair;

static gboolean
no_calls (gpointer data)
{
  Pair *pair = data;

  return mesh_test_engine_n_calls (pair->engines[0]) == 0 &&
         mesh_test_engine_n_calls (pair->engines[1]) == 0;
}

static gboolean
both_decode (gpointer data)
{
  Pair *pair = data;

  for (guint i = 0; i < 2; i++) {
    g_autoptr(MeshCallPeer) peer = mesh_test_engine_dup_peer (pair->engines[i]);

    if (peer == NULL || mesh_video_output_get_frames (mesh_call_peer_get_video (peer)) == 0)
      return FALSE;
  }
  return TRUE;
}

static guint64
decoded_frames (MeshTestEngine *engine)
{
  g_autoptr(MeshCallPeer) peer = mesh_test_engine_dup_peer (engine);

  return peer != NULL ? mesh_video_output_get_frames (mesh_call_peer_get_video (peer)) : 0;
}

static double
cpu_seconds (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static int
compare_double (const void *a,
                const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @values. */
static double
percentile (const double *values,
            guint         n,
            double        p)
{
  guint rank = (guint) (p / 100.0 * n + 0.999999);

  return values[CLAMP (rank, 1, n) - 1];
}

static guint
env_uint (const char *name,
          guint       fallback)
{
  const char *value = g_getenv (name);

  return value != NULL && *value != '\0' ? (guint) g_ascii_strtoull (value, NULL, 10) : fallback;
}

int
main (int   argc,
      char *argv[])
{
  guint runs = env_uint ("CALL_SETUP_RUNS", 20);
  guint hold_s = env_uint ("CALL_SETUP_CPU_SECONDS", 20);
  int width = (int) env_uint ("CALL_SETUP_WIDTH", 1280);
  int height = (int) env_uint ("CALL_SETUP_HEIGHT", 720);
  g_autoptr(MeshTestMediaServer) server = NULL;
  g_autoptr(MeshTestEngine) alice = NULL;
  g_autoptr(MeshTestEngine) bob = NULL;
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *room_id = NULL;
  g_autofree double *setup_ms = NULL;
  const char *members[2] = { NULL, NULL };
  Watch watch = { 0, };
  Pair pair;
  guint done = 0, failed = 0;
  double cpu_before, cpu_after, cpu_percent;
  gint64 wall_before, wall_after;
  guint64 frames_before[2], frames_after[2];
  double load[3] = { 0, 0, 0 };

  gst_init (&argc, &argv);
  if (runs == 0)
    runs = 1;
  setup_ms = g_new0 (double, runs);

  server = mesh_test_media_server_new ("127.0.0.1", NULL);
  g_free (mesh_test_media_server_add_user (server, "alice", PASSWORD));
  g_free (mesh_test_media_server_add_user (server, "bob", PASSWORD));
  mesh_test_media_server_start (server);
  alice_token = mesh_test_media_server_login (server, "alice", PASSWORD);
  bob_token = mesh_test_media_server_login (server, "bob", PASSWORD);
  members[0] = bob_token;
  room_id = mesh_test_media_server_shared_room (server, alice_token, members);

  alice = mesh_test_engine_new (server, "alice", PASSWORD, room_id, "127.0.0.1", width, height);
  bob = mesh_test_engine_new (server, "bob", PASSWORD, room_id, "127.0.0.1", width, height);
  bob->auto_accept = TRUE;
  /* As the app runs: echo cancellation on, unless CALL_SETUP_ECHO_CANCEL=0. */
  g_object_set (alice->engine, "echo-cancel", env_uint ("CALL_SETUP_ECHO_CANCEL", 1) != 0, NULL);
  g_object_set (bob->engine, "echo-cancel", env_uint ("CALL_SETUP_ECHO_CANCEL", 1) != 0, NULL);
  pair.engines[0] = alice;
  pair.engines[1] = bob;
  watch.callee = bob;
  g_signal_connect (mesh_call_engine_get_calls (bob->engine), "items-changed",
                    G_CALLBACK (on_calls_changed), &watch);
  mesh_test_media_pump (500);

  for (guint i = 0; i < runs; i++) {
    g_autoptr(GError) error = NULL;
    MeshCall *call;
    gint64 start;

    watch.first_frame_at = 0;
    bob->incoming_at = 0;
    start = g_get_monotonic_time ();
    call = mesh_call_engine_start_call (alice->engine, room_id, NULL, &error);
    if (call == NULL)
      g_error ("call %u: %s", i + 1, error->message);
    if (mesh_test_wait_for (got_frame, &watch, 30000)) {
      setup_ms[done++] = (watch.first_frame_at - start) / 1000.0;
      /* Where the time went: until the offer rang at the callee, then
       * until its first frame. */
      fprintf (stderr, "call %2u: %.1f ms (ringing after %.1f ms)\n", i + 1, setup_ms[done - 1],
               bob->incoming_at != 0 ? (bob->incoming_at - start) / 1000.0 : -1.0);
    } else {
      failed++;
      fprintf (stderr, "call %2u: no video frame within 30 s\n", i + 1);
    }
    mesh_call_engine_hang_up_all (alice->engine);
    if (!mesh_test_wait_for (no_calls, &pair, 15000))
      g_error ("call %u did not end on both sides", i + 1);
    mesh_test_media_pump (300);
  }
  if (done == 0)
    g_error ("no call decoded a frame");
  qsort (setup_ms, done, sizeof *setup_ms, compare_double);

  /* The held call: both decoding, a second to settle, then measure. */
  {
    g_autoptr(GError) error = NULL;

    if (mesh_call_engine_start_call (alice->engine, room_id, NULL, &error) == NULL)
      g_error ("held call: %s", error->message);
  }
  if (!mesh_test_wait_for (both_decode, &pair, 30000))
    g_error ("held call: no video both ways");
  mesh_test_media_pump (2000);
  frames_before[0] = decoded_frames (alice);
  frames_before[1] = decoded_frames (bob);
  cpu_before = cpu_seconds ();
  wall_before = g_get_monotonic_time ();
  mesh_test_media_pump (hold_s * 1000);
  cpu_after = cpu_seconds ();
  wall_after = g_get_monotonic_time ();
  frames_after[0] = decoded_frames (alice);
  frames_after[1] = decoded_frames (bob);
  cpu_percent = (cpu_after - cpu_before) / ((wall_after - wall_before) / 1e6) * 100.0;
  mesh_call_engine_hang_up_all (alice->engine);
  mesh_test_wait_for (no_calls, &pair, 15000);
  if (getloadavg (load, 3) < 0)
    load[0] = load[1] = load[2] = -1;

  printf ("calls: %u set up, %u failed; setup min %.1f ms, median %.1f ms, p95 %.1f ms, "
          "max %.1f ms\n", done, failed, setup_ms[0], percentile (setup_ms, done, 50),
          percentile (setup_ms, done, 95), setup_ms[done - 1]);
  printf ("held %dx%d@30 call for %.1f s: %.1f CPU s, decoded %.1f fps at alice, %.1f fps at "
          "bob; load average %.2f %.2f %.2f, %d CPUs\n", width, height,
          (wall_after - wall_before) / 1e6, cpu_after - cpu_before,
          (frames_after[0] - frames_before[0]) / ((wall_after - wall_before) / 1e6),
          (frames_after[1] - frames_before[1]) / ((wall_after - wall_before) / 1e6),
          load[0], load[1], load[2], g_get_num_processors ());
  printf ("call-setup setup_ms=%.0f setup_p95_ms=%.0f cpu_percent=%.0f\n",
          percentile (setup_ms, done, 50), percentile (setup_ms, done, 95), cpu_percent);

  g_clear_pointer (&alice, mesh_test_engine_free);
  g_clear_pointer (&bob, mesh_test_engine_free);
  return failed == 0 ? 0 : 1;
}
