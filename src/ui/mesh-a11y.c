/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ui"

#include "config.h"

#include "mesh-a11y.h"

#include <glib/gi18n.h>

char *
mesh_a11y_strip_mnemonic (const char *label)
{
  GString *out = g_string_new (NULL);

  for (const char *p = label; *p != '\0'; p++) {
    if (*p == '_') {
      if (p[1] == '_')
        g_string_append_c (out, '_');
      if (p[1] != '\0')
        p++;
      else
        break;
    }
    g_string_append_c (out, *p);
  }
  return g_string_free (out, FALSE);
}

static gboolean
has_label (GtkWidget *widget)
{
  return gtk_test_accessible_has_property (GTK_ACCESSIBLE (widget),
                                           GTK_ACCESSIBLE_PROPERTY_LABEL);
}

static void
set_label (GtkWidget  *widget,
           const char *label)
{
  gtk_accessible_update_property (GTK_ACCESSIBLE (widget), GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                  -1);
}

/* GtkButton sets its label, underscore included, as its accessible name:
 * whenever the label changes, the name is set again without it. */
static void
button_label_changed_cb (GtkButton *button)
{
  const char *label = gtk_button_get_label (button);
  g_autofree char *stripped = NULL;

  if (label == NULL || !gtk_button_get_use_underline (button) || strchr (label, '_') == NULL)
    return;
  stripped = mesh_a11y_strip_mnemonic (label);
  set_label (GTK_WIDGET (button), stripped);
}

static void
name_widget (GtkWidget *widget)
{
  GtkWidget *parent = gtk_widget_get_parent (widget);
  const char *tooltip;

  if (GTK_IS_BUTTON (widget)) {
    if (g_object_get_data (G_OBJECT (widget), "mesh-a11y") == NULL) {
      g_object_set_data (G_OBJECT (widget), "mesh-a11y", GINT_TO_POINTER (1));
      g_signal_connect (widget, "notify::label", G_CALLBACK (button_label_changed_cb), NULL);
      g_signal_connect (widget, "notify::use-underline", G_CALLBACK (button_label_changed_cb),
                        NULL);
    }
    button_label_changed_cb (GTK_BUTTON (widget));
  }
  if (has_label (widget))
    return;

  tooltip = gtk_widget_get_tooltip_text (widget);
  if ((GTK_IS_BUTTON (widget) || GTK_IS_MENU_BUTTON (widget)) && tooltip != NULL &&
      *tooltip != '\0') {
    set_label (widget, tooltip);
  } else if (GTK_IS_BUTTON (widget) && parent != NULL && GTK_IS_SPIN_BUTTON (parent)) {
    const char *icon = gtk_button_get_icon_name (GTK_BUTTON (widget));

    set_label (widget, g_strcmp0 (icon, "value-decrease-symbolic") == 0 ? _("Decrease")
                                                                          : _("Increase"));
  } else if (GTK_IS_SEARCH_ENTRY (widget)) {
    g_autofree char *placeholder = NULL;

    g_object_get (widget, "placeholder-text", &placeholder, NULL);
    set_label (widget, placeholder != NULL && *placeholder != '\0' ? placeholder : _("Search"));
  }
}

static void
name_tree (GtkWidget *widget)
{
  if (GTK_IS_BUTTON (widget) || GTK_IS_MENU_BUTTON (widget) || GTK_IS_SEARCH_ENTRY (widget))
    name_widget (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    name_tree (child);
}

static gboolean
map_hook (GSignalInvocationHint *hint,
          guint                  n_values,
          const GValue          *values,
          gpointer               user_data)
{
  GObject *object = g_value_get_object (&values[0]);

  /* A window names all it holds when it shows, the pages not on screen
   * included (a screen reader lists them); widgets added later are named as
   * they show. */
  if (GTK_IS_NATIVE (object))
    name_tree (GTK_WIDGET (object));
  else if (GTK_IS_BUTTON (object) || GTK_IS_MENU_BUTTON (object) || GTK_IS_SEARCH_ENTRY (object))
    name_widget (GTK_WIDGET (object));
  return TRUE;
}

void
mesh_a11y_install (void)
{
  static gsize installed;

  if (g_once_init_enter (&installed)) {
    /* The class is set up (its signals created) before a widget exists. */
    GTypeClass *klass = g_type_class_ref (GTK_TYPE_WIDGET);

    g_signal_add_emission_hook (g_signal_lookup ("map", GTK_TYPE_WIDGET), 0, map_hook, NULL,
                                NULL);
    g_type_class_unref (klass);
    g_once_init_leave (&installed, 1);
  }
}
