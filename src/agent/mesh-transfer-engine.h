/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-transfer-util.h"

G_BEGIN_DECLS

/* What the file and folder engines (senders and receivers) share: the session
 * stream with its frame reader and writer, the caller's task and how it
 * completes, the "progress" signal, reading and checking frames, the offer
 * our user accepted (receivers), the chunks in flight (senders) and the
 * archive thread (folders).  Each engine subclasses it and keeps only its
 * own protocol and disk or zip work. */

#define MESH_TYPE_TRANSFER_ENGINE (mesh_transfer_engine_get_type ())
#define MESH_TRANSFER_ENGINE(obj) \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), MESH_TYPE_TRANSFER_ENGINE, MeshTransferEngine))
#define MESH_TRANSFER_ENGINE_CLASS(klass) \
  (G_TYPE_CHECK_CLASS_CAST ((klass), MESH_TYPE_TRANSFER_ENGINE, MeshTransferEngineClass))
#define MESH_IS_TRANSFER_ENGINE(obj) \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), MESH_TYPE_TRANSFER_ENGINE))
#define MESH_TRANSFER_ENGINE_GET_CLASS(obj) \
  (G_TYPE_INSTANCE_GET_CLASS ((obj), MESH_TYPE_TRANSFER_ENGINE, MeshTransferEngineClass))

typedef struct _MeshTransferEngine      MeshTransferEngine;
typedef struct _MeshTransferEngineClass MeshTransferEngineClass;

/* Gets the frame read for it, or (transfer full) why there is none. */
typedef void (*MeshTransferFrameFunc) (MeshTransferEngine *self,
                                       MeshFrameType       type,
                                       GBytes             *payload,
                                       GError             *error);

struct _MeshTransferEngine {
  GObject          parent_instance;

  /*< protected >*/
  GIOStream       *stream;        /* the session stream */
  MeshFrameReader *reader;        /* the one frame reader of that stream */
  MeshFrameWriter *writer;        /* and its one frame writer */
  GFile           *file;          /* the file or folder to send, or the folder to receive into */
  GTask           *task;          /* the caller's, until the transfer completes */
  char            *name;          /* what is offered to the peer, or what it offered */
  guint64          max_size;      /* receivers: the cap token's limit; 0: none */
  char            *offered_name;  /* receivers: what our user accepted; NULL: no offer to hold to */
  guint64          offered_size;
  char            *offered_hash;  /* receivers: the accepted offer's, when it gave one */
  GQueue           in_flight;     /* senders: data lengths of the chunks queued in the writer */
  MeshChunkPipe   *pipe;          /* folders: the chunks to or from the archive thread */

  /*< private >*/
  MeshTransferFrameFunc on_frame; /* of the read under way */
};

struct _MeshTransferEngineClass {
  GObjectClass parent_class;

  /* Stops what still works for the transfer (threads, pipes) just before
   * the task returns; @error is NULL on success.  Optional. */
  void (*completing) (MeshTransferEngine *self,
                      const GError       *error);
  /* Senders: the stream took a chunk of @len data bytes (in the order they were written). */
  void (*chunk_sent) (MeshTransferEngine *self,
                      gsize               len);
};

GType       mesh_transfer_engine_get_type        (void) G_GNUC_CONST;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTransferEngine, g_object_unref)

gpointer    mesh_transfer_engine_new             (GType                 type,
                                                  GIOStream            *stream,
                                                  GFile                *file);

void        mesh_transfer_engine_start           (MeshTransferEngine   *self,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data,
                                                  gpointer              source_tag);
gboolean    mesh_transfer_engine_finish          (MeshTransferEngine   *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
void        mesh_transfer_engine_complete        (MeshTransferEngine   *self,
                                                  GError               *error);
GError     *mesh_transfer_engine_cancelled_error (void);
gboolean    mesh_transfer_engine_is_cancelled    (MeshTransferEngine   *self);
void        mesh_transfer_engine_progress        (MeshTransferEngine   *self,
                                                  guint64               done,
                                                  guint64               total);
gboolean    mesh_transfer_engine_job_finish      (MeshTransferEngine   *self,
                                                  GAsyncResult         *result);
void        mesh_transfer_engine_read            (MeshTransferEngine   *self,
                                                  MeshTransferFrameFunc func);
void        mesh_transfer_engine_start_worker    (MeshTransferEngine   *self,
                                                  GTaskThreadFunc       thread,
                                                  GAsyncReadyCallback   done,
                                                  GSourceFunc           notify);
void        mesh_transfer_engine_write_chunk     (MeshTransferEngine   *self,
                                                  GBytes               *payload);
void        mesh_transfer_engine_write_done      (MeshTransferEngine   *self,
                                                  JsonObject           *done);
void        mesh_transfer_engine_tell            (MeshTransferEngine   *self,
                                                  const GError         *error,
                                                  GAsyncReadyCallback   callback);
JsonObject *mesh_transfer_engine_parse_control   (MeshFrameType         type,
                                                  GBytes               *payload,
                                                  const char           *expected,
                                                  const char           *context,
                                                  const char          **t,
                                                  gboolean             *peer_error,
                                                  GError              **error);
gboolean    mesh_transfer_engine_check_offer     (MeshTransferEngine   *self,
                                                  const char           *frame,
                                                  const char           *what,
                                                  const char           *name,
                                                  guint64               size,
                                                  const char           *hash,
                                                  GError              **error);
void        mesh_transfer_engine_set_max_size    (MeshTransferEngine   *self,
                                                  guint64               max_size);
void        mesh_transfer_engine_set_offer       (MeshTransferEngine   *self,
                                                  const char           *name,
                                                  guint64               size,
                                                  const char           *hash);
const char *mesh_transfer_engine_get_name        (MeshTransferEngine   *self);

G_END_DECLS
