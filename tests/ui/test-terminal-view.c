/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-terminal-view"

#include "config.h"

#include "mesh-application.h"
#include "mesh-shared-terminal.h"
#include "mesh-terminal-view.h"
#include "mesh-terminal-window.h"
#include "ui-test-util.h"

#include <string.h>
#include <vte/vte.h>

/* The application loads the style sheet, as in the app. */
static MeshApplication *app;

/* What the view asked of the agent, through the model's UI → agent signals. */
typedef struct {
  GString *input;
  guint    n_input;
  guint    n_resize;
  guint    cols;
  guint    rows;
  guint    n_request;
  guint    n_release;
  guint    n_answer;
  char    *answer_peer;
  gboolean answer_grant;
  guint    n_stop;
} Agent;

static void
input_cb (MeshSharedTerminal *terminal,
          GBytes             *data,
          Agent              *agent)
{
  gsize size;
  const char *bytes = g_bytes_get_data (data, &size);

  g_string_append_len (agent->input, bytes, size);
  agent->n_input++;
}

static void
resize_cb (MeshSharedTerminal *terminal,
           guint               cols,
           guint               rows,
           Agent              *agent)
{
  agent->n_resize++;
  agent->cols = cols;
  agent->rows = rows;
  /* The agent resizes the shell and reports its new size. */
  mesh_shared_terminal_set_size (terminal, cols, rows);
}

static void
request_cb (MeshSharedTerminal *terminal,
            Agent              *agent)
{
  agent->n_request++;
}

static void
release_cb (MeshSharedTerminal *terminal,
            Agent              *agent)
{
  agent->n_release++;
}

static void
answer_cb (MeshSharedTerminal *terminal,
           const char         *peer_id,
           gboolean            grant,
           Agent              *agent)
{
  agent->n_answer++;
  g_free (agent->answer_peer);
  agent->answer_peer = g_strdup (peer_id);
  agent->answer_grant = grant;
}

static void
stop_cb (MeshSharedTerminal *terminal,
         Agent              *agent)
{
  agent->n_stop++;
}

static void
agent_attach (Agent              *agent,
              MeshSharedTerminal *terminal)
{
  memset (agent, 0, sizeof *agent);
  agent->input = g_string_new (NULL);
  g_signal_connect (terminal, "input", G_CALLBACK (input_cb), agent);
  g_signal_connect (terminal, "resize", G_CALLBACK (resize_cb), agent);
  g_signal_connect (terminal, "request-control", G_CALLBACK (request_cb), agent);
  g_signal_connect (terminal, "release-control", G_CALLBACK (release_cb), agent);
  g_signal_connect (terminal, "answer-control", G_CALLBACK (answer_cb), agent);
  g_signal_connect (terminal, "stop", G_CALLBACK (stop_cb), agent);
}

static void
agent_clear (Agent *agent)
{
  g_string_free (agent->input, TRUE);
  g_free (agent->answer_peer);
}

static void
push_output (MeshSharedTerminal *terminal,
             const char         *text)
{
  g_autoptr(GBytes) bytes = g_bytes_new (text, strlen (text));

  mesh_shared_terminal_push_output (terminal, bytes);
}

/* A shared terminal in the role the test is added with, the agent's side
 * of it, and its window once the test opens it. */
typedef struct {
  MeshSharedTerminal *terminal;
  Agent               agent;
  MeshTerminalWindow *window;
  GtkWidget          *root;
  MeshTerminalView   *view;
  VteTerminal        *vte;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  role)
{
  f->terminal = mesh_shared_terminal_new (GPOINTER_TO_INT (role), "room-1", "alice");
  agent_attach (&f->agent, f->terminal);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  role)
{
  agent_clear (&f->agent);
  g_object_unref (f->terminal);
}

static void
open_window (Fixture *f,
             int      width,
             int      height)
{
  f->window = mesh_terminal_window_new (GTK_APPLICATION (app), f->terminal);
  ui_test_present (GTK_WINDOW (f->window), width, height);
  f->root = GTK_WIDGET (f->window);
  f->view = mesh_terminal_window_get_view (f->window);
  f->vte = VTE_TERMINAL (mesh_terminal_view_get_vte (f->view));
}

typedef struct {
  VteTerminal *vte;
  const char  *text;
} TextWait;

static gboolean
vte_shows (gpointer user_data)
{
  TextWait *wait = user_data;
  g_autofree char *text = vte_terminal_get_text (wait->vte, NULL, NULL, NULL);

  return text != NULL && strstr (text, wait->text) != NULL;
}

static void
wait_vte_shows (VteTerminal *vte,
                const char  *text)
{
  TextWait wait = { vte, text };
  g_autofree char *what = g_strdup_printf ("the terminal to show “%s”", text);

  ui_test_wait_until (vte_shows, &wait, UI_TEST_WAIT_S, what);
}

static gboolean
is_shown (GtkWidget *widget)
{
  return widget != NULL && gtk_widget_is_drawable (widget);
}

static gboolean
label_shown (GtkWidget  *root,
             const char *text)
{
  return is_shown (ui_test_find_label (root, text));
}

static gboolean
status_page_matches (GtkWidget     *widget,
                     gconstpointer  title)
{
  return g_strcmp0 (adw_status_page_get_title (ADW_STATUS_PAGE (widget)), title) == 0;
}

static AdwStatusPage *
find_status_page (GtkWidget  *root,
                  const char *title)
{
  return ADW_STATUS_PAGE (ui_test_find_widget (root, ADW_TYPE_STATUS_PAGE, status_page_matches,
                                               title));
}

static gboolean
button_shown (GtkWidget  *root,
              const char *label)
{
  return is_shown (ui_test_find_button (root, label));
}

static GtkWidget *
badge_of (MeshTerminalWindow *window)
{
  const char *text = mesh_terminal_view_get_badge (mesh_terminal_window_get_view (window));

  return text != NULL ? gtk_widget_get_parent (ui_test_find_label (GTK_WIDGET (window), text))
                      : NULL;
}

static AdwMessageDialog *
wait_dialog (void)
{
  return ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "a dialog"));
}

static void
wait_dialog_gone (const char *what)
{
  ui_test_wait_no_toplevel (ADW_TYPE_MESSAGE_DIALOG, what);
}

static void
wait_window_gone (void)
{
  ui_test_wait_no_toplevel (MESH_TYPE_TERMINAL_WINDOW, "the terminal window to close");
}

/* Clicks the dialog's button for a response, as a person would. */
static void
click_response (AdwMessageDialog *dialog,
                const char       *label)
{
  ui_test_click_labelled (GTK_WIDGET (dialog), label);
}

/* Activates the shortcut of a capture-phase controller on @widget whose
 * trigger reads @trigger, as a key press would; FALSE if it let the key
 * through. */
static gboolean
press_shortcut (GtkWidget  *widget,
                const char *trigger)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++) {
    g_autoptr(GtkEventController) controller = g_list_model_get_item (controllers, i);

    if (!GTK_IS_SHORTCUT_CONTROLLER (controller) ||
        gtk_event_controller_get_propagation_phase (controller) != GTK_PHASE_CAPTURE)
      continue;
    for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (controller)); j++) {
      g_autoptr(GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (controller), j);
      g_autofree char *text = gtk_shortcut_trigger_to_string (gtk_shortcut_get_trigger (shortcut));

      if (g_strcmp0 (text, trigger) == 0)
        return gtk_shortcut_action_activate (gtk_shortcut_get_action (shortcut),
                                             GTK_SHORTCUT_ACTION_EXCLUSIVE, widget,
                                             gtk_shortcut_get_arguments (shortcut));
    }
  }
  g_error ("No shortcut %s", trigger);
}

static gboolean
input_is (gpointer user_data)
{
  Agent *agent = ((gpointer *) user_data)[0];

  return g_strcmp0 (agent->input->str, ((gpointer *) user_data)[1]) == 0;
}

static void
wait_input (Agent      *agent,
            const char *text)
{
  gpointer data[2] = { agent, (gpointer) text };

  ui_test_wait_until (input_is, data, UI_TEST_WAIT_S, "the typed text to reach the agent");
}

static void
test_viewer (Fixture       *f,
             gconstpointer  role)
{
  AdwStatusPage *ended;
  g_autofree char *copied = NULL;

  open_window (f, 900, 600);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (f->window)), ==, "alice’s terminal");

  /* Connecting: a spinner, no terminal yet. */
  g_assert_true (is_shown (GTK_WIDGET (find_status_page (f->root, "Connecting…"))));
  g_assert_false (is_shown (GTK_WIDGET (f->vte)));
  g_assert_null (mesh_terminal_view_get_badge (f->view));
  g_free (ui_test_screenshot (f->root, "terminal-viewer-connecting"));

  /* Running: the host's output, at the host's size. */
  mesh_shared_terminal_set_share_id (f->terminal, "share-1");
  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);
  push_output (f->terminal, "alice@desk:~$ ls\r\nnotes.txt  src\r\n"
                            "alice@desk:~$ echo hello\r\nhello\r\n\x1b[1mworld\x1b[0m\r\n"
                            "alice@desk:~$ ");
  wait_vte_shows (f->vte, "hello\nworld");
  ui_test_wait_drawn (f->root);
  g_assert_true (is_shown (GTK_WIDGET (f->vte)));
  g_assert_cmpint (vte_terminal_get_column_count (f->vte), ==, 80);
  g_assert_cmpint (vte_terminal_get_row_count (f->vte), ==, 24);
  /* Focus goes to the terminal once it runs. */
  g_assert_true (gtk_widget_is_focus (GTK_WIDGET (f->vte)));
  /* A viewer never resizes the host's shell. */
  g_assert_cmpuint (f->agent.n_resize, ==, 0);

  /* Read only: the badge says who types, and typing sends nothing. */
  g_assert_cmpstr (mesh_terminal_view_get_badge (f->view), ==, "Only alice types");
  g_assert_true (label_shown (f->root, "Only alice types"));
  g_assert_true (label_shown (f->root, "Read only"));
  g_assert_true (button_shown (f->root, "Request Control"));
  g_assert_false (button_shown (f->root, "Stop Sharing"));
  g_assert_false (vte_terminal_get_input_enabled (f->vte));
  vte_terminal_feed_child (f->vte, "rm -rf /\r", -1);
  vte_terminal_paste_text (f->vte, "rm -rf /");
  g_assert_cmpuint (f->agent.n_input, ==, 0);
  g_free (ui_test_screenshot (f->root, "terminal-viewer-read-only"));

  /* Read only, Tab leaves the terminal: Shift+Tab reaches Request Control. */
  g_assert_true (press_shortcut (GTK_WIDGET (f->view), "<Shift>Tab"));
  g_assert_true (gtk_widget_is_focus (ui_test_find_button (f->root, "Request Control")));
  g_assert_true (gtk_widget_grab_focus (GTK_WIDGET (f->view)));
  g_assert_true (gtk_widget_is_focus (GTK_WIDGET (f->vte)));

  /* Ctrl+Shift+C copies what the host's shell shows. */
  vte_terminal_select_all (f->vte);
  g_assert_true (press_shortcut (GTK_WIDGET (f->view), "<Shift><Control>c"));
  copied = ui_test_clipboard_text (GTK_WIDGET (f->vte));
  g_assert_nonnull (strstr (copied, "notes.txt  src"));
  vte_terminal_unselect_all (f->vte);

  /* Asking for control: one request, and the button says it waits. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->view), "terminal.request-control",
                                             NULL));
  g_assert_cmpuint (f->agent.n_request, ==, 1);
  g_assert_true (button_shown (f->root, "Waiting for an Answer…"));
  g_assert_false (gtk_widget_is_sensitive (ui_test_find_button (f->root,
                                                               "Waiting for an Answer…")));
  gtk_widget_activate_action (GTK_WIDGET (f->view), "terminal.request-control", NULL);
  g_assert_cmpuint (f->agent.n_request, ==, 1);

  /* Denied: back to asking. */
  mesh_shared_terminal_report_denied (f->terminal, NULL);
  ui_test_wait_label_shown (f->root, "alice did not give you control", "the denial's toast");
  g_assert_true (button_shown (f->root, "Request Control"));
  g_assert_false (vte_terminal_get_input_enabled (f->vte));

  /* Granted: typing reaches the shell. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->view), "terminal.request-control",
                                             NULL));
  g_assert_cmpuint (f->agent.n_request, ==, 2);
  mesh_shared_terminal_set_controller (f->terminal, "peer-bob", "bob", TRUE);
  ui_test_wait_label_shown (f->root, "alice gave you control: you can type now",
                            "the grant's toast");
  g_assert_cmpstr (mesh_terminal_view_get_badge (f->view), ==, "You have control");
  g_assert_true (gtk_widget_has_css_class (badge_of (f->window), "self"));
  g_assert_true (button_shown (f->root, "Release Control"));
  g_assert_false (button_shown (f->root, "Request Control"));
  g_assert_false (label_shown (f->root, "Read only"));
  g_assert_true (vte_terminal_get_input_enabled (f->vte));
  vte_terminal_feed_child (f->vte, "ls\r", -1);
  g_assert_cmpstr (f->agent.input->str, ==, "ls\r");
  g_string_truncate (f->agent.input, 0);

  /* With control, Tab is the shell's; Ctrl+Tab still leaves. */
  g_assert_false (press_shortcut (GTK_WIDGET (f->view), "Tab"));
  g_assert_true (gtk_widget_is_focus (GTK_WIDGET (f->vte)));
  g_assert_true (press_shortcut (GTK_WIDGET (f->view), "<Control>Tab"));
  g_assert_false (gtk_widget_is_focus (GTK_WIDGET (f->vte)));
  g_assert_true (gtk_widget_grab_focus (GTK_WIDGET (f->view)));

  /* Ctrl+Shift+V pastes from the clipboard into the shell. */
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (f->vte)), "uptime");
  g_assert_true (press_shortcut (GTK_WIDGET (f->view), "<Shift><Control>v"));
  wait_input (&f->agent, "uptime");
  g_string_truncate (f->agent.input, 0);

  /* Ctrl+W while typing is the shell's delete-word, not "close". */
  g_assert_true (gtk_widget_grab_focus (GTK_WIDGET (f->vte)));
  g_assert_true (gtk_widget_is_focus (GTK_WIDGET (f->vte)));
  g_assert_true (press_shortcut (f->root, "<Control>w"));
  g_assert_cmpstr (f->agent.input->str, ==, "\x17");
  g_assert_true (gtk_widget_get_visible (f->root));
  g_assert_cmpuint (f->agent.n_stop, ==, 0);
  g_string_truncate (f->agent.input, 0);
  g_free (ui_test_screenshot (f->root, "terminal-viewer-control"));

  /* Giving control back. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->view), "terminal.release-control",
                                             NULL));
  g_assert_cmpuint (f->agent.n_release, ==, 1);
  mesh_shared_terminal_set_controller (f->terminal, NULL, NULL, FALSE);
  g_assert_cmpstr (mesh_terminal_view_get_badge (f->view), ==, "Only alice types");
  g_assert_false (vte_terminal_get_input_enabled (f->vte));

  /* Another member types: the badge names them, and this viewer reads only. */
  mesh_shared_terminal_set_controller (f->terminal, "peer-carol", "carol", FALSE);
  g_assert_cmpstr (mesh_terminal_view_get_badge (f->view), ==, "carol has control");
  /* Released by this viewer: no "you no longer have control" news. */
  g_assert_null (ui_test_find_label (f->root, "You no longer have control"));
  g_assert_true (label_shown (f->root, "carol has control"));
  g_assert_false (gtk_widget_has_css_class (badge_of (f->window), "self"));
  vte_terminal_feed_child (f->vte, "x", -1);
  g_assert_cmpstr (f->agent.input->str, ==, "");

  /* Control taken away rather than given back: the viewer is told. */
  mesh_shared_terminal_set_controller (f->terminal, "peer-bob", "bob", TRUE);
  mesh_shared_terminal_set_controller (f->terminal, NULL, NULL, FALSE);
  ui_test_wait_label_shown (f->root, "You no longer have control", "the loss of control's toast");
  g_assert_false (vte_terminal_get_input_enabled (f->vte));

  /* The host's grid changes: the viewer follows it, scrolling if need be. */
  mesh_shared_terminal_set_size (f->terminal, 120, 40);
  ui_test_wait_drawn (f->root);
  g_assert_cmpint (vte_terminal_get_column_count (f->vte), ==, 120);
  g_assert_cmpint (vte_terminal_get_row_count (f->vte), ==, 40);
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (f->vte)), >, gtk_widget_get_width (f->root));
  g_free (ui_test_screenshot (f->root, "terminal-viewer-scrolled"));
  /* A size no screen has is not followed into a giant widget. */
  mesh_shared_terminal_set_size (f->terminal, G_MAXUINT16, G_MAXUINT16);
  ui_test_wait_drawn (f->root);
  g_assert_cmpint (vte_terminal_get_column_count (f->vte), <=, 512);
  g_assert_cmpint (vte_terminal_get_row_count (f->vte), <=, 256);
  mesh_shared_terminal_set_size (f->terminal, 80, 24);
  ui_test_wait_drawn (f->root);
  g_assert_cmpint (vte_terminal_get_column_count (f->vte), ==, 80);

  /* The share ends: the last output stays, with the ended page below. */
  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_ENDED, NULL);
  ui_test_wait_drawn (f->root);
  ended = find_status_page (f->root, "The terminal share ended");
  g_assert_true (is_shown (GTK_WIDGET (ended)));
  g_assert_cmpstr (adw_status_page_get_description (ended), ==,
                   "alice is no longer sharing this terminal.");
  g_assert_true (is_shown (GTK_WIDGET (f->vte)));
  g_assert_true (vte_shows (&(TextWait) { f->vte, "hello\nworld" }));
  g_assert_null (mesh_terminal_view_get_badge (f->view));
  g_assert_false (button_shown (f->root, "Request Control"));
  g_assert_false (vte_terminal_get_input_enabled (f->vte));
  g_free (ui_test_screenshot (f->root, "terminal-viewer-ended"));

  /* Closing an ended share has nothing left to stop. */
  gtk_window_close (GTK_WINDOW (f->window));
  wait_window_gone ();
  g_assert_cmpuint (f->agent.n_stop, ==, 0);
}

static void
test_viewer_close (Fixture       *f,
                   gconstpointer  role)
{
  open_window (f, 800, 560);
  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);

  /* Read only, Ctrl+W closes the window: the viewer stops watching, with no
   * question asked. */
  g_assert_true (press_shortcut (f->root, "<Control>w"));
  g_assert_cmpuint (f->agent.n_stop, ==, 1);
  g_assert_null (ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
  wait_window_gone ();
}

static void
test_connect_failed (Fixture       *f,
                     gconstpointer  role)
{
  AdwStatusPage *ended;

  open_window (f, 800, 560);
  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_ENDED,
                                  "alice’s computer cannot be reached");
  ui_test_wait_drawn (f->root);
  ended = find_status_page (f->root, "The terminal share ended");
  g_assert_true (is_shown (GTK_WIDGET (ended)));
  g_assert_cmpstr (adw_status_page_get_description (ended), ==,
                   "alice’s computer cannot be reached");
  /* Nothing ran, so there is no empty terminal above. */
  g_assert_false (is_shown (GTK_WIDGET (f->vte)));
  g_assert_false (is_shown (GTK_WIDGET (find_status_page (f->root, "Connecting…"))));
  g_free (ui_test_screenshot (f->root, "terminal-viewer-failed"));

  /* Its Close button closes the window. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (ended), "window.close", NULL));
  wait_window_gone ();
}

static gboolean
resized_to_vte (gpointer user_data)
{
  Agent *agent = ((gpointer *) user_data)[0];
  VteTerminal *vte = ((gpointer *) user_data)[1];

  return agent->n_resize > 0 && agent->cols == vte_terminal_get_column_count (vte) &&
         agent->rows == vte_terminal_get_row_count (vte);
}

static void
test_host (Fixture       *f,
           gconstpointer  role)
{
  AdwMessageDialog *dialog;
  gpointer resize_wait[2];
  guint cols_before;

  open_window (f, 800, 560);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (f->window)), ==, "Your shared terminal");
  g_assert_true (is_shown (GTK_WIDGET (find_status_page (f->root, "Starting Your Shell…"))));
  g_assert_true (button_shown (f->root, "Stop Sharing"));

  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);
  push_output (f->terminal, "alice@desk:~$ make\r\n\x1b[32mok\x1b[0m all 42 tests passed\r\n"
                            "alice@desk:~$ ");
  wait_vte_shows (f->vte, "ok all 42 tests passed");
  ui_test_wait_drawn (f->root);

  /* The host's view sets the shell's size to what fits the window. */
  resize_wait[0] = &f->agent;
  resize_wait[1] = f->vte;
  ui_test_wait_until (resized_to_vte, resize_wait, UI_TEST_WAIT_S,
                      "the shell to get the view's size");
  g_assert_cmpuint (f->agent.cols, >, 40);
  cols_before = f->agent.cols;
  gtk_window_set_default_size (GTK_WINDOW (f->window), 1100, 700);
  ui_test_wait_drawn (f->root);
  ui_test_wait_until (resized_to_vte, resize_wait, UI_TEST_WAIT_S,
                      "the shell to follow the window");
  g_assert_cmpuint (f->agent.cols, >, cols_before);
  gtk_window_set_default_size (GTK_WINDOW (f->window), 800, 560);
  ui_test_wait_drawn (f->root);

  /* The host always types into its own shell, and focus starts there. */
  g_assert_true (gtk_widget_is_focus (GTK_WIDGET (f->vte)));
  g_assert_cmpstr (mesh_terminal_view_get_badge (f->view), ==, "You have control");
  g_assert_false (label_shown (f->root, "Read only"));
  g_assert_false (button_shown (f->root, "Take Back Control"));
  vte_terminal_feed_child (f->vte, "git status\r", -1);
  g_assert_cmpstr (f->agent.input->str, ==, "git status\r");
  g_string_truncate (f->agent.input, 0);
  g_free (ui_test_screenshot (f->root, "terminal-host"));

  /* bob asks for control: the host allows it. */
  mesh_shared_terminal_ask_control (f->terminal, "peer-bob", "bob");
  dialog = wait_dialog ();
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==,
                   "bob wants to control your terminal");
  g_assert_cmpstr (adw_message_dialog_get_default_response (dialog), ==, "deny");
  g_assert_cmpint (adw_message_dialog_get_response_appearance (dialog, "allow"), ==,
                   ADW_RESPONSE_SUGGESTED);
  /* Asking again does not stack a second dialog. */
  mesh_shared_terminal_ask_control (f->terminal, "peer-bob", "bob");
  g_assert_true (ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) == GTK_WINDOW (dialog));
  g_free (ui_test_screenshot (GTK_WIDGET (dialog), "terminal-host-request"));
  click_response (dialog, "_Allow");
  g_assert_cmpuint (f->agent.n_answer, ==, 1);
  g_assert_cmpstr (f->agent.answer_peer, ==, "peer-bob");
  g_assert_true (f->agent.answer_grant);
  wait_dialog_gone ("the dialog to close");

  /* The agent reports bob as the controller: the host sees it plainly. */
  mesh_shared_terminal_set_controller (f->terminal, "peer-bob", "bob", FALSE);
  g_assert_cmpstr (mesh_terminal_view_get_badge (f->view), ==, "bob has control");
  g_assert_true (gtk_widget_has_css_class (badge_of (f->window), "other"));
  g_assert_true (button_shown (f->root, "Take Back Control"));
  g_free (ui_test_screenshot (f->root, "terminal-host-shared"));

  /* Taking it back. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->view), "terminal.release-control",
                                             NULL));
  g_assert_cmpuint (f->agent.n_release, ==, 1);
  mesh_shared_terminal_set_controller (f->terminal, NULL, NULL, FALSE);
  g_assert_cmpstr (mesh_terminal_view_get_badge (f->view), ==, "You have control");
  g_assert_false (button_shown (f->root, "Take Back Control"));

  /* carol asks; closing the dialog (Escape) denies. */
  mesh_shared_terminal_ask_control (f->terminal, "peer-carol", "carol");
  dialog = wait_dialog ();
  gtk_window_close (GTK_WINDOW (dialog));
  g_assert_cmpuint (f->agent.n_answer, ==, 2);
  g_assert_cmpstr (f->agent.answer_peer, ==, "peer-carol");
  g_assert_false (f->agent.answer_grant);
  wait_dialog_gone ("the dialog to close");

  /* Stop Sharing asks first; Cancel keeps sharing. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->view), "terminal.stop", NULL));
  dialog = wait_dialog ();
  g_assert_cmpint (adw_message_dialog_get_response_appearance (dialog, "stop"), ==,
                   ADW_RESPONSE_DESTRUCTIVE);
  g_free (ui_test_screenshot (GTK_WIDGET (dialog), "terminal-host-stop"));
  click_response (dialog, "_Cancel");
  wait_dialog_gone ("the dialog to close");
  g_assert_cmpuint (f->agent.n_stop, ==, 0);

  /* A request still open when the share ends goes away unanswered. */
  mesh_shared_terminal_ask_control (f->terminal, "peer-dave", "dave");
  wait_dialog ();
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->view), "terminal.stop", NULL));
  dialog = wait_dialog ();
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Stop Sharing Your Terminal?");
  click_response (dialog, "_Stop Sharing");
  g_assert_cmpuint (f->agent.n_stop, ==, 1);
  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_ENDED, NULL);
  wait_dialog_gone ("dave's dialog to close");
  g_assert_cmpuint (f->agent.n_answer, ==, 2);

  ui_test_wait_drawn (f->root);
  g_assert_true (is_shown (GTK_WIDGET (find_status_page (f->root, "The terminal share ended"))));
  g_assert_false (button_shown (f->root, "Stop Sharing"));
  g_assert_false (vte_terminal_get_input_enabled (f->vte));
  g_free (ui_test_screenshot (f->root, "terminal-host-ended"));

  /* Once ended, closing asks nothing. */
  gtk_window_close (GTK_WINDOW (f->window));
  wait_window_gone ();
  g_assert_cmpuint (f->agent.n_stop, ==, 1);
}

static void
test_host_close (Fixture       *f,
                 gconstpointer  role)
{
  AdwMessageDialog *dialog;

  open_window (f, 800, 560);
  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);

  /* Closing the host's window would stop the share: it asks. */
  gtk_window_close (GTK_WINDOW (f->window));
  dialog = wait_dialog ();
  g_assert_true (gtk_widget_get_visible (f->root));
  click_response (dialog, "_Cancel");
  wait_dialog_gone ("the dialog to close");
  g_assert_true (gtk_widget_get_visible (f->root));
  g_assert_cmpuint (f->agent.n_stop, ==, 0);

  /* Ctrl+Shift+W is "close" even while typing; a request still open goes
   * with the window, unanswered. */
  mesh_shared_terminal_ask_control (f->terminal, "peer-erin", "erin");
  wait_dialog ();
  g_assert_true (press_shortcut (f->root, "<Shift><Control>w"));
  dialog = ADW_MESSAGE_DIALOG (ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Stop Sharing Your Terminal?");
  click_response (dialog, "_Stop Sharing");
  g_assert_cmpuint (f->agent.n_stop, ==, 1);
  wait_window_gone ();
  wait_dialog_gone ("erin's dialog to close");
  g_assert_cmpuint (f->agent.n_answer, ==, 0);
}

static void
test_style (Fixture       *f,
            gconstpointer  role)
{
  AdwStyleManager *style = adw_style_manager_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  GdkRGBA background;

  open_window (f, 800, 560);
  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);
  push_output (f->terminal,
               "alice@desk:~$ \x1b[31mred\x1b[0m \x1b[34mblue\x1b[0m\r\nalice@desk:~$ ");
  wait_vte_shows (f->vte, "red blue");

  /* The terminal's colours follow the light and dark styles. */
  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_LIGHT);
  vte_terminal_get_color_background_for_draw (f->vte, &background);
  g_assert_cmpfloat (background.red, >, 0.9);
  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_DARK);
  vte_terminal_get_color_background_for_draw (f->vte, &background);
  g_assert_cmpfloat (background.red, <, 0.2);
  g_free (ui_test_screenshot (f->root, "terminal-host-dark"));
  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_DEFAULT);

  /* The font is the desktop's monospace font, and follows it. */
  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, "org.gnome.desktop.interface", TRUE);
  if (schema != NULL) {
    g_autoptr(GSettings) settings = g_settings_new ("org.gnome.desktop.interface");

    g_settings_set_string (settings, "monospace-font-name", "Monospace 15");
    g_assert_cmpint (pango_font_description_get_size (vte_terminal_get_font (f->vte)), ==,
                     15 * PANGO_SCALE);
    g_settings_reset (settings, "monospace-font-name");
  } else {
    g_assert_cmpstr (pango_font_description_get_family (vte_terminal_get_font (f->vte)), ==,
                     "Monospace");
  }

  mesh_shared_terminal_set_state (f->terminal, MESH_SHARED_TERMINAL_ENDED, NULL);
  gtk_window_destroy (GTK_WINDOW (f->window));
}

int
main (int   argc,
      char *argv[])
{
  gconstpointer viewer = GINT_TO_POINTER (MESH_SHARED_TERMINAL_VIEWER);
  gconstpointer host = GINT_TO_POINTER (MESH_SHARED_TERMINAL_HOST);
  int ret;

  ui_test_init (&argc, &argv);
  app = ui_test_app_new ("terminal-test");

  g_test_add ("/mesh/terminal-ui/viewer", Fixture, viewer, fixture_set_up, test_viewer,
              fixture_tear_down);
  g_test_add ("/mesh/terminal-ui/viewer-close", Fixture, viewer, fixture_set_up,
              test_viewer_close, fixture_tear_down);
  g_test_add ("/mesh/terminal-ui/connect-failed", Fixture, viewer, fixture_set_up,
              test_connect_failed, fixture_tear_down);
  g_test_add ("/mesh/terminal-ui/host", Fixture, host, fixture_set_up, test_host,
              fixture_tear_down);
  g_test_add ("/mesh/terminal-ui/host-close", Fixture, host, fixture_set_up, test_host_close,
              fixture_tear_down);
  g_test_add ("/mesh/terminal-ui/style", Fixture, host, fixture_set_up, test_style,
              fixture_tear_down);
  ret = g_test_run ();

  g_application_release (G_APPLICATION (app));
  g_clear_object (&app);
  return ret;
}
