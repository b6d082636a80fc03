/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-escape"

#include "config.h"

#include "mesh-escape.h"

#include <string.h>

/* Characters a terminal or a log reader would act on or that hide what a
 * line says: C0 and C1 controls and DEL (escape sequences, carriage returns
 * that overwrite a line), and Unicode format characters (bidirectional
 * overrides that reorder "exe.txt" into "txt.exe", zero-width joiners). */
static gboolean
must_escape (gunichar c)
{
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
    return TRUE;
  if (c == 0x2028 || c == 0x2029)
    return TRUE;
  return g_unichar_type (c) == G_UNICODE_FORMAT;
}

/**
 * mesh_escape_for_display:
 * @text: (nullable): text a peer chose: a file name, a reason, a message
 * @len: its length in bytes, or -1 if it ends with a NUL
 *
 * Returns @text safe to print to a terminal or to write to a log line:
 * printable characters as they are, a backslash doubled, controls and
 * format characters as `\xNN` or `\u{NNNN}`, and bytes that are not UTF-8
 * as `\xNN`.  NULL becomes "(null)".
 */
char *
mesh_escape_for_display (const char *text,
                         gssize      len)
{
  GString *out;
  const char *p, *end;

  if (text == NULL)
    return g_strdup ("(null)");
  if (len < 0)
    len = strlen (text);

  out = g_string_sized_new (len + 8);
  p = text;
  end = text + len;
  while (p < end) {
    gunichar c = g_utf8_get_char_validated (p, end - p);

    if (c == (gunichar) -1 || c == (gunichar) -2) {
      g_string_append_printf (out, "\\x%02x", (guchar) *p);
      p++;
      continue;
    }
    if (c == '\\')
      g_string_append (out, "\\\\");
    else if (c < 0x80 && must_escape (c))
      g_string_append_printf (out, "\\x%02x", c);
    else if (must_escape (c))
      g_string_append_printf (out, "\\u{%04x}", c);
    else
      g_string_append_len (out, p, g_utf8_next_char (p) - p);
    p = g_utf8_next_char (p);
  }
  return g_string_free (out, FALSE);
}
