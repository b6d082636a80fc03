/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ui"

#include "config.h"

#include "mesh-ui-util.h"

#include "mesh-error-text.h"

#include <glib/gi18n.h>

char *
mesh_ui_describe_error (const GError *error)
{
  g_autofree char *details = NULL;
  char *text;

  g_return_val_if_fail (error != NULL, NULL);

  /* The sentence is for people; what a developer needs goes to the log. */
  text = mesh_error_text_describe (error, &details);
  g_message ("%s", details);
  return text;
}

char *
mesh_ui_format_fingerprint (const char *hex)
{
  g_autoptr(GString) out = g_string_new (NULL);
  guint n = 0;

  g_return_val_if_fail (hex != NULL, NULL);

  for (const char *p = hex; *p != '\0'; p++) {
    if (!g_ascii_isxdigit (*p))
      continue;
    if (n > 0 && n % 2 == 0)
      g_string_append_c (out, n % 32 == 0 ? '\n' : ':');
    g_string_append_c (out, g_ascii_toupper (*p));
    n++;
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

void
mesh_ui_toast (GtkWidget  *widget,
               const char *message)
{
  GtkWidget *preferences;

  g_return_if_fail (GTK_IS_WIDGET (widget));
  g_return_if_fail (message != NULL);

  /* Preferences pages live in their own window, with its own toasts. */
  preferences = gtk_widget_get_ancestor (widget, ADW_TYPE_PREFERENCES_WINDOW);
  if (preferences != NULL)
    adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (preferences),
                                      mesh_error_text_toast_new (message));
  else if (!gtk_widget_activate_action (widget, "win.toast", "s", message))
    g_message ("%s", message);
}

void
mesh_ui_toast_error (GtkWidget    *widget,
                     const GError *error)
{
  g_autofree char *message = mesh_ui_describe_error (error);

  mesh_ui_toast (widget, message);
}

AdwMessageDialog *
mesh_ui_question_new (GtkWindow             *parent,
                      const char            *heading,
                      const char            *body,
                      const char            *response,
                      const char            *label,
                      AdwResponseAppearance  appearance,
                      const char            *default_response)
{
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent, heading, body));

  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), response, label, NULL);
  adw_message_dialog_set_response_appearance (dialog, response, appearance);
  adw_message_dialog_set_default_response (dialog, default_response);
  adw_message_dialog_set_close_response (dialog, "cancel");
  return dialog;
}

guint
mesh_ui_name_color (const char *name)
{
  return name != NULL ? g_str_hash (name) % 8 + 1 : 1;
}
