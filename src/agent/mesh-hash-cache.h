/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <sys/stat.h>

G_BEGIN_DECLS

/* SHA-256 of files the agent sent, keyed by (device, inode, size, mtime), so that sending the
 * same unchanged file again does not read it twice.  Thread-safe; persisted in the agent's
 * state folder; bounded (the least recently used entries go). */
typedef struct _MeshHashCache MeshHashCache;

#define MESH_HASH_CACHE_FILE "hash-cache"
#define MESH_HASH_CACHE_MAX_ENTRIES 4096

MeshHashCache *mesh_hash_cache_new          (const char        *path);
MeshHashCache *mesh_hash_cache_get_for_dir  (const char        *state_dir);
MeshHashCache *mesh_hash_cache_ref          (MeshHashCache     *self);
void           mesh_hash_cache_unref        (MeshHashCache     *self);
char          *mesh_hash_cache_lookup       (MeshHashCache     *self,
                                             const struct stat *st);
void           mesh_hash_cache_store        (MeshHashCache     *self,
                                             const struct stat *st,
                                             gint64             hashing_started,
                                             const char        *hash);
guint          mesh_hash_cache_get_n_entries (MeshHashCache    *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshHashCache, mesh_hash_cache_unref)

G_END_DECLS
