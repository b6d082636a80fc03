/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-store"

#include "config.h"

#include "mesh-store-private.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <sqlite3.h>
#include <string.h>

#define MAX_CONTENT_BYTES       16384
#define MAX_CLIENT_MSG_ID_BYTES 128

#define MESSAGE_SELECT \
  "SELECT m.message_id, m.room_id, m.user_id, u.username, m.sender_id, m.content," \
  "       m.client_msg_id, m.created_usec" \
  "  FROM messages m JOIN users u ON u.user_id = m.user_id "

/* Chat. */

static MeshStoreMessage *
message_from_row (sqlite3_stmt *stmt)
{
  MeshStoreMessage *message = g_new0 (MeshStoreMessage, 1);

  message->message_id = mesh_store_column_strdup (stmt, 0);
  message->room_id = mesh_store_column_strdup (stmt, 1);
  message->user_id = mesh_store_column_strdup (stmt, 2);
  message->username = mesh_store_column_strdup (stmt, 3);
  message->sender_id = mesh_store_column_strdup (stmt, 4);
  message->content = mesh_store_column_strdup (stmt, 5);
  message->client_msg_id = mesh_store_column_strdup (stmt, 6);
  message->created_usec = sqlite3_column_int64 (stmt, 7);
  return message;
}

static MeshStoreMessage *
get_message (MeshStore   *self,
             const char  *message_id,
             GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                      MESSAGE_SELECT "WHERE m.message_id = ?1",
                                                      "s", message_id);

  if (stmt == NULL || mesh_store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  return message_from_row (stmt);
}

static MeshStoreMessage *
find_client_message (MeshStore   *self,
                     const char  *user_id,
                     const char  *client_msg_id,
                     GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                      MESSAGE_SELECT
                                                      "WHERE m.user_id = ?1 AND m.client_msg_id = ?2",
                                                      "ss", user_id, client_msg_id);

  if (stmt == NULL || mesh_store_step (self, stmt, error) != SQLITE_ROW)
    return NULL;
  return message_from_row (stmt);
}

MeshStoreMessage *
mesh_store_add_message (MeshStore   *self,
                        const char  *room_id,
                        const char  *user_id,
                        const char  *sender_id,
                        const char  *content,
                        const char  *client_msg_id,
                        gboolean    *duplicate,
                        GError     **error)
{
  g_autofree char *role = NULL;
  g_autofree char *message_id = NULL;
  g_autoptr(MeshStoreStmt) stmt = NULL;
  gsize len;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (duplicate != NULL)
    *duplicate = FALSE;

  len = content ? strlen (content) : 0;
  if (len == 0 || !g_utf8_validate (content, len, NULL)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "content must be 1 to 16384 bytes of UTF-8");
    return NULL;
  }
  if (len > MAX_CONTENT_BYTES) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "content is %" G_GSIZE_FORMAT " bytes, more than %d", len, MAX_CONTENT_BYTES);
    return NULL;
  }
  if (client_msg_id != NULL &&
      (client_msg_id[0] == '\0' || strlen (client_msg_id) > MAX_CLIENT_MSG_ID_BYTES)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "client_msg_id must be 1 to %d bytes", MAX_CLIENT_MSG_ID_BYTES);
    return NULL;
  }
  if (sender_id == NULL || sender_id[0] == '\0') {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "missing sender");
    return NULL;
  }
  if (!mesh_store_check_room_exists (self, room_id, error))
    return NULL;
  role = mesh_store_get_member_role (self, room_id, user_id);
  if (role == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "not a member of the room");
    return NULL;
  }

  if (client_msg_id != NULL) {
    g_autoptr(GError) local_error = NULL;
    g_autoptr(MeshStoreMessage) previous = find_client_message (self, user_id, client_msg_id,
                                                                &local_error);

    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    if (previous != NULL) {
      /* The id names one message of this user: reusing it for another
       * room is a client bug, not a retry. */
      if (!g_str_equal (previous->room_id, room_id)) {
        g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CONFLICT,
                             "client_msg_id was already used in another room");
        return NULL;
      }
      if (duplicate != NULL)
        *duplicate = TRUE;
      return g_steal_pointer (&previous);
    }
  }

  message_id = mesh_id_new ();
  stmt = mesh_store_prepare (self, error,
                             "INSERT INTO messages (message_id, room_id, user_id, sender_id, content,"
                             " client_msg_id, created_usec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                             "ssssssi", message_id, room_id, user_id, sender_id, content,
                             client_msg_id, g_get_real_time ());
  if (stmt == NULL || !mesh_store_run (self, stmt, error))
    return NULL;
  return get_message (self, message_id, error);
}

/* The seq of @message_id in @room_id (NOT_FOUND when it is not there). */
static gboolean
message_seq (MeshStore   *self,
             const char  *room_id,
             const char  *message_id,
             gint64      *seq,
             GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                      "SELECT seq FROM messages"
                                                      " WHERE message_id = ?1 AND room_id = ?2",
                                                      "ss", message_id, room_id);
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = mesh_store_step (self, stmt, error);
  if (rc == SQLITE_DONE) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND,
                         "no such message in this room");
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return FALSE;
  *seq = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

static gboolean
check_list_args (MeshStore   *self,
                 const char  *room_id,
                 guint        limit,
                 GError     **error)
{
  if (limit < 1 || limit > 200) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "limit must be between 1 and 200");
    return FALSE;
  }
  return mesh_store_check_room_exists (self, room_id, error);
}

/* Every row @stmt yields, as MeshStoreMessages in row order. */
static GPtrArray *
read_messages (MeshStore      *self,
               MeshStoreStmt  *stmt,
               GError        **error)
{
  g_autoptr(GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_store_message_free);
  int rc;

  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (messages, message_from_row (stmt));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&messages);
}

GPtrArray *
mesh_store_list_messages (MeshStore   *self,
                          const char  *room_id,
                          const char  *before_message_id,
                          guint        limit,
                          GError     **error)
{
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(MeshStoreStmt) stmt = NULL;
  gint64 before_seq = G_MAXINT64;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!check_list_args (self, room_id, limit, error))
    return NULL;
  if (before_message_id != NULL &&
      !message_seq (self, room_id, before_message_id, &before_seq, error))
    return NULL;

  stmt = mesh_store_prepare (self, error,
                             MESSAGE_SELECT "WHERE m.room_id = ?1 AND m.seq < ?2"
                             " ORDER BY m.seq DESC LIMIT ?3",
                             "sii", room_id, before_seq, (gint64) limit);
  if (stmt == NULL || (messages = read_messages (self, stmt, error)) == NULL)
    return NULL;

  /* Fetched newest first for the LIMIT; handed out newest last. */
  for (guint i = 0, j = messages->len; i + 1 < j; i++, j--) {
    gpointer tmp = messages->pdata[i];

    messages->pdata[i] = messages->pdata[j - 1];
    messages->pdata[j - 1] = tmp;
  }
  return g_steal_pointer (&messages);
}

GPtrArray *
mesh_store_list_messages_after (MeshStore   *self,
                                const char  *room_id,
                                const char  *after_message_id,
                                guint        limit,
                                GError     **error)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;
  gint64 after_seq = 0;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);
  g_return_val_if_fail (after_message_id != NULL, NULL);

  if (!check_list_args (self, room_id, limit, error) ||
      !message_seq (self, room_id, after_message_id, &after_seq, error))
    return NULL;

  stmt = mesh_store_prepare (self, error,
                             MESSAGE_SELECT "WHERE m.room_id = ?1 AND m.seq > ?2"
                             " ORDER BY m.seq ASC LIMIT ?3",
                             "sii", room_id, after_seq, (gint64) limit);
  return stmt != NULL ? read_messages (self, stmt, error) : NULL;
}
