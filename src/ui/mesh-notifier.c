/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-notifier"

#include "config.h"

#include "mesh-notifier.h"

#include <glib/gi18n.h>
#include <libnotify/notify.h>

enum {
  ACTIVATE_ROOM,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

struct _MeshNotifier {
  GObject            parent_instance;

  GSettings         *settings;
  MeshClientSession *session;
  MeshRoomList      *room_list;
  char              *focused_room_id;
  GHashTable        *notifications;  /* room_id → NotifyNotification */
  guint              n_shown;
};

G_DEFINE_FINAL_TYPE (MeshNotifier, mesh_notifier, G_TYPE_OBJECT)

static void
notification_activated_cb (NotifyNotification *notification,
                           char               *action,
                           gpointer            user_data)
{
  MeshNotifier *self = MESH_NOTIFIER (user_data);
  const char *room_id = g_object_get_data (G_OBJECT (notification), "room-id");
  g_autofree char *id = g_strdup (room_id);

  g_hash_table_remove (self->notifications, id);
  g_signal_emit (self, signals[ACTIVATE_ROOM], 0, id);
}

static void
chat_message_cb (MeshNotifier    *self,
                 MeshChatMessage *message)
{
  g_autoptr(GError) error = NULL;
  const char *room_id = mesh_chat_message_get_room_id (message);
  NotifyNotification *notification;
  g_autofree char *summary = NULL;
  MeshRoom *room;

  if (mesh_chat_message_get_is_own (message) ||
      g_strcmp0 (room_id, self->focused_room_id) == 0 ||
      !g_settings_get_boolean (self->settings, "notify-chat"))
    return;
  room = mesh_room_list_find (self->room_list, room_id, NULL);
  if (room == NULL)
    return;

  /* Translators: a notification's title: who wrote, in which room. */
  summary = g_strdup_printf (_("%s in %s"), mesh_chat_message_get_username (message),
                             mesh_room_get_name (room));
  notification = g_hash_table_lookup (self->notifications, room_id);
  if (notification == NULL) {
    notification = notify_notification_new (summary, mesh_chat_message_get_content (message),
                                            APP_ID);
    g_object_set_data_full (G_OBJECT (notification), "room-id", g_strdup (room_id), g_free);
    notify_notification_set_category (notification, "im.received");
    notify_notification_set_hint_string (notification, "desktop-entry", APP_ID);
    notify_notification_add_action (notification, "default", _("Open Room"),
                                    notification_activated_cb, self, NULL);
    g_hash_table_insert (self->notifications, g_strdup (room_id), notification);
  } else {
    notify_notification_update (notification, summary, mesh_chat_message_get_content (message),
                                APP_ID);
  }

  self->n_shown++;
  /* Without a notification server (a bare session) there is nobody to tell. */
  if (!notify_notification_show (notification, &error))
    g_debug ("Could not show a notification: %s", error->message);
}

static void
mesh_notifier_dispose (GObject *object)
{
  MeshNotifier *self = MESH_NOTIFIER (object);

  g_clear_pointer (&self->notifications, g_hash_table_unref);
  g_clear_object (&self->settings);
  g_clear_object (&self->session);
  g_clear_object (&self->room_list);

  G_OBJECT_CLASS (mesh_notifier_parent_class)->dispose (object);
}

static void
mesh_notifier_finalize (GObject *object)
{
  MeshNotifier *self = MESH_NOTIFIER (object);

  g_free (self->focused_room_id);

  G_OBJECT_CLASS (mesh_notifier_parent_class)->finalize (object);
}

static void
mesh_notifier_class_init (MeshNotifierClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_notifier_dispose;
  object_class->finalize = mesh_notifier_finalize;

  signals[ACTIVATE_ROOM] =
    g_signal_new ("activate-room", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
mesh_notifier_init (MeshNotifier *self)
{
  self->notifications = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

MeshNotifier *
mesh_notifier_new (GSettings         *settings,
                   MeshClientSession *session,
                   MeshRoomList      *room_list)
{
  MeshNotifier *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (session), NULL);
  g_return_val_if_fail (MESH_IS_ROOM_LIST (room_list), NULL);

  if (!notify_is_initted ())
    notify_init (APP_ID);

  self = g_object_new (MESH_TYPE_NOTIFIER, NULL);
  self->settings = g_object_ref (settings);
  self->session = g_object_ref (session);
  self->room_list = g_object_ref (room_list);
  g_signal_connect_object (session, "chat-message", G_CALLBACK (chat_message_cb), self,
                           G_CONNECT_SWAPPED);
  return self;
}

void
mesh_notifier_set_focused_room_id (MeshNotifier *self,
                                   const char   *room_id)
{
  g_return_if_fail (MESH_IS_NOTIFIER (self));

  if (g_strcmp0 (self->focused_room_id, room_id) == 0)
    return;
  g_free (self->focused_room_id);
  self->focused_room_id = g_strdup (room_id);
  if (room_id != NULL)
    mesh_notifier_withdraw_room (self, room_id);
}

const char *
mesh_notifier_get_focused_room_id (MeshNotifier *self)
{
  g_return_val_if_fail (MESH_IS_NOTIFIER (self), NULL);

  return self->focused_room_id;
}

guint
mesh_notifier_get_n_shown (MeshNotifier *self)
{
  g_return_val_if_fail (MESH_IS_NOTIFIER (self), 0);

  return self->n_shown;
}

void
mesh_notifier_withdraw_room (MeshNotifier *self,
                             const char   *room_id)
{
  NotifyNotification *notification;

  g_return_if_fail (MESH_IS_NOTIFIER (self));
  g_return_if_fail (room_id != NULL);

  notification = g_hash_table_lookup (self->notifications, room_id);
  if (notification == NULL)
    return;
  /* Closing fails without a server; the notification is forgotten anyway. */
  notify_notification_close (notification, NULL);
  g_hash_table_remove (self->notifications, room_id);
}
