/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-chat-message.h"
#include "mesh-client-session.h"

G_BEGIN_DECLS

#define MESH_CHAT_MODEL_PAGE_SIZE 50

#define MESH_TYPE_CHAT_MODEL (mesh_chat_model_get_type ())

G_DECLARE_FINAL_TYPE (MeshChatModel, mesh_chat_model, MESH, CHAT_MODEL, GObject)

/* The chat of one room (a GListModel of MeshChatMessage, oldest first):
 * history paged in from REST, live messages appended, own messages shown
 * pending at once and confirmed (or failed) in place.  A message appears
 * once, whether it comes live, in a page or both (by message_id and
 * client_msg_id).  Properties: "has-more" (older history may exist),
 * "loading". */
MeshChatModel *mesh_chat_model_new              (MeshClientSession   *session,
                                                 const char          *room_id);
const char    *mesh_chat_model_get_room_id      (MeshChatModel       *self);
gboolean       mesh_chat_model_get_has_more     (MeshChatModel       *self);
gboolean       mesh_chat_model_get_loading      (MeshChatModel       *self);
/* Loads the page of MESH_CHAT_MODEL_PAGE_SIZE messages before the oldest
 * one shown (the newest page at first) and inserts it at the top;
 * @n_added (optional) tells how many were new.  One load at a time: a
 * second one fails with G_IO_ERROR_PENDING. */
void           mesh_chat_model_load_older_async (MeshChatModel       *self,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
gboolean       mesh_chat_model_load_older_finish (MeshChatModel      *self,
                                                  GAsyncResult       *result,
                                                  guint              *n_added,
                                                  GError            **error);
/* Sends through the session (see mesh_client_session_send_chat). */
char          *mesh_chat_model_send             (MeshChatModel       *self,
                                                 const char          *content,
                                                 GError             **error);
/* Adds @item (of this room, from mesh_chat_message_new_file()) at the end:
 * a local line, shown until the model goes away, never sent. */
void           mesh_chat_model_append_local     (MeshChatModel       *self,
                                                 MeshChatMessage     *item);

G_END_DECLS
