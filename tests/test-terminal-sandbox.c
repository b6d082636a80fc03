/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Terminal sharing inside a Flatpak sandbox: the host's login shell through
 * flatpak-spawn --host, and a first line saying which shell is shared.  A
 * stand-in flatpak-spawn on PATH answers `getent passwd` and reports how it
 * was asked to run the shell. */
#define G_LOG_DOMAIN "test-terminal-sandbox"

#include "config.h"

#include "mesh-terminal-host.h"

#include <glib/gstdio.h>
#include <locale.h>
#include <string.h>

typedef struct {
  char *dir;
  char *old_path;
} Fixture;

/* @passwd_shell: what `getent passwd` answers; NULL for a host where that
 * fails (no such user, no getent). */
static void
fixture_set_up (Fixture       *f,
                gconstpointer  passwd_shell)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *spawn = NULL;
  g_autofree char *script = NULL;
  g_autofree char *info = NULL;
  g_autofree char *path = NULL;
  g_autofree char *getent = NULL;

  f->dir = g_dir_make_tmp ("mesh-sandbox-XXXXXX", &error);
  g_assert_no_error (error);
  getent = passwd_shell != NULL
    ? g_strdup_printf ("[ \"$2 $3\" = \"passwd %u\" ] && echo \"me:x:%u:%u:Me:/home/me:%s\"; exit $?",
                       (guint) getuid (), (guint) getuid (), (guint) getgid (),
                       (const char *) passwd_shell)
    : g_strdup ("exit 2");
  script = g_strdup_printf (
    "#!/bin/sh\n"
    "[ \"$1\" = --host ] || { echo 'not --host' >&2; exit 64; }\n"
    "shift\n"
    "if [ \"$1\" = getent ]; then\n"
    "  %s\n"
    "fi\n"
    /* The host shell can only get the PTY as its controlling terminal if
     * flatpak-spawn has not taken it. */
    "[ -t 0 ] && echo 'stdin is a terminal'\n"
    "if (: </dev/tty) 2>/dev/null; then echo 'controlling terminal: taken'; "
    "else echo 'controlling terminal: free'; fi\n"
    "while [ $# -gt 0 ]; do\n"
    "  case \"$1\" in --*) echo \"option $1\" ;; *) break ;; esac\n"
    "  shift\n"
    "done\n"
    "echo \"host runs $*\"\n",
    getent);
  spawn = g_build_filename (f->dir, "flatpak-spawn", NULL);
  g_file_set_contents (spawn, script, -1, &error);
  g_assert_no_error (error);
  g_assert_no_errno (g_chmod (spawn, 0755));
  info = g_build_filename (f->dir, "flatpak-info", NULL);
  g_file_set_contents (info, "[Application]\nname=org.mesh.Mesh\n", -1, &error);
  g_assert_no_error (error);

  f->old_path = g_strdup (g_getenv ("PATH"));
  path = g_strdup_printf ("%s:%s", f->dir, f->old_path);
  g_setenv ("PATH", path, TRUE);
  g_setenv ("MESH_TEST_FLATPAK_INFO", info, TRUE);
  g_setenv ("SHELL", "/bin/from-shell-variable", TRUE);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_autofree char *spawn = g_build_filename (f->dir, "flatpak-spawn", NULL);
  g_autofree char *info = g_build_filename (f->dir, "flatpak-info", NULL);

  g_setenv ("PATH", f->old_path, TRUE);
  g_unsetenv ("MESH_TEST_FLATPAK_INFO");
  g_unlink (spawn);
  g_unlink (info);
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->old_path);
}

static void
on_output (MeshTerminalHost *host,
           GBytes           *bytes,
           GString          *out)
{
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  g_string_append_len (out, data, len);
}

/* Runs the default shell to its end; returns the scrollback and the output. */
static char *
run_default_shell (void)
{
  g_autoptr(MeshTerminalHost) host = mesh_terminal_host_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) first = NULL;
  GString *out = g_string_new (NULL);

  /* What is there before the shell wrote anything: what a viewer is sent first. */
  first = mesh_terminal_host_get_scrollback (host);
  /* Said before the shell runs (and before a host shell is started at all). */
  g_assert_cmpuint (g_bytes_get_size (first), >, 0);
  g_string_append_len (out, g_bytes_get_data (first, NULL), g_bytes_get_size (first));
  g_string_append (out, "|");
  g_signal_connect (host, "output", G_CALLBACK (on_output), out);
  mesh_terminal_host_start (host, 80, 24, &error);
  g_assert_no_error (error);
  while (mesh_terminal_host_is_running (host))
    g_main_context_iteration (NULL, TRUE);
  return g_string_free (out, FALSE);
}

static void
test_host_login_shell (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *out = run_default_shell ();

  g_test_message ("%s", out);
  g_assert_true (g_str_has_prefix (out, "Mesh: sharing the host's shell /usr/bin/host-login-shell "
                                        "(through flatpak-spawn --host)\r\n|"));
  g_assert_nonnull (strstr (out, "host runs /usr/bin/host-login-shell\r\n"));
  g_assert_nonnull (strstr (out, "option --watch-bus"));
  g_assert_nonnull (strstr (out, "option --env=TERM=xterm-256color"));
  g_assert_nonnull (strstr (out, "stdin is a terminal"));
  g_assert_nonnull (strstr (out, "controlling terminal: free"));
}

static void
test_shell_variable (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *out = run_default_shell ();

  g_test_message ("%s", out);
  g_assert_true (g_str_has_prefix (out, "Mesh: sharing the host's shell /bin/from-shell-variable "));
  g_assert_nonnull (strstr (out, "host runs /bin/from-shell-variable\r\n"));
}

/* A shell name that would drive the viewers' terminals is shown escaped. */
static void
test_escaped (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *out = run_default_shell ();
  const char *line_end = strstr (out, "\r\n");

  g_test_message ("%s", out);
  g_assert_nonnull (line_end);
  g_assert_null (memchr (out, '\x1b', line_end - out));
  g_assert_nonnull (strstr (out, "/bin/sh\\x1b[2J"));
}

/* Outside a sandbox nothing changes: the command runs as it is, unannounced. */
static void
test_outside_sandbox (void)
{
  const char *argv[] = { "/bin/sh", "-c", "echo plain", NULL };
  g_autoptr(MeshTerminalHost) host = NULL;
  g_autoptr(GBytes) first = NULL;

  g_unsetenv ("MESH_TEST_FLATPAK_INFO");
  g_setenv ("SHELL", "/bin/sh", TRUE);
  host = mesh_terminal_host_new (NULL);
  first = mesh_terminal_host_get_scrollback (host);
  g_assert_cmpuint (g_bytes_get_size (first), ==, 0);
  g_clear_object (&host);

  /* An explicit command is run as given even inside a sandbox. */
  host = mesh_terminal_host_new (argv);
  g_clear_pointer (&first, g_bytes_unref);
  first = mesh_terminal_host_get_scrollback (host);
  g_assert_cmpuint (g_bytes_get_size (first), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/terminal-sandbox/host-login-shell", Fixture, "/usr/bin/host-login-shell",
              fixture_set_up, test_host_login_shell, fixture_tear_down);
  g_test_add ("/terminal-sandbox/shell-variable", Fixture, NULL,
              fixture_set_up, test_shell_variable, fixture_tear_down);
  g_test_add ("/terminal-sandbox/escaped", Fixture, "/bin/sh\x1b[2J",
              fixture_set_up, test_escaped, fixture_tear_down);
  g_test_add_func ("/terminal-sandbox/outside", test_outside_sandbox);
  return g_test_run ();
}
