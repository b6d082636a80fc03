/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-call-controller"

#include "config.h"

#include "mesh-call-controller.h"

#include "mesh-escape.h"
#include "mesh-screen-source.h"

#include <glib/gi18n.h>
#include <gst/gst.h>
#include <libportal-gtk4/portal-gtk4.h>

/* The local sources of MESH_MEDIA_TEST_SOURCES=1: live, like a device. */
#define TEST_CAMERA     "videotestsrc is-live=true pattern=smpte75 ! capsfilter caps=" \
                        "video/x-raw,width=640,height=360,framerate=30/1"
#define TEST_MICROPHONE "audiotestsrc is-live=true wave=sine freq=440 volume=0.05"

/* One local device kind: the setting that names it, the device list, and
 * the device now in use ("" the default, NULL none applied yet). */
typedef struct {
  const char *key;
  const char *klass;
  char       *in_use;
} DeviceSlot;

enum {
  SLOT_CAMERA,
  SLOT_MICROPHONE,
  SLOT_SPEAKER,
  N_SLOTS
};

enum {
  SCREEN_WATCHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

struct _MeshCallController {
  GObject            parent_instance;

  /* Owned references */
  GSettings         *settings;
  MeshClientSession *session;
  MeshRoomList      *room_list;
  MeshNotifier      *notifier;
  MeshCallEngine    *engine;
  MeshMediaDevices  *devices;
  GHashTable        *sources;     /* MeshCall (own screen share) → MeshScreenSource */
  DeviceSlot         slots[N_SLOTS];
  gboolean           test_sources;
};

G_DEFINE_FINAL_TYPE (MeshCallController, mesh_call_controller, G_TYPE_OBJECT)

static gboolean
call_is_live (MeshCall *call)
{
  return mesh_call_get_state (call) != MESH_CALL_STATE_ENDED;
}

static GListModel *
slot_model (MeshCallController *self,
            guint               slot)
{
  return mesh_media_devices_get_model (self->devices, self->slots[slot].klass);
}

/* The device the setting names, if it is plugged in; else NULL (the default). */
static GstDevice *
find_device (MeshCallController *self,
             guint               slot,
             const char         *id)
{
  return mesh_media_devices_find (self->devices, self->slots[slot].klass, id);
}

static GstElement *
test_source (const char *description)
{
  g_autoptr(GError) error = NULL;
  GstElement *bin = gst_parse_bin_from_description (description, TRUE, &error);

  if (bin == NULL)
    g_message ("No test source “%s”: %s", description, error->message);
  return bin;
}

/* Gives the engine the device the settings ask for, when it is not the one
 * in use already: called at start, when the setting changes and when a
 * device comes or goes. */
static void
apply_slot (MeshCallController *self,
            guint               slot)
{
  DeviceSlot *s = &self->slots[slot];
  g_autofree char *wanted = g_settings_get_string (self->settings, s->key);
  g_autoptr(GstDevice) device = NULL;
  GstElement *element = NULL;
  const char *use;

  if (self->engine == NULL)
    return;
  device = find_device (self, slot, wanted);
  use = device != NULL ? mesh_media_device_get_id (device) : "";
  if (s->in_use != NULL && g_str_equal (s->in_use, use))
    return;
  g_free (s->in_use);
  s->in_use = g_strdup (use);

  if (self->test_sources) {
    if (slot == SLOT_CAMERA)
      element = test_source (TEST_CAMERA);
    else if (slot == SLOT_MICROPHONE)
      element = test_source (TEST_MICROPHONE);
  } else {
    element = mesh_media_devices_create_element (self->devices, device, s->klass);
  }
  g_debug ("%s: %s", s->key, *use != '\0' ? use : "default");

  switch (slot) {
  case SLOT_CAMERA:
    mesh_call_engine_set_camera (self->engine, element);
    break;
  case SLOT_MICROPHONE:
    mesh_call_engine_set_microphone (self->engine, element);
    break;
  case SLOT_SPEAKER:
  default:
    mesh_call_engine_set_speaker (self->engine, element);
    break;
  }
}

static void
settings_changed_cb (MeshCallController *self,
                     const char         *key)
{
  for (guint slot = 0; slot < N_SLOTS; slot++) {
    if (g_strcmp0 (key, self->slots[slot].key) == 0)
      apply_slot (self, slot);
  }
}

static void
devices_changed_cb (MeshCallController *self)
{
  /* Test sources are not devices. */
  for (guint slot = 0; slot < N_SLOTS && !self->test_sources; slot++)
    apply_slot (self, slot);
}

static void
call_state_cb (MeshCall           *call,
               GParamSpec         *pspec,
               MeshCallController *self)
{
  if (mesh_call_get_state (call) == MESH_CALL_STATE_RINGING)
    return;
  /* Answered (here or on another device), declined or ended. */
  if (self->notifier != NULL)
    mesh_notifier_withdraw_call (self->notifier, mesh_call_get_room_id (call),
                                 mesh_call_get_kind (call) == MESH_MEDIA_KIND_SCREENSHARE);
  g_signal_handlers_disconnect_by_func (call, call_state_cb, self);
}

static void
incoming_call_cb (MeshCallController *self,
                  MeshCall           *call)
{
  g_autofree char *caller = mesh_escape_for_display (mesh_call_get_caller_name (call), -1);

  if (self->notifier == NULL)
    return;
  mesh_notifier_notify_call (self->notifier, mesh_call_get_room_id (call), caller,
                             mesh_call_get_kind (call) == MESH_MEDIA_KIND_SCREENSHARE);
  g_signal_connect_object (call, "notify::state", G_CALLBACK (call_state_cb), self, 0);
}

/* Another call (not a screen share) of any room that is running. */
static void
end_other_calls (MeshCallController *self,
                 MeshCall           *keep)
{
  GListModel *calls = mesh_call_engine_get_calls (self->engine);
  g_autoptr(GPtrArray) ending = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < g_list_model_get_n_items (calls); i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (calls, i);

    if (call != keep && mesh_call_get_kind (call) == MESH_MEDIA_KIND_CALL &&
        (mesh_call_get_state (call) == MESH_CALL_STATE_ACTIVE ||
         mesh_call_get_state (call) == MESH_CALL_STATE_CALLING))
      g_ptr_array_add (ending, g_steal_pointer (&call));
  }
  for (guint i = 0; i < ending->len; i++)
    mesh_call_hang_up (ending->pdata[i]);
}

typedef enum {
  RINGING_HERE,   /* offered to us, not answered yet */
  LIVE,           /* not ended, either direction */
  LIVE_OURS,      /* one we started, not ended */
} CallFilter;

/* The first call of @kind in @room_id (any room for NULL) that @filter lets
 * through. */
static MeshCall *
find_call (MeshCallController *self,
           const char         *room_id,
           MeshMediaKind       kind,
           CallFilter          filter)
{
  GListModel *calls;

  if (self->engine == NULL)
    return NULL;
  calls = mesh_call_engine_get_calls (self->engine);
  for (guint i = 0; i < g_list_model_get_n_items (calls); i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (calls, i);
    MeshCallDirection direction = mesh_call_get_direction (call);
    gboolean passes = filter == RINGING_HERE
                      ? direction == MESH_CALL_DIRECTION_INCOMING &&
                        mesh_call_get_state (call) == MESH_CALL_STATE_RINGING
                      : call_is_live (call) &&
                        (filter == LIVE || direction == MESH_CALL_DIRECTION_OUTGOING);

    if ((room_id == NULL || g_strcmp0 (mesh_call_get_room_id (call), room_id) == 0) &&
        mesh_call_get_kind (call) == kind && passes)
      return call;
  }
  return NULL;
}

static void
source_closed_cb (MeshCallController *self,
                  MeshScreenSource   *source)
{
  GHashTableIter iter;
  MeshCall *call;
  gpointer value;

  g_hash_table_iter_init (&iter, self->sources);
  while (g_hash_table_iter_next (&iter, (gpointer *) &call, &value)) {
    if (value == source) {
      g_autoptr(MeshCall) ending = g_object_ref (call);

      g_hash_table_iter_remove (&iter);
      mesh_call_hang_up (ending);
      return;
    }
  }
}

static void
share_ended_cb (MeshCallController *self,
                MeshCallEndReason   reason,
                MeshCall           *call)
{
  MeshScreenSource *source = g_hash_table_lookup (self->sources, call);

  if (source == NULL)
    return;
  g_signal_handlers_disconnect_by_data (source, self);
  mesh_screen_source_close (source);
  g_hash_table_remove (self->sources, call);
}

static void
mesh_call_controller_dispose (GObject *object)
{
  MeshCallController *self = MESH_CALL_CONTROLLER (object);

  mesh_call_controller_shutdown (self);
  g_clear_object (&self->settings);
  g_clear_object (&self->session);
  g_clear_object (&self->room_list);
  g_clear_object (&self->notifier);
  g_clear_object (&self->devices);
  g_clear_pointer (&self->sources, g_hash_table_unref);

  G_OBJECT_CLASS (mesh_call_controller_parent_class)->dispose (object);
}

static void
mesh_call_controller_finalize (GObject *object)
{
  MeshCallController *self = MESH_CALL_CONTROLLER (object);

  for (guint slot = 0; slot < N_SLOTS; slot++)
    g_free (self->slots[slot].in_use);

  G_OBJECT_CLASS (mesh_call_controller_parent_class)->finalize (object);
}

static void
mesh_call_controller_class_init (MeshCallControllerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_call_controller_dispose;
  object_class->finalize = mesh_call_controller_finalize;

  signals[SCREEN_WATCHED] =
    g_signal_new ("screen-watched", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, MESH_TYPE_CALL);
}

static void
mesh_call_controller_init (MeshCallController *self)
{
  self->slots[SLOT_CAMERA] = (DeviceSlot) { "camera", MESH_MEDIA_CLASS_CAMERA, NULL };
  self->slots[SLOT_MICROPHONE] = (DeviceSlot) { "microphone", MESH_MEDIA_CLASS_MICROPHONE, NULL };
  self->slots[SLOT_SPEAKER] = (DeviceSlot) { "speaker", MESH_MEDIA_CLASS_SPEAKER, NULL };
  self->sources = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref,
                                         g_object_unref);
}

MeshCallController *
mesh_call_controller_new (GSettings         *settings,
                          MeshClientSession *session,
                          MeshRoomList      *room_list,
                          MeshNotifier      *notifier)
{
  MeshCallController *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (session), NULL);
  g_return_val_if_fail (MESH_IS_ROOM_LIST (room_list), NULL);
  g_return_val_if_fail (notifier == NULL || MESH_IS_NOTIFIER (notifier), NULL);

  gst_init (NULL, NULL);
  self = g_object_new (MESH_TYPE_CALL_CONTROLLER, NULL);
  self->settings = g_object_ref (settings);
  self->session = g_object_ref (session);
  self->room_list = g_object_ref (room_list);
  self->notifier = notifier != NULL ? g_object_ref (notifier) : NULL;
  self->test_sources = g_strcmp0 (g_getenv ("MESH_MEDIA_TEST_SOURCES"), "1") == 0;
  self->devices = mesh_media_devices_new ();
  self->engine = mesh_call_engine_new (session);

  g_signal_connect_object (self->engine, "incoming-call", G_CALLBACK (incoming_call_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed", G_CALLBACK (settings_changed_cb), self,
                           G_CONNECT_SWAPPED);
  for (guint slot = 0; slot < N_SLOTS; slot++) {
    g_signal_connect_object (slot_model (self, slot), "items-changed",
                             G_CALLBACK (devices_changed_cb), self, G_CONNECT_SWAPPED);
    apply_slot (self, slot);
  }
  return self;
}

MeshCallEngine *
mesh_call_controller_get_engine (MeshCallController *self)
{
  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), NULL);

  return self->engine;
}

static void
followed_calls_changed_cb (GListModel *calls,
                           guint       position,
                           guint       removed,
                           guint       added,
                           gpointer    widget)
{
  /* Set by mesh_call_controller_follow_calls(): the widget's own update. */
  GCallback update = g_object_get_data (G_OBJECT (widget), "mesh-calls-update");

  for (guint i = position; i < position + added; i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (calls, i);

    g_signal_connect_object (call, "notify::state", update, widget, G_CONNECT_SWAPPED);
  }
  ((void (*) (gpointer)) update) (widget);
}

gboolean
mesh_call_controller_follow_calls (MeshCallController  *controller,
                                   GListModel         **calls,
                                   gpointer             widget,
                                   GCallback            update)
{
  MeshCallEngine *engine;

  g_return_val_if_fail (controller == NULL || MESH_IS_CALL_CONTROLLER (controller), FALSE);
  g_return_val_if_fail (G_IS_OBJECT (widget) && update != NULL, FALSE);

  if (*calls != NULL)
    g_signal_handlers_disconnect_by_data (*calls, widget);
  g_clear_object (calls);
  engine = controller != NULL ? controller->engine : NULL;
  if (engine == NULL)
    return FALSE;
  *calls = g_object_ref (mesh_call_engine_get_calls (engine));
  g_object_set_data (G_OBJECT (widget), "mesh-calls-update", update);
  g_signal_connect_object (*calls, "items-changed", G_CALLBACK (followed_calls_changed_cb),
                           widget, 0);
  followed_calls_changed_cb (*calls, 0, 0, g_list_model_get_n_items (*calls), widget);
  return TRUE;
}

char *
mesh_call_controller_dup_room_name (MeshCallController *self,
                                    const char         *room_id)
{
  MeshRoom *room;

  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), NULL);

  room = room_id != NULL ? mesh_room_list_find (self->room_list, room_id, NULL) : NULL;
  return room != NULL ? mesh_escape_for_display (mesh_room_get_name (room), -1) : NULL;
}

char *
mesh_call_controller_get_own_name (MeshCallController *self)
{
  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), NULL);

  return g_settings_get_string (self->settings, "username");
}

MeshMediaDevices *
mesh_call_controller_get_devices (MeshCallController *self)
{
  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), NULL);

  return self->devices;
}

MeshCall *
mesh_call_controller_get_call (MeshCallController *self,
                               const char         *room_id)
{
  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), NULL);

  return find_call (self, room_id, MESH_MEDIA_KIND_CALL, LIVE);
}

gboolean
mesh_call_controller_call (MeshCallController  *self,
                           const char          *room_id,
                           const char          *peer_id,
                           GError             **error)
{
  MeshCall *call;

  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  if (self->engine == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, _("You are signed out"));
    return FALSE;
  }
  /* Calling the room whose call rings here is answering it. */
  call = find_call (self, room_id, MESH_MEDIA_KIND_CALL, RINGING_HERE);
  if (call != NULL && peer_id == NULL)
    return mesh_call_controller_accept (self, room_id, error);
  end_other_calls (self, NULL);
  call = mesh_call_engine_start_call (self->engine, room_id, peer_id, error);
  return call != NULL;
}

gboolean
mesh_call_controller_accept (MeshCallController  *self,
                             const char          *room_id,
                             GError             **error)
{
  MeshCall *call;

  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  call = find_call (self, room_id, MESH_MEDIA_KIND_CALL, RINGING_HERE);
  if (call == NULL)
    return mesh_call_controller_watch (self, room_id, error);
  end_other_calls (self, call);
  mesh_call_accept (call);
  return TRUE;
}

gboolean
mesh_call_controller_watch (MeshCallController  *self,
                            const char          *room_id,
                            GError             **error)
{
  MeshCall *call;

  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  call = find_call (self, room_id, MESH_MEDIA_KIND_SCREENSHARE, RINGING_HERE);
  if (call == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                         _("Nobody is calling or sharing a screen in this room any more"));
    return FALSE;
  }
  mesh_call_accept (call);
  g_signal_emit (self, signals[SCREEN_WATCHED], 0, call);
  return TRUE;
}

void
mesh_call_controller_decline (MeshCallController *self,
                              const char         *room_id)
{
  MeshCall *call;

  g_return_if_fail (MESH_IS_CALL_CONTROLLER (self));
  g_return_if_fail (room_id != NULL);

  call = find_call (self, room_id, MESH_MEDIA_KIND_CALL, RINGING_HERE);
  if (call == NULL)
    call = find_call (self, room_id, MESH_MEDIA_KIND_SCREENSHARE, RINGING_HERE);
  if (call != NULL)
    mesh_call_decline (call);
}

void
mesh_call_controller_hang_up_all (MeshCallController *self)
{
  g_return_if_fail (MESH_IS_CALL_CONTROLLER (self));

  if (self->engine != NULL)
    mesh_call_engine_hang_up_all (self->engine);
}

static void
source_ready_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshCallController *self = g_task_get_source_object (task);
  const char *room_id = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshScreenSource) source = mesh_screen_source_new_finish (result, &error);
  MeshCall *call;

  if (source == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (self->engine == NULL || g_task_return_error_if_cancelled (task)) {
    mesh_screen_source_close (source);
    if (!g_task_had_error (task))
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("You are signed out"));
    return;
  }
  call = mesh_call_engine_start_screenshare (self->engine, room_id,
                                             mesh_screen_source_get_element (source), &error);
  if (call == NULL) {
    mesh_screen_source_close (source);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_hash_table_insert (self->sources, g_object_ref (call), g_object_ref (source));
  g_signal_connect_object (source, "closed", G_CALLBACK (source_closed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (call, "ended", G_CALLBACK (share_ended_cb), self, G_CONNECT_SWAPPED);
  g_task_return_boolean (task, TRUE);
}

void
mesh_call_controller_share_screen_async (MeshCallController  *self,
                                         const char          *room_id,
                                         GtkWindow           *parent,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  XdpParent *xdp_parent;

  g_return_if_fail (MESH_IS_CALL_CONTROLLER (self));
  g_return_if_fail (room_id != NULL);
  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_call_controller_share_screen_async);
  g_task_set_task_data (task, g_strdup (room_id), g_free);
  if (self->engine == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, _("You are signed out"));
    return;
  }
  if (mesh_call_controller_get_own_share (self, room_id) != NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_EXISTS,
                             _("You are already sharing your screen in this room"));
    return;
  }
  /* The portal's picker is modal to our window. */
  xdp_parent = parent != NULL ? xdp_parent_new_gtk (parent) : NULL;
  mesh_screen_source_new_async (xdp_parent, cancellable, source_ready_cb, g_steal_pointer (&task));
  g_clear_pointer (&xdp_parent, xdp_parent_free);
}

gboolean
mesh_call_controller_share_screen_finish (MeshCallController  *self,
                                          GAsyncResult        *result,
                                          GError             **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

MeshCall *
mesh_call_controller_get_own_share (MeshCallController *self,
                                    const char         *room_id)
{
  g_return_val_if_fail (MESH_IS_CALL_CONTROLLER (self), NULL);

  return find_call (self, room_id, MESH_MEDIA_KIND_SCREENSHARE, LIVE_OURS);
}

void
mesh_call_controller_stop_sharing (MeshCallController *self,
                                   const char         *room_id)
{
  g_autoptr(GPtrArray) ending = g_ptr_array_new_with_free_func (g_object_unref);
  GListModel *calls;

  g_return_if_fail (MESH_IS_CALL_CONTROLLER (self));

  if (self->engine == NULL)
    return;
  calls = mesh_call_engine_get_calls (self->engine);
  for (guint i = 0; i < g_list_model_get_n_items (calls); i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (calls, i);

    if ((room_id == NULL || g_strcmp0 (mesh_call_get_room_id (call), room_id) == 0) &&
        mesh_call_get_kind (call) == MESH_MEDIA_KIND_SCREENSHARE &&
        mesh_call_get_direction (call) == MESH_CALL_DIRECTION_OUTGOING)
      g_ptr_array_add (ending, g_steal_pointer (&call));
  }
  for (guint i = 0; i < ending->len; i++)
    mesh_call_hang_up (ending->pdata[i]);
}

void
mesh_call_controller_shutdown (MeshCallController *self)
{
  GHashTableIter iter;
  MeshScreenSource *source;

  g_return_if_fail (MESH_IS_CALL_CONTROLLER (self));

  if (self->engine != NULL)
    mesh_call_engine_hang_up_all (self->engine);
  if (self->sources != NULL) {
    g_hash_table_iter_init (&iter, self->sources);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &source)) {
      g_signal_handlers_disconnect_by_data (source, self);
      mesh_screen_source_close (source);
      g_hash_table_iter_remove (&iter);
    }
  }
  if (self->engine != NULL)
    g_signal_handlers_disconnect_by_data (self->engine, self);
  g_clear_object (&self->engine);
}
