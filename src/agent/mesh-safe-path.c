/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-safe-path"

#include "config.h"

#include "mesh-safe-path.h"

#include "mesh-error.h"

#include <string.h>

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
    g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "absolute path “%s”", path);
    return FALSE;
  }
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    gboolean last = parts[i + 1] == NULL;

    if (parts[i][0] == '\0' && last && i > 0)
      break;
    if (!mesh_safe_path_component_is_safe (parts[i], strlen (parts[i]))) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                   "unsafe path component in “%s”", path);
      return FALSE;
    }
    n++;
  }
  return n > 0;
}

/* TRUE when a symlink at @link_path (relative to the extraction root) points
 * at something inside that root: a relative target that never climbs above
 * it.  Targets are checked as text: a later entry cannot make them escape
 * because extraction refuses to go through symlinks. */
gboolean
mesh_safe_path_link_target_is_safe (const char *link_path,
                                    const char *target)
{
  g_auto(GStrv) link_parts = NULL;
  g_auto(GStrv) target_parts = NULL;
  int depth = 0;

  if (link_path == NULL || target == NULL || target[0] == '\0' || target[0] == '/')
    return FALSE;
  if (strchr (target, '\\') != NULL)
    return FALSE;

  link_parts = g_strsplit (link_path, "/", -1);
  for (guint i = 0; link_parts[i] != NULL && link_parts[i + 1] != NULL; i++) {
    if (link_parts[i][0] != '\0')
      depth++;
  }

  target_parts = g_strsplit (target, "/", -1);
  for (guint i = 0; target_parts[i] != NULL; i++) {
    const char *part = target_parts[i];

    if (part[0] == '\0' || g_str_equal (part, "."))
      continue;
    if (g_str_equal (part, "..")) {
      if (--depth < 0)
        return FALSE;
      continue;
    }
    if (!mesh_safe_path_component_is_safe (part, strlen (part)))
      return FALSE;
    depth++;
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
