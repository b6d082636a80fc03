/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-cli"

#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <locale.h>
#include <string.h>

/* The `mesh-agent` binary against a stand-in server whose answers carry names and messages
 * with terminal escape sequences: nothing another party chose reaches the terminal raw. */

#define HOSTILE_NAME "ctl_\033[31mred\r\033]0;owned\007\342\200\256gpj.exe"

typedef struct {
  SoupServer *server;
  char       *url;
  char       *dir;
  gboolean    fail;
} Fixture;

static void
on_request (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  Fixture *fixture = user_data;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *body = NULL;

  if (fixture->fail) {
    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "code");
    json_builder_add_string_value (builder, "FORBIDDEN");
    json_builder_set_member_name (builder, "message");
    json_builder_add_string_value (builder, "denied \033[2J\033[H" HOSTILE_NAME);
    json_builder_end_object (builder);
    soup_server_message_set_status (msg, SOUP_STATUS_FORBIDDEN, NULL);
  } else {
    json_builder_begin_array (builder);
    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "device_id");
    json_builder_add_string_value (builder, "dev-\033[1mid");
    json_builder_set_member_name (builder, "name");
    json_builder_add_string_value (builder, HOSTILE_NAME);
    json_builder_set_member_name (builder, "fingerprint");
    json_builder_add_string_value (builder, "ab\033[0m");
    json_builder_end_object (builder);
    json_builder_end_array (builder);
    soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  }
  root = json_builder_get_root (builder);
  body = json_to_string (root, FALSE);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body,
                                    strlen (body));
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSList) uris = NULL;
  g_autofree char *state = NULL;
  g_autofree char *path = NULL;

  fixture->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fixture->server, "/api/v1/devices", on_request, fixture, NULL);
  soup_server_listen_local (fixture->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (fixture->server);
  fixture->url = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uris->data));
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);

  fixture->dir = g_dir_make_tmp ("mesh-agent-cli-XXXXXX", &error);
  g_assert_no_error (error);
  state = g_strdup_printf ("{\"server_url\": \"%s\", \"username\": \"me\", \"user_id\": \"u1\", "
                           "\"device_id\": \"d1\", \"device_name\": \"mine\", "
                           "\"device_token\": \"t\", \"settings\": {}}", fixture->url);
  path = g_build_filename (fixture->dir, "agent.json", NULL);
  g_assert_true (g_file_set_contents_full (path, state, -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                           &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "agent.json", NULL);

  g_unlink (path);
  g_rmdir (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->url);
  g_clear_object (&fixture->server);
}

typedef struct {
  gboolean  done;
  char     *out;
  char     *err;
  int       status;
} Run;

static void
on_communicated (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, &run->err,
                                        &error);
  g_assert_no_error (error);
  run->status = g_subprocess_get_exit_status (G_SUBPROCESS (source));
  run->done = TRUE;
}

/* Runs `mesh-agent devices` while this thread serves its requests. */
static void
run_devices (Fixture *fixture,
             Run     *run)
{
  g_autofree char *agent = g_test_build_filename (G_TEST_BUILT, "mesh-agent", NULL);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                              &error, agent, "devices", "--state-dir", fixture->dir, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_communicated, run);
  while (!run->done)
    g_main_context_iteration (NULL, TRUE);
  g_test_message ("stdout: %s\nstderr: %s", run->out, run->err);
}

static void
assert_no_controls (const char *text)
{
  /* Newlines end lines and tabs separate columns: ours. */
  for (const char *p = text; *p != '\0'; p++) {
    if (*p == '\n' || *p == '\t')
      continue;
    g_assert_cmpint ((guchar) *p, >=, 0x20);
    g_assert_cmpint ((guchar) *p, !=, 0x7f);
  }
  /* U+202E RIGHT-TO-LEFT OVERRIDE */
  g_assert_null (strstr (text, "\342\200\256"));
}

static void
test_device_names (Fixture       *fixture,
                   gconstpointer  data)
{
  Run run = { 0 };

  run_devices (fixture, &run);
  g_assert_cmpint (run.status, ==, 0);
  assert_no_controls (run.out);
  /* Escaped, not dropped: the user still sees what was there. */
  g_assert_nonnull (strstr (run.out, "ctl_\\x1b[31mred\\x0d\\x1b]0;owned\\x07\\u{202e}gpj.exe"));
  g_assert_nonnull (strstr (run.out, "dev-\\x1b[1mid"));
  g_free (run.out);
  g_free (run.err);
}

static void
test_server_message (Fixture       *fixture,
                     gconstpointer  data)
{
  Run run = { 0 };

  fixture->fail = TRUE;
  run_devices (fixture, &run);
  g_assert_cmpint (run.status, !=, 0);
  assert_no_controls (run.err);
  g_assert_nonnull (strstr (run.err, "denied \\x1b[2J"));
  g_free (run.out);
  g_free (run.err);
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/mesh/agent/cli/device-names", Fixture, NULL, fixture_set_up, test_device_names,
              fixture_tear_down);
  g_test_add ("/mesh/agent/cli/server-message", Fixture, NULL, fixture_set_up,
              test_server_message, fixture_tear_down);

  return g_test_run ();
}
