/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-member-list.h"
#include "mesh-client-private.h"

enum {
  PROP_0,
  PROP_SESSION,
  PROP_ROOM,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshMemberList {
  GObject            parent_instance;

  MeshClientSession *session;
  MeshRoom          *room;
  GPtrArray         *members;   /* MeshMember */
};

static void mesh_member_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MeshMemberList, mesh_member_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      mesh_member_list_model_init))

static GType
mesh_member_list_get_item_type (GListModel *model)
{
  return MESH_TYPE_MEMBER;
}

static guint
mesh_member_list_get_n_items (GListModel *model)
{
  return MESH_MEMBER_LIST (model)->members->len;
}

static gpointer
mesh_member_list_get_item (GListModel *model,
                           guint       position)
{
  MeshMemberList *self = MESH_MEMBER_LIST (model);

  if (position >= self->members->len)
    return NULL;
  return g_object_ref (self->members->pdata[position]);
}

static void
mesh_member_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = mesh_member_list_get_item_type;
  iface->get_n_items = mesh_member_list_get_n_items;
  iface->get_item = mesh_member_list_get_item;
}

static gint
find_index (GPtrArray  *members,
            const char *user_id,
            guint       from)
{
  for (guint i = from; i < members->len; i++) {
    if (g_strcmp0 (mesh_member_get_user_id (members->pdata[i]), user_id) == 0)
      return (gint) i;
  }
  return -1;
}

/* sharing > busy > online > offline */
static guint
presence_rank (MeshPresence status)
{
  switch (status) {
  case MESH_PRESENCE_SHARING:
    return 3;
  case MESH_PRESENCE_BUSY:
    return 2;
  case MESH_PRESENCE_ONLINE:
    return 1;
  case MESH_PRESENCE_OFFLINE:
  default:
    return 0;
  }
}

/* Brings the list to the room's members plus live-only users, then sets
 * each one's status and devices from the session's view of the room. */
static void
resync (MeshMemberList *self,
        gboolean        membership_refreshed)
{
  g_autoptr(GPtrArray) wanted = mesh_room_dup_members (self->room);
  g_autoptr(GPtrArray) peers = NULL;

  peers = mesh_client_session_get_state (self->session) == MESH_CLIENT_SESSION_CONNECTED
            ? mesh_client_session_dup_room_peers (self->session, mesh_room_get_room_id (self->room))
            : g_ptr_array_new ();

  /* A user who joined after the last REST refresh, or whom the room list
   * has not been refreshed for, is known from room.joined. */
  for (guint i = 0; i < peers->len; i++) {
    MeshPeerInfo *peer = peers->pdata[i];

    if (find_index (wanted, peer->user_id, 0) < 0)
      g_ptr_array_add (wanted, mesh_member_new (peer->user_id, peer->username, peer->role));
  }
  /* A user seen live stays a member when they go offline, until the
   * room's membership is refreshed without them. */
  for (guint i = 0; !membership_refreshed && i < self->members->len; i++) {
    MeshMember *member = self->members->pdata[i];

    if (find_index (wanted, mesh_member_get_user_id (member), 0) < 0)
      g_ptr_array_add (wanted, g_object_ref (member));
  }

  for (guint i = self->members->len; i-- > 0;) {
    if (find_index (wanted, mesh_member_get_user_id (self->members->pdata[i]), 0) < 0) {
      g_ptr_array_remove_index (self->members, i);
      g_list_model_items_changed (G_LIST_MODEL (self), i, 1, 0);
    }
  }
  for (guint j = 0; j < wanted->len; j++) {
    MeshMember *fresh = wanted->pdata[j];
    gint k = find_index (self->members, mesh_member_get_user_id (fresh), j);
    MeshMember *member;

    if (k == (gint) j) {
      member = self->members->pdata[j];
    } else if (k > (gint) j) {
      member = g_ptr_array_steal_index (self->members, (guint) k);
      g_list_model_items_changed (G_LIST_MODEL (self), (guint) k, 1, 0);
      g_ptr_array_insert (self->members, (gint) j, member);
      g_list_model_items_changed (G_LIST_MODEL (self), j, 0, 1);
    } else {
      member = g_object_ref (fresh);
      g_ptr_array_insert (self->members, (gint) j, member);
      g_list_model_items_changed (G_LIST_MODEL (self), j, 0, 1);
    }
    if (member != fresh) {
      if (mesh_member_get_username (fresh) != NULL)
        mesh_member_set_username (member, mesh_member_get_username (fresh));
      if (mesh_member_get_role (fresh) != NULL)
        mesh_member_set_role (member, mesh_member_get_role (fresh));
    }
  }

  for (guint i = 0; i < self->members->len; i++) {
    MeshMember *member = self->members->pdata[i];
    g_autoptr(GPtrArray) devices = g_ptr_array_new ();
    MeshPresence status = MESH_PRESENCE_OFFLINE;

    for (guint p = 0; p < peers->len; p++) {
      MeshPeerInfo *peer = peers->pdata[p];

      if (g_strcmp0 (peer->user_id, mesh_member_get_user_id (member)) != 0)
        continue;
      if (g_strcmp0 (peer->peer_type, "agent") == 0) {
        if (peer->device_id != NULL)
          g_ptr_array_add (devices, peer->device_id);
      } else if (presence_rank (peer->status) > presence_rank (status)) {
        status = peer->status;
      }
    }
    g_ptr_array_sort (devices, (GCompareFunc) g_strcmp0);
    g_ptr_array_add (devices, NULL);
    mesh_member_set_status (member, status);
    mesh_member_set_devices (member, (const char * const *) devices->pdata);
  }
}

static void
room_event_cb (MeshMemberList *self,
               const char     *room_id)
{
  if (g_strcmp0 (room_id, mesh_room_get_room_id (self->room)) == 0)
    resync (self, FALSE);
}

static void
session_changed_cb (MeshMemberList *self)
{
  resync (self, FALSE);
}

static void
members_changed_cb (MeshMemberList *self)
{
  resync (self, TRUE);
}

static void
mesh_member_list_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MeshMemberList *self = MESH_MEMBER_LIST (object);

  switch (prop_id) {
  case PROP_SESSION:
    g_value_set_object (value, self->session);
    break;
  case PROP_ROOM:
    g_value_set_object (value, self->room);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_member_list_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  MeshMemberList *self = MESH_MEMBER_LIST (object);

  switch (prop_id) {
  case PROP_SESSION:
    self->session = g_value_dup_object (value);
    break;
  case PROP_ROOM:
    self->room = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_member_list_constructed (GObject *object)
{
  MeshMemberList *self = MESH_MEMBER_LIST (object);

  G_OBJECT_CLASS (mesh_member_list_parent_class)->constructed (object);

  g_signal_connect_object (self->session, "room-joined", G_CALLBACK (room_event_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->session, "room-left", G_CALLBACK (room_event_cb), self,
                           G_CONNECT_SWAPPED);
  /* presence.update names no room: any peer may be one of ours. */
  g_signal_connect_object (self->session, "presence-changed", G_CALLBACK (session_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->session, "notify::state", G_CALLBACK (session_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->room, "members-changed", G_CALLBACK (members_changed_cb), self,
                           G_CONNECT_SWAPPED);
  resync (self, TRUE);
}

static void
mesh_member_list_dispose (GObject *object)
{
  MeshMemberList *self = MESH_MEMBER_LIST (object);

  g_clear_object (&self->session);
  g_clear_object (&self->room);
  G_OBJECT_CLASS (mesh_member_list_parent_class)->dispose (object);
}

static void
mesh_member_list_finalize (GObject *object)
{
  MeshMemberList *self = MESH_MEMBER_LIST (object);

  g_ptr_array_unref (self->members);
  G_OBJECT_CLASS (mesh_member_list_parent_class)->finalize (object);
}

static void
mesh_member_list_class_init (MeshMemberListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = mesh_member_list_get_property;
  object_class->set_property = mesh_member_list_set_property;
  object_class->constructed = mesh_member_list_constructed;
  object_class->dispose = mesh_member_list_dispose;
  object_class->finalize = mesh_member_list_finalize;

  properties[PROP_SESSION] = g_param_spec_object ("session", NULL, NULL,
                                                  MESH_TYPE_CLIENT_SESSION, flags);
  properties[PROP_ROOM] = g_param_spec_object ("room", NULL, NULL, MESH_TYPE_ROOM, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_member_list_init (MeshMemberList *self)
{
  self->members = g_ptr_array_new_with_free_func (g_object_unref);
}

MeshMemberList *
mesh_member_list_new (MeshClientSession *session,
                      MeshRoom          *room)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (session), NULL);
  g_return_val_if_fail (MESH_IS_ROOM (room), NULL);

  return g_object_new (MESH_TYPE_MEMBER_LIST, "session", session, "room", room, NULL);
}

MeshRoom *
mesh_member_list_get_room (MeshMemberList *self)
{
  g_return_val_if_fail (MESH_IS_MEMBER_LIST (self), NULL);
  return self->room;
}

MeshMember *
mesh_member_list_find (MeshMemberList *self,
                       const char     *user_id,
                       guint          *position)
{
  gint index;

  g_return_val_if_fail (MESH_IS_MEMBER_LIST (self), NULL);
  g_return_val_if_fail (user_id != NULL, NULL);

  index = find_index (self->members, user_id, 0);
  if (index < 0)
    return NULL;
  if (position != NULL)
    *position = (guint) index;
  return self->members->pdata[index];
}
