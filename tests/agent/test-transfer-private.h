/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "mesh-error.h"
#include "mesh-file-transfer.h"
#include "mesh-folder-transfer.h"
#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-safe-path.h"
#include "mesh-transfer-util.h"

#include "agent-test-util.h"

#include <archive.h>
#include <archive_entry.h>

G_BEGIN_DECLS

/* The agent-transfer suite in one executable: tests/agent/test-transfer.c has
 * the fixture, the helpers below and main(); each test-transfer-<theme>.c has
 * the tests of one theme and adds them with test_transfer_add_<theme>_tests(). */

typedef struct {
  char  *root;      /* temporary folder of the test */
  GFile *downloads; /* root/downloads: the receiver's folder */
  char  *outside;   /* root/outside: must stay empty */
} Fixture;

typedef void (*TransferTestFunc) (Fixture       *fixture,
                                  gconstpointer  data);

/* Adds the test @func at @path, run in a fresh Fixture. */
void  transfer_test_add                   (const char      *path,
                                           TransferTestFunc func);

void  test_transfer_add_file_tests        (void);
void  test_transfer_add_hash_cache_tests  (void);
void  test_transfer_add_hostile_tests     (void);
void  test_transfer_add_folder_tests      (void);
void  test_transfer_add_archive_tests     (void);

/* Files and folders to send. */
char *make_file                           (const char      *dir,
                                           const char      *name,
                                           gsize            size,
                                           guint32          seed);
void  write_bytes                         (const char      *path,
                                           const void      *data,
                                           gsize            size);
void  write_text                          (const char      *dir,
                                           const char      *name,
                                           const char      *text);
char *sha256_hex                          (const void      *data,
                                           gsize            len);

/* A real sender and receiver on a socket pair, and what came of it. */
typedef struct {
  gboolean          hash_cached;
  GError           *send_error;
  GError           *receive_error;
  guint64           resumed_sender;
  guint64           resumed_receiver;
  char             *result_path;
  char             *hash_sender;
  char             *hash_receiver;
  guint             progress_events;
} Outcome;

/* The sender's hash cache in run_file_transfer(), if any. */
extern MeshHashCache *transfer_hash_cache;

void  outcome_clear                       (Outcome         *outcome);
void  run_file_transfer                   (Fixture         *fixture,
                                           const char      *path,
                                           const char      *offered_name,
                                           guint64          max_size,
                                           guint64          interrupt_at,
                                           Outcome         *outcome);

/* A hand-driven sender, to say what a real one never would: its end of a
 * socket pair, the receiver under test on the other. */
typedef struct {
  GIOStream       *a;         /* the sender's end */
  GIOStream       *b;         /* the receiver's end */
  MeshFrameReader *reader;
  MeshFrameWriter *writer;
  GAsyncResult    *received;  /* the receiver's, once it is done */
} Raw;

void        raw_open                      (Raw             *raw);
void        raw_clear                     (Raw             *raw);
void        raw_send_control              (Raw             *raw,
                                           JsonObject      *control);
void        raw_send_chunk                (Raw             *raw,
                                           guint64          offset,
                                           const void      *data,
                                           gsize            len);
JsonObject *raw_read_control              (Raw             *raw,
                                           const char      *expected_t);
void        raw_send_file_meta            (Raw             *raw,
                                           const char      *name,
                                           gint64           size,
                                           const char      *hash);
void        raw_send_file_done            (Raw             *raw,
                                           const char      *hash);
void        raw_send_zip_meta             (Raw             *raw,
                                           const char      *name,
                                           gint64           entries,
                                           gint64           total_bytes);
void        raw_send_zip_done             (Raw             *raw,
                                           const char      *hash,
                                           gint64           size);
MeshFileReceiver *raw_file_receiver_start (Raw             *raw,
                                           Fixture         *fixture,
                                           GCancellable    *cancellable);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Raw, raw_clear)

/* One entry of a hand-written archive (agent_test_archive_add() with text). */
void        add_entry                     (struct archive  *archive,
                                           const char      *path,
                                           mode_t           mode,
                                           const char      *symlink_target,
                                           const char      *text);

G_END_DECLS
