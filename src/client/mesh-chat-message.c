/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-chat-message.h"
#include "mesh-client-private.h"

#include "mesh-ids.h"
#include "mesh-json.h"

enum {
  PROP_0,
  PROP_MESSAGE_ID,
  PROP_CLIENT_MSG_ID,
  PROP_ROOM_ID,
  PROP_FROM,
  PROP_USER_ID,
  PROP_USERNAME,
  PROP_CONTENT,
  PROP_TIMESTAMP,
  PROP_DATE_TIME,
  PROP_DELIVERY_STATE,
  PROP_IS_OWN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshChatMessage {
  GObject            parent_instance;

  char              *message_id;
  char              *client_msg_id;
  char              *room_id;
  char              *from;
  char              *user_id;
  char              *username;
  char              *content;
  char              *timestamp;
  GDateTime         *date_time;
  MeshDeliveryState  delivery_state;
  gboolean           is_own;
  char              *event;     /* "joined", "left": a line about a member, not a message */
  /* event "file-sent" / "file-received": a transfer that ended here */
  char              *file_name;
  guint64            file_size;
  gboolean           file_is_folder;
  char              *file_outcome; /* "done", "cancelled", "failed" */
  GFile             *file;
};

G_DEFINE_FINAL_TYPE (MeshChatMessage, mesh_chat_message, G_TYPE_OBJECT)

static void
set_timestamp (MeshChatMessage *self,
               const char      *timestamp)
{
  g_free (self->timestamp);
  self->timestamp = g_strdup (timestamp);
  g_clear_pointer (&self->date_time, g_date_time_unref);
  if (timestamp != NULL)
    self->date_time = g_date_time_new_from_iso8601 (timestamp, NULL);
}

static void
mesh_chat_message_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MeshChatMessage *self = MESH_CHAT_MESSAGE (object);

  switch (prop_id) {
  case PROP_MESSAGE_ID:
    g_value_set_string (value, self->message_id);
    break;
  case PROP_CLIENT_MSG_ID:
    g_value_set_string (value, self->client_msg_id);
    break;
  case PROP_ROOM_ID:
    g_value_set_string (value, self->room_id);
    break;
  case PROP_FROM:
    g_value_set_string (value, self->from);
    break;
  case PROP_USER_ID:
    g_value_set_string (value, self->user_id);
    break;
  case PROP_USERNAME:
    g_value_set_string (value, self->username);
    break;
  case PROP_CONTENT:
    g_value_set_string (value, self->content);
    break;
  case PROP_TIMESTAMP:
    g_value_set_string (value, self->timestamp);
    break;
  case PROP_DATE_TIME:
    g_value_set_boxed (value, self->date_time);
    break;
  case PROP_DELIVERY_STATE:
    g_value_set_enum (value, self->delivery_state);
    break;
  case PROP_IS_OWN:
    g_value_set_boolean (value, self->is_own);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_chat_message_finalize (GObject *object)
{
  MeshChatMessage *self = MESH_CHAT_MESSAGE (object);

  g_free (self->message_id);
  g_free (self->client_msg_id);
  g_free (self->room_id);
  g_free (self->from);
  g_free (self->user_id);
  g_free (self->username);
  g_free (self->content);
  g_free (self->event);
  g_free (self->file_name);
  g_free (self->file_outcome);
  g_clear_object (&self->file);
  g_free (self->timestamp);
  g_clear_pointer (&self->date_time, g_date_time_unref);
  G_OBJECT_CLASS (mesh_chat_message_parent_class)->finalize (object);
}

static GParamSpec *
string_pspec (const char *name)
{
  return g_param_spec_string (name, NULL, NULL, NULL,
                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
}

static void
mesh_chat_message_class_init (MeshChatMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_chat_message_get_property;
  object_class->finalize = mesh_chat_message_finalize;

  properties[PROP_MESSAGE_ID] = string_pspec ("message-id");
  properties[PROP_CLIENT_MSG_ID] = string_pspec ("client-msg-id");
  properties[PROP_ROOM_ID] = string_pspec ("room-id");
  properties[PROP_FROM] = string_pspec ("from");
  properties[PROP_USER_ID] = string_pspec ("user-id");
  properties[PROP_USERNAME] = string_pspec ("username");
  properties[PROP_CONTENT] = string_pspec ("content");
  properties[PROP_TIMESTAMP] = string_pspec ("timestamp");
  properties[PROP_DATE_TIME] =
    g_param_spec_boxed ("date-time", NULL, NULL, G_TYPE_DATE_TIME,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_DELIVERY_STATE] =
    g_param_spec_enum ("delivery-state", NULL, NULL, MESH_TYPE_DELIVERY_STATE,
                       MESH_DELIVERY_SENT,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_IS_OWN] =
    g_param_spec_boolean ("is-own", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_chat_message_init (MeshChatMessage *self)
{
  self->delivery_state = MESH_DELIVERY_SENT;
}

/* A message as the server sends it, in chat.message.created and in the
 * history: {message_id, room_id, from, user_id, username, content,
 * timestamp, client_msg_id?}. */
MeshChatMessage *
mesh_chat_message_new_from_json (JsonObject  *object,
                                 const char  *own_user_id,
                                 GError     **error)
{
  g_autoptr(MeshChatMessage) self = g_object_new (MESH_TYPE_CHAT_MESSAGE, NULL);
  const char *message_id, *room_id, *from, *user_id, *username, *content, *timestamp;
  const char *client_msg_id;

  if (!mesh_json_get_string (object, "message_id", TRUE, &message_id, error) ||
      !mesh_json_get_string (object, "room_id", TRUE, &room_id, error) ||
      !mesh_json_get_string (object, "from", FALSE, &from, error) ||
      !mesh_json_get_string (object, "user_id", TRUE, &user_id, error) ||
      !mesh_json_get_string (object, "username", FALSE, &username, error) ||
      !mesh_json_get_string (object, "content", TRUE, &content, error) ||
      !mesh_json_get_string (object, "timestamp", TRUE, &timestamp, error) ||
      !mesh_json_get_string (object, "client_msg_id", FALSE, &client_msg_id, error))
    return NULL;

  self->message_id = g_strdup (message_id);
  self->client_msg_id = g_strdup (client_msg_id);
  self->room_id = g_strdup (room_id);
  self->from = g_strdup (from);
  self->user_id = g_strdup (user_id);
  self->username = g_strdup (username);
  self->content = g_strdup (content);
  set_timestamp (self, timestamp);
  self->is_own = g_strcmp0 (user_id, own_user_id) == 0;
  return g_steal_pointer (&self);
}

MeshChatMessage *
mesh_chat_message_new_pending (const char *room_id,
                               const char *client_msg_id,
                               const char *content,
                               const char *user_id)
{
  MeshChatMessage *self = g_object_new (MESH_TYPE_CHAT_MESSAGE, NULL);
  g_autofree char *now = mesh_timestamp_now ();

  self->room_id = g_strdup (room_id);
  self->client_msg_id = g_strdup (client_msg_id);
  self->content = g_strdup (content);
  self->user_id = g_strdup (user_id);
  /* Shown with the local time until the server's time arrives. */
  set_timestamp (self, now);
  self->delivery_state = MESH_DELIVERY_PENDING;
  self->is_own = TRUE;
  return self;
}

MeshChatMessage *
mesh_chat_message_new_event (const char *room_id,
                             const char *event,
                             const char *user_id,
                             const char *username,
                             const char *own_user_id)
{
  MeshChatMessage *self = g_object_new (MESH_TYPE_CHAT_MESSAGE, NULL);
  g_autofree char *now = mesh_timestamp_now ();

  self->room_id = g_strdup (room_id);
  self->event = g_strdup (event);
  self->user_id = g_strdup (user_id);
  self->username = g_strdup (username);
  self->content = g_strdup ("");
  set_timestamp (self, now);
  self->delivery_state = MESH_DELIVERY_SENT;
  self->is_own = g_strcmp0 (user_id, own_user_id) == 0;
  return self;
}

MeshChatMessage *
mesh_chat_message_new_file (const char *room_id,
                            gboolean    outgoing,
                            const char *peer_name,
                            const char *name,
                            gboolean    is_folder,
                            guint64     size,
                            const char *outcome,
                            GFile      *file)
{
  MeshChatMessage *self;
  g_autofree char *now = mesh_timestamp_now ();

  g_return_val_if_fail (room_id != NULL && name != NULL && outcome != NULL, NULL);
  g_return_val_if_fail (file == NULL || G_IS_FILE (file), NULL);

  self = g_object_new (MESH_TYPE_CHAT_MESSAGE, NULL);
  self->room_id = g_strdup (room_id);
  self->event = g_strdup (outgoing ? "file-sent" : "file-received");
  self->username = g_strdup (peer_name != NULL ? peer_name : "");
  self->content = g_strdup ("");
  self->file_name = g_strdup (name);
  self->file_size = size;
  self->file_is_folder = is_folder;
  self->file_outcome = g_strdup (outcome);
  g_set_object (&self->file, file);
  set_timestamp (self, now);
  self->delivery_state = MESH_DELIVERY_SENT;
  self->is_own = outgoing;
  return self;
}

const char *
mesh_chat_message_get_file_name (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->file_name;
}

guint64
mesh_chat_message_get_file_size (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), 0);
  return self->file_size;
}

gboolean
mesh_chat_message_get_file_is_folder (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), FALSE);
  return self->file_is_folder;
}

const char *
mesh_chat_message_get_file_outcome (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->file_outcome;
}

GFile *
mesh_chat_message_get_file (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->file;
}

const char *
mesh_chat_message_get_event (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);

  return self->event;
}

/* A pending message confirmed by the server's copy @created. */
void
mesh_chat_message_confirm (MeshChatMessage *self,
                           MeshChatMessage *created)
{
  g_return_if_fail (MESH_IS_CHAT_MESSAGE (self));
  g_return_if_fail (MESH_IS_CHAT_MESSAGE (created));

  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->message_id, created->message_id) != 0) {
    g_free (self->message_id);
    self->message_id = g_strdup (created->message_id);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MESSAGE_ID]);
  }
  if (g_strcmp0 (self->from, created->from) != 0) {
    g_free (self->from);
    self->from = g_strdup (created->from);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FROM]);
  }
  if (g_strcmp0 (self->username, created->username) != 0) {
    g_free (self->username);
    self->username = g_strdup (created->username);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USERNAME]);
  }
  if (g_strcmp0 (self->timestamp, created->timestamp) != 0) {
    set_timestamp (self, created->timestamp);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMESTAMP]);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DATE_TIME]);
  }
  mesh_chat_message_set_delivery_state (self, MESH_DELIVERY_SENT);
  g_object_thaw_notify (G_OBJECT (self));
}

void
mesh_chat_message_set_delivery_state (MeshChatMessage   *self,
                                      MeshDeliveryState  state)
{
  g_return_if_fail (MESH_IS_CHAT_MESSAGE (self));

  if (self->delivery_state == state)
    return;
  self->delivery_state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DELIVERY_STATE]);
}

const char *
mesh_chat_message_get_message_id (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->message_id;
}

const char *
mesh_chat_message_get_client_msg_id (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->client_msg_id;
}

const char *
mesh_chat_message_get_room_id (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->room_id;
}

const char *
mesh_chat_message_get_from (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->from;
}

const char *
mesh_chat_message_get_user_id (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->user_id;
}

const char *
mesh_chat_message_get_username (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->username;
}

const char *
mesh_chat_message_get_content (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->content;
}

const char *
mesh_chat_message_get_timestamp (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->timestamp;
}

GDateTime *
mesh_chat_message_get_date_time (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), NULL);
  return self->date_time;
}

MeshDeliveryState
mesh_chat_message_get_delivery_state (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), MESH_DELIVERY_FAILED);
  return self->delivery_state;
}

gboolean
mesh_chat_message_get_is_own (MeshChatMessage *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MESSAGE (self), FALSE);
  return self->is_own;
}
