/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-room-list.h"
#include "mesh-client-private.h"

enum {
  PROP_0,
  PROP_REST,
  PROP_SESSION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  ROOM_REMOVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

struct _MeshRoomList {
  GObject            parent_instance;

  MeshClientRest    *rest;
  MeshClientSession *session;
  GPtrArray         *rooms;   /* MeshRoom */
};

static void mesh_room_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MeshRoomList, mesh_room_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, mesh_room_list_model_init))

static GType
mesh_room_list_get_item_type (GListModel *model)
{
  return MESH_TYPE_ROOM;
}

static guint
mesh_room_list_get_n_items (GListModel *model)
{
  return MESH_ROOM_LIST (model)->rooms->len;
}

static gpointer
mesh_room_list_get_item (GListModel *model,
                         guint       position)
{
  MeshRoomList *self = MESH_ROOM_LIST (model);

  if (position >= self->rooms->len)
    return NULL;
  return g_object_ref (self->rooms->pdata[position]);
}

static void
mesh_room_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = mesh_room_list_get_item_type;
  iface->get_n_items = mesh_room_list_get_n_items;
  iface->get_item = mesh_room_list_get_item;
}

static gint
find_index (GPtrArray  *rooms,
            const char *room_id,
            guint       from)
{
  for (guint i = from; i < rooms->len; i++) {
    if (g_str_equal (mesh_room_get_room_id (rooms->pdata[i]), room_id))
      return (gint) i;
  }
  return -1;
}

static void
newest_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(MeshRoomList) self = user_data;
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GError) error = NULL;
  MeshRoom *room;

  page = mesh_client_rest_list_messages_finish (MESH_CLIENT_REST (source), result, &error);
  if (page == NULL || page->len == 0)
    return;
  room = mesh_room_list_find (self, mesh_chat_message_get_room_id (page->pdata[0]), NULL);
  if (room != NULL)
    mesh_room_set_last_message (room, page->pdata[0]);
}

static void
join_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_client_session_join_room_finish (MESH_CLIENT_SESSION (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("could not join a room: %s", error->message);
}

/* Brings the list to @fresh, announcing each removal, move and insertion. */
static void
merge (MeshRoomList *self,
       GPtrArray    *fresh)
{
  for (guint i = self->rooms->len; i-- > 0;) {
    if (find_index (fresh, mesh_room_get_room_id (self->rooms->pdata[i]), 0) < 0) {
      g_ptr_array_remove_index (self->rooms, i);
      g_list_model_items_changed (G_LIST_MODEL (self), i, 1, 0);
    }
  }

  for (guint j = 0; j < fresh->len; j++) {
    MeshRoom *room = fresh->pdata[j];
    gint k = find_index (self->rooms, mesh_room_get_room_id (room), j);

    if (k == (gint) j) {
      mesh_room_update (self->rooms->pdata[j], room);
      continue;
    }
    if (k > (gint) j) {
      MeshRoom *moved = g_ptr_array_steal_index (self->rooms, (guint) k);

      g_list_model_items_changed (G_LIST_MODEL (self), (guint) k, 1, 0);
      mesh_room_update (moved, room);
      g_ptr_array_insert (self->rooms, (gint) j, moved);
    } else {
      g_ptr_array_insert (self->rooms, (gint) j, g_object_ref (room));
      /* Its newest message, for the preview; live ones follow. */
      mesh_client_rest_list_messages_async (self->rest, mesh_room_get_room_id (room), NULL, 1,
                                            NULL, newest_cb, g_object_ref (self));
    }
    g_list_model_items_changed (G_LIST_MODEL (self), j, 0, 1);
  }

  for (guint i = 0; self->session != NULL && i < self->rooms->len; i++) {
    const char *room_id = mesh_room_get_room_id (self->rooms->pdata[i]);

    if (!mesh_client_session_is_room_joined (self->session, room_id))
      mesh_client_session_join_room_async (self->session, room_id, NULL, join_done_cb, NULL);
  }
}

static void
chat_message_cb (MeshRoomList    *self,
                 MeshChatMessage *message)
{
  MeshRoom *room = mesh_room_list_find (self, mesh_chat_message_get_room_id (message), NULL);

  if (room == NULL)
    return;
  mesh_room_set_last_message (room, message);
  if (!mesh_chat_message_get_is_own (message))
    mesh_room_set_unread_count (room, mesh_room_get_unread_count (room) + 1);
}

static void
mesh_room_list_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MeshRoomList *self = MESH_ROOM_LIST (object);

  switch (prop_id) {
  case PROP_REST:
    g_value_set_object (value, self->rest);
    break;
  case PROP_SESSION:
    g_value_set_object (value, self->session);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_room_list_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  MeshRoomList *self = MESH_ROOM_LIST (object);

  switch (prop_id) {
  case PROP_REST:
    self->rest = g_value_dup_object (value);
    break;
  case PROP_SESSION:
    self->session = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

/* Drops a room from the list at once (deleted, or we left it). */
static void
remove_room (MeshRoomList *self,
             const char   *room_id,
             const char   *why,
             const char   *by_user_id)
{
  g_autoptr(MeshRoom) room = NULL;
  gint i = find_index (self->rooms, room_id, 0);

  if (i < 0)
    return;
  room = g_ptr_array_steal_index (self->rooms, (guint) i);
  g_signal_emit (self, signals[ROOM_REMOVED], 0, room, why, by_user_id);
  g_list_model_items_changed (G_LIST_MODEL (self), (guint) i, 1, 0);
}

static void
refreshed_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_room_list_refresh_finish (MESH_ROOM_LIST (source), result, &error))
    g_debug ("could not refresh the room list: %s", error->message);
}

/* room.updated, room.deleted, room.member.left: another client (or the
 * owner) changed a room; the list follows. */
static void
room_event_cb (MeshRoomList *self,
               const char   *type,
               const char   *from,
               JsonObject   *payload)
{
  const char *room_id = json_object_get_string_member_with_default (payload, "room_id", NULL);
  const char *user_id = json_object_get_string_member_with_default (payload, "user_id", NULL);

  if (room_id == NULL)
    return;
  if (g_str_equal (type, "room.deleted")) {
    remove_room (self, room_id, "deleted", user_id);
    return;
  }
  if (g_str_equal (type, "room.member.left") &&
      g_strcmp0 (user_id, mesh_client_rest_get_user_id (self->rest)) == 0) {
    remove_room (self, room_id, "left", user_id);
    return;
  }
  /* A new name, a new member, or fewer members (and maybe a new owner). */
  mesh_room_list_refresh_async (self, NULL, refreshed_cb, NULL);
}

static void
mesh_room_list_constructed (GObject *object)
{
  MeshRoomList *self = MESH_ROOM_LIST (object);

  G_OBJECT_CLASS (mesh_room_list_parent_class)->constructed (object);
  if (self->session != NULL) {
    g_signal_connect_object (self->session, "chat-message", G_CALLBACK (chat_message_cb), self,
                             G_CONNECT_SWAPPED);
    g_signal_connect_object (self->session, "event::room.updated", G_CALLBACK (room_event_cb),
                             self, G_CONNECT_SWAPPED);
    g_signal_connect_object (self->session, "event::room.deleted", G_CALLBACK (room_event_cb),
                             self, G_CONNECT_SWAPPED);
    g_signal_connect_object (self->session, "event::room.member.left",
                             G_CALLBACK (room_event_cb), self, G_CONNECT_SWAPPED);
    g_signal_connect_object (self->session, "event::room.member.joined",
                             G_CALLBACK (room_event_cb), self, G_CONNECT_SWAPPED);
  }
}

static void
mesh_room_list_dispose (GObject *object)
{
  MeshRoomList *self = MESH_ROOM_LIST (object);

  g_clear_object (&self->session);
  g_clear_object (&self->rest);
  G_OBJECT_CLASS (mesh_room_list_parent_class)->dispose (object);
}

static void
mesh_room_list_finalize (GObject *object)
{
  MeshRoomList *self = MESH_ROOM_LIST (object);

  g_ptr_array_unref (self->rooms);
  G_OBJECT_CLASS (mesh_room_list_parent_class)->finalize (object);
}

static void
mesh_room_list_class_init (MeshRoomListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = mesh_room_list_get_property;
  object_class->set_property = mesh_room_list_set_property;
  object_class->constructed = mesh_room_list_constructed;
  object_class->dispose = mesh_room_list_dispose;
  object_class->finalize = mesh_room_list_finalize;

  properties[PROP_REST] = g_param_spec_object ("rest", NULL, NULL, MESH_TYPE_CLIENT_REST, flags);
  properties[PROP_SESSION] = g_param_spec_object ("session", NULL, NULL,
                                                  MESH_TYPE_CLIENT_SESSION, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[ROOM_REMOVED] =
    g_signal_new ("room-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, MESH_TYPE_ROOM, G_TYPE_STRING, G_TYPE_STRING);
}

static void
mesh_room_list_init (MeshRoomList *self)
{
  self->rooms = g_ptr_array_new_with_free_func (g_object_unref);
}

MeshRoomList *
mesh_room_list_new (MeshClientRest    *rest,
                    MeshClientSession *session)
{
  g_return_val_if_fail (MESH_IS_CLIENT_REST (rest), NULL);
  g_return_val_if_fail (session == NULL || MESH_IS_CLIENT_SESSION (session), NULL);

  return g_object_new (MESH_TYPE_ROOM_LIST, "rest", rest, "session", session, NULL);
}

MeshRoom *
mesh_room_list_find (MeshRoomList *self,
                     const char   *room_id,
                     guint        *position)
{
  gint index;

  g_return_val_if_fail (MESH_IS_ROOM_LIST (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);

  index = find_index (self->rooms, room_id, 0);
  if (index < 0)
    return NULL;
  if (position != NULL)
    *position = (guint) index;
  return self->rooms->pdata[index];
}

static void
list_rooms_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) fresh = NULL;
  MeshRoomList *self = g_task_get_source_object (task);
  const char *room_id = g_task_get_task_data (task);

  fresh = mesh_client_rest_list_rooms_finish (MESH_CLIENT_REST (source), result, &error);
  if (fresh == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  merge (self, fresh);

  /* After a create or an accept: the room the caller asked for. */
  if (room_id != NULL) {
    MeshRoom *room = mesh_room_list_find (self, room_id, NULL);

    if (room == NULL)
      g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND,
                               "room '%s' is not in the list of your rooms", room_id);
    else
      g_task_return_pointer (task, g_object_ref (room), g_object_unref);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

void
mesh_room_list_refresh_async (MeshRoomList        *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (MESH_IS_ROOM_LIST (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_room_list_refresh_async);
  mesh_client_rest_list_rooms_async (self->rest, cancellable, list_rooms_cb, task);
}

gboolean
mesh_room_list_refresh_finish (MeshRoomList  *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Create and accept both give a room_id, then refresh to get its item. */
static void
got_room_id_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  MeshClientRest *rest = MESH_CLIENT_REST (source);
  GCancellable *cancellable;
  char *room_id;

  if (g_task_get_source_tag (task) == mesh_room_list_create_room_async)
    room_id = mesh_client_rest_create_room_finish (rest, result, &error);
  else
    room_id = mesh_client_rest_accept_invite_finish (rest, result, &error);
  if (room_id == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_set_task_data (task, room_id, g_free);
  cancellable = g_task_get_cancellable (task);
  mesh_client_rest_list_rooms_async (rest, cancellable, list_rooms_cb, g_steal_pointer (&task));
}

void
mesh_room_list_create_room_async (MeshRoomList        *self,
                                  const char          *name,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (MESH_IS_ROOM_LIST (self));
  g_return_if_fail (name != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_room_list_create_room_async);
  mesh_client_rest_create_room_async (self->rest, name, cancellable, got_room_id_cb, task);
}

MeshRoom *
mesh_room_list_create_room_finish (MeshRoomList  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
mesh_room_list_accept_invite_async (MeshRoomList        *self,
                                    const char          *code,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (MESH_IS_ROOM_LIST (self));
  g_return_if_fail (code != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_room_list_accept_invite_async);
  mesh_client_rest_accept_invite_async (self->rest, code, cancellable, got_room_id_cb, task);
}

MeshRoom *
mesh_room_list_accept_invite_finish (MeshRoomList  *self,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
changed_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  MeshRoomList *self = g_task_get_source_object (task);
  const char *room_id = g_task_get_task_data (task);

  if (!mesh_client_rest_change_room_finish (MESH_CLIENT_REST (source), result, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (g_task_get_source_tag (task) == mesh_room_list_rename_room_async) {
    GCancellable *cancellable = g_task_get_cancellable (task);

    /* The new name comes with the refresh. */
    mesh_client_rest_list_rooms_async (self->rest, cancellable, list_rooms_cb,
                                       g_steal_pointer (&task));
    return;
  }
  /* Gone from this client at once, without waiting for the event. */
  remove_room (self, room_id,
               g_task_get_source_tag (task) == mesh_room_list_delete_room_async ? "deleted"
                                                                                 : "left",
               mesh_client_rest_get_user_id (self->rest));
  g_task_return_boolean (task, TRUE);
}

static void
change_room (MeshRoomList        *self,
             gpointer             tag,
             const char          *room_id,
             const char          *name,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tag);
  g_task_set_task_data (task, g_strdup (room_id), g_free);
  if (tag == mesh_room_list_rename_room_async)
    mesh_client_rest_rename_room_async (self->rest, room_id, name, cancellable, changed_cb, task);
  else if (tag == mesh_room_list_delete_room_async)
    mesh_client_rest_delete_room_async (self->rest, room_id, cancellable, changed_cb, task);
  else
    mesh_client_rest_leave_room_async (self->rest, room_id, cancellable, changed_cb, task);
}

void
mesh_room_list_rename_room_async (MeshRoomList        *self,
                                  const char          *room_id,
                                  const char          *name,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_return_if_fail (MESH_IS_ROOM_LIST (self));
  g_return_if_fail (room_id != NULL && name != NULL);

  change_room (self, mesh_room_list_rename_room_async, room_id, name, cancellable, callback,
               user_data);
}

void
mesh_room_list_delete_room_async (MeshRoomList        *self,
                                  const char          *room_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_return_if_fail (MESH_IS_ROOM_LIST (self));
  g_return_if_fail (room_id != NULL);

  change_room (self, mesh_room_list_delete_room_async, room_id, NULL, cancellable, callback,
               user_data);
}

void
mesh_room_list_leave_room_async (MeshRoomList        *self,
                                 const char          *room_id,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (MESH_IS_ROOM_LIST (self));
  g_return_if_fail (room_id != NULL);

  change_room (self, mesh_room_list_leave_room_async, room_id, NULL, cancellable, callback,
               user_data);
}

gboolean
mesh_room_list_change_room_finish (MeshRoomList  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  GTask *task = G_TASK (result);

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  /* A rename ends like a refresh: the room or an error. */
  if (g_task_get_source_tag (task) == mesh_room_list_rename_room_async) {
    g_autoptr(MeshRoom) room = g_task_propagate_pointer (task, error);

    return room != NULL;
  }
  return g_task_propagate_boolean (task, error);
}
