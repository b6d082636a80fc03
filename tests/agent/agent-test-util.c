/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "agent-test-util.h"

#include <archive_entry.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void
agent_test_stream_pair (GIOStream **a,
                        GIOStream **b)
{
  g_autoptr(GError) error = NULL;
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  for (guint i = 0; i < 2; i++) {
    g_autoptr(GSocket) socket = g_socket_new_from_fd (fds[i], &error);

    g_assert_no_error (error);
    *(i == 0 ? a : b) = G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
  }
}

void
agent_test_store_result (GObject      *source,
                         GAsyncResult *result,
                         gpointer      slot)
{
  *(GAsyncResult **) slot = g_object_ref (result);
}

GAsyncResult *
agent_test_wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

guint
agent_test_count_entries (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

void
agent_test_assert_same_file (const char *a,
                             const char *b)
{
  FILE *fa = fopen (a, "rb");
  FILE *fb = fopen (b, "rb");
  g_autofree char *ba = g_malloc (1 << 20);
  g_autofree char *bb = g_malloc (1 << 20);

  g_assert_nonnull (fa);
  g_assert_nonnull (fb);
  for (;;) {
    gsize na = fread (ba, 1, 1 << 20, fa);
    gsize nb = fread (bb, 1, 1 << 20, fb);

    g_assert_cmpuint (na, ==, nb);
    if (na == 0)
      break;
    g_assert_true (memcmp (ba, bb, na) == 0);
  }
  fclose (fa);
  fclose (fb);
}

void
agent_test_assert_same_tree (const char *a,
                             const char *b)
{
  g_autoptr(GDir) dir = g_dir_open (a, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  g_assert_true (g_file_test (b, G_FILE_TEST_IS_DIR));
  g_assert_cmpuint (agent_test_count_entries (a), ==, agent_test_count_entries (b));
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *pa = g_build_filename (a, name, NULL);
    g_autofree char *pb = g_build_filename (b, name, NULL);
    GStatBuf sa, sb;

    g_assert_no_errno (g_lstat (pa, &sa));
    if (g_lstat (pb, &sb) != 0)
      g_error ("%s is missing", pb);
    g_assert_cmpuint (sa.st_mode & S_IFMT, ==, sb.st_mode & S_IFMT);
    if (S_ISDIR (sa.st_mode)) {
      agent_test_assert_same_tree (pa, pb);
    } else if (S_ISLNK (sa.st_mode)) {
      g_autofree char *ta = g_file_read_link (pa, NULL);
      g_autofree char *tb = g_file_read_link (pb, NULL);

      g_assert_cmpstr (ta, ==, tb);
    } else {
      g_assert_cmpuint (sa.st_size, ==, sb.st_size);
      agent_test_assert_same_file (pa, pb);
    }
  }
}

la_ssize_t
agent_test_archive_collect (struct archive *archive,
                            void           *user_data,
                            const void     *buffer,
                            size_t          length)
{
  g_byte_array_append (user_data, buffer, length);
  return length;
}

struct archive *
agent_test_zip_writer_new (GByteArray *zip)
{
  struct archive *archive = archive_write_new ();

  archive_write_set_format_zip (archive);
  archive_write_zip_set_compression_store (archive);
  archive_write_set_format_option (archive, "zip", "experimental", "1");
  archive_write_set_bytes_per_block (archive, 0);
  g_assert_cmpint (archive_write_open2 (archive, zip, NULL, agent_test_archive_collect, NULL,
                                        NULL), ==, ARCHIVE_OK);
  return archive;
}

void
agent_test_archive_add (struct archive *archive,
                        const char     *path,
                        mode_t          mode,
                        const char     *symlink_target,
                        const void     *data,
                        gsize           len)
{
  struct archive_entry *entry = archive_entry_new ();

  archive_entry_set_pathname (entry, path);
  archive_entry_set_mode (entry, mode);
  if (symlink_target != NULL)
    archive_entry_set_symlink (entry, symlink_target);
  archive_entry_set_size (entry, len);
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  if (len > 0)
    g_assert_cmpint (archive_write_data (archive, data, len), ==, len);
  archive_entry_free (entry);
}
