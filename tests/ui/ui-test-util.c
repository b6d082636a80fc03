/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "ui-test-util.h"

#include <glib/gstdio.h>
#include <string.h>

/* The test's own session bus, up for the whole run. */
static GTestDBus *test_bus;

static void
test_bus_stop (void)
{
  if (test_bus != NULL)
    g_test_dbus_stop (test_bus);
}

void
ui_test_init (int    *argc,
              char ***argv)
{
  g_autofree char *display = NULL;

  g_test_init (argc, argv, NULL);
  /* A session bus of the test's own, before anything connects to one: on the
   * bus of the session the tests run in, any D-Bus service installed on the
   * machine (a notification daemon, a file manager) could be activated and
   * take the names the tests' stand-ins own.  This bus activates nothing: the
   * project installs no D-Bus service files. */
  display = g_strdup (g_getenv ("DISPLAY"));
  test_bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (test_bus);
  /* GTestDBus unsets DISPLAY (against X11 autolaunching a bus): the windows
   * need it. */
  if (display != NULL)
    g_setenv ("DISPLAY", display, TRUE);
  atexit (test_bus_stop);
  gtk_init ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);
}

MeshApplication *
ui_test_app_new (const char *profile)
{
  g_autoptr(GError) error = NULL;
  MeshApplication *app = mesh_application_new ();

  mesh_application_set_profile (app, profile);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);
  g_application_hold (G_APPLICATION (app));
  return app;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ui_test_wait_until (UiTestCondition  condition,
                    gpointer         user_data,
                    guint            timeout_s,
                    const char      *what)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, set_flag_cb, &timed_out);

  while (!condition (user_data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (timed_out)
    g_error ("Gave up waiting for %s", what);
  g_source_remove (id);
}

gboolean
ui_test_flag_is_set (gpointer flag)
{
  return *(gboolean *) flag;
}

void
ui_test_set_flag (gboolean *flag)
{
  *flag = TRUE;
}

gboolean
ui_test_pointer_is_set (gpointer pointer)
{
  return *(gpointer *) pointer != NULL;
}

static void
after_paint_cb (GdkFrameClock *clock,
                guint         *count)
{
  (*count)++;
}

static gboolean
painted (gpointer user_data)
{
  return *(guint *) user_data >= 1;
}

void
ui_test_wait_drawn (GtkWidget *window)
{
  GdkFrameClock *clock;
  guint count = 0;
  gulong id;

  ui_test_wait_until ((UiTestCondition) gtk_widget_get_mapped, window, 30, "the window to map");
  clock = gtk_widget_get_frame_clock (window);
  id = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &count);
  /* The second frame has what the first one's layout changed. */
  for (guint i = 0; i < 2; i++) {
    count = 0;
    gtk_widget_queue_resize (window);
    gtk_widget_queue_draw (window);
    ui_test_wait_until (painted, &count, 30, "the window to draw");
  }
  g_signal_handler_disconnect (clock, id);
}

void
ui_test_present (GtkWindow *window,
                 int        width,
                 int        height)
{
  int dw, dh;

  gtk_window_set_default_size (window, width, height);
  gtk_window_present (window);
  /* Client-side decorations take a margin of the size asked for: ask again
   * so that the window itself has the size of the screenshots' names. */
  ui_test_wait_drawn (GTK_WIDGET (window));
  dw = width - gtk_widget_get_width (GTK_WIDGET (window));
  dh = height - gtk_widget_get_height (GTK_WIDGET (window));
  if (dw != 0 || dh != 0) {
    gtk_window_set_default_size (window, width + dw, height + dh);
    ui_test_wait_drawn (GTK_WIDGET (window));
  }
}

void
ui_test_destroy_window (GtkWindow *window)
{
  gtk_window_destroy (window);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

GtkWidget *
ui_test_find_widget (GtkWidget      *widget,
                     GType           type,
                     gboolean      (*match) (GtkWidget *w, gconstpointer data),
                     gconstpointer   data)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type) && (match == NULL || match (widget, data)))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *found = ui_test_find_widget (child, type, match, data);

    if (found != NULL)
      return found;
  }
  return NULL;
}

typedef struct {
  const char *name;
  const char *value;
} Property;

static gboolean
property_is (GtkWidget     *widget,
             gconstpointer  data)
{
  const Property *property = data;
  g_autofree char *value = NULL;

  g_object_get (widget, property->name, &value, NULL);
  return g_strcmp0 (value, property->value) == 0;
}

/* The first @type whose string property @name is exactly @value. */
static GtkWidget *
find_with_property (GtkWidget  *widget,
                    GType       type,
                    const char *name,
                    const char *value)
{
  Property property = { name, value };

  return ui_test_find_widget (widget, type, property_is, &property);
}

GtkWidget *
ui_test_find_label (GtkWidget  *widget,
                    const char *text)
{
  return find_with_property (widget, GTK_TYPE_LABEL, "label", text);
}

GtkWidget *
ui_test_find_button (GtkWidget  *widget,
                     const char *label)
{
  return find_with_property (widget, GTK_TYPE_BUTTON, "label", label);
}

GtkWidget *
ui_test_find_button_for_action (GtkWidget  *widget,
                                const char *action_name)
{
  return find_with_property (widget, GTK_TYPE_BUTTON, "action-name", action_name);
}

GtkWidget *
ui_test_find_action_row (GtkWidget  *widget,
                         const char *title)
{
  return find_with_property (widget, ADW_TYPE_ACTION_ROW, "title", title);
}

GtkWindow *
ui_test_find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  guint n = g_list_model_get_n_items (toplevels);

  for (guint i = n; i > 0; i--) {
    g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i - 1);

    if (G_TYPE_CHECK_INSTANCE_TYPE (window, type) && gtk_widget_get_visible (GTK_WIDGET (window)))
      return window;
  }
  return NULL;
}

void
ui_test_click (GtkWidget *button)
{
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_visible (button));
  g_assert_true (gtk_widget_is_sensitive (button));
  /* "clicked" at once: activating animates the press and clicks later. */
  g_signal_emit_by_name (button, "clicked");
}

void
ui_test_click_labelled (GtkWidget  *widget,
                        const char *label)
{
  ui_test_click (ui_test_find_button (widget, label));
}

typedef struct {
  GtkWidget  *widget;
  const char *text;
} LabelWait;

static gboolean
label_mapped (gpointer user_data)
{
  LabelWait *wait = user_data;
  GtkWidget *label = ui_test_find_label (wait->widget, wait->text);

  return label != NULL && gtk_widget_get_mapped (label);
}

void
ui_test_wait_label_shown (GtkWidget  *widget,
                          const char *text,
                          const char *what)
{
  LabelWait wait = { widget, text };

  ui_test_wait_until (label_mapped, &wait, UI_TEST_WAIT_S, what);
}

static gboolean
toplevel_shown (gpointer type)
{
  return ui_test_find_toplevel (GPOINTER_TO_SIZE (type)) != NULL;
}

static gboolean
no_toplevel_shown (gpointer type)
{
  return !toplevel_shown (type);
}

GtkWindow *
ui_test_wait_toplevel (GType       type,
                       const char *what)
{
  ui_test_wait_until (toplevel_shown, GSIZE_TO_POINTER (type), UI_TEST_WAIT_S, what);
  return ui_test_find_toplevel (type);
}

void
ui_test_wait_no_toplevel (GType       type,
                          const char *what)
{
  ui_test_wait_until (no_toplevel_shown, GSIZE_TO_POINTER (type), UI_TEST_WAIT_S, what);
}

static void
read_text_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  char **text = user_data;

  *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, NULL);
  if (*text == NULL)
    *text = g_strdup ("");
}

char *
ui_test_clipboard_text (GtkWidget *widget)
{
  char *text = NULL;

  gdk_clipboard_read_text_async (gtk_widget_get_clipboard (widget), NULL, read_text_cb, &text);
  ui_test_wait_until (ui_test_pointer_is_set, &text, UI_TEST_WAIT_S, "the clipboard's text");
  return text;
}

char *
ui_test_screenshot (GtkWidget  *window,
                    const char *name)
{
  const char *dir = g_getenv ("MESH_SCREENSHOT_DIR");
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *file = g_strconcat (name, ".png", NULL);
  g_autofree char *path = NULL;
  GtkSnapshot *snapshot;
  int width, height;

  g_assert_nonnull (dir);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  path = g_build_filename (dir, file, NULL);

  ui_test_wait_drawn (window);
  paintable = gtk_widget_paintable_new (window);
  width = gtk_widget_get_width (window);
  height = gtk_widget_get_height (window);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("Screenshot %s (%d×%d)", path, width, height);
  return g_steal_pointer (&path);
}

/* --- Accessibility ------------------------------------------------------ */

/* Whether a person operates @widget: what a screen reader must name. */
static gboolean
is_interactive (GtkWidget *widget)
{
  GtkWidget *parent = gtk_widget_get_parent (widget);

  /* A menu model's items are GTK's own (GtkModelButton), named by GTK from
   * the menu's labels. */
  if (g_str_equal (G_OBJECT_TYPE_NAME (widget), "GtkModelButton"))
    return FALSE;
  /* The text inside an entry is the entry's: the entry is named. */
  if (GTK_IS_TEXT (widget) && parent != NULL && GTK_IS_EDITABLE (parent))
    return FALSE;
  if (GTK_IS_TEXT (widget) && gtk_widget_get_ancestor (widget, ADW_TYPE_ENTRY_ROW) != NULL)
    return FALSE;
  /* A menu button's inner toggle is the menu button's. */
  if (GTK_IS_TOGGLE_BUTTON (widget) && parent != NULL && GTK_IS_MENU_BUTTON (parent))
    return FALSE;
  /* An entry's icons (the password reveal is a button of the row's own). */
  if (GTK_IS_LIST_BOX_ROW (widget))
    return gtk_list_box_row_get_activatable (GTK_LIST_BOX_ROW (widget)) &&
           gtk_widget_get_sensitive (widget);
  return GTK_IS_BUTTON (widget) || GTK_IS_MENU_BUTTON (widget) ||
         GTK_IS_CHECK_BUTTON (widget) || GTK_IS_SWITCH (widget) ||
         GTK_IS_ENTRY (widget) || GTK_IS_TEXT (widget) || GTK_IS_PASSWORD_ENTRY (widget) ||
         GTK_IS_SEARCH_ENTRY (widget) || GTK_IS_SPIN_BUTTON (widget) ||
         GTK_IS_TEXT_VIEW (widget) || GTK_IS_DROP_DOWN (widget) || GTK_IS_SCALE (widget) ||
         ADW_IS_ENTRY_ROW (widget) || ADW_IS_COMBO_ROW (widget);
}

/* The labels under @root, to resolve a labelled-by relation against. */
static void
collect_labels (GtkWidget *root,
                GPtrArray *labels)
{
  if (GTK_IS_LABEL (root))
    g_ptr_array_add (labels, root);
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_labels (child, labels);
}

/* What a screen reader reads as @widget's name: its label property, or the
 * text of the label it is labelled by; NULL when it has neither. */
static char *
accessible_name (GtkWidget *widget,
                 GPtrArray *labels)
{
  GtkAccessible *accessible = GTK_ACCESSIBLE (widget);

  if (gtk_test_accessible_has_property (accessible, GTK_ACCESSIBLE_PROPERTY_LABEL)) {
    /* The check answers the real value when it is not the one asked for. */
    g_autofree char *value = gtk_test_accessible_check_property (
      accessible, GTK_ACCESSIBLE_PROPERTY_LABEL, "\x01");

    if (value != NULL && *value != '\0')
      return g_steal_pointer (&value);
  }
  if (gtk_test_accessible_has_relation (accessible, GTK_ACCESSIBLE_RELATION_LABELLED_BY)) {
    /* Asked for an impossible value, the check answers the real one:
     * "GtkLabel<0x…> GtkImage<0x…>".  Only labels give a name. */
    g_autofree char *related = gtk_test_accessible_check_relation (
      accessible, GTK_ACCESSIBLE_RELATION_LABELLED_BY, NULL);
    g_autoptr(GString) name = g_string_new (NULL);

    for (guint i = 0; related != NULL && i < labels->len; i++) {
      g_autofree char *ref = g_strdup_printf ("%s<%p>", G_OBJECT_TYPE_NAME (labels->pdata[i]),
                                              labels->pdata[i]);

      if (strstr (related, ref) != NULL)
        g_string_append (name, gtk_label_get_text (labels->pdata[i]));
    }
    if (name->len > 0)
      return g_string_free (g_steal_pointer (&name), FALSE);
  }
  return NULL;
}

static void
check_names (GtkWidget *widget,
             GPtrArray *labels,
             GString   *faults)
{
  if (!gtk_widget_get_visible (widget))
    return;
  if (is_interactive (widget)) {
    g_autofree char *name = accessible_name (widget, labels);

    if (name == NULL || *name == '\0')
      g_string_append_printf (faults, "  %s in %s (tooltip “%s”%s%s): no name\n",
                              G_OBJECT_TYPE_NAME (widget),
                              G_OBJECT_TYPE_NAME (gtk_widget_get_parent (widget)),
                              gtk_widget_get_tooltip_text (widget),
                              GTK_IS_BUTTON (widget) ? ", icon " : "",
                              GTK_IS_BUTTON (widget)
                                ? gtk_button_get_icon_name (GTK_BUTTON (widget)) : "");
    else if (g_type_from_name (name) != 0)
      g_string_append_printf (faults, "  %s: named by a type, “%s”\n",
                              G_OBJECT_TYPE_NAME (widget), name);
    else if (strchr (name, '_') != NULL)
      g_string_append_printf (faults, "  %s: mnemonic underscore in “%s”\n",
                              G_OBJECT_TYPE_NAME (widget), name);
    else
      g_test_message ("%s: “%s”", G_OBJECT_TYPE_NAME (widget), name);
  }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    check_names (child, labels, faults);
}

/* Every interactive widget under @root has a name a screen reader can read:
 * not empty, not a type's name, without a mnemonic's underscore. */
void
ui_test_assert_all_named (GtkWidget  *root,
                          const char *page,
                          GString    *faults)
{
  g_autoptr(GPtrArray) labels = g_ptr_array_new ();
  gsize before = faults->len;

  collect_labels (root, labels);
  g_string_append_printf (faults, "%s:\n", page);
  check_names (root, labels, faults);
  if (faults->len == before + strlen (page) + 2)
    g_string_truncate (faults, before);
}

typedef struct {
  UiTestBusMethod method;
  gpointer        user_data;
} BusService;

static void
bus_method_cb (GDBusConnection       *connection,
               const char            *sender,
               const char            *path,
               const char            *interface,
               const char            *method,
               GVariant              *parameters,
               GDBusMethodInvocation *invocation,
               gpointer               user_data)
{
  BusService *service = user_data;

  service->method (method, parameters, invocation, service->user_data);
}

GDBusConnection *
ui_test_bus_serve (const char      *xml,
                   const char      *path,
                   const char      *name,
                   UiTestBusMethod  method,
                   gpointer         user_data,
                   GClosure        *acquired,
                   GClosure        *lost)
{
  static const GDBusInterfaceVTable vtable = { bus_method_cb, NULL, NULL, { NULL } };
  g_autoptr(GDBusNodeInfo) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  GDBusConnection *connection;
  BusService *service = g_new0 (BusService, 1);

  address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  connection = g_dbus_connection_new_for_address_sync (
    address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
    G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
  g_assert_no_error (error);
  node = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);
  service->method = method;
  service->user_data = user_data;
  g_dbus_connection_register_object (connection, path, node->interfaces[0], &vtable, service,
                                     g_free, &error);
  g_assert_no_error (error);
  g_bus_own_name_on_connection_with_closures (connection, name, G_BUS_NAME_OWNER_FLAGS_NONE,
                                              acquired, lost);
  return connection;
}

/* --- A notification server ---------------------------------------------- */

#define NOTIFY_PATH "/org/freedesktop/Notifications"
#define NOTIFY_IFACE "org.freedesktop.Notifications"

static const char notify_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.Notifications'>"
  "    <method name='Notify'>"
  "      <arg type='s' direction='in'/><arg type='u' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='as' direction='in'/>"
  "      <arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
  "      <arg type='u' direction='out'/>"
  "    </method>"
  "    <method name='CloseNotification'><arg type='u' direction='in'/></method>"
  "    <method name='GetCapabilities'><arg type='as' direction='out'/></method>"
  "    <method name='GetServerInformation'>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "    </method>"
  "    <signal name='NotificationClosed'><arg type='u'/><arg type='u'/></signal>"
  "    <signal name='ActionInvoked'><arg type='u'/><arg type='s'/></signal>"
  "  </interface>"
  "</node>";

static struct {
  GMutex           lock;
  GCond            cond;
  GThread         *thread;
  GMainContext    *context;
  GMainLoop       *loop;
  GDBusConnection *connection;
  gboolean         owned;
  gboolean         lost;
  guint32          last_id;
  GPtrArray       *notified;  /* UiTestNotified, never freed during the run */
  GArray          *closed;    /* guint32 ids */
} notify;

static void
notified_free (UiTestNotified *notified)
{
  g_free (notified->summary);
  g_free (notified->body);
  g_strfreev (notified->actions);
  g_free (notified->category);
  g_free (notified->desktop_entry);
  g_free (notified);
}

static void
notify_method_cb (const char            *method,
                  GVariant              *parameters,
                  GDBusMethodInvocation *invocation,
                  gpointer               user_data)
{
  if (g_str_equal (method, "Notify")) {
    UiTestNotified *notified = g_new0 (UiTestNotified, 1);
    g_autoptr(GVariant) hints = NULL;
    const char *app_name, *icon, *summary, *body;
    g_autofree const char **actions = NULL;
    gint32 timeout;

    g_variant_get (parameters, "(&su&s&s&s^a&s@a{sv}i)", &app_name, &notified->replaces_id, &icon,
                   &summary, &body, &actions, &hints, &timeout);
    notified->summary = g_strdup (summary);
    notified->body = g_strdup (body);
    notified->actions = g_strdupv ((char **) actions);
    g_variant_lookup (hints, "category", "s", &notified->category);
    g_variant_lookup (hints, "desktop-entry", "s", &notified->desktop_entry);
    g_mutex_lock (&notify.lock);
    notified->id = notified->replaces_id != 0 ? notified->replaces_id : ++notify.last_id;
    g_ptr_array_add (notify.notified, notified);
    g_mutex_unlock (&notify.lock);
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", notified->id));
  } else if (g_str_equal (method, "CloseNotification")) {
    guint32 id;

    g_variant_get (parameters, "(u)", &id);
    g_mutex_lock (&notify.lock);
    g_array_append_val (notify.closed, id);
    g_mutex_unlock (&notify.lock);
    /* 3: closed by a call to CloseNotification. */
    g_dbus_connection_emit_signal (g_dbus_method_invocation_get_connection (invocation), NULL,
                                   NOTIFY_PATH, NOTIFY_IFACE, "NotificationClosed",
                                   g_variant_new ("(uu)", id, 3), NULL);
    g_dbus_method_invocation_return_value (invocation, NULL);
  } else if (g_str_equal (method, "GetCapabilities")) {
    const char *caps[] = { "actions", "body", NULL };

    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(^as)", caps));
  } else if (g_str_equal (method, "GetServerInformation")) {
    g_dbus_method_invocation_return_value (invocation,
                                           g_variant_new ("(ssss)", g_get_prgname (), "Mesh",
                                                          "1.0", "1.2"));
  } else {
    g_dbus_method_invocation_return_dbus_error (invocation,
                                                "org.freedesktop.DBus.Error.UnknownMethod",
                                                method);
  }
}

/* Sets @flag (notify.owned or notify.lost) and wakes ui_test_notify_start (). */
static void
notify_name_cb (GDBusConnection *connection,
                const char      *name,
                gboolean        *flag)
{
  g_mutex_lock (&notify.lock);
  *flag = TRUE;
  g_cond_signal (&notify.cond);
  g_mutex_unlock (&notify.lock);
}

static gpointer
notify_thread (gpointer user_data)
{
  g_main_context_push_thread_default (notify.context);
  /* Its own connection, as a real notification daemon has. */
  notify.connection = ui_test_bus_serve (notify_xml, NOTIFY_PATH, NOTIFY_IFACE, notify_method_cb,
                                         NULL, g_cclosure_new (G_CALLBACK (notify_name_cb),
                                                         &notify.owned, NULL),
                                         g_cclosure_new (G_CALLBACK (notify_name_cb),
                                                         &notify.lost, NULL));
  g_main_loop_run (notify.loop);
  g_main_context_pop_thread_default (notify.context);
  return NULL;
}

void
ui_test_notify_start (void)
{
  g_mutex_init (&notify.lock);
  g_cond_init (&notify.cond);
  notify.notified = g_ptr_array_new_with_free_func ((GDestroyNotify) notified_free);
  notify.closed = g_array_new (FALSE, FALSE, sizeof (guint32));
  notify.context = g_main_context_new ();
  notify.loop = g_main_loop_new (notify.context, FALSE);
  notify.thread = g_thread_new ("notification-server", notify_thread, NULL);

  g_mutex_lock (&notify.lock);
  while (!notify.owned && !notify.lost)
    g_cond_wait (&notify.cond, &notify.lock);
  g_mutex_unlock (&notify.lock);
  /* The test's own bus (ui_test_init ()): nobody else may hold the name. */
  g_assert_true (notify.owned);
}

void
ui_test_notify_stop (void)
{
  g_main_loop_quit (notify.loop);
  g_thread_join (notify.thread);
  g_clear_object (&notify.connection);
  g_main_loop_unref (notify.loop);
  g_main_context_unref (notify.context);
  g_ptr_array_unref (notify.notified);
  g_array_unref (notify.closed);
}

guint
ui_test_notify_count (void)
{
  guint n;

  g_mutex_lock (&notify.lock);
  n = notify.notified->len;
  g_mutex_unlock (&notify.lock);
  return n;
}

static gboolean
more_than (gpointer user_data)
{
  return ui_test_notify_count () > GPOINTER_TO_UINT (user_data);
}

UiTestNotified *
ui_test_notify_wait (guint       index,
                     const char *what)
{
  UiTestNotified *notified;

  ui_test_wait_until (more_than, GUINT_TO_POINTER (index), UI_TEST_WAIT_S, what);
  g_mutex_lock (&notify.lock);
  notified = notify.notified->pdata[index];
  g_mutex_unlock (&notify.lock);
  return notified;
}

UiTestNotified *
ui_test_notify_last (void)
{
  UiTestNotified *notified = NULL;

  g_mutex_lock (&notify.lock);
  if (notify.notified->len > 0)
    notified = notify.notified->pdata[notify.notified->len - 1];
  g_mutex_unlock (&notify.lock);
  return notified;
}

static UiTestNotified *
find_summary (const char *summary)
{
  UiTestNotified *found = NULL;

  g_mutex_lock (&notify.lock);
  for (guint i = notify.notified->len; i > 0 && found == NULL; i--) {
    UiTestNotified *notified = notify.notified->pdata[i - 1];

    if (g_strcmp0 (notified->summary, summary) == 0)
      found = notified;
  }
  g_mutex_unlock (&notify.lock);
  return found;
}

static gboolean
summary_notified (gpointer summary)
{
  return find_summary (summary) != NULL;
}

UiTestNotified *
ui_test_notify_wait_summary (const char *summary,
                             const char *what)
{
  ui_test_wait_until (summary_notified, (gpointer) summary, UI_TEST_WAIT_S, what);
  return find_summary (summary);
}

static gboolean
is_closed (gpointer user_data)
{
  guint32 id = GPOINTER_TO_UINT (user_data);
  gboolean found = FALSE;

  g_mutex_lock (&notify.lock);
  for (guint i = 0; i < notify.closed->len && !found; i++)
    found = g_array_index (notify.closed, guint32, i) == id;
  g_mutex_unlock (&notify.lock);
  return found;
}

void
ui_test_notify_wait_closed (guint32     id,
                            const char *what)
{
  ui_test_wait_until (is_closed, GUINT_TO_POINTER (id), UI_TEST_WAIT_S, what);
}

void
ui_test_notify_invoke (UiTestNotified *notified,
                       const char     *action)
{
  g_autoptr(GError) error = NULL;

  g_dbus_connection_emit_signal (notify.connection, NULL, NOTIFY_PATH, NOTIFY_IFACE,
                                 "ActionInvoked", g_variant_new ("(us)", notified->id, action),
                                 &error);
  g_assert_no_error (error);
}

const char *
ui_test_notify_action_label (UiTestNotified *notified,
                             const char     *key)
{
  for (guint i = 0; notified->actions[i] != NULL && notified->actions[i + 1] != NULL; i += 2) {
    if (g_str_equal (notified->actions[i], key))
      return notified->actions[i + 1];
  }
  return NULL;
}
