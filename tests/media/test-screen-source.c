/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-screen-source.h"

#include <gio/gunixfdlist.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>

/* Each test has its own session bus (GTestDBus): with nothing on it there is
 * no portal; a fake xdg-desktop-portal, on its own thread, plays the user
 * who cancels, picks a screen or stops sharing.  X screens of chosen sizes
 * come from Xvfb processes the test starts. */

/* ---- Xvfb ---- */

typedef struct {
  GSubprocess *process;
  char        *display;
} Xvfb;

static Xvfb *
xvfb_start (int width,
            int height)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *screen = g_strdup_printf ("%dx%dx24", width, height);
  g_autoptr(GString) number = g_string_new (NULL);
  Xvfb *xvfb;
  int fds[2];
  char c;

  g_assert_no_errno (pipe (fds));
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_take_fd (launcher, fds[1], 3);
  xvfb = g_new0 (Xvfb, 1);
  xvfb->process = g_subprocess_launcher_spawn (launcher, &error, "Xvfb", "-displayfd", "3",
                                               "-screen", "0", screen, "-nolisten", "tcp", NULL);
  g_assert_no_error (error);
  g_clear_object (&launcher);

  /* Xvfb writes its display number once it accepts connections. */
  while (read (fds[0], &c, 1) == 1 && c != '\n')
    g_string_append_c (number, c);
  close (fds[0]);
  g_assert_cmpuint (number->len, >, 0);
  xvfb->display = g_strdup_printf (":%s", number->str);
  return xvfb;
}

static void
xvfb_stop (Xvfb *xvfb)
{
  g_subprocess_force_exit (xvfb->process);
  g_subprocess_wait (xvfb->process, NULL, NULL);
  g_object_unref (xvfb->process);
  g_free (xvfb->display);
  g_free (xvfb);
}

/* ---- a fake xdg-desktop-portal ---- */

#define PORTAL_PATH "/org/freedesktop/portal/desktop"

static const char portal_xml[] =
  "<node>"
  " <interface name='org.freedesktop.portal.ScreenCast'>"
  "  <method name='CreateSession'>"
  "   <arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
  "  <method name='SelectSources'>"
  "   <arg type='o' direction='in'/><arg type='a{sv}' direction='in'/>"
  "   <arg type='o' direction='out'/></method>"
  "  <method name='Start'>"
  "   <arg type='o' direction='in'/><arg type='s' direction='in'/>"
  "   <arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
  "  <method name='OpenPipeWireRemote'>"
  "   <arg type='o' direction='in'/><arg type='a{sv}' direction='in'/>"
  "   <arg type='h' direction='out'/></method>"
  "  <property name='version' type='u' access='read'/>"
  " </interface>"
  " <interface name='org.freedesktop.portal.Session'>"
  "  <method name='Close'/>"
  " </interface>"
  "</node>";

typedef struct {
  GThread         *thread;
  GMainContext    *context;
  GMainLoop       *loop;
  GDBusConnection *connection;
  GDBusNodeInfo   *info;
  GMutex           lock;
  GCond            cond;
  gboolean         ready;
  guint            start_response;   /* what the user does: 0 share, 1 cancel, 2 failure,
                                        3 nothing yet (the dialog stays open) */
  char            *pending_request;
  int              n_start;
  int              n_close;
  char            *client;
  char            *session_path;
  guint            session_registration;
} FakePortal;

static char *
request_path (GDBusMethodInvocation *invocation,
              GVariant              *options,
              const char            *kind,
              const char            *token_key)
{
  g_autofree char *sender = g_strdup (g_dbus_method_invocation_get_sender (invocation) + 1);
  const char *token = "t";

  g_variant_lookup (options, token_key, "&s", &token);
  g_strdelimit (sender, ".", '_');
  return g_strdup_printf (PORTAL_PATH "/%s/%s/%s", kind, sender, token);
}

static void
respond (FakePortal *portal,
         const char *path,
         guint       response,
         GVariant   *results)
{
  g_dbus_connection_emit_signal (portal->connection, portal->client, path,
                                 "org.freedesktop.portal.Request", "Response",
                                 g_variant_new ("(u@a{sv})", response, results), NULL);
}

static void
portal_method_call (GDBusConnection       *connection,
                    const char            *sender,
                    const char            *object_path,
                    const char            *interface_name,
                    const char            *method_name,
                    GVariant              *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer               user_data);

static const GDBusInterfaceVTable session_vtable = { portal_method_call, NULL, NULL };

static GVariant *
portal_get_property (GDBusConnection *connection,
                     const char      *sender,
                     const char      *object_path,
                     const char      *interface_name,
                     const char      *property_name,
                     GError         **error,
                     gpointer         user_data)
{
  return g_variant_new_uint32 (4);
}

static void
portal_method_call (GDBusConnection       *connection,
                    const char            *sender,
                    const char            *object_path,
                    const char            *interface_name,
                    const char            *method_name,
                    GVariant              *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer               user_data)
{
  FakePortal *portal = user_data;
  g_autoptr(GVariant) options = NULL;
  g_autofree char *request = NULL;
  GVariantDict results;

  g_variant_dict_init (&results, NULL);

  if (g_str_equal (method_name, "CreateSession")) {
    g_variant_get (parameters, "(@a{sv})", &options);
    request = request_path (invocation, options, "request", "handle_token");
    g_free (portal->client);
    portal->client = g_strdup (sender);
    g_free (portal->session_path);
    portal->session_path = request_path (invocation, options, "session", "session_handle_token");
    portal->session_registration =
      g_dbus_connection_register_object (connection, portal->session_path,
                                         portal->info->interfaces[1], &session_vtable,
                                         portal, NULL, NULL);
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", request));
    g_variant_dict_insert (&results, "session_handle", "s", portal->session_path);
    respond (portal, request, 0, g_variant_dict_end (&results));
  } else if (g_str_equal (method_name, "SelectSources")) {
    g_variant_get (parameters, "(&o@a{sv})", NULL, &options);
    request = request_path (invocation, options, "request", "handle_token");
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", request));
    respond (portal, request, 0, g_variant_dict_end (&results));
  } else if (g_str_equal (method_name, "Start")) {
    g_variant_get (parameters, "(&o&s@a{sv})", NULL, NULL, &options);
    request = request_path (invocation, options, "request", "handle_token");
    g_atomic_int_inc (&portal->n_start);
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", request));
    if (portal->start_response == 0) {
      GVariantBuilder streams, stream;

      g_variant_builder_init (&stream, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&stream, "{sv}", "size", g_variant_new ("(ii)", 1600, 900));
      g_variant_builder_init (&streams, G_VARIANT_TYPE ("a(ua{sv})"));
      g_variant_builder_add (&streams, "(ua{sv})", 42, &stream);
      g_variant_dict_insert_value (&results, "streams", g_variant_builder_end (&streams));
    }
    if (portal->start_response == 3) {
      g_variant_dict_clear (&results);
      g_free (portal->pending_request);
      portal->pending_request = g_steal_pointer (&request);
    } else {
      respond (portal, request, portal->start_response, g_variant_dict_end (&results));
    }
  } else if (g_str_equal (method_name, "OpenPipeWireRemote")) {
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
    int fd = open ("/dev/null", O_RDWR | O_CLOEXEC);

    g_unix_fd_list_append (fds, fd, NULL);
    close (fd);
    g_dbus_method_invocation_return_value_with_unix_fd_list (invocation,
                                                             g_variant_new ("(h)", 0), fds);
  } else if (g_str_equal (method_name, "Close")) {
    g_atomic_int_inc (&portal->n_close);
    g_dbus_method_invocation_return_value (invocation, NULL);
  } else {
    g_variant_dict_clear (&results);
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "%s", method_name);
  }
}

static const GDBusInterfaceVTable portal_vtable = { portal_method_call, portal_get_property, NULL };

static gpointer
fake_portal_thread (gpointer data)
{
  FakePortal *portal = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint registration;

  g_main_context_push_thread_default (portal->context);
  portal->connection = g_dbus_connection_new_for_address_sync (
    g_getenv ("DBUS_SESSION_BUS_ADDRESS"),
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
    NULL, NULL, &error);
  g_assert_no_error (error);
  registration = g_dbus_connection_register_object (portal->connection, PORTAL_PATH,
                                                    portal->info->interfaces[0], &portal_vtable,
                                                    portal, NULL, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (portal->connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "RequestName",
                                       g_variant_new ("(su)", "org.freedesktop.portal.Desktop", 0),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);

  g_mutex_lock (&portal->lock);
  portal->ready = TRUE;
  g_cond_signal (&portal->cond);
  g_mutex_unlock (&portal->lock);

  g_main_loop_run (portal->loop);

  g_dbus_connection_unregister_object (portal->connection, registration);
  if (portal->session_registration != 0)
    g_dbus_connection_unregister_object (portal->connection, portal->session_registration);
  g_dbus_connection_close_sync (portal->connection, NULL, NULL);
  g_clear_object (&portal->connection);
  g_main_context_pop_thread_default (portal->context);
  return NULL;
}

static FakePortal *
fake_portal_start (guint start_response)
{
  FakePortal *portal = g_new0 (FakePortal, 1);
  g_autoptr(GError) error = NULL;

  portal->start_response = start_response;
  portal->info = g_dbus_node_info_new_for_xml (portal_xml, &error);
  g_assert_no_error (error);
  portal->context = g_main_context_new ();
  portal->loop = g_main_loop_new (portal->context, FALSE);
  g_mutex_init (&portal->lock);
  g_cond_init (&portal->cond);
  portal->thread = g_thread_new ("fake-portal", fake_portal_thread, portal);
  g_mutex_lock (&portal->lock);
  while (!portal->ready)
    g_cond_wait (&portal->cond, &portal->lock);
  g_mutex_unlock (&portal->lock);
  return portal;
}

static gboolean
emit_closed_cb (gpointer data)
{
  FakePortal *portal = data;

  g_dbus_connection_emit_signal (portal->connection, portal->client, portal->session_path,
                                 "org.freedesktop.portal.Session", "Closed",
                                 g_variant_new ("(a{sv})", NULL), NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
answer_pending_cb (gpointer data)
{
  FakePortal *portal = data;

  respond (portal, portal->pending_request, 1, g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  return G_SOURCE_REMOVE;
}

/* The dialog left open is closed at last (for libportal to free its call). */
static void
fake_portal_answer_pending (FakePortal *portal)
{
  g_main_context_invoke (portal->context, answer_pending_cb, portal);
}

/* The user clicks "Stop sharing" in the portal's indicator. */
static void
fake_portal_stop_sharing (FakePortal *portal)
{
  g_main_context_invoke (portal->context, emit_closed_cb, portal);
}

static void
fake_portal_free (FakePortal *portal)
{
  g_main_loop_quit (portal->loop);
  g_thread_join (portal->thread);
  g_main_loop_unref (portal->loop);
  g_main_context_unref (portal->context);
  g_dbus_node_info_unref (portal->info);
  g_mutex_clear (&portal->lock);
  g_cond_clear (&portal->cond);
  g_free (portal->client);
  g_free (portal->session_path);
  g_free (portal->pending_request);
  g_free (portal);
}

/* ---- running a source ---- */

typedef struct {
  GTestDBus *bus;
  Xvfb      *xvfb;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fixture->bus);
  g_unsetenv ("MESH_SCREEN_SOURCE");
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  /* GDBus hands the last references to the bus to idle callbacks. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_test_dbus_down (fixture->bus);
  g_object_unref (fixture->bus);
  g_clear_pointer (&fixture->xvfb, xvfb_stop);
  g_unsetenv ("MESH_SCREEN_SOURCE");
}

/* An X screen of @width × @height on $DISPLAY; FALSE (the test skips) without Xvfb. */
static gboolean
fixture_use_xvfb (Fixture *fixture,
                  int      width,
                  int      height)
{
  g_autofree char *path = g_find_program_in_path ("Xvfb");

  if (path == NULL) {
    g_test_skip ("Xvfb is not installed");
    return FALSE;
  }
  fixture->xvfb = xvfb_start (width, height);
  g_setenv ("DISPLAY", fixture->xvfb->display, TRUE);
  return TRUE;
}

static void
on_new (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static MeshScreenSource *
new_source (GError **error)
{
  GAsyncResult *result = NULL;
  MeshScreenSource *source;

  mesh_screen_source_new_async (NULL, NULL, on_new, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  source = mesh_screen_source_new_finish (result, error);
  g_object_unref (result);
  return source;
}

/* A source that must come from @backend. */
static MeshScreenSource *
new_source_from (const char *backend)
{
  g_autoptr(GError) error = NULL;
  MeshScreenSource *source = new_source (&error);

  g_assert_no_error (error);
  g_assert_cmpstr (mesh_screen_source_get_backend (source), ==, backend);
  return source;
}

typedef struct {
  int          n_buffers;
  GstClockTime first_pts;
  GstClockTime last_pts;
} Count;

static GstPadProbeReturn
count_buffer (GstPad          *pad,
              GstPadProbeInfo *info,
              gpointer         user_data)
{
  Count *count = user_data;
  GstClockTime pts = GST_BUFFER_PTS (GST_PAD_PROBE_INFO_BUFFER (info));

  if (count->n_buffers == 0)
    count->first_pts = pts;
  count->last_pts = pts;
  g_atomic_int_inc (&count->n_buffers);
  return GST_PAD_PROBE_OK;
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
int_set (gpointer data)
{
  return g_atomic_int_get ((int *) data) != 0;
}

static gboolean
pointer_set (gpointer data)
{
  return *(gpointer *) data != NULL;
}

/* Iterates until @done: the fake portal's thread changes things without
 * waking this one, hence the tick.  The timeout is a safety net. */
static void
wait_for (GSourceFunc done,
          gpointer    data)
{
  gboolean timed_out = FALSE;
  guint timeout = g_timeout_add_seconds (10, on_timeout, &timed_out);
  guint tick = g_timeout_add (20, tick_cb, NULL);

  while (!done (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  if (!timed_out)
    g_source_remove (timeout);
}

#define N_FRAMES 30

/* Runs the source into a clocked sink until N_FRAMES frames passed its "src"
 * pad; checks their size and their rate (from their timestamps). */
static void
check_frames (MeshScreenSource *source,
              int               screen_width,
              int               screen_height,
              int               expected_width,
              int               expected_height)
{
  g_autoptr(GstElement) pipeline = gst_pipeline_new (NULL);
  GstElement *bin = mesh_screen_source_get_element (source);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) pad = gst_element_get_static_pad (bin, "src");
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) error_message = NULL;
  GstStructure *s;
  Count count = { 0, };
  gboolean timed_out = FALSE;
  guint timeout_id;
  int width, height, fps_n, fps_d;
  double frame_interval;
  gint64 started, elapsed;

  g_assert_nonnull (pad);
  g_object_set (sink, "sync", TRUE, NULL);
  gst_bin_add_many (GST_BIN (pipeline), gst_object_ref (bin), sink, NULL);
  g_assert_true (gst_element_link (bin, sink));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, &count, NULL);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);

  started = g_get_monotonic_time ();
  /* A safety net against a hang, not a timing requirement. */
  timeout_id = g_timeout_add_seconds (30, on_timeout, &timed_out);
  while (g_atomic_int_get (&count.n_buffers) < N_FRAMES && !timed_out && error_message == NULL) {
    g_main_context_iteration (NULL, FALSE);
    error_message = gst_bus_timed_pop_filtered (bus, 20 * GST_MSECOND, GST_MESSAGE_ERROR);
  }
  if (!timed_out)
    g_source_remove (timeout_id);
  if (error_message != NULL) {
    g_autoptr(GError) error = NULL;

    gst_message_parse_error (error_message, &error, NULL);
    g_error ("The screen source failed: %s", error->message);
  }
  elapsed = g_get_monotonic_time () - started;
  caps = gst_pad_get_current_caps (pad);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (pipeline), bin);

  g_assert_cmpint (count.n_buffers, >=, N_FRAMES);
  g_assert_nonnull (caps);
  s = gst_caps_get_structure (caps, 0);
  g_assert_true (gst_structure_get_int (s, "width", &width));
  g_assert_true (gst_structure_get_int (s, "height", &height));
  g_assert_true (gst_structure_get_fraction (s, "framerate", &fps_n, &fps_d));
  g_test_message ("%dx%d screen sent as %dx%d at %d/%d fps", screen_width, screen_height,
                  width, height, fps_n, fps_d);
  g_assert_cmpint (width, ==, expected_width);
  g_assert_cmpint (height, ==, expected_height);
  /* The screen's shape, to the pixel. */
  g_assert_cmpfloat (fabs ((double) width / height - (double) screen_width / screen_height), <,
                     2.0 / height);
  g_assert_cmpint (fps_n, >=, MESH_SCREEN_SOURCE_MIN_FPS * fps_d);

  /* The frames themselves come at least MESH_SCREEN_SOURCE_MIN_FPS times a
   * second of stream time. */
  g_assert_true (GST_CLOCK_TIME_IS_VALID (count.first_pts));
  frame_interval = (double) (count.last_pts - count.first_pts) / (count.n_buffers - 1);
  g_test_message ("one frame every %.1f ms; %d frames in %.2f s of wall clock (for information)",
                  frame_interval / GST_MSECOND, count.n_buffers, elapsed / 1e6);
  g_assert_cmpfloat (frame_interval, <=, (double) GST_SECOND / MESH_SCREEN_SOURCE_MIN_FPS);
}

/* ---- tests ---- */

static void
test_scaled_size (void)
{
  const struct { int w, h, ew, eh; } cases[] = {
    { 1280, 1024, 1280, 1024 },
    { 1920, 1080, 1920, 1080 },
    { 1366, 768, 1366, 768 },
    { 2560, 1440, 1920, 1080 },
    { 3840, 2160, 1920, 1080 },
    { 3000, 1000, 1920, 640 },
    { 4000, 1200, 2000, 600 },     /* never below half the width */
    { 5120, 1440, 2560, 720 },
    { 7680, 4320, 3840, 2160 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    int w, h;

    mesh_screen_source_scaled_size (cases[i].w, cases[i].h, &w, &h);
    g_assert_cmpint (w, ==, cases[i].ew);
    g_assert_cmpint (h, ==, cases[i].eh);
  }
}

static void
test_no_portal (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;

  if (!fixture_use_xvfb (fixture, 1280, 1024))
    return;

  /* Nothing on the session bus: the whole X screen. */
  source = new_source_from ("x11");
  check_frames (source, 1280, 1024, 1280, 1024);
  g_assert_false (mesh_screen_source_is_closed (source));
}

static void
test_x11_wide (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;

  if (!fixture_use_xvfb (fixture, 4000, 1200))
    return;
  g_setenv ("MESH_SCREEN_SOURCE", "x11", TRUE);

  source = new_source_from ("x11");
  check_frames (source, 4000, 1200, 2000, 600);
}

static void
test_no_display (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *display = g_strdup (g_getenv ("DISPLAY"));

  /* No portal and no X screen: a clear error, not a crash. */
  g_unsetenv ("DISPLAY");
  source = new_source (&error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_assert_null (source);
  g_clear_error (&error);

  g_setenv ("MESH_SCREEN_SOURCE", "x11", TRUE);
  source = new_source (&error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  g_setenv ("MESH_SCREEN_SOURCE", "wayland", TRUE);
  source = new_source (&error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);

  if (display != NULL)
    g_setenv ("DISPLAY", display, TRUE);
}

static void
test_portal_cancelled (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;
  g_autoptr(GError) error = NULL;
  FakePortal *portal;

  if (!fixture_use_xvfb (fixture, 1280, 1024))
    return;
  portal = fake_portal_start (1);

  /* The user cancels the portal's dialog: nothing is shared, not even the
   * X screen that is there. */
  source = new_source (&error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (source);
  g_assert_cmpint (g_atomic_int_get (&portal->n_start), ==, 1);
  fake_portal_free (portal);
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
  return G_SOURCE_REMOVE;
}

static void
test_portal_given_up (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  MeshScreenSource *source;
  FakePortal *portal;
  gboolean timed_out = FALSE;

  portal = fake_portal_start (3);

  /* The dialog is open; the app gives up (the window closes): the answer is
   * "cancelled" at once, although the portal never answers a closed
   * request. */
  mesh_screen_source_new_async (NULL, cancellable, on_new, &result);
  wait_for (int_set, &portal->n_start);
  g_idle_add (cancel_cb, cancellable);
  wait_for (pointer_set, &result);
  g_assert_nonnull (result);
  source = mesh_screen_source_new_finish (result, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (source);
  g_object_unref (result);

  fake_portal_answer_pending (portal);
  timed_out = FALSE;
  g_timeout_add (500, on_timeout, &timed_out);
  while (!timed_out)
    g_main_context_iteration (NULL, TRUE);
  fake_portal_free (portal);
}

static void
test_portal_failed (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;
  FakePortal *portal;

  if (!fixture_use_xvfb (fixture, 1280, 1024))
    return;
  portal = fake_portal_start (2);

  /* A portal that fails (no backend for this desktop): the X screen. */
  source = new_source_from ("x11");
  g_assert_cmpint (g_atomic_int_get (&portal->n_start), ==, 1);
  fake_portal_free (portal);
}

static void
on_closed (MeshScreenSource *source,
           gpointer          user_data)
{
  (*(int *) user_data)++;
}

static GstElement *
find_pipewiresrc (MeshScreenSource *source)
{
  GstElement *bin = mesh_screen_source_get_element (source);
  g_autoptr(GstIterator) it = gst_bin_iterate_recurse (GST_BIN (bin));
  GValue value = G_VALUE_INIT;
  GstElement *found = NULL;

  while (found == NULL && gst_iterator_next (it, &value) == GST_ITERATOR_OK) {
    GstElement *element = g_value_get_object (&value);

    if (g_str_equal (GST_OBJECT_NAME (gst_element_get_factory (element)), "pipewiresrc"))
      found = element;
    g_value_reset (&value);
  }
  g_value_unset (&value);
  return found;
}

static void
test_portal_stream (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;
  g_autofree char *path = NULL;
  GstElement *pipewiresrc;
  FakePortal *portal;
  int n_closed = 0;
  int fd = -1;

  portal = fake_portal_start (0);

  /* The user picks a screen: its PipeWire node, through the portal's fd. */
  source = new_source_from ("portal");
  pipewiresrc = find_pipewiresrc (source);
  g_assert_nonnull (pipewiresrc);
  g_object_get (pipewiresrc, "path", &path, "fd", &fd, NULL);
  g_assert_cmpstr (path, ==, "42");
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (fcntl (fd, F_GETFD), !=, -1);

  /* Then stops sharing from the portal's indicator. */
  g_signal_connect (source, "closed", G_CALLBACK (on_closed), &n_closed);
  fake_portal_stop_sharing (portal);
  wait_for (int_set, &n_closed);
  g_assert_cmpint (n_closed, ==, 1);
  g_assert_true (mesh_screen_source_is_closed (source));

  /* The fd lives as long as the element. */
  g_clear_object (&source);
  g_assert_cmpint (fcntl (fd, F_GETFD), ==, -1);
  fake_portal_free (portal);
}

static void
test_portal_close (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;
  g_autoptr(GError) error = NULL;
  FakePortal *portal;
  int n_closed = 0;

  portal = fake_portal_start (0);
  source = new_source (&error);
  g_assert_no_error (error);
  g_signal_connect (source, "closed", G_CALLBACK (on_closed), &n_closed);

  /* We stop (hang-up): the portal's session ends, "closed" is only for the
   * user's own stop. */
  mesh_screen_source_close (source);
  g_assert_true (mesh_screen_source_is_closed (source));
  wait_for (int_set, &portal->n_close);
  g_assert_cmpint (g_atomic_int_get (&portal->n_close), ==, 1);
  g_assert_cmpint (n_closed, ==, 0);
  fake_portal_free (portal);
}

static void
test_test_source (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(MeshScreenSource) source = NULL;
  GstElement *bin;
  g_autoptr(GstIterator) it = NULL;
  GValue value = G_VALUE_INIT;
  int n_closed = 0;

  g_setenv ("MESH_SCREEN_SOURCE", "test:2560x1440", TRUE);
  source = new_source_from ("test");
  check_frames (source, 2560, 1440, 1920, 1080);

  /* A source that fails ends the share. */
  g_signal_connect (source, "closed", G_CALLBACK (on_closed), &n_closed);
  bin = mesh_screen_source_get_element (source);
  it = gst_bin_iterate_sources (GST_BIN (bin));
  g_assert_cmpint (gst_iterator_next (it, &value), ==, GST_ITERATOR_OK);
  GST_ELEMENT_ERROR (g_value_get_object (&value), RESOURCE, READ, ("gone"), (NULL));
  g_value_unset (&value);
  wait_for (int_set, &n_closed);
  g_assert_cmpint (n_closed, ==, 1);
}

int
main (int   argc,
      char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/media/screen/scaled-size", test_scaled_size);
#define ADD(path, func) \
  g_test_add ("/mesh/media/screen/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("no-portal", test_no_portal);
  ADD ("x11-wide", test_x11_wide);
  ADD ("no-display", test_no_display);
  ADD ("portal-cancelled", test_portal_cancelled);
  ADD ("portal-given-up", test_portal_given_up);
  ADD ("portal-failed", test_portal_failed);
  ADD ("portal-stream", test_portal_stream);
  ADD ("portal-close", test_portal_close);
  ADD ("test-source", test_test_source);
#undef ADD

  return g_test_run ();
}
