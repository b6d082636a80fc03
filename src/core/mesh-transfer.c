/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-transfer"

#include "config.h"

#include "mesh-transfer.h"

#include "mesh-error.h"
#include "mesh-frame.h"
#include "mesh-property.h"

#include <glib/gi18n.h>
#include <string.h>

/* The rate is measured over this window, so that it neither jumps with
 * each chunk nor lags minutes behind. */
#define RATE_WINDOW_US (3 * G_USEC_PER_SEC)
#define N_SAMPLES      32

enum {
  PROP_0,
  PROP_STATE,
  PROP_DONE,
  PROP_SIZE,
  PROP_RATE,
  PROP_ERROR,
  PROP_FILE,
  PROP_FOLDER,
  PROP_CANCELLED_BY,
  PROP_DETAILS,
  PROP_RETRYABLE,
  N_PROPS
};

enum {
  SIGNAL_ACCEPT,
  SIGNAL_DECLINE,
  SIGNAL_CANCEL,
  SIGNAL_RETRY,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

typedef struct {
  gint64  time;
  guint64 done;
} Sample;

struct _MeshTransfer {
  GObject                parent_instance;

  guint                  id;
  MeshTransferDirection  direction;
  char                  *room_id;
  char                  *peer_name;
  char                  *name;
  gboolean               is_folder;
  MeshTransferState      state;
  guint64                size;
  guint64                done;
  guint64                rate;
  char                  *error;
  char                  *cancelled_by;  /* NULL: by this user */
  char                  *details;       /* the raw error, for the Details */
  gboolean               retryable;
  GFile                 *file;
  GFile                 *folder;
  Sample                 samples[N_SAMPLES];
  guint                  first_sample;
  guint                  n_samples;
};

G_DEFINE_FINAL_TYPE (MeshTransfer, mesh_transfer, G_TYPE_OBJECT)

static void
set_rate (MeshTransfer *self,
          guint64       rate)
{
  if (self->rate == rate)
    return;
  self->rate = rate;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RATE]);
}

static void
add_sample (MeshTransfer *self,
            guint64       done)
{
  gint64 now = g_get_monotonic_time ();
  const Sample *oldest;
  guint last;

  /* Forget what is older than the window, but keep one sample to measure from. */
  while (self->n_samples > 1 &&
         now - self->samples[(self->first_sample + 1) % N_SAMPLES].time >= RATE_WINDOW_US) {
    self->first_sample = (self->first_sample + 1) % N_SAMPLES;
    self->n_samples--;
  }
  if (self->n_samples == N_SAMPLES) {
    self->first_sample = (self->first_sample + 1) % N_SAMPLES;
    self->n_samples--;
  }
  last = (self->first_sample + self->n_samples) % N_SAMPLES;
  self->samples[last] = (Sample) { now, done };
  self->n_samples++;

  oldest = &self->samples[self->first_sample];
  if (self->n_samples > 1 && now > oldest->time && done >= oldest->done)
    set_rate (self, (done - oldest->done) * G_USEC_PER_SEC / (guint64) (now - oldest->time));
}

static void
mesh_transfer_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  MeshTransfer *self = MESH_TRANSFER (object);

  switch (prop_id) {
  case PROP_STATE:
    g_value_set_int (value, self->state);
    break;
  case PROP_DONE:
    g_value_set_uint64 (value, self->done);
    break;
  case PROP_SIZE:
    g_value_set_uint64 (value, self->size);
    break;
  case PROP_RATE:
    g_value_set_uint64 (value, self->rate);
    break;
  case PROP_ERROR:
    g_value_set_string (value, self->error);
    break;
  case PROP_FILE:
    g_value_set_object (value, self->file);
    break;
  case PROP_FOLDER:
    g_value_set_object (value, self->folder);
    break;
  case PROP_CANCELLED_BY:
    g_value_set_string (value, self->cancelled_by);
    break;
  case PROP_DETAILS:
    g_value_set_string (value, self->details);
    break;
  case PROP_RETRYABLE:
    g_value_set_boolean (value, self->retryable);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_transfer_finalize (GObject *object)
{
  MeshTransfer *self = MESH_TRANSFER (object);

  g_free (self->room_id);
  g_free (self->peer_name);
  g_free (self->name);
  g_free (self->error);
  g_free (self->cancelled_by);
  g_free (self->details);
  g_clear_object (&self->file);
  g_clear_object (&self->folder);

  G_OBJECT_CLASS (mesh_transfer_parent_class)->finalize (object);
}

static void
mesh_transfer_class_init (MeshTransferClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GType type = G_TYPE_FROM_CLASS (klass);

  object_class->get_property = mesh_transfer_get_property;
  object_class->finalize = mesh_transfer_finalize;

  /* A MeshTransferState. */
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, MESH_TRANSFER_OFFERED, MESH_TRANSFER_DECLINED,
                      MESH_TRANSFER_OFFERED,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DONE] =
    g_param_spec_uint64 ("done", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SIZE] =
    g_param_spec_uint64 ("size", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RATE] =
    g_param_spec_uint64 ("rate", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR] =
    g_param_spec_string ("error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FILE] =
    g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FOLDER] =
    g_param_spec_object ("folder", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* Who cancelled it when it was not this user. */
  properties[PROP_CANCELLED_BY] =
    g_param_spec_string ("cancelled-by", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DETAILS] =
    g_param_spec_string ("details", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RETRYABLE] =
    g_param_spec_boolean ("retryable", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* (folder): the user accepted an offer, to be saved in @folder. */
  signals[SIGNAL_ACCEPT] =
    g_signal_new ("accept", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_FILE);
  signals[SIGNAL_DECLINE] =
    g_signal_new ("decline", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_CANCEL] =
    g_signal_new ("cancel", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* A failed outgoing transfer is to be sent again (it resumes). */
  signals[SIGNAL_RETRY] =
    g_signal_new ("retry", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
mesh_transfer_init (MeshTransfer *self)
{
}

MeshTransfer *
mesh_transfer_new (guint                  id,
                   MeshTransferDirection  direction,
                   const char            *room_id,
                   const char            *peer_name,
                   const char            *name,
                   gboolean               is_folder,
                   guint64                size)
{
  MeshTransfer *self;

  g_return_val_if_fail (name != NULL, NULL);

  self = g_object_new (MESH_TYPE_TRANSFER, NULL);
  self->id = id;
  self->direction = direction;
  self->room_id = g_strdup (room_id);
  self->peer_name = g_strdup (peer_name);
  self->name = g_strdup (name);
  self->is_folder = is_folder;
  self->size = size;
  self->state = direction == MESH_TRANSFER_INCOMING ? MESH_TRANSFER_OFFERED : MESH_TRANSFER_WAITING;
  return self;
}

guint
mesh_transfer_get_id (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), 0);

  return self->id;
}

MeshTransferDirection
mesh_transfer_get_direction (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), MESH_TRANSFER_OUTGOING);

  return self->direction;
}

const char *
mesh_transfer_get_room_id (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->room_id;
}

const char *
mesh_transfer_get_peer_name (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->peer_name;
}

const char *
mesh_transfer_get_name (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->name;
}

gboolean
mesh_transfer_get_is_folder (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), FALSE);

  return self->is_folder;
}

MeshTransferState
mesh_transfer_get_state (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), MESH_TRANSFER_FAILED);

  return self->state;
}

gboolean
mesh_transfer_is_finished (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), TRUE);

  return self->state >= MESH_TRANSFER_DONE;
}

guint64
mesh_transfer_get_size (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), 0);

  return self->size;
}

guint64
mesh_transfer_get_done (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), 0);

  return self->done;
}

double
mesh_transfer_get_fraction (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), 0.0);

  if (self->state == MESH_TRANSFER_DONE)
    return 1.0;
  if (self->size == 0)
    return 0.0;
  return MIN (1.0, (double) self->done / (double) self->size);
}

guint64
mesh_transfer_get_rate (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), 0);

  return self->rate;
}

const char *
mesh_transfer_get_error (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->error;
}

GFile *
mesh_transfer_get_file (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->file;
}

GFile *
mesh_transfer_get_folder (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->folder;
}

void
mesh_transfer_set_progress (MeshTransfer *self,
                            guint64       done,
                            guint64       size)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));

  if (mesh_transfer_is_finished (self))
    return;
  g_object_freeze_notify (G_OBJECT (self));
  if (self->state != MESH_TRANSFER_RUNNING) {
    self->state = MESH_TRANSFER_RUNNING;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  }
  if (size != 0 && size != self->size) {
    self->size = size;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIZE]);
  }
  if (done != self->done) {
    self->done = done;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DONE]);
  }
  add_sample (self, done);
  g_object_thaw_notify (G_OBJECT (self));
}

void
mesh_transfer_set_state (MeshTransfer      *self,
                         MeshTransferState  state,
                         const char        *error)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));

  /* A finished transfer stays as it ended. */
  if (mesh_transfer_is_finished (self))
    return;
  g_object_freeze_notify (G_OBJECT (self));
  mesh_property_set_string (G_OBJECT (self), &self->error, error, properties[PROP_ERROR]);
  if (state == MESH_TRANSFER_DONE && self->done != self->size) {
    self->done = self->size;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DONE]);
  }
  if (state != MESH_TRANSFER_RUNNING) {
    self->n_samples = 0;
    set_rate (self, 0);
  }
  if (self->state != state) {
    self->state = state;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  }
  g_object_thaw_notify (G_OBJECT (self));
}

void
mesh_transfer_set_file (MeshTransfer *self,
                        GFile        *file)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));
  g_return_if_fail (file == NULL || G_IS_FILE (file));

  if (g_set_object (&self->file, file))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE]);
}

void
mesh_transfer_set_folder (MeshTransfer *self,
                          GFile        *folder)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));
  g_return_if_fail (folder == NULL || G_IS_FILE (folder));

  if (g_set_object (&self->folder, folder))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FOLDER]);
}

void
mesh_transfer_accept (MeshTransfer *self,
                      GFile        *folder)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));
  g_return_if_fail (folder == NULL || G_IS_FILE (folder));

  if (self->state != MESH_TRANSFER_OFFERED)
    return;
  if (folder != NULL)
    mesh_transfer_set_folder (self, folder);
  mesh_transfer_set_state (self, MESH_TRANSFER_WAITING, NULL);
  g_signal_emit (self, signals[SIGNAL_ACCEPT], 0, self->folder);
}

void
mesh_transfer_decline (MeshTransfer *self)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));

  if (self->state != MESH_TRANSFER_OFFERED)
    return;
  mesh_transfer_set_state (self, MESH_TRANSFER_DECLINED, NULL);
  g_signal_emit (self, signals[SIGNAL_DECLINE], 0);
}

void
mesh_transfer_cancel (MeshTransfer *self)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));

  if (mesh_transfer_is_finished (self))
    return;
  if (self->state == MESH_TRANSFER_OFFERED) {
    mesh_transfer_decline (self);
    return;
  }
  mesh_transfer_set_state (self, MESH_TRANSFER_CANCELLED, NULL);
  g_signal_emit (self, signals[SIGNAL_CANCEL], 0);
}

const char *
mesh_transfer_get_cancelled_by (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->cancelled_by;
}

const char *
mesh_transfer_get_details (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), NULL);

  return self->details;
}

gboolean
mesh_transfer_get_retryable (MeshTransfer *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (self), FALSE);

  return self->retryable;
}

static gboolean
is_network_error (const GError *error)
{
  return error->domain == G_IO_ERROR &&
         (error->code == G_IO_ERROR_CONNECTION_CLOSED || error->code == G_IO_ERROR_BROKEN_PIPE ||
          error->code == G_IO_ERROR_TIMED_OUT || error->code == G_IO_ERROR_NETWORK_UNREACHABLE ||
          error->code == G_IO_ERROR_HOST_UNREACHABLE ||
          error->code == G_IO_ERROR_CONNECTION_REFUSED || error->code == G_IO_ERROR_NOT_CONNECTED);
}

/* What happened and what to do, in the user's words; the raw error goes to
 * the Details. */
static char *
sentence_for (MeshTransfer *self,
              const GError *error)
{
  gboolean outgoing = self->direction == MESH_TRANSFER_OUTGOING;
  const char *peer = self->peer_name != NULL && *self->peer_name != '\0'
                     ? self->peer_name : _("The other side");

  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED)) {
    if (strstr (error->message, "expired") != NULL)
      /* Translators: %s is the receiver. */
      return g_strdup_printf (_("%s did not answer in time. Send it again when they are there."),
                              peer);
    /* Translators: %s is the receiver. */
    return g_strdup_printf (_("%s declined the file."), peer);
  }
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_UNROUTABLE))
    /* Translators: %s is the other person. */
    return g_strdup_printf (_("%s’s computer is offline or not in this room. Try again when it is "
                              "online."), peer);
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE))
    return g_strdup (_("The file is larger than this room allows."));
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_FORBIDDEN) ||
      g_error_matches (error, MESH_ERROR, MESH_ERROR_CAP_REQUIRED) ||
      g_error_matches (error, MESH_ERROR, MESH_ERROR_CAP_EXPIRED) ||
      g_error_matches (error, MESH_ERROR, MESH_ERROR_CAP_INVALID))
    /* Translators: %s is the other person. */
    return g_strdup_printf (_("%s’s computer refused the transfer. Try sending it again."), peer);
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_RATE_LIMITED))
    return g_strdup (_("Too many transfers are running. Try again when some have finished."));
  if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH))
    return g_strdup (_("The file arrived damaged and was not kept. Send it again."));
  if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_UNSAFE_ENTRY))
    return g_strdup (_("The folder contained unsafe entries and was not kept."));
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
    return g_strdup (outgoing ? _("The other computer ran out of disk space.")
                              : _("There is not enough space in the download folder."));
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE))
    return g_strdup (outgoing ? _("The file could not be read. Check that it still exists and "
                                  "that you may open it.")
                              : _("The file could not be saved. Check the download folder."));
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED) && !self->retryable)
    return g_strdup (_("This computer is not connected to the server. Try again once it is."));
  if (is_network_error (error)) {
    if (outgoing)
      /* Translators: %s is the receiver. */
      return g_strdup_printf (_("The connection to %s was lost. Retry continues where it "
                                "stopped."), peer);
    /* Translators: %s is the sender. */
    return g_strdup_printf (_("The connection to %s was lost. If they send it again, it "
                              "continues where it stopped."), peer);
  }
  return g_strdup (_("The transfer failed. The details say why."));
}

/**
 * mesh_transfer_end_with_error:
 * @error: how the transfer ended: G_IO_ERROR_CANCELLED when this user
 *   cancelled, MESH_FRAME_ERROR_CANCELLED when the other side did
 *
 * Ends the transfer as cancelled, declined or failed, with a sentence for
 * the user and the raw error as details.
 */
void
mesh_transfer_end_with_error (MeshTransfer *self,
                              const GError *error)
{
  g_autofree char *sentence = NULL;

  g_return_if_fail (MESH_IS_TRANSFER (self));
  g_return_if_fail (error != NULL);

  if (mesh_transfer_is_finished (self))
    return;
  g_object_freeze_notify (G_OBJECT (self));
  mesh_property_set_string (G_OBJECT (self), &self->details, error->message,
                            properties[PROP_DETAILS]);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    mesh_transfer_set_state (self, MESH_TRANSFER_CANCELLED, NULL);
  } else if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED)) {
    mesh_property_set_string (G_OBJECT (self), &self->cancelled_by,
                              self->peer_name != NULL ? self->peer_name : _("the other side"),
                              properties[PROP_CANCELLED_BY]);
    mesh_transfer_set_state (self, MESH_TRANSFER_CANCELLED, NULL);
  } else if (g_error_matches (error, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED) &&
             strstr (error->message, "expired") == NULL) {
    sentence = sentence_for (self, error);
    mesh_transfer_set_state (self, MESH_TRANSFER_DECLINED, sentence);
  } else {
    gboolean retryable = self->direction == MESH_TRANSFER_OUTGOING && self->file != NULL &&
                         is_network_error (error);

    if (retryable != self->retryable) {
      self->retryable = retryable;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RETRYABLE]);
    }
    sentence = sentence_for (self, error);
    mesh_transfer_set_state (self, MESH_TRANSFER_FAILED, sentence);
  }
  g_object_thaw_notify (G_OBJECT (self));
}

/* Sends a failed outgoing transfer again: it waits, then resumes. */
void
mesh_transfer_retry (MeshTransfer *self)
{
  g_return_if_fail (MESH_IS_TRANSFER (self));

  if (self->state != MESH_TRANSFER_FAILED || !self->retryable)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  self->retryable = FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RETRYABLE]);
  mesh_property_set_string (G_OBJECT (self), &self->error, NULL, properties[PROP_ERROR]);
  mesh_property_set_string (G_OBJECT (self), &self->details, NULL, properties[PROP_DETAILS]);
  self->state = MESH_TRANSFER_WAITING;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  g_object_thaw_notify (G_OBJECT (self));
  g_signal_emit (self, signals[SIGNAL_RETRY], 0);
}
