/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char     *mesh_id_new              (void);
gboolean  mesh_id_is_valid         (const char *id);
char     *mesh_timestamp_now       (void);
char     *mesh_timestamp_format    (gint64      unix_usec);
gboolean  mesh_timestamp_is_valid  (const char *timestamp);
char     *mesh_random_token        (gsize       n_bytes);
char     *mesh_sha256_hex          (const void *data,
                                    gsize       len);
gboolean  mesh_fingerprint_is_valid (const char *fingerprint);

G_END_DECLS
