/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "mesh-p2p-session-private.h"

#include "mesh-json.h"

enum {
  PROP_0,
  PROP_SESSION_ID,
  PROP_KIND,
  PROP_ROLE,
  PROP_STATE,
  PROP_BYTES_DONE,
  PROP_BYTES_TOTAL,
  PROP_RATE,
  PROP_ERROR,
  PROP_FILE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_ENUM_TYPE (MeshP2pKind, mesh_p2p_kind,
  G_DEFINE_ENUM_VALUE (MESH_P2P_KIND_FILE, "file"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_KIND_FOLDER, "folder"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_KIND_TERMINAL, "terminal"))

G_DEFINE_ENUM_TYPE (MeshP2pRole, mesh_p2p_role,
  G_DEFINE_ENUM_VALUE (MESH_P2P_ROLE_CLIENT, "client"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_ROLE_SERVER, "server"))

G_DEFINE_ENUM_TYPE (MeshP2pState, mesh_p2p_state,
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_REQUESTING, "requesting"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_OFFERED, "offered"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_ACCEPTED, "accepted"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_RUNNING, "running"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_DONE, "done"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_FAILED, "failed"),
  G_DEFINE_ENUM_VALUE (MESH_P2P_STATE_REFUSED, "refused"))

G_DEFINE_FINAL_TYPE (MeshP2pSession, mesh_p2p_session, G_TYPE_OBJECT)

static const char * const kind_names[] = {
  [MESH_P2P_KIND_FILE] = "file",
  [MESH_P2P_KIND_FOLDER] = "folder",
  [MESH_P2P_KIND_TERMINAL] = "terminal",
};

const char *
mesh_p2p_kind_to_string (MeshP2pKind kind)
{
  g_return_val_if_fail (kind <= MESH_P2P_KIND_TERMINAL, NULL);

  return kind_names[kind];
}

gboolean
mesh_p2p_kind_from_string (const char  *text,
                           MeshP2pKind *kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (kind_names); i++) {
    if (g_strcmp0 (text, kind_names[i]) == 0) {
      *kind = (MeshP2pKind) i;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
mesh_p2p_role_to_string (MeshP2pRole role)
{
  return role == MESH_P2P_ROLE_CLIENT ? "client" : "server";
}

static void
mesh_p2p_session_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MeshP2pSession *self = MESH_P2P_SESSION (object);

  switch (prop_id) {
  case PROP_SESSION_ID:
    g_value_set_string (value, self->session_id);
    break;
  case PROP_KIND:
    g_value_set_enum (value, self->kind);
    break;
  case PROP_ROLE:
    g_value_set_enum (value, self->role);
    break;
  case PROP_STATE:
    g_value_set_enum (value, self->state);
    break;
  case PROP_BYTES_DONE:
    g_value_set_uint64 (value, self->bytes);
    break;
  case PROP_BYTES_TOTAL:
    g_value_set_uint64 (value, self->total);
    break;
  case PROP_RATE:
    g_value_set_uint64 (value, mesh_p2p_session_get_rate (self));
    break;
  case PROP_ERROR:
    g_value_set_boxed (value, self->error);
    break;
  case PROP_FILE:
    g_value_set_object (value, self->path);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_p2p_session_dispose (GObject *object)
{
  MeshP2pSession *self = MESH_P2P_SESSION (object);

  if (self->expiry != NULL) {
    g_source_destroy (self->expiry);
    g_clear_pointer (&self->expiry, g_source_unref);
  }
  /* The connection can outlive the session (the endpoint holds it). */
  if (self->connection != NULL)
    g_signal_handlers_disconnect_by_data (self->connection, self);
  g_clear_object (&self->connection);
  if (self->engine != NULL)
    g_signal_handlers_disconnect_by_data (self->engine, self);
  g_clear_object (&self->engine);
  g_clear_object (&self->host);
  g_clear_object (&self->stream);
  g_clear_object (&self->task);

  G_OBJECT_CLASS (mesh_p2p_session_parent_class)->dispose (object);
}

static void
mesh_p2p_session_finalize (GObject *object)
{
  MeshP2pSession *self = MESH_P2P_SESSION (object);

  g_free (self->session_id);
  g_free (self->room_id);
  g_free (self->peer_device_id);
  g_free (self->peer_user_id);
  g_free (self->peer_username);
  g_free (self->token);
  g_free (self->peer_fingerprint);
  g_clear_pointer (&self->meta, json_object_unref);
  g_clear_pointer (&self->endpoints, json_object_unref);
  g_free (self->share_id);
  g_clear_error (&self->error);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->attempt);
  g_clear_pointer (&self->candidates, g_ptr_array_unref);
  g_clear_object (&self->download_dir);
  g_clear_object (&self->path);
  g_clear_pointer (&self->hash_cache, mesh_hash_cache_unref);
  g_free (self->viewer_id);
  g_clear_pointer (&self->early_control, json_object_unref);

  G_OBJECT_CLASS (mesh_p2p_session_parent_class)->finalize (object);
}

static void
mesh_p2p_session_class_init (MeshP2pSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_p2p_session_get_property;
  object_class->dispose = mesh_p2p_session_dispose;
  object_class->finalize = mesh_p2p_session_finalize;

  properties[PROP_SESSION_ID] =
    g_param_spec_string ("session-id", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_KIND] =
    g_param_spec_enum ("kind", NULL, NULL, MESH_TYPE_P2P_KIND, MESH_P2P_KIND_FILE,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ROLE] =
    g_param_spec_enum ("role", NULL, NULL, MESH_TYPE_P2P_ROLE, MESH_P2P_ROLE_CLIENT,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, MESH_TYPE_P2P_STATE, MESH_P2P_STATE_REQUESTING,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_DONE] =
    g_param_spec_uint64 ("bytes-done", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_TOTAL] =
    g_param_spec_uint64 ("bytes-total", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* Changes with bytes-done: no notification of its own. */
  properties[PROP_RATE] =
    g_param_spec_uint64 ("rate", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR] =
    g_param_spec_boxed ("error", NULL, NULL, G_TYPE_ERROR,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_FILE] =
    g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_p2p_session_init (MeshP2pSession *self)
{
  self->cancellable = g_cancellable_new ();
}

MeshP2pSession *
mesh_p2p_session_new (MeshP2pKind kind,
                      MeshP2pRole role)
{
  MeshP2pSession *self = g_object_new (MESH_TYPE_P2P_SESSION, NULL);

  self->kind = kind;
  self->role = role;
  self->funcs = mesh_p2p_engine_lookup (kind, role);
  self->state = role == MESH_P2P_ROLE_CLIENT ? MESH_P2P_STATE_REQUESTING
                                             : MESH_P2P_STATE_ACCEPTED;
  return self;
}

void
mesh_p2p_session_set_kind (MeshP2pSession *self,
                           MeshP2pKind     kind)
{
  if (self->kind == kind)
    return;
  self->kind = kind;
  self->funcs = mesh_p2p_engine_lookup (kind, self->role);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KIND]);
}

void
mesh_p2p_session_set_id (MeshP2pSession *self,
                         const char     *session_id)
{
  if (g_strcmp0 (self->session_id, session_id) == 0)
    return;
  g_free (self->session_id);
  self->session_id = g_strdup (session_id);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SESSION_ID]);
}

/* The error is set before the state changes, so a notify::state handler
 * reads the one that goes with it. */
void
mesh_p2p_session_set_state (MeshP2pSession *self,
                            MeshP2pState    state,
                            const GError   *error)
{
  if (self->state == state)
    return;
  if (error != NULL) {
    g_clear_error (&self->error);
    self->error = g_error_copy (error);
  }
  if (state == MESH_P2P_STATE_RUNNING)
    self->started_at = g_get_monotonic_time ();
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

void
mesh_p2p_session_set_progress (MeshP2pSession *self,
                               guint64         done,
                               guint64         total)
{
  gboolean new_total = total != self->total;

  self->bytes = done;
  self->total = total;
  if (new_total)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_TOTAL]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_DONE]);
}

void
mesh_p2p_session_set_file (MeshP2pSession *self,
                           GFile          *file)
{
  if (g_set_object (&self->path, file))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE]);
}

void
mesh_p2p_session_on_progress (GObject        *engine,
                              guint64         done,
                              guint64         total,
                              MeshP2pSession *self)
{
  mesh_p2p_session_set_progress (self, done, total);
}

const char *
mesh_p2p_session_get_session_id (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), NULL);
  return self->session_id;
}

MeshP2pKind
mesh_p2p_session_get_kind (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), MESH_P2P_KIND_FILE);
  return self->kind;
}

MeshP2pRole
mesh_p2p_session_get_role (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), MESH_P2P_ROLE_CLIENT);
  return self->role;
}

MeshP2pState
mesh_p2p_session_get_state (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), MESH_P2P_STATE_FAILED);
  return self->state;
}

gboolean
mesh_p2p_session_is_finished (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), TRUE);
  return self->state >= MESH_P2P_STATE_DONE;
}

const char *
mesh_p2p_session_get_room_id (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), NULL);
  return self->room_id;
}

const char *
mesh_p2p_session_get_name (MeshP2pSession *self)
{
  const char *name = NULL;

  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), NULL);
  if (self->meta != NULL)
    mesh_json_get_string (self->meta, "name", FALSE, &name, NULL);
  return name != NULL ? name : self->share_id;
}

const char *
mesh_p2p_session_get_peer_username (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), NULL);
  return self->peer_username;
}

const char *
mesh_p2p_session_get_peer_device_id (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), NULL);
  return self->peer_device_id;
}

guint64
mesh_p2p_session_get_bytes_done (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), 0);
  return self->bytes;
}

guint64
mesh_p2p_session_get_bytes_total (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), 0);
  return self->total;
}

guint64
mesh_p2p_session_get_rate (MeshP2pSession *self)
{
  gint64 elapsed;

  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), 0);
  if (self->started_at == 0)
    return 0;
  elapsed = g_get_monotonic_time () - self->started_at;
  return elapsed > 0 ? self->bytes * G_USEC_PER_SEC / (guint64) elapsed : 0;
}

const GError *
mesh_p2p_session_get_error (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), NULL);
  return self->error;
}

GFile *
mesh_p2p_session_get_file (MeshP2pSession *self)
{
  g_return_val_if_fail (MESH_IS_P2P_SESSION (self), NULL);
  return self->path;
}
