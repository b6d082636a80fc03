/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-hash-cache"

#include "config.h"

#include "mesh-hash-cache.h"

#include "mesh-transfer-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

/* FILE_META carries the SHA-256 of the whole file, so a sender reads the file once before the
 * first byte goes out: 1–3 s per GiB here.  This cache remembers the hash of files sent before.
 *
 * Key: (st_dev, st_ino, st_size, st_mtim, st_ctim).  mtime is what editors and copies change;
 * ctime cannot be set by a user, so a file rewritten and then given its old mtime back
 * (touch -d, rsync -t) still misses.
 *
 * A racy entry is never stored: file systems keep timestamps with a tick of a few ms, so a
 * write landing in the same tick as the last one before hashing, after the bytes were read,
 * would leave the key unchanged with other content.  Only files whose mtime is older than the
 * start of hashing by RACY_MARGIN_US, and whose ctime by RACY_CTIME_MARGIN_US, are cached
 * (git's "racily clean" rule; a recent ctime alone is a chmod or a touch -d, not new bytes).
 * A wrong hash cannot corrupt anything anyway: the receiver checks every byte against it; the
 * sender forgets the entry when the receiver reports a mismatch.
 *
 * Bounded to MESH_HASH_CACHE_MAX_ENTRIES, least recently used out first; persisted as a
 * small text file (one line per entry, written atomically, mode 0600) in the state folder. */

#define RACY_MARGIN_US (2 * G_USEC_PER_SEC)
#define RACY_CTIME_MARGIN_US (50 * 1000)
#define FILE_HEADER "mesh-hash-cache 1\n"

typedef struct {
  guint64 dev;
  guint64 ino;
  guint64 size;
  gint64  mtime_s;
  gint64  mtime_ns;
  gint64  ctime_s;
  gint64  ctime_ns;
} Key;

typedef struct {
  Key     key;
  guint64 used;   /* LRU clock */
  char    hash[65];
} Entry;

struct _MeshHashCache {
  gint        ref_count;
  GMutex      lock;
  char       *path;     /* NULL: in memory only */
  GHashTable *entries;  /* Key* → Entry* (the key lives in the entry) */
  guint64     clock;
};

static guint
key_hash (gconstpointer data)
{
  const Key *key = data;
  guint64 h = key->dev * 0x9e3779b97f4a7c15ull ^ key->ino;

  h ^= key->size * 0xc2b2ae3d27d4eb4full;
  h ^= (guint64) key->mtime_ns * 0x165667b19e3779f9ull ^ (guint64) key->mtime_s;
  return (guint) (h ^ (h >> 32));
}

static gboolean
key_equal (gconstpointer a,
           gconstpointer b)
{
  return memcmp (a, b, sizeof (Key)) == 0;
}

static void
key_from_stat (Key               *key,
               const struct stat *st)
{
  memset (key, 0, sizeof *key);
  key->dev = (guint64) st->st_dev;
  key->ino = (guint64) st->st_ino;
  key->size = (guint64) st->st_size;
  key->mtime_s = (gint64) st->st_mtim.tv_sec;
  key->mtime_ns = (gint64) st->st_mtim.tv_nsec;
  key->ctime_s = (gint64) st->st_ctim.tv_sec;
  key->ctime_ns = (gint64) st->st_ctim.tv_nsec;
}

static void
cache_insert (MeshHashCache *self,
              const Key     *key,
              guint64        used,
              const char    *hash)
{
  Entry *entry = g_new0 (Entry, 1);

  entry->key = *key;
  entry->used = used;
  g_strlcpy (entry->hash, hash, sizeof entry->hash);
  g_hash_table_replace (self->entries, &entry->key, entry);
  self->clock = MAX (self->clock, used);
}

static void
cache_evict (MeshHashCache *self)
{
  while (g_hash_table_size (self->entries) > MESH_HASH_CACHE_MAX_ENTRIES) {
    GHashTableIter iter;
    gpointer value;
    Entry *oldest = NULL;

    g_hash_table_iter_init (&iter, self->entries);
    while (g_hash_table_iter_next (&iter, NULL, &value)) {
      Entry *entry = value;

      if (oldest == NULL || entry->used < oldest->used)
        oldest = entry;
    }
    g_hash_table_remove (self->entries, &oldest->key);
  }
}

static void
cache_load (MeshHashCache *self)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (self->path == NULL || !g_file_get_contents (self->path, &contents, NULL, NULL))
    return;
  if (!g_str_has_prefix (contents, FILE_HEADER))
    return;
  lines = g_strsplit (contents + strlen (FILE_HEADER), "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    Key key = { 0 };
    guint64 used = 0;
    char hash[65];

    /* A damaged line costs one re-hash, nothing more. */
    if (sscanf (lines[i],
                "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
                " %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %64s",
                &key.dev, &key.ino, &key.size, &key.mtime_s, &key.mtime_ns, &key.ctime_s,
                &key.ctime_ns, &used, hash) != 9 ||
        !mesh_sha256_hex_is_valid (hash))
      continue;
    cache_insert (self, &key, used, hash);
  }
  cache_evict (self);
}

static void
cache_save (MeshHashCache *self)
{
  g_autoptr(GString) text = g_string_new (FILE_HEADER);
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  gpointer value;

  if (self->path == NULL)
    return;
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    const Entry *entry = value;

    g_string_append_printf (text,
                            "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                            " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
                            " %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %s\n",
                            entry->key.dev, entry->key.ino, entry->key.size, entry->key.mtime_s,
                            entry->key.mtime_ns, entry->key.ctime_s, entry->key.ctime_ns,
                            entry->used, entry->hash);
  }
  if (!g_file_set_contents_full (self->path, text->str, (gssize) text->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_debug ("Cannot save the hash cache: %s", error->message);
}

/**
 * mesh_hash_cache_new:
 * @path: (nullable): the file it is kept in; %NULL keeps it in memory only
 */
MeshHashCache *
mesh_hash_cache_new (const char *path)
{
  MeshHashCache *self = g_new0 (MeshHashCache, 1);

  self->ref_count = 1;
  g_mutex_init (&self->lock);
  self->path = g_strdup (path);
  self->entries = g_hash_table_new_full (key_hash, key_equal, NULL, g_free);
  cache_load (self);
  return self;
}

G_LOCK_DEFINE_STATIC (shared);
static GHashTable *shared_caches;  /* canonical state folder → MeshHashCache* */

/**
 * mesh_hash_cache_get_for_dir:
 * @state_dir: an agent's state folder
 *
 * Returns: (transfer full): the cache kept in @state_dir, shared by everyone in this process
 *   who asks for the same folder
 */
MeshHashCache *
mesh_hash_cache_get_for_dir (const char *state_dir)
{
  g_autofree char *dir = NULL;
  MeshHashCache *cache;

  g_return_val_if_fail (state_dir != NULL, NULL);

  dir = g_canonicalize_filename (state_dir, NULL);
  G_LOCK (shared);
  if (shared_caches == NULL)
    shared_caches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) mesh_hash_cache_unref);
  cache = g_hash_table_lookup (shared_caches, dir);
  if (cache == NULL) {
    g_autofree char *path = g_build_filename (dir, MESH_HASH_CACHE_FILE, NULL);

    cache = mesh_hash_cache_new (path);
    g_hash_table_insert (shared_caches, g_strdup (dir), cache);
  }
  mesh_hash_cache_ref (cache);
  G_UNLOCK (shared);
  return cache;
}

MeshHashCache *
mesh_hash_cache_ref (MeshHashCache *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
mesh_hash_cache_unref (MeshHashCache *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_hash_table_unref (self->entries);
  g_mutex_clear (&self->lock);
  g_free (self->path);
  g_free (self);
}

/**
 * mesh_hash_cache_lookup:
 * @st: the file's stat, taken on the descriptor that will be read
 *
 * Returns: (transfer full) (nullable): the SHA-256 (hex) of that very file, or %NULL
 */
char *
mesh_hash_cache_lookup (MeshHashCache     *self,
                        const struct stat *st)
{
  Entry *entry;
  Key key;
  char *hash = NULL;

  g_return_val_if_fail (self != NULL, NULL);

  key_from_stat (&key, st);
  g_mutex_lock (&self->lock);
  entry = g_hash_table_lookup (self->entries, &key);
  if (entry != NULL) {
    entry->used = ++self->clock;
    hash = g_strdup (entry->hash);
  }
  g_mutex_unlock (&self->lock);
  return hash;
}

/**
 * mesh_hash_cache_store:
 * @st: the file's stat, taken on the descriptor that was hashed, *after* hashing
 * @hashing_started: g_get_real_time() before the first byte was read
 * @hash: its SHA-256 (hex)
 *
 * Remembers @hash, unless the file changed too recently to be sure (see above).  @hash %NULL
 * forgets the entry of @st instead (the receiver saw other bytes).
 */
void
mesh_hash_cache_store (MeshHashCache     *self,
                       const struct stat *st,
                       gint64             hashing_started,
                       const char        *hash)
{
  gint64 mtime_us = (gint64) st->st_mtim.tv_sec * G_USEC_PER_SEC + st->st_mtim.tv_nsec / 1000;
  gint64 ctime_us = (gint64) st->st_ctim.tv_sec * G_USEC_PER_SEC + st->st_ctim.tv_nsec / 1000;
  Key key;

  g_return_if_fail (self != NULL);
  g_return_if_fail (hash == NULL || mesh_sha256_hex_is_valid (hash));

  key_from_stat (&key, st);
  g_mutex_lock (&self->lock);
  if (hash == NULL) {
    if (g_hash_table_remove (self->entries, &key))
      cache_save (self);
  } else if (mtime_us < hashing_started - RACY_MARGIN_US &&
             ctime_us < hashing_started - RACY_CTIME_MARGIN_US) {
    cache_insert (self, &key, ++self->clock, hash);
    cache_evict (self);
    cache_save (self);
  }
  g_mutex_unlock (&self->lock);
}

guint
mesh_hash_cache_get_n_entries (MeshHashCache *self)
{
  guint n;

  g_return_val_if_fail (self != NULL, 0);

  g_mutex_lock (&self->lock);
  n = g_hash_table_size (self->entries);
  g_mutex_unlock (&self->lock);
  return n;
}
