/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "mesh-store.h"

#include <sqlite3.h>

G_BEGIN_DECLS

/* Shared by the store's modules: mesh-store.c (the connection, statement
 * cache and schema migrations), mesh-store-users.c (users, tokens, devices),
 * mesh-store-rooms.c (rooms, members, invites), mesh-store-messages.c (chat)
 * and mesh-store-gotify.c (Gotify targets and the outbox). */

struct _MeshStore {
  GObject     parent_instance;

  sqlite3    *db;
  /* SQL text → sqlite3_stmt*: each query is compiled once. */
  GHashTable *statements;
  int         schema_version;
  gint64      device_idle_usec;
};

/* A cached statement borrowed for one use: releasing it resets it for the
 * next caller instead of finalizing it. */
typedef sqlite3_stmt MeshStoreStmt;

void           mesh_store_stmt_release       (MeshStoreStmt  *stmt);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshStoreStmt, mesh_store_stmt_release)

MeshStoreStmt *mesh_store_prepare            (MeshStore      *self,
                                              GError        **error,
                                              const char     *sql,
                                              const char     *types,
                                              ...);
int            mesh_store_step               (MeshStore      *self,
                                              MeshStoreStmt  *stmt,
                                              GError        **error);
gboolean       mesh_store_run                (MeshStore      *self,
                                              MeshStoreStmt  *stmt,
                                              GError        **error);
gboolean       mesh_store_begin              (MeshStore      *self,
                                              GError        **error);
gboolean       mesh_store_commit             (MeshStore      *self,
                                              GError        **error);
void           mesh_store_rollback           (MeshStore      *self);
char          *mesh_store_column_strdup      (sqlite3_stmt   *stmt,
                                              int             column);
gboolean       mesh_store_lookup_string      (MeshStore      *self,
                                              MeshStoreStmt  *stmt,
                                              char          **value,
                                              GError        **error);
gboolean       mesh_store_user_exists        (MeshStore      *self,
                                              const char     *user_id,
                                              GError        **error);
gboolean       mesh_store_check_room_exists  (MeshStore      *self,
                                              const char     *room_id,
                                              GError        **error);
gboolean       mesh_store_check_display_text (const char     *text,
                                              const char     *field,
                                              glong           max_chars,
                                              GError        **error);
void           mesh_store_emit_room_event    (MeshStore      *self,
                                              const char     *type,
                                              const char     *room_id,
                                              GStrv           user_ids,
                                              JsonObject     *payload);

G_END_DECLS
