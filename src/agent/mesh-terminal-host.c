/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-terminal-host"

#include "config.h"

#include "mesh-terminal-host-private.h"

guint host_signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MeshTerminalHost, mesh_terminal_host, G_TYPE_OBJECT)

/* Reads what the PTY holds now, up to READ_SIZE, as one TERM_OUT frame;
 * FALSE once it is closed (EIO on Linux when the last process holding the
 * terminal exited). */
static gboolean
host_read_pty (MeshTerminalHost *self)
{
  g_autofree guint8 *buffer = g_malloc (READ_SIZE);
  gsize have = 0;
  gboolean open = TRUE;

  while (have < READ_SIZE) {
    gssize n = read (self->master, buffer + have, READ_SIZE - have);

    if (n > 0) {
      have += n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    open = n < 0 && errno == EAGAIN;
    break;
  }
  if (have > 0) {
    g_autoptr(GBytes) output = g_bytes_new_take (g_steal_pointer (&buffer), have);

    host_broadcast_output (self, output);
  }
  return open;
}

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static GSource *
add_fd_source (MeshTerminalHost  *self,
               GIOCondition       condition,
               GUnixFDSourceFunc  func)
{
  GSource *source = g_unix_fd_source_new (self->master, condition);

  g_source_set_callback (source, G_SOURCE_FUNC (func), self, NULL);
  g_source_attach (source, self->context);
  return source;
}

static void
host_finish (MeshTerminalHost *self,
             int               status)
{
  g_autoptr(GList) viewers = NULL;

  if (!self->running)
    return;
  self->running = FALSE;
  clear_source (&self->read_source);
  clear_source (&self->stall_source);
  clear_source (&self->write_source);
  if (self->master >= 0) {
    close (self->master);
    self->master = -1;
  }

  viewers = g_hash_table_get_values (self->viewers);
  for (GList *l = viewers; l != NULL; l = l->next)
    host_drop_viewer (self, l->data, TRUE);

  g_signal_emit (self, host_signals[EXITED], 0, status);
}

static gboolean
on_pty_readable (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  MeshTerminalHost *self = user_data;

  /* A pause removes this source; returning CONTINUE then is harmless. */
  if (host_read_pty (self)) {
    host_update_gate (self);
    return G_SOURCE_CONTINUE;
  }
  if (self->read_source == g_main_current_source ())
    g_clear_pointer (&self->read_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
on_viewer_drained (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(Viewer) viewer = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  viewer->draining = FALSE;
  if (viewer->host != NULL)
    host_update_gate (viewer->host);
}

/* While the PTY is paused: a viewer whose queue did not shrink at all
 * since the last check is not reading; it is cut off so that the others,
 * or the shell alone, go on. */
static gboolean
on_stall_check (gpointer user_data)
{
  MeshTerminalHost *self = user_data;
  g_autoptr(GPtrArray) stalled = g_ptr_array_new_with_free_func ((GDestroyNotify) viewer_unref);
  GHashTableIter iter;
  Viewer *viewer;

  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer)) {
    gsize queued = mesh_frame_writer_get_queued_bytes (viewer->writer);

    if (queued > PAUSE_BACKLOG && queued >= viewer->stall_mark)
      g_ptr_array_add (stalled, viewer_ref (viewer));
    viewer->stall_mark = queued;
  }
  for (guint i = 0; i < stalled->len; i++) {
    viewer = g_ptr_array_index (stalled, i);
    g_debug ("viewer %s took no output for %u ms; disconnecting it", viewer->id,
             self->stall_timeout_ms);
    host_drop_viewer (self, viewer, FALSE);
  }
  return G_SOURCE_CONTINUE;
}

static void
host_arm_stall_check (MeshTerminalHost *self,
                      gboolean          paused)
{
  GHashTableIter iter;
  Viewer *viewer;

  if (!paused || !self->running) {
    clear_source (&self->stall_source);
    return;
  }
  if (self->stall_source != NULL)
    return;
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    viewer->stall_mark = mesh_frame_writer_get_queued_bytes (viewer->writer);
  self->stall_source = g_timeout_source_new (self->stall_timeout_ms);
  g_source_set_callback (self->stall_source, on_stall_check, self, NULL);
  g_source_attach (self->stall_source, self->context);
}

/* Pauses reading the PTY while even the quickest viewer is behind, and
 * resumes as soon as one of them has caught up. */
void
host_update_gate (MeshTerminalHost *self)
{
  gsize least = G_MAXSIZE;
  GHashTableIter iter;
  Viewer *viewer;

  if (!self->running)
    return;
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    least = MIN (least, mesh_frame_writer_get_queued_bytes (viewer->writer));

  if (least != G_MAXSIZE && least > PAUSE_BACKLOG) {
    self->paused = TRUE;
    clear_source (&self->read_source);
    g_hash_table_iter_init (&iter, self->viewers);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer)) {
      if (!viewer->draining) {
        viewer->draining = TRUE;
        mesh_frame_writer_flush_async (viewer->writer, NULL, on_viewer_drained,
                                       viewer_ref (viewer));
      }
    }
  } else if (self->paused) {
    self->paused = FALSE;
    self->read_source = add_fd_source (self, G_IO_IN | G_IO_HUP | G_IO_ERR, on_pty_readable);
  }
  host_arm_stall_check (self, self->paused);
}

static void
on_child_exited (GPid     pid,
                 int      status,
                 gpointer user_data)
{
  g_autoptr(MeshTerminalHost) self = g_object_ref (user_data);

  g_clear_pointer (&self->child_watch, g_source_unref);
  self->pid = 0;
  /* Output written just before the exit is still in the PTY. */
  if (self->master >= 0)
    host_read_pty (self);
  host_finish (self, status);
}

static gboolean
on_pty_writable (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  MeshTerminalHost *self = user_data;

  while (self->pending_input->len > 0) {
    gssize n = write (self->master, self->pending_input->data, self->pending_input->len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return G_SOURCE_CONTINUE;
    if (n < 0)
      break;
    g_byte_array_remove_range (self->pending_input, 0, n);
  }
  g_byte_array_set_size (self->pending_input, 0);
  if (self->write_source == g_main_current_source ())
    g_clear_pointer (&self->write_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

void
host_write_input (MeshTerminalHost *self,
                  const guint8     *data,
                  gsize             len)
{
  if (self->master < 0 || len == 0)
    return;
  if (self->pending_input->len + len > MAX_PENDING_INPUT) {
    g_debug ("dropping %" G_GSIZE_FORMAT " bytes of input: the shell is not reading", len);
    return;
  }
  g_byte_array_append (self->pending_input, data, len);
  if (self->write_source == NULL)
    self->write_source = add_fd_source (self, G_IO_OUT, on_pty_writable);
}

void
host_apply_size (MeshTerminalHost *self,
                 guint             cols,
                 guint             rows)
{
  struct winsize ws = { .ws_row = rows, .ws_col = cols };
  g_autoptr(JsonObject) resize = mesh_frame_term_resize_new (cols, rows);
  GHashTableIter iter;
  Viewer *viewer;

  self->cols = cols;
  self->rows = rows;
  /* TIOCSWINSZ also sends SIGWINCH to the shell's foreground job. */
  if (self->master >= 0 && ioctl (self->master, TIOCSWINSZ, &ws) != 0)
    g_debug ("TIOCSWINSZ failed: %s", g_strerror (errno));

  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &viewer))
    host_send_control (viewer, resize);
}

static char *
host_default_shell (void)
{
  const char *shell = g_getenv ("SHELL");
  struct passwd *pw;

  if (shell != NULL && g_path_is_absolute (shell) && g_file_test (shell, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup (shell);
  pw = getpwuid (getuid ());
  if (pw != NULL && pw->pw_shell != NULL && g_path_is_absolute (pw->pw_shell) &&
      g_file_test (pw->pw_shell, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup (pw->pw_shell);
  return g_strdup ("/bin/sh");
}

static void
reap_only (GPid     pid,
           int      status,
           gpointer user_data)
{
}

static void
mesh_terminal_host_dispose (GObject *object)
{
  MeshTerminalHost *self = MESH_TERMINAL_HOST (object);

  /* The shell outlives us for a moment: hang it up and still reap it. */
  if (self->pid > 0) {
    kill (self->pid, SIGHUP);
    clear_source (&self->child_watch);
    g_child_watch_add (self->pid, reap_only, NULL);
    self->pid = 0;
  }
  host_finish (self, -1);

  G_OBJECT_CLASS (mesh_terminal_host_parent_class)->dispose (object);
}

static void
mesh_terminal_host_finalize (GObject *object)
{
  MeshTerminalHost *self = MESH_TERMINAL_HOST (object);

  g_clear_pointer (&self->argv, g_strfreev);
  g_main_context_unref (self->context);
  g_clear_pointer (&self->scrollback, g_byte_array_unref);
  g_clear_pointer (&self->pending_input, g_byte_array_unref);
  g_clear_pointer (&self->viewers, g_hash_table_unref);
  g_clear_pointer (&self->controller, g_free);

  G_OBJECT_CLASS (mesh_terminal_host_parent_class)->finalize (object);
}

static void
mesh_terminal_host_class_init (MeshTerminalHostClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_terminal_host_dispose;
  object_class->finalize = mesh_terminal_host_finalize;

  /**
   * MeshTerminalHost::output:
   * @output: bytes the shell wrote, also sent to every viewer
   */
  host_signals[OUTPUT] =
    g_signal_new ("output", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BYTES);

  /**
   * MeshTerminalHost::viewer-removed:
   * @viewer_id: the viewer that left, failed or was too slow
   */
  host_signals[VIEWER_REMOVED] =
    g_signal_new ("viewer-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * MeshTerminalHost::exited:
   * @status: the shell's wait status (see g_spawn_check_wait_status())
   *
   * The shell ended: every viewer stream has been closed after its output.
   */
  host_signals[EXITED] =
    g_signal_new ("exited", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
mesh_terminal_host_init (MeshTerminalHost *self)
{
  self->master = -1;
  self->stall_timeout_ms = DEFAULT_STALL_TIMEOUT_MS;
  self->context = g_main_context_ref_thread_default ();
  self->scrollback = g_byte_array_new ();
  self->pending_input = g_byte_array_new ();
  self->viewers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) viewer_unref);
}

/* Inside a Flatpak sandbox (/.flatpak-info exists) the user's shell is the
 * host's, not the sandbox's empty one.  MESH_TEST_FLATPAK_INFO stands in for
 * that file in tests. */
static gboolean
host_in_flatpak (void)
{
  const char *info = g_getenv ("MESH_TEST_FLATPAK_INFO");

  return g_file_test (info != NULL ? info : "/.flatpak-info", G_FILE_TEST_EXISTS);
}

/* The host's login shell: its passwd entry, asked through flatpak-spawn (the
 * sandbox's own passwd is made up), else $SHELL, which Flatpak passes on. */
static char *
host_flatpak_shell (void)
{
  g_autofree char *uid = g_strdup_printf ("%u", (guint) getuid ());
  const char *argv[] = { "flatpak-spawn", "--host", "getent", "passwd", uid, NULL };
  g_autofree char *out = NULL;
  const char *shell = g_getenv ("SHELL");
  int status;

  if (g_spawn_sync (NULL, (char **) argv, NULL,
                    G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_STDIN_FROM_DEV_NULL,
                    NULL, NULL, &out, NULL, &status, NULL) &&
      g_spawn_check_wait_status (status, NULL)) {
    g_auto(GStrv) fields = g_strsplit (g_strchomp (out), ":", -1);

    if (g_strv_length (fields) >= 7 && g_path_is_absolute (fields[6]) &&
        strchr (fields[6], '\n') == NULL)
      return g_strdup (fields[6]);
  }
  if (shell != NULL && g_path_is_absolute (shell))
    return g_strdup (shell);
  return g_strdup ("/bin/sh");
}

/**
 * mesh_terminal_host_new:
 * @argv: (nullable): the command to run; %NULL for the user's shell
 *   ($SHELL, else the passwd entry, else /bin/sh; inside Flatpak the host's
 *   login shell through `flatpak-spawn --host`)
 */
MeshTerminalHost *
mesh_terminal_host_new (const char * const *argv)
{
  MeshTerminalHost *self = g_object_new (MESH_TYPE_TERMINAL_HOST, NULL);

  if (argv != NULL && argv[0] != NULL) {
    self->argv = g_strdupv ((char **) argv);
  } else if (host_in_flatpak ()) {
    g_autofree char *shell = host_flatpak_shell ();
    g_autofree char *shown = mesh_escape_for_display (shell, -1);
    g_autofree char *note = NULL;

    /* --watch-bus: the host's shell ends with us even if we crash.  The
     * host gets none of our environment: TERM is passed by hand. */
    self->argv = g_new0 (char *, 6);
    self->argv[0] = g_strdup ("flatpak-spawn");
    self->argv[1] = g_strdup ("--host");
    self->argv[2] = g_strdup ("--watch-bus");
    self->argv[3] = g_strdup ("--env=TERM=xterm-256color");
    self->argv[4] = g_steal_pointer (&shell);
    /* Said first to the host and to every viewer (the scrollback): which
     * shell, on which side of the sandbox. */
    note = g_strdup_printf ("Mesh: sharing the host's shell %s (through flatpak-spawn --host)\r\n",
                            shown);
    g_byte_array_append (self->scrollback, (const guint8 *) note, strlen (note));
    g_message ("sharing the host's shell %s through flatpak-spawn --host", shown);
  } else {
    self->argv = g_new0 (char *, 2);
    self->argv[0] = host_default_shell ();
  }
  return self;
}

/* Starts the command on a new PTY of @cols × @rows. */
gboolean
mesh_terminal_host_start (MeshTerminalHost  *self,
                          guint              cols,
                          guint              rows,
                          GError           **error)
{
  struct winsize ws = { .ws_row = rows, .ws_col = cols };
  g_autofree char *program = NULL;
  g_auto(GStrv) envp = NULL;
  gboolean via_host;
  int master = -1;
  int slave = -1;
  pid_t pid;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), FALSE);
  g_return_val_if_fail (!self->running && self->master < 0, FALSE);
  g_return_val_if_fail (cols > 0 && rows > 0, FALSE);

  /* Everything the child needs is prepared here: after fork() only
   * async-signal-safe calls are allowed in a threaded process. */
  program = g_path_is_absolute (self->argv[0]) ? g_strdup (self->argv[0])
                                               : g_find_program_in_path (self->argv[0]);
  if (program == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 "“%s” was not found", self->argv[0]);
    return FALSE;
  }
  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "TERM", "xterm-256color", TRUE);
  via_host = g_strcmp0 (self->argv[0], "flatpak-spawn") == 0 &&
             g_strcmp0 (self->argv[1], "--host") == 0;

  if (via_host) {
    /* flatpak-spawn must not take the PTY as its controlling terminal: the
     * session helper makes it the host shell's, which is what gives that
     * shell job control and Ctrl-C.  (With forkpty the host shell runs with
     * no controlling terminal: "no job control in this shell".) */
    if (openpty (&master, &slave, NULL, NULL, &ws) < 0)
      pid = -1;
    else if ((pid = fork ()) < 0)
      close (slave);
  } else {
    pid = forkpty (&master, NULL, NULL, &ws);
  }
  if (pid < 0) {
    int saved_errno = errno;

    if (master >= 0)
      close (master);
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                 "Cannot open a terminal: %s", g_strerror (saved_errno));
    return FALSE;
  }
  if (pid == 0) {
    sigset_t none;

    if (via_host) {
      setsid ();
      dup2 (slave, STDIN_FILENO);
      dup2 (slave, STDOUT_FILENO);
      dup2 (slave, STDERR_FILENO);
      if (slave > STDERR_FILENO)
        close (slave);
      close (master);
    }
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    signal (SIGPIPE, SIG_DFL);
    execve (program, self->argv, envp);
    _exit (127);
  }
  if (slave >= 0)
    close (slave);

  fcntl (master, F_SETFL, fcntl (master, F_GETFL) | O_NONBLOCK);
  fcntl (master, F_SETFD, FD_CLOEXEC);
  self->master = master;
  self->pid = pid;
  self->cols = cols;
  self->rows = rows;
  self->running = TRUE;
  self->read_source = add_fd_source (self, G_IO_IN | G_IO_HUP | G_IO_ERR, on_pty_readable);
  self->child_watch = g_child_watch_source_new (pid);
  g_source_set_callback (self->child_watch, G_SOURCE_FUNC (on_child_exited), self, NULL);
  g_source_attach (self->child_watch, self->context);
  return TRUE;
}

/**
 * mesh_terminal_host_add_viewer:
 * @stream: a session stream whose P2P_HELLO was accepted
 * @may_control: whether this viewer may ever be given control
 *
 * Sends the size and the scrollback, then every new output.  TERM_IN and
 * TERM_RESIZE from the viewer count only while it holds control.
 *
 * Returns: (transfer full): the viewer's id
 */
char *
mesh_terminal_host_add_viewer (MeshTerminalHost *self,
                               GIOStream        *stream,
                               gboolean          may_control)
{
  g_autoptr(JsonObject) resize = NULL;
  Viewer *viewer;
  char *id;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  viewer = g_rc_box_new0 (Viewer);
  viewer->host = self;
  viewer->id = g_strdup_printf ("viewer-%u", ++self->next_viewer);
  viewer->stream = g_object_ref (stream);
  viewer->reader = mesh_frame_reader_get_for_stream (stream);
  viewer->writer = mesh_frame_writer_get_for_stream (stream);
  viewer->cancellable = g_cancellable_new ();
  viewer->may_control = may_control;
  viewer->refusal_budget = REFUSAL_BURST;
  viewer->refusal_time = g_get_monotonic_time ();
  g_hash_table_insert (self->viewers, viewer->id, viewer);

  resize = mesh_frame_term_resize_new (self->cols, self->rows);
  host_send_control (viewer, resize);
  if (self->scrollback->len > 0) {
    g_autoptr(GBytes) history = g_bytes_new (self->scrollback->data, self->scrollback->len);

    host_send (viewer, MESH_FRAME_TERM_OUT, history);
  }
  viewer_read_next (viewer);
  host_update_gate (self);

  /* After the shell ended a late viewer still gets the last screen. */
  id = g_strdup (viewer->id);
  if (!self->running)
    host_drop_viewer (self, viewer, TRUE);
  return id;
}

void
mesh_terminal_host_remove_viewer (MeshTerminalHost *self,
                                  const char       *viewer_id)
{
  Viewer *viewer;

  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));
  g_return_if_fail (viewer_id != NULL);

  viewer = g_hash_table_lookup (self->viewers, viewer_id);
  if (viewer != NULL)
    host_drop_viewer (self, viewer, TRUE);
}

guint
mesh_terminal_host_get_n_viewers (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), 0);

  return g_hash_table_size (self->viewers);
}

/**
 * mesh_terminal_host_set_controller:
 * @viewer_id: (nullable): the viewer granted control, or %NULL to release it
 *
 * At most one viewer holds control (protocol §7).  Fails for an unknown
 * viewer or one added without @may_control.
 */
gboolean
mesh_terminal_host_set_controller (MeshTerminalHost  *self,
                                   const char        *viewer_id,
                                   GError           **error)
{
  Viewer *viewer;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), FALSE);

  if (viewer_id == NULL) {
    g_clear_pointer (&self->controller, g_free);
    return TRUE;
  }
  viewer = g_hash_table_lookup (self->viewers, viewer_id);
  if (viewer == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND, "no viewer “%s”", viewer_id);
    return FALSE;
  }
  if (!viewer->may_control) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                 "viewer “%s” may not take control", viewer_id);
    return FALSE;
  }
  g_free (self->controller);
  self->controller = g_strdup (viewer_id);
  return TRUE;
}

const char *
mesh_terminal_host_get_controller (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), NULL);

  return self->controller;
}

/* The host's own window changed size: the PTY and every viewer follow. */
void
mesh_terminal_host_resize (MeshTerminalHost *self,
                           guint             cols,
                           guint             rows)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));
  g_return_if_fail (cols > 0 && rows > 0);

  host_apply_size (self, cols, rows);
}

/* Input typed at the host itself, which always has control. */
void
mesh_terminal_host_send_input (MeshTerminalHost *self,
                               const void       *data,
                               gsize             len)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));

  host_write_input (self, data, len);
}

/* Hangs up the shell (SIGHUP, as closing a terminal window does); the share
 * ends when it exits. */
void
mesh_terminal_host_stop (MeshTerminalHost *self)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));

  if (self->pid > 0)
    kill (self->pid, SIGHUP);
}

gboolean
mesh_terminal_host_is_running (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), FALSE);

  return self->running;
}

/* What the shell wrote lately (what a viewer joining now is sent first). */
GBytes *
mesh_terminal_host_get_scrollback (MeshTerminalHost *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), NULL);

  return g_bytes_new (self->scrollback->data, self->scrollback->len);
}

/**
 * mesh_terminal_host_get_queued_bytes:
 * @viewer_id: a viewer
 *
 * What is queued for @viewer_id and not yet taken by its stream: never more
 * than about MAX_VIEWER_BACKLOG, whatever the viewer does.
 *
 * Returns: the bytes, 0 for an unknown viewer
 */
gsize
mesh_terminal_host_get_queued_bytes (MeshTerminalHost *self,
                                     const char       *viewer_id)
{
  Viewer *viewer;

  g_return_val_if_fail (MESH_IS_TERMINAL_HOST (self), 0);
  g_return_val_if_fail (viewer_id != NULL, 0);

  viewer = g_hash_table_lookup (self->viewers, viewer_id);
  return viewer != NULL ? mesh_frame_writer_get_queued_bytes (viewer->writer) : 0;
}

/* How long the PTY stays paused for viewers that take nothing before they
 * are cut off (DEFAULT_STALL_TIMEOUT_MS); for tests. */
void
mesh_terminal_host_set_stall_timeout (MeshTerminalHost *self,
                                      guint             timeout_ms)
{
  g_return_if_fail (MESH_IS_TERMINAL_HOST (self));
  g_return_if_fail (timeout_ms > 0);

  self->stall_timeout_ms = timeout_ms;
  clear_source (&self->stall_source);
  host_arm_stall_check (self, self->paused);
}
