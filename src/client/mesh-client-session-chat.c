/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-session-private.h"

#include <string.h>

#define CHAT_MAX_BYTES       16384
#define CATCH_UP_PAGE        200   /* the server's largest page */

/* History: what was said while the socket was down.
 *
 * Each room remembers the newest message it delivered.  After every
 * room.joined of ours but the first, the messages after it are fetched
 * (GET …/messages?after=, pages of 200, oldest first) and delivered through
 * "chat-message" as if they had come live, so the chat, the unread counts
 * and the notifications all see them.  Live messages that come meanwhile
 * wait until the catch-up is over, so the order holds; a message that
 * comes both ways is delivered once. */

typedef struct {
  MeshClientSession *self;
  char              *room_id;
  GPtrArray         *pages;     /* backward mode: MeshChatMessage, newest first */
} HistoryCall;

static void
history_call_free (HistoryCall *call)
{
  g_object_unref (call->self);
  g_free (call->room_id);
  g_clear_pointer (&call->pages, g_ptr_array_unref);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HistoryCall, history_call_free)

static HistoryCall *
history_call_new (MeshClientSession *self,
                  SessionRoom       *room)
{
  HistoryCall *call = g_new0 (HistoryCall, 1);

  call->self = g_object_ref (self);
  call->room_id = g_strdup (room->room_id);
  return call;
}

static void
deliver (MeshClientSession *self,
         SessionRoom       *room,
         MeshChatMessage   *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);

  if (room != NULL && message_id != NULL) {
    g_free (room->last_message_id);
    room->last_message_id = g_strdup (message_id);
    room->baselined = TRUE;
  }
  g_signal_emit (self, client_session_signals[CHAT_MESSAGE], 0, message);
}

/* Whether a message from the last catch-up comes again: our own messages
 * still go through (the chat matches a confirmation to its pending copy). */
static gboolean
already_caught (SessionRoom     *room,
                MeshChatMessage *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);

  return room->caught != NULL && message_id != NULL &&
         !mesh_chat_message_get_is_own (message) &&
         g_hash_table_contains (room->caught, message_id);
}

static void
deliver_live (MeshClientSession *self,
              MeshChatMessage   *message)
{
  SessionRoom *room = g_hash_table_lookup (self->rooms, mesh_chat_message_get_room_id (message));

  if (room != NULL && room->catching_up) {
    g_ptr_array_add (room->held, g_object_ref (message));
    return;
  }
  if (room != NULL && already_caught (room, message))
    return;
  deliver (self, room, message);
}

static void
deliver_caught (MeshClientSession *self,
                SessionRoom       *room,
                MeshChatMessage   *message)
{
  const char *message_id = mesh_chat_message_get_message_id (message);

  if (message_id == NULL || g_hash_table_contains (room->caught, message_id))
    return;
  g_hash_table_add (room->caught, g_strdup (message_id));
  deliver (self, room, message);
}

static void start_baseline (MeshClientSession *self,
                            SessionRoom       *room);

static void
finish_catch_up (MeshClientSession *self,
                 SessionRoom       *room,
                 const GError      *error)
{
  g_autoptr(GPtrArray) held = g_steal_pointer (&room->held);
  g_autofree char *room_id = g_strdup (room->room_id);

  room->catching_up = FALSE;
  if (error != NULL) {
    g_debug ("cannot catch up with room %s: %s", room->room_id, error->message);
    /* Our newest message is gone from the server (or never was there):
     * start again from what it has now. */
    if (g_error_matches (error, MESH_ERROR, MESH_ERROR_NOT_FOUND) && held->len == 0) {
      g_clear_pointer (&room->last_message_id, g_free);
      room->baselined = FALSE;
    }
  }
  for (guint i = 0; i < held->len; i++) {
    /* A handler may leave the room. */
    room = g_hash_table_lookup (self->rooms, room_id);
    if (room == NULL || !already_caught (room, held->pdata[i]))
      deliver (self, room, held->pdata[i]);
  }
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL && room->joined && room->catch_up_again)
    client_session_catch_up (self, room);
  else if (room != NULL && room->joined && !room->baselined)
    start_baseline (self, room);
}

static void catch_up_page (MeshClientSession *self,
                           SessionRoom       *room,
                           HistoryCall       *call,
                           const char        *cursor);

static void
catch_up_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(HistoryCall) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autofree char *room_id = g_strdup (call->room_id);
  MeshClientSession *self = call->self;
  SessionRoom *room;

  page = mesh_client_rest_list_messages_finish (MESH_CLIENT_REST (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL || !room->catching_up)
    return;
  if (page == NULL) {
    finish_catch_up (self, room, error);
    return;
  }

  if (call->pages != NULL) {
    /* Backward (the room was empty when we came): gather to the start. */
    for (guint i = page->len; i-- > 0;)
      g_ptr_array_add (call->pages, g_object_ref (page->pdata[i]));
    if (page->len == CATCH_UP_PAGE) {
      catch_up_page (self, room, g_steal_pointer (&call),
                     mesh_chat_message_get_message_id (page->pdata[0]));
      return;
    }
    for (guint i = call->pages->len; i-- > 0;) {
      deliver_caught (self, room, call->pages->pdata[i]);
      if ((room = g_hash_table_lookup (self->rooms, room_id)) == NULL)
        return;
    }
  } else {
    for (guint i = 0; i < page->len; i++) {
      deliver_caught (self, room, page->pdata[i]);
      if ((room = g_hash_table_lookup (self->rooms, room_id)) == NULL)
        return;
    }
    if (page->len == CATCH_UP_PAGE) {
      catch_up_page (self, room, g_steal_pointer (&call),
                     mesh_chat_message_get_message_id (page->pdata[page->len - 1]));
      return;
    }
  }
  finish_catch_up (self, room, NULL);
}

static void
catch_up_page (MeshClientSession *self,
               SessionRoom       *room,
               HistoryCall       *call,
               const char        *cursor)
{
  if (call->pages != NULL)
    mesh_client_rest_list_messages_async (self->rest, room->room_id, cursor, CATCH_UP_PAGE,
                                          self->history_cancellable, catch_up_cb, call);
  else
    mesh_client_rest_list_messages_after_async (self->rest, room->room_id, cursor,
                                                CATCH_UP_PAGE, self->history_cancellable,
                                                catch_up_cb, call);
}

/* The newest message when we first join: where a later catch-up starts. */
static void
baseline_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(HistoryCall) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = NULL;
  SessionRoom *room;

  page = mesh_client_rest_list_messages_finish (MESH_CLIENT_REST (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  room = g_hash_table_lookup (call->self->rooms, call->room_id);
  if (room == NULL)
    return;
  room->baselining = FALSE;
  if (page == NULL) {
    g_debug ("cannot read the newest message of room %s: %s", call->room_id, error->message);
    return;
  }
  /* A live message may have come first: it is newer. */
  if (!room->baselined) {
    room->baselined = TRUE;
    if (page->len > 0)
      room->last_message_id = g_strdup (mesh_chat_message_get_message_id (page->pdata[0]));
  }
}

static void
start_baseline (MeshClientSession *self,
                SessionRoom       *room)
{
  if (room->baselining)
    return;
  room->baselining = TRUE;
  mesh_client_rest_list_messages_async (self->rest, room->room_id, NULL, 1,
                                        self->history_cancellable, baseline_cb,
                                        history_call_new (self, room));
}

void
client_session_catch_up (MeshClientSession *self,
                         SessionRoom       *room)
{
  HistoryCall *call;

  /* A page in flight may have been asked before this socket's join. */
  if (room->catching_up) {
    room->catch_up_again = TRUE;
    return;
  }
  if (!room->baselined) {
    start_baseline (self, room);
    return;
  }
  room->catching_up = TRUE;
  room->catch_up_again = FALSE;
  room->held = g_ptr_array_new_with_free_func (g_object_unref);
  g_clear_pointer (&room->caught, g_hash_table_unref);
  room->caught = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  call = history_call_new (self, room);
  if (room->last_message_id == NULL)
    call->pages = g_ptr_array_new_with_free_func (g_object_unref);
  catch_up_page (self, room, call, room->last_message_id);
}

MeshChatMessage *
client_session_outbox_take (MeshClientSession *self,
                            const char        *client_msg_id)
{
  for (guint i = 0; client_msg_id != NULL && i < self->outbox->len; i++) {
    MeshChatMessage *message = self->outbox->pdata[i];

    if (g_str_equal (mesh_chat_message_get_client_msg_id (message), client_msg_id))
      return g_ptr_array_steal_index (self->outbox, i);
  }
  return NULL;
}

void
client_session_handle_chat_created (MeshClientSession *self,
                                    MeshEnvelope      *env)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshChatMessage) created = NULL;
  g_autoptr(MeshChatMessage) pending = NULL;

  created = mesh_chat_message_new_from_json (env->payload, self->user_id, &error);
  if (created == NULL) {
    g_debug ("ignoring chat.message.created: %s", error->message);
    return;
  }
  if (mesh_chat_message_get_is_own (created))
    pending = client_session_outbox_take (self, mesh_chat_message_get_client_msg_id (created));
  if (pending != NULL)
    mesh_chat_message_confirm (pending, created);
  deliver_live (self, pending != NULL ? pending : created);
}

char *
mesh_client_session_send_chat (MeshClientSession  *self,
                               const char         *room_id,
                               const char         *content,
                               GError            **error)
{
  g_autoptr(MeshChatMessage) message = NULL;
  g_autofree char *client_msg_id = NULL;
  const char *user_id;
  gsize len;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (content != NULL, NULL);

  /* The server's rules (§3.3), checked here so that the user learns at
   * once rather than after a round trip. */
  len = strlen (content);
  if (len == 0 || !g_utf8_validate (content, (gssize) len, NULL)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         len == 0 ? "the message is empty" : "the message is not valid UTF-8");
    return NULL;
  }
  if (len > CHAT_MAX_BYTES) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "the message is %" G_GSIZE_FORMAT " bytes; at most %d", len, CHAT_MAX_BYTES);
    return NULL;
  }

  client_msg_id = mesh_id_new ();
  user_id = self->user_id ? self->user_id : mesh_client_rest_get_user_id (self->rest);
  message = mesh_chat_message_new_pending (room_id, client_msg_id, content, user_id);
  g_ptr_array_add (self->outbox, g_object_ref (message));
  if (self->welcomed)
    client_session_send_chat_frame (self, message);
  g_signal_emit (self, client_session_signals[CHAT_QUEUED], 0, message);
  return g_steal_pointer (&client_msg_id);
}

GPtrArray *
mesh_client_session_dup_outbox (MeshClientSession *self,
                                const char        *room_id)
{
  GPtrArray *messages;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);

  messages = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->outbox->len; i++) {
    MeshChatMessage *message = self->outbox->pdata[i];

    if (room_id == NULL || g_str_equal (mesh_chat_message_get_room_id (message), room_id))
      g_ptr_array_add (messages, g_object_ref (message));
  }
  return messages;
}
