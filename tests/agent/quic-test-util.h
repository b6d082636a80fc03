/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gnutls/crypto.h>

G_BEGIN_DECLS

/* Fills @length bytes (a multiple of 8) of @buffer with xorshift64 from *@state and
 * advances it: data that is cheap to make and that both sides could make again. */
void      quic_test_fill_pattern          (guint64             *state,
                                           guint8              *buffer,
                                           gsize                length);
/* Lower-case hex SHA-256 of what @hash saw; consumes @hash. */
char     *quic_test_hash_finish           (gnutls_hash_hd_t     hash);

/* Writes @size bytes of the pattern from @seed on @stream in 256 KiB writes (each also
 * given to @hash, unless NULL), then closes the stream's output. */
void      quic_test_write_pattern_async   (GIOStream           *stream,
                                           guint64              size,
                                           guint64              seed,
                                           gnutls_hash_hd_t     hash,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
gboolean  quic_test_write_pattern_finish  (GIOStream           *stream,
                                           GAsyncResult        *result,
                                           GError             **error);

G_END_DECLS
