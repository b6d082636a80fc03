/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-store"

#include "config.h"

#include "mesh-store-private.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sqlite3.h>
#include <string.h>

#define INVITE_CODE_LEN         12
/* 32 symbols without 0/O and 1/I, so a code read aloud or copied by hand
 * survives; 12 of them are 60 random bits. */
#define INVITE_ALPHABET         "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

/* Rooms and members. */

static char *
create_room_locked (MeshStore   *self,
                    const char  *owner_user_id,
                    const char  *name,
                    GError     **error)
{
  g_autofree char *room_id = mesh_id_new ();
  gint64 now = g_get_real_time ();

  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "INSERT INTO rooms (room_id, name, created_by,"
                                                        " created_usec) VALUES (?1, ?2, ?3, ?4)",
                                                        "sssi", room_id, name, owner_user_id, now);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      return NULL;
  }
  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "INSERT INTO room_members (room_id, user_id,"
                                                        " role, joined_usec) VALUES (?1, ?2, ?3, ?4)",
                                                        "sssi", room_id, owner_user_id, "owner", now);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      return NULL;
  }
  return g_steal_pointer (&room_id);
}

char *
mesh_store_create_room (MeshStore   *self,
                        const char  *owner_user_id,
                        const char  *name,
                        GError     **error)
{
  char *room_id;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!mesh_store_check_display_text (name, "name", 100, error))
    return NULL;
  if (!mesh_store_user_exists (self, owner_user_id, error))
    return NULL;

  if (!mesh_store_begin (self, error))
    return NULL;
  room_id = create_room_locked (self, owner_user_id, name, error);
  if (room_id == NULL || !mesh_store_commit (self, error)) {
    mesh_store_rollback (self);
    g_clear_pointer (&room_id, g_free);
  }
  return room_id;
}

gboolean
mesh_store_room_exists (MeshStore  *self,
                        const char *room_id)
{
  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  return mesh_store_check_room_exists (self, room_id, NULL);
}

char *
mesh_store_get_room_name (MeshStore  *self,
                          const char *room_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  g_autofree char *name = NULL;

  stmt = mesh_store_prepare (self, NULL, "SELECT name FROM rooms WHERE room_id = ?1", "s", room_id);
  mesh_store_lookup_string (self, stmt, &name, NULL);
  return g_steal_pointer (&name);
}

char *
mesh_store_get_member_role (MeshStore  *self,
                            const char *room_id,
                            const char *user_id)
{
  g_autoptr(MeshStoreStmt) stmt = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  g_autofree char *role = NULL;

  stmt = mesh_store_prepare (self, NULL,
                             "SELECT role FROM room_members WHERE room_id = ?1 AND user_id = ?2",
                             "ss", room_id, user_id);
  mesh_store_lookup_string (self, stmt, &role, NULL);
  return g_steal_pointer (&role);
}

GPtrArray *
mesh_store_list_members (MeshStore   *self,
                         const char  *room_id,
                         GError     **error)
{
  g_autoptr(GPtrArray) members =
    g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_store_member_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!mesh_store_check_room_exists (self, room_id, error))
    return NULL;

  stmt = mesh_store_prepare (self, error,
                             "SELECT m.user_id, u.username, m.role FROM room_members m"
                             " JOIN users u ON u.user_id = m.user_id"
                             " WHERE m.room_id = ?1 ORDER BY m.rowid",
                             "s", room_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW) {
    MeshStoreMember *member = g_new0 (MeshStoreMember, 1);

    member->user_id = mesh_store_column_strdup (stmt, 0);
    member->username = mesh_store_column_strdup (stmt, 1);
    member->role = mesh_store_column_strdup (stmt, 2);
    g_ptr_array_add (members, member);
  }
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&members);
}

JsonArray *
mesh_store_list_rooms_json (MeshStore   *self,
                            const char  *user_id,
                            GError     **error)
{
  g_autoptr(JsonArray) rooms = json_array_new ();
  g_autoptr(MeshStoreStmt) stmt = NULL;
  JsonArray *members = NULL;
  const char *last_room = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  /* One row per (room of the caller, member of that room), grouped by room. */
  stmt = mesh_store_prepare (self, error,
                             "SELECT r.room_id, r.name, m.user_id, u.username, m.role"
                             "  FROM room_members me"
                             "  JOIN rooms r ON r.room_id = me.room_id"
                             "  JOIN room_members m ON m.room_id = r.room_id"
                             "  JOIN users u ON u.user_id = m.user_id"
                             " WHERE me.user_id = ?1"
                             " ORDER BY r.created_usec, r.rowid, m.rowid",
                             "s", user_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW) {
    const char *room_id = (const char *) sqlite3_column_text (stmt, 0);
    JsonObject *member;

    if (last_room == NULL || !g_str_equal (last_room, room_id)) {
      JsonObject *room = json_object_new ();

      json_object_set_string_member (room, "room_id", room_id);
      json_object_set_string_member (room, "name", (const char *) sqlite3_column_text (stmt, 1));
      members = json_array_new ();
      json_object_set_array_member (room, "members", members);
      json_array_add_object_element (rooms, room);
      last_room = json_object_get_string_member (room, "room_id");
    }
    member = json_object_new ();
    json_object_set_string_member (member, "user_id",
                                   (const char *) sqlite3_column_text (stmt, 2));
    json_object_set_string_member (member, "username",
                                   (const char *) sqlite3_column_text (stmt, 3));
    json_object_set_string_member (member, "role",
                                   (const char *) sqlite3_column_text (stmt, 4));
    json_array_add_object_element (members, member);
  }
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&rooms);
}

GPtrArray *
mesh_store_list_room_ids (MeshStore   *self,
                          const char  *user_id,
                          GError     **error)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(MeshStoreStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  stmt = mesh_store_prepare (self, error,
                             "SELECT room_id FROM room_members WHERE user_id = ?1 ORDER BY rowid",
                             "s", user_id);
  if (stmt == NULL)
    return NULL;
  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (ids, mesh_store_column_strdup (stmt, 0));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&ids);
}

static char *
lookup_username (MeshStore  *self,
                 const char *user_id)
{
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, NULL,
                                                      "SELECT username FROM users WHERE user_id = ?1",
                                                      "s", user_id);
  char *username = NULL;

  mesh_store_lookup_string (self, stmt, &username, NULL);
  return username;
}

/* The user_ids of a room's members, in joining order. */
static GStrv
member_ids_locked (MeshStore   *self,
                   const char  *room_id,
                   GError     **error)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                      "SELECT user_id FROM room_members"
                                                      " WHERE room_id = ?1 ORDER BY rowid",
                                                      "s", room_id);
  int rc;

  if (stmt == NULL)
    return NULL;
  while ((rc = mesh_store_step (self, stmt, error)) == SQLITE_ROW)
    g_strv_builder_add (builder, (const char *) sqlite3_column_text (stmt, 0));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_strv_builder_end (builder);
}

/* ROOM_NOT_FOUND for an unknown room, FORBIDDEN for a non-member, and for
 * a member who is not the owner when @need_owner. */
static gboolean
check_room_role (MeshStore   *self,
                 const char  *room_id,
                 const char  *user_id,
                 gboolean     need_owner,
                 GError     **error)
{
  g_autofree char *role = NULL;

  if (!mesh_store_check_room_exists (self, room_id, error))
    return FALSE;
  role = mesh_store_get_member_role (self, room_id, user_id);
  if (role == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "not a member of this room");
    return FALSE;
  }
  if (need_owner && !g_str_equal (role, "owner")) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "only the room's owner may do this");
    return FALSE;
  }
  return TRUE;
}

gboolean
mesh_store_rename_room (MeshStore   *self,
                        const char  *room_id,
                        const char  *user_id,
                        const char  *name,
                        GError     **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_auto(GStrv) members = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (!mesh_store_check_display_text (name, "name", 100, error))
    return FALSE;
  if (!check_room_role (self, room_id, user_id, TRUE, error))
    return FALSE;
  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "UPDATE rooms SET name = ?2 WHERE room_id = ?1",
                                                        "ss", room_id, name);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      return FALSE;
  }
  members = member_ids_locked (self, room_id, NULL);
  payload = json_object_new ();
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "name", name);
  json_object_set_string_member (payload, "user_id", user_id);
  if (members != NULL)
    mesh_store_emit_room_event (self, "room.updated", room_id, members, payload);
  return TRUE;
}

gboolean
mesh_store_delete_room (MeshStore   *self,
                        const char  *room_id,
                        const char  *user_id,
                        GError     **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_auto(GStrv) members = NULL;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (!check_room_role (self, room_id, user_id, TRUE, error))
    return FALSE;
  members = member_ids_locked (self, room_id, error);
  if (members == NULL)
    return FALSE;
  {
    /* Members, invites and messages go with it (ON DELETE CASCADE). */
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "DELETE FROM rooms WHERE room_id = ?1",
                                                        "s", room_id);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      return FALSE;
  }
  payload = json_object_new ();
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "user_id", user_id);
  mesh_store_emit_room_event (self, "room.deleted", room_id, members, payload);
  return TRUE;
}

gboolean
mesh_store_leave_room (MeshStore   *self,
                       const char  *room_id,
                       const char  *user_id,
                       GError     **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_auto(GStrv) members = NULL;
  g_autofree char *role = NULL;
  g_autofree char *username = NULL;
  g_autofree char *new_owner = NULL;
  gboolean emptied;

  g_return_val_if_fail (MESH_IS_STORE (self), FALSE);

  if (!check_room_role (self, room_id, user_id, FALSE, error))
    return FALSE;
  role = mesh_store_get_member_role (self, room_id, user_id);
  members = member_ids_locked (self, room_id, error);
  if (members == NULL)
    return FALSE;
  username = lookup_username (self, user_id);

  if (!mesh_store_begin (self, error))
    return FALSE;
  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "DELETE FROM room_members"
                                                        " WHERE room_id = ?1 AND user_id = ?2",
                                                        "ss", room_id, user_id);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      goto fail;
  }
  emptied = g_strv_length (members) <= 1;
  if (emptied) {
    /* Nobody is left to see it: the room goes. */
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "DELETE FROM rooms WHERE room_id = ?1",
                                                        "s", room_id);

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      goto fail;
  } else if (g_str_equal (role, "owner")) {
    /* A room always has an owner: the longest-standing member takes over. */
    g_autoptr(MeshStoreStmt) pick = mesh_store_prepare (self, error,
                                                        "SELECT user_id FROM room_members"
                                                        " WHERE room_id = ?1 ORDER BY rowid LIMIT 1",
                                                        "s", room_id);

    if (!mesh_store_lookup_string (self, pick, &new_owner, error) || new_owner == NULL)
      goto fail;
    {
      g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                          "UPDATE room_members SET role = 'owner'"
                                                          " WHERE room_id = ?1 AND user_id = ?2",
                                                          "ss", room_id, new_owner);

      if (stmt == NULL || !mesh_store_run (self, stmt, error))
        goto fail;
    }
  }
  if (!mesh_store_commit (self, error))
    goto fail;

  payload = json_object_new ();
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "user_id", user_id);
  json_object_set_string_member (payload, "username", username != NULL ? username : "");
  if (new_owner != NULL)
    json_object_set_string_member (payload, "new_owner", new_owner);
  mesh_store_emit_room_event (self, "room.member.left", room_id, members, payload);
  return TRUE;

fail:
  mesh_store_rollback (self);
  return FALSE;
}

/* Invites. */

static char *
new_invite_code (void)
{
  guint8 random[INVITE_CODE_LEN];
  char code[INVITE_CODE_LEN + 1];

  if (gnutls_rnd (GNUTLS_RND_NONCE, random, sizeof random) != 0)
    g_error ("The system's random source failed");
  /* 32 symbols: masking keeps the choice uniform. */
  for (guint i = 0; i < INVITE_CODE_LEN; i++)
    code[i] = INVITE_ALPHABET[random[i] & 31];
  code[INVITE_CODE_LEN] = '\0';
  return g_strdup (code);
}

char *
mesh_store_create_invite (MeshStore   *self,
                          const char  *room_id,
                          const char  *created_by,
                          gint64      *expires_in,
                          GError     **error)
{
  g_autofree char *role = NULL;
  gint64 now = g_get_real_time ();

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (!mesh_store_check_room_exists (self, room_id, error))
    return NULL;
  role = mesh_store_get_member_role (self, room_id, created_by);
  if (role == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "only members of the room can invite");
    return NULL;
  }

  {
    g_autoptr(MeshStoreStmt) purge = mesh_store_prepare (self, error,
                                                         "DELETE FROM invites WHERE expires_usec <= ?1",
                                                         "i", now);

    if (purge == NULL || !mesh_store_run (self, purge, error))
      return NULL;
  }

  /* 60 random bits: a collision is all but impossible, but cheap to retry. */
  for (guint attempt = 0; attempt < 3; attempt++) {
    g_autofree char *code = new_invite_code ();
    g_autoptr(GError) local_error = NULL;
    g_autoptr(MeshStoreStmt) stmt =
      mesh_store_prepare (self, error,
                          "INSERT INTO invites (code, room_id, created_by, created_usec, expires_usec)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)",
                          "sssii", code, room_id, created_by, now,
                          now + (gint64) MESH_STORE_INVITE_TTL * G_USEC_PER_SEC);
    int rc;

    if (stmt == NULL)
      return NULL;
    rc = mesh_store_step (self, stmt, &local_error);
    if (rc == SQLITE_DONE) {
      if (expires_in != NULL)
        *expires_in = MESH_STORE_INVITE_TTL;
      return g_steal_pointer (&code);
    }
    if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  }
  g_set_error_literal (error, MESH_ERROR, MESH_ERROR_INTERNAL, "could not pick an invite code");
  return NULL;
}

static char *
accept_invite_locked (MeshStore   *self,
                      const char  *code,
                      const char  *user_id,
                      gboolean    *added,
                      GError     **error)
{
  g_autofree char *room_id = NULL;
  g_autofree char *role = NULL;
  gint64 count;

  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "SELECT room_id FROM invites"
                                                        " WHERE code = ?1 AND expires_usec > ?2",
                                                        "si", code, g_get_real_time ());

    if (!mesh_store_lookup_string (self, stmt, &room_id, error))
      return NULL;
  }
  if (room_id == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND,
                         "unknown or expired invite code");
    return NULL;
  }

  role = mesh_store_get_member_role (self, room_id, user_id);
  if (role != NULL)
    return g_steal_pointer (&room_id);

  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "SELECT COUNT(*) FROM room_members"
                                                        " WHERE room_id = ?1",
                                                        "s", room_id);

    if (stmt == NULL || mesh_store_step (self, stmt, error) != SQLITE_ROW)
      return NULL;
    count = sqlite3_column_int64 (stmt, 0);
  }
  if (count >= MESH_STORE_ROOM_MAX_USERS) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_FULL, "the room already has %d users",
                 MESH_STORE_ROOM_MAX_USERS);
    return NULL;
  }

  {
    g_autoptr(MeshStoreStmt) stmt = mesh_store_prepare (self, error,
                                                        "INSERT INTO room_members (room_id, user_id,"
                                                        " role, joined_usec) VALUES (?1, ?2, ?3, ?4)",
                                                        "sssi", room_id, user_id, "member",
                                                        g_get_real_time ());

    if (stmt == NULL || !mesh_store_run (self, stmt, error))
      return NULL;
  }
  *added = TRUE;
  return g_steal_pointer (&room_id);
}

char *
mesh_store_accept_invite (MeshStore   *self,
                          const char  *code,
                          const char  *user_id,
                          GError     **error)
{
  g_autofree char *normalized = NULL;
  gboolean added = FALSE;
  char *room_id;

  g_return_val_if_fail (MESH_IS_STORE (self), NULL);

  if (code == NULL || strlen (code) != INVITE_CODE_LEN) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_NOT_FOUND,
                         "unknown or expired invite code");
    return NULL;
  }
  if (!mesh_store_user_exists (self, user_id, error))
    return NULL;

  /* Codes are shown in upper case; people type them in any case. */
  normalized = g_ascii_strup (code, -1);

  /* One transaction: two people accepting at once cannot make five. */
  if (!mesh_store_begin (self, error))
    return NULL;
  room_id = accept_invite_locked (self, normalized, user_id, &added, error);
  if (room_id == NULL || !mesh_store_commit (self, error)) {
    mesh_store_rollback (self);
    g_clear_pointer (&room_id, g_free);
    return NULL;
  }
  /* A new member (not a second accept): the others' chats say so. */
  if (added) {
    g_auto(GStrv) members = member_ids_locked (self, room_id, NULL);
    g_autoptr(JsonObject) payload = json_object_new ();
    g_autofree char *username = lookup_username (self, user_id);

    json_object_set_string_member (payload, "room_id", room_id);
    json_object_set_string_member (payload, "user_id", user_id);
    json_object_set_string_member (payload, "username", username != NULL ? username : "");
    if (members != NULL)
      mesh_store_emit_room_event (self, "room.member.joined", room_id, members, payload);
  }
  return room_id;
}
