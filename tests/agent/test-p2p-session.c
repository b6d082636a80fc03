/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-error.h"
#include "mesh-p2p-session-private.h"

/* A session says what it is with properties a watcher can follow. */

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              guint      *count)
{
  (*count)++;
}

static void
test_kinds (void)
{
  MeshP2pKind kind;

  g_assert_true (mesh_p2p_kind_from_string ("folder", &kind));
  g_assert_cmpint (kind, ==, MESH_P2P_KIND_FOLDER);
  g_assert_false (mesh_p2p_kind_from_string ("zip", &kind));
  g_assert_false (mesh_p2p_kind_from_string (NULL, &kind));
  g_assert_cmpstr (mesh_p2p_kind_to_string (MESH_P2P_KIND_TERMINAL), ==, "terminal");
  g_assert_cmpstr (mesh_p2p_role_to_string (MESH_P2P_ROLE_SERVER), ==, "server");
}

/* Every kind has an engine in both roles, and only clients ask for a capability. */
static void
test_engines (void)
{
  for (MeshP2pKind kind = MESH_P2P_KIND_FILE; kind <= MESH_P2P_KIND_TERMINAL; kind++) {
    const MeshP2pEngine *client = mesh_p2p_engine_lookup (kind, MESH_P2P_ROLE_CLIENT);
    const MeshP2pEngine *server = mesh_p2p_engine_lookup (kind, MESH_P2P_ROLE_SERVER);

    g_assert_nonnull (client->start);
    g_assert_nonnull (client->discard);
    g_assert_nonnull (client->cap);
    g_assert_nonnull (server->start);
    g_assert_nonnull (server->discard);
    g_assert_null (server->cap);
  }
  g_assert_cmpstr (mesh_p2p_engine_lookup (MESH_P2P_KIND_TERMINAL, MESH_P2P_ROLE_CLIENT)->cap,
                   ==, "terminal:view");
}

static void
test_properties (void)
{
  g_autoptr(MeshP2pSession) session = mesh_p2p_session_new (MESH_P2P_KIND_FILE,
                                                            MESH_P2P_ROLE_CLIENT);
  g_autoptr(GError) error = g_error_new_literal (MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED, "no");
  g_autoptr(GError) read = NULL;
  guint states = 0, progress = 0, ids = 0;
  MeshP2pState state;

  g_signal_connect (session, "notify::state", G_CALLBACK (count_notify), &states);
  g_signal_connect (session, "notify::bytes-done", G_CALLBACK (count_notify), &progress);
  g_signal_connect (session, "notify::session-id", G_CALLBACK (count_notify), &ids);
  g_assert_cmpint (mesh_p2p_session_get_state (session), ==, MESH_P2P_STATE_REQUESTING);
  g_assert_null (mesh_p2p_session_get_session_id (session));

  mesh_p2p_session_set_id (session, "s1");
  mesh_p2p_session_set_id (session, "s1");
  g_assert_cmpuint (ids, ==, 1);
  mesh_p2p_session_set_state (session, MESH_P2P_STATE_RUNNING, NULL);
  mesh_p2p_session_set_progress (session, 10, 100);
  mesh_p2p_session_set_progress (session, 50, 100);
  g_assert_cmpuint (progress, ==, 2);
  g_assert_cmpuint (mesh_p2p_session_get_bytes_done (session), ==, 50);
  g_assert_cmpuint (mesh_p2p_session_get_bytes_total (session), ==, 100);
  g_assert_false (mesh_p2p_session_is_finished (session));

  mesh_p2p_session_set_state (session, MESH_P2P_STATE_FAILED, error);
  g_assert_cmpuint (states, ==, 2);
  g_assert_true (mesh_p2p_session_is_finished (session));
  g_object_get (session, "state", &state, "error", &read, NULL);
  g_assert_cmpint (state, ==, MESH_P2P_STATE_FAILED);
  g_assert_error (read, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mesh/agent/p2p-session/kinds", test_kinds);
  g_test_add_func ("/mesh/agent/p2p-session/engines", test_engines);
  g_test_add_func ("/mesh/agent/p2p-session/properties", test_properties);
  return g_test_run ();
}
