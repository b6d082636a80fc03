/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gnutls/crypto.h>

#include "mesh-quic-endpoint.h"

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

/* An endpoint running on a thread of its own hands its port and main loop
 * to the thread that started it. */
typedef struct {
  GMutex     lock;
  GCond      cond;
  guint16    port;
  GMainLoop *loop;
} QuicTestHandoff;

void      quic_test_handoff_init          (QuicTestHandoff     *handoff);
/* In the endpoint's thread: a main loop on @context, published with
 * @endpoint's port; run it next. */
void      quic_test_handoff_publish       (QuicTestHandoff     *handoff,
                                           MeshQuicEndpoint    *endpoint,
                                           GMainContext        *context);
/* In the starting thread: the port, once published. */
guint16   quic_test_handoff_wait          (QuicTestHandoff     *handoff);
/* Once the endpoint's thread is joined. */
void      quic_test_handoff_clear         (QuicTestHandoff     *handoff);

G_END_DECLS
