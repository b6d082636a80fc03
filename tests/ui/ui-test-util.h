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

/* A call of a method (by its name) to a service of ui_test_bus_serve (). */
typedef void (*UiTestBusMethod) (const char            *method,
                                 GVariant              *parameters,
                                 GDBusMethodInvocation *invocation,
                                 gpointer               user_data);

/* Serves the first interface of @xml at @path on a connection of its own to
 * the session bus (as a real service has), owning @name: @method answers
 * its calls.  @acquired and @lost (may be NULL) run when the name is owned
 * or lost.  Call it from the thread whose default context should dispatch
 * the calls; closing the connection ends the service. */
GDBusConnection *ui_test_bus_serve   (const char      *xml,
                                      const char      *path,
                                      const char      *name,
                                      UiTestBusMethod  method,
                                      gpointer         user_data,
                                      GClosure        *acquired,
                                      GClosure        *lost);

/* A notification server (org.freedesktop.Notifications) on the test's bus,
 * in a thread of its own: libnotify calls it synchronously from the main
 * thread.  It keeps every Notify call of the run and the ids it was asked
 * to close. */
typedef struct {
  guint32  id;
  guint32  replaces_id;
  char    *summary;
  char    *body;
  char   **actions;        /* key, label, key, label… */
  char    *category;
  char    *desktop_entry;
} UiTestNotified;

/* Starts it, after ui_test_init (): nobody else may hold its name. */
void            ui_test_notify_start        (void);
void            ui_test_notify_stop         (void);
/* How many Notify calls it has had. */
guint           ui_test_notify_count        (void);
/* Notify call number @index (from 0) of the run, once it is there; valid
 * until ui_test_notify_stop (). */
UiTestNotified *ui_test_notify_wait         (guint            index,
                                             const char      *what);
/* The newest one, or NULL. */
UiTestNotified *ui_test_notify_last         (void);
/* The newest one whose summary is @summary, once there is one. */
UiTestNotified *ui_test_notify_wait_summary (const char      *summary,
                                             const char      *what);
/* Waits until it was asked to close @id. */
void            ui_test_notify_wait_closed  (guint32          id,
                                             const char      *what);
/* The desktop's answer to a click: ActionInvoked to every listener. */
void            ui_test_notify_invoke       (UiTestNotified  *notified,
                                             const char      *action);
/* The label of the action @key, or NULL. */
const char     *ui_test_notify_action_label (UiTestNotified  *notified,
                                             const char      *key);

G_END_DECLS
