/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <archive.h>
#include <gio/gio.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* The two ends of a connected local socket pair, as streams. */
void          agent_test_stream_pair     (GIOStream     **a,
                                          GIOStream     **b);

/* A GAsyncReadyCallback keeping a reference to the result in the
 * GAsyncResult * that @slot points to; agent_test_wait_result () iterates
 * the default main context until it is there. */
void          agent_test_store_result    (GObject        *source,
                                          GAsyncResult   *result,
                                          gpointer        slot);
GAsyncResult *agent_test_wait_result     (GAsyncResult  **slot);

/* How many entries the folder @path has (0 when it does not exist). */
guint         agent_test_count_entries   (const char     *path);
/* Fails the test unless the files @a and @b hold the same bytes. */
void          agent_test_assert_same_file (const char    *a,
                                           const char    *b);
/* Fails the test unless the folders @a and @b hold the same names, with the
 * same types, link targets and file bytes, all the way down. */
void          agent_test_assert_same_tree (const char    *a,
                                           const char    *b);

/* An archive_write_open2 () writer appending to the GByteArray in @user_data. */
la_ssize_t    agent_test_archive_collect (struct archive *archive,
                                          void           *user_data,
                                          const void     *buffer,
                                          size_t          length);
/* A zip writer (entries stored, links as links) appending to @zip; close
 * and free it with archive_write_close () and archive_write_free (). */
struct archive *agent_test_zip_writer_new (GByteArray   *zip);
/* Writes one entry as given, however hostile: @symlink_target for links,
 * @len bytes of @data for files. */
void          agent_test_archive_add     (struct archive *archive,
                                          const char     *path,
                                          mode_t          mode,
                                          const char     *symlink_target,
                                          const void     *data,
                                          gsize           len);

G_END_DECLS
