/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A thread of its own for a transfer's disk work (reading ahead, writing, hashing), fed
 * through a bounded queue, so that the thread driving QUIC never waits for the disk and never
 * wakes up once per chunk to start the next job.  Jobs run one after the other, in order. */
typedef struct _MeshIoWorker MeshIoWorker;

/* Runs in the worker thread.  Returns the job's result (handed back in order by
 * mesh_io_worker_pop_result()), or NULL; an error stops the worker: later jobs are dropped. */
typedef gpointer (*MeshIoWorkerFunc)   (gpointer   job,
                                        gpointer   user_data,
                                        GError   **error);
/* Runs on the creating thread's main context after jobs finished (coalesced). */
typedef void     (*MeshIoWorkerNotify) (gpointer   user_data);

MeshIoWorker *mesh_io_worker_new          (const char         *name,
                                           MeshIoWorkerFunc    func,
                                           GDestroyNotify      job_free,
                                           GDestroyNotify      result_free,
                                           MeshIoWorkerNotify  notify,
                                           gpointer            user_data);
void          mesh_io_worker_push         (MeshIoWorker       *self,
                                           gpointer            job,
                                           gsize               weight);
gpointer      mesh_io_worker_pop_result   (MeshIoWorker       *self,
                                           gsize              *weight);
gsize         mesh_io_worker_get_pending  (MeshIoWorker       *self);
guint64       mesh_io_worker_get_done     (MeshIoWorker       *self);
gboolean      mesh_io_worker_is_idle      (MeshIoWorker       *self);
GError       *mesh_io_worker_take_error   (MeshIoWorker       *self);
void          mesh_io_worker_free         (MeshIoWorker       *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshIoWorker, mesh_io_worker_free)

G_END_DECLS
