/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-chat-model.h"
#include "mesh-client-private.h"

enum {
  PROP_0,
  PROP_SESSION,
  PROP_ROOM_ID,
  PROP_HAS_MORE,
  PROP_LOADING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshChatModel {
  GObject            parent_instance;

  MeshClientSession *session;
  char              *room_id;
  GPtrArray         *messages;        /* MeshChatMessage, oldest first */
  GHashTable        *by_message_id;   /* message_id → MeshChatMessage (borrowed) */
  GHashTable        *by_client_id;    /* client_msg_id → MeshChatMessage (borrowed) */
  gboolean           has_more;
  gboolean           loading;
};

static void mesh_chat_model_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MeshChatModel, mesh_chat_model, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, mesh_chat_model_model_init))

static GType
mesh_chat_model_get_item_type (GListModel *model)
{
  return MESH_TYPE_CHAT_MESSAGE;
}

static guint
mesh_chat_model_get_n_items (GListModel *model)
{
  return MESH_CHAT_MODEL (model)->messages->len;
}

static gpointer
mesh_chat_model_get_item (GListModel *model,
                          guint       position)
{
  MeshChatModel *self = MESH_CHAT_MODEL (model);

  if (position >= self->messages->len)
    return NULL;
  return g_object_ref (self->messages->pdata[position]);
}

static void
mesh_chat_model_model_init (GListModelInterface *iface)
{
  iface->get_item_type = mesh_chat_model_get_item_type;
  iface->get_n_items = mesh_chat_model_get_n_items;
  iface->get_item = mesh_chat_model_get_item;
}

static void
index_message (MeshChatModel   *self,
               MeshChatMessage *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);
  const char *client_msg_id = mesh_chat_message_get_client_msg_id (message);

  /* Keys are the message's own strings: it outlives its entries. */
  if (message_id != NULL)
    g_hash_table_replace (self->by_message_id, (gpointer) message_id, message);
  if (client_msg_id != NULL)
    g_hash_table_replace (self->by_client_id, (gpointer) client_msg_id, message);
}

/* Whether the model shows @message already (the same object, the same
 * message_id, or an own pending copy with its client_msg_id). */
static gboolean
is_known (MeshChatModel   *self,
          MeshChatMessage *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);
  const char *client_msg_id = mesh_chat_message_get_client_msg_id (message);

  return (message_id != NULL && g_hash_table_contains (self->by_message_id, message_id)) ||
         (client_msg_id != NULL && mesh_chat_message_get_is_own (message) &&
          g_hash_table_contains (self->by_client_id, client_msg_id));
}

static void
append (MeshChatModel   *self,
        MeshChatMessage *message)
{
  g_ptr_array_add (self->messages, g_object_ref (message));
  index_message (self, message);
  g_list_model_items_changed (G_LIST_MODEL (self), self->messages->len - 1, 0, 1);
}

static void
chat_queued_cb (MeshChatModel   *self,
                MeshChatMessage *message)
{
  if (g_str_equal (mesh_chat_message_get_room_id (message), self->room_id) &&
      !is_known (self, message))
    append (self, message);
}

static void
chat_message_cb (MeshChatModel   *self,
                 MeshChatMessage *message)
{
  const char *client_msg_id = mesh_chat_message_get_client_msg_id (message);
  MeshChatMessage *shown;

  if (!g_str_equal (mesh_chat_message_get_room_id (message), self->room_id))
    return;

  /* Our own pending message, now confirmed: the session updated the very
   * object we show; it only needs its message_id indexed. */
  shown = client_msg_id ? g_hash_table_lookup (self->by_client_id, client_msg_id) : NULL;
  if (shown == message) {
    index_message (self, message);
    return;
  }
  if (is_known (self, message))
    return;
  append (self, message);
}

/* room.member.joined / room.member.left: a line in the conversation, live
 * only (not kept in the history). */
static void
member_event_cb (MeshChatModel *self,
                 const char    *type,
                 const char    *from,
                 JsonObject    *payload)
{
  g_autoptr(MeshChatMessage) line = NULL;
  const char *room_id = json_object_get_string_member_with_default (payload, "room_id", NULL);
  const char *user_id = json_object_get_string_member_with_default (payload, "user_id", NULL);
  const char *username = json_object_get_string_member_with_default (payload, "username", NULL);

  if (g_strcmp0 (room_id, self->room_id) != 0 || user_id == NULL || username == NULL ||
      username[0] == '\0')
    return;
  line = mesh_chat_message_new_event (room_id,
                                      g_str_equal (type, "room.member.joined") ? "joined" : "left",
                                      user_id, username,
                                      mesh_client_session_get_user_id (self->session));
  append (self, line);
}

static void
mesh_chat_model_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MeshChatModel *self = MESH_CHAT_MODEL (object);

  switch (prop_id) {
  case PROP_SESSION:
    g_value_set_object (value, self->session);
    break;
  case PROP_ROOM_ID:
    g_value_set_string (value, self->room_id);
    break;
  case PROP_HAS_MORE:
    g_value_set_boolean (value, self->has_more);
    break;
  case PROP_LOADING:
    g_value_set_boolean (value, self->loading);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_chat_model_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  MeshChatModel *self = MESH_CHAT_MODEL (object);

  switch (prop_id) {
  case PROP_SESSION:
    self->session = g_value_dup_object (value);
    break;
  case PROP_ROOM_ID:
    self->room_id = g_value_dup_string (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_chat_model_constructed (GObject *object)
{
  MeshChatModel *self = MESH_CHAT_MODEL (object);
  g_autoptr(GPtrArray) pending = NULL;

  G_OBJECT_CLASS (mesh_chat_model_parent_class)->constructed (object);

  g_signal_connect_object (self->session, "chat-queued", G_CALLBACK (chat_queued_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->session, "chat-message", G_CALLBACK (chat_message_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->session, "event::room.member.joined",
                           G_CALLBACK (member_event_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->session, "event::room.member.left",
                           G_CALLBACK (member_event_cb), self, G_CONNECT_SWAPPED);

  /* Messages queued before the model existed are shown too. */
  pending = mesh_client_session_dup_outbox (self->session, self->room_id);
  for (guint i = 0; i < pending->len; i++)
    append (self, pending->pdata[i]);
}

static void
mesh_chat_model_dispose (GObject *object)
{
  MeshChatModel *self = MESH_CHAT_MODEL (object);

  g_clear_object (&self->session);
  G_OBJECT_CLASS (mesh_chat_model_parent_class)->dispose (object);
}

static void
mesh_chat_model_finalize (GObject *object)
{
  MeshChatModel *self = MESH_CHAT_MODEL (object);

  g_hash_table_unref (self->by_message_id);
  g_hash_table_unref (self->by_client_id);
  g_ptr_array_unref (self->messages);
  g_free (self->room_id);
  G_OBJECT_CLASS (mesh_chat_model_parent_class)->finalize (object);
}

static void
mesh_chat_model_class_init (MeshChatModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags construct = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mesh_chat_model_get_property;
  object_class->set_property = mesh_chat_model_set_property;
  object_class->constructed = mesh_chat_model_constructed;
  object_class->dispose = mesh_chat_model_dispose;
  object_class->finalize = mesh_chat_model_finalize;

  properties[PROP_SESSION] = g_param_spec_object ("session", NULL, NULL,
                                                  MESH_TYPE_CLIENT_SESSION, construct);
  properties[PROP_ROOM_ID] = g_param_spec_string ("room-id", NULL, NULL, NULL, construct);
  properties[PROP_HAS_MORE] = g_param_spec_boolean ("has-more", NULL, NULL, TRUE, ro);
  properties[PROP_LOADING] = g_param_spec_boolean ("loading", NULL, NULL, FALSE, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_chat_model_init (MeshChatModel *self)
{
  self->messages = g_ptr_array_new_with_free_func (g_object_unref);
  self->by_message_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->by_client_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->has_more = TRUE;
}

MeshChatModel *
mesh_chat_model_new (MeshClientSession *session,
                     const char        *room_id)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (session), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);

  return g_object_new (MESH_TYPE_CHAT_MODEL, "session", session, "room-id", room_id, NULL);
}

const char *
mesh_chat_model_get_room_id (MeshChatModel *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MODEL (self), NULL);
  return self->room_id;
}

gboolean
mesh_chat_model_get_has_more (MeshChatModel *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MODEL (self), FALSE);
  return self->has_more;
}

gboolean
mesh_chat_model_get_loading (MeshChatModel *self)
{
  g_return_val_if_fail (MESH_IS_CHAT_MODEL (self), FALSE);
  return self->loading;
}

static void
set_loading (MeshChatModel *self,
             gboolean       loading)
{
  self->loading = loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static void
page_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GPtrArray) added = NULL;
  MeshChatModel *self = g_task_get_source_object (task);

  set_loading (self, FALSE);
  page = mesh_client_rest_list_messages_finish (MESH_CLIENT_REST (source), result, &error);
  if (page == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  /* A short page is the start of the room. */
  if (page->len < MESH_CHAT_MODEL_PAGE_SIZE && self->has_more) {
    self->has_more = FALSE;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_MORE]);
  }

  /* Older than everything shown: inserted at the top in one change. */
  added = g_ptr_array_new ();
  for (guint i = 0; i < page->len; i++) {
    MeshChatMessage *message = page->pdata[i];

    if (!is_known (self, message))
      g_ptr_array_add (added, message);
  }
  for (guint i = 0; i < added->len; i++) {
    g_ptr_array_insert (self->messages, (gint) i, g_object_ref (added->pdata[i]));
    index_message (self, added->pdata[i]);
  }
  if (added->len > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, added->len);
  g_task_return_int (task, added->len);
}

void
mesh_chat_model_load_older_async (MeshChatModel       *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  const char *before = NULL;

  g_return_if_fail (MESH_IS_CHAT_MODEL (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_chat_model_load_older_async);
  if (self->loading) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                             "older messages are being loaded already");
    return;
  }

  /* The oldest message the server knows; own pending ones have no id. */
  for (guint i = 0; i < self->messages->len && before == NULL; i++)
    before = mesh_chat_message_get_message_id (self->messages->pdata[i]);

  set_loading (self, TRUE);
  mesh_client_rest_list_messages_async (mesh_client_session_get_rest (self->session),
                                        self->room_id, before, MESH_CHAT_MODEL_PAGE_SIZE,
                                        cancellable, page_cb, g_steal_pointer (&task));
}

gboolean
mesh_chat_model_load_older_finish (MeshChatModel  *self,
                                   GAsyncResult   *result,
                                   guint          *n_added,
                                   GError        **error)
{
  g_autoptr(GError) local_error = NULL;
  gssize n;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  n = g_task_propagate_int (G_TASK (result), &local_error);
  if (local_error != NULL) {
    g_propagate_error (error, g_steal_pointer (&local_error));
    return FALSE;
  }
  if (n_added != NULL)
    *n_added = (guint) n;
  return TRUE;
}

char *
mesh_chat_model_send (MeshChatModel  *self,
                      const char     *content,
                      GError        **error)
{
  g_return_val_if_fail (MESH_IS_CHAT_MODEL (self), NULL);
  g_return_val_if_fail (content != NULL, NULL);

  return mesh_client_session_send_chat (self->session, self->room_id, content, error);
}

void
mesh_chat_model_append_local (MeshChatModel   *self,
                              MeshChatMessage *item)
{
  g_return_if_fail (MESH_IS_CHAT_MODEL (self));
  g_return_if_fail (MESH_IS_CHAT_MESSAGE (item));
  g_return_if_fail (g_strcmp0 (mesh_chat_message_get_room_id (item), self->room_id) == 0);

  append (self, item);
}
