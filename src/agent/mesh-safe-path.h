/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <archive.h>
#include <archive_entry.h>

G_BEGIN_DECLS

/* Longest name we hand out, in bytes: leaves room within NAME_MAX (255) for
 * " (NNNN)", ".<16 hex>-NNNN.part" and the ".….part.meta" sidecar (233). */
#define MESH_SAFE_NAME_MAX 200

gboolean  mesh_safe_path_component_is_safe (const char    *name,
                                            gsize          len);
char     *mesh_safe_path_sanitize_name     (const char    *name);
gboolean  mesh_safe_path_relative_is_safe  (const char    *path,
                                            GError       **error);
gboolean  mesh_safe_path_link_target_is_safe (const char  *link_path,
                                              const char  *target);
char     *mesh_safe_path_unique_name       (const char    *name,
                                            guint          n);

/* What an extraction may create and write, and what it did so far. */
typedef struct {
  guint64 max_created;  /* files, folders and links */
  guint64 max_bytes;    /* file data */
  guint64 created;
  guint64 bytes;        /* atomic */
} MeshExtractLimits;

gboolean  mesh_safe_path_extract_entry     (int                    root_fd,
                                            struct archive        *in,
                                            struct archive_entry  *entry,
                                            MeshExtractLimits     *limits,
                                            GError               **error);

G_END_DECLS
