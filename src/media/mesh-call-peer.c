/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-peer.h"
#include "mesh-media-private.h"

enum {
  PROP_0,
  PROP_PEER_ID,
  PROP_USERNAME,
  PROP_STATE,
  PROP_POOR_CONNECTION,
  PROP_CAMERA_OFF,
  PROP_BITRATE,
  PROP_VIDEO,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MeshCallPeer, mesh_call_peer, G_TYPE_OBJECT)

MeshPeerLink *
mesh_peer_link_ref (MeshPeerLink *link)
{
  g_atomic_ref_count_inc (&link->ref);
  return link;
}

void
mesh_peer_link_unref (gpointer data)
{
  MeshPeerLink *link = data;

  if (link == NULL || !g_atomic_ref_count_dec (&link->ref))
    return;
  g_weak_ref_clear (&link->peer);
  g_main_context_unref (link->context);
  g_clear_object (&link->video);
  gst_clear_object (&link->mixer);
  gst_clear_object (&link->mixer_pad);
  g_atomic_rc_box_release (link->audio_buffers);
  g_mutex_clear (&link->lock);
  g_free (link);
}

static void
mesh_call_peer_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MeshCallPeer *self = MESH_CALL_PEER (object);

  switch (prop_id) {
  case PROP_PEER_ID:
    g_value_set_string (value, self->peer_id);
    break;
  case PROP_USERNAME:
    g_value_set_string (value, self->username);
    break;
  case PROP_STATE:
    g_value_set_enum (value, self->state);
    break;
  case PROP_POOR_CONNECTION:
    g_value_set_boolean (value, self->poor_connection);
    break;
  case PROP_CAMERA_OFF:
    g_value_set_boolean (value, self->camera_off);
    break;
  case PROP_BITRATE:
    g_value_set_uint (value, self->bitrate);
    break;
  case PROP_VIDEO:
    g_value_set_object (value, self->video);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_call_peer_dispose (GObject *object)
{
  MeshCallPeer *self = MESH_CALL_PEER (object);

  /* The call tears the connection down before it lets a peer go. */
  g_warn_if_fail (self->bin == NULL);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_pointer (&self->link, mesh_peer_link_unref);
  g_clear_object (&self->video);
  G_OBJECT_CLASS (mesh_call_peer_parent_class)->dispose (object);
}

static void
mesh_call_peer_finalize (GObject *object)
{
  MeshCallPeer *self = MESH_CALL_PEER (object);

  g_free (self->peer_id);
  g_free (self->username);
  g_free (self->offer_sdp);
  g_free (self->local_sdp);
  g_clear_pointer (&self->pending_ice, g_ptr_array_unref);
  g_atomic_rc_box_release (self->audio_buffers);
  G_OBJECT_CLASS (mesh_call_peer_parent_class)->finalize (object);
}

static void
mesh_call_peer_class_init (MeshCallPeerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_call_peer_get_property;
  object_class->dispose = mesh_call_peer_dispose;
  object_class->finalize = mesh_call_peer_finalize;

  properties[PROP_PEER_ID] =
    g_param_spec_string ("peer-id", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_USERNAME] =
    g_param_spec_string ("username", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, MESH_TYPE_CALL_PEER_STATE,
                       MESH_CALL_PEER_STATE_CONNECTING,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_POOR_CONNECTION] =
    g_param_spec_boolean ("poor-connection", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAMERA_OFF] =
    g_param_spec_boolean ("camera-off", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BITRATE] =
    g_param_spec_uint ("bitrate", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_VIDEO] =
    g_param_spec_object ("video", NULL, NULL, MESH_TYPE_VIDEO_OUTPUT,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_call_peer_init (MeshCallPeer *self)
{
  self->video = mesh_video_output_new ();
  self->audio_buffers = g_atomic_rc_box_new0 (gint);
  self->pending_ice = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
}

MeshCallPeer *
mesh_call_peer_new (MeshCall   *call,
                    const char *peer_id,
                    const char *username)
{
  MeshCallPeer *self = g_object_new (MESH_TYPE_CALL_PEER, NULL);

  self->call = call;
  self->peer_id = g_strdup (peer_id);
  self->username = g_strdup (username);
  return self;
}

void
mesh_call_peer_set_state (MeshCallPeer      *self,
                          MeshCallPeerState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

void
mesh_call_peer_set_poor_connection (MeshCallPeer *self,
                                    gboolean      poor)
{
  if (self->poor_connection == !!poor)
    return;
  self->poor_connection = !!poor;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_POOR_CONNECTION]);
}

void
mesh_call_peer_set_camera_off (MeshCallPeer *self,
                               gboolean      off)
{
  if (self->camera_off == !!off)
    return;
  self->camera_off = !!off;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAMERA_OFF]);
}

void
mesh_call_peer_set_bitrate (MeshCallPeer *self,
                            guint         bitrate)
{
  if (self->bitrate == bitrate)
    return;
  self->bitrate = bitrate;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BITRATE]);
}

GstElement *
mesh_call_peer_get_webrtcbin (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), NULL);

  return self->webrtc;
}

const char *
mesh_call_peer_get_peer_id (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), NULL);

  return self->peer_id;
}

const char *
mesh_call_peer_get_username (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), NULL);

  return self->username;
}

MeshCallPeerState
mesh_call_peer_get_state (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), MESH_CALL_PEER_STATE_ENDED);

  return self->state;
}

gboolean
mesh_call_peer_get_poor_connection (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), FALSE);

  return self->poor_connection;
}

gboolean
mesh_call_peer_get_camera_off (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), FALSE);

  return self->camera_off;
}

guint
mesh_call_peer_get_bitrate (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), 0);

  return self->bitrate;
}

MeshVideoOutput *
mesh_call_peer_get_video (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), NULL);

  return self->video;
}

guint64
mesh_call_peer_get_audio_buffers (MeshCallPeer *self)
{
  g_return_val_if_fail (MESH_IS_CALL_PEER (self), 0);

  return (guint) g_atomic_int_get (self->audio_buffers);
}
