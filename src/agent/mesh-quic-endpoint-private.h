/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the QUIC endpoint (mesh-quic-endpoint.c: the socket, address
 * validation, routing packets), its connections (mesh-quic-connection.c;
 * mesh-quic-callbacks.c: the ngtcp2 callbacks and the GnuTLS session) and its
 * streams (mesh-quic-stream*.c) share and call in each other, and two
 * counters for tests.  Nothing else includes this. */

#include <ngtcp2/ngtcp2.h>

#include "mesh-quic-endpoint.h"
#include "mesh-quic-stream.h"

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

G_BEGIN_DECLS

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

enum {
  ENDPOINT_INCOMING_CONNECTION,
  N_ENDPOINT_SIGNALS
};

enum {
  CONNECTION_NEW_STREAM,
  CONNECTION_CLOSED,
  N_CONNECTION_SIGNALS
};

extern guint endpoint_signals[N_ENDPOINT_SIGNALS];
extern guint connection_signals[N_CONNECTION_SIGNALS];

ngtcp2_tstamp quic_timestamp_now (void);
gboolean quic_random_bytes (guint8 *data,
                            gsize length);
gboolean quic_endpoint_send (MeshQuicEndpoint *self,
                             const struct sockaddr *to,
                             socklen_t to_length,
                             const guint8 *data,
                             gsize length,
                             gsize segment_size,
                             gboolean may_park);
gboolean quic_on_socket_writable (int fd,
                                  GIOCondition condition,
                                  gpointer user_data);
void quic_connection_destroy (MeshQuicConnection *self);
void quic_connection_close_with (MeshQuicConnection *self,
                                 const ngtcp2_connection_close_error *ccerr,
                                 GError *error);
void quic_connection_write (MeshQuicConnection *self);
void quic_connection_process (MeshQuicConnection *self);
/* mesh-quic-callbacks.c */
int quic_verify_peer (gnutls_session_t session);
void connection_callbacks (ngtcp2_callbacks *callbacks,
                           gboolean is_server);
void connection_settings (MeshQuicConnection *self,
                          ngtcp2_settings *settings,
                          ngtcp2_transport_params *params);
gboolean connection_setup_tls (MeshQuicConnection *self,
                               GError **error);
/* mesh-quic-connection.c */
void connection_register_cid (MeshQuicConnection *self,
                              const ngtcp2_cid *cid);
void connection_unregister_cid (MeshQuicConnection *self,
                                const ngtcp2_cid *cid);
MeshQuicConnection * quic_connection_new (MeshQuicEndpoint *endpoint,
                                          gboolean is_server,
                                          const struct sockaddr *remote,
                                          socklen_t remote_length);
gboolean quic_connection_start (MeshQuicConnection *self,
                                const ngtcp2_pkt_hd *hd,
                                const ngtcp2_cid *odcid,
                                GError **error);
void quic_connection_read (MeshQuicConnection *self,
                           const guint8 *data,
                           gsize length,
                           const struct sockaddr *from,
                           socklen_t from_length);

/* For tests. */
guint _mesh_quic_endpoint_get_n_connections (MeshQuicEndpoint *self);
guint _mesh_quic_endpoint_get_n_retries     (MeshQuicEndpoint *self);

/* Called by MeshQuicStream only, never from inside an ngtcp2 callback. */
void _mesh_quic_connection_stream_send_ready   (MeshQuicConnection *self,
                                                MeshQuicStream     *stream);
void _mesh_quic_connection_stream_consumed     (MeshQuicConnection *self,
                                                MeshQuicStream     *stream,
                                                gsize               n_bytes);
void _mesh_quic_connection_stream_stop_reading (MeshQuicConnection *self,
                                                MeshQuicStream     *stream,
                                                guint64             app_error_code);
void _mesh_quic_connection_stream_abort        (MeshQuicConnection *self,
                                                MeshQuicStream     *stream,
                                                guint64             app_error_code);

/* How many vectors _mesh_quic_stream_peek_unsent() fills at most. */
#define MESH_QUIC_STREAM_MAX_VECS 16

/* Called by MeshQuicConnection (mesh-quic-connection.c) only, on the endpoint's
 * thread and never from inside an ngtcp2 callback unless noted "callback-safe". */
MeshQuicStream *_mesh_quic_stream_new            (MeshQuicConnection *connection,
                                                  gint64              stream_id);
/* Unsent bytes (up to MESH_QUIC_STREAM_MAX_VECS segments) and whether FIN is due. */
gsize           _mesh_quic_stream_peek_unsent    (MeshQuicStream     *self,
                                                  ngtcp2_vec          vec[MESH_QUIC_STREAM_MAX_VECS],
                                                  gsize              *n_vec,
                                                  gboolean           *fin);
/* callback-safe from here on */
void            _mesh_quic_stream_mark_sent      (MeshQuicStream     *self,
                                                  gsize               n_bytes,
                                                  gboolean            fin);
void            _mesh_quic_stream_acked          (MeshQuicStream     *self,
                                                  guint64             offset,
                                                  guint64             length);
gboolean        _mesh_quic_stream_received       (MeshQuicStream     *self,
                                                  const guint8       *data,
                                                  gsize               length,
                                                  gboolean            fin);
void            _mesh_quic_stream_peer_reset     (MeshQuicStream     *self,
                                                  guint64             app_error_code);
void            _mesh_quic_stream_peer_stop_sending (MeshQuicStream  *self,
                                                  guint64             app_error_code);
void            _mesh_quic_stream_closed         (MeshQuicStream     *self,
                                                  gboolean            app_error_set,
                                                  guint64             app_error_code);
void            _mesh_quic_stream_detach         (MeshQuicStream     *self,
                                                  const GError       *error);
/* Completes pending reads, writes and closes that became possible; may run user callbacks. */
void            _mesh_quic_stream_dispatch       (MeshQuicStream     *self);

G_END_DECLS
