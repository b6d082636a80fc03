/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "mesh-application.h"

G_BEGIN_DECLS

/* How long a test waits for anything before it fails: a guard against
 * hanging, not a timing requirement. */
#define UI_TEST_WAIT_S 60

typedef gboolean (*UiTestCondition) (gpointer user_data);

/* g_test_init () and gtk_init (), with animations off: screenshots show the
 * end of a transition, not its middle. */
void       ui_test_init              (int             *argc,
                                      char          ***argv);
/* One application for the whole run, as in the app: registered under
 * @profile and held, since the tests create the windows. */
MeshApplication *ui_test_app_new     (const char      *profile);

/* Iterates the main context until @condition holds; fails the test after
 * @timeout_s (a guard against hanging, not a timing requirement). */
void       ui_test_wait_until        (UiTestCondition  condition,
                                      gpointer         user_data,
                                      guint            timeout_s,
                                      const char      *what);
/* Conditions on a gboolean flag and on a pointer, given their address;
 * ui_test_set_flag () sets the flag (connect it swapped). */
gboolean   ui_test_flag_is_set       (gpointer         flag);
void       ui_test_set_flag          (gboolean        *flag);
gboolean   ui_test_pointer_is_set    (gpointer         pointer);

/* Presents @window so that the window itself (without the margin that
 * client-side decorations take) is @width × @height, and waits until it is
 * drawn at that size. */
void       ui_test_present           (GtkWindow       *window,
                                      int              width,
                                      int              height);
/* Destroys @window and runs what its going sets off. */
void       ui_test_destroy_window    (GtkWindow       *window);
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
/* A GtkButton whose label is exactly @label (mnemonic included). */
GtkWidget *ui_test_find_button       (GtkWidget       *widget,
                                      const char      *label);
GtkWidget *ui_test_find_button_for_action (GtkWidget  *widget,
                                           const char *action_name);
/* An AdwActionRow titled exactly @title (mnemonic included). */
GtkWidget *ui_test_find_action_row   (GtkWidget       *widget,
                                      const char      *title);
/* The newest shown toplevel of @type, or NULL. */
GtkWindow *ui_test_find_toplevel     (GType            type);

/* Clicks @button as a person would; it must be there, shown and sensitive. */
void       ui_test_click             (GtkWidget       *button);
/* Clicks the button labelled @label in @widget. */
void       ui_test_click_labelled    (GtkWidget       *widget,
                                      const char      *label);
/* Waits until a label showing exactly @text is on screen in @widget. */
void       ui_test_wait_label_shown  (GtkWidget       *widget,
                                      const char      *text,
                                      const char      *what);
/* Waits until a toplevel of @type shows, and returns it. */
GtkWindow *ui_test_wait_toplevel     (GType            type,
                                      const char      *what);
/* Waits until no toplevel of @type shows. */
void       ui_test_wait_no_toplevel  (GType            type,
                                      const char      *what);
/* The text on @widget's clipboard; "" if it holds none. */
char      *ui_test_clipboard_text    (GtkWidget       *widget);

/* Renders @window as it is on screen to $MESH_SCREENSHOT_DIR/@name.png and
 * returns the path. */
char      *ui_test_screenshot        (GtkWidget       *window,
                                      const char      *name);

/* Appends to @faults, under @page, every interactive widget under @root (shown)
 * that has no name a screen reader can read: none, a type's name, or one with
 * a mnemonic's underscore.  Needs GTK_A11Y=test. */
void       ui_test_assert_all_named  (GtkWidget       *root,
                                      const char      *page,
                                      GString         *faults);

/* Serves @vtable at @path on a connection of its own to the session bus (as
 * a real service has), owning @name; @acquired and @lost (may be NULL) run
 * when the name is owned or lost.  Call it from the thread whose default
 * context should dispatch the calls. */
GDBusConnection *ui_test_bus_serve   (const char                 *xml,
                                      const char                 *path,
                                      const char                 *name,
                                      const GDBusInterfaceVTable *vtable,
                                      GClosure                   *acquired,
                                      GClosure                   *lost);

G_END_DECLS
