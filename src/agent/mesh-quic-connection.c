/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-quic"

#include "config.h"

#include "mesh-quic-endpoint-private.h"
#include "mesh-source.h"

guint connection_signals[N_CONNECTION_SIGNALS];

G_DEFINE_FINAL_TYPE (MeshQuicConnection, mesh_quic_connection, G_TYPE_OBJECT)


/* Connection: CIDs */

void
connection_register_cid (MeshQuicConnection *self,
                         const ngtcp2_cid   *cid)
{
  if (self->endpoint == NULL)
    return;
  g_array_append_val (self->cids, *cid);
  g_hash_table_replace (self->endpoint->cids, g_memdup2 (cid, sizeof *cid), self);
}

void
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

  /* ngtcp2's expiry moves with nearly every batch of packets (the ACK delay
   * comes and goes, the loss timer moves on).  A timer that fires before it
   * is needed costs one wake-up that finds nothing due and re-arms; moving
   * it costs a timerfd_settime() each time: about 1 200 for 64 MiB, against
   * a few dozen early wake-ups.  So it is moved only to fire sooner. */
  if (expiry >= self->timer_armed)
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


static gboolean
on_send_idle (gpointer user_data)
{
  MeshQuicConnection *self = user_data;

  g_clear_pointer (&self->send_source, g_source_unref);
  quic_connection_process (self);
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

void
quic_connection_destroy (MeshQuicConnection *self)
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
    quic_connection_destroy (self);
    return;
  }

  self->linger_deadline = quic_timestamp_now () + 3 * ngtcp2_conn_get_pto (self->conn);
  connection_arm_timer (self);
  connection_notify_closed (self);
}

/* Sends CONNECTION_CLOSE with @ccerr and lingers. */
void
quic_connection_close_with (MeshQuicConnection                  *self,
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
                                            quic_timestamp_now ());
    if (n > 0) {
      self->close_packet = g_memdup2 (packet, (gsize) n);
      self->close_packet_length = (gsize) n;
      quic_endpoint_send (self->endpoint, (struct sockaddr *) &self->remote_address,
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
    quic_connection_close_with (self, &ccerr, error);
    return;
  }

  default:
    ngtcp2_connection_close_error_set_transport_error_liberr (&ccerr, liberr, NULL, 0);
    quic_connection_close_with (self, &ccerr,
                                g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "QUIC error: %s",
                                        ngtcp2_strerror (liberr)));
    return;
  }
}

/* Connection: the write loop */

void
quic_connection_write (MeshQuicConnection *self)
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
  /* Parked batches go first; quic_on_socket_writable() calls us again. */
  if (endpoint->parked.length > 0)
    return;

  ts = quic_timestamp_now ();
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
      socket_full = !quic_endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
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
          quic_endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
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
      socket_full = !quic_endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
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
      socket_full = !quic_endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
                                         self->remote_address_length, buffer, offset, segment_size,
                                         TRUE) || socket_full;
      offset = n_segments = 0;
      if (socket_full || total >= quantum)
        break;
    }
  }

  if (offset > 0)
    quic_endpoint_send (endpoint, (struct sockaddr *) &self->remote_address,
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
void
quic_connection_process (MeshQuicConnection *self)
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

  quic_connection_write (self);
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
  self->timer_armed = UINT64_MAX;  /* a fired one-shot timerfd is disarmed */

  switch (self->state) {
  case STATE_CLOSING:
  case STATE_DRAINING:
    if (quic_timestamp_now () >= self->linger_deadline) {
      quic_connection_destroy (self);
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

  rv = ngtcp2_conn_handle_expiry (self->conn, quic_timestamp_now ());
  if (rv != 0) {
    connection_fail (self, rv);
    return self->state == STATE_DEAD ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
  }
  quic_connection_process (self);
  return G_SOURCE_CONTINUE;
}

/* Connection: construction */

MeshQuicConnection *
quic_connection_new (MeshQuicEndpoint      *endpoint,
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
gboolean
quic_connection_start (MeshQuicConnection  *self,
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
  if (!quic_random_bytes (scid.data, scid.datalen) ||
      !quic_random_bytes (dcid.data, dcid.datalen)) {
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
  mesh_source_keep_polled (self->timer_source);
  g_source_attach (self->timer_source, endpoint->context);

  g_hash_table_add (endpoint->connections, g_object_ref (self));
  connection_register_cid (self, &scid);
  if (self->is_server)
    connection_register_cid (self, &hd->dcid);
  return TRUE;
}

void
quic_connection_read (MeshQuicConnection    *self,
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
      quic_endpoint_send (endpoint, from, from_length, self->close_packet,
                          self->close_packet_length, self->close_packet_length, TRUE);
    return;
  }
  if (self->state != STATE_HANDSHAKE && self->state != STATE_OPEN)
    return;

  rv = ngtcp2_conn_read_pkt (self->conn, &path, &pi, data, length, quic_timestamp_now ());
  if (rv != 0)
    connection_fail (self, rv);
}

/* Connection: GObject */

static void
mesh_quic_connection_finalize (GObject *object)
{
  MeshQuicConnection *self = MESH_QUIC_CONNECTION (object);

  /* The endpoint owns us until quic_connection_destroy(), so everything ngtcp2 is gone already. */
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
  quic_connection_close_with (self, &ccerr,
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
