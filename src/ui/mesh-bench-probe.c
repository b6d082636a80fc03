/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-bench-probe"

#include "config.h"

#include "mesh-bench-probe.h"
#include "mesh-window.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_WORST 5
/* Waiting at the top with nothing loading this long is a stall: the user
 * would scroll down a little and up again, and so does the probe. */
#define STALL_US (500 * G_TIME_SPAN_MILLISECOND)

typedef enum {
  PHASE_START,
  PHASE_OPEN,
  PHASE_IDLE,
  PHASE_SCROLL,
  PHASE_SETTLE,
  PHASE_DONE,
} Phase;

static const char *phase_names[] = { "start", "open", "idle", "scroll", "settle", "done" };

typedef struct {
  double ms;
  double at_ms;          /* since the scrolling began */
  guint  n;              /* chat messages loaded at its end */
  double since_page_ms;  /* from the last page's arrival to its start */
} Block;

typedef struct {
  GtkApplication    *app;
  MeshWindow        *window;
  GdkFrameClock     *clock;
  GtkScrolledWindow *scroller;
  MeshChatModel     *chat;          /* the scrolled room's, while scrolling */
  char              *path;
  char              *room_id;
  double             scroll_px;
  guint              idle_ms;
  GString           *out;
  Phase              phase;

  gint64             process_us;    /* the process's creation, CLOCK_BOOTTIME */
  gint64             first_paint_us;
  gint64             phase_us;      /* when the current phase began */
  guint              watchdog_id;
  guint              timeout_id;
  guint              tick_id;
  gulong             realize_id;
  gulong             before_paint_id;
  gulong             after_paint_id;
  gulong             items_changed_id;

  /* Scrolling */
  guint              monitor_id;
  gint64             last_beat_us;
  gint64             last_page_us;
  Block              worst[N_WORST];
  guint              n_over_8ms;
  guint              n_over_16ms;
  gint64             frame_begin_us;
  gint64             last_paint_us;
  double             max_frame_gap_ms;
  double             max_frame_work_ms;
  double             frame_work_ms;
  guint              frames;
  guint              n_slow_frames;
  gint64             stalled_since_us;
  guint              nudges;
  guint              pages;
  gint64             cpu_process_us;
  gint64             cpu_main_us;
} Probe;

static gint64
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_BOOTTIME, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static double
since_ms (gint64 from_us,
          gint64 to_us)
{
  return (double) (to_us - from_us) / 1000.0;
}

/* Field 22 of /proc/self/stat: clock ticks from boot to the process's
 * creation (the shell's fork, just before the exec), on the
 * CLOCK_BOOTTIME scale.  The kernel rounds it down to a tick (10 ms), so a
 * start measured from it is at most one tick too long. */
static gint64
process_start_us (void)
{
  g_autofree char *stat = NULL;
  g_auto(GStrv) fields = NULL;
  const char *rest;
  long ticks = sysconf (_SC_CLK_TCK);

  if (!g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL) || ticks <= 0)
    return -1;
  /* The command name in parentheses may hold spaces: count after it. */
  rest = strrchr (stat, ')');
  if (rest == NULL)
    return -1;
  fields = g_strsplit (rest + 2, " ", 0);
  if (g_strv_length (fields) < 20)
    return -1;
  return (gint64) (g_ascii_strtod (fields[19], NULL) * G_USEC_PER_SEC / ticks);
}

/* A line of /proc/self/status ("VmRSS", "RssAnon"…) in MB, or -1. */
static double
status_mb (const char *key)
{
  g_autofree char *status = NULL;
  g_autofree char *prefix = g_strconcat ("\n", key, ":", NULL);
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, prefix);
  if (line == NULL)
    return -1;
  return g_ascii_strtod (line + strlen (prefix), NULL) / 1024.0;
}

/* CPU time of the whole process or of the calling (main) thread. */
static gint64
cpu_us (clockid_t clock)
{
  struct timespec ts;

  if (clock_gettime (clock, &ts) != 0)
    return 0;
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void
put (Probe      *self,
     const char *key,
     const char *format,
     ...) G_GNUC_PRINTF (3, 4);

static void
put (Probe      *self,
     const char *key,
     const char *format,
     ...)
{
  va_list args;

  g_string_append_printf (self->out, "%s=", key);
  va_start (args, format);
  g_string_append_vprintf (self->out, format, args);
  va_end (args);
  g_string_append_c (self->out, '\n');
}

static void
put_memory (Probe      *self,
            const char *prefix)
{
  g_autofree char *rss = g_strconcat (prefix, "_mb", NULL);
  g_autofree char *anon = g_strconcat (prefix, "_anon_mb", NULL);
  g_autofree char *file = g_strconcat (prefix, "_file_mb", NULL);

  put (self, rss, "%.1f", status_mb ("VmRSS"));
  put (self, anon, "%.1f", status_mb ("RssAnon"));
  put (self, file, "%.1f", status_mb ("RssFile"));
}

static MeshRoomView *
room_view (Probe *self)
{
  return mesh_window_get_room_view (self->window);
}

static guint
chat_n_items (Probe *self)
{
  MeshChatModel *chat = mesh_room_view_get_chat (room_view (self));

  return chat != NULL ? g_list_model_get_n_items (G_LIST_MODEL (chat)) : 0;
}

static void
set_phase (Probe *self,
           Phase  phase)
{
  self->phase = phase;
  self->phase_us = now_us ();
}

static void
finish (Probe      *self,
        const char *error)
{
  g_autoptr(GError) local_error = NULL;

  if (self->phase == PHASE_DONE)
    return;
  set_phase (self, PHASE_DONE);
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_clear_handle_id (&self->monitor_id, g_source_remove);
  if (self->tick_id != 0)
    gtk_widget_remove_tick_callback (GTK_WIDGET (self->scroller), self->tick_id);
  self->tick_id = 0;
  g_clear_signal_handler (&self->after_paint_id, self->clock);
  g_clear_signal_handler (&self->before_paint_id, self->clock);
  if (self->chat != NULL)
    g_clear_signal_handler (&self->items_changed_id, self->chat);
  g_clear_object (&self->chat);
  if (self->window != NULL)
    g_clear_signal_handler (&self->realize_id, self->window);
  g_signal_handlers_disconnect_by_data (self->app, self);

  if (error != NULL)
    put (self, "error", "%s", error);
  if (!g_file_set_contents (self->path, self->out->str, (gssize) self->out->len, &local_error))
    g_printerr ("mesh-bench-probe: %s\n", local_error->message);
  g_application_quit (G_APPLICATION (self->app));
}

/* A high-priority timer every millisecond: the time between two of its
 * dispatches, less its period, is how long the main loop could not run it
 * (in a handler, a layout, a paint, or not scheduled at all). */
static gboolean
monitor_cb (gpointer user_data)
{
  Probe *self = user_data;
  gint64 now = now_us ();
  guint n = chat_n_items (self);
  double blocked = since_ms (self->last_beat_us, now) - 1.0;

  if (self->last_beat_us != 0 && blocked > self->worst[N_WORST - 1].ms) {
    guint i = N_WORST - 1;

    for (; i > 0 && blocked > self->worst[i - 1].ms; i--)
      self->worst[i] = self->worst[i - 1];
    self->worst[i] = (Block) {
      .ms = blocked,
      .at_ms = since_ms (self->phase_us, now),
      .n = n,
      .since_page_ms = since_ms (self->last_page_us, now) - blocked - 1.0,
    };
  }
  if (self->last_beat_us != 0 && blocked > 8.0)
    self->n_over_8ms++;
  if (self->last_beat_us != 0 && blocked > 16.0)
    self->n_over_16ms++;
  self->last_beat_us = now;
  return G_SOURCE_CONTINUE;
}

static gboolean
settled_cb (gpointer user_data)
{
  Probe *self = user_data;

  self->timeout_id = 0;
  put_memory (self, "rss_loaded");
  finish (self, NULL);
  return G_SOURCE_REMOVE;
}

/* Also when the scrolling times out: how far it came says why. */
static void
put_scroll (Probe *self)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scroller);

  g_clear_handle_id (&self->monitor_id, g_source_remove);
  put (self, "scroll_ms", "%.0f", since_ms (self->phase_us, now_us ()));
  put (self, "messages", "%u", chat_n_items (self));
  put (self, "pages", "%u", self->pages);
  put (self, "content_height_px", "%.0f", gtk_adjustment_get_upper (adj));
  put (self, "scroll_px", "%.0f", self->scroll_px);
  put (self, "nudges", "%u", self->nudges);
  put (self, "max_block_ms", "%.1f", self->worst[0].ms);
  put (self, "blocks_over_8ms", "%u", self->n_over_8ms);
  put (self, "blocks_over_16ms", "%u", self->n_over_16ms);
  for (guint i = 0; i < N_WORST && self->worst[i].ms > 0; i++) {
    g_autofree char *key = g_strdup_printf ("block_%u", i + 1);

    put (self, key, "%.1f ms at %.0f ms, %u messages, %.0f ms after a page", self->worst[i].ms,
         self->worst[i].at_ms, self->worst[i].n, self->worst[i].since_page_ms);
  }
  put (self, "frames", "%u", self->frames);
  put (self, "frames_over_16ms", "%u", self->n_slow_frames);
  put (self, "mean_frame_work_ms", "%.1f", self->frames ? self->frame_work_ms / self->frames : 0);
  put (self, "max_frame_work_ms", "%.1f", self->max_frame_work_ms);
  put (self, "max_frame_gap_ms", "%.1f", self->max_frame_gap_ms);
  put (self, "scroll_cpu_process_ms", "%.0f",
       (double) (cpu_us (CLOCK_PROCESS_CPUTIME_ID) - self->cpu_process_us) / 1000.0);
  put (self, "scroll_cpu_main_ms", "%.0f",
       (double) (cpu_us (CLOCK_THREAD_CPUTIME_ID) - self->cpu_main_us) / 1000.0);
}

static void
scroll_done (Probe *self)
{
  put_scroll (self);
  set_phase (self, PHASE_SETTLE);
  self->timeout_id = g_timeout_add (self->idle_ms, settled_cb, self);
}

static gboolean
watchdog_cb (gpointer user_data)
{
  Probe *self = user_data;
  g_autofree char *error = g_strdup_printf ("timed out in phase %s", phase_names[self->phase]);

  self->watchdog_id = 0;
  if (self->phase == PHASE_SCROLL)
    put_scroll (self);
  finish (self, error);
  return G_SOURCE_REMOVE;
}

/* One frame of a user scrolling up: a fixed step, toward the first message.
 * Reaching the top makes the scrolled window emit edge-reached, on which the
 * room view loads the page before. */
static gboolean
scroll_tick_cb (GtkWidget     *widget,
                GdkFrameClock *clock,
                gpointer       user_data)
{
  Probe *self = user_data;
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scroller);
  MeshChatModel *chat = mesh_room_view_get_chat (room_view (self));
  double value = gtk_adjustment_get_value (adj);
  double lower = gtk_adjustment_get_lower (adj);
  gboolean loading, has_more;
  gint64 now = now_us ();

  if (chat == NULL) {
    self->tick_id = 0;
    finish (self, "the room was closed while scrolling");
    return G_SOURCE_REMOVE;
  }
  loading = mesh_chat_model_get_loading (chat);
  has_more = mesh_chat_model_get_has_more (chat);

  if (value > lower) {
    gtk_adjustment_set_value (adj, MAX (lower, value - self->scroll_px));
    self->stalled_since_us = 0;
    return G_SOURCE_CONTINUE;
  }
  if (loading) {
    self->stalled_since_us = 0;
    return G_SOURCE_CONTINUE;
  }
  if (!has_more) {
    self->tick_id = 0;
    scroll_done (self);
    return G_SOURCE_REMOVE;
  }
  if (self->stalled_since_us == 0) {
    self->stalled_since_us = now;
  } else if (now - self->stalled_since_us > STALL_US) {
    self->nudges++;
    self->stalled_since_us = 0;
    gtk_adjustment_set_value (adj, lower + self->scroll_px);
  }
  return G_SOURCE_CONTINUE;
}

static void
chat_changed_cb (MeshChatModel *chat,
                 guint          position,
                 guint          removed,
                 guint          added,
                 Probe         *self)
{
  if (self->phase != PHASE_SCROLL || added == 0)
    return;
  self->pages++;
  self->last_page_us = now_us ();
}

static gboolean
idle_done_cb (gpointer user_data)
{
  Probe *self = user_data;
  MeshChatModel *chat = mesh_room_view_get_chat (room_view (self));
  GtkWidget *list_view;

  self->timeout_id = 0;
  put_memory (self, "rss_idle");

  list_view = gtk_widget_get_first_child (GTK_WIDGET (room_view (self)));
  while (list_view != NULL && !GTK_IS_LIST_VIEW (list_view)) {
    GtkWidget *next = gtk_widget_get_first_child (list_view);

    for (GtkWidget *up = list_view; next == NULL && up != GTK_WIDGET (room_view (self));
         up = gtk_widget_get_parent (up))
      next = gtk_widget_get_next_sibling (up);
    list_view = next;
  }
  if (list_view != NULL)
    self->scroller = GTK_SCROLLED_WINDOW (gtk_widget_get_ancestor (list_view,
                                                                   GTK_TYPE_SCROLLED_WINDOW));
  if (self->scroller == NULL || chat == NULL) {
    finish (self, "the room view has no chat to scroll");
    return G_SOURCE_REMOVE;
  }

  self->chat = g_object_ref (chat);
  self->items_changed_id = g_signal_connect (chat, "items-changed", G_CALLBACK (chat_changed_cb),
                                             self);
  set_phase (self, PHASE_SCROLL);
  self->last_page_us = self->phase_us;
  self->cpu_process_us = cpu_us (CLOCK_PROCESS_CPUTIME_ID);
  self->cpu_main_us = cpu_us (CLOCK_THREAD_CPUTIME_ID);
  self->monitor_id = g_timeout_add_full (G_PRIORITY_HIGH, 1, monitor_cb, self, NULL);
  self->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self->scroller), scroll_tick_cb,
                                                self, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
started_cb (gpointer user_data)
{
  Probe *self = user_data;

  if (self->room_id == NULL) {
    finish (self, NULL);
    return G_SOURCE_REMOVE;
  }
  set_phase (self, PHASE_OPEN);
  if (!mesh_window_open_room (self->window, self->room_id)) {
    g_autofree char *error = g_strdup_printf ("room %s is not in the room list", self->room_id);

    finish (self, error);
  }
  return G_SOURCE_REMOVE;
}

static void
after_paint_cb (GdkFrameClock *clock,
                Probe         *self)
{
  gint64 now = now_us ();
  MeshRoomList *rooms;
  MeshChatModel *chat;
  guint n_rooms;

  switch (self->phase) {
  case PHASE_START:
    if (self->first_paint_us == 0) {
      self->first_paint_us = now;
      put (self, "first_paint_ms", "%.1f", since_ms (self->process_us, now));
      put (self, "first_paint_page", "%s", mesh_window_get_page (self->window));
    }
    rooms = mesh_window_get_room_list (self->window);
    n_rooms = rooms != NULL ? g_list_model_get_n_items (G_LIST_MODEL (rooms)) : 0;
    if (g_strcmp0 (mesh_window_get_page (self->window), "rooms") != 0 || n_rooms == 0)
      return;
    put (self, "cold_start_ms", "%.1f", since_ms (self->process_us, now));
    put (self, "rooms", "%u", n_rooms);
    put (self, "renderer", "%s",
         G_OBJECT_TYPE_NAME (gtk_native_get_renderer (GTK_NATIVE (self->window))));
    put_memory (self, "rss_start");
    /* Out of the frame: opening a room lays the window out again. */
    set_phase (self, PHASE_IDLE);
    g_idle_add (started_cb, self);
    break;

  case PHASE_OPEN:
    chat = mesh_room_view_get_chat (room_view (self));
    if (chat == NULL || g_list_model_get_n_items (G_LIST_MODEL (chat)) == 0 ||
        mesh_chat_model_get_loading (chat))
      return;
    put (self, "open_room_ms", "%.1f", since_ms (self->phase_us, now));
    set_phase (self, PHASE_IDLE);
    self->timeout_id = g_timeout_add (self->idle_ms, idle_done_cb, self);
    break;

  case PHASE_SCROLL:
    if (self->last_paint_us != 0)
      self->max_frame_gap_ms = MAX (self->max_frame_gap_ms, since_ms (self->last_paint_us, now));
    self->last_paint_us = now;
    if (self->frame_begin_us != 0) {
      double work = since_ms (self->frame_begin_us, now);

      self->frames++;
      self->frame_work_ms += work;
      self->max_frame_work_ms = MAX (self->max_frame_work_ms, work);
      if (work > 16.0)
        self->n_slow_frames++;
    }
    break;

  case PHASE_IDLE:
  case PHASE_SETTLE:
  case PHASE_DONE:
  default:
    break;
  }
}

/* A frame's work: tick callbacks (the scroll step), layout and paint. */
static void
before_paint_cb (GdkFrameClock *clock,
                 Probe         *self)
{
  if (self->phase == PHASE_SCROLL)
    self->frame_begin_us = now_us ();
}

static void
window_realized_cb (GtkWidget *widget,
                    Probe     *self)
{
  if (self->clock != NULL)
    return;
  self->clock = gtk_widget_get_frame_clock (widget);
  self->before_paint_id = g_signal_connect (self->clock, "before-paint",
                                            G_CALLBACK (before_paint_cb), self);
  self->after_paint_id = g_signal_connect (self->clock, "after-paint",
                                           G_CALLBACK (after_paint_cb), self);
}

static void
window_added_cb (GtkApplication *app,
                 GtkWindow      *window,
                 Probe          *self)
{
  if (self->window != NULL || !MESH_IS_WINDOW (window))
    return;
  self->window = MESH_WINDOW (window);
  put (self, "window_ms", "%.1f", since_ms (self->process_us, now_us ()));
  self->realize_id = g_signal_connect_after (window, "realize", G_CALLBACK (window_realized_cb),
                                             self);
  if (gtk_widget_get_realized (GTK_WIDGET (window)))
    window_realized_cb (GTK_WIDGET (window), self);
}

static void
probe_free (Probe *self)
{
  g_free (self->path);
  g_free (self->room_id);
  g_string_free (self->out, TRUE);
  g_free (self);
}

static double
env_number (const char *name,
            double      fallback)
{
  const char *value = g_getenv (name);
  double number;

  if (value == NULL || *value == '\0')
    return fallback;
  number = g_ascii_strtod (value, NULL);
  return number > 0 ? number : fallback;
}

void
mesh_bench_probe_attach (GtkApplication *application)
{
  const char *path = g_getenv ("MESH_BENCH_PROBE");
  const char *room_id = g_getenv ("MESH_BENCH_PROBE_ROOM");
  Probe *self;

  g_return_if_fail (GTK_IS_APPLICATION (application));

  if (path == NULL || *path == '\0')
    return;

  self = g_new0 (Probe, 1);
  self->app = application;
  self->path = g_strdup (path);
  self->room_id = room_id != NULL && *room_id != '\0' ? g_strdup (room_id) : NULL;
  self->scroll_px = env_number ("MESH_BENCH_PROBE_SCROLL_PX", 200);
  self->idle_ms = (guint) env_number ("MESH_BENCH_PROBE_IDLE_MS", 3000);
  self->out = g_string_new (NULL);
  self->process_us = process_start_us ();
  set_phase (self, PHASE_START);
  /* The probe lives as long as the application that holds it. */
  g_object_set_data_full (G_OBJECT (application), "mesh-bench-probe", self,
                          (GDestroyNotify) probe_free);

  if (self->process_us < 0) {
    finish (self, "cannot read the process's start time from /proc/self/stat");
    return;
  }
  put (self, "startup_ms", "%.1f", since_ms (self->process_us, now_us ()));
  g_signal_connect (application, "window-added", G_CALLBACK (window_added_cb), self);
  self->watchdog_id = g_timeout_add_seconds ((guint) env_number ("MESH_BENCH_PROBE_TIMEOUT_S",
                                                                 600),
                                             watchdog_cb, self);
}
