/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "test-transfer-private.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Hostile folder senders: zips written by hand to climb out of the
 * download folder, through links or not, to lie about their hash, or to
 * be bigger than announced; nothing may land outside or stay behind. */

/* Hostile archives, written with libarchive the way an attacker could. */
typedef enum {
  EVIL_DOTDOT,
  EVIL_ABSOLUTE,
  EVIL_SYMLINK_ESCAPE,
  EVIL_SYMLINK_CLIMB,
  EVIL_DEVICE,
} Evil;

/* Hard links need no case: libarchive's zip format has no way to store
 * one (it writes the entry as an empty file); the receiver refuses them
 * anyway in case a future reader reports them. */

/* libarchive will not write a device into a zip, so the test writes a file
 * and then edits the mode in the local header's "xl" extra field, which is
 * where a streaming reader learns an entry's type. */
static void
patch_mode (GByteArray *zip,
            const char *name,
            guint32     mode)
{
  gsize name_len = strlen (name);

  for (guint i = 0; i + 30 + name_len < zip->len; i++) {
    guint8 *h = zip->data + i;
    guint extra_len;
    guint8 *extra;

    if (memcmp (h, "PK\003\004", 4) != 0 || (gsize) (h[26] + (h[27] << 8)) != name_len ||
        memcmp (h + 30, name, name_len) != 0)
      continue;
    extra_len = h[28] + (h[29] << 8);
    extra = h + 30 + name_len;
    for (guint off = 0; off + 4 <= extra_len;) {
      guint id = extra[off] + (extra[off + 1] << 8);
      guint size = extra[off + 2] + (extra[off + 3] << 8);
      guint8 *field = extra + off + 4;

      if (id == 0x6c78) {
        guint pos = 1;
        guint8 bitmap = field[0];

        g_assert_true (bitmap & 4);
        pos += (bitmap & 1) ? 2 : 0;
        pos += (bitmap & 2) ? 2 : 0;
        field[pos + 2] = mode & 0xff;
        field[pos + 3] = (mode >> 8) & 0xff;
        return;
      }
      off += 4 + size;
    }
  }
  g_assert_not_reached ();
}

static GBytes *
make_evil_zip (Evil        evil,
               const char *outside)
{
  g_autoptr(GByteArray) zip = g_byte_array_new ();
  struct archive *archive = archive_write_new ();
  g_autofree char *absolute = g_build_filename (outside, "evil-abs", NULL);

  archive_write_set_format_zip (archive);
  archive_write_set_format_option (archive, "zip", "experimental", "1");
  archive_write_set_bytes_per_block (archive, 0);
  g_assert_cmpint (archive_write_open2 (archive, zip, NULL, agent_test_archive_collect, NULL,
                                        NULL), ==, ARCHIVE_OK);
  add_entry (archive, "harmless.txt", AE_IFREG | 0644, NULL, "fine\n");
  switch (evil) {
  case EVIL_DOTDOT:
    add_entry (archive, "../../outside/evil", AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_ABSOLUTE:
    add_entry (archive, absolute, AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_SYMLINK_ESCAPE:
    add_entry (archive, "link", AE_IFLNK | 0777, outside, NULL);
    add_entry (archive, "link/passwd", AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_SYMLINK_CLIMB:
    add_entry (archive, "sub/up", AE_IFLNK | 0777, "../../outside", NULL);
    add_entry (archive, "sub/up/evil", AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_DEVICE:
    add_entry (archive, "dev-node", AE_IFREG | 0644, NULL, NULL);
    break;
  default:
    g_assert_not_reached ();
  }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  if (evil == EVIL_DEVICE)
    patch_mode (zip, "dev-node", S_IFCHR | 0644);
  return g_byte_array_free_to_bytes (g_steal_pointer (&zip));
}

static void
test_hostile_archives (Fixture       *fixture,
                       gconstpointer  data)
{
  for (Evil evil = EVIL_DOTDOT; evil <= EVIL_DEVICE; evil++) {
    g_autoptr(GBytes) zip = make_evil_zip (evil, fixture->outside);
    g_autofree char *hash = sha256_hex (g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    g_auto(Raw) raw = { 0 };
    g_autoptr(MeshFolderReceiver) receiver = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(GError) error = NULL;

    raw_open (&raw);
    receiver = mesh_folder_receiver_new (raw.b, fixture->downloads);
    mesh_folder_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);

    raw_send_zip_meta (&raw, "innocent", 3, 10);
    raw_send_chunk (&raw, 0, g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    /* The receiver may already have refused and closed nothing: the write
     * still succeeds on a socket pair. */
    raw_send_zip_done (&raw, hash, g_bytes_get_size (zip));

    answer = raw_read_control (&raw, "ZIP_DONE");
    g_assert_false (json_object_get_boolean_member (answer, "ok"));
    g_test_message ("case %d refused: %s", evil, json_object_get_string_member (answer, "error"));
    mesh_folder_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
    g_assert_nonnull (error);
    g_assert_null (mesh_folder_receiver_get_folder (receiver));

    /* Nothing outside, and the partial tree is gone. */
    g_assert_cmpuint (agent_test_count_entries (fixture->outside), ==, 0);
    g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }
}

static void
test_folder_hash_mismatch (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GByteArray) zip = g_byte_array_new ();
  struct archive *archive = archive_write_new ();
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFolderReceiver) receiver = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(GError) error = NULL;

  archive_write_set_format_zip (archive);
  archive_write_set_bytes_per_block (archive, 0);
  archive_write_open2 (archive, zip, NULL, agent_test_archive_collect, NULL, NULL);
  add_entry (archive, "a.txt", AE_IFREG | 0644, NULL, "content\n");
  archive_write_close (archive);
  archive_write_free (archive);

  raw_open (&raw);
  receiver = mesh_folder_receiver_new (raw.b, fixture->downloads);
  mesh_folder_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);

  raw_send_zip_meta (&raw, "folder", 1, 8);
  raw_send_chunk (&raw, 0, zip->data, zip->len);
  raw_send_zip_done (&raw, "11111111111111111111111111111111"
                           "11111111111111111111111111111111", zip->len);

  answer = raw_read_control (&raw, "ZIP_DONE");
  g_assert_false (json_object_get_boolean_member (answer, "ok"));
  mesh_folder_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH);
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
}

/* A zip of entries written as given (links stored as links). */
typedef struct {
  const char *path;
  mode_t      mode;
  const char *target;
  const char *text;
} Entry;

static GBytes *
make_zip (const Entry *entries,
          guint        n)
{
  g_autoptr(GByteArray) zip = g_byte_array_new ();
  struct archive *archive = agent_test_zip_writer_new (zip);

  for (guint i = 0; i < n; i++)
    add_entry (archive, entries[i].path, entries[i].mode, entries[i].target, entries[i].text);
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  return g_byte_array_free_to_bytes (g_steal_pointer (&zip));
}

/* Sends @zip as folder @name with that ZIP_META; returns the receiver's
 * error (NULL: extracted). */
static GError *
send_zip (Fixture    *fixture,
          GBytes     *zip,
          const char *offered_name,
          guint64     offered_size,
          const char *name,
          gint64      entries,
          gint64      total_bytes,
          gsize       pad)
{
  g_autofree char *hash = NULL;
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFolderReceiver) receiver = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(MeshSha256) sha = mesh_sha256_new ();
  g_autofree guint8 *zeros = g_malloc0 (256 * 1024);
  GError *error = NULL;
  guint64 offset = 0;
  const char *t;

  raw_open (&raw);
  receiver = mesh_folder_receiver_new (raw.b, fixture->downloads);
  if (offered_name != NULL)
    mesh_folder_receiver_set_offer (receiver, offered_name, offered_size);
  mesh_folder_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);

  raw_send_zip_meta (&raw, name, entries, total_bytes);
  /* A socket pair takes the writes even after the receiver stopped reading
   * (up to its buffer): stop at the first refusal. */
  if (raw.received == NULL) {
    raw_send_chunk (&raw, 0, g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    mesh_sha256_update (sha, g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    offset = g_bytes_get_size (zip);
  }
  /* Bytes after the zip's end (hashed, never extracted). */
  while (raw.received == NULL && pad > 0) {
    gsize n = MIN (pad, 256 * 1024);
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GBytes) payload = mesh_frame_chunk_new (offset, zeros, n);

    mesh_frame_writer_write_async (raw.writer, MESH_FRAME_CHUNK, payload, NULL,
                                   agent_test_store_result, &result);
    while (result == NULL && raw.received == NULL)
      g_main_context_iteration (NULL, TRUE);
    /* Refused meanwhile: its answer is already on its way to us; closing
     * its end unblocks our write. */
    if (result == NULL)
      g_io_stream_close (raw.b, NULL, NULL);
    if (!mesh_frame_writer_write_finish (raw.writer, agent_test_wait_result (&result), NULL))
      break;
    mesh_sha256_update (sha, zeros, n);
    offset += n;
    pad -= n;
  }
  hash = mesh_sha256_free_to_hex (g_steal_pointer (&sha));
  if (raw.received == NULL)
    raw_send_zip_done (&raw, hash, offset);

  {
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GBytes) payload = NULL;
    MeshFrameType type;

    mesh_frame_reader_read_async (raw.reader, NULL, agent_test_store_result, &result);
    mesh_frame_reader_read_finish (raw.reader, agent_test_wait_result (&result), &type, &payload,
                                   NULL);
    answer = payload != NULL ? mesh_frame_control_parse (payload, &t, NULL) : NULL;
  }
  mesh_folder_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
  g_test_message ("%s: %s", name, error != NULL ? error->message : "extracted");
  if (error != NULL) {
    /* The sender hears why, and nothing stays behind. */
    g_assert_nonnull (answer);
    g_assert_null (mesh_folder_receiver_get_folder (receiver));
    g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }
  g_assert_cmpuint (agent_test_count_entries (fixture->outside), ==, 0);
  return error;
}

/* Issue #10, 3: links checked as text let a chain climb out; now no link may
 * have ".." or an absolute target, and no entry is created through a link. */
static void
test_link_chains (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autofree char *abs_target = g_build_filename (fixture->outside, "x", NULL);
  const Entry chain[] = {
    { "a", AE_IFLNK | 0777, ".", NULL },
    { "b", AE_IFLNK | 0777, "a/..", NULL },
    { "c", AE_IFLNK | 0777, "b/..", NULL },
  };
  const Entry deep_chain[] = {
    { "d/e", AE_IFLNK | 0777, ".", NULL },
    { "d/f", AE_IFLNK | 0777, "e/e/e/..", NULL },
  };
  const Entry through[] = {
    { "sub/", AE_IFDIR | 0755, NULL, NULL },
    { "in", AE_IFLNK | 0777, "sub", NULL },
    { "in/file.txt", AE_IFREG | 0644, NULL, "through a link\n" },
  };
  const Entry dot_through[] = {
    { "here", AE_IFLNK | 0777, ".", NULL },
    { "here/here/file.txt", AE_IFREG | 0644, NULL, "x\n" },
  };
  const Entry absolute[] = {
    { "abs", AE_IFLNK | 0777, abs_target, NULL },
  };
  const Entry file_as_dir[] = {
    { "plain", AE_IFREG | 0644, NULL, "x\n" },
    { "plain/inner", AE_IFREG | 0644, NULL, "x\n" },
  };
  const Entry twice[] = {
    { "same.txt", AE_IFREG | 0644, NULL, "1\n" },
    { "same.txt", AE_IFREG | 0644, NULL, "2\n" },
  };
  const Entry fine[] = {
    { "dir/", AE_IFDIR | 0755, NULL, NULL },
    { "dir/file.txt", AE_IFREG | 0644, NULL, "ok\n" },
    { "dot", AE_IFLNK | 0777, ".", NULL },
    { "down", AE_IFLNK | 0777, "dir/file.txt", NULL },
    { "via", AE_IFLNK | 0777, "dot/dot/down", NULL },
  };
  struct {
    const Entry *entries;
    guint        n;
  } refused[] = {
    { chain, G_N_ELEMENTS (chain) },
    { deep_chain, G_N_ELEMENTS (deep_chain) },
    { through, G_N_ELEMENTS (through) },
    { dot_through, G_N_ELEMENTS (dot_through) },
    { absolute, G_N_ELEMENTS (absolute) },
    { file_as_dir, G_N_ELEMENTS (file_as_dir) },
    { twice, G_N_ELEMENTS (twice) },
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autoptr(GBytes) zip = make_zip (refused[i].entries, refused[i].n);
    g_autoptr(GError) error = send_zip (fixture, zip, NULL, 0, "links", 10, 100, 0);

    g_assert_nonnull (error);
  }

  /* Links that only lead down still arrive, chained or not. */
  {
    g_autoptr(GBytes) zip = make_zip (fine, G_N_ELEMENTS (fine));
    g_autoptr(GError) error = send_zip (fixture, zip, NULL, 0, "fine", 5, 3, 0);
    g_autofree char *via = g_build_filename (g_file_peek_path (fixture->downloads), "fine", "via",
                                             NULL);
    g_autofree char *text = NULL;

    g_assert_no_error (error);
    g_assert_true (g_file_get_contents (via, &text, NULL, NULL));
    g_assert_cmpstr (text, ==, "ok\n");
  }
}

/* Hard links cannot be stored in a zip by libarchive; a tar can carry them,
 * so the extraction step is fed one directly. */
static void
test_hard_links (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GByteArray) tar = g_byte_array_new ();
  g_autofree char *outside_file = g_build_filename (fixture->outside, "secret", NULL);
  g_autofree char *root = g_build_filename (fixture->root, "extract", NULL);
  struct archive *out = archive_write_new ();
  struct archive *in = archive_read_new ();
  struct archive_entry *entry;
  const char *targets[] = { outside_file, "../outside/secret", "inside.txt" };
  MeshExtractLimits limits = { .max_created = 10, .max_bytes = 1000 };
  int root_fd;

  write_text (fixture->outside, "secret", "secret\n");
  archive_write_set_format_pax_restricted (out);
  g_assert_cmpint (archive_write_open2 (out, tar, NULL, agent_test_archive_collect, NULL, NULL), ==,
                   ARCHIVE_OK);
  add_entry (out, "inside.txt", AE_IFREG | 0644, NULL, "inside\n");
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++) {
    g_autofree char *name = g_strdup_printf ("hard-%u", i);

    entry = archive_entry_new ();
    archive_entry_set_pathname (entry, name);
    archive_entry_set_mode (entry, AE_IFREG | 0644);
    archive_entry_set_hardlink (entry, targets[i]);
    g_assert_cmpint (archive_write_header (out, entry), ==, ARCHIVE_OK);
    archive_entry_free (entry);
  }
  archive_write_close (out);
  archive_write_free (out);

  g_assert_no_errno (g_mkdir (root, 0755));
  root_fd = open (root, O_RDONLY | O_DIRECTORY);
  g_assert_cmpint (root_fd, >=, 0);
  archive_read_support_format_tar (in);
  g_assert_cmpint (archive_read_open_memory (in, tar->data, tar->len), ==, ARCHIVE_OK);
  for (guint i = 0; archive_read_next_header (in, &entry) == ARCHIVE_OK; i++) {
    g_autoptr(GError) error = NULL;
    gboolean ok = mesh_safe_path_extract_entry (root_fd, in, entry, &limits, &error);

    if (i == 0) {
      g_assert_no_error (error);
      g_assert_true (ok);
    } else {
      g_test_message ("%s", error->message);
      g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_UNSAFE_ENTRY);
    }
  }
  archive_read_free (in);
  close (root_fd);
  g_assert_cmpuint (agent_test_count_entries (root), ==, 1);
  g_assert_cmpuint (limits.bytes, ==, strlen ("inside\n"));
  g_assert_cmpuint (limits.created, ==, 1);
}

/* Issue #10, 2: ZIP_META against the accepted offer, the zip against
 * ZIP_META (counting what is written, not what headers say), and the free
 * space of the download folder. */
static void
test_folder_limits (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autofree char *big = g_malloc0 (100 * 1024 + 1);
  const Entry three[] = {
    { "a.txt", AE_IFREG | 0644, NULL, "aaaa" },
    { "b/", AE_IFDIR | 0755, NULL, NULL },
    { "b/c.txt", AE_IFREG | 0644, NULL, "cccc" },
  };
  Entry large[] = {
    { "large.bin", AE_IFREG | 0644, NULL, NULL },
  };
  g_autoptr(GBytes) zip = make_zip (three, G_N_ELEMENTS (three));
  g_autoptr(GBytes) large_zip = NULL;
  g_autoptr(GBytes) deep_zip = NULL;
  g_autoptr(GString) deep_path = g_string_new (NULL);
  Entry deep[] = {
    { NULL, AE_IFREG | 0644, NULL, "x" },
  };
  GError *error;

  for (guint i = 0; i < 40; i++)
    g_string_append (deep_path, "d/");
  g_string_append (deep_path, "file");
  deep[0].path = deep_path->str;
  deep_zip = make_zip (deep, 1);

  memset (big, 'x', 100 * 1024);
  large[0].text = big;
  large_zip = make_zip (large, 1);

  /* More entries, or more bytes, than ZIP_META said. */
  error = send_zip (fixture, zip, NULL, 0, "entries", 2, 8, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  /* Folders made on the way count: one entry, 40 folders on disk. */
  error = send_zip (fixture, deep_zip, NULL, 0, "implicit", 1, 1, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  error = send_zip (fixture, zip, NULL, 0, "bytes", 3, 7, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  error = send_zip (fixture, large_zip, NULL, 0, "large", 1, 100 * 1024 - 1, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  /* A zip much larger than its entries can be (padding after its end). */
  error = send_zip (fixture, zip, NULL, 0, "padded", 3, 8, 4 * 1024 * 1024);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  /* ZIP_META against the offer: more bytes, another name. */
  error = send_zip (fixture, zip, "album", 7, "album", 3, 8, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  error = send_zip (fixture, zip, "album", 8, "other", 3, 8, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN);
  g_clear_error (&error);
  /* More than any disk holds. */
  error = send_zip (fixture, zip, NULL, 0, "huge", 3, G_MAXINT64 / 2, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, "free space"));
  g_clear_error (&error);

  /* Exactly what was offered and announced arrives. */
  error = send_zip (fixture, zip, "album", 8, "album", 3, 8, 0);
  g_assert_no_error (error);
}

void
test_transfer_add_archive_tests (void)
{
  transfer_test_add ("/mesh/transfer/folder/hostile-archives", test_hostile_archives);
  transfer_test_add ("/mesh/transfer/folder/hash-mismatch", test_folder_hash_mismatch);
  transfer_test_add ("/mesh/transfer/folder/link-chains", test_link_chains);
  transfer_test_add ("/mesh/transfer/folder/hard-links", test_hard_links);
  transfer_test_add ("/mesh/transfer/folder/limits", test_folder_limits);
}
