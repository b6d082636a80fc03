/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-interop"

#include "config.h"

#include "test-interop-engine.h"

static void
store_result (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

typedef struct {
  MeshTestEngine *self;
  MeshCall       *call;
} Accept;

static gboolean
accept_cb (gpointer data)
{
  Accept *accept = data;

  if (mesh_call_get_state (accept->call) == MESH_CALL_STATE_RINGING)
    mesh_call_accept (accept->call);
  g_object_unref (accept->call);
  g_free (accept);
  return G_SOURCE_REMOVE;
}

static void
on_incoming_call (MeshCallEngine *engine,
                  MeshCall       *call,
                  MeshTestEngine *self)
{
  g_set_object (&self->incoming, call);
  self->incoming_at = g_get_monotonic_time ();
  if (self->auto_accept) {
    Accept *accept = g_new0 (Accept, 1);

    /* Not from inside the engine's own signal emission. */
    accept->self = self;
    accept->call = g_object_ref (call);
    g_idle_add (accept_cb, accept);
  }
}

static GstElement *
parse_bin (const char *description)
{
  g_autoptr(GError) error = NULL;
  GstElement *bin = gst_parse_bin_from_description (description, TRUE, &error);

  g_assert_no_error (error);
  return bin;
}

MeshTestEngine *
mesh_test_engine_new (MeshTestMediaServer *server,
                      const char          *username,
                      const char          *password,
                      const char          *room_id,
                      const char          *local_address,
                      int                  width,
                      int                  height)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) login = NULL;
  g_autoptr(GAsyncResult) connected = NULL;
  g_autoptr(GAsyncResult) joined = NULL;
  g_autofree char *camera = NULL;
  MeshTestEngine *self = g_new0 (MeshTestEngine, 1);

  self->rest = mesh_client_rest_new (mesh_test_media_server_get_url (server));
  mesh_client_rest_set_pinned_fingerprint (self->rest,
                                           mesh_test_media_server_get_fingerprint (server));
  mesh_client_rest_login_async (self->rest, username, password, NULL, store_result, &login);
  mesh_client_rest_login_finish (self->rest, wait_result (&login), &error);
  g_assert_no_error (error);
  self->user_id = g_strdup (mesh_client_rest_get_user_id (self->rest));

  self->session = mesh_client_session_new (self->rest);
  mesh_client_session_connect_async (self->session, NULL, store_result, &connected);
  mesh_client_session_connect_finish (self->session, wait_result (&connected), &error);
  g_assert_no_error (error);
  mesh_client_session_join_room_async (self->session, room_id, NULL, store_result, &joined);
  mesh_client_session_join_room_finish (self->session, wait_result (&joined), &error);
  g_assert_no_error (error);

  self->engine = mesh_call_engine_new (self->session);
  /* Interop and relaying are what these runs test; echo cancellation has
   * tests of its own (test-call), and the bench turns it back on. */
  g_object_set (self->engine, "local-address", local_address, "echo-cancel", FALSE, NULL);
  g_signal_connect (self->engine, "incoming-call", G_CALLBACK (on_incoming_call), self);
  camera = g_strdup_printf ("videotestsrc is-live=true pattern=ball ! "
                            "capsfilter caps=video/x-raw,width=%d,height=%d,framerate=30/1", width,
                            height);
  mesh_call_engine_set_camera (self->engine, parse_bin (camera));
  mesh_call_engine_set_microphone (self->engine,
                                   parse_bin ("audiotestsrc is-live=true wave=sine volume=0.2 "
                                              "samplesperbuffer=960"));
  mesh_call_engine_set_speaker (self->engine, gst_element_factory_make ("fakesink", NULL));
  return self;
}

void
mesh_test_engine_free (MeshTestEngine *self)
{
  if (self == NULL)
    return;
  if (self->engine != NULL) {
    mesh_call_engine_hang_up_all (self->engine);
    g_signal_handlers_disconnect_by_data (self->engine, self);
  }
  g_clear_object (&self->incoming);
  g_clear_object (&self->engine);
  if (self->session != NULL)
    mesh_client_session_disconnect (self->session);
  g_clear_object (&self->session);
  g_clear_object (&self->rest);
  g_free (self->user_id);
  g_free (self);
}

guint
mesh_test_engine_n_calls (MeshTestEngine *self)
{
  return g_list_model_get_n_items (mesh_call_engine_get_calls (self->engine));
}

MeshCallPeer *
mesh_test_engine_dup_peer (MeshTestEngine *self)
{
  GListModel *calls = mesh_call_engine_get_calls (self->engine);
  g_autoptr(MeshCall) call = NULL;

  if (g_list_model_get_n_items (calls) == 0)
    return NULL;
  call = g_list_model_get_item (calls, 0);
  if (g_list_model_get_n_items (mesh_call_get_peers (call)) == 0)
    return NULL;
  return g_list_model_get_item (mesh_call_get_peers (call), 0);
}

static gboolean
tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
mesh_test_wait_for (gboolean (*check) (gpointer data),
                    gpointer   data,
                    guint      timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, set_flag, &timed_out);
  /* What @check reads may change without an event of ours: look again
   * every 50 ms. */
  guint ticker = g_timeout_add (50, tick, NULL);
  gboolean done;

  while (!(done = check (data)) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_source_remove (ticker);
  return done;
}
