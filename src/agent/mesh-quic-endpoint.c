/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-quic"

#include "config.h"

#include "mesh-quic-endpoint.h"

#include "mesh-frame.h"

#include "mesh-escape.h"
#include "mesh-ids.h"

#include <errno.h>
#include <glib-unix.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* The agent's QUIC endpoint (protocol §6): one UDP socket, both roles, ngtcp2 0.12 + GnuTLS.
 *
 * Threading.  An endpoint lives on the thread-default GMainContext of the thread that made it
 * (the agent thread).  ngtcp2 is not thread-safe, so every object here, its streams included,
 * must be used from that context only.
 *
 * Routing.  All our connection IDs are CID_LENGTH bytes, so a short-header packet's DCID can be
 * cut out without state.  Each connection registers its IDs (and, for a server connection, the
 * client's original DCID) in the endpoint's table; an Initial with an unknown DCID creates a
 * server connection.  Several connections, in both roles, share the socket.
 *
 * Address validation.  An Initial without a token creates no state: it is answered with a
 * stateless Retry (RFC 9000 §8.1.2) whose token, sealed with a per-endpoint secret, binds the
 * client's address and original DCID and expires after RETRY_TOKEN_TIMEOUT.  Only an Initial
 * with a valid token becomes a connection, so spoofed source addresses cannot fill the table.
 * A bad or expired token gets a stateless CONNECTION_CLOSE (INVALID_TOKEN).  Validated
 * handshakes are capped in total (MAX_HANDSHAKES) and per source address
 * (MAX_HANDSHAKES_PER_ADDRESS); over the cap the client gets CONNECTION_REFUSED.
 *
 * Authentication.  No CA: both sides present their MeshAgentIdentity certificate and check the
 * peer's by SHA-256 fingerprint inside a GnuTLS verify callback.  A server connection requires a
 * client certificate whose fingerprint was registered with mesh_quic_endpoint_expect_peer();
 * a client connection requires the server's to equal the pin given to connect_async().  A
 * client reports success only once the handshake is *confirmed*: in TLS 1.3 the client
 * finishes before the server has judged the client's certificate, and HANDSHAKE_DONE is the
 * server's word that it accepted us.  ALPN must be "mesh/2", TLS 1.3 only, AES-GCM only
 * (ChaCha20 is several times slower here).
 *
 * Performance.  Per-packet cost dominates QUIC, so:
 *  - sends are batched with UDP GSO (UDP_SEGMENT): one sendmsg() carries up to 64 equal-size
 *    packets of a connection's write burst; EIO turns GSO off, EAGAIN parks the batch until
 *    the socket is writable (never drop what ngtcp2 considers sent);
 *  - receives use UDP GRO: one recvmsg() returns many coalesced datagrams, split by the
 *    UDP_GRO control message; a batch is bounded (RECV_BATCH reads, at most ~256 KiB) so the
 *    ACKs it calls for leave before the sender runs out of congestion window;
 *  - socket buffers are raised to 8 MiB (SO_*BUFFORCE when privileged) to avoid drops that
 *    make CUBIC back off;
 *  - timers come from ngtcp2_conn_get_expiry() through a timerfd per connection: GLib's own
 *    timeouts have millisecond resolution, far too coarse for pacing;
 *  - flow-control windows of 8 MiB per stream (no more: unread bytes wait in memory, and
 *    that is 670 Mbit/s at 100 ms, 6.7 Gbit/s at 10 ms) and 32 MiB per connection,
 *    auto-tuned by ngtcp2 up to twice that; CUBIC congestion control with ngtcp2's
 *    pacing (on loopback CUBIC measured ahead of BBR and BBRv2 here, and it is the safer
 *    choice on Wi-Fi and WAN paths).
 *
 * Lifecycle.  A connection is owned by its endpoint from creation until it is destroyed; the
 * application holds extra references as it likes.  On close (local, peer, idle timeout, TLS
 * failure) it emits "closed" once, fails every stream's pending operations, lingers three PTOs
 * to answer late packets (RFC 9000 §10.2), then leaves the endpoint.  Disposing the endpoint
 * closes all its connections with CONNECTION_CLOSE. */

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define CID_LENGTH 18
#define MAX_CONNECTIONS 256
#define MAX_HANDSHAKES 64
#define MAX_HANDSHAKES_PER_ADDRESS 8
#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)
#define HANDSHAKE_TIMEOUT (10 * NGTCP2_SECONDS)
#define TOKEN_SECRET_SIZE 32
#define MAX_STREAMS_BIDI 64
#define DEFAULT_IDLE_TIMEOUT_MS 30000
#define SOCKET_BUFFER_SIZE (8 * 1024 * 1024)
#define STREAM_WINDOW (8 * 1024 * 1024)
#define CONNECTION_WINDOW (32 * 1024 * 1024)
#define MAX_GSO_SEGMENTS 64
#define SEND_BATCH_BYTES 65000
#define RECV_BUFFER_SIZE 65536
#define RECV_BATCH 4

#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
                     "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE"

typedef enum {
  STATE_HANDSHAKE,
  STATE_OPEN,
  STATE_CLOSING,   /* we sent CONNECTION_CLOSE; lingering */
  STATE_DRAINING,  /* the peer sent CONNECTION_CLOSE; lingering silently */
  STATE_DEAD,
} ConnectionState;

/* A GSO batch the socket could not take yet. */
typedef struct {
  struct sockaddr_storage to;
  socklen_t               to_length;
  gsize                   segment_size;
  gsize                   length;
  guint8                  data[];
} ParkedBatch;

struct _MeshQuicEndpoint {
  GObject                           parent_instance;

  MeshAgentIdentity                *identity;
  gnutls_certificate_credentials_t  credentials;
  GMainContext                     *context;

  int                               fd;
  struct sockaddr_storage           local_address;
  socklen_t                         local_address_length;
  GSource                          *read_source;
  GSource                          *write_source;
  gboolean                          gso;
  gboolean                          gro;
  GQueue                            parked;        /* ParkedBatch*, oldest first */

  GHashTable                       *cids;          /* ngtcp2_cid* (owned) → MeshQuicConnection* */
  GHashTable                       *connections;   /* MeshQuicConnection* (owned), a set */
  GHashTable                       *expected_peers; /* fingerprint → count */
  guint                             idle_timeout_ms;
  guint8                            token_secret[TOKEN_SECRET_SIZE];
  guint                             retries_sent;

  guint8                           *recv_buffer;
  guint8                           *send_buffer;
};

struct _MeshQuicConnection {
  GObject                 parent_instance;

  MeshQuicEndpoint       *endpoint;  /* not owned; the endpoint owns us until destroyed */
  ConnectionState         state;
  gboolean                is_server;
  gboolean                handshake_confirmed;
  gboolean                touched;   /* queued for processing after a receive batch */

  ngtcp2_conn            *conn;
  gnutls_session_t        session;
  ngtcp2_crypto_conn_ref  conn_ref;
  struct sockaddr_storage remote_address;
  socklen_t               remote_address_length;
  GArray                 *cids;      /* ngtcp2_cid registered in the endpoint */

  char                   *pinned_fingerprint;
  char                   *peer_fingerprint;
  GError                 *verify_error;
  GError                 *close_error;

  GHashTable             *streams;     /* &stream_id → MeshQuicStream (owned) */
  GPtrArray              *finished_streams; /* closed by ngtcp2, released after dispatch */
  GQueue                  send_queue;  /* MeshQuicStream* with bytes or FIN to send */
  GQueue                  new_streams; /* peer-opened MeshQuicStream* not announced yet */

  GTask                  *connect_task;
  GSource                *cancel_source;

  int                     timer_fd;
  GSource                *timer_source;
  ngtcp2_tstamp           timer_armed;
  ngtcp2_tstamp           linger_deadline;
  GSource                *send_source;

  guint8                 *close_packet;
  gsize                   close_packet_length;
  guint                   packets_while_closing;
};

G_DEFINE_FINAL_TYPE (MeshQuicEndpoint, mesh_quic_endpoint, G_TYPE_OBJECT)
G_DEFINE_FINAL_TYPE (MeshQuicConnection, mesh_quic_connection, G_TYPE_OBJECT)

enum {
  ENDPOINT_INCOMING_CONNECTION,
  N_ENDPOINT_SIGNALS
};

enum {
  CONNECTION_NEW_STREAM,
  CONNECTION_CLOSED,
  N_CONNECTION_SIGNALS
};

static guint endpoint_signals[N_ENDPOINT_SIGNALS];
static guint connection_signals[N_CONNECTION_SIGNALS];

static void connection_write (MeshQuicConnection *self);

static ngtcp2_tstamp
timestamp_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (ngtcp2_tstamp) ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp) ts.tv_nsec;
}

static guint
cid_hash (gconstpointer key)
{
  const ngtcp2_cid *cid = key;
  guint hash = 2166136261u;

  for (gsize i = 0; i < cid->datalen; i++)
    hash = (hash ^ cid->data[i]) * 16777619u;
  return hash;
}

static gboolean
cid_equal (gconstpointer a,
           gconstpointer b)
{
  return ngtcp2_cid_eq (a, b);
}

static gboolean
random_bytes (guint8 *data,
              gsize   length)
{
  return gnutls_rnd (GNUTLS_RND_RANDOM, data, length) == 0;
}

/* Endpoint: sending */

static void endpoint_resume_writers (MeshQuicEndpoint *self);

static gboolean
on_socket_writable (int          fd,
                    GIOCondition condition,
                    gpointer     user_data);

static void
endpoint_park (MeshQuicEndpoint      *self,
               const struct sockaddr *to,
               socklen_t              to_length,
               const guint8          *data,
               gsize                  length,
               gsize                  segment_size)
{
  ParkedBatch *batch = g_malloc (sizeof (ParkedBatch) + length);

  memcpy (&batch->to, to, to_length);
  batch->to_length = to_length;
  batch->segment_size = segment_size;
  batch->length = length;
  memcpy (batch->data, data, length);
  g_queue_push_tail (&self->parked, batch);

  if (self->write_source == NULL) {
    self->write_source = g_unix_fd_source_new (self->fd, G_IO_OUT);
    g_source_set_callback (self->write_source, G_SOURCE_FUNC (on_socket_writable), self, NULL);
    g_source_attach (self->write_source, self->context);
  }
}

/* Sends @length bytes cut into @segment_size packets.  Returns FALSE when the socket is full:
 * the batch is then parked and sent before anything else once the socket drains. */
static gboolean
endpoint_send (MeshQuicEndpoint      *self,
               const struct sockaddr *to,
               socklen_t              to_length,
               const guint8          *data,
               gsize                  length,
               gsize                  segment_size,
               gboolean               may_park)
{
  if (self->fd < 0)
    return TRUE;
  if (may_park && self->parked.length > 0) {
    endpoint_park (self, to, to_length, data, length, segment_size);
    return FALSE;
  }

  for (;;) {
    union {
      char           buffer[CMSG_SPACE (sizeof (uint16_t))];
      struct cmsghdr align;
    } control;
    struct iovec iov = { (void *) data, length };
    struct msghdr msg = { 0 };
    ssize_t n;

    msg.msg_name = (void *) to;
    msg.msg_namelen = to_length;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (segment_size < length) {
      struct cmsghdr *cmsg;
      uint16_t segment = (uint16_t) segment_size;

      memset (&control, 0, sizeof control);
      msg.msg_control = control.buffer;
      msg.msg_controllen = sizeof control.buffer;
      cmsg = CMSG_FIRSTHDR (&msg);
      cmsg->cmsg_level = SOL_UDP;
      cmsg->cmsg_type = UDP_SEGMENT;
      cmsg->cmsg_len = CMSG_LEN (sizeof segment);
      memcpy (CMSG_DATA (cmsg), &segment, sizeof segment);
    }

    n = sendmsg (self->fd, &msg, 0);
    if (n >= 0)
      return TRUE;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!may_park)
        return FALSE;
      endpoint_park (self, to, to_length, data, length, segment_size);
      return FALSE;
    }
    if (errno == EIO && segment_size < length) {
      /* The device cannot segment (curl and ngtcp2's examples see this too): go one by one. */
      g_debug ("UDP GSO refused by the kernel; sending packets one by one");
      self->gso = FALSE;
      for (gsize offset = 0; offset < length; offset += segment_size) {
        gsize chunk = MIN (segment_size, length - offset);

        if (!endpoint_send (self, to, to_length, data + offset, chunk, chunk, may_park))
          return FALSE;
      }
      return TRUE;
    }
    /* Unreachable networks and the like: QUIC treats it as loss and recovers or times out. */
    g_debug ("sendmsg: %s", g_strerror (errno));
    return TRUE;
  }
}

static gboolean
on_socket_writable (int          fd,
                    GIOCondition condition,
                    gpointer     user_data)
{
  MeshQuicEndpoint *self = user_data;
  ParkedBatch *batch;

  while ((batch = g_queue_peek_head (&self->parked)) != NULL) {
    if (!endpoint_send (self, (struct sockaddr *) &batch->to, batch->to_length, batch->data,
                        batch->length, batch->segment_size, FALSE))
      return G_SOURCE_CONTINUE;
    g_free (g_queue_pop_head (&self->parked));
  }

  g_clear_pointer (&self->write_source, g_source_unref);
  endpoint_resume_writers (self);
  return G_SOURCE_REMOVE;
}

/* Connection: CIDs */

static void
connection_register_cid (MeshQuicConnection *self,
                         const ngtcp2_cid   *cid)
{
  if (self->endpoint == NULL)
    return;
  g_array_append_val (self->cids, *cid);
  g_hash_table_replace (self->endpoint->cids, g_memdup2 (cid, sizeof *cid), self);
}

static void
connection_unregister_cid (MeshQuicConnection *self,
                           const ngtcp2_cid   *cid)
{
  for (guint i = 0; i < self->cids->len; i++) {
    if (ngtcp2_cid_eq (&g_array_index (self->cids, ngtcp2_cid, i), cid)) {
      g_array_remove_index_fast (self->cids, i);
      break;
    }
  }
  if (self->endpoint != NULL && g_hash_table_lookup (self->endpoint->cids, cid) == self)
    g_hash_table_remove (self->endpoint->cids, cid);
}

/* Connection: timer and scheduling */

static void
connection_arm_timer (MeshQuicConnection *self)
{
  struct itimerspec spec = { 0 };
  ngtcp2_tstamp expiry;

  if (self->timer_fd < 0)
    return;
  if (self->state == STATE_CLOSING || self->state == STATE_DRAINING)
    expiry = self->linger_deadline;
  else if (self->conn != NULL && self->state != STATE_DEAD)
    expiry = ngtcp2_conn_get_expiry (self->conn);
  else
    expiry = UINT64_MAX;

  if (expiry == self->timer_armed)
    return;
  self->timer_armed = expiry;
  if (expiry != UINT64_MAX) {
    /* An all-zero value would disarm the timer; 1 ns in the past fires at once. */
    expiry = MAX (expiry, 1);
    spec.it_value.tv_sec = (time_t) (expiry / NGTCP2_SECONDS);
    spec.it_value.tv_nsec = (long) (expiry % NGTCP2_SECONDS);
  }
  if (timerfd_settime (self->timer_fd, TFD_TIMER_ABSTIME, &spec, NULL) != 0)
    g_warning ("timerfd_settime: %s", g_strerror (errno));
}

static void connection_process (MeshQuicConnection *self);

static gboolean
on_send_idle (gpointer user_data)
{
  MeshQuicConnection *self = user_data;

  g_clear_pointer (&self->send_source, g_source_unref);
  connection_process (self);
  return G_SOURCE_REMOVE;
}

static void
connection_schedule_process (MeshQuicConnection *self)
{
  if (self->send_source != NULL || self->endpoint == NULL || self->state == STATE_DEAD)
    return;
  self->send_source = g_idle_source_new ();
  /* Same priority as the socket, or a busy receive path would starve our sends. */
  g_source_set_priority (self->send_source, G_PRIORITY_DEFAULT);
  g_source_set_callback (self->send_source, on_send_idle, self, NULL);
  g_source_attach (self->send_source, self->endpoint->context);
}

/* Connection: end of life */

static void
connection_destroy (MeshQuicConnection *self)
{
  MeshQuicEndpoint *endpoint = self->endpoint;

  self->state = STATE_DEAD;
  while (self->cids->len > 0) {
    ngtcp2_cid cid = g_array_index (self->cids, ngtcp2_cid, 0);

    connection_unregister_cid (self, &cid);
  }
  if (self->timer_source != NULL) {
    g_source_destroy (self->timer_source);
    g_clear_pointer (&self->timer_source, g_source_unref);
  }
  if (self->timer_fd >= 0) {
    close (self->timer_fd);
    self->timer_fd = -1;
  }
  if (self->send_source != NULL) {
    g_source_destroy (self->send_source);
    g_clear_pointer (&self->send_source, g_source_unref);
  }
  if (self->cancel_source != NULL) {
    g_source_destroy (self->cancel_source);
    g_clear_pointer (&self->cancel_source, g_source_unref);
  }
  g_clear_pointer (&self->conn, ngtcp2_conn_del);
  g_clear_pointer (&self->session, gnutls_deinit);
  g_hash_table_remove_all (self->streams);
  g_ptr_array_set_size (self->finished_streams, 0);

  self->endpoint = NULL;
  if (endpoint != NULL)
    g_hash_table_remove (endpoint->connections, self);
}

/* Tells everyone the connection is over: streams, a pending connect, "closed" listeners. */
static void
connection_notify_closed (MeshQuicConnection *self)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_object_ref (self);
  g_queue_clear (&self->send_queue);
  g_queue_clear (&self->new_streams);

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (streams, g_object_ref (value));
  for (guint i = 0; i < self->finished_streams->len; i++)
    g_ptr_array_add (streams, g_object_ref (self->finished_streams->pdata[i]));

  for (guint i = 0; i < streams->len; i++)
    _mesh_quic_stream_detach (streams->pdata[i], self->close_error);

  if (self->connect_task != NULL) {
    g_autoptr(GTask) task = g_steal_pointer (&self->connect_task);
    const GError *reason = self->verify_error != NULL ? self->verify_error : self->close_error;

    g_task_return_error (task, g_error_copy (reason));
  }

  for (guint i = 0; i < streams->len; i++)
    _mesh_quic_stream_dispatch (streams->pdata[i]);

  g_signal_emit (self, connection_signals[CONNECTION_CLOSED], 0, self->close_error);
  g_object_unref (self);
}

/* Moves an open connection into @state (CLOSING, DRAINING or DEAD) because of @error. */
static void
connection_terminate (MeshQuicConnection *self,
                      ConnectionState     state,
                      GError             *error)
{
  g_autoptr(MeshQuicConnection) hold = g_object_ref (self);

  if (self->state != STATE_HANDSHAKE && self->state != STATE_OPEN) {
    g_error_free (error);
    return;
  }
  g_debug ("QUIC connection %p ends: %s", self, error->message);
  self->state = state;
  self->close_error = error;

  if (state == STATE_DEAD) {
    connection_notify_closed (self);
    connection_destroy (self);
    return;
  }

  self->linger_deadline = timestamp_now () + 3 * ngtcp2_conn_get_pto (self->conn);
  connection_arm_timer (self);
  connection_notify_closed (self);
}

/* Sends CONNECTION_CLOSE with @ccerr and lingers. */
static void
connection_close_with (MeshQuicConnection                  *self,
                       const ngtcp2_connection_close_error *ccerr,
                       GError                              *error)
{
  if ((self->state == STATE_HANDSHAKE || self->state == STATE_OPEN) && self->endpoint != NULL &&
      !ngtcp2_conn_is_in_closing_period (self->conn) &&
      !ngtcp2_conn_is_in_draining_period (self->conn)) {
    guint8 packet[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_pkt_info pi = { 0 };
    ngtcp2_ssize n;

    n = ngtcp2_conn_write_connection_close (self->conn, NULL, &pi, packet, sizeof packet, ccerr,
                                            timestamp_now ());
    if (n > 0) {
      self->close_packet = g_memdup2 (packet, (gsize) n);
      self->close_packet_length = (gsize) n;
      endpoint_send (self->endpoint, (struct sockaddr *) &self->remote_address,
                     self->remote_address_length, packet, (gsize) n, (gsize) n, TRUE);
    }
  }
  connection_terminate (self, STATE_CLOSING, error);
}

static GError *
peer_close_error (const ngtcp2_connection_close_error *ccerr)
{
  /* The peer chose the reason: it ends up in logs and on the user's terminal. */
  g_autofree char *reason = mesh_escape_for_display (ccerr->reason != NULL
                                                     ? (const char *) ccerr->reason : "",
                                                     ccerr->reason != NULL
                                                     ? (gssize) ccerr->reasonlen : 0);
  const char *sep = reason[0] != '\0' ? ": " : "";

  /* A user's cancel: the close may overtake the stream's RESET_STREAM. */
  if (ccerr->type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
      ccerr->error_code == MESH_QUIC_STREAM_CANCELLED)
    return g_error_new_literal (MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED,
                                "the peer cancelled the transfer");
  if (ccerr->type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "The peer closed the connection (application code %" G_GUINT64_FORMAT
                        ")%s%s", ccerr->error_code, sep, reason);

  if ((ccerr->error_code & ~(guint64) 0xff) == NGTCP2_CRYPTO_ERROR) {
    guint alert = (guint) (ccerr->error_code & 0xff);

    switch (alert) {
    case GNUTLS_A_BAD_CERTIFICATE:
    case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
    case GNUTLS_A_CERTIFICATE_REVOKED:
    case GNUTLS_A_CERTIFICATE_EXPIRED:
    case GNUTLS_A_CERTIFICATE_UNKNOWN:
    case GNUTLS_A_UNKNOWN_CA:
    case GNUTLS_A_CERTIFICATE_REQUIRED:
      return g_error_new (G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                          "The peer rejected our certificate (TLS alert %u: %s)", alert,
                          gnutls_alert_get_strname (alert));
    case GNUTLS_A_NO_APPLICATION_PROTOCOL:
      return g_error_new (G_TLS_ERROR, G_TLS_ERROR_HANDSHAKE,
                          "The peer does not speak " MESH_QUIC_ALPN " (TLS alert %u)", alert);
    default:
      return g_error_new (G_TLS_ERROR, G_TLS_ERROR_HANDSHAKE,
                          "The peer aborted the TLS handshake (TLS alert %u: %s)", alert,
                          gnutls_alert_get_strname (alert));
    }
  }

  if (ccerr->error_code == NGTCP2_NO_ERROR)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "The peer closed the connection%s%s", sep, reason);
  return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                      "The peer closed the connection with QUIC error 0x%" G_GINT64_MODIFIER "x%s%s",
                      ccerr->error_code, sep, reason);
}

/* Handles an error returned by ngtcp2 for this connection. */
static void
connection_fail (MeshQuicConnection *self,
                 int                 liberr)
{
  ngtcp2_connection_close_error ccerr;

  switch (liberr) {
  case NGTCP2_ERR_DRAINING:
    ngtcp2_conn_get_connection_close_error (self->conn, &ccerr);
    connection_terminate (self, STATE_DRAINING, peer_close_error (&ccerr));
    return;

  case NGTCP2_ERR_CLOSING:
    return;

  case NGTCP2_ERR_IDLE_CLOSE:
    connection_terminate (self, STATE_DEAD,
                          g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                               "The peer stopped answering (QUIC idle timeout)"));
    return;

  case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
    connection_terminate (self, STATE_DEAD,
                          g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                               "The QUIC handshake timed out"));
    return;

  case NGTCP2_ERR_DROP_CONN:
    connection_terminate (self, STATE_DEAD,
                          g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                               "The QUIC connection was dropped"));
    return;

  case NGTCP2_ERR_CRYPTO: {
    GError *error;

    ngtcp2_connection_close_error_set_transport_error_tls_alert (
      &ccerr, ngtcp2_conn_get_tls_alert (self->conn), NULL, 0);
    if (self->verify_error != NULL)
      error = g_error_copy (self->verify_error);
    else
      error = g_error_new (G_TLS_ERROR, G_TLS_ERROR_HANDSHAKE, "The TLS handshake failed: %s",
                           gnutls_strerror (ngtcp2_conn_get_tls_error (self->conn)));
    connection_close_with (self, &ccerr, error);
    return;
  }

  default:
    ngtcp2_connection_close_error_set_transport_error_liberr (&ccerr, liberr, NULL, 0);
    connection_close_with (self, &ccerr,
                           g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "QUIC error: %s",
                                        ngtcp2_strerror (liberr)));
    return;
  }
}

/* Connection: the write loop */

static void
connection_write (MeshQuicConnection *self)
{
  MeshQuicEndpoint *endpoint = self->endpoint;
  g_autoptr(GPtrArray) blocked = NULL;
  ngtcp2_tstamp ts;
  guint8 *buffer;
  gsize max_payload, quantum, max_segments;
  gsize offset = 0, segment_size = 0, n_segments = 0, total = 0;
  gboolean socket_full = FALSE;

  if (endpoint == NULL || (self->state != STATE_HANDSHAKE && self->state != STATE_OPEN))
    return;
  /* Parked batches go first; on_socket_writable() calls us again. */
  if (endpoint->parked.length > 0)
    return;

  ts = timestamp_now ();
  buffer = endpoint->send_buffer;
  max_payload = ngtcp2_conn_get_max_tx_udp_payload_size (self->conn);
  quantum = MAX (ngtcp2_conn_get_send_quantum (self->conn), max_payload);
  max_segments = endpoint->gso ? MAX_GSO_SEGMENTS : 1;

  for (;;) {
    MeshQuicStream *stream;
    ngtcp2_vec vec[MESH_QUIC_STREAM_MAX_VECS];
    gsize n_vec = 0, unsent = 0;
    gboolean fin = FALSE;
    ngtcp2_ssize n_data = -1, n_written;
    ngtcp2_pkt_info pi = { 0 };
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;

    while ((stream = g_queue_peek_head (&self->send_queue)) != NULL) {
      unsent = _mesh_quic_stream_peek_unsent (stream, vec, &n_vec, &fin);
      if (unsent > 0 || fin)
        break;
      g_queue_pop_head (&self->send_queue);
    }
    if (fin)
      flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;

    if (offset + max_payload > SEND_BATCH_BYTES) {
      socket_full = !endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
                                    self->remote_address_length, buffer, offset, segment_size,
                                    TRUE);
      offset = n_segments = 0;
      if (socket_full)
        break;
    }

    n_written = ngtcp2_conn_writev_stream (self->conn, NULL, &pi, buffer + offset, max_payload,
                                           &n_data, flags,
                                           stream != NULL ? mesh_quic_stream_get_id (stream) : -1,
                                           vec, n_vec, ts);
    if (stream != NULL && n_data >= 0)
      _mesh_quic_stream_mark_sent (stream, (gsize) n_data, fin && (gsize) n_data == unsent);

    if (n_written < 0) {
      switch (n_written) {
      case NGTCP2_ERR_WRITE_MORE:
        continue;
      case NGTCP2_ERR_STREAM_DATA_BLOCKED:
        /* Out of flow-control credit: retried after the next packet from the peer. */
        if (blocked == NULL)
          blocked = g_ptr_array_new ();
        g_ptr_array_add (blocked, g_queue_pop_head (&self->send_queue));
        continue;
      case NGTCP2_ERR_STREAM_SHUT_WR:
      case NGTCP2_ERR_STREAM_NOT_FOUND:
        g_queue_pop_head (&self->send_queue);
        continue;
      default:
        if (offset > 0)
          endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
                         self->remote_address_length, buffer, offset, segment_size, TRUE);
        connection_fail (self, (int) n_written);
        return;
      }
    }

    if (n_written == 0)
      break;

    /* Round robin: a stream that still has bytes goes behind the others. */
    if (stream != NULL && n_data > 0 && g_queue_get_length (&self->send_queue) > 1) {
      g_queue_pop_head (&self->send_queue);
      g_queue_push_tail (&self->send_queue, stream);
    }

    /* GSO needs equal segments, only the last may be shorter. */
    if (n_segments > 0 && (gsize) n_written > segment_size) {
      socket_full = !endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
                                    self->remote_address_length, buffer, offset, segment_size,
                                    TRUE);
      memmove (buffer, buffer + offset, (gsize) n_written);
      offset = n_segments = 0;
    }
    if (n_segments == 0)
      segment_size = (gsize) n_written;
    offset += (gsize) n_written;
    n_segments++;
    total += (gsize) n_written;

    if (socket_full || (gsize) n_written < segment_size || n_segments >= max_segments ||
        total >= quantum) {
      socket_full = !endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
                                    self->remote_address_length, buffer, offset, segment_size,
                                    TRUE) || socket_full;
      offset = n_segments = 0;
      if (socket_full || total >= quantum)
        break;
    }
  }

  if (offset > 0)
    endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
                   self->remote_address_length, buffer, offset, segment_size, TRUE);

  if (blocked != NULL) {
    for (guint i = 0; i < blocked->len; i++)
      g_queue_push_tail (&self->send_queue, blocked->pdata[i]);
  }

  /* Pacing starts with the handshake confirmed: before the first RTT sample ngtcp2 paces
   * with its 333 ms initial estimate, which would hold our second flight back ~20 ms. */
  if (self->handshake_confirmed)
    ngtcp2_conn_update_pkt_tx_time (self->conn, ts);
  connection_arm_timer (self);
}

/* Runs after packets were read, a timer fired or a stream has something to send: announces
 * what the handshake and the peer produced, completes stream operations, then writes. */
static void
connection_process (MeshQuicConnection *self)
{
  g_autoptr(MeshQuicConnection) hold = g_object_ref (self);
  g_autoptr(GPtrArray) streams = NULL;
  GHashTableIter iter;
  gpointer value;

  if (self->state == STATE_HANDSHAKE && self->handshake_confirmed) {
    self->state = STATE_OPEN;
    if (self->cancel_source != NULL) {
      g_source_destroy (self->cancel_source);
      g_clear_pointer (&self->cancel_source, g_source_unref);
    }
    if (self->is_server && self->endpoint != NULL) {
      g_signal_emit (self->endpoint, endpoint_signals[ENDPOINT_INCOMING_CONNECTION], 0, self);
    } else if (self->connect_task != NULL) {
      g_autoptr(GTask) task = g_steal_pointer (&self->connect_task);

      g_task_return_pointer (task, g_object_ref (self), g_object_unref);
    }
  }

  while (self->state == STATE_OPEN && self->new_streams.length > 0) {
    g_autoptr(MeshQuicStream) stream = g_object_ref (g_queue_pop_head (&self->new_streams));

    g_signal_emit (self, connection_signals[CONNECTION_NEW_STREAM], 0, stream);
  }

  if (self->state != STATE_HANDSHAKE && self->state != STATE_OPEN)
    return;

  streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (streams, g_object_ref (value));
  for (guint i = 0; i < self->finished_streams->len; i++)
    g_ptr_array_add (streams, g_object_ref (self->finished_streams->pdata[i]));
  g_ptr_array_set_size (self->finished_streams, 0);
  for (guint i = 0; i < streams->len; i++)
    _mesh_quic_stream_dispatch (streams->pdata[i]);

  connection_write (self);
}

static gboolean
on_timer (int          fd,
          GIOCondition condition,
          gpointer     user_data)
{
  MeshQuicConnection *self = user_data;
  g_autoptr(MeshQuicConnection) hold = g_object_ref (self);
  guint64 expirations;
  int rv;

  if (read (fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
    g_debug ("timerfd read: %s", g_strerror (errno));
  self->timer_armed = 0;

  switch (self->state) {
  case STATE_CLOSING:
  case STATE_DRAINING:
    if (timestamp_now () >= self->linger_deadline) {
      connection_destroy (self);
      return G_SOURCE_REMOVE;
    }
    connection_arm_timer (self);
    return G_SOURCE_CONTINUE;
  case STATE_DEAD:
    return G_SOURCE_REMOVE;
  case STATE_HANDSHAKE:
  case STATE_OPEN:
  default:
    break;
  }

  rv = ngtcp2_conn_handle_expiry (self->conn, timestamp_now ());
  if (rv != 0) {
    connection_fail (self, rv);
    return self->state == STATE_DEAD ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
  }
  connection_process (self);
  return G_SOURCE_CONTINUE;
}

/* ngtcp2 callbacks: state changes only; user-visible effects wait for connection_process(). */

static ngtcp2_conn *
get_conn (ngtcp2_crypto_conn_ref *ref)
{
  MeshQuicConnection *self = ref->user_data;

  return self->conn;
}

static void
on_rand (uint8_t                *dest,
         size_t                  destlen,
         const ngtcp2_rand_ctx  *rand_ctx)
{
  if (!random_bytes (dest, destlen))
    g_error ("The system random generator failed");
}

static int
on_get_new_connection_id (ngtcp2_conn *conn,
                          ngtcp2_cid  *cid,
                          uint8_t     *token,
                          size_t       cidlen,
                          void        *user_data)
{
  MeshQuicConnection *self = user_data;

  if (!random_bytes (cid->data, cidlen) || !random_bytes (token, NGTCP2_STATELESS_RESET_TOKENLEN))
    return NGTCP2_ERR_CALLBACK_FAILURE;
  cid->datalen = cidlen;
  connection_register_cid (self, cid);
  return 0;
}

static int
on_remove_connection_id (ngtcp2_conn      *conn,
                         const ngtcp2_cid *cid,
                         void             *user_data)
{
  connection_unregister_cid (user_data, cid);
  return 0;
}

static int
on_handshake_completed (ngtcp2_conn *conn,
                        void        *user_data)
{
  MeshQuicConnection *self = user_data;
  gnutls_datum_t alpn = { NULL, 0 };

  if (gnutls_alpn_get_selected_protocol (self->session, &alpn) != 0 ||
      alpn.size != strlen (MESH_QUIC_ALPN) ||
      memcmp (alpn.data, MESH_QUIC_ALPN, alpn.size) != 0) {
    g_clear_error (&self->verify_error);
    self->verify_error = g_error_new_literal (G_TLS_ERROR, G_TLS_ERROR_HANDSHAKE,
                                              "The peer did not agree on ALPN " MESH_QUIC_ALPN);
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  /* RFC 9001 §4.1.2: a server's handshake is confirmed as soon as it completes. */
  if (self->is_server)
    self->handshake_confirmed = TRUE;
  return 0;
}

static int
on_handshake_confirmed (ngtcp2_conn *conn,
                        void        *user_data)
{
  MeshQuicConnection *self = user_data;

  self->handshake_confirmed = TRUE;
  return 0;
}

static int
on_stream_open (ngtcp2_conn *conn,
                int64_t      stream_id,
                void        *user_data)
{
  MeshQuicConnection *self = user_data;
  MeshQuicStream *stream;

  if (!ngtcp2_is_bidi_stream (stream_id))
    return 0;
  stream = _mesh_quic_stream_new (self, stream_id);
  g_hash_table_insert (self->streams, g_memdup2 (&stream_id, sizeof stream_id), stream);
  ngtcp2_conn_set_stream_user_data (conn, stream_id, stream);
  g_queue_push_tail (&self->new_streams, stream);
  return 0;
}

static int
on_recv_stream_data (ngtcp2_conn   *conn,
                     uint32_t       flags,
                     int64_t        stream_id,
                     uint64_t       offset,
                     const uint8_t *data,
                     size_t         datalen,
                     void          *user_data,
                     void          *stream_user_data)
{
  if (stream_user_data == NULL)
    return 0;
  if (!_mesh_quic_stream_received (stream_user_data, data, datalen,
                                   (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0))
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int
on_acked_stream_data_offset (ngtcp2_conn *conn,
                             int64_t      stream_id,
                             uint64_t     offset,
                             uint64_t     datalen,
                             void        *user_data,
                             void        *stream_user_data)
{
  if (stream_user_data != NULL)
    _mesh_quic_stream_acked (stream_user_data, offset, datalen);
  return 0;
}

static int
on_stream_close (ngtcp2_conn *conn,
                 uint32_t     flags,
                 int64_t      stream_id,
                 uint64_t     app_error_code,
                 void        *user_data,
                 void        *stream_user_data)
{
  MeshQuicConnection *self = user_data;
  MeshQuicStream *stream = stream_user_data;
  gpointer key = NULL, value = NULL;

  if (stream == NULL)
    return 0;
  _mesh_quic_stream_closed (stream, (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) != 0,
                            app_error_code);
  g_queue_remove (&self->send_queue, stream);
  g_queue_remove (&self->new_streams, stream);
  /* Its last operations complete in connection_process(), outside this callback. */
  if (g_hash_table_steal_extended (self->streams, &stream_id, &key, &value)) {
    g_free (key);
    g_ptr_array_add (self->finished_streams, value);
  }
  return 0;
}

static int
on_stream_reset (ngtcp2_conn *conn,
                 int64_t      stream_id,
                 uint64_t     final_size,
                 uint64_t     app_error_code,
                 void        *user_data,
                 void        *stream_user_data)
{
  if (stream_user_data != NULL)
    _mesh_quic_stream_peer_reset (stream_user_data, app_error_code);
  return 0;
}

static int
on_stream_stop_sending (ngtcp2_conn *conn,
                        int64_t      stream_id,
                        uint64_t     app_error_code,
                        void        *user_data,
                        void        *stream_user_data)
{
  if (stream_user_data != NULL)
    _mesh_quic_stream_peer_stop_sending (stream_user_data, app_error_code);
  return 0;
}

static int
on_extend_max_stream_data (ngtcp2_conn *conn,
                           int64_t      stream_id,
                           uint64_t     max_data,
                           void        *user_data,
                           void        *stream_user_data)
{
  MeshQuicConnection *self = user_data;

  if (stream_user_data != NULL && g_queue_find (&self->send_queue, stream_user_data) == NULL)
    g_queue_push_tail (&self->send_queue, stream_user_data);
  return 0;
}

/* GnuTLS: pinning */

static gboolean
endpoint_expects (MeshQuicEndpoint *self,
                  const char       *fingerprint)
{
  return self != NULL && g_hash_table_contains (self->expected_peers, fingerprint);
}

static int
verify_peer (gnutls_session_t session)
{
  ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr (session);
  MeshQuicConnection *self = ref->user_data;
  const gnutls_datum_t *chain;
  unsigned int n_chain = 0;
  g_autofree char *fingerprint = NULL;
  gboolean accepted;

  g_clear_error (&self->verify_error);
  chain = gnutls_certificate_get_peers (session, &n_chain);
  if (gnutls_certificate_type_get2 (session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509 ||
      chain == NULL || n_chain == 0) {
    self->verify_error = g_error_new_literal (G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                                              "The peer presented no X.509 certificate");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }

  fingerprint = mesh_agent_fingerprint_from_der (chain[0].data, chain[0].size);
  if (self->is_server)
    accepted = endpoint_expects (self->endpoint, fingerprint);
  else
    accepted = gnutls_memcmp (fingerprint, self->pinned_fingerprint, strlen (fingerprint)) == 0;

  if (!accepted) {
    if (self->is_server)
      self->verify_error = g_error_new (G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                                        "Refused a client with an unexpected certificate "
                                        "(fingerprint %s)", fingerprint);
    else
      self->verify_error = g_error_new (G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                                        "The server's certificate fingerprint %s does not match "
                                        "the pinned %s", fingerprint, self->pinned_fingerprint);
    return GNUTLS_E_CERTIFICATE_ERROR;
  }

  g_free (self->peer_fingerprint);
  self->peer_fingerprint = g_steal_pointer (&fingerprint);
  return 0;
}

/* Connection: construction */

static void
connection_callbacks (ngtcp2_callbacks *callbacks,
                      gboolean          is_server)
{
  memset (callbacks, 0, sizeof *callbacks);
  if (is_server) {
    callbacks->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    callbacks->client_initial = ngtcp2_crypto_client_initial_cb;
    callbacks->recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  callbacks->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  callbacks->encrypt = ngtcp2_crypto_encrypt_cb;
  callbacks->decrypt = ngtcp2_crypto_decrypt_cb;
  callbacks->hp_mask = ngtcp2_crypto_hp_mask_cb;
  callbacks->update_key = ngtcp2_crypto_update_key_cb;
  callbacks->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  callbacks->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  callbacks->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  callbacks->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  callbacks->rand = on_rand;
  callbacks->get_new_connection_id = on_get_new_connection_id;
  callbacks->remove_connection_id = on_remove_connection_id;
  callbacks->handshake_completed = on_handshake_completed;
  callbacks->handshake_confirmed = on_handshake_confirmed;
  callbacks->stream_open = on_stream_open;
  callbacks->recv_stream_data = on_recv_stream_data;
  callbacks->acked_stream_data_offset = on_acked_stream_data_offset;
  callbacks->stream_close = on_stream_close;
  callbacks->stream_reset = on_stream_reset;
  callbacks->stream_stop_sending = on_stream_stop_sending;
  callbacks->extend_max_stream_data = on_extend_max_stream_data;
}

static void
connection_settings (MeshQuicConnection      *self,
                     ngtcp2_settings         *settings,
                     ngtcp2_transport_params *params)
{
  ngtcp2_duration idle = (ngtcp2_duration) self->endpoint->idle_timeout_ms * NGTCP2_MILLISECONDS;

  ngtcp2_settings_default (settings);
  settings->initial_ts = timestamp_now ();
  settings->cc_algo = NGTCP2_CC_ALGO_CUBIC;
  settings->max_window = 2 * CONNECTION_WINDOW;
  /* Not above STREAM_WINDOW: what the window lets in waits in the stream's receive ring while
   * the disk lags, and an agent must stay under 64 MB whatever it receives. */
  settings->max_stream_window = STREAM_WINDOW;
  /* A handshake slot held by a client that stopped answering is freed soon. */
  settings->handshake_timeout = MIN (idle, HANDSHAKE_TIMEOUT);

  ngtcp2_transport_params_default (params);
  params->initial_max_stream_data_bidi_local = STREAM_WINDOW;
  params->initial_max_stream_data_bidi_remote = STREAM_WINDOW;
  params->initial_max_stream_data_uni = 0;
  params->initial_max_data = CONNECTION_WINDOW;
  params->initial_max_streams_bidi = MAX_STREAMS_BIDI;
  params->initial_max_streams_uni = 0;
  params->max_idle_timeout = idle;
}

static gboolean
connection_setup_tls (MeshQuicConnection  *self,
                      GError             **error)
{
  static const gnutls_datum_t alpn = { (unsigned char *) MESH_QUIC_ALPN,
                                       sizeof MESH_QUIC_ALPN - 1 };
  unsigned int flags = GNUTLS_NO_END_OF_EARLY_DATA;
  int rv;

  flags |= self->is_server ? GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET : GNUTLS_CLIENT;
  rv = gnutls_init (&self->session, flags);
  if (rv == 0)
    rv = gnutls_priority_set_direct (self->session, TLS_PRIORITY, NULL);
  if (rv == 0)
    rv = self->is_server ? ngtcp2_crypto_gnutls_configure_server_session (self->session)
                         : ngtcp2_crypto_gnutls_configure_client_session (self->session);
  if (rv == 0)
    rv = gnutls_credentials_set (self->session, GNUTLS_CRD_CERTIFICATE,
                                 self->endpoint->credentials);
  if (rv == 0)
    rv = gnutls_alpn_set_protocols (self->session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
  if (rv != 0) {
    g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC, "Cannot set up a TLS session: %s",
                 rv < 0 ? gnutls_strerror (rv) : "ngtcp2 refused the session");
    return FALSE;
  }

  if (self->is_server)
    gnutls_certificate_server_set_request (self->session, GNUTLS_CERT_REQUIRE);
  self->conn_ref.get_conn = get_conn;
  self->conn_ref.user_data = self;
  gnutls_session_set_ptr (self->session, &self->conn_ref);
  ngtcp2_conn_set_tls_native_handle (self->conn, self->session);
  return TRUE;
}

static MeshQuicConnection *
connection_new (MeshQuicEndpoint      *endpoint,
                gboolean               is_server,
                const struct sockaddr *remote,
                socklen_t              remote_length)
{
  MeshQuicConnection *self = g_object_new (MESH_TYPE_QUIC_CONNECTION, NULL);

  self->endpoint = endpoint;
  self->is_server = is_server;
  memcpy (&self->remote_address, remote, remote_length);
  self->remote_address_length = remote_length;
  return self;
}

/* Creates the ngtcp2 side (client: @hd and @odcid are NULL) and registers with the endpoint.
 * A server connection starts from an Initial whose Retry token was verified: @odcid is the
 * client's first DCID, taken from the token, and @hd's DCID the one our Retry gave it. */
static gboolean
connection_start (MeshQuicConnection  *self,
                  const ngtcp2_pkt_hd *hd,
                  const ngtcp2_cid    *odcid,
                  GError             **error)
{
  MeshQuicEndpoint *endpoint = self->endpoint;
  ngtcp2_callbacks callbacks;
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  ngtcp2_path path = {
    { (ngtcp2_sockaddr *) &endpoint->local_address, endpoint->local_address_length },
    { (ngtcp2_sockaddr *) &self->remote_address, self->remote_address_length },
    NULL,
  };
  ngtcp2_cid scid, dcid;
  int rv;

  scid.datalen = CID_LENGTH;
  dcid.datalen = CID_LENGTH;
  if (!random_bytes (scid.data, scid.datalen) || !random_bytes (dcid.data, dcid.datalen)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "No randomness for QUIC IDs");
    return FALSE;
  }

  connection_callbacks (&callbacks, self->is_server);
  connection_settings (self, &settings, &params);
  if (self->is_server) {
    params.original_dcid = *odcid;
    params.retry_scid = hd->dcid;
    params.retry_scid_present = 1;
    settings.token = hd->token;
    rv = ngtcp2_conn_server_new (&self->conn, &hd->scid, &scid, &path, hd->version, &callbacks,
                                 &settings, &params, NULL, self);
  } else {
    rv = ngtcp2_conn_client_new (&self->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
                                 &callbacks, &settings, &params, NULL, self);
  }
  if (rv != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot create a QUIC connection: %s",
                 ngtcp2_strerror (rv));
    return FALSE;
  }
  /* Keep-alive at half the idle timeout: an idle but live peer stays connected, a vanished
   * one is noticed within about 1.5 timeouts. */
  ngtcp2_conn_set_keep_alive_timeout (self->conn, params.max_idle_timeout / 2);

  if (!connection_setup_tls (self, error))
    return FALSE;

  self->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (self->timer_fd < 0) {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "timerfd_create: %s",
                 g_strerror (saved));
    return FALSE;
  }
  self->timer_source = g_unix_fd_source_new (self->timer_fd, G_IO_IN);
  g_source_set_callback (self->timer_source, G_SOURCE_FUNC (on_timer), self, NULL);
  g_source_attach (self->timer_source, endpoint->context);

  g_hash_table_add (endpoint->connections, g_object_ref (self));
  connection_register_cid (self, &scid);
  if (self->is_server)
    connection_register_cid (self, &hd->dcid);
  return TRUE;
}

static void
connection_read (MeshQuicConnection    *self,
                 const guint8          *data,
                 gsize                  length,
                 const struct sockaddr *from,
                 socklen_t              from_length)
{
  MeshQuicEndpoint *endpoint = self->endpoint;
  ngtcp2_path path = {
    { (ngtcp2_sockaddr *) &endpoint->local_address, endpoint->local_address_length },
    { (ngtcp2_sockaddr *) from, from_length },
    NULL,
  };
  ngtcp2_pkt_info pi = { 0 };
  int rv;

  if (self->state == STATE_CLOSING) {
    /* Answer late packets with our CONNECTION_CLOSE, sparingly (1st, 2nd, 4th, 8th...). */
    self->packets_while_closing++;
    if (self->close_packet != NULL &&
        (self->packets_while_closing & (self->packets_while_closing - 1)) == 0)
      endpoint_send (endpoint, from, from_length, self->close_packet, self->close_packet_length,
                     self->close_packet_length, TRUE);
    return;
  }
  if (self->state != STATE_HANDSHAKE && self->state != STATE_OPEN)
    return;

  rv = ngtcp2_conn_read_pkt (self->conn, &path, &pi, data, length, timestamp_now ());
  if (rv != 0)
    connection_fail (self, rv);
}

/* Connection: GObject */

static void
mesh_quic_connection_finalize (GObject *object)
{
  MeshQuicConnection *self = MESH_QUIC_CONNECTION (object);

  /* The endpoint owns us until connection_destroy(), so everything ngtcp2 is gone already. */
  g_assert (self->conn == NULL);
  g_clear_pointer (&self->streams, g_hash_table_unref);
  g_clear_pointer (&self->finished_streams, g_ptr_array_unref);
  g_clear_pointer (&self->cids, g_array_unref);
  g_clear_pointer (&self->pinned_fingerprint, g_free);
  g_clear_pointer (&self->peer_fingerprint, g_free);
  g_clear_pointer (&self->close_packet, g_free);
  g_clear_error (&self->verify_error);
  g_clear_error (&self->close_error);

  G_OBJECT_CLASS (mesh_quic_connection_parent_class)->finalize (object);
}

static void
mesh_quic_connection_class_init (MeshQuicConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_quic_connection_finalize;

  /**
   * MeshQuicConnection::new-stream:
   * @stream: a stream the peer opened
   *
   * Keep a reference to @stream to use it.
   */
  connection_signals[CONNECTION_NEW_STREAM] =
    g_signal_new ("new-stream", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, MESH_TYPE_QUIC_STREAM);

  /**
   * MeshQuicConnection::closed:
   * @error: why: G_IO_ERROR_CLOSED (closed locally), G_IO_ERROR_CONNECTION_CLOSED (the peer
   *   closed), G_IO_ERROR_TIMED_OUT (peer vanished), or a G_TLS_ERROR (authentication)
   *
   * Emitted once; every stream operation pending at that time fails.
   */
  connection_signals[CONNECTION_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
mesh_quic_connection_init (MeshQuicConnection *self)
{
  self->timer_fd = -1;
  self->timer_armed = UINT64_MAX;
  self->cids = g_array_new (FALSE, FALSE, sizeof (ngtcp2_cid));
  self->streams = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->finished_streams = g_ptr_array_new_with_free_func (g_object_unref);
}

/* Endpoint: receiving */

/* Two addresses are the same source when their IPs are, whatever the ports. */
static gboolean
same_host (const struct sockaddr_storage *a,
           const struct sockaddr_storage *b)
{
  if (a->ss_family != b->ss_family)
    return FALSE;
  if (a->ss_family == AF_INET6)
    return memcmp (&((const struct sockaddr_in6 *) a)->sin6_addr,
                   &((const struct sockaddr_in6 *) b)->sin6_addr, sizeof (struct in6_addr)) == 0;
  return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
         ((const struct sockaddr_in *) b)->sin_addr.s_addr;
}

/* Whether one more validated client from @from may start a handshake. */
static gboolean
endpoint_may_start_handshake (MeshQuicEndpoint      *self,
                              const struct sockaddr *from,
                              socklen_t              from_length)
{
  struct sockaddr_storage source = { 0 };
  guint total = 0, same = 0;
  GHashTableIter iter;
  gpointer key;

  if (g_hash_table_size (self->connections) >= MAX_CONNECTIONS)
    return FALSE;
  memcpy (&source, from, MIN ((gsize) from_length, sizeof source));
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    MeshQuicConnection *connection = key;

    if (!connection->is_server || connection->state != STATE_HANDSHAKE)
      continue;
    total++;
    if (same_host (&connection->remote_address, &source))
      same++;
  }
  return total < MAX_HANDSHAKES && same < MAX_HANDSHAKES_PER_ADDRESS;
}

/* Answers an Initial without a token: a Retry carries a token only the address it was sent to
 * can bring back.  Nothing is kept. */
static void
endpoint_send_retry (MeshQuicEndpoint      *self,
                     const ngtcp2_pkt_hd   *hd,
                     gsize                  length,
                     const struct sockaddr *from,
                     socklen_t              from_length)
{
  guint8 token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  guint8 packet[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  ngtcp2_ssize token_length, n;
  ngtcp2_cid scid;

  scid.datalen = CID_LENGTH;
  if (!random_bytes (scid.data, scid.datalen))
    return;
  token_length = ngtcp2_crypto_generate_retry_token (token, self->token_secret,
                                                     sizeof self->token_secret, hd->version,
                                                     (const ngtcp2_sockaddr *) from, from_length,
                                                     &scid, &hd->dcid, timestamp_now ());
  if (token_length < 0)
    return;
  /* Never more than the Initial itself: no amplification towards a spoofed address. */
  n = ngtcp2_crypto_write_retry (packet, MIN (sizeof packet, length), hd->version, &hd->scid,
                                 &scid, &hd->dcid, token, (gsize) token_length);
  if (n <= 0)
    return;
  self->retries_sent++;
  endpoint_send (self, from, from_length, packet, (gsize) n, (gsize) n, FALSE);
}

static void
endpoint_send_stateless_close (MeshQuicEndpoint      *self,
                               const ngtcp2_pkt_hd   *hd,
                               guint64                code,
                               const struct sockaddr *from,
                               socklen_t              from_length)
{
  guint8 packet[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  ngtcp2_ssize n;

  n = ngtcp2_crypto_write_connection_close (packet, sizeof packet, hd->version, &hd->scid,
                                            &hd->dcid, code, NULL, 0);
  if (n > 0)
    endpoint_send (self, from, from_length, packet, (gsize) n, (gsize) n, FALSE);
}

static MeshQuicConnection *
endpoint_accept (MeshQuicEndpoint      *self,
                 const guint8          *data,
                 gsize                  length,
                 const struct sockaddr *from,
                 socklen_t              from_length)
{
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  ngtcp2_pkt_hd hd;
  ngtcp2_cid odcid;

  /* Only a full-size Initial qualifies (0-RTT or garbage do not). */
  if (ngtcp2_accept (&hd, data, length) != 0 || hd.type != NGTCP2_PKT_INITIAL)
    return NULL;

  if (hd.token.len == 0) {
    endpoint_send_retry (self, &hd, length, from, from_length);
    return NULL;
  }
  if (hd.token.base[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY ||
      ngtcp2_crypto_verify_retry_token (&odcid, hd.token.base, hd.token.len, self->token_secret,
                                        sizeof self->token_secret, hd.version,
                                        (const ngtcp2_sockaddr *) from, from_length, &hd.dcid,
                                        RETRY_TOKEN_TIMEOUT, timestamp_now ()) != 0) {
    /* A client accepts one Retry only: tell it at once instead of letting it time out. */
    g_debug ("Refused a QUIC Initial with an invalid or expired token");
    endpoint_send_stateless_close (self, &hd, NGTCP2_INVALID_TOKEN, from, from_length);
    return NULL;
  }
  if (!endpoint_may_start_handshake (self, from, from_length)) {
    g_debug ("Refused a QUIC connection: too many handshakes in progress");
    endpoint_send_stateless_close (self, &hd, NGTCP2_CONNECTION_REFUSED, from, from_length);
    return NULL;
  }

  connection = connection_new (self, TRUE, from, from_length);
  if (!connection_start (connection, &hd, &odcid, &error)) {
    g_debug ("Cannot accept a QUIC connection: %s", error->message);
    connection->state = STATE_DEAD;
    connection_destroy (connection);
    return NULL;
  }
  return connection;  /* owned by self->connections */
}

static void
endpoint_handle_datagram (MeshQuicEndpoint      *self,
                          const guint8          *data,
                          gsize                  length,
                          const struct sockaddr *from,
                          socklen_t              from_length,
                          GPtrArray             *touched)
{
  ngtcp2_version_cid vc;
  ngtcp2_cid dcid;
  MeshQuicConnection *connection;

  if (ngtcp2_pkt_decode_version_cid (&vc, data, length, CID_LENGTH) != 0)
    return;
  ngtcp2_cid_init (&dcid, vc.dcid, vc.dcidlen);
  connection = g_hash_table_lookup (self->cids, &dcid);
  if (connection == NULL) {
    if ((data[0] & 0x80) == 0)
      return;
    connection = endpoint_accept (self, data, length, from, from_length);
    if (connection == NULL)
      return;
  }

  connection_read (connection, data, length, from, from_length);
  if (!connection->touched) {
    connection->touched = TRUE;
    g_ptr_array_add (touched, g_object_ref (connection));
  }
}

static gboolean
on_socket_readable (int          fd,
                    GIOCondition condition,
                    gpointer     user_data)
{
  MeshQuicEndpoint *self = user_data;
  g_autoptr(MeshQuicEndpoint) hold = g_object_ref (self);
  g_autoptr(GPtrArray) touched = g_ptr_array_new_with_free_func (g_object_unref);

  /* Bounded, so the ACKs and data this batch calls for leave before we read more. */
  for (guint i = 0; i < RECV_BATCH && self->fd >= 0; i++) {
    struct sockaddr_storage from;
    union {
      char           buffer[CMSG_SPACE (sizeof (int))];
      struct cmsghdr align;
    } control;
    struct iovec iov = { self->recv_buffer, RECV_BUFFER_SIZE };
    struct msghdr msg = { 0 };
    struct cmsghdr *cmsg;
    gsize segment;
    ssize_t n;

    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buffer;
    msg.msg_controllen = sizeof control.buffer;

    n = recvmsg (self->fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        g_debug ("recvmsg: %s", g_strerror (errno));
      break;
    }

    segment = (gsize) n;
    for (cmsg = CMSG_FIRSTHDR (&msg); cmsg != NULL; cmsg = CMSG_NXTHDR (&msg, cmsg)) {
      if (cmsg->cmsg_level == SOL_UDP && cmsg->cmsg_type == UDP_GRO) {
        int gro_size;

        memcpy (&gro_size, CMSG_DATA (cmsg), sizeof gro_size);
        if (gro_size > 0)
          segment = (gsize) gro_size;
      }
    }

    for (gsize offset = 0; offset < (gsize) n && self->fd >= 0; offset += segment)
      endpoint_handle_datagram (self, self->recv_buffer + offset,
                                MIN (segment, (gsize) n - offset), (struct sockaddr *) &from,
                                msg.msg_namelen, touched);
  }

  for (guint i = 0; i < touched->len; i++) {
    MeshQuicConnection *connection = touched->pdata[i];

    connection->touched = FALSE;
    connection_process (connection);
  }
  return G_SOURCE_CONTINUE;
}

/* The endpoint's connections, each referenced, so the caller may destroy them as it walks. */
static GPtrArray *
endpoint_list_connections (MeshQuicEndpoint *self)
{
  GPtrArray *connections = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (connections, g_object_ref (key));
  return connections;
}

static void
endpoint_resume_writers (MeshQuicEndpoint *self)
{
  g_autoptr(GPtrArray) connections = endpoint_list_connections (self);

  for (guint i = 0; i < connections->len && self->parked.length == 0; i++)
    connection_write (connections->pdata[i]);
}

/* Endpoint: socket */

static void
set_buffer_size (int fd,
                 int force_option,
                 int option,
                 const char *name)
{
  int size = SOCKET_BUFFER_SIZE;
  socklen_t length = sizeof size;

  /* The FORCE variant ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN. */
  if (setsockopt (fd, SOL_SOCKET, force_option, &size, sizeof size) != 0)
    setsockopt (fd, SOL_SOCKET, option, &size, sizeof size);
  if (getsockopt (fd, SOL_SOCKET, option, &size, &length) == 0)
    g_debug ("UDP %s: %d bytes%s", name, size,
             size < SOCKET_BUFFER_SIZE ? " (capped by net.core; expect drops at high rates)" : "");
}

static gboolean
endpoint_open_socket (MeshQuicEndpoint    *self,
                      GInetSocketAddress  *bind_address,
                      GError             **error)
{
  struct sockaddr_storage address;
  socklen_t length;
  int family, one = 1, zero = 0, value;
  socklen_t value_length = sizeof value;

  if (!g_socket_address_to_native (G_SOCKET_ADDRESS (bind_address), &address, sizeof address,
                                   error))
    return FALSE;
  family = address.ss_family;
  length = family == AF_INET6 ? sizeof (struct sockaddr_in6) : sizeof (struct sockaddr_in);

  self->fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (self->fd < 0) {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot open a UDP socket: %s",
                 g_strerror (saved));
    return FALSE;
  }

  if (family == AF_INET6) {
    int pmtu = IPV6_PMTUDISC_DO;

    /* A wildcard IPv6 socket also serves IPv4 peers (as v4-mapped addresses). */
    setsockopt (self->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt (self->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
  }
  {
    /* QUIC packets must not be fragmented (RFC 9000 §14). */
    int pmtu = IP_PMTUDISC_DO;

    setsockopt (self->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  }
  set_buffer_size (self->fd, SO_RCVBUFFORCE, SO_RCVBUF, "receive buffer");
  set_buffer_size (self->fd, SO_SNDBUFFORCE, SO_SNDBUF, "send buffer");

  if (bind (self->fd, (struct sockaddr *) &address, length) != 0) {
    int saved = errno;
    g_autofree char *text = g_inet_address_to_string (
      g_inet_socket_address_get_address (bind_address));
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot bind UDP [%s]:%u: %s",
                 text, g_inet_socket_address_get_port (bind_address), g_strerror (saved));
    return FALSE;
  }
  self->local_address_length = sizeof self->local_address;
  if (getsockname (self->fd, (struct sockaddr *) &self->local_address,
                   &self->local_address_length) != 0) {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "getsockname: %s",
                 g_strerror (saved));
    return FALSE;
  }

  self->gro = setsockopt (self->fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  self->gso = getsockopt (self->fd, SOL_UDP, UDP_SEGMENT, &value, &value_length) == 0;
  g_debug ("QUIC endpoint on UDP port %u: GSO %s, GRO %s", mesh_quic_endpoint_get_port (self),
           self->gso ? "on" : "off", self->gro ? "on" : "off");

  self->read_source = g_unix_fd_source_new (self->fd, G_IO_IN);
  g_source_set_callback (self->read_source, G_SOURCE_FUNC (on_socket_readable), self, NULL);
  g_source_attach (self->read_source, self->context);
  return TRUE;
}

/* Endpoint: GObject */

static void
mesh_quic_endpoint_dispose (GObject *object)
{
  MeshQuicEndpoint *self = MESH_QUIC_ENDPOINT (object);

  mesh_quic_endpoint_shutdown (self);
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (mesh_quic_endpoint_parent_class)->dispose (object);
}

static void
mesh_quic_endpoint_finalize (GObject *object)
{
  MeshQuicEndpoint *self = MESH_QUIC_ENDPOINT (object);

  g_clear_pointer (&self->credentials, gnutls_certificate_free_credentials);
  g_clear_pointer (&self->cids, g_hash_table_unref);
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_pointer (&self->expected_peers, g_hash_table_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->recv_buffer, g_free);
  g_clear_pointer (&self->send_buffer, g_free);

  G_OBJECT_CLASS (mesh_quic_endpoint_parent_class)->finalize (object);
}

static void
mesh_quic_endpoint_class_init (MeshQuicEndpointClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_quic_endpoint_dispose;
  object_class->finalize = mesh_quic_endpoint_finalize;

  /**
   * MeshQuicEndpoint::incoming-connection:
   * @connection: an authenticated connection from an expected peer
   *
   * Emitted once the handshake with a client whose certificate fingerprint was registered
   * with mesh_quic_endpoint_expect_peer() is confirmed.  Its streams arrive through
   * MeshQuicConnection::new-stream.
   */
  endpoint_signals[ENDPOINT_INCOMING_CONNECTION] =
    g_signal_new ("incoming-connection", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, MESH_TYPE_QUIC_CONNECTION);
}

static void
mesh_quic_endpoint_init (MeshQuicEndpoint *self)
{
  self->fd = -1;
  self->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
  self->cids = g_hash_table_new_full (cid_hash, cid_equal, g_free, NULL);
  self->connections = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  self->expected_peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->recv_buffer = g_malloc (RECV_BUFFER_SIZE);
  self->send_buffer = g_malloc (SEND_BATCH_BYTES + NGTCP2_MAX_UDP_PAYLOAD_SIZE);
  if (!random_bytes (self->token_secret, sizeof self->token_secret))
    g_error ("The system random generator failed");
}

/**
 * mesh_quic_endpoint_new:
 * @identity: this agent's identity, presented to every peer
 * @bind_address: where to listen, e.g. 0.0.0.0 or :: (IPv4 and IPv6); port 0 picks one
 * @error: return location for an error
 *
 * Creates an endpoint running on the calling thread's thread-default main context.
 */
MeshQuicEndpoint *
mesh_quic_endpoint_new (MeshAgentIdentity   *identity,
                        GInetSocketAddress  *bind_address,
                        GError             **error)
{
  g_autoptr(MeshQuicEndpoint) self = NULL;

  g_return_val_if_fail (MESH_IS_AGENT_IDENTITY (identity), NULL);
  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (bind_address), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MESH_TYPE_QUIC_ENDPOINT, NULL);
  self->identity = g_object_ref (identity);
  self->context = g_main_context_ref_thread_default ();
  self->credentials = mesh_agent_identity_new_credentials (identity, error);
  if (self->credentials == NULL)
    return NULL;
  gnutls_certificate_set_verify_function (self->credentials, verify_peer);

  if (!endpoint_open_socket (self, bind_address, error))
    return NULL;
  return g_steal_pointer (&self);
}

guint16
mesh_quic_endpoint_get_port (MeshQuicEndpoint *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_ENDPOINT (self), 0);

  if (self->local_address.ss_family == AF_INET6)
    return g_ntohs (((struct sockaddr_in6 *) &self->local_address)->sin6_port);
  return g_ntohs (((struct sockaddr_in *) &self->local_address)->sin_port);
}

/**
 * mesh_quic_endpoint_get_local_address:
 *
 * Returns: (transfer full): the bound address, with the real port
 */
GInetSocketAddress *
mesh_quic_endpoint_get_local_address (MeshQuicEndpoint *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_ENDPOINT (self), NULL);

  return G_INET_SOCKET_ADDRESS (g_socket_address_new_from_native (&self->local_address,
                                                                  self->local_address_length));
}

MeshAgentIdentity *
mesh_quic_endpoint_get_identity (MeshQuicEndpoint *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_ENDPOINT (self), NULL);

  return self->identity;
}

/**
 * mesh_quic_endpoint_expect_peer:
 * @fingerprint: a client certificate fingerprint (64 lower-case hex characters)
 *
 * Lets clients presenting this certificate connect.  Counted: each call needs its own
 * mesh_quic_endpoint_forget_peer(), so two sessions with the same peer do not interfere.
 */
void
mesh_quic_endpoint_expect_peer (MeshQuicEndpoint *self,
                                const char       *fingerprint)
{
  guint count;

  g_return_if_fail (MESH_IS_QUIC_ENDPOINT (self));
  g_return_if_fail (mesh_fingerprint_is_valid (fingerprint));

  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->expected_peers, fingerprint));
  g_hash_table_replace (self->expected_peers, g_strdup (fingerprint), GUINT_TO_POINTER (count + 1));
}

/* Undoes one mesh_quic_endpoint_expect_peer(); established connections stay up. */
void
mesh_quic_endpoint_forget_peer (MeshQuicEndpoint *self,
                                const char       *fingerprint)
{
  guint count;

  g_return_if_fail (MESH_IS_QUIC_ENDPOINT (self));
  g_return_if_fail (fingerprint != NULL);

  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->expected_peers, fingerprint));
  if (count <= 1)
    g_hash_table_remove (self->expected_peers, fingerprint);
  else
    g_hash_table_replace (self->expected_peers, g_strdup (fingerprint),
                          GUINT_TO_POINTER (count - 1));
}

/* Applies to connections created afterwards; default 30 s.  Keep-alive runs at half of it. */
void
mesh_quic_endpoint_set_idle_timeout (MeshQuicEndpoint *self,
                                     guint             timeout_ms)
{
  g_return_if_fail (MESH_IS_QUIC_ENDPOINT (self));
  g_return_if_fail (timeout_ms > 0);

  self->idle_timeout_ms = timeout_ms;
}

guint
mesh_quic_endpoint_get_idle_timeout (MeshQuicEndpoint *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_ENDPOINT (self), 0);

  return self->idle_timeout_ms;
}

static gboolean
on_connect_cancelled (GCancellable *cancellable,
                      gpointer      user_data)
{
  MeshQuicConnection *self = user_data;
  ngtcp2_connection_close_error ccerr;

  g_clear_pointer (&self->cancel_source, g_source_unref);
  if (self->connect_task != NULL) {
    ngtcp2_connection_close_error_set_application_error (&ccerr, 0, NULL, 0);
    connection_close_with (self, &ccerr,
                           g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                "The QUIC connection attempt was cancelled"));
  }
  return G_SOURCE_REMOVE;
}

/**
 * mesh_quic_endpoint_connect_async:
 * @remote: the server's UDP address
 * @pinned_fingerprint: the SHA-256 fingerprint the server's certificate must have
 *
 * Connects as a QUIC client.  Completes once the handshake is confirmed — the server has
 * accepted our certificate too — and the server's fingerprint equals the pin.
 */
void
mesh_quic_endpoint_connect_async (MeshQuicEndpoint    *self,
                                  GSocketAddress      *remote,
                                  const char          *pinned_fingerprint,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  struct sockaddr_storage address;
  socklen_t length;

  g_return_if_fail (MESH_IS_QUIC_ENDPOINT (self));
  g_return_if_fail (G_IS_INET_SOCKET_ADDRESS (remote));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_quic_endpoint_connect_async);

  if (!mesh_fingerprint_is_valid (pinned_fingerprint)) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "Invalid certificate fingerprint to pin: %s",
                             pinned_fingerprint != NULL ? pinned_fingerprint : "(none)");
    return;
  }
  if (self->fd < 0) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "The QUIC endpoint is shut down");
    return;
  }
  if (!g_socket_address_to_native (remote, &address, sizeof address, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  length = address.ss_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                         : sizeof (struct sockaddr_in);
  if (address.ss_family != self->local_address.ss_family) {
    if (address.ss_family == AF_INET && self->local_address.ss_family == AF_INET6) {
      /* Reach an IPv4 peer from a dual-stack socket through its v4-mapped address. */
      struct sockaddr_in v4;
      struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &address;

      memcpy (&v4, &address, sizeof v4);
      memset (v6, 0, sizeof *v6);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = v4.sin_port;
      v6->sin6_addr.s6_addr[10] = 0xff;
      v6->sin6_addr.s6_addr[11] = 0xff;
      memcpy (&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
      length = sizeof *v6;
    } else {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "This QUIC endpoint is IPv4-only and cannot reach an IPv6 peer");
      return;
    }
  }

  connection = connection_new (self, FALSE, (struct sockaddr *) &address, length);
  connection->pinned_fingerprint = g_strdup (pinned_fingerprint);
  if (!connection_start (connection, NULL, NULL, &error)) {
    connection->state = STATE_DEAD;
    connection_destroy (connection);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  connection->connect_task = g_steal_pointer (&task);
  if (cancellable != NULL) {
    connection->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (connection->cancel_source, G_SOURCE_FUNC (on_connect_cancelled),
                           connection, NULL);
    g_source_attach (connection->cancel_source, self->context);
  }
  connection_write (connection);
}

/**
 * mesh_quic_endpoint_connect_finish:
 *
 * Returns: (transfer full): the confirmed connection, or %NULL with @error set: a
 *   G_TLS_ERROR_BAD_CERTIFICATE when the server's fingerprint differs from the pin or the
 *   server refused our certificate, G_IO_ERROR_TIMED_OUT when nobody answered
 */
MeshQuicConnection *
mesh_quic_endpoint_connect_finish (MeshQuicEndpoint  *self,
                                   GAsyncResult      *result,
                                   GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mesh_quic_endpoint_shutdown:
 *
 * Closes every connection (the peers get CONNECTION_CLOSE) and the socket.  Also done when
 * the endpoint is disposed.
 */
void
mesh_quic_endpoint_shutdown (MeshQuicEndpoint *self)
{
  g_autoptr(GPtrArray) connections = NULL;

  g_return_if_fail (MESH_IS_QUIC_ENDPOINT (self));

  g_object_ref (self);
  if (self->connections != NULL) {
    connections = endpoint_list_connections (self);

    for (guint i = 0; i < connections->len; i++) {
      MeshQuicConnection *connection = connections->pdata[i];
      ngtcp2_connection_close_error ccerr;

      ngtcp2_connection_close_error_set_application_error (&ccerr, 0,
                                                           (const uint8_t *) "shutting down", 13);
      connection_close_with (connection, &ccerr,
                             g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                  "The QUIC endpoint shut down"));
      connection_destroy (connection);
    }
  }

  if (self->read_source != NULL) {
    g_source_destroy (self->read_source);
    g_clear_pointer (&self->read_source, g_source_unref);
  }
  if (self->write_source != NULL) {
    g_source_destroy (self->write_source);
    g_clear_pointer (&self->write_source, g_source_unref);
  }
  g_queue_clear_full (&self->parked, g_free);
  if (self->fd >= 0) {
    close (self->fd);
    self->fd = -1;
  }
  g_object_unref (self);
}

/* Connection: public API */

/**
 * mesh_quic_connection_open_stream:
 *
 * Opens a bidirectional stream.  The peer learns of it with the first bytes or FIN.
 *
 * Returns: (transfer full): the stream, or %NULL with G_IO_ERROR_CLOSED (connection over),
 *   G_IO_ERROR_NOT_CONNECTED (handshake not done) or G_IO_ERROR_BUSY (peer's stream limit)
 */
MeshQuicStream *
mesh_quic_connection_open_stream (MeshQuicConnection  *self,
                                  GError             **error)
{
  MeshQuicStream *stream;
  int64_t stream_id;
  int rv;

  g_return_val_if_fail (MESH_IS_QUIC_CONNECTION (self), NULL);

  if (self->state == STATE_HANDSHAKE) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                         "The QUIC handshake is not finished");
    return NULL;
  }
  if (self->state != STATE_OPEN) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "The QUIC connection is closed: %s",
                 self->close_error != NULL ? self->close_error->message : "closed");
    return NULL;
  }

  rv = ngtcp2_conn_open_bidi_stream (self->conn, &stream_id, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                         "The peer allows no more QUIC streams for now");
    return NULL;
  }
  if (rv != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot open a QUIC stream: %s",
                 ngtcp2_strerror (rv));
    return NULL;
  }

  stream = _mesh_quic_stream_new (self, stream_id);
  ngtcp2_conn_set_stream_user_data (self->conn, stream_id, stream);
  g_hash_table_insert (self->streams, g_memdup2 (&stream_id, sizeof stream_id), stream);
  return g_object_ref (stream);
}

/* The SHA-256 fingerprint of the peer's certificate, once the handshake verified it. */
const char *
mesh_quic_connection_get_peer_fingerprint (MeshQuicConnection *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_CONNECTION (self), NULL);

  return self->peer_fingerprint;
}

/**
 * mesh_quic_connection_get_remote_address:
 *
 * Returns: (transfer full): the peer's address at connection time
 */
GInetSocketAddress *
mesh_quic_connection_get_remote_address (MeshQuicConnection *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_CONNECTION (self), NULL);

  return G_INET_SOCKET_ADDRESS (g_socket_address_new_from_native (&self->remote_address,
                                                                  self->remote_address_length));
}

gboolean
mesh_quic_connection_is_server (MeshQuicConnection *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_CONNECTION (self), FALSE);

  return self->is_server;
}

gboolean
mesh_quic_connection_is_closed (MeshQuicConnection *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_CONNECTION (self), TRUE);

  return self->state != STATE_HANDSHAKE && self->state != STATE_OPEN;
}

/**
 * mesh_quic_connection_close:
 * @app_error_code: 0 for a normal close
 * @reason: (nullable): a short text for the peer's logs
 *
 * Closes at once: bytes not yet acknowledged are lost, so close stream outputs with
 * g_output_stream_close_async() first when they matter.  Emits "closed" with
 * G_IO_ERROR_CLOSED.
 */
void
mesh_quic_connection_close (MeshQuicConnection *self,
                            guint64             app_error_code,
                            const char         *reason)
{
  ngtcp2_connection_close_error ccerr;

  g_return_if_fail (MESH_IS_QUIC_CONNECTION (self));

  if (self->state != STATE_HANDSHAKE && self->state != STATE_OPEN)
    return;
  ngtcp2_connection_close_error_set_application_error (&ccerr, app_error_code,
                                                       (const uint8_t *) reason,
                                                       reason != NULL ? strlen (reason) : 0);
  connection_close_with (self, &ccerr,
                         g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                              "The QUIC connection was closed locally"));
}

/* Connection: internal API for MeshQuicStream */

static gboolean
connection_is_live (MeshQuicConnection *self)
{
  return (self->state == STATE_HANDSHAKE || self->state == STATE_OPEN) && self->conn != NULL;
}

void
_mesh_quic_connection_stream_send_ready (MeshQuicConnection *self,
                                         MeshQuicStream     *stream)
{
  if (!connection_is_live (self))
    return;
  if (g_queue_find (&self->send_queue, stream) == NULL)
    g_queue_push_tail (&self->send_queue, stream);
  connection_schedule_process (self);
}

void
_mesh_quic_connection_stream_consumed (MeshQuicConnection *self,
                                       MeshQuicStream     *stream,
                                       gsize               n_bytes)
{
  if (!connection_is_live (self))
    return;
  ngtcp2_conn_extend_max_stream_offset (self->conn, mesh_quic_stream_get_id (stream), n_bytes);
  ngtcp2_conn_extend_max_offset (self->conn, n_bytes);
  connection_schedule_process (self);
}

void
_mesh_quic_connection_stream_stop_reading (MeshQuicConnection *self,
                                           MeshQuicStream     *stream,
                                           guint64             app_error_code)
{
  if (!connection_is_live (self))
    return;
  ngtcp2_conn_shutdown_stream_read (self->conn, mesh_quic_stream_get_id (stream), app_error_code);
  connection_schedule_process (self);
}

void
_mesh_quic_connection_stream_abort (MeshQuicConnection *self,
                                    MeshQuicStream     *stream,
                                    guint64             app_error_code)
{
  if (!connection_is_live (self))
    return;
  ngtcp2_conn_shutdown_stream (self->conn, mesh_quic_stream_get_id (stream), app_error_code);
  g_queue_remove (&self->send_queue, stream);
  connection_schedule_process (self);
}

/* < private > For tests: connections in the table (any role, any state), and how many Retry
 * packets were sent. */
guint
_mesh_quic_endpoint_get_n_connections (MeshQuicEndpoint *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_ENDPOINT (self), 0);

  return g_hash_table_size (self->connections);
}

guint
_mesh_quic_endpoint_get_n_retries (MeshQuicEndpoint *self)
{
  g_return_val_if_fail (MESH_IS_QUIC_ENDPOINT (self), 0);

  return self->retries_sent;
}
