/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-embedded-agent"

#include "config.h"

#include "mesh-embedded-agent.h"

#include "mesh-agent-controller.h"
#include "mesh-agent-state.h"
#include "mesh-json.h"

#include <glib/gi18n.h>

enum {
  SIGNAL_READY,
  SIGNAL_FAILED,
  SIGNAL_TRANSFER_PROGRESS,
  SIGNAL_TRANSFER_FINISHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

struct _MeshEmbeddedAgent {
  GObject              parent_instance;

  /* Set before the thread starts, read-only afterwards (the cancellable is thread-safe). */
  GMainContext        *main_context;
  GMainContext        *context;
  GMainLoop           *loop;
  char                *state_dir;
  char                *server_url;
  char                *user_id;
  char                *username;
  char                *access_token;
  char                *download_dir;
  char                *listen;
  gboolean             accept_own;

  /* Main thread only. */
  GThread             *thread;
  char                *device_id;
  guint                next_id;
  gboolean             stopped;

  GCancellable        *cancellable;

  /* Agent thread only. */
  SoupSession         *soup;
  MeshAgentState      *state;
  MeshAgentIdentity   *identity;
  MeshAgentController *controller;
  GList               *sends;  /* Send, in the order they were asked */
};

G_DEFINE_FINAL_TYPE (MeshEmbeddedAgent, mesh_embedded_agent, G_TYPE_OBJECT)

typedef struct {
  MeshEmbeddedAgent *self;  /* outlives the thread, which outlives the send */
  guint              id;
  char              *room_id;
  char              *device_id;
  GFile             *file;
  char              *name;
  char              *session_id;  /* once the controller started its session */
} Send;

static void
send_free (Send *send)
{
  g_free (send->room_id);
  g_free (send->device_id);
  g_object_unref (send->file);
  g_free (send->name);
  g_free (send->session_id);
  g_free (send);
}

/* Unlike g_main_context_invoke(), never runs @func in the calling thread,
 * even when nobody iterates @context at that moment. */
static void
attach_idle (GMainContext   *context,
             GSourceFunc     func,
             gpointer        data,
             GDestroyNotify  destroy)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_callback (source, func, data, destroy);
  g_source_attach (source, context);
}

/* What the thread reports to the main thread. */
typedef struct {
  MeshEmbeddedAgent *self;
  guint              signal;
  guint              id;
  guint64            done;
  guint64            total;
  char              *text;
} Report;

static void
report_free (Report *report)
{
  g_object_unref (report->self);
  g_free (report->text);
  g_free (report);
}

static gboolean
report_on_main (gpointer user_data)
{
  Report *report = user_data;
  MeshEmbeddedAgent *self = report->self;

  if (self->stopped)
    return G_SOURCE_REMOVE;
  switch (report->signal) {
  case SIGNAL_READY:
    g_free (self->device_id);
    self->device_id = g_strdup (report->text);
    g_signal_emit (self, signals[SIGNAL_READY], 0, report->text);
    break;
  case SIGNAL_FAILED:
    g_signal_emit (self, signals[SIGNAL_FAILED], 0, report->text);
    break;
  case SIGNAL_TRANSFER_PROGRESS:
    g_signal_emit (self, signals[SIGNAL_TRANSFER_PROGRESS], 0, report->id, report->done,
                   report->total);
    break;
  case SIGNAL_TRANSFER_FINISHED:
    g_signal_emit (self, signals[SIGNAL_TRANSFER_FINISHED], 0, report->id, report->text);
    break;
  default:
    g_assert_not_reached ();
  }
  return G_SOURCE_REMOVE;
}

static void
report (MeshEmbeddedAgent *self,
        guint              signal,
        guint              id,
        guint64            done,
        guint64            total,
        const char        *text)
{
  Report *r = g_new0 (Report, 1);

  r->self = g_object_ref (self);
  r->signal = signal;
  r->id = id;
  r->done = done;
  r->total = total;
  r->text = g_strdup (text);
  attach_idle (self->main_context, report_on_main, r, (GDestroyNotify) report_free);
}

/* Agent thread from here to mesh_embedded_agent_new(). */

static void
controller_ready_cb (MeshAgentController *controller,
                     MeshEmbeddedAgent   *self)
{
  report (self, SIGNAL_READY, 0, 0, 0, mesh_agent_controller_get_device_id (controller));
}

static void
controller_fatal_cb (MeshAgentController *controller,
                     GError              *error,
                     MeshEmbeddedAgent   *self)
{
  report (self, SIGNAL_FAILED, 0, 0, 0, error->message);
}

/* The controller names the sessions it starts but not which send they are
 * for: a session we open carries the file's name, taken by the oldest send
 * of that name still waiting for one. */
static void
session_started_cb (MeshAgentController *controller,
                    const char          *session_id,
                    const char          *kind,
                    const char          *role,
                    const char          *name,
                    const char          *peer,
                    MeshEmbeddedAgent   *self)
{
  if (!g_str_equal (role, "client"))
    return;
  for (GList *l = self->sends; l != NULL; l = l->next) {
    Send *send = l->data;

    if (send->session_id == NULL && g_strcmp0 (send->name, name) == 0) {
      send->session_id = g_strdup (session_id);
      return;
    }
  }
}

static void
session_progress_cb (MeshAgentController *controller,
                     const char          *session_id,
                     guint64              done,
                     guint64              total,
                     MeshEmbeddedAgent   *self)
{
  for (GList *l = self->sends; l != NULL; l = l->next) {
    Send *send = l->data;

    if (g_strcmp0 (send->session_id, session_id) == 0) {
      report (self, SIGNAL_TRANSFER_PROGRESS, send->id, done, total, NULL);
      return;
    }
  }
}

static void
start_controller (MeshEmbeddedAgent *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) download_dir = g_file_new_for_path (self->download_dir);

  self->controller = mesh_agent_controller_new (self->state, self->identity);
  mesh_agent_controller_set_download_dir (self->controller, download_dir);
  /* Offers from one's own devices only (the controller always takes those
   * once offers are accepted); other users' need a dialog this version lacks. */
  mesh_agent_controller_set_accept_offers (self->controller, self->accept_own);
  mesh_agent_controller_set_accept_from (self->controller, NULL);
  mesh_agent_controller_set_reconnect (self->controller, TRUE);
  if (self->listen != NULL) {
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string (self->listen);

    if (address == NULL) {
      g_autofree char *message = g_strdup_printf (_("“%s” is not an IP address"), self->listen);

      report (self, SIGNAL_FAILED, 0, 0, 0, message);
      return;
    }
    {
      g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new (address, 0);

      mesh_agent_controller_set_quic_address (self->controller,
                                              G_INET_SOCKET_ADDRESS (socket_address));
    }
  }
  g_signal_connect (self->controller, "ready", G_CALLBACK (controller_ready_cb), self);
  g_signal_connect (self->controller, "fatal", G_CALLBACK (controller_fatal_cb), self);
  g_signal_connect (self->controller, "session-started", G_CALLBACK (session_started_cb), self);
  g_signal_connect (self->controller, "session-progress", G_CALLBACK (session_progress_cb), self);
  if (!mesh_agent_controller_start (self->controller, &error))
    report (self, SIGNAL_FAILED, 0, 0, 0, error->message);
}

static char *
device_name (void)
{
  /* Translators: this computer's name among the user's devices. */
  return g_strdup_printf (_("%s (desktop)"), g_get_host_name ());
}

static void
registered_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  MeshEmbeddedAgent *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) answer = NULL;
  g_autofree char *name = NULL;
  const char *device_id = NULL, *device_token = NULL;

  answer = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (answer == NULL) {
    report (self, SIGNAL_FAILED, 0, 0, 0, error->message);
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT (answer) ||
      !mesh_json_get_string (json_node_get_object (answer), "device_id", TRUE, &device_id, NULL) ||
      !mesh_json_get_string (json_node_get_object (answer), "device_token", TRUE, &device_token,
                             NULL)) {
    report (self, SIGNAL_FAILED, 0, 0, 0, _("The server’s answer is malformed"));
    return;
  }
  name = device_name ();
  mesh_agent_state_set_device (self->state, device_id, name, device_token);
  if (!mesh_agent_state_save (self->state, &error)) {
    report (self, SIGNAL_FAILED, 0, 0, 0, error->message);
    return;
  }
  start_controller (self);
}

static void
agent_begin (MeshEmbeddedAgent *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) device = NULL;
  g_autoptr(JsonNode) body = NULL;
  g_autofree char *name = NULL;
  gboolean same_account;

  if (g_mkdir_with_parents (self->state_dir, 0700) != 0) {
    g_autofree char *message = g_strdup_printf (_("Cannot create the folder “%s”"),
                                                self->state_dir);

    report (self, SIGNAL_FAILED, 0, 0, 0, message);
    return;
  }
  self->state = mesh_agent_state_new (self->state_dir);
  /* A missing or damaged state is simply made again. */
  mesh_agent_state_load (self->state, NULL);
  self->identity = mesh_agent_state_load_identity (self->state, &error);
  if (self->identity == NULL) {
    report (self, SIGNAL_FAILED, 0, 0, 0, error->message);
    return;
  }
  same_account = mesh_agent_state_is_registered (self->state) &&
                 g_strcmp0 (mesh_agent_state_get_server_url (self->state), self->server_url) == 0 &&
                 g_strcmp0 (mesh_agent_state_get_user_id (self->state), self->user_id) == 0;
  mesh_agent_state_set_server_url (self->state, self->server_url);
  mesh_agent_state_set_user (self->state, self->username, self->user_id);
  if (same_account) {
    start_controller (self);
    return;
  }

  name = device_name ();
  device = json_object_new ();
  json_object_set_string_member (device, "name", name);
  json_object_set_string_member (device, "fingerprint",
                                 mesh_agent_identity_get_fingerprint (self->identity));
  body = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (body, device);
  self->soup = soup_session_new ();
  mesh_agent_state_rest_async (self->state, self->soup, "POST", "/devices", self->access_token,
                               body, self->cancellable, registered_cb, self);
}

static void
send_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Send *send = user_data;
  MeshEmbeddedAgent *self = send->self;
  g_autoptr(GError) error = NULL;

  mesh_agent_controller_send_finish (MESH_AGENT_CONTROLLER (source), result, &error);
  report (self, SIGNAL_TRANSFER_FINISHED, send->id, 0, 0, error != NULL ? error->message : NULL);
  self->sends = g_list_remove (self->sends, send);
  send_free (send);
}

static gboolean
send_in_thread (gpointer user_data)
{
  Send *send = user_data;
  MeshEmbeddedAgent *self = send->self;

  if (g_cancellable_is_cancelled (self->cancellable) || self->controller == NULL ||
      !mesh_agent_controller_is_ready (self->controller)) {
    report (self, SIGNAL_TRANSFER_FINISHED, send->id, 0, 0,
            _("This computer is not connected to the server yet"));
    send_free (send);
    return G_SOURCE_REMOVE;
  }
  self->sends = g_list_append (self->sends, send);
  mesh_agent_controller_send_async (self->controller, send->room_id, send->device_id, send->file,
                                    self->cancellable, send_done_cb, send);
  return G_SOURCE_REMOVE;
}

static gboolean
quit_in_thread (gpointer user_data)
{
  MeshEmbeddedAgent *self = user_data;

  g_cancellable_cancel (self->cancellable);
  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

static gpointer
agent_thread (gpointer user_data)
{
  MeshEmbeddedAgent *self = user_data;

  g_main_context_push_thread_default (self->context);
  agent_begin (self);
  g_main_loop_run (self->loop);

  if (self->controller != NULL) {
    g_signal_handlers_disconnect_by_data (self->controller, self);
    mesh_agent_controller_stop (self->controller);
  }
  /* Let cancelled operations call back while what they use is alive. */
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_clear_object (&self->controller);
  g_clear_object (&self->identity);
  g_clear_object (&self->state);
  if (self->soup != NULL)
    soup_session_abort (self->soup);
  g_clear_object (&self->soup);
  g_list_free_full (g_steal_pointer (&self->sends), (GDestroyNotify) send_free);
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

/* Main thread from here on. */

static void
mesh_embedded_agent_dispose (GObject *object)
{
  mesh_embedded_agent_stop (MESH_EMBEDDED_AGENT (object));

  G_OBJECT_CLASS (mesh_embedded_agent_parent_class)->dispose (object);
}

static void
mesh_embedded_agent_finalize (GObject *object)
{
  MeshEmbeddedAgent *self = MESH_EMBEDDED_AGENT (object);

  g_main_context_unref (self->main_context);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_object_unref (self->cancellable);
  g_free (self->state_dir);
  g_free (self->server_url);
  g_free (self->user_id);
  g_free (self->username);
  g_free (self->access_token);
  g_free (self->download_dir);
  g_free (self->listen);
  g_free (self->device_id);

  G_OBJECT_CLASS (mesh_embedded_agent_parent_class)->finalize (object);
}

static void
mesh_embedded_agent_class_init (MeshEmbeddedAgentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GType type = G_TYPE_FROM_CLASS (klass);

  object_class->dispose = mesh_embedded_agent_dispose;
  object_class->finalize = mesh_embedded_agent_finalize;

  signals[SIGNAL_READY] =
    g_signal_new ("ready", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_STRING);
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_STRING);
  signals[SIGNAL_TRANSFER_PROGRESS] =
    g_signal_new ("transfer-progress", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  3, G_TYPE_UINT, G_TYPE_UINT64, G_TYPE_UINT64);
  signals[SIGNAL_TRANSFER_FINISHED] =
    g_signal_new ("transfer-finished", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_UINT, G_TYPE_STRING);
}

static void
mesh_embedded_agent_init (MeshEmbeddedAgent *self)
{
  self->main_context = g_main_context_ref_thread_default ();
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->cancellable = g_cancellable_new ();
}

MeshEmbeddedAgent *
mesh_embedded_agent_new (const char *profile,
                         const char *server_url,
                         const char *user_id,
                         const char *username,
                         const char *access_token,
                         GSettings  *settings)
{
  MeshEmbeddedAgent *self;
  const char *listen;

  g_return_val_if_fail (profile != NULL && server_url != NULL && user_id != NULL, NULL);
  g_return_val_if_fail (username != NULL && access_token != NULL, NULL);
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (MESH_TYPE_EMBEDDED_AGENT, NULL);
  self->state_dir = g_build_filename (g_get_user_state_dir (), "mesh", profile, "agent", NULL);
  self->server_url = g_strdup (server_url);
  self->user_id = g_strdup (user_id);
  self->username = g_strdup (username);
  self->access_token = g_strdup (access_token);
  self->download_dir = g_settings_get_string (settings, "download-folder");
  if (*self->download_dir == '\0') {
    const char *downloads = g_get_user_special_dir (G_USER_DIRECTORY_DOWNLOAD);

    g_free (self->download_dir);
    self->download_dir = g_strdup (downloads != NULL ? downloads : g_get_home_dir ());
  }
  self->accept_own = g_settings_get_boolean (settings, "auto-accept-own-devices");
  listen = g_getenv ("MESH_AGENT_LISTEN");
  self->listen = listen != NULL && *listen != '\0' ? g_strdup (listen) : NULL;
  return self;
}

void
mesh_embedded_agent_start (MeshEmbeddedAgent *self)
{
  g_return_if_fail (MESH_IS_EMBEDDED_AGENT (self));
  g_return_if_fail (self->thread == NULL && !self->stopped);

  self->thread = g_thread_new ("mesh-agent", agent_thread, self);
}

void
mesh_embedded_agent_stop (MeshEmbeddedAgent *self)
{
  g_return_if_fail (MESH_IS_EMBEDDED_AGENT (self));

  self->stopped = TRUE;
  if (self->thread == NULL)
    return;
  attach_idle (self->context, quit_in_thread, self, NULL);
  g_thread_join (g_steal_pointer (&self->thread));
}

const char *
mesh_embedded_agent_get_user_id (MeshEmbeddedAgent *self)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);

  return self->user_id;
}

const char *
mesh_embedded_agent_get_device_id (MeshEmbeddedAgent *self)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);

  return self->device_id;
}

guint
mesh_embedded_agent_send (MeshEmbeddedAgent *self,
                          const char        *room_id,
                          const char        *device_id,
                          GFile             *file)
{
  Send *send;

  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), 0);
  g_return_val_if_fail (room_id != NULL && device_id != NULL, 0);
  g_return_val_if_fail (G_IS_FILE (file), 0);
  g_return_val_if_fail (self->thread != NULL, 0);

  send = g_new0 (Send, 1);
  send->self = self;
  send->id = ++self->next_id;
  send->room_id = g_strdup (room_id);
  send->device_id = g_strdup (device_id);
  /* GFile is not thread-safe to share: the thread gets its own. */
  send->file = g_file_dup (file);
  send->name = g_file_get_basename (file);
  attach_idle (self->context, send_in_thread, send, NULL);
  return send->id;
}
