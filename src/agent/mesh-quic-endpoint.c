/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-quic"

#include "config.h"

#include "mesh-quic-endpoint-private.h"
#include "mesh-source.h"

guint endpoint_signals[N_ENDPOINT_SIGNALS];

G_DEFINE_FINAL_TYPE (MeshQuicEndpoint, mesh_quic_endpoint, G_TYPE_OBJECT)

static void endpoint_resume_writers (MeshQuicEndpoint *self);

ngtcp2_tstamp
quic_timestamp_now (void)
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

gboolean
quic_random_bytes (guint8 *data,
                   gsize   length)
{
  return gnutls_rnd (GNUTLS_RND_RANDOM, data, length) == 0;
}

/* Endpoint: sending */



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
    g_source_set_callback (self->write_source, G_SOURCE_FUNC (quic_on_socket_writable), self, NULL);
    mesh_source_keep_polled (self->write_source);
    g_source_attach (self->write_source, self->context);
  }
}

/* Sends @length bytes cut into @segment_size packets.  Returns FALSE when the socket is full:
 * the batch is then parked and sent before anything else once the socket drains. */
gboolean
quic_endpoint_send (MeshQuicEndpoint      *self,
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

        if (!quic_endpoint_send (self, to, to_length, data + offset, chunk, chunk, may_park))
          return FALSE;
      }
      return TRUE;
    }
    /* Unreachable networks and the like: QUIC treats it as loss and recovers or times out. */
    g_debug ("sendmsg: %s", g_strerror (errno));
    return TRUE;
  }
}

gboolean
quic_on_socket_writable (int          fd,
                         GIOCondition condition,
                         gpointer     user_data)
{
  MeshQuicEndpoint *self = user_data;
  ParkedBatch *batch;

  while ((batch = g_queue_peek_head (&self->parked)) != NULL) {
    if (!quic_endpoint_send (self, (struct sockaddr *) &batch->to, batch->to_length, batch->data,
                             batch->length, batch->segment_size, FALSE))
      return G_SOURCE_CONTINUE;
    g_free (g_queue_pop_head (&self->parked));
  }

  g_clear_pointer (&self->write_source, g_source_unref);
  endpoint_resume_writers (self);
  return G_SOURCE_REMOVE;
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
  if (!quic_random_bytes (scid.data, scid.datalen))
    return;
  token_length = ngtcp2_crypto_generate_retry_token (token, self->token_secret,
                                                     sizeof self->token_secret, hd->version,
                                                     (const ngtcp2_sockaddr *) from, from_length,
                                                     &scid, &hd->dcid, quic_timestamp_now ());
  if (token_length < 0)
    return;
  /* Never more than the Initial itself: no amplification towards a spoofed address. */
  n = ngtcp2_crypto_write_retry (packet, MIN (sizeof packet, length), hd->version, &hd->scid,
                                 &scid, &hd->dcid, token, (gsize) token_length);
  if (n <= 0)
    return;
  self->retries_sent++;
  quic_endpoint_send (self, from, from_length, packet, (gsize) n, (gsize) n, FALSE);
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
    quic_endpoint_send (self, from, from_length, packet, (gsize) n, (gsize) n, FALSE);
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
                                        RETRY_TOKEN_TIMEOUT, quic_timestamp_now ()) != 0) {
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

  connection = quic_connection_new (self, TRUE, from, from_length);
  if (!quic_connection_start (connection, &hd, &odcid, &error)) {
    g_debug ("Cannot accept a QUIC connection: %s", error->message);
    connection->state = STATE_DEAD;
    quic_connection_destroy (connection);
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

  quic_connection_read (connection, data, length, from, from_length);
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
    quic_connection_process (connection);
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
    quic_connection_write (connections->pdata[i]);
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
  mesh_source_keep_polled (self->read_source);
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
  if (!quic_random_bytes (self->token_secret, sizeof self->token_secret))
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
  gnutls_certificate_set_verify_function (self->credentials, quic_verify_peer);

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
    quic_connection_close_with (self, &ccerr,
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

  connection = quic_connection_new (self, FALSE, (struct sockaddr *) &address, length);
  connection->pinned_fingerprint = g_strdup (pinned_fingerprint);
  if (!quic_connection_start (connection, NULL, NULL, &error)) {
    connection->state = STATE_DEAD;
    quic_connection_destroy (connection);
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
  quic_connection_write (connection);
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
      quic_connection_close_with (connection, &ccerr,
                                  g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                  "The QUIC endpoint shut down"));
      quic_connection_destroy (connection);
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
