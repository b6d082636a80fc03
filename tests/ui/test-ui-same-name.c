/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "test-ui-private.h"

#include <string.h>

static gboolean
transfer_done (gpointer user_data)
{
  return mesh_transfer_get_state (user_data) == MESH_TRANSFER_DONE;
}

/* Keeps the session id of the offer bob's asking device was asked about. */
static void
offer_id_cb (MeshAgentController *controller,
             const char          *session_id,
             const char          *kind,
             const char          *room_id,
             const char          *sender,
             const char          *device_id,
             const char          *name,
             guint64              size,
             char               **out)
{
  g_free (*out);
  *out = g_strdup (session_id);
}

static gboolean
string_is_set (gpointer user_data)
{
  return *(char **) user_data != NULL;
}

/* Bob in the Lab with two devices: one in this process that asks its user
 * before it takes a file (the test follows its "session-offered"), one
 * that takes alice's files at once into TMP/bob-downloads; alice's window
 * in the Lab; a file named same.bin in TMP/one and another in TMP/two. */
typedef struct {
  Lab                  lab;
  MeshAgentController *asker;
  MeshAgentState      *taker;
  GSubprocess         *run;
  MeshEmbeddedAgent   *agent;
  GFile               *files[2];
} SameNames;

static void
same_names_start (SameNames  *t,
                  const char *tmp_template,
                  const char *first,
                  gssize      first_len,
                  const char *second,
                  GCallback   offered,
                  gpointer    offered_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *asker_state = NULL;
  g_autofree char *taker_dir = NULL;
  const char *contents[2] = { first, second };
  gssize lengths[2] = { first_len, -1 };

  lab_start (&t->lab, tmp_template);
  asker_state = g_build_filename (t->lab.tmp, "bob-asks", NULL);
  taker_dir = g_build_filename (t->lab.tmp, "bob-takes", NULL);
  lab_login_bob (&t->lab, asker_state, "asks");
  lab_login_bob (&t->lab, taker_dir, "takes");
  for (guint i = 0; i < 2; i++) {
    g_autofree char *dir = g_build_filename (t->lab.tmp, i == 0 ? "one" : "two", NULL);
    g_autofree char *path = g_build_filename (dir, "same.bin", NULL);

    g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
    g_assert_true (g_file_set_contents (path, contents[i], lengths[i], &error));
    g_assert_no_error (error);
    t->files[i] = g_file_new_for_path (path);
  }

  t->asker = start_agent_here (asker_state);
  mesh_agent_controller_set_ask_offers (t->asker, TRUE);
  g_signal_connect (t->asker, "session-offered", offered, offered_data);
  ui_test_wait_until (agent_here_ready, t->asker, UI_TEST_WAIT_S, "bob's asking agent");
  t->run = ui_test_agent_run (taker_dir, t->lab.bob_downloads, "alice");
  t->taker = mesh_agent_state_new (taker_dir);
  g_assert_true (mesh_agent_state_load (t->taker, &error));
  g_assert_no_error (error);

  t->agent = lab_enter (&t->lab);
  lab_wait_bob_device (&t->lab, NULL);
}

/* Alice sends TMP/one/same.bin to bob's asking device (@i = 0) or
 * TMP/two/same.bin to his taking one (@i = 1). */
static MeshTransfer *
same_names_send (SameNames *t,
                 guint      i)
{
  const char *device_id = i == 0 ? mesh_agent_controller_get_device_id (t->asker)
                                 : mesh_agent_state_get_device_id (t->taker);

  return g_object_ref (mesh_embedded_agent_send (t->agent, t->lab.bob.room_id, device_id, "bob",
                                                 t->files[i]));
}

static void
same_names_stop (SameNames *t)
{
  ui_test_stop_agent (t->run);
  mesh_agent_controller_stop (t->asker);
  lab_stop (&t->lab);
  g_clear_object (&t->run);
  g_clear_object (&t->asker);
  g_clear_object (&t->taker);
  g_clear_object (&t->files[0]);
  g_clear_object (&t->files[1]);
}

/* Two sends of files with the same name: each row shows its own progress
 * (they were matched by name, so the first row took the second's). */
static void
test_same_name_progress (void)
{
  const char *data2 = "the second one, longer than the first";
  g_autoptr(MeshTransfer) first = NULL;
  g_autoptr(MeshTransfer) second = NULL;
  g_autofree char *offer = NULL;
  SameNames t = { { NULL } };

  /* Bob's asking device asks its user, who never answers. */
  same_names_start (&t, "mesh-ui-names-XXXXXX", "the first one", -1, data2,
                    G_CALLBACK (offer_id_cb), &offer);
  first = same_names_send (&t, 0);
  ui_test_wait_until (string_is_set, &offer, UI_TEST_WAIT_S, "bob to be asked");
  second = same_names_send (&t, 1);
  ui_test_wait_until (transfer_done, second, UI_TEST_WAIT_S, "the second file");
  g_assert_cmpuint (mesh_transfer_get_size (second), ==, strlen (data2));
  g_assert_cmpuint (mesh_transfer_get_done (second), ==, strlen (data2));
  /* The first still waits for bob's answer, untouched by the second's progress. */
  g_assert_cmpint (mesh_transfer_get_state (first), ==, MESH_TRANSFER_WAITING);
  g_assert_cmpuint (mesh_transfer_get_done (first), ==, 0);

  mesh_transfer_cancel (first);
  same_names_stop (&t);
}

/* The largest "done" a row ever showed: another send's progress would push
 * it past its own size. */
static void
record_done_cb (MeshTransfer *transfer,
                GParamSpec   *pspec,
                guint64      *most)
{
  *most = MAX (*most, mesh_transfer_get_done (transfer));
}

/* Two files of the same name sent at once, to two devices: the second
 * finishes while the first still waits for its receiver, then the first
 * runs.  Each row shows its own file's progress and ends with its own
 * size, and both files arrive whole (rows were matched to sessions by
 * name: the first row took the second's session and the second row none). */
static void
test_same_name_both_complete (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshTransfer) first = NULL;
  g_autoptr(MeshTransfer) second = NULL;
  g_autoptr(GFile) asker_downloads = NULL;
  g_autofree char *asked_downloads = NULL;
  g_autofree char *got1 = NULL, *got2 = NULL;
  g_autofree char *contents1 = NULL, *contents2 = NULL, *offer = NULL;
  g_autofree char *data1 = NULL;
  const char *data2 = "the second one, shorter";
  gsize size1 = 256 * 1024, len = 0;
  guint64 most1 = 0, most2 = 0;
  SameNames t = { { NULL } };

  data1 = g_malloc (size1);
  for (gsize i = 0; i < size1; i++)
    data1[i] = (char) ('a' + i % 26);
  /* Bob's asking device is answered late, by the test. */
  same_names_start (&t, "mesh-ui-names2-XXXXXX", data1, size1, data2,
                    G_CALLBACK (offer_id_cb), &offer);
  asked_downloads = g_build_filename (t.lab.tmp, "bob-asked-downloads", NULL);
  got1 = g_build_filename (asked_downloads, "same.bin", NULL);
  got2 = g_build_filename (t.lab.bob_downloads, "same.bin", NULL);
  g_assert_cmpint (g_mkdir_with_parents (asked_downloads, 0700), ==, 0);

  /* Both at once: nothing happens in between. */
  first = same_names_send (&t, 0);
  second = same_names_send (&t, 1);
  g_signal_connect (first, "notify::done", G_CALLBACK (record_done_cb), &most1);
  g_signal_connect (second, "notify::done", G_CALLBACK (record_done_cb), &most2);

  ui_test_wait_until (transfer_done, second, UI_TEST_WAIT_S, "the second file");
  ui_test_wait_until (string_is_set, &offer, UI_TEST_WAIT_S, "bob to be asked");
  g_assert_cmpint (mesh_transfer_get_state (first), ==, MESH_TRANSFER_WAITING);
  g_assert_cmpuint (mesh_transfer_get_done (first), ==, 0);

  asker_downloads = g_file_new_for_path (asked_downloads);
  g_assert_true (mesh_agent_controller_answer_offer (t.asker, offer, asker_downloads));
  ui_test_wait_until (transfer_done, first, UI_TEST_WAIT_S, "the first file");

  g_assert_cmpuint (mesh_transfer_get_size (first), ==, size1);
  g_assert_cmpuint (mesh_transfer_get_done (first), ==, size1);
  g_assert_cmpuint (most1, ==, size1);
  g_assert_null (mesh_transfer_get_error (first));
  g_assert_cmpuint (mesh_transfer_get_size (second), ==, strlen (data2));
  g_assert_cmpuint (mesh_transfer_get_done (second), ==, strlen (data2));
  g_assert_cmpuint (most2, ==, strlen (data2));
  g_assert_null (mesh_transfer_get_error (second));

  g_assert_true (g_file_get_contents (got1, &contents1, &len, &error));
  g_assert_cmpmem (contents1, len, data1, size1);
  g_assert_true (g_file_get_contents (got2, &contents2, &len, &error));
  g_assert_cmpmem (contents2, len, data2, strlen (data2));

  same_names_stop (&t);
}

/* Two sends of files with the same name, each followed by its own row. */
void
test_ui_add_same_name_tests (void)
{
  g_test_add_func ("/mesh/ui/transfer-same-name-progress", test_same_name_progress);
  g_test_add_func ("/mesh/ui/transfer-same-name-both-complete", test_same_name_both_complete);
}
