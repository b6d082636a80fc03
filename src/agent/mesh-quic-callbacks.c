/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-quic"

#include "config.h"

#include "mesh-quic-endpoint-private.h"

/* How a MeshQuicConnection is wired to ngtcp2 and GnuTLS: the ngtcp2 callbacks, certificate
 * pinning, the transport settings and the TLS session.  The callbacks only change state; what
 * the application sees happens later, in quic_connection_process() (mesh-quic-connection.c). */

/* ngtcp2 callbacks: state changes only; user-visible effects wait for quic_connection_process(). */

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
  if (!quic_random_bytes (dest, destlen))
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

  if (!quic_random_bytes (cid->data, cidlen) ||
      !quic_random_bytes (token, NGTCP2_STATELESS_RESET_TOKENLEN))
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
  /* Its last operations complete in quic_connection_process(), outside this callback. */
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

int
quic_verify_peer (gnutls_session_t session)
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

/* Connection: how it is wired to ngtcp2 and GnuTLS */

void
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

void
connection_settings (MeshQuicConnection      *self,
                     ngtcp2_settings         *settings,
                     ngtcp2_transport_params *params)
{
  ngtcp2_duration idle = (ngtcp2_duration) self->endpoint->idle_timeout_ms * NGTCP2_MILLISECONDS;

  ngtcp2_settings_default (settings);
  settings->initial_ts = quic_timestamp_now ();
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

gboolean
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
