/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-shared-terminal"

#include "config.h"

#include "mesh-shared-terminal.h"

#include "mesh-property.h"

enum {
  PROP_0,
  PROP_SHARE_ID,
  PROP_STATE,
  PROP_COLS,
  PROP_ROWS,
  PROP_CONTROLLER_PEER_ID,
  PROP_CONTROLLER_NAME,
  PROP_HAS_CONTROL,
  PROP_ERROR,
  N_PROPS
};

enum {
  SIGNAL_OUTPUT,
  SIGNAL_CONTROL_REQUESTED,
  SIGNAL_CONTROL_DENIED,
  SIGNAL_INPUT,
  SIGNAL_RESIZE,
  SIGNAL_REQUEST_CONTROL,
  SIGNAL_RELEASE_CONTROL,
  SIGNAL_ANSWER_CONTROL,
  SIGNAL_STOP,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

struct _MeshSharedTerminal {
  GObject                  parent_instance;

  MeshSharedTerminalRole   role;
  char                    *room_id;
  char                    *host_name;
  char                    *share_id;
  MeshSharedTerminalState  state;
  guint                    cols;
  guint                    rows;
  char                    *controller_peer_id;
  char                    *controller_name;
  gboolean                 has_control;
  char                    *error;
};

G_DEFINE_FINAL_TYPE (MeshSharedTerminal, mesh_shared_terminal, G_TYPE_OBJECT)

static void
mesh_shared_terminal_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MeshSharedTerminal *self = MESH_SHARED_TERMINAL (object);

  switch (prop_id) {
  case PROP_SHARE_ID:
    g_value_set_string (value, self->share_id);
    break;
  case PROP_STATE:
    g_value_set_int (value, self->state);
    break;
  case PROP_COLS:
    g_value_set_uint (value, self->cols);
    break;
  case PROP_ROWS:
    g_value_set_uint (value, self->rows);
    break;
  case PROP_CONTROLLER_PEER_ID:
    g_value_set_string (value, self->controller_peer_id);
    break;
  case PROP_CONTROLLER_NAME:
    g_value_set_string (value, self->controller_name);
    break;
  case PROP_HAS_CONTROL:
    g_value_set_boolean (value, self->has_control);
    break;
  case PROP_ERROR:
    g_value_set_string (value, self->error);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_shared_terminal_finalize (GObject *object)
{
  MeshSharedTerminal *self = MESH_SHARED_TERMINAL (object);

  g_free (self->room_id);
  g_free (self->host_name);
  g_free (self->share_id);
  g_free (self->controller_peer_id);
  g_free (self->controller_name);
  g_free (self->error);

  G_OBJECT_CLASS (mesh_shared_terminal_parent_class)->finalize (object);
}

static void
mesh_shared_terminal_class_init (MeshSharedTerminalClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GType type = G_TYPE_FROM_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = mesh_shared_terminal_get_property;
  object_class->finalize = mesh_shared_terminal_finalize;

  properties[PROP_SHARE_ID] = g_param_spec_string ("share-id", NULL, NULL, NULL, flags);
  /* A MeshSharedTerminalState. */
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, MESH_SHARED_TERMINAL_CONNECTING,
                      MESH_SHARED_TERMINAL_ENDED, MESH_SHARED_TERMINAL_CONNECTING, flags);
  properties[PROP_COLS] = g_param_spec_uint ("cols", NULL, NULL, 0, G_MAXUINT16, 80, flags);
  properties[PROP_ROWS] = g_param_spec_uint ("rows", NULL, NULL, 0, G_MAXUINT16, 24, flags);
  properties[PROP_CONTROLLER_PEER_ID] =
    g_param_spec_string ("controller-peer-id", NULL, NULL, NULL, flags);
  properties[PROP_CONTROLLER_NAME] =
    g_param_spec_string ("controller-name", NULL, NULL, NULL, flags);
  properties[PROP_HAS_CONTROL] =
    g_param_spec_boolean ("has-control", NULL, NULL, FALSE, flags);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Agent → UI. (data: GBytes) */
  signals[SIGNAL_OUTPUT] =
    g_signal_new ("output", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_BYTES);
  /* (peer_id, username): a viewer asks the host for control. */
  signals[SIGNAL_CONTROL_REQUESTED] =
    g_signal_new ("control-requested", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);

  /* (reason or NULL): the host said no to this viewer's request. */
  signals[SIGNAL_CONTROL_DENIED] =
    g_signal_new ("control-denied", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);

  /* UI → agent. (data: GBytes) */
  signals[SIGNAL_INPUT] =
    g_signal_new ("input", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_BYTES);
  /* (cols, rows) */
  signals[SIGNAL_RESIZE] =
    g_signal_new ("resize", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_UINT, G_TYPE_UINT);
  signals[SIGNAL_REQUEST_CONTROL] =
    g_signal_new ("request-control", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  0);
  signals[SIGNAL_RELEASE_CONTROL] =
    g_signal_new ("release-control", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  0);
  /* (peer_id, grant) */
  signals[SIGNAL_ANSWER_CONTROL] =
    g_signal_new ("answer-control", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_STRING, G_TYPE_BOOLEAN);
  signals[SIGNAL_STOP] =
    g_signal_new ("stop", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
mesh_shared_terminal_init (MeshSharedTerminal *self)
{
  self->cols = 80;
  self->rows = 24;
}

MeshSharedTerminal *
mesh_shared_terminal_new (MeshSharedTerminalRole  role,
                          const char             *room_id,
                          const char             *host_name)
{
  MeshSharedTerminal *self;

  g_return_val_if_fail (room_id != NULL, NULL);

  self = g_object_new (MESH_TYPE_SHARED_TERMINAL, NULL);
  self->role = role;
  self->room_id = g_strdup (room_id);
  self->host_name = g_strdup (host_name);
  self->has_control = role == MESH_SHARED_TERMINAL_HOST;
  return self;
}

MeshSharedTerminalRole
mesh_shared_terminal_get_role (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), MESH_SHARED_TERMINAL_VIEWER);

  return self->role;
}

const char *
mesh_shared_terminal_get_room_id (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), NULL);

  return self->room_id;
}

const char *
mesh_shared_terminal_get_share_id (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), NULL);

  return self->share_id;
}

const char *
mesh_shared_terminal_get_host_name (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), NULL);

  return self->host_name;
}

MeshSharedTerminalState
mesh_shared_terminal_get_state (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), MESH_SHARED_TERMINAL_ENDED);

  return self->state;
}

guint
mesh_shared_terminal_get_cols (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), 0);

  return self->cols;
}

guint
mesh_shared_terminal_get_rows (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), 0);

  return self->rows;
}

const char *
mesh_shared_terminal_get_controller_peer_id (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), NULL);

  return self->controller_peer_id;
}

const char *
mesh_shared_terminal_get_controller_name (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), NULL);

  return self->controller_name;
}

gboolean
mesh_shared_terminal_get_has_control (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), FALSE);

  return self->has_control;
}

const char *
mesh_shared_terminal_get_error (MeshSharedTerminal *self)
{
  g_return_val_if_fail (MESH_IS_SHARED_TERMINAL (self), NULL);

  return self->error;
}

void
mesh_shared_terminal_set_share_id (MeshSharedTerminal *self,
                                   const char         *share_id)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  mesh_property_set_string (G_OBJECT (self), &self->share_id, share_id, properties[PROP_SHARE_ID]);
}

void
mesh_shared_terminal_set_state (MeshSharedTerminal      *self,
                                MeshSharedTerminalState  state,
                                const char              *error)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  /* An ended share stays ended. */
  if (self->state == MESH_SHARED_TERMINAL_ENDED)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  mesh_property_set_string (G_OBJECT (self), &self->error, error, properties[PROP_ERROR]);
  if (state == MESH_SHARED_TERMINAL_ENDED) {
    mesh_shared_terminal_set_controller (self, NULL, NULL, FALSE);
    if (self->has_control) {
      self->has_control = FALSE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_CONTROL]);
    }
  }
  if (self->state != state) {
    self->state = state;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  }
  g_object_thaw_notify (G_OBJECT (self));
}

void
mesh_shared_terminal_set_size (MeshSharedTerminal *self,
                               guint               cols,
                               guint               rows)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  if (cols == 0 || rows == 0 || cols > G_MAXUINT16 || rows > G_MAXUINT16)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  if (self->cols != cols) {
    self->cols = cols;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLS]);
  }
  if (self->rows != rows) {
    self->rows = rows;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ROWS]);
  }
  g_object_thaw_notify (G_OBJECT (self));
}

void
mesh_shared_terminal_set_controller (MeshSharedTerminal *self,
                                     const char         *peer_id,
                                     const char         *name,
                                     gboolean            is_self)
{
  gboolean has_control;

  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  if (self->state == MESH_SHARED_TERMINAL_ENDED && peer_id != NULL)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  mesh_property_set_string (G_OBJECT (self), &self->controller_peer_id, peer_id,
                            properties[PROP_CONTROLLER_PEER_ID]);
  mesh_property_set_string (G_OBJECT (self), &self->controller_name, peer_id != NULL ? name : NULL,
                            properties[PROP_CONTROLLER_NAME]);
  /* The host always types into its own shell. */
  has_control = self->role == MESH_SHARED_TERMINAL_HOST
                ? self->state != MESH_SHARED_TERMINAL_ENDED
                : peer_id != NULL && is_self;
  if (self->has_control != has_control) {
    self->has_control = has_control;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_CONTROL]);
  }
  g_object_thaw_notify (G_OBJECT (self));
}

void
mesh_shared_terminal_push_output (MeshSharedTerminal *self,
                                  GBytes             *data)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));
  g_return_if_fail (data != NULL);

  g_signal_emit (self, signals[SIGNAL_OUTPUT], 0, data);
}

void
mesh_shared_terminal_ask_control (MeshSharedTerminal *self,
                                  const char         *peer_id,
                                  const char         *username)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));
  g_return_if_fail (peer_id != NULL);

  g_signal_emit (self, signals[SIGNAL_CONTROL_REQUESTED], 0, peer_id, username);
}

void
mesh_shared_terminal_report_denied (MeshSharedTerminal *self,
                                    const char         *reason)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  g_signal_emit (self, signals[SIGNAL_CONTROL_DENIED], 0, reason);
}

void
mesh_shared_terminal_write (MeshSharedTerminal *self,
                            const void         *data,
                            gsize               len)
{
  g_autoptr(GBytes) bytes = NULL;

  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));
  g_return_if_fail (data != NULL || len == 0);

  /* Without control the host would drop it anyway (and answer CAP_REQUIRED). */
  if (len == 0 || !self->has_control || self->state != MESH_SHARED_TERMINAL_RUNNING)
    return;
  bytes = g_bytes_new (data, len);
  g_signal_emit (self, signals[SIGNAL_INPUT], 0, bytes);
}

void
mesh_shared_terminal_resize (MeshSharedTerminal *self,
                             guint               cols,
                             guint               rows)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  if (cols == 0 || rows == 0 || cols > G_MAXUINT16 || rows > G_MAXUINT16 ||
      self->state == MESH_SHARED_TERMINAL_ENDED || (cols == self->cols && rows == self->rows))
    return;
  g_signal_emit (self, signals[SIGNAL_RESIZE], 0, cols, rows);
}

void
mesh_shared_terminal_request_control (MeshSharedTerminal *self)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  if (self->role != MESH_SHARED_TERMINAL_VIEWER || self->has_control ||
      self->state != MESH_SHARED_TERMINAL_RUNNING)
    return;
  g_signal_emit (self, signals[SIGNAL_REQUEST_CONTROL], 0);
}

void
mesh_shared_terminal_release_control (MeshSharedTerminal *self)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  /* The host takes control back; a viewer gives its own back. */
  if (self->state != MESH_SHARED_TERMINAL_RUNNING || self->controller_peer_id == NULL ||
      (self->role == MESH_SHARED_TERMINAL_VIEWER && !self->has_control))
    return;
  g_signal_emit (self, signals[SIGNAL_RELEASE_CONTROL], 0);
}

void
mesh_shared_terminal_answer_control (MeshSharedTerminal *self,
                                     const char         *peer_id,
                                     gboolean            grant)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));
  g_return_if_fail (peer_id != NULL);

  if (self->role != MESH_SHARED_TERMINAL_HOST || self->state == MESH_SHARED_TERMINAL_ENDED)
    return;
  g_signal_emit (self, signals[SIGNAL_ANSWER_CONTROL], 0, peer_id, grant);
}

void
mesh_shared_terminal_stop (MeshSharedTerminal *self)
{
  g_return_if_fail (MESH_IS_SHARED_TERMINAL (self));

  if (self->state == MESH_SHARED_TERMINAL_ENDED)
    return;
  g_signal_emit (self, signals[SIGNAL_STOP], 0);
}
