/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What mesh-terminal-host.c (the PTY, the child, the public API) and
 * mesh-terminal-host-viewers.c (each viewer's stream: the frames queued for
 * it and the frames it sends) share.  Nothing else includes this. */

#include "mesh-terminal-host.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCROLLBACK_SIZE    (64 * 1024)
#define READ_SIZE          (256 * 1024)
/* Flow control: the PTY is read only while the quickest viewer has less
 * than PAUSE_BACKLOG unsent, so a fast producer (cat of a big file) is
 * paced by the viewers instead of piling up output.  A viewer that lags
 * more than MAX_VIEWER_BACKLOG behind while others keep up is cut off;
 * it can reattach and gets the scrollback. */
#define PAUSE_BACKLOG      (256 * 1024)
#define MAX_VIEWER_BACKLOG (2 * 1024 * 1024)
#define MAX_PENDING_INPUT  (256 * 1024)
/* A viewer's frames are read only while less than READ_BACKLOG is queued
 * for it: whatever it sends (input, resizes) cannot make us queue answers
 * it does not read.  Below MAX_VIEWER_BACKLOG, so a controller that pauses
 * is slowed down, not cut off. */
#define READ_BACKLOG       (1024 * 1024)
/* Refused frames (input or resizes without control, bad frames) draw on a
 * budget that refills slowly: a person typing into a view-only terminal
 * stays far below it, a flood empties it and the viewer is closed. */
#define REFUSAL_BURST      256.0
#define REFUSALS_PER_SEC   16.0
/* How long a dropped viewer may take to read its last frames (the shell's
 * final output, the reason it was closed) before its stream is cut. */
#define DRAIN_TIMEOUT_MS   5000
/* The PTY is paused while every viewer is behind; a viewer that takes
 * nothing at all for this long is cut off, so a single viewer that never
 * reads cannot freeze the host's shell. */
#define DEFAULT_STALL_TIMEOUT_MS 15000

enum {
  OUTPUT,
  VIEWER_REMOVED,
  EXITED,
  N_SIGNALS
};

extern guint host_signals[N_SIGNALS];

typedef struct {
  MeshTerminalHost *host;         /* NULL once removed */
  char             *id;
  GIOStream        *stream;
  MeshFrameReader  *reader;
  MeshFrameWriter  *writer;
  GCancellable     *cancellable;
  GSource          *drain_timeout;
  gboolean          may_control;
  gboolean          draining;       /* a flush is pending to resume the PTY */
  gboolean          reading;
  gboolean          read_paused;    /* too much queued for it: not reading its frames */
  gboolean          flushing;
  gboolean          closed;
  gboolean          overflowed;     /* over MAX_VIEWER_BACKLOG: being dropped */
  gboolean          refusal_pending; /* an ERROR is queued: later refusals are not answered */
  double            refusal_budget;
  gint64            refusal_time;
  gsize             stall_mark;     /* queued bytes at the last stall check */
} Viewer;

struct _MeshTerminalHost {
  GObject     parent_instance;

  GStrv       argv;
  GPid        pid;
  int         master;
  /* On the context that was thread-default at creation: the app hosts
   * shells on its agent thread, not the main one. */
  GMainContext *context;
  GSource    *read_source;
  GSource    *write_source;
  GSource    *child_watch;
  guint       cols;
  guint       rows;
  GByteArray *scrollback;
  GByteArray *pending_input;
  GHashTable *viewers;            /* id → Viewer */
  char       *controller;
  guint       next_viewer;
  GSource    *stall_source;
  guint       stall_timeout_ms;
  gboolean    running;
  gboolean    paused;
};

/* mesh-terminal-host-viewers.c */
Viewer *viewer_ref (Viewer *viewer);
void viewer_unref (Viewer *viewer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Viewer, viewer_unref)

void host_drop_viewer (MeshTerminalHost *self,
                       Viewer           *viewer,
                       gboolean          graceful);
void host_send (Viewer        *viewer,
                MeshFrameType  type,
                GBytes        *payload);
void host_send_control (Viewer     *viewer,
                        JsonObject *control);
void host_broadcast_output (MeshTerminalHost *self,
                            GBytes           *output);
void viewer_read_next (Viewer *viewer);

/* mesh-terminal-host.c, for the viewers */
void host_apply_size (MeshTerminalHost *self,
                      guint             cols,
                      guint             rows);
void host_update_gate (MeshTerminalHost *self);
void host_write_input (MeshTerminalHost *self,
                       const guint8     *data,
                       gsize             len);
