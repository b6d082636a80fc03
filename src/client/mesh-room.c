/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-room.h"
#include "mesh-client-private.h"
#include "mesh-member.h"

#include "mesh-json.h"

enum {
  PROP_0,
  PROP_ROOM_ID,
  PROP_NAME,
  PROP_N_MEMBERS,
  PROP_UNREAD_COUNT,
  PROP_LAST_MESSAGE,
  N_PROPS
};

enum {
  MEMBERS_CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

struct _MeshRoom {
  GObject    parent_instance;

  char      *room_id;
  char      *name;
  GPtrArray *members;   /* MeshMember, as the server listed them */
  guint      unread_count;
  MeshChatMessage *last_message;
};

G_DEFINE_FINAL_TYPE (MeshRoom, mesh_room, G_TYPE_OBJECT)

static void
mesh_room_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  MeshRoom *self = MESH_ROOM (object);

  switch (prop_id) {
  case PROP_ROOM_ID:
    g_value_set_string (value, self->room_id);
    break;
  case PROP_NAME:
    g_value_set_string (value, self->name);
    break;
  case PROP_N_MEMBERS:
    g_value_set_uint (value, self->members->len);
    break;
  case PROP_UNREAD_COUNT:
    g_value_set_uint (value, self->unread_count);
    break;
  case PROP_LAST_MESSAGE:
    g_value_set_object (value, self->last_message);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  MeshRoom *self = MESH_ROOM (object);

  switch (prop_id) {
  case PROP_UNREAD_COUNT:
    mesh_room_set_unread_count (self, g_value_get_uint (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_finalize (GObject *object)
{
  MeshRoom *self = MESH_ROOM (object);

  g_free (self->room_id);
  g_free (self->name);
  g_ptr_array_unref (self->members);
  g_clear_object (&self->last_message);
  G_OBJECT_CLASS (mesh_room_parent_class)->finalize (object);
}

static void
mesh_room_class_init (MeshRoomClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mesh_room_get_property;
  object_class->set_property = mesh_room_set_property;
  object_class->finalize = mesh_room_finalize;

  properties[PROP_ROOM_ID] = g_param_spec_string ("room-id", NULL, NULL, NULL, flags);
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  properties[PROP_N_MEMBERS] = g_param_spec_uint ("n-members", NULL, NULL, 0, G_MAXUINT, 0, flags);
  properties[PROP_UNREAD_COUNT] =
    g_param_spec_uint ("unread-count", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_LAST_MESSAGE] = g_param_spec_object ("last-message", NULL, NULL,
                                                       MESH_TYPE_CHAT_MESSAGE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[MEMBERS_CHANGED] = g_signal_new ("members-changed", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 0);
}

static void
mesh_room_init (MeshRoom *self)
{
  self->members = g_ptr_array_new_with_free_func (g_object_unref);
}

/* One element of GET /rooms: {room_id, name, members:[{user_id, username, role}]}. */
MeshRoom *
mesh_room_new_from_json (JsonObject  *object,
                         GError     **error)
{
  g_autoptr(MeshRoom) self = g_object_new (MESH_TYPE_ROOM, NULL);
  const char *room_id, *name;
  JsonArray *members;

  if (!mesh_json_get_string (object, "room_id", TRUE, &room_id, error) ||
      !mesh_json_get_string (object, "name", TRUE, &name, error) ||
      !mesh_json_get_array (object, "members", TRUE, &members, error))
    return NULL;

  self->room_id = g_strdup (room_id);
  self->name = g_strdup (name);
  for (guint i = 0; i < json_array_get_length (members); i++) {
    JsonNode *node = json_array_get_element (members, i);
    const char *user_id, *username, *role;
    JsonObject *member;

    if (!JSON_NODE_HOLDS_OBJECT (node)) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "room '%s': members[%u] is not an object", room_id, i);
      return NULL;
    }
    member = json_node_get_object (node);
    if (!mesh_json_get_string (member, "user_id", TRUE, &user_id, error) ||
        !mesh_json_get_string (member, "username", TRUE, &username, error) ||
        !mesh_json_get_string (member, "role", FALSE, &role, error))
      return NULL;
    g_ptr_array_add (self->members, mesh_member_new (user_id, username, role));
  }
  return g_steal_pointer (&self);
}

static gboolean
same_members (GPtrArray *a,
              GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++) {
    MeshMember *ma = a->pdata[i], *mb = b->pdata[i];

    if (g_strcmp0 (mesh_member_get_user_id (ma), mesh_member_get_user_id (mb)) != 0 ||
        g_strcmp0 (mesh_member_get_username (ma), mesh_member_get_username (mb)) != 0 ||
        g_strcmp0 (mesh_member_get_role (ma), mesh_member_get_role (mb)) != 0)
      return FALSE;
  }
  return TRUE;
}

/* Takes name and members from a fresher copy of the same room. */
void
mesh_room_update (MeshRoom *self,
                  MeshRoom *fresh)
{
  gboolean members_changed;
  guint old_n;

  g_return_if_fail (MESH_IS_ROOM (self));
  g_return_if_fail (MESH_IS_ROOM (fresh));

  if (g_strcmp0 (self->name, fresh->name) != 0) {
    g_free (self->name);
    self->name = g_strdup (fresh->name);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NAME]);
  }

  members_changed = !same_members (self->members, fresh->members);
  if (!members_changed)
    return;
  old_n = self->members->len;
  g_ptr_array_set_size (self->members, 0);
  for (guint i = 0; i < fresh->members->len; i++)
    g_ptr_array_add (self->members, g_object_ref (fresh->members->pdata[i]));
  if (old_n != self->members->len)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_MEMBERS]);
  g_signal_emit (self, signals[MEMBERS_CHANGED], 0);
}

const char *
mesh_room_get_room_id (MeshRoom *self)
{
  g_return_val_if_fail (MESH_IS_ROOM (self), NULL);
  return self->room_id;
}

const char *
mesh_room_get_name (MeshRoom *self)
{
  g_return_val_if_fail (MESH_IS_ROOM (self), NULL);
  return self->name;
}

guint
mesh_room_get_n_members (MeshRoom *self)
{
  g_return_val_if_fail (MESH_IS_ROOM (self), 0);
  return self->members->len;
}

GPtrArray *
mesh_room_dup_members (MeshRoom *self)
{
  GPtrArray *copy;

  g_return_val_if_fail (MESH_IS_ROOM (self), NULL);

  copy = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->members->len; i++) {
    MeshMember *member = self->members->pdata[i];

    g_ptr_array_add (copy, mesh_member_new (mesh_member_get_user_id (member),
                                            mesh_member_get_username (member),
                                            mesh_member_get_role (member)));
  }
  return copy;
}

guint
mesh_room_get_unread_count (MeshRoom *self)
{
  g_return_val_if_fail (MESH_IS_ROOM (self), 0);
  return self->unread_count;
}

void
mesh_room_set_unread_count (MeshRoom *self,
                            guint     count)
{
  g_return_if_fail (MESH_IS_ROOM (self));

  if (self->unread_count == count)
    return;
  self->unread_count = count;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD_COUNT]);
}

MeshChatMessage *
mesh_room_get_last_message (MeshRoom *self)
{
  g_return_val_if_fail (MESH_IS_ROOM (self), NULL);
  return self->last_message;
}

/* The newest message wins: an older one (a late page) does not replace it. */
void
mesh_room_set_last_message (MeshRoom        *self,
                            MeshChatMessage *message)
{
  GDateTime *old_time, *new_time;

  g_return_if_fail (MESH_IS_ROOM (self));
  g_return_if_fail (MESH_IS_CHAT_MESSAGE (message));

  if (self->last_message == message)
    return;
  old_time = self->last_message ? mesh_chat_message_get_date_time (self->last_message) : NULL;
  new_time = mesh_chat_message_get_date_time (message);
  if (old_time != NULL && new_time != NULL && g_date_time_compare (new_time, old_time) < 0)
    return;
  g_set_object (&self->last_message, message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_MESSAGE]);
}
