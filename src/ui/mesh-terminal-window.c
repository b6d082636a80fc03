/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-terminal-window"

#include "config.h"

#include "mesh-terminal-window.h"

#include <glib/gi18n.h>
#include <vte/vte.h>

enum {
  PROP_0,
  PROP_TERMINAL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshTerminalWindow {
  AdwWindow            parent_instance;

  /* Template widgets */
  AdwWindowTitle      *window_title;
  AdwToastOverlay     *toast_overlay;

  /* Owned references */
  MeshSharedTerminal  *terminal;

  /* Borrowed references */
  MeshTerminalView    *view;
  GtkEventController  *shortcuts;
  AdwToast            *toast;      /* weak */
};

G_DEFINE_FINAL_TYPE (MeshTerminalWindow, mesh_terminal_window, ADW_TYPE_WINDOW)

static void
toast_activated (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (widget);
  AdwToast *toast = adw_toast_new (g_variant_get_string (parameter, NULL));

  /* News about control supersedes the previous news, rather than queue. */
  if (self->toast != NULL)
    adw_toast_dismiss (self->toast);
  g_set_weak_pointer (&self->toast, toast);
  adw_toast_set_timeout (toast, 5);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* Ctrl+W deletes a word in a shell: while what is typed goes to the shell,
 * the key goes there (as the ^W VTE would send) instead of closing the
 * window, which the application's accelerator would otherwise do first. */
static gboolean
close_unless_typing_cb (GtkWidget *widget,
                        GVariant  *args,
                        gpointer   user_data)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (widget);
  GtkWidget *vte = mesh_terminal_view_get_vte (self->view);

  if (gtk_widget_is_focus (vte) && vte_terminal_get_input_enabled (VTE_TERMINAL (vte)))
    vte_terminal_feed_child (VTE_TERMINAL (vte), "\x17", 1);
  else
    gtk_window_close (GTK_WINDOW (self));
  return TRUE;
}

/* Once the share ended, news about control is moot, and would hide the
 * ended page's Close button. */
static void
state_changed_cb (MeshTerminalWindow *self)
{
  if (mesh_shared_terminal_get_state (self->terminal) == MESH_SHARED_TERMINAL_ENDED &&
      self->toast != NULL)
    adw_toast_dismiss (self->toast);
}

/* GTK runs a widget's newest controller first, and the application's
 * accelerators (Ctrl+W: close) come with the application: stay ahead. */
static void
application_changed_cb (MeshTerminalWindow *self)
{
  g_object_ref (self->shortcuts);
  gtk_widget_remove_controller (GTK_WIDGET (self), self->shortcuts);
  gtk_widget_add_controller (GTK_WIDGET (self), self->shortcuts);
}

static gboolean
mesh_terminal_window_close_request (GtkWindow *window)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (window);

  /* For the host, closing stops the share: ask first (the view closes the
   * window once the user agrees). */
  if (mesh_shared_terminal_get_role (self->terminal) == MESH_SHARED_TERMINAL_HOST &&
      mesh_shared_terminal_get_state (self->terminal) != MESH_SHARED_TERMINAL_ENDED) {
    mesh_terminal_view_ask_stop (self->view, TRUE);
    return TRUE;
  }
  mesh_shared_terminal_stop (self->terminal);
  return GTK_WINDOW_CLASS (mesh_terminal_window_parent_class)->close_request (window);
}

static void
mesh_terminal_window_map (GtkWidget *widget)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (widget);

  GTK_WIDGET_CLASS (mesh_terminal_window_parent_class)->map (widget);
  /* Typing goes to the terminal from the start. */
  gtk_widget_grab_focus (GTK_WIDGET (self->view));
}

static void
mesh_terminal_window_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (object);

  switch (prop_id) {
  case PROP_TERMINAL:
    g_value_set_object (value, self->terminal);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_terminal_window_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (object);

  switch (prop_id) {
  case PROP_TERMINAL:
    self->terminal = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_terminal_window_constructed (GObject *object)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (object);
  const char *title;

  G_OBJECT_CLASS (mesh_terminal_window_parent_class)->constructed (object);

  g_assert (MESH_IS_SHARED_TERMINAL (self->terminal));

  self->view = MESH_TERMINAL_VIEW (mesh_terminal_view_new (self->terminal));
  /* The header bar shows the title. */
  mesh_terminal_view_set_show_title (self->view, FALSE);
  adw_toast_overlay_set_child (self->toast_overlay, GTK_WIDGET (self->view));
  title = mesh_terminal_view_get_title (self->view);
  adw_window_title_set_title (self->window_title, title);
  gtk_window_set_title (GTK_WINDOW (self), title);
  g_signal_connect_object (self->terminal, "notify::state", G_CALLBACK (state_changed_cb), self,
                           G_CONNECT_SWAPPED);
}

static void
mesh_terminal_window_dispose (GObject *object)
{
  MeshTerminalWindow *self = MESH_TERMINAL_WINDOW (object);

  g_signal_handlers_disconnect_by_func (self, application_changed_cb, NULL);
  g_clear_weak_pointer (&self->toast);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_TERMINAL_WINDOW);
  self->view = NULL;
  g_clear_object (&self->terminal);

  G_OBJECT_CLASS (mesh_terminal_window_parent_class)->dispose (object);
}

static void
mesh_terminal_window_class_init (MeshTerminalWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->get_property = mesh_terminal_window_get_property;
  object_class->set_property = mesh_terminal_window_set_property;
  object_class->constructed = mesh_terminal_window_constructed;
  object_class->dispose = mesh_terminal_window_dispose;
  widget_class->map = mesh_terminal_window_map;
  window_class->close_request = mesh_terminal_window_close_request;

  properties[PROP_TERMINAL] =
    g_param_spec_object ("terminal", NULL, NULL, MESH_TYPE_SHARED_TERMINAL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-terminal-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, MeshTerminalWindow, toast_overlay);

  gtk_widget_class_install_action (widget_class, "win.toast", "s", toast_activated);
}

static void
mesh_terminal_window_init (MeshTerminalWindow *self)
{
  GtkEventController *shortcuts;
  GtkShortcut *shortcut;

  gtk_widget_init_template (GTK_WIDGET (self));

  /* In the capture phase, ahead of the VTE, which would send the keys to
   * the shell. */
  shortcuts = gtk_shortcut_controller_new ();
  gtk_event_controller_set_propagation_phase (shortcuts, GTK_PHASE_CAPTURE);
  shortcut = gtk_shortcut_new (gtk_shortcut_trigger_parse_string ("<Control><Shift>w"),
                               gtk_named_action_new ("window.close"));
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts), shortcut);
  shortcut = gtk_shortcut_new (gtk_shortcut_trigger_parse_string ("<Control>w"),
                               gtk_callback_action_new (close_unless_typing_cb, NULL, NULL));
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts), shortcut);
  gtk_widget_add_controller (GTK_WIDGET (self), shortcuts);
  self->shortcuts = shortcuts;
  g_signal_connect (self, "notify::application", G_CALLBACK (application_changed_cb), NULL);
}

MeshTerminalWindow *
mesh_terminal_window_new (GtkApplication     *app,
                          MeshSharedTerminal *terminal)
{
  g_return_val_if_fail (app == NULL || GTK_IS_APPLICATION (app), NULL);
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (terminal), NULL);

  return g_object_new (MESH_TYPE_TERMINAL_WINDOW,
                       "application", app,
                       "terminal", terminal,
                       NULL);
}

MeshTerminalView *
mesh_terminal_window_get_view (MeshTerminalWindow *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_WINDOW (self), NULL);

  return self->view;
}

MeshSharedTerminal *
mesh_terminal_window_get_terminal (MeshTerminalWindow *self)
{
  g_return_val_if_fail (MESH_IS_TERMINAL_WINDOW (self), NULL);

  return self->terminal;
}
