/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the hub's modules share: mesh-hub.c (connections, hello, the
 * handler table), mesh-hub-frames.c (frames built, cut and sent, errors),
 * mesh-hub-rooms.c (§3.2 rooms and presence, §3.3 chat),
 * mesh-hub-rtc.c (§3.4 call signalling), mesh-hub-p2p.c (§5 sessions) and
 * mesh-hub-terminal.c (§7 shares). */

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-hub.h"
#include "mesh-notify.h"

G_BEGIN_DECLS

typedef struct _HubPeer HubPeer;
typedef struct _HubRoom HubRoom;

struct _HubPeer {
  MeshHub    *hub;              /* borrowed: the hub owns the peer */
  MeshWsPeer *ws;
  char       *peer_id;
  char       *user_id;
  char       *username;
  char       *device_id;        /* set when the socket used a device token */
  char       *device_name;      /* the registered name, for agents */
  char       *credential;       /* SHA-256 (hex) of the bearer token the socket used */
  gboolean    is_agent;
  gboolean    hello_done;
  gboolean    transient;        /* an agent's one-off command (hello "transient") */
  const char *status;           /* a static string: "online", "busy", "sharing" */
  GPtrArray  *rooms;            /* HubRoom*, borrowed */
  gint64      last_rate_error;
  /* An agent's QUIC endpoint, from its system.hello (§3.1). */
  guint16     quic_port;
  char       *quic_fingerprint;
  GStrv       quic_addrs;
};

struct _HubRoom {
  char      *room_id;
  GPtrArray *peers;             /* HubPeer*, borrowed */
};

struct _MeshHub {
  GObject       parent_instance;

  MeshStore    *store;
  MeshCapKey   *cap_key;
  MeshWsLimits  limits;
  guint         hello_timeout_s;

  GHashTable   *peers;          /* peer_id → HubPeer (owned) */
  GHashTable   *devices;        /* device_id → HubPeer (borrowed) */
  GHashTable   *rooms;          /* room_id → HubRoom (owned) */
  GHashTable   *handlers;       /* type → HubHandler* (static) */
  GHashTable   *sessions;       /* session_id → HubSession (owned), mesh-hub-p2p.c */
  GHashTable   *shares;         /* share_id → HubShare (owned), mesh-hub-terminal.c */
  MeshNotifier *notifier;       /* §9; NULL: no notifications */
  guint         sweep_id;
  /* The frame being handled, as it came (peer_message_cb). */
  const char   *frame_data;
  gsize         frame_len;
};

typedef gboolean (*HubHandlerFunc) (MeshHub      *self,
                                    HubPeer      *peer,
                                    MeshEnvelope *env,
                                    GError      **error);

/* mesh-hub.c */
const char *hub_peer_wire_id        (HubPeer       *peer);
void        hub_room_send           (HubRoom       *room,
                                     GBytes        *frame,
                                     HubPeer       *except);
HubRoom    *hub_peer_find_room      (HubPeer       *peer,
                                     const char    *room_id);
HubRoom    *hub_require_joined_room (MeshHub       *self,
                                     HubPeer       *peer,
                                     JsonObject    *payload,
                                     const char   **room_id_out,
                                     GError       **error);
JsonObject *hub_member_json         (HubPeer       *member);

/* mesh-hub-frames.c: frames built and sent, errors */
GBytes     *hub_build_frame         (const char    *type,
                                     const char    *from,
                                     const char    *to,
                                     JsonObject    *payload);
void        hub_send_event          (HubPeer       *peer,
                                     const char    *type,
                                     JsonObject    *payload);
void        hub_send_error          (HubPeer       *peer,
                                     MeshErrorCode  code,
                                     const char    *message,
                                     const char    *ref);
void        hub_send_gerror         (HubPeer       *peer,
                                     const GError  *error,
                                     const char    *ref);

/* mesh-hub-frames.c: frames cut from the incoming text */
GBytes     *hub_build_frame_raw       (const char *type,
                                       const char *from,
                                       const char *to,
                                       const char *payload_json,
                                       gsize       payload_len);
const char *hub_object_end            (const char *open,
                                       const char *limit);
GString    *hub_payload_without_token (const char *data,
                                       gsize       len);

/* mesh-hub-rooms.c: §3.2 rooms and presence, §3.3 chat */
HubPeer    *hub_room_find_peer          (HubRoom *room, const char *peer_id);
void        hub_room_remove_peer        (MeshHub *self, HubRoom *room, HubPeer *peer);
GBytes     *hub_left_frame              (HubPeer *peer, HubRoom *room);
void        hub_send_to_room_mates      (HubPeer *peer, GBytes *frame);
GBytes     *hub_presence_frame          (HubPeer *peer);
gboolean    hub_handle_room_join        (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_room_leave       (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_presence_update  (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_chat_send        (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);

/* mesh-hub-rtc.c: §3.4 call signalling */
GString    *hub_cut_members       (const char *open, const char *end, GArray *spans);
gboolean    hub_fast_relay_ice    (MeshHub *self, HubPeer *peer, const char *data, gsize len);
gboolean    hub_handle_rtc        (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_rtc_hangup (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);

/* mesh-hub-p2p.c: §5 sessions */
void        hub_p2p_init             (MeshHub *self);
void        hub_p2p_peer_gone        (MeshHub *self, HubPeer *peer);
gboolean    hub_handle_p2p_request   (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_p2p_accept    (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_p2p_reject    (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_p2p_completed (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);

/* mesh-hub-terminal.c: §7 shares and control */
void        hub_terminal_init          (MeshHub *self);
void        hub_terminal_peer_gone     (MeshHub *self, HubPeer *peer);
gboolean    hub_terminal_peer_controls (MeshHub *self, const char *room_id, HubPeer *peer);
const char *hub_terminal_share_on_device (MeshHub *self, const char *room_id,
                                          const char *device_id, GError **error);
JsonArray  *hub_terminal_room_shares   (MeshHub *self, const char *room_id);
gboolean    hub_terminal_share_runs_on (MeshHub *self, const char *share_id, const char *room_id,
                                        const char *device_id);
gboolean    hub_handle_terminal_start  (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_terminal_stop   (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_control_take    (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_control_grant   (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_control_deny    (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);
gboolean    hub_handle_control_release (MeshHub *self, HubPeer *peer, MeshEnvelope *env, GError **error);

G_END_DECLS
