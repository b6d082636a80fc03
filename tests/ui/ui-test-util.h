/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef gboolean (*UiTestCondition) (gpointer user_data);

/* Iterates the main context until @condition holds; fails the test after
 * @timeout_s (a guard against hanging, not a timing requirement). */
void       ui_test_wait_until        (UiTestCondition  condition,
                                      gpointer         user_data,
                                      guint            timeout_s,
                                      const char      *what);
/* Lets the window lay itself out and draw at least twice. */
void       ui_test_wait_drawn        (GtkWidget       *window);
/* The first descendant (depth first, @widget included) of @type for which
 * @match (may be NULL) holds. */
GtkWidget *ui_test_find_widget       (GtkWidget       *widget,
                                      GType            type,
                                      gboolean       (*match) (GtkWidget *w, gconstpointer data),
                                      gconstpointer    data);
/* A GtkLabel showing exactly @text (mapped or not). */
GtkWidget *ui_test_find_label        (GtkWidget       *widget,
                                      const char      *text);
GtkWidget *ui_test_find_button_for_action (GtkWidget  *widget,
                                           const char *action_name);
/* The newest toplevel of @type other than @except. */
GtkWindow *ui_test_find_toplevel     (GType            type);
/* Renders @window as it is on screen to $MESH_SCREENSHOT_DIR/@name.png and
 * returns the path. */
char      *ui_test_screenshot        (GtkWidget       *window,
                                      const char      *name);

G_END_DECLS
