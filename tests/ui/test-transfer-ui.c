/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer-ui"

#include "config.h"

#include "mesh-offer-dialog.h"
#include "mesh-transfer-list.h"
#include "mesh-transfer-row.h"
#include "mesh-transfer.h"
#include "mesh-error.h"
#include "mesh-frame.h"
#include "ui-test-util.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <string.h>

#define GB     1000000000
/* g_format_size () keeps the number and its unit together. */
#define NBSP   "\u00a0"
/* Between the parts of a row's words. */
#define SEP    NBSP "· "
#define WJ     "\u2060"

/* What the agent sees of the user's answers. */
typedef struct {
  guint  n_accept;
  guint  n_decline;
  guint  n_cancel;
  GFile *folder;   /* of the last accept */
} Answers;

static void
accept_cb (MeshTransfer *transfer,
           GFile        *folder,
           Answers      *answers)
{
  answers->n_accept++;
  g_set_object (&answers->folder, folder);
}

static void
decline_cb (MeshTransfer *transfer,
            Answers      *answers)
{
  answers->n_decline++;
}

static void
cancel_cb (MeshTransfer *transfer,
           Answers      *answers)
{
  answers->n_cancel++;
}

static void
watch_answers (MeshTransfer *transfer,
               Answers      *answers)
{
  g_signal_connect (transfer, "accept", G_CALLBACK (accept_cb), answers);
  g_signal_connect (transfer, "decline", G_CALLBACK (decline_cb), answers);
  g_signal_connect (transfer, "cancel", G_CALLBACK (cancel_cb), answers);
}

static void
answers_clear (Answers *answers)
{
  g_clear_object (&answers->folder);
}

/* A window of @width × @height (the window itself, without the shadow
 * client-side decorations add) with a header bar above @content. */
static GtkWindow *
new_window (int         width,
            int         height,
            GtkWidget  *header_end,
            GtkWidget  *content)
{
  GtkWidget *window = adw_window_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();

  if (header_end != NULL)
    adw_header_bar_pack_end (ADW_HEADER_BAR (header), header_end);
  gtk_box_append (GTK_BOX (box), header);
  if (content != NULL) {
    gtk_widget_set_vexpand (content, TRUE);
    gtk_box_append (GTK_BOX (box), content);
  }
  adw_window_set_content (ADW_WINDOW (window), box);
  gtk_window_set_title (GTK_WINDOW (window), "Mesh");
  ui_test_present (GTK_WINDOW (window), width, height);
  return GTK_WINDOW (window);
}

/* Rows in a boxed list, as a panel would show them. */
static GtkWidget *
boxed_rows (GtkWidget *first_row,
            ...)
{
  GtkWidget *scroller = gtk_scrolled_window_new ();
  GtkWidget *clamp = adw_clamp_new ();
  GtkWidget *list = gtk_list_box_new ();
  va_list args;

  gtk_list_box_set_selection_mode (GTK_LIST_BOX (list), GTK_SELECTION_NONE);
  gtk_widget_add_css_class (list, "boxed-list");
  gtk_widget_set_valign (list, GTK_ALIGN_START);
  gtk_widget_set_margin_top (list, 24);
  gtk_widget_set_margin_bottom (list, 24);
  gtk_widget_set_margin_start (list, 12);
  gtk_widget_set_margin_end (list, 12);
  va_start (args, first_row);
  for (GtkWidget *row = first_row; row != NULL; row = va_arg (args, GtkWidget *))
    gtk_list_box_append (GTK_LIST_BOX (list), row);
  va_end (args);
  adw_clamp_set_child (ADW_CLAMP (clamp), list);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), clamp);
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroller), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  return scroller;
}

static gboolean
has_class (GtkWidget     *widget,
           gconstpointer  name)
{
  return gtk_widget_has_css_class (widget, name);
}

static GtkLabel *
status_label (GtkWidget *row)
{
  GtkWidget *label = ui_test_find_widget (row, GTK_TYPE_LABEL, has_class, "transfer-status");

  g_assert_nonnull (label);
  return GTK_LABEL (label);
}

static const char *
status_of (GtkWidget *row)
{
  return gtk_label_get_label (status_label (row));
}

static GtkWidget *
button_for (GtkWidget  *widget,
            const char *action)
{
  GtkWidget *button = ui_test_find_button_for_action (widget, action);

  g_assert_nonnull (button);
  return button;
}

/* Visible and clickable. */
static gboolean
shows (GtkWidget  *row,
       const char *action)
{
  GtkWidget *button = button_for (row, action);

  return gtk_widget_get_visible (button) && gtk_widget_is_sensitive (button);
}

static gboolean
progress_shown (GtkWidget *row)
{
  GtkWidget *bar = ui_test_find_widget (row, GTK_TYPE_PROGRESS_BAR, NULL, NULL);

  g_assert_nonnull (bar);
  return gtk_widget_get_visible (bar);
}

static double
progress_fraction (GtkWidget *row)
{
  return gtk_progress_bar_get_fraction (
    GTK_PROGRESS_BAR (ui_test_find_widget (row, GTK_TYPE_PROGRESS_BAR, NULL, NULL)));
}

static void
count_cb (GObject    *object,
          GParamSpec *pspec,
          guint      *count)
{
  (*count)++;
}

/* The running text: "To bob · 12.3 MB of 1.0 GB · 45.6 MB/s · 20 s left"
 * for the transfer's current numbers. */
typedef struct {
  GtkWidget    *row;
  MeshTransfer *transfer;
  const char   *prefix;
} Running;

static gboolean
shows_running (gpointer user_data)
{
  Running *r = user_data;
  g_autofree char *done = g_format_size (mesh_transfer_get_done (r->transfer));
  g_autofree char *size = g_format_size (mesh_transfer_get_size (r->transfer));
  g_autofree char *rate = g_format_size (mesh_transfer_get_rate (r->transfer));
  g_autofree char *start = g_strdup_printf ("%s" SEP "%s of %s" SEP "%s/" WJ "s" SEP,
                                            r->prefix, done, size, rate);
  const char *text = status_of (r->row);

  return g_str_has_prefix (text, start) && g_str_has_suffix (text, " left") &&
         G_APPROX_VALUE (progress_fraction (r->row), mesh_transfer_get_fraction (r->transfer),
                         1e-9);
}

/* Progress as the agent reports it: a second sample later than the first,
 * so that there is a rate. */
static void
advance (MeshTransfer *transfer,
         guint64       done)
{
  gint64 start = g_get_monotonic_time ();

  while (g_get_monotonic_time () - start < 2000)
    g_usleep (1000);
  mesh_transfer_set_progress (transfer, done, 0);
}

static void
test_row_outgoing (void)
{
  g_autoptr(MeshTransfer) transfer =
    mesh_transfer_new (1, MESH_TRANSFER_OUTGOING, "room", "bob", "holiday.mkv", FALSE, GB);
  GtkWidget *row = mesh_transfer_row_new (transfer);
  GtkWindow *window = new_window (360, 400, NULL, boxed_rows (row, NULL));
  Answers answers = { 0 };
  Running running = { row, transfer, "To bob" };
  guint changes = 0;

  watch_answers (transfer, &answers);

  /* Asked, not yet accepted: it can be cancelled. */
  g_assert_cmpstr (status_of (row), ==, "To bob" SEP "Waiting for bob to accept");
  g_assert_true (shows (row, "transfer.cancel"));
  g_assert_false (shows (row, "transfer.accept"));
  g_assert_false (shows (row, "transfer.decline"));
  g_assert_false (shows (row, "transfer.open"));
  g_assert_false (progress_shown (row));

  /* Running: how far, how fast and how long still. */
  mesh_transfer_set_progress (transfer, 1000000, 0);
  advance (transfer, 12300000);
  g_assert_cmpuint (mesh_transfer_get_rate (transfer), >, 0);
  ui_test_wait_until (shows_running, &running, UI_TEST_WAIT_S, "the row to show the progress");
  g_assert_true (g_str_has_prefix (status_of (row),
                                   "To bob" SEP "12.3" NBSP "MB of 1.0" NBSP "GB" SEP));
  g_assert_true (progress_shown (row));
  g_assert_true (shows (row, "transfer.cancel"));

  /* A burst of progress does not rewrite the text with every chunk, and
   * the last numbers show once it settles. */
  g_signal_connect (status_label (row), "notify::label", G_CALLBACK (count_cb), &changes);
  for (guint i = 1; i <= 500; i++)
    mesh_transfer_set_progress (transfer, 12300000 + i * 1000000, 0);
  g_assert_cmpuint (changes, <, 20);
  ui_test_wait_until (shows_running, &running, UI_TEST_WAIT_S, "the row to show the last progress");
  g_assert_true (g_str_has_prefix (status_of (row),
                                   "To bob" SEP "512.3" NBSP "MB of 1.0" NBSP "GB" SEP));

  /* Cancel asks the agent to stop. */
  ui_test_click (button_for (row, "transfer.cancel"));
  g_assert_cmpuint (answers.n_cancel, ==, 1);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_CANCELLED);
  g_assert_cmpstr (status_of (row), ==, "To bob" SEP "Cancelled");
  g_assert_false (gtk_widget_get_visible (button_for (row, "transfer.cancel")));
  g_assert_false (progress_shown (row));

  answers_clear (&answers);
  ui_test_destroy_window (window);
}

/* A stand-in file manager on the session bus, as Files offers it. */
typedef struct {
  GDBusConnection *connection;
  char           **uris;
} FileManager;

static const char file_manager_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.FileManager1'>"
  "    <method name='ShowItems'>"
  "      <arg type='as' name='URIs' direction='in'/>"
  "      <arg type='s' name='StartupId' direction='in'/>"
  "    </method>"
  "  </interface>"
  "</node>";

static void
file_manager_method_cb (const char            *method,
                        GVariant              *parameters,
                        GDBusMethodInvocation *invocation,
                        gpointer               user_data)
{
  FileManager *fm = user_data;

  g_assert_cmpstr (method, ==, "ShowItems");
  g_strfreev (fm->uris);
  g_variant_get (parameters, "(^ass)", &fm->uris, NULL);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
file_manager_start (FileManager *fm)
{
  gboolean acquired = FALSE;

  fm->connection = ui_test_bus_serve (file_manager_xml, "/org/freedesktop/FileManager1",
                                      "org.freedesktop.FileManager1", file_manager_method_cb, fm,
                                      g_cclosure_new_swap (G_CALLBACK (ui_test_set_flag),
                                                           &acquired, NULL),
                                      NULL);
  ui_test_wait_until (ui_test_flag_is_set, &acquired, UI_TEST_WAIT_S, "the file manager's name");
}

static void
file_manager_stop (FileManager *fm)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_dbus_connection_close_sync (fm->connection, NULL, &error));
  g_assert_no_error (error);
  g_clear_object (&fm->connection);
  g_clear_pointer (&fm->uris, g_strfreev);
}

static gboolean
items_shown (gpointer user_data)
{
  return ((FileManager *) user_data)->uris != NULL;
}

static void
test_row_incoming (void)
{
  g_autoptr(MeshTransfer) transfer =
    mesh_transfer_new (2, MESH_TRANSFER_INCOMING, "room", "alice", "photos", TRUE, GB);
  g_autofree char *dir = g_dir_make_tmp ("mesh-transfer-XXXXXX", NULL);
  g_autoptr(GFile) folder = g_file_new_for_path (dir);
  g_autoptr(GFile) file = g_file_get_child (folder, "photos");
  g_autofree char *uri = g_file_get_uri (file);
  GtkWidget *row = mesh_transfer_row_new (transfer);
  GtkWindow *window = new_window (360, 400, NULL, boxed_rows (row, NULL));
  Answers answers = { 0 };
  FileManager fm = { 0 };

  watch_answers (transfer, &answers);
  mesh_transfer_set_folder (transfer, folder);

  /* An offer: who and how big, and Accept or Decline. */
  g_assert_cmpstr (status_of (row), ==, "From alice" SEP "1.0" NBSP "GB");
  g_assert_true (shows (row, "transfer.accept"));
  g_assert_true (shows (row, "transfer.decline"));
  g_assert_false (shows (row, "transfer.cancel"));

  ui_test_click (button_for (row, "transfer.accept"));
  g_assert_cmpuint (answers.n_accept, ==, 1);
  g_assert_true (g_file_equal (answers.folder, folder));
  g_assert_cmpstr (status_of (row), ==, "From alice" SEP "Connecting…");
  g_assert_false (shows (row, "transfer.accept"));
  g_assert_true (shows (row, "transfer.cancel"));

  mesh_transfer_set_progress (transfer, GB / 2, 0);
  g_assert_true (progress_shown (row));

  /* Received: Open and Show in Folder, nothing to cancel. */
  g_assert_cmpint (g_mkdir (g_file_peek_path (file), 0700), ==, 0);
  mesh_transfer_set_file (transfer, file);
  mesh_transfer_set_state (transfer, MESH_TRANSFER_DONE, NULL);
  g_assert_cmpstr (status_of (row), ==, "From alice" SEP "Received" SEP "1.0" NBSP "GB");
  g_assert_true (shows (row, "transfer.open"));
  g_assert_true (shows (row, "transfer.show-in-folder"));
  g_assert_false (gtk_widget_get_visible (button_for (row, "transfer.cancel")));
  g_assert_false (progress_shown (row));

  /* Show in Folder asks the file manager to select the received folder. */
  file_manager_start (&fm);
  ui_test_click (button_for (row, "transfer.show-in-folder"));
  ui_test_wait_until (items_shown, &fm, UI_TEST_WAIT_S, "ShowItems");
  g_assert_cmpuint (g_strv_length (fm.uris), ==, 1);
  g_assert_cmpstr (fm.uris[0], ==, uri);
  file_manager_stop (&fm);

  ui_test_destroy_window (window);
  g_rmdir (g_file_peek_path (file));
  g_rmdir (dir);
  answers_clear (&answers);
}

static void
test_row_ends (void)
{
  g_autoptr(MeshTransfer) failed =
    mesh_transfer_new (3, MESH_TRANSFER_OUTGOING, "room", "bob", "notes.txt", FALSE, 4096);
  g_autoptr(MeshTransfer) declined_here =
    mesh_transfer_new (4, MESH_TRANSFER_INCOMING, "room", "alice", "song.ogg", FALSE, 5000000);
  g_autoptr(MeshTransfer) declined_there =
    mesh_transfer_new (5, MESH_TRANSFER_OUTGOING, "room", "bob", "slides.pdf", FALSE, 2000000);
  GtkWidget *failed_row = mesh_transfer_row_new (failed);
  GtkWidget *declined_here_row = mesh_transfer_row_new (declined_here);
  GtkWidget *declined_there_row = mesh_transfer_row_new (declined_there);
  GtkWindow *window = new_window (360, 500, NULL,
                                  boxed_rows (failed_row, declined_here_row, declined_there_row,
                                              NULL));
  Answers answers = { 0 };

  /* A failure says why, in the error colour, and leaves nothing to click. */
  mesh_transfer_set_progress (failed, 1024, 0);
  mesh_transfer_set_state (failed, MESH_TRANSFER_FAILED, "The connection was lost");
  g_assert_cmpstr (status_of (failed_row), ==, "To bob" SEP "The connection was lost");
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (status_label (failed_row)), "error"));
  g_assert_false (progress_shown (failed_row));
  for (guint i = 0; i < 5; i++) {
    const char *actions[] = { "transfer.accept", "transfer.decline", "transfer.cancel",
                              "transfer.open", "transfer.show-in-folder" };

    g_assert_false (gtk_widget_get_visible (button_for (failed_row, actions[i])));
  }

  /* Declining an offer here tells the agent. */
  watch_answers (declined_here, &answers);
  ui_test_click (button_for (declined_here_row, "transfer.decline"));
  g_assert_cmpuint (answers.n_decline, ==, 1);
  g_assert_cmpuint (answers.n_accept, ==, 0);
  g_assert_cmpstr (status_of (declined_here_row), ==, "From alice" SEP "Declined");
  g_assert_false (gtk_widget_get_visible (button_for (declined_here_row, "transfer.accept")));
  g_assert_false (gtk_widget_has_css_class (GTK_WIDGET (status_label (declined_here_row)),
                                            "error"));

  /* The receiver said no. */
  mesh_transfer_set_state (declined_there, MESH_TRANSFER_DECLINED, NULL);
  g_assert_cmpstr (status_of (declined_there_row), ==, "To bob" SEP "Declined by bob");

  answers_clear (&answers);
  ui_test_destroy_window (window);
}

/* One of each for the screenshots: running, done, failed and offered. */
static GListStore *
sample_transfers (void)
{
  GListStore *store = g_list_store_new (MESH_TYPE_TRANSFER);
  g_autoptr(MeshTransfer) running =
    mesh_transfer_new (10, MESH_TRANSFER_OUTGOING, "room", "bob", "holiday-2024-full-hd.mkv",
                       FALSE, 1500000000);
  g_autoptr(MeshTransfer) done =
    mesh_transfer_new (11, MESH_TRANSFER_INCOMING, "room", "alice", "Project Photos", TRUE,
                       734003200);
  g_autoptr(MeshTransfer) failed =
    mesh_transfer_new (12, MESH_TRANSFER_OUTGOING, "room", "carol", "report.pdf", FALSE, 2400000);
  g_autoptr(MeshTransfer) offered =
    mesh_transfer_new (13, MESH_TRANSFER_INCOMING, "room", "dave", "notes.txt", FALSE, 18432);
  g_autoptr(GFile) file = g_file_new_for_path ("/tmp/Project Photos");

  mesh_transfer_set_progress (running, 100000000, 0);
  advance (running, 412000000);
  mesh_transfer_set_file (done, file);
  mesh_transfer_set_progress (done, 1, 0);
  mesh_transfer_set_state (done, MESH_TRANSFER_DONE, NULL);
  mesh_transfer_set_progress (failed, 1200000, 0);
  mesh_transfer_set_state (failed, MESH_TRANSFER_FAILED, "carol’s device went offline");

  g_list_store_append (store, running);
  g_list_store_append (store, done);
  g_list_store_append (store, failed);
  g_list_store_append (store, offered);
  return store;
}

static void
test_rows_screenshots (void)
{
  g_autoptr(GListStore) store = sample_transfers ();
  const int widths[] = { 360, 1280 };

  for (guint w = 0; w < G_N_ELEMENTS (widths); w++) {
    GtkWidget *rows[4];
    GtkWindow *window;
    g_autofree char *name = g_strdup_printf ("transfer-rows-%d", widths[w]);
    g_autofree char *path = NULL;
    Running running = { NULL, NULL, "To bob" };

    for (guint i = 0; i < 4; i++) {
      g_autoptr(MeshTransfer) transfer = g_list_model_get_item (G_LIST_MODEL (store), 3 - i);

      rows[i] = mesh_transfer_row_new (transfer);
    }
    window = new_window (widths[w], 560, NULL,
                         boxed_rows (rows[0], rows[1], rows[2], rows[3], NULL));
    running.row = rows[3];
    running.transfer = mesh_transfer_row_get_transfer (MESH_TRANSFER_ROW (rows[3]));
    g_assert_true (shows_running (&running));
    g_assert_true (shows (rows[0], "transfer.accept"));
    g_assert_true (shows (rows[2], "transfer.show-in-folder"));
    path = ui_test_screenshot (GTK_WIDGET (window), name);
    g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
    ui_test_destroy_window (window);
  }
}

static MeshTransfer *
transfer_at_row (GtkListBox *list_box,
                 int         index)
{
  GtkListBoxRow *row = gtk_list_box_get_row_at_index (list_box, index);

  return row != NULL ? mesh_transfer_row_get_transfer (MESH_TRANSFER_ROW (row)) : NULL;
}

static MeshTransfer *
store_item (GListStore *store,
            guint       position)
{
  g_autoptr(MeshTransfer) transfer = g_list_model_get_item (G_LIST_MODEL (store), position);

  return transfer;   /* the store keeps it */
}

static gboolean
clear_finished_handled_cb (MeshTransferList *list,
                           guint            *count)
{
  (*count)++;
  return TRUE;
}

static gboolean
popover_mapped (gpointer user_data)
{
  return gtk_widget_get_mapped (user_data);
}

static void
test_list (void)
{
  g_autoptr(GListStore) store = sample_transfers ();
  g_autoptr(GListStore) empty = g_list_store_new (MESH_TYPE_TRANSFER);
  g_autoptr(MeshTransfer) newest =
    mesh_transfer_new (14, MESH_TRANSFER_OUTGOING, "room", "bob", "todo.md", FALSE, 300);
  MeshTransfer *running = store_item (store, 0);
  MeshTransfer *offered = store_item (store, 3);
  GtkWidget *list = mesh_transfer_list_new ();
  GtkWindow *window;
  GtkWidget *popover, *clear_button, *empty_label;
  GtkListBox *list_box;
  g_autofree char *path = NULL;
  guint n_active_changes = 0, handled = 0;
  gulong handler;

  mesh_transfer_list_set_model (MESH_TRANSFER_LIST (list), G_LIST_MODEL (store));
  g_signal_connect (list, "notify::n-active", G_CALLBACK (count_cb), &n_active_changes);
  window = new_window (360, 600, list, NULL);
  list_box = GTK_LIST_BOX (ui_test_find_widget (list, GTK_TYPE_LIST_BOX, NULL, NULL));
  popover = ui_test_find_widget (list, GTK_TYPE_POPOVER, NULL, NULL);
  clear_button = button_for (list, "transfers.clear-finished");
  empty_label = ui_test_find_label (list, "No Transfers");
  g_assert_nonnull (list_box);
  g_assert_nonnull (popover);
  g_assert_nonnull (empty_label);

  /* Newest first; the running and the offered one are active. */
  g_assert_true (transfer_at_row (list_box, 0) == offered);
  g_assert_true (transfer_at_row (list_box, 3) == running);
  g_assert_null (transfer_at_row (list_box, 4));
  g_assert_cmpuint (mesh_transfer_list_get_n_active (MESH_TRANSFER_LIST (list)), ==, 2);

  g_free (ui_test_screenshot (GTK_WIDGET (window), "transfer-list-button"));
  mesh_transfer_list_popup (MESH_TRANSFER_LIST (list));
  ui_test_wait_until (popover_mapped, popover, UI_TEST_WAIT_S, "the popover");
  g_assert_false (gtk_widget_get_mapped (empty_label));
  path = ui_test_screenshot (popover, "transfer-list-popover");
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));

  /* A new transfer goes on top and counts as active. */
  g_list_store_append (store, newest);
  g_assert_true (transfer_at_row (list_box, 0) == newest);
  g_assert_true (transfer_at_row (list_box, 1) == offered);
  g_assert_cmpuint (mesh_transfer_list_get_n_active (MESH_TRANSFER_LIST (list)), ==, 3);
  g_assert_cmpuint (n_active_changes, ==, 1);

  /* Removed from the model, gone from the list: newest, offered, failed, running. */
  g_list_store_remove (store, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 4);
  g_assert_true (transfer_at_row (list_box, 0) == newest);
  g_assert_true (transfer_at_row (list_box, 2) == store_item (store, 1));
  g_assert_true (transfer_at_row (list_box, 3) == running);
  g_assert_null (transfer_at_row (list_box, 4));

  /* A handler that clears (as the agent does) has the last word. */
  handler = g_signal_connect (list, "clear-finished", G_CALLBACK (clear_finished_handled_cb),
                              &handled);
  ui_test_click (clear_button);
  g_assert_cmpuint (handled, ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 4);
  g_signal_handler_disconnect (list, handler);

  /* Otherwise Clear Finished removes the failed one from the store. */
  ui_test_click (clear_button);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 3);
  g_assert_true (transfer_at_row (list_box, 0) == newest);
  g_assert_true (transfer_at_row (list_box, 1) == offered);
  g_assert_true (transfer_at_row (list_box, 2) == running);
  g_assert_null (transfer_at_row (list_box, 3));
  g_assert_false (gtk_widget_is_sensitive (clear_button));

  /* Finishing one makes it clearable and no longer active. */
  mesh_transfer_set_state (running, MESH_TRANSFER_DONE, NULL);
  g_assert_cmpuint (mesh_transfer_list_get_n_active (MESH_TRANSFER_LIST (list)), ==, 2);
  g_assert_true (gtk_widget_is_sensitive (clear_button));

  /* No transfers: the empty state. */
  mesh_transfer_list_set_model (MESH_TRANSFER_LIST (list), G_LIST_MODEL (empty));
  g_assert_null (transfer_at_row (list_box, 0));
  g_assert_cmpuint (mesh_transfer_list_get_n_active (MESH_TRANSFER_LIST (list)), ==, 0);
  ui_test_wait_drawn (popover);
  g_assert_true (gtk_widget_get_mapped (empty_label));
  g_assert_false (gtk_widget_is_sensitive (clear_button));
  g_free (path);
  path = ui_test_screenshot (popover, "transfer-list-empty");

  gtk_popover_popdown (GTK_POPOVER (popover));
  ui_test_destroy_window (window);
}

typedef struct {
  GtkWindow       *parent;
  MeshOfferDialog *dialog;   /* weak */
} DialogFixture;

static gboolean
dialog_gone (gpointer user_data)
{
  return ((DialogFixture *) user_data)->dialog == NULL;
}

static void
open_dialog (DialogFixture *f,
             MeshTransfer  *transfer)
{
  f->dialog = MESH_OFFER_DIALOG (mesh_offer_dialog_new (f->parent, transfer));
  g_object_add_weak_pointer (G_OBJECT (f->dialog), (gpointer *) &f->dialog);
  gtk_window_present (GTK_WINDOW (f->dialog));
  ui_test_wait_drawn (GTK_WIDGET (f->dialog));
}

/* The chooser shows @folder, and would pick it. */
static gboolean
chooser_in (gpointer user_data)
{
  GtkFileChooser *chooser = ((gpointer *) user_data)[0];
  GFile *folder = ((gpointer *) user_data)[1];
  g_autoptr(GFile) current = gtk_file_chooser_get_current_folder (chooser);
  g_autoptr(GFile) file = gtk_file_chooser_get_file (chooser);

  return current != NULL && file != NULL && g_file_equal (current, folder) &&
         g_file_equal (file, folder);
}

static const char *
folder_shown (MeshOfferDialog *dialog)
{
  GtkWidget *row = ui_test_find_widget (GTK_WIDGET (dialog), ADW_TYPE_ACTION_ROW, NULL, NULL);

  g_assert_nonnull (row);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "Save In");
  return adw_action_row_get_subtitle (ADW_ACTION_ROW (row));
}

static void
test_offer_dialog (void)
{
  g_autofree char *dir = g_dir_make_tmp ("mesh-offer-XXXXXX", NULL);
  g_autofree char *downloads = g_build_filename (dir, "Downloads", NULL);
  g_autofree char *elsewhere = g_build_filename (dir, "Elsewhere", NULL);
  g_autoptr(GFile) downloads_file = g_file_new_for_path (downloads);
  g_autoptr(GFile) elsewhere_file = g_file_new_for_path (elsewhere);
  g_autoptr(MeshTransfer) accepted =
    mesh_transfer_new (20, MESH_TRANSFER_INCOMING, "room", "alice", "Project Photos", TRUE,
                       1500000000);
  g_autoptr(MeshTransfer) declined =
    mesh_transfer_new (21, MESH_TRANSFER_INCOMING, "room", "bob", "notes.txt", FALSE, 18432);
  g_autoptr(MeshTransfer) closed =
    mesh_transfer_new (22, MESH_TRANSFER_INCOMING, "room", "bob", "song.ogg", FALSE, 5000000);
  g_autoptr(MeshTransfer) expired =
    mesh_transfer_new (23, MESH_TRANSFER_INCOMING, "room", "carol", "big.iso", FALSE, GB);
  Answers accepted_answers = { 0 }, declined_answers = { 0 };
  Answers closed_answers = { 0 }, expired_answers = { 0 };
  DialogFixture f = { 0 };
  GtkWindow *chooser;
  const int widths[] = { 360, 1280 };

  g_assert_cmpint (g_mkdir (downloads, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (elsewhere, 0700), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (widths); i++) {
    g_autofree char *name = g_strdup_printf ("offer-dialog-%d", widths[i]);
    g_autoptr(MeshTransfer) sample =
      mesh_transfer_new (30 + i, MESH_TRANSFER_INCOMING, "room", "alice",
                         "Project Photos from the Summer Holiday", TRUE, 1500000000);

    mesh_transfer_set_folder (sample, downloads_file);
    f.parent = new_window (widths[i], 600, NULL, NULL);
    open_dialog (&f, sample);
    g_free (ui_test_screenshot (GTK_WIDGET (f.dialog), name));
    gtk_window_close (GTK_WINDOW (f.dialog));
    ui_test_wait_until (dialog_gone, &f, UI_TEST_WAIT_S, "the dialog to close");
    ui_test_destroy_window (f.parent);
  }

  f.parent = new_window (360, 600, NULL, NULL);

  /* Who, what, how big and where to. */
  watch_answers (accepted, &accepted_answers);
  mesh_transfer_set_folder (accepted, downloads_file);
  open_dialog (&f, accepted);
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (f.dialog)), ==,
                   "alice wants to send you “Project Photos”");
  g_assert_cmpstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (f.dialog)), ==,
                   "A folder of 1.5" NBSP "GB");
  g_assert_cmpstr (folder_shown (f.dialog), ==, downloads);

  /* Change… picks another folder with the file chooser. */
  ui_test_click_labelled (GTK_WIDGET (f.dialog), "_Change…");
  chooser = ui_test_wait_toplevel (GTK_TYPE_FILE_CHOOSER_DIALOG, "the file chooser");
  g_assert_cmpint (gtk_file_chooser_get_action (GTK_FILE_CHOOSER (chooser)), ==,
                   GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);

  /* It opens in the folder shown; then the user goes elsewhere. */
  ui_test_wait_until (chooser_in, (gpointer[]) { chooser, downloads_file }, UI_TEST_WAIT_S,
                      "the file chooser to open the download folder");
  g_assert_true (gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), elsewhere_file,
                                                      NULL));
  ui_test_wait_until (chooser_in, (gpointer[]) { chooser, elsewhere_file }, UI_TEST_WAIT_S,
                      "the file chooser to go elsewhere");
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  ui_test_wait_no_toplevel (GTK_TYPE_FILE_CHOOSER_DIALOG, "the file chooser to close");
  g_assert_cmpstr (folder_shown (f.dialog), ==, elsewhere);
  g_assert_true (g_file_equal (mesh_offer_dialog_get_folder (f.dialog), elsewhere_file));

  /* Accept takes it into that folder. */
  ui_test_click_labelled (GTK_WIDGET (f.dialog), "_Accept");
  ui_test_wait_until (dialog_gone, &f, UI_TEST_WAIT_S, "the dialog to close");
  g_assert_cmpuint (accepted_answers.n_accept, ==, 1);
  g_assert_cmpuint (accepted_answers.n_decline, ==, 0);
  g_assert_true (g_file_equal (accepted_answers.folder, elsewhere_file));
  g_assert_cmpint (mesh_transfer_get_state (accepted), ==, MESH_TRANSFER_WAITING);

  /* Decline says no. */
  watch_answers (declined, &declined_answers);
  open_dialog (&f, declined);
  g_assert_cmpstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (f.dialog)), ==,
                   "A file of 18.4" NBSP "kB");
  ui_test_click_labelled (GTK_WIDGET (f.dialog), "_Decline");
  ui_test_wait_until (dialog_gone, &f, UI_TEST_WAIT_S, "the dialog to close");
  g_assert_cmpuint (declined_answers.n_decline, ==, 1);
  g_assert_cmpuint (declined_answers.n_accept, ==, 0);
  g_assert_cmpint (mesh_transfer_get_state (declined), ==, MESH_TRANSFER_DECLINED);

  /* So does closing the dialog. */
  watch_answers (closed, &closed_answers);
  open_dialog (&f, closed);
  gtk_window_close (GTK_WINDOW (f.dialog));
  ui_test_wait_until (dialog_gone, &f, UI_TEST_WAIT_S, "the dialog to close");
  g_assert_cmpuint (closed_answers.n_decline, ==, 1);
  g_assert_cmpuint (closed_answers.n_accept, ==, 0);

  /* An offer that expires takes its dialog with it, unanswered. */
  watch_answers (expired, &expired_answers);
  open_dialog (&f, expired);
  mesh_transfer_set_state (expired, MESH_TRANSFER_FAILED, "The offer expired");
  ui_test_wait_until (dialog_gone, &f, UI_TEST_WAIT_S, "the dialog to close");
  g_assert_cmpuint (expired_answers.n_decline, ==, 0);
  g_assert_cmpuint (expired_answers.n_accept, ==, 0);
  g_assert_cmpint (mesh_transfer_get_state (expired), ==, MESH_TRANSFER_FAILED);

  ui_test_destroy_window (f.parent);
  answers_clear (&accepted_answers);
  g_rmdir (downloads);
  g_rmdir (elsewhere);
  g_rmdir (dir);
}

static void
retry_cb (MeshTransfer *transfer,
          guint        *n)
{
  (*n)++;
}

/* Issue #11 items 1 and 8: a cancel by the other side says who; errors are
 * sentences (the raw text only in the details); a lost connection offers
 * Retry, which resumes; a decline or an offline receiver says so in words. */
static void
test_row_cancel_and_sentences (void)
{
  g_autoptr(MeshTransfer) cancelled =
    mesh_transfer_new (20, MESH_TRANSFER_INCOMING, "room", "alice", "big.iso", FALSE, 3221225472);
  g_autoptr(MeshTransfer) cancelled_there =
    mesh_transfer_new (21, MESH_TRANSFER_OUTGOING, "room", "bob", "big.iso", FALSE, 3221225472);
  g_autoptr(MeshTransfer) lost =
    mesh_transfer_new (22, MESH_TRANSFER_OUTGOING, "room", "bob", "report.pdf", FALSE, 4096);
  g_autoptr(MeshTransfer) declined =
    mesh_transfer_new (23, MESH_TRANSFER_OUTGOING, "room", "bob", "slides.pdf", FALSE, 4096);
  g_autoptr(MeshTransfer) offline =
    mesh_transfer_new (24, MESH_TRANSFER_OUTGOING, "room", "bob", "notes.txt", FALSE, 4096);
  g_autoptr(GFile) file = g_file_new_for_path ("/tmp/report.pdf");
  g_autoptr(GError) peer_cancel =
    g_error_new_literal (MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED, "the peer cancelled");
  g_autoptr(GError) closed =
    g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         "the receiver closed the stream after 327155712 of 3221225472 bytes");
  g_autoptr(GError) denied =
    g_error_new_literal (MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED,
                         "P2P_SESSION_DENIED: declined");
  g_autoptr(GError) unroutable =
    g_error_new_literal (MESH_ERROR, MESH_ERROR_UNROUTABLE, "UNROUTABLE: device '8046f477'");
  GtkWidget *rows[5] = {
    mesh_transfer_row_new (cancelled), mesh_transfer_row_new (cancelled_there),
    mesh_transfer_row_new (lost), mesh_transfer_row_new (declined),
    mesh_transfer_row_new (offline),
  };
  GtkWindow *window = new_window (400, 640, NULL,
                                  boxed_rows (rows[0], rows[1], rows[2], rows[3], rows[4], NULL));
  guint n_retry = 0;

  mesh_transfer_set_progress (cancelled, 327155712, 0);
  mesh_transfer_end_with_error (cancelled, peer_cancel);
  g_assert_cmpint (mesh_transfer_get_state (cancelled), ==, MESH_TRANSFER_CANCELLED);
  g_assert_cmpstr (mesh_transfer_get_cancelled_by (cancelled), ==, "alice");
  g_assert_cmpstr (status_of (rows[0]), ==, "From alice" SEP "Cancelled by alice");
  g_assert_false (gtk_widget_has_css_class (GTK_WIDGET (status_label (rows[0])), "error"));
  g_assert_false (shows (rows[0], "transfer.retry"));

  mesh_transfer_set_progress (cancelled_there, 327155712, 0);
  mesh_transfer_end_with_error (cancelled_there, peer_cancel);
  g_assert_cmpstr (status_of (rows[1]), ==, "To bob" SEP "Cancelled by bob");

  /* Only a lost connection can be retried; it keeps the raw text as details. */
  mesh_transfer_set_file (lost, file);
  mesh_transfer_set_progress (lost, 1024, 0);
  mesh_transfer_end_with_error (lost, closed);
  g_assert_cmpint (mesh_transfer_get_state (lost), ==, MESH_TRANSFER_FAILED);
  g_assert_cmpstr (status_of (rows[2]), ==,
                   "To bob" SEP "The connection to bob was lost. Retry continues where it stopped.");
  g_assert_null (strstr (status_of (rows[2]), "327155712"));
  g_assert_cmpstr (mesh_transfer_get_details (lost), ==, closed->message);
  g_assert_true (shows (rows[2], "transfer.retry"));
  g_assert_cmpstr (gtk_widget_get_tooltip_text (GTK_WIDGET (status_label (rows[2]))), ==,
                   "To bob" SEP "The connection to bob was lost. Retry continues where it stopped."
                   "\nDetails: the receiver closed the stream after 327155712 of 3221225472 bytes");
  g_free (ui_test_screenshot (GTK_WIDGET (window), "transfer-rows-cancel-and-errors"));
  g_signal_connect (lost, "retry", G_CALLBACK (retry_cb), &n_retry);
  ui_test_click (button_for (rows[2], "transfer.retry"));
  g_assert_cmpuint (n_retry, ==, 1);
  g_assert_cmpint (mesh_transfer_get_state (lost), ==, MESH_TRANSFER_WAITING);
  g_assert_false (gtk_widget_get_visible (button_for (rows[2], "transfer.retry")));

  mesh_transfer_set_file (declined, file);
  mesh_transfer_end_with_error (declined, denied);
  g_assert_cmpint (mesh_transfer_get_state (declined), ==, MESH_TRANSFER_DECLINED);
  g_assert_cmpstr (status_of (rows[3]), ==, "To bob" SEP "bob declined the file.");
  g_assert_false (shows (rows[3], "transfer.retry"));

  mesh_transfer_set_file (offline, file);
  mesh_transfer_end_with_error (offline, unroutable);
  g_assert_cmpstr (status_of (rows[4]), ==,
                   "To bob" SEP "bob’s computer is offline or not in this room. Try again when "
                   "it is online.");
  g_assert_null (strstr (status_of (rows[4]), "UNROUTABLE"));
  g_assert_false (shows (rows[4], "transfer.retry"));

  ui_test_destroy_window (window);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GtkCssProvider) css = NULL;

  ui_test_init (&argc, &argv);
  adw_init ();
  /* The app's style sheet, which AdwApplication would load from its resources. */
  css = gtk_css_provider_new ();
  gtk_css_provider_load_from_resource (css, "/org/mesh/Mesh/style.css");
  gtk_style_context_add_provider_for_display (gdk_display_get_default (),
                                              GTK_STYLE_PROVIDER (css),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);

  g_test_add_func ("/mesh/transfer-ui/row-outgoing", test_row_outgoing);
  g_test_add_func ("/mesh/transfer-ui/row-incoming", test_row_incoming);
  g_test_add_func ("/mesh/transfer-ui/row-ends", test_row_ends);
  g_test_add_func ("/mesh/transfer-ui/row-cancel-and-sentences", test_row_cancel_and_sentences);
  g_test_add_func ("/mesh/transfer-ui/rows-screenshots", test_rows_screenshots);
  g_test_add_func ("/mesh/transfer-ui/list", test_list);
  g_test_add_func ("/mesh/transfer-ui/offer-dialog", test_offer_dialog);
  return g_test_run ();
}
