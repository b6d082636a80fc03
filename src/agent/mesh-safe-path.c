/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-safe-path"

#include "config.h"

#include "mesh-safe-path.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-frame.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_BYTES 255

static gboolean
char_is_unsafe (gunichar c)
{
  /* C0 and C1 controls and DEL can rewrite a terminal or hide a name's end. */
  return c == '/' || c == '\\' || c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* TRUE for one path component that is safe to create as is. */
gboolean
mesh_safe_path_component_is_safe (const char *name,
                                  gsize       len)
{
  const char *end;

  if (name == NULL || len == 0 || len > NAME_MAX_BYTES)
    return FALSE;
  if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
    return FALSE;
  if (!g_utf8_validate (name, len, &end) || (gsize) (end - name) != len)
    return FALSE;
  for (const char *p = name; p < name + len; p = g_utf8_next_char (p)) {
    if (char_is_unsafe (g_utf8_get_char (p)))
      return FALSE;
  }
  return TRUE;
}

/* Cuts @name to at most @max bytes on a character boundary, keeping a short
 * extension so that the file still opens with the right application. */
static char *
truncate_name (const char *name,
               gsize       max)
{
  gsize len = strlen (name);
  const char *dot = strrchr (name, '.');
  gsize ext_len = dot != NULL && dot != name ? strlen (dot) : 0;
  gsize keep;
  g_autofree char *head = NULL;

  if (len <= max)
    return g_strdup (name);
  if (ext_len > 16)
    ext_len = 0;
  /* Back up to the start of a UTF-8 sequence (never a continuation byte). */
  keep = max - ext_len;
  while (keep > 0 && ((guchar) name[keep] & 0xc0) == 0x80)
    keep--;
  head = g_strndup (name, keep);
  return g_strconcat (head, ext_len > 0 ? dot : "", NULL);
}

/**
 * mesh_safe_path_sanitize_name:
 * @name: (nullable): a file name chosen by the peer
 *
 * Makes a single, harmless file name out of whatever the peer sent: only the
 * last component of a path survives (as a browser does with downloads),
 * invalid UTF-8 and control characters are replaced, empty, "." and ".."
 * become "file", and the result is at most %MESH_SAFE_NAME_MAX bytes.
 *
 * Returns: (transfer full): a name that is safe to create in a folder
 */
char *
mesh_safe_path_sanitize_name (const char *name)
{
  g_autofree char *valid = NULL;
  g_autofree char *base = NULL;
  g_autoptr(GString) clean = g_string_new (NULL);
  const char *start;

  valid = g_utf8_make_valid (name != NULL ? name : "", -1);
  g_strdelimit (valid, "\\", '/');
  g_strchomp (valid);
  while (strlen (valid) > 0 && valid[strlen (valid) - 1] == '/')
    valid[strlen (valid) - 1] = '\0';
  start = strrchr (valid, '/');
  base = g_strdup (start != NULL ? start + 1 : valid);

  for (const char *p = base; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (char_is_unsafe (c))
      g_string_append_c (clean, '_');
    else
      g_string_append_unichar (clean, c);
  }
  g_strstrip (clean->str);
  clean->len = strlen (clean->str);

  if (clean->len == 0 || g_str_equal (clean->str, ".") || g_str_equal (clean->str, ".."))
    return g_strdup ("file");
  return truncate_name (clean->str, MESH_SAFE_NAME_MAX);
}

/**
 * mesh_safe_path_relative_is_safe:
 *
 * Checks a path from an archive: relative, no "." or ".." component, and
 * every component safe by mesh_safe_path_component_is_safe().  A trailing
 * slash (a directory entry) is allowed.
 */
gboolean
mesh_safe_path_relative_is_safe (const char  *path,
                                 GError     **error)
{
  g_auto(GStrv) parts = NULL;
  guint n = 0;

  if (path == NULL || path[0] == '\0') {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "empty path");
    return FALSE;
  }
  if (path[0] == '/') {
    g_autofree char *shown = mesh_escape_for_display (path, -1);

    g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "absolute path “%s”", shown);
    return FALSE;
  }
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    gboolean last = parts[i + 1] == NULL;

    if (parts[i][0] == '\0' && last && i > 0)
      break;
    if (!mesh_safe_path_component_is_safe (parts[i], strlen (parts[i]))) {
      g_autofree char *shown = mesh_escape_for_display (path, -1);

      g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "unsafe path component in “%s”",
                   shown);
      return FALSE;
    }
    n++;
  }
  return n > 0;
}

/* TRUE when a symlink may hold @target: relative, without any ".."
 * component and made of safe components.  Such a link can only lead further
 * down from the folder it sits in, and so can any chain of such links (each
 * step only descends), whatever else the folder holds on disk.  Checking
 * ".." as text against the link's depth is not enough: "b -> a/.." climbs
 * out when "a" is itself a link to ".". */
gboolean
mesh_safe_path_link_target_is_safe (const char *link_path,
                                    const char *target)
{
  g_auto(GStrv) target_parts = NULL;

  if (link_path == NULL || target == NULL || target[0] == '\0' || target[0] == '/')
    return FALSE;
  if (strchr (target, '\\') != NULL)
    return FALSE;

  target_parts = g_strsplit (target, "/", -1);
  for (guint i = 0; target_parts[i] != NULL; i++) {
    const char *part = target_parts[i];

    if (part[0] == '\0' || g_str_equal (part, "."))
      continue;
    if (!mesh_safe_path_component_is_safe (part, strlen (part)))
      return FALSE;
  }
  return TRUE;
}

/* "name.ext" for @n == 0, else "name (n).ext"; "archive.tar.gz" keeps its
 * double extension. */
char *
mesh_safe_path_unique_name (const char *name,
                            guint       n)
{
  const char *ext;
  g_autofree char *stem = NULL;

  g_return_val_if_fail (name != NULL, NULL);

  if (n == 0)
    return g_strdup (name);

  ext = strrchr (name, '.');
  if (ext != NULL && ext != name) {
    const char *tar = g_strrstr_len (name, ext - name, ".tar");

    if (tar != NULL && tar + 4 == ext && tar != name)
      ext = tar;
  } else {
    ext = name + strlen (name);
  }
  stem = g_strndup (name, ext - name);
  return g_strdup_printf ("%s (%u)%s", stem, n, ext);
}

static gboolean
refuse_entry (GError     **error,
              const char  *path,
              const char  *why)
{
  g_autofree char *shown = mesh_escape_for_display (path, -1);

  g_set_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_UNSAFE_ENTRY, "refused entry “%s”: %s",
               shown, why);
  return FALSE;
}

static gboolean
entry_failed_errno (GError     **error,
                    int          saved_errno,
                    const char  *path)
{
  g_autofree char *shown = mesh_escape_for_display (path, -1);

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "Cannot create “%s”: %s",
               shown, g_strerror (saved_errno));
  return FALSE;
}

/* One more file, folder or link on disk; FALSE when that is one too many. */
static gboolean
count_created (MeshExtractLimits  *limits,
               GError            **error)
{
  if (limits->created >= limits->max_created) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "the folder holds more than the %" G_GUINT64_FORMAT " entries announced",
                 limits->max_created);
    return FALSE;
  }
  limits->created++;
  return TRUE;
}

/* Opens the folder that holds the last of @parts, creating the missing
 * folders on the way; each step is an openat() with O_NOFOLLOW relative to
 * the previous one, so no link (one an earlier entry made, or one someone
 * swaps in meanwhile) is ever followed. */
static int
open_parent (int                 root_fd,
             char              **parts,
             guint               n_parents,
             const char         *path,
             MeshExtractLimits  *limits,
             GError            **error)
{
  int fd = openat (root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0) {
    entry_failed_errno (error, errno, path);
    return -1;
  }
  for (guint i = 0; i < n_parents; i++) {
    int next;

    /* A folder made on the way counts as an entry: what is counted is
     * what exists on disk, whatever the archive lists. */
    if (mkdirat (fd, parts[i], 0755) == 0) {
      if (!count_created (limits, error)) {
        close (fd);
        return -1;
      }
    } else if (errno != EEXIST) {
      entry_failed_errno (error, errno, path);
      close (fd);
      return -1;
    }
    next = openat (fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      int saved_errno = errno;

      close (fd);
      if (saved_errno == ELOOP || saved_errno == ENOTDIR)
        refuse_entry (error, path, "it goes through a link or a file");
      else
        entry_failed_errno (error, saved_errno, path);
      return -1;
    }
    close (fd);
    fd = next;
  }
  return fd;
}

static gboolean
write_all (int           fd,
           const guint8 *data,
           gsize         len)
{
  while (len > 0) {
    gssize n = write (fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}

static gboolean
extract_data (int                   fd,
              struct archive       *in,
              const char           *path,
              MeshExtractLimits    *limits,
              GError              **error)
{
  guint64 written = 0;

  for (;;) {
    const void *block;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block (in, &block, &size, &offset);

    if (r == ARCHIVE_EOF)
      return TRUE;
    if (r < ARCHIVE_WARN) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "zip: %s",
                   archive_error_string (in) != NULL ? archive_error_string (in) : "read error");
      return FALSE;
    }
    /* Holes would make a file larger on disk than the bytes we count. */
    if (offset < 0 || (guint64) offset != written)
      return refuse_entry (error, path, "its data is not contiguous");
    /* What is counted is what gets written, whatever the headers said. */
    if (size > limits->max_bytes - MIN (limits->max_bytes,
                                        __atomic_load_n (&limits->bytes, __ATOMIC_RELAXED))) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                   "the folder holds more than the %" G_GUINT64_FORMAT " bytes announced and "
                   "accepted", limits->max_bytes);
      return FALSE;
    }
    if (!write_all (fd, block, size))
      return entry_failed_errno (error, errno, path);
    written += size;
    __atomic_add_fetch (&limits->bytes, size, __ATOMIC_RELAXED);
  }
}

/**
 * mesh_safe_path_extract_entry:
 * @root_fd: the folder everything lands in
 * @in: the archive, positioned at @entry's data
 * @limits: what all entries may create and write together, and what they did
 *   so far (`bytes` is updated atomically, for progress reports)
 *
 * Creates one archive entry below @root_fd: a relative path without "." or
 * "..", a regular file, folder or symbolic link (with a target that
 * mesh_safe_path_link_target_is_safe() accepts), never through a link and
 * never over an existing entry.  Hard links, devices, FIFOs and sockets are
 * refused.  Folders get at least rwx for the owner so that later entries fit.
 * Every file, folder and link created counts against @limits, and so does
 * every byte written (not what the headers announce).
 */
gboolean
mesh_safe_path_extract_entry (int                    root_fd,
                              struct archive        *in,
                              struct archive_entry  *entry,
                              MeshExtractLimits     *limits,
                              GError               **error)
{
  const char *path = archive_entry_pathname (entry);
  g_autoptr(GError) path_error = NULL;
  g_auto(GStrv) parts = NULL;
  guint n = 0;
  int parent_fd, fd;
  mode_t perm = archive_entry_perm (entry) & 0777;
  gboolean ok = TRUE;
  struct timespec times[2] = { { 0, UTIME_OMIT }, { archive_entry_mtime (entry), 0 } };

  if (path == NULL)
    return refuse_entry (error, "(no name)", "it has no name");
  if (!mesh_safe_path_relative_is_safe (path, &path_error))
    return refuse_entry (error, path, path_error != NULL ? path_error->message : "unsafe path");
  if (archive_entry_hardlink (entry) != NULL)
    return refuse_entry (error, path, "hard links are not accepted");

  parts = g_strsplit (path, "/", -1);
  while (parts[n] != NULL && parts[n][0] != '\0')
    n++;
  g_return_val_if_fail (n > 0, FALSE);
  if (!archive_entry_mtime_is_set (entry))
    times[1].tv_nsec = UTIME_OMIT;

  switch (archive_entry_filetype (entry)) {
  case AE_IFREG:
  case AE_IFDIR:
  case AE_IFLNK:
    break;
  default:
    return refuse_entry (error, path, "devices, FIFOs and sockets are not accepted");
  }
  if (archive_entry_filetype (entry) == AE_IFLNK &&
      !mesh_safe_path_link_target_is_safe (path, archive_entry_symlink (entry))) {
    g_autofree char *target = mesh_escape_for_display (archive_entry_symlink (entry) != NULL
                                                         ? archive_entry_symlink (entry) : "",
                                                       -1);
    g_autofree char *why = g_strdup_printf ("links must stay inside the folder: no absolute "
                                            "target and no “..” (target “%s”)", target);

    return refuse_entry (error, path, why);
  }

  parent_fd = open_parent (root_fd, parts, n - 1, path, limits, error);
  if (parent_fd < 0)
    return FALSE;

  switch (archive_entry_filetype (entry)) {
  case AE_IFREG:
    if (!count_created (limits, error)) {
      ok = FALSE;
      break;
    }
    fd = openat (parent_fd, parts[n - 1], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600);
    if (fd < 0) {
      ok = errno == EEXIST ? refuse_entry (error, path, "the folder already has this entry")
                           : entry_failed_errno (error, errno, path);
      break;
    }
    ok = extract_data (fd, in, path, limits, error);
    if (ok && (fchmod (fd, perm) != 0 || futimens (fd, times) != 0))
      ok = entry_failed_errno (error, errno, path);
    close (fd);
    break;
  case AE_IFDIR:
    if (mkdirat (parent_fd, parts[n - 1], 0700) == 0) {
      ok = count_created (limits, error);
    } else if (errno != EEXIST) {
      ok = entry_failed_errno (error, errno, path);
    }
    if (!ok)
      break;
    fd = openat (parent_fd, parts[n - 1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      ok = refuse_entry (error, path, "the folder already has a file or link of this name");
      break;
    }
    if (fchmod (fd, perm | 0700) != 0)
      ok = entry_failed_errno (error, errno, path);
    close (fd);
    break;
  case AE_IFLNK:
    if (!count_created (limits, error)) {
      ok = FALSE;
      break;
    }
    if (symlinkat (archive_entry_symlink (entry), parent_fd, parts[n - 1]) != 0) {
      ok = errno == EEXIST ? refuse_entry (error, path, "the folder already has this entry")
                           : entry_failed_errno (error, errno, path);
      break;
    }
    utimensat (parent_fd, parts[n - 1], times, AT_SYMLINK_NOFOLLOW);
    break;
  default:
    g_assert_not_reached ();
  }
  close (parent_fd);
  return ok;
}
