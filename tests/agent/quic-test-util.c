/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "quic-test-util.h"

#include <string.h>

#define PATTERN_CHUNK (256 * 1024)

void
quic_test_fill_pattern (guint64 *state,
                        guint8  *buffer,
                        gsize    length)
{
  for (gsize i = 0; i + 8 <= length; i += 8) {
    guint64 x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    memcpy (buffer + i, &x, 8);
  }
}

char *
quic_test_hash_finish (gnutls_hash_hd_t hash)
{
  guint8 digest[32];
  GString *hex = g_string_new (NULL);

  gnutls_hash_deinit (hash, digest);
  for (gsize i = 0; i < sizeof digest; i++)
    g_string_append_printf (hex, "%02x", digest[i]);
  return g_string_free (hex, FALSE);
}

typedef struct {
  GIOStream        *stream;
  gnutls_hash_hd_t  hash;
  guint64           state;
  guint64           remaining;
  guint8           *buffer;
} Pattern;

static void
pattern_free (Pattern *pattern)
{
  g_object_unref (pattern->stream);
  g_free (pattern->buffer);
  g_free (pattern);
}

static void pattern_next (GTask *task);

static void
on_pattern_closed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_pattern_written (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error)) {
    g_task_return_error (task, error);
    return;
  }
  pattern_next (g_steal_pointer (&task));
}

static void
pattern_next (GTask *task)
{
  Pattern *pattern = g_task_get_task_data (task);
  GOutputStream *output = g_io_stream_get_output_stream (pattern->stream);
  gsize n = (gsize) MIN (pattern->remaining, PATTERN_CHUNK);

  if (n == 0) {
    g_output_stream_close_async (output, G_PRIORITY_DEFAULT, NULL, on_pattern_closed, task);
    return;
  }
  quic_test_fill_pattern (&pattern->state, pattern->buffer, n);
  if (pattern->hash != NULL)
    gnutls_hash (pattern->hash, pattern->buffer, n);
  pattern->remaining -= n;
  g_output_stream_write_all_async (output, pattern->buffer, n, G_PRIORITY_DEFAULT, NULL,
                                   on_pattern_written, task);
}

void
quic_test_write_pattern_async (GIOStream           *stream,
                               guint64              size,
                               guint64              seed,
                               gnutls_hash_hd_t     hash,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task = g_task_new (stream, NULL, callback, user_data);
  Pattern *pattern = g_new0 (Pattern, 1);

  pattern->stream = g_object_ref (stream);
  pattern->hash = hash;
  pattern->state = seed;
  pattern->remaining = size;
  pattern->buffer = g_malloc (PATTERN_CHUNK);
  g_task_set_task_data (task, pattern, (GDestroyNotify) pattern_free);
  pattern_next (task);
}

gboolean
quic_test_write_pattern_finish (GIOStream     *stream,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
quic_test_handoff_init (QuicTestHandoff *handoff)
{
  memset (handoff, 0, sizeof *handoff);
  g_mutex_init (&handoff->lock);
  g_cond_init (&handoff->cond);
}

void
quic_test_handoff_publish (QuicTestHandoff  *handoff,
                           MeshQuicEndpoint *endpoint,
                           GMainContext     *context)
{
  g_mutex_lock (&handoff->lock);
  handoff->loop = g_main_loop_new (context, FALSE);
  handoff->port = mesh_quic_endpoint_get_port (endpoint);
  g_cond_signal (&handoff->cond);
  g_mutex_unlock (&handoff->lock);
}

guint16
quic_test_handoff_wait (QuicTestHandoff *handoff)
{
  guint16 port;

  g_mutex_lock (&handoff->lock);
  while (handoff->port == 0)
    g_cond_wait (&handoff->cond, &handoff->lock);
  port = handoff->port;
  g_mutex_unlock (&handoff->lock);
  return port;
}

void
quic_test_handoff_clear (QuicTestHandoff *handoff)
{
  g_clear_pointer (&handoff->loop, g_main_loop_unref);
  g_mutex_clear (&handoff->lock);
  g_cond_clear (&handoff->cond);
}
