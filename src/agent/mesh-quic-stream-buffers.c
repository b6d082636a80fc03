/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-quic-stream"

#include "config.h"

#include "mesh-quic-stream-private.h"

#include <string.h>

/* A MeshQuicStream's memory and pacing: the send segments, the receive ring (absolute stream
 * offsets, a power-of-two capacity) and the token buckets of a rate limit. */

void
segment_free (Segment *segment)
{
  g_clear_pointer (&segment->bytes, g_bytes_unref);
  g_free (segment->own);
  g_free (segment);
}

/* Up to two pointers covering [from, ring->tail). */
static gsize
ring_vectors (const Ring *ring,
              guint64     from,
              ngtcp2_vec  vec[2])
{
  gsize length = (gsize) (ring->tail - from);
  gsize start = (gsize) (from & (ring->capacity - 1));
  gsize first = MIN (length, ring->capacity - start);

  if (length == 0)
    return 0;
  vec[0].base = ring->data + start;
  vec[0].len = first;
  if (first == length)
    return 1;
  vec[1].base = ring->data;
  vec[1].len = length - first;
  return 2;
}

void
ring_grow (Ring  *ring,
           gsize  needed)
{
  gsize capacity = MAX (ring->capacity, RECV_BUFFER_MIN);
  guint8 *data;
  ngtcp2_vec vec[2];
  gsize n, copied = 0;

  while (capacity < needed)
    capacity *= 2;
  if (capacity == ring->capacity)
    return;

  /* Keep absolute offsets: re-place the held bytes where the new mask puts them. */
  data = g_malloc (capacity);
  n = ring->data != NULL ? ring_vectors (ring, ring->head, vec) : 0;
  for (gsize i = 0; i < n; i++) {
    for (gsize done = 0; done < vec[i].len;) {
      guint64 offset = ring->head + copied;
      gsize at = (gsize) (offset & (capacity - 1));
      gsize chunk = MIN (vec[i].len - done, capacity - at);

      memcpy (data + at, vec[i].base + done, chunk);
      done += chunk;
      copied += chunk;
    }
  }
  g_free (ring->data);
  ring->data = data;
  ring->capacity = capacity;
}

void
ring_push (Ring         *ring,
           const guint8 *src,
           gsize         length)
{
  while (length > 0) {
    gsize at = (gsize) (ring->tail & (ring->capacity - 1));
    gsize chunk = MIN (length, ring->capacity - at);

    memcpy (ring->data + at, src, chunk);
    ring->tail += chunk;
    src += chunk;
    length -= chunk;
  }
}

gsize
ring_pop (Ring   *ring,
          guint8 *dst,
          gsize   length)
{
  gsize total = MIN (length, ring_length (ring));

  for (gsize done = 0; done < total;) {
    gsize at = (gsize) (ring->head & (ring->capacity - 1));
    gsize chunk = MIN (total - done, ring->capacity - at);

    memcpy (dst + done, ring->data + at, chunk);
    ring->head += chunk;
    done += chunk;
  }
  return total;
}

void
ring_clear (Ring *ring)
{
  g_clear_pointer (&ring->data, g_free);
  ring->capacity = 0;
}

#define BUCKET_WAKE_BYTES 1452

static double
bucket_burst (const Bucket *bucket)
{
  /* An eighth of a second's worth, but never less than 16 KiB (or one second's worth). */
  return MAX ((double) bucket->rate / 8, (double) MIN (bucket->rate, 16 * 1024));
}

void
bucket_set_rate (Bucket  *bucket,
                 guint64  rate)
{
  bucket->rate = rate;
  bucket->tokens = 0;
  bucket->refilled = g_get_monotonic_time ();
}

/* How many of @wanted bytes may go now. */
gsize
bucket_allow (Bucket *bucket,
              gsize   wanted)
{
  gint64 now;

  if (bucket->rate == 0)
    return wanted;
  now = g_get_monotonic_time ();
  bucket->tokens = MIN (bucket_burst (bucket),
                        bucket->tokens +
                        (double) (now - bucket->refilled) * (double) bucket->rate / G_USEC_PER_SEC);
  bucket->refilled = now;
  return bucket->tokens >= 1 ? MIN (wanted, (gsize) bucket->tokens) : 0;
}

void
bucket_take (Bucket *bucket,
             gsize   n)
{
  if (bucket->rate > 0)
    bucket->tokens -= (double) n;
}

/* Milliseconds until the bucket holds a packet's worth (or a full burst, if smaller). */
guint
bucket_wait_ms (const Bucket *bucket)
{
  double target = MIN ((double) BUCKET_WAKE_BYTES, bucket_burst (bucket));
  double missing = MAX (target - bucket->tokens, 1.0);

  return (guint) MAX (1.0, missing * 1000 / (double) bucket->rate + 0.999);
}
