/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-terminal-view"

#include "config.h"

#include "mesh-terminal-view.h"

#include "mesh-ui-util.h"

#include <glib/gi18n.h>
#include <vte/vte.h>

/* Lines a user can scroll back, as GNOME Console keeps by default. */
#define SCROLLBACK_LINES 10000
#define FALLBACK_FONT    "Monospace 11"
/* Larger than any real screen's terminal; a host claiming more is not
 * followed into a widget of absurd size. */
#define MAX_VIEWER_COLS  512
#define MAX_VIEWER_ROWS  256

/* VTE fits its grid to whatever room it is given and says nothing when the
 * grid changes.  This subclass reports grid changes (as Console's terminal
 * does), and for a viewer, whose grid is the host's, asks for exactly the
 * room that grid needs so that the allocation never changes it. */
#define MESH_TYPE_VTE (mesh_vte_get_type ())

G_DECLARE_FINAL_TYPE (MeshVte, mesh_vte, MESH, VTE, VteTerminal)

struct _MeshVte {
  VteTerminal  parent_instance;

  gboolean     fixed_grid;
  glong        cols;
  glong        rows;
};

static guint vte_grid_changed_signal;

G_DEFINE_FINAL_TYPE (MeshVte, mesh_vte, VTE_TYPE_TERMINAL)

static void
mesh_vte_measure (GtkWidget      *widget,
                  GtkOrientation  orientation,
                  int             for_size,
                  int            *minimum,
                  int            *natural,
                  int            *minimum_baseline,
                  int            *natural_baseline)
{
  MeshVte *self = MESH_VTE (widget);

  GTK_WIDGET_CLASS (mesh_vte_parent_class)->measure (widget, orientation, for_size, minimum,
                                                     natural, minimum_baseline, natural_baseline);
  if (self->fixed_grid)
    *minimum = *natural;
}

static void
mesh_vte_size_allocate (GtkWidget *widget,
                        int        width,
                        int        height,
                        int        baseline)
{
  MeshVte *self = MESH_VTE (widget);
  glong cols, rows;

  GTK_WIDGET_CLASS (mesh_vte_parent_class)->size_allocate (widget, width, height, baseline);

  cols = vte_terminal_get_column_count (VTE_TERMINAL (self));
  rows = vte_terminal_get_row_count (VTE_TERMINAL (self));
  if (cols != self->cols || rows != self->rows) {
    self->cols = cols;
    self->rows = rows;
    g_signal_emit (self, vte_grid_changed_signal, 0);
  }
}

static void
mesh_vte_class_init (MeshVteClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  widget_class->measure = mesh_vte_measure;
  widget_class->size_allocate = mesh_vte_size_allocate;

  vte_grid_changed_signal =
    g_signal_new ("grid-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
mesh_vte_init (MeshVte *self)
{
}

enum {
  PROP_0,
  PROP_TERMINAL,
  PROP_TITLE,
  PROP_SHOW_TITLE,
  PROP_BADGE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshTerminalView {
  AdwBin               parent_instance;

  /* Template widgets */
  GtkWidget           *bar;
  GtkLabel            *title_label;
  GtkWidget           *badge;
  GtkLabel            *badge_label;
  GtkWidget           *read_only_hint;
  GtkButton           *request_button;
  GtkWidget           *release_button;
  GtkWidget           *take_back_button;
  GtkWidget           *stop_button;
  GtkStack            *stack;
  AdwStatusPage       *connecting_page;
  GtkScrolledWindow   *scroller;
  AdwStatusPage       *ended_page;

  /* Owned references */
  MeshSharedTerminal  *terminal;
  GtkWidget           *vte;
  GSettings           *interface_settings;  /* NULL without the desktop's schema */
  GHashTable          *control_dialogs;     /* peer id → AdwMessageDialog */
  char                *title;
  char                *badge_text;

  gboolean             show_title;
  gboolean             was_running;
  gboolean             had_control;
  gboolean             request_pending;  /* a viewer asked and has no answer yet */
  gboolean             releasing;        /* a viewer gave control back itself */
};

G_DEFINE_FINAL_TYPE (MeshTerminalView, mesh_terminal_view, ADW_TYPE_BIN)

static gboolean
is_host (MeshTerminalView *self)
{
  return mesh_shared_terminal_get_role (self->terminal) == MESH_SHARED_TERMINAL_HOST;
}

static const char *
host_name (MeshTerminalView *self)
{
  const char *name = mesh_shared_terminal_get_host_name (self->terminal);

  /* Translators: the person sharing a terminal, when their name is unknown. */
  return name != NULL ? name : _("The host");
}

static GtkWindow *
parent_window (MeshTerminalView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static void
update_font (MeshTerminalView *self)
{
  g_autofree char *name = NULL;
  g_autoptr(PangoFontDescription) font = NULL;

  if (self->interface_settings != NULL)
    name = g_settings_get_string (self->interface_settings, "monospace-font-name");
  font = pango_font_description_from_string (name != NULL && *name != '\0' ? name : FALLBACK_FONT);
  vte_terminal_set_font (VTE_TERMINAL (self->vte), font);
}

/* The GNOME palette on the background libadwaita uses for the current
 * style, as GNOME Console does. */
static void
update_colors (MeshTerminalView *self)
{
  static const char *palette_hex[16] = {
    "#241f31", "#c01c28", "#2ec27e", "#f5c211", "#1e78e4", "#9841bb", "#0ab9dc", "#c0bfbc",
    "#5e5c64", "#ed333b", "#57e389", "#f8e45c", "#51a1ff", "#c061cb", "#4fd2fd", "#f6f5f4",
  };
  gboolean dark = adw_style_manager_get_dark (adw_style_manager_get_default ());
  GdkRGBA palette[16];
  GdkRGBA foreground, background;

  for (guint i = 0; i < G_N_ELEMENTS (palette_hex); i++)
    gdk_rgba_parse (&palette[i], palette_hex[i]);
  gdk_rgba_parse (&foreground, dark ? "#ffffff" : "#000000");
  gdk_rgba_parse (&background, dark ? "#1e1e1e" : "#ffffff");
  vte_terminal_set_colors (VTE_TERMINAL (self->vte), &foreground, &background, palette,
                           G_N_ELEMENTS (palette));
}

static void
set_badge (MeshTerminalView *self,
           const char       *text,
           const char       *style)
{
  static const char *styles[] = { "self", "other" };

  for (guint i = 0; i < G_N_ELEMENTS (styles); i++) {
    if (g_strcmp0 (styles[i], style) == 0)
      gtk_widget_add_css_class (self->badge, styles[i]);
    else
      gtk_widget_remove_css_class (self->badge, styles[i]);
  }
  gtk_widget_set_visible (self->badge, text != NULL);
  gtk_label_set_label (self->badge_label, text != NULL ? text : "");
  if (g_strcmp0 (self->badge_text, text) != 0) {
    g_free (self->badge_text);
    self->badge_text = g_strdup (text);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BADGE]);
  }
}

static void
update_badge (MeshTerminalView *self)
{
  const char *controller = mesh_shared_terminal_get_controller_peer_id (self->terminal);
  const char *controller_name = mesh_shared_terminal_get_controller_name (self->terminal);
  g_autofree char *text = NULL;

  if (mesh_shared_terminal_get_state (self->terminal) != MESH_SHARED_TERMINAL_RUNNING) {
    set_badge (self, NULL, NULL);
  } else if (mesh_shared_terminal_get_has_control (self->terminal) &&
             (!is_host (self) || controller == NULL)) {
    set_badge (self, _("You have control"), "self");
  } else if (controller != NULL) {
    /* Translators: %s is the member who may type into the shared shell. */
    text = g_strdup_printf (_("%s has control"),
                            controller_name != NULL ? controller_name : _("A member"));
    /* Someone else typing into the host's own shell deserves attention. */
    set_badge (self, text, is_host (self) ? "other" : NULL);
  } else {
    /* Translators: %s is the member whose terminal it is. */
    text = g_strdup_printf (_("Only %s types"), host_name (self));
    set_badge (self, text, NULL);
  }
}

static void
close_control_dialogs (MeshTerminalView *self)
{
  GHashTableIter iter;
  gpointer dialog;

  g_hash_table_iter_init (&iter, self->control_dialogs);
  while (g_hash_table_iter_next (&iter, NULL, &dialog))
    gtk_window_destroy (GTK_WINDOW (dialog));
  g_hash_table_remove_all (self->control_dialogs);
}

static void
update (MeshTerminalView *self)
{
  MeshSharedTerminalState state = mesh_shared_terminal_get_state (self->terminal);
  const char *controller = mesh_shared_terminal_get_controller_peer_id (self->terminal);
  gboolean has_control = mesh_shared_terminal_get_has_control (self->terminal);
  gboolean running = state == MESH_SHARED_TERMINAL_RUNNING;
  gboolean ended = state == MESH_SHARED_TERMINAL_ENDED;
  gboolean host = is_host (self);
  gboolean first_run = running && !self->was_running;

  if (running)
    self->was_running = TRUE;
  if (!running)
    self->request_pending = FALSE;

  /* Connecting, then the terminal; once ended, the last output stays
   * readable above the ended page (which takes it all if nothing ran). */
  gtk_stack_set_visible_child_name (self->stack, self->was_running ? "terminal" : "connecting");
  gtk_widget_set_visible (GTK_WIDGET (self->stack), !ended || self->was_running);
  gtk_widget_set_visible (GTK_WIDGET (self->ended_page), ended);
  /* Below the last output it is a short note; alone, a full page. */
  gtk_widget_set_vexpand (GTK_WIDGET (self->ended_page), !self->was_running);
  adw_status_page_set_icon_name (self->ended_page,
                                 self->was_running ? NULL : "utilities-terminal-symbolic");
  if (self->was_running)
    gtk_widget_add_css_class (GTK_WIDGET (self->ended_page), "below-terminal");
  if (ended) {
    const char *error = mesh_shared_terminal_get_error (self->terminal);
    g_autofree char *description = NULL;

    if (error != NULL)
      description = g_strdup (error);
    else if (host)
      description = g_strdup (_("Your shell has closed and members no longer see it."));
    else
      /* Translators: %s is the member who shared the terminal. */
      description = g_strdup_printf (_("%s is no longer sharing this terminal."), host_name (self));
    adw_status_page_set_description (self->ended_page, description);
    close_control_dialogs (self);
  }

  vte_terminal_set_input_enabled (VTE_TERMINAL (self->vte), running && has_control);
  update_badge (self);
  gtk_widget_set_visible (self->read_only_hint, running && !has_control);

  gtk_widget_set_visible (GTK_WIDGET (self->request_button), !host && running && !has_control);
  gtk_button_set_label (self->request_button, self->request_pending ? _("Waiting for an Answer…")
                                                                    : _("Request Control"));
  gtk_widget_set_visible (self->release_button, !host && running && has_control);
  gtk_widget_set_visible (self->take_back_button, host && running && controller != NULL);
  gtk_widget_set_visible (self->stop_button, host && !ended);
  gtk_widget_set_visible (GTK_WIDGET (self->title_label), self->show_title);
  gtk_widget_set_visible (self->bar, self->show_title || running || (host && !ended));

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "terminal.request-control",
                                 !host && running && !has_control && !self->request_pending);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "terminal.release-control",
                                 running && controller != NULL && (host || has_control));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "terminal.stop", !ended);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "terminal.paste", running && has_control);

  /* The host's view decides the shell's size. */
  if (host && !ended)
    mesh_shared_terminal_resize (self->terminal,
                                 vte_terminal_get_column_count (VTE_TERMINAL (self->vte)),
                                 vte_terminal_get_row_count (VTE_TERMINAL (self->vte)));
  if (first_run && gtk_widget_get_mapped (GTK_WIDGET (self)))
    gtk_widget_grab_focus (self->vte);
}

static void
has_control_changed_cb (MeshTerminalView *self)
{
  gboolean has_control = mesh_shared_terminal_get_has_control (self->terminal);
  MeshSharedTerminalState state = mesh_shared_terminal_get_state (self->terminal);
  g_autofree char *message = NULL;

  self->request_pending = FALSE;
  if (!is_host (self) && state == MESH_SHARED_TERMINAL_RUNNING &&
      has_control != self->had_control) {
    if (has_control)
      /* Translators: %s is the member who shared the terminal. */
      message = g_strdup_printf (_("%s gave you control: you can type now"), host_name (self));
    else if (!self->releasing)
      message = g_strdup (_("You no longer have control"));
  }
  self->had_control = has_control;
  self->releasing = FALSE;
  if (message != NULL)
    mesh_ui_toast (GTK_WIDGET (self), message);
  update (self);
}

static void
controller_changed_cb (MeshTerminalView *self)
{
  /* Somebody else got control: whatever this viewer asked is moot. */
  self->request_pending = FALSE;
  update (self);
}

static void
size_changed_cb (MeshTerminalView *self)
{
  if (is_host (self))
    return;
  vte_terminal_set_size (VTE_TERMINAL (self->vte),
                         MIN (mesh_shared_terminal_get_cols (self->terminal), MAX_VIEWER_COLS),
                         MIN (mesh_shared_terminal_get_rows (self->terminal), MAX_VIEWER_ROWS));
}

static void
grid_changed_cb (MeshTerminalView *self)
{
  if (is_host (self))
    update (self);
}

static void
output_cb (MeshTerminalView *self,
           GBytes           *data)
{
  gsize size;
  const char *bytes = g_bytes_get_data (data, &size);

  if (size > 0)
    vte_terminal_feed (VTE_TERMINAL (self->vte), bytes, size);
}

static void
commit_cb (MeshTerminalView *self,
           const char       *text,
           guint             size)
{
  /* VTE only commits while input is enabled, i.e. with control. */
  mesh_shared_terminal_write (self->terminal, text, size);
}

static void
control_denied_cb (MeshTerminalView *self,
                   const char       *reason)
{
  g_autofree char *message = NULL;

  self->request_pending = FALSE;
  if (reason != NULL && *reason != '\0')
    /* Translators: %1$s is the member who shared the terminal, %2$s why they said no. */
    message = g_strdup_printf (_("%1$s did not give you control: %2$s"), host_name (self), reason);
  else
    /* Translators: %s is the member who shared the terminal. */
    message = g_strdup_printf (_("%s did not give you control"), host_name (self));
  mesh_ui_toast (GTK_WIDGET (self), message);
  update (self);
}

static void
control_dialog_response_cb (MeshTerminalView *self,
                            const char       *response,
                            AdwMessageDialog *dialog)
{
  const char *peer_id = g_object_get_data (G_OBJECT (dialog), "peer-id");
  gboolean grant = g_strcmp0 (response, "allow") == 0;

  mesh_shared_terminal_answer_control (self->terminal, peer_id, grant);
  g_hash_table_remove (self->control_dialogs, peer_id);
}

static void
control_requested_cb (MeshTerminalView *self,
                      const char       *peer_id,
                      const char       *username)
{
  AdwMessageDialog *dialog = g_hash_table_lookup (self->control_dialogs, peer_id);
  g_autofree char *heading = NULL;

  if (!is_host (self) ||
      mesh_shared_terminal_get_state (self->terminal) == MESH_SHARED_TERMINAL_ENDED)
    return;
  /* Asking twice does not stack two dialogs. */
  if (dialog != NULL) {
    gtk_window_present (GTK_WINDOW (dialog));
    return;
  }

  /* Translators: %s is the member asking to type into the user's shell. */
  heading = g_strdup_printf (_("%s wants to control your terminal"),
                             username != NULL ? username : _("A member"));
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent_window (self), heading, NULL));
  adw_message_dialog_set_body (dialog, _("They could type commands into your shell, as you, "
                                         "until you take control back."));
  adw_message_dialog_add_responses (dialog,
                                    "deny", _("_Deny"),
                                    "allow", _("_Allow"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "allow", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "deny");
  adw_message_dialog_set_close_response (dialog, "deny");
  g_object_set_data_full (G_OBJECT (dialog), "peer-id", g_strdup (peer_id), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (control_dialog_response_cb), self,
                           G_CONNECT_SWAPPED);
  g_hash_table_insert (self->control_dialogs, g_strdup (peer_id), g_object_ref (dialog));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
destroy_window_cb (gpointer window)
{
  gtk_window_destroy (window);
  g_object_unref (window);
}

static void
stop_response_cb (AdwMessageDialog *dialog,
                  const char       *response,
                  MeshTerminalView *self)
{
  GtkWindow *window = parent_window (self);

  if (g_strcmp0 (response, "stop") != 0)
    return;
  mesh_shared_terminal_stop (self->terminal);
  /* Once the dialog, which is transient for the window, is gone. */
  if (g_object_get_data (G_OBJECT (dialog), "close-window") != NULL && window != NULL)
    g_idle_add_once (destroy_window_cb, g_object_ref (window));
}

static void
request_control_activated (GtkWidget  *widget,
                           const char *action_name,
                           GVariant   *parameter)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (widget);

  self->request_pending = TRUE;
  mesh_shared_terminal_request_control (self->terminal);
  update (self);
}

static void
release_control_activated (GtkWidget  *widget,
                           const char *action_name,
                           GVariant   *parameter)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (widget);

  self->releasing = !is_host (self);
  mesh_shared_terminal_release_control (self->terminal);
}

static void
stop_activated (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  mesh_terminal_view_ask_stop (MESH_TERMINAL_VIEW (widget), FALSE);
}

static void
copy_activated (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (widget);

  vte_terminal_copy_clipboard_format (VTE_TERMINAL (self->vte), VTE_FORMAT_TEXT);
}

static void
paste_activated (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (widget);

  /* The pasted text comes back through "commit". */
  vte_terminal_paste_clipboard (VTE_TERMINAL (self->vte));
}

/* The VTE keeps Tab for the shell.  Ctrl+Tab leaves it, as it leaves other
 * widgets that take Tab; so does Tab when the terminal is read only. */
static gboolean
move_focus_cb (GtkWidget *widget,
               GVariant  *args,
               gpointer   user_data)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  gboolean always;
  int direction;

  g_variant_get (args, "(bi)", &always, &direction);
  if (!gtk_widget_is_focus (self->vte) || root == NULL ||
      (!always && vte_terminal_get_input_enabled (VTE_TERMINAL (self->vte))))
    return FALSE;
  g_signal_emit_by_name (root, "move-focus", direction);
  return TRUE;
}

static void
add_shortcut (GtkEventController *controller,
              const char         *trigger,
              GtkShortcutAction  *action,
              GVariant           *args)
{
  GtkShortcut *shortcut = gtk_shortcut_new (gtk_shortcut_trigger_parse_string (trigger), action);

  if (args != NULL)
    gtk_shortcut_set_arguments (shortcut, args);
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (controller), shortcut);
}

static void
add_focus_shortcut (GtkEventController *controller,
                    const char         *trigger,
                    gboolean            always,
                    GtkDirectionType    direction)
{
  add_shortcut (controller, trigger, gtk_callback_action_new (move_focus_cb, NULL, NULL),
                g_variant_new ("(bi)", always, direction));
}

static gboolean
mesh_terminal_view_grab_focus (GtkWidget *widget)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (widget);

  if (gtk_widget_is_drawable (self->vte))
    return gtk_widget_grab_focus (self->vte);
  return GTK_WIDGET_CLASS (mesh_terminal_view_parent_class)->grab_focus (widget);
}

static void
mesh_terminal_view_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (object);

  switch (prop_id) {
  case PROP_TERMINAL:
    g_value_set_object (value, self->terminal);
    break;
  case PROP_TITLE:
    g_value_set_string (value, self->title);
    break;
  case PROP_SHOW_TITLE:
    g_value_set_boolean (value, self->show_title);
    break;
  case PROP_BADGE:
    g_value_set_string (value, self->badge_text);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_terminal_view_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (object);

  switch (prop_id) {
  case PROP_TERMINAL:
    self->terminal = g_value_dup_object (value);
    break;
  case PROP_SHOW_TITLE:
    mesh_terminal_view_set_show_title (self, g_value_get_boolean (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

/* The host's shell fills the view (the view sets its size) and scrolls back
 * with a scrollbar; a viewer shows the host's grid as it is, centred when
 * there is room and scrolled when there is not. */
static void
place_vte (MeshTerminalView *self)
{
  GtkWidget *box;
  GtkWidget *scrollbar;

  if (is_host (self)) {
    gtk_scrolled_window_set_policy (self->scroller, GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_child (self->scroller, self->vte);
    return;
  }

  MESH_VTE (self->vte)->fixed_grid = TRUE;
  gtk_widget_set_halign (self->vte, GTK_ALIGN_CENTER);
  gtk_widget_set_valign (self->vte, GTK_ALIGN_CENTER);
  box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);
  gtk_widget_set_halign (box, GTK_ALIGN_CENTER);
  gtk_widget_set_valign (box, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (box, "terminal-frame");
  gtk_box_append (GTK_BOX (box), self->vte);
  scrollbar = gtk_scrollbar_new (GTK_ORIENTATION_VERTICAL,
                                 gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (self->vte)));
  gtk_box_append (GTK_BOX (box), scrollbar);
  gtk_scrolled_window_set_policy (self->scroller, GTK_POLICY_AUTOMATIC, GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_child (self->scroller, box);
  size_changed_cb (self);
}

static void
mesh_terminal_view_constructed (GObject *object)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (object);
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  G_OBJECT_CLASS (mesh_terminal_view_parent_class)->constructed (object);

  g_assert (MESH_IS_SHARED_TERMINAL (self->terminal));

  if (is_host (self))
    self->title = g_strdup (_("Your shared terminal"));
  else if (mesh_shared_terminal_get_host_name (self->terminal) != NULL)
    /* Translators: %s is the member who shares the terminal. */
    self->title = g_strdup_printf (_("%s’s terminal"),
                                   mesh_shared_terminal_get_host_name (self->terminal));
  else
    self->title = g_strdup (_("Shared terminal"));
  gtk_label_set_label (self->title_label, self->title);

  if (is_host (self)) {
    adw_status_page_set_title (self->connecting_page, _("Starting Your Shell…"));
  } else {
    g_autofree char *description =
      /* Translators: %s is the member who shares the terminal. */
      g_strdup_printf (_("Joining %s’s terminal"), host_name (self));

    adw_status_page_set_title (self->connecting_page, _("Connecting…"));
    adw_status_page_set_description (self->connecting_page, description);
  }

  self->vte = g_object_ref_sink (g_object_new (MESH_TYPE_VTE, NULL));
  gtk_widget_set_hexpand (self->vte, TRUE);
  gtk_widget_set_vexpand (self->vte, TRUE);
  vte_terminal_set_scrollback_lines (VTE_TERMINAL (self->vte), SCROLLBACK_LINES);
  vte_terminal_set_mouse_autohide (VTE_TERMINAL (self->vte), TRUE);
  g_signal_connect_object (self->vte, "commit", G_CALLBACK (commit_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->vte, "grid-changed", G_CALLBACK (grid_changed_cb), self,
                           G_CONNECT_SWAPPED);
  place_vte (self);

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, "org.gnome.desktop.interface", TRUE);
  if (schema != NULL && g_settings_schema_has_key (schema, "monospace-font-name")) {
    self->interface_settings = g_settings_new_full (schema, NULL, NULL);
    g_signal_connect_object (self->interface_settings, "changed::monospace-font-name",
                             G_CALLBACK (update_font), self, G_CONNECT_SWAPPED);
  }
  update_font (self);
  g_signal_connect_object (adw_style_manager_get_default (), "notify::dark",
                           G_CALLBACK (update_colors), self, G_CONNECT_SWAPPED);
  update_colors (self);

  g_signal_connect_object (self->terminal, "output", G_CALLBACK (output_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "control-requested", G_CALLBACK (control_requested_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "control-denied", G_CALLBACK (control_denied_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "notify::state", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "notify::error", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "notify::has-control",
                           G_CALLBACK (has_control_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "notify::controller-peer-id",
                           G_CALLBACK (controller_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "notify::controller-name", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "notify::cols", G_CALLBACK (size_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->terminal, "notify::rows", G_CALLBACK (size_changed_cb), self,
                           G_CONNECT_SWAPPED);
  self->had_control = mesh_shared_terminal_get_has_control (self->terminal);
  update (self);
}

static void
mesh_terminal_view_dispose (GObject *object)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (object);

  if (self->control_dialogs != NULL)
    close_control_dialogs (self);
  g_clear_pointer (&self->control_dialogs, g_hash_table_unref);
  g_clear_object (&self->interface_settings);
  g_clear_object (&self->terminal);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_TERMINAL_VIEW);
  g_clear_object (&self->vte);

  G_OBJECT_CLASS (mesh_terminal_view_parent_class)->dispose (object);
}

static void
mesh_terminal_view_finalize (GObject *object)
{
  MeshTerminalView *self = MESH_TERMINAL_VIEW (object);

  g_free (self->title);
  g_free (self->badge_text);

  G_OBJECT_CLASS (mesh_terminal_view_parent_class)->finalize (object);
}

static void
mesh_terminal_view_class_init (MeshTerminalViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_terminal_view_get_property;
  object_class->set_property = mesh_terminal_view_set_property;
  object_class->constructed = mesh_terminal_view_constructed;
  object_class->dispose = mesh_terminal_view_dispose;
  object_class->finalize = mesh_terminal_view_finalize;
  widget_class->grab_focus = mesh_terminal_view_grab_focus;

  properties[PROP_TERMINAL] =
    g_param_spec_object ("terminal", NULL, NULL, MESH_TYPE_SHARED_TERMINAL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHOW_TITLE] =
    g_param_spec_boolean ("show-title", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BADGE] =
    g_param_spec_string ("badge", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-terminal-view.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, bar);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, title_label);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, badge);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, badge_label);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, read_only_hint);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, request_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, release_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, take_back_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, stop_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, stack);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, connecting_page);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, scroller);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalView, ended_page);

  gtk_widget_class_install_action (widget_class, "terminal.request-control", NULL,
                                   request_control_activated);
  gtk_widget_class_install_action (widget_class, "terminal.release-control", NULL,
                                   release_control_activated);
  gtk_widget_class_install_action (widget_class, "terminal.stop", NULL, stop_activated);
  gtk_widget_class_install_action (widget_class, "terminal.copy", NULL, copy_activated);
  gtk_widget_class_install_action (widget_class, "terminal.paste", NULL, paste_activated);

  gtk_widget_class_set_css_name (widget_class, "terminal-view");
}

static void
mesh_terminal_view_init (MeshTerminalView *self)
{
  GtkEventController *shortcuts;

  self->show_title = TRUE;
  self->control_dialogs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  gtk_widget_init_template (GTK_WIDGET (self));

  /* Copy, paste and focus keys must reach us before the focused VTE turns
   * them into input for the shell, hence the capture phase. */
  shortcuts = gtk_shortcut_controller_new ();
  gtk_event_controller_set_propagation_phase (shortcuts, GTK_PHASE_CAPTURE);
  add_shortcut (shortcuts, "<Control><Shift>c", gtk_named_action_new ("terminal.copy"), NULL);
  add_shortcut (shortcuts, "<Control><Shift>v", gtk_named_action_new ("terminal.paste"), NULL);
  add_focus_shortcut (shortcuts, "<Control>Tab", TRUE, GTK_DIR_TAB_FORWARD);
  add_focus_shortcut (shortcuts, "<Control><Shift>Tab", TRUE, GTK_DIR_TAB_BACKWARD);
  add_focus_shortcut (shortcuts, "<Control><Shift>ISO_Left_Tab", TRUE, GTK_DIR_TAB_BACKWARD);
  add_focus_shortcut (shortcuts, "Tab", FALSE, GTK_DIR_TAB_FORWARD);
  add_focus_shortcut (shortcuts, "<Shift>Tab", FALSE, GTK_DIR_TAB_BACKWARD);
  add_focus_shortcut (shortcuts, "<Shift>ISO_Left_Tab", FALSE, GTK_DIR_TAB_BACKWARD);
  gtk_widget_add_controller (GTK_WIDGET (self), shortcuts);
}

GtkWidget *
mesh_terminal_view_new (MeshSharedTerminal *terminal)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (terminal), NULL);

  return g_object_new (MESH_TYPE_TERMINAL_VIEW, "terminal", terminal, NULL);
}

MeshSharedTerminal *
mesh_terminal_view_get_terminal (MeshTerminalView *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_VIEW (self), NULL);

  return self->terminal;
}

const char *
mesh_terminal_view_get_title (MeshTerminalView *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_VIEW (self), NULL);

  return self->title;
}

void
mesh_terminal_view_set_show_title (MeshTerminalView *self,
                                   gboolean          show_title)
{
  g_return_if_fail (MESH_IS_TERMINAL_VIEW (self));

  show_title = !!show_title;
  if (self->show_title == show_title)
    return;
  self->show_title = show_title;
  if (self->terminal != NULL)
    update (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_TITLE]);
}

const char *
mesh_terminal_view_get_badge (MeshTerminalView *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_VIEW (self), NULL);

  return self->badge_text;
}

GtkWidget *
mesh_terminal_view_get_vte (MeshTerminalView *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_VIEW (self), NULL);

  return self->vte;
}

void
mesh_terminal_view_ask_stop (MeshTerminalView *self,
                             gboolean          close_window)
{
  AdwMessageDialog *dialog;

  g_return_if_fail (MESH_IS_TERMINAL_VIEW (self));

  if (!is_host (self) ||
      mesh_shared_terminal_get_state (self->terminal) == MESH_SHARED_TERMINAL_ENDED) {
    mesh_shared_terminal_stop (self->terminal);
    if (close_window && parent_window (self) != NULL)
      gtk_window_destroy (parent_window (self));
    return;
  }

  dialog = mesh_ui_question_new (parent_window (self), _("Stop Sharing Your Terminal?"),
                                 _("Your shell closes and members no longer see it."), "stop",
                                 _("_Stop Sharing"), ADW_RESPONSE_DESTRUCTIVE, "cancel");
  if (close_window)
    g_object_set_data (G_OBJECT (dialog), "close-window", GINT_TO_POINTER (TRUE));
  g_signal_connect_object (dialog, "response", G_CALLBACK (stop_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}
