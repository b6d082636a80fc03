/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the parts of a MeshQuicStream share: mesh-quic-stream.c (the GIOStream, its pending
 * operations and the connection's side), mesh-quic-stream-halves.c (the GInputStream and
 * GOutputStream views) and mesh-quic-stream-buffers.c (send segments, receive ring, rate
 * buckets).  See mesh-quic-stream.c for how they work together.  Nothing else includes this. */

#include "mesh-quic-endpoint-private.h"

#define SEND_BUFFER_SIZE (8 * 1024 * 1024)
#define RECV_BUFFER_MIN (64 * 1024)

/* A pending write is resumed once this much room is free (or its whole request fits), so a
 * trickle of acknowledgements does not turn into a trickle of tiny writes. */
#define SEND_LOW_WATER (SEND_BUFFER_SIZE / 4)

/* Plain writes are copied into blocks of our own (COPY_BELOW to 4 × COPY_BLOCK bytes, filled
 * before the next one is made); GBytes smaller than COPY_BELOW are copied too (a frame header
 * is not worth a segment of its own). */
#define COPY_BLOCK (64 * 1024)
#define COPY_BELOW (4 * 1024)

typedef struct {
  GBytes       *bytes;     /* referenced data, or NULL for our own block */
  guint8       *own;       /* our own block (capacity bytes), or NULL */
  gsize         capacity;
  const guint8 *data;
  gsize         len;
  guint64       offset;    /* of data[0] in the stream */
} Segment;

typedef struct {
  guint8  *data;
  gsize    capacity;  /* a power of two */
  guint64  head;      /* absolute stream offset of the first held byte */
  guint64  tail;      /* absolute stream offset one past the last held byte */
} Ring;

static inline gsize
ring_length (const Ring *ring)
{
  return (gsize) (ring->tail - ring->head);
}

/* A token bucket in bytes; rate 0 means no limit.  It starts empty, so a stream limited from
 * its start never runs ahead of rate × time. */
typedef struct {
  guint64  rate;      /* bytes per second */
  double   tokens;
  gint64   refilled;  /* g_get_monotonic_time() of the last refill */
} Bucket;

/* A pending operation with the cancellable watch that may end it early. */
typedef struct {
  GTask   *task;
  GSource *cancel_source;
} Pending;

struct _MeshQuicStream {
  GIOStream           parent_instance;

  MeshQuicConnection *connection;  /* not owned; NULL once the connection went away */
  gint64              id;
  GInputStream       *input;
  GOutputStream      *output;

  /* Send side: the segments hold [send_head, send_tail) (not acknowledged yet);
   * [send_sent, send_tail) is still unsent. */
  GQueue              send_segments;  /* Segment*, in stream order */
  GList              *send_cursor;    /* a segment at or before the one holding send_sent */
  guint64             send_head;
  guint64             send_tail;
  guint64             send_sent;
  gboolean            fin_requested;
  gboolean            fin_sent;
  gboolean            fin_alone;   /* FIN went in a frame of its own */
  gboolean            fin_acked;
  GError             *send_error;
  Pending             write;
  const guint8       *write_buffer;
  gsize               write_count;
  GPtrArray          *write_parts;  /* GBytes*: a pending write_bytes_async(), or NULL */
  Pending             close_output;

  Bucket              send_bucket;

  /* Receive side. */
  Ring                recv;
  gboolean            recv_fin;
  gboolean            input_closed;
  GError             *recv_error;
  Pending             read;
  guint8             *read_buffer;
  gsize               read_count;
  gsize               read_filled;  /* bytes ngtcp2 handed straight to the pending read */
  Bucket              recv_bucket;

  GMainContext       *context;      /* where the rate timers run */
  GSource            *send_timer;   /* a dry send bucket refills */
  GSource            *recv_timer;   /* a dry receive bucket refills */
};

/* The input and output halves: thin views that forward to their MeshQuicStream. */

#define MESH_TYPE_QUIC_INPUT_STREAM (mesh_quic_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (MeshQuicInputStream, mesh_quic_input_stream, MESH, QUIC_INPUT_STREAM,
                      GInputStream)

struct _MeshQuicInputStream {
  GInputStream    parent_instance;
  MeshQuicStream *owner;  /* not owned: the owner owns us and clears this in dispose */
};

#define MESH_TYPE_QUIC_OUTPUT_STREAM (mesh_quic_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (MeshQuicOutputStream, mesh_quic_output_stream, MESH, QUIC_OUTPUT_STREAM,
                      GOutputStream)

struct _MeshQuicOutputStream {
  GOutputStream   parent_instance;
  MeshQuicStream *owner;
};

/* mesh-quic-stream-buffers.c */
void  segment_free    (Segment      *segment);
void  ring_grow       (Ring         *ring,
                       gsize         needed);
void  ring_push       (Ring         *ring,
                       const guint8 *src,
                       gsize         length);
gsize ring_pop        (Ring         *ring,
                       guint8       *dst,
                       gsize         length);
void  ring_clear      (Ring         *ring);
void  bucket_set_rate (Bucket       *bucket,
                       guint64       rate);
gsize bucket_allow    (Bucket       *bucket,
                       gsize         wanted);
void  bucket_take     (Bucket       *bucket,
                       gsize         n);
guint bucket_wait_ms  (const Bucket *bucket);

/* mesh-quic-stream.c, for the halves */
GError   *gone_error            (void);
void      pending_set           (Pending         *pending,
                                 GTask           *task,
                                 GCancellable    *cancellable);
gboolean  stream_check_writable (MeshQuicStream  *self,
                                 GError         **error);
gsize     stream_accept_write   (MeshQuicStream  *self,
                                 const guint8    *buffer,
                                 gsize            count);
gsize     stream_consume        (MeshQuicStream  *self,
                                 guint8          *buffer,
                                 gsize            count);
void      stream_close_input    (MeshQuicStream  *self);
void      stream_request_fin    (MeshQuicStream  *self);
