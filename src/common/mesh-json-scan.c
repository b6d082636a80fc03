/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-json"

#include "config.h"

#include "mesh-json-scan.h"

#include <math.h>
#include <string.h>

/* Nesting this deep or less needs no allocation for the stack of open
 * containers (one bit a level). */
#define SMALL_STACK_LEVELS 1024

typedef enum {
  SCAN_VALUE,
  SCAN_MEMBER,
  SCAN_AFTER_VALUE,
} ScanState;

typedef struct {
  const guchar       *end;
  MeshJsonScanFlags   flags;
  const char         *problem;
  const guchar       *where;
} Scanner;

static inline const guchar *
skip_space (const guchar *p,
            const guchar *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static inline gboolean
fail (Scanner      *scanner,
      const guchar *where,
      const char   *problem)
{
  scanner->problem = problem;
  scanner->where = where;
  return FALSE;
}

/* One UTF-8 sequence of two to four bytes at @p (whose first byte is not
 * ASCII): no overlong forms, no surrogates, nothing past U+10FFFF. */
static const guchar *
scan_utf8 (const guchar *p,
           const guchar *end)
{
  guchar c = *p;
  gunichar min, u;
  guint n;

  if (c >= 0xc2 && c <= 0xdf) {
    n = 1;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 2;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 3;
    min = 0x10000;
  } else {
    return NULL;
  }
  if ((gsize) (end - p) <= n)
    return NULL;
  u = c & (0x3f >> n);
  for (guint i = 1; i <= n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return NULL;
    u = (u << 6) | (p[i] & 0x3f);
  }
  if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff))
    return NULL;
  return p + n + 1;
}

/* Four hex digits at @p, or -1. */
static gint
read_hex4 (const guchar *p,
           const guchar *end)
{
  gint value = 0;

  if (end - p < 4)
    return -1;
  for (guint i = 0; i < 4; i++) {
    gint digit = g_ascii_xdigit_value (p[i]);

    if (digit < 0)
      return -1;
    value = (value << 4) | digit;
  }
  return value;
}

/* @p is on the opening quote.  Returns the position after the closing one,
 * or NULL with the problem noted. */
static const guchar *
scan_string (Scanner       *scanner,
             const guchar  *p,
             MeshJsonToken *token)
{
  const guchar *end = scanner->end;
  const guchar *start = ++p;

  token->kind = MESH_JSON_KIND_STRING;
  token->escaped = token->nul = FALSE;
  while (p < end) {
    guchar c = *p;

    if (c == '"') {
      token->text = (const char *) start;
      token->len = p - start;
      return p + 1;
    }
    if (c < 0x20) {
      fail (scanner, p, "a control character in a string must be escaped");
      return NULL;
    }
    if (c >= 0x80) {
      const guchar *next = scan_utf8 (p, end);

      if (next == NULL) {
        fail (scanner, p, "not UTF-8");
        return NULL;
      }
      p = next;
      continue;
    }
    if (c != '\\') {
      p++;
      continue;
    }

    token->escaped = TRUE;
    if (++p >= end)
      break;
    if (*p == 'u') {
      gint unit = read_hex4 (p + 1, end);

      if (unit < 0) {
        fail (scanner, p - 1, "a \\u escape needs four hex digits");
        return NULL;
      }
      if (unit == 0) {
        token->nul = TRUE;
        if (scanner->flags & MESH_JSON_SCAN_NO_NUL) {
          fail (scanner, p - 1, "\\u0000 is not allowed in strings");
          return NULL;
        }
      }
      p += 5;
      if (unit >= 0xd800 && unit <= 0xdfff) {
        gint low = -1;

        /* A high surrogate takes the low one that must follow it. */
        if (unit <= 0xdbff && end - p >= 2 && p[0] == '\\' && p[1] == 'u')
          low = read_hex4 (p + 2, end);
        if (low >= 0xdc00 && low <= 0xdfff) {
          p += 6;
        } else if (!(scanner->flags & MESH_JSON_SCAN_LONE_SURROGATES)) {
          fail (scanner, p - 6, "a \\u escape is a lone surrogate");
          return NULL;
        }
      }
      continue;
    }
    if (strchr ("\"\\/bfnrt", *p) == NULL || *p == '\0') {
      fail (scanner, p - 1, "unknown escape in a string");
      return NULL;
    }
    p++;
  }
  fail (scanner, start - 1, "unterminated string");
  return NULL;
}

static const guchar *
scan_digits (const guchar *p,
             const guchar *end)
{
  const guchar *start = p;

  while (p < end && g_ascii_isdigit (*p))
    p++;
  return p > start ? p : NULL;
}

/* Whether the decimal integer [@start, @end) (sign included) fits in gint64. */
static gboolean
fits_int64 (const guchar *start,
            const guchar *end)
{
  gboolean negative = *start == '-';
  guint64 limit = negative ? (guint64) G_MAXINT64 + 1 : (guint64) G_MAXINT64;
  guint64 value = 0;

  for (const guchar *p = start + negative; p < end; p++) {
    guint digit = *p - '0';

    if (value > (limit - digit) / 10)
      return FALSE;
    value = value * 10 + digit;
  }
  return TRUE;
}

/* The number grammar of RFC 8259 §6: no leading zeros, no '+', no bare
 * '.', no hex, no NaN or Infinity. */
static const guchar *
scan_number (Scanner       *scanner,
             const guchar  *p,
             MeshJsonToken *token)
{
  const guchar *end = scanner->end;
  const guchar *start = p;
  gboolean integral = TRUE;

  if (*p == '-')
    p++;
  if (p < end && *p == '0') {
    p++;
    if (p < end && g_ascii_isdigit (*p)) {
      fail (scanner, start, "a number has a leading zero");
      return NULL;
    }
  } else if ((p = scan_digits (p, end)) == NULL) {
    fail (scanner, start, "bad number");
    return NULL;
  }
  if (p < end && *p == '.') {
    integral = FALSE;
    if ((p = scan_digits (p + 1, end)) == NULL) {
      fail (scanner, start, "bad number: digits must follow '.'");
      return NULL;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integral = FALSE;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if ((p = scan_digits (p, end)) == NULL) {
      fail (scanner, start, "bad number: digits must follow the exponent");
      return NULL;
    }
  }
  if (integral && (scanner->flags & MESH_JSON_SCAN_INT64) && !fits_int64 (start, p)) {
    fail (scanner, start, "an integer is out of the 64-bit range");
    return NULL;
  }
  if (!integral && (scanner->flags & MESH_JSON_SCAN_FINITE)) {
    g_autofree char *copy = g_strndup ((const char *) start, p - start);
    char written[G_ASCII_DTOSTR_BUF_SIZE];
    double value = g_ascii_strtod (copy, NULL);

    /* json-glib reads with g_strtod and writes with g_ascii_dtostr, adding
     * ".0" when there is no '.' (after an exponent too). */
    if (!isfinite (value)) {
      fail (scanner, start, "a number is too large for a double");
      return NULL;
    }
    g_ascii_dtostr (written, sizeof written, value);
    if (strchr (written, '.') == NULL && strpbrk (written, "eE") != NULL) {
      fail (scanner, start, "a number json-glib would write back as invalid JSON "
                            "(give its digits with a fraction)");
      return NULL;
    }
  }
  token->kind = MESH_JSON_KIND_NUMBER;
  token->text = (const char *) start;
  token->len = p - start;
  token->escaped = token->nul = FALSE;
  return p;
}

static const guchar *
scan_literal (Scanner       *scanner,
              const guchar  *p,
              MeshJsonToken *token)
{
  static const char *const literals[] = { "true", "false", "null" };

  for (guint i = 0; i < G_N_ELEMENTS (literals); i++) {
    gsize n = strlen (literals[i]);

    if ((gsize) (scanner->end - p) >= n && memcmp (p, literals[i], n) == 0) {
      token->kind = MESH_JSON_KIND_LITERAL;
      token->text = (const char *) p;
      token->len = n;
      token->escaped = token->nul = FALSE;
      return p + n;
    }
  }
  fail (scanner, p, *p == '\'' ? "strings take double quotes" :
                    *p == '/' ? "JSON has no comments" : "expected a value");
  return NULL;
}

static inline void
stack_set (guint8   *stack,
           guint     level,
           gboolean  is_object)
{
  if (is_object)
    stack[level / 8] |= 1u << (level % 8);
  else
    stack[level / 8] &= ~(1u << (level % 8));
}

static inline gboolean
stack_is_object (const guint8 *stack,
                 guint         level)
{
  return (stack[level / 8] >> (level % 8)) & 1;
}

gboolean
mesh_json_scan (const char         *data,
                gsize               len,
                guint               max_depth,
                MeshJsonScanFlags   flags,
                MeshJsonMemberFunc  member_func,
                gpointer            user_data,
                MeshJsonScanError  *error)
{
  Scanner scanner = { (const guchar *) data + len, flags, NULL, NULL };
  const guchar *start = (const guchar *) data;
  const guchar *end = scanner.end;
  const guchar *p = start;
  guint8 small_stack[SMALL_STACK_LEVELS / 8];
  g_autofree guint8 *heap_stack = NULL;
  guint8 *stack = small_stack;
  guint depth = 0;
  ScanState state = SCAN_VALUE;
  MeshJsonToken key = { 0 };
  gboolean have_key = FALSE;        /* a member's value comes next */

  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (max_depth > SMALL_STACK_LEVELS)
    stack = heap_stack = g_malloc0 (max_depth / 8 + 1);

  for (;;) {
    p = skip_space (p, end);

    if (state == SCAN_VALUE) {
      MeshJsonToken value;

      if (p >= end) {
        fail (&scanner, p, depth == 0 ? "empty document" : "unexpected end");
        break;
      }

      if (*p == '{' || *p == '[') {
        gboolean is_object = *p == '{';

        if (depth >= max_depth) {
          fail (&scanner, p, "nested too deeply");
          break;
        }
        if (have_key && member_func != NULL) {
          value.kind = is_object ? MESH_JSON_KIND_OBJECT : MESH_JSON_KIND_ARRAY;
          value.text = (const char *) p;
          value.len = 1;
          value.escaped = value.nul = FALSE;
          member_func (depth, &key, &value, user_data);
        }
        have_key = FALSE;
        stack_set (stack, depth++, is_object);
        p = skip_space (p + 1, end);
        if (p < end && *p == (is_object ? '}' : ']')) {
          depth--;
          p++;
          state = SCAN_AFTER_VALUE;
        } else {
          state = is_object ? SCAN_MEMBER : SCAN_VALUE;
        }
        continue;
      }

      if (*p == '"')
        p = scan_string (&scanner, p, &value);
      else if (*p == '-' || g_ascii_isdigit (*p))
        p = scan_number (&scanner, p, &value);
      else
        p = scan_literal (&scanner, p, &value);
      if (p == NULL)
        break;
      if (have_key && member_func != NULL)
        member_func (depth, &key, &value, user_data);
      have_key = FALSE;
      state = SCAN_AFTER_VALUE;
    } else if (state == SCAN_MEMBER) {
      if (p >= end || *p != '"') {
        fail (&scanner, p, p < end && *p == '\'' ? "member names take double quotes" :
                           p < end && *p == '/' ? "JSON has no comments" :
                           "expected a member name");
        break;
      }
      if ((p = scan_string (&scanner, p, &key)) == NULL)
        break;
      p = skip_space (p, end);
      if (p >= end || *p != ':') {
        fail (&scanner, p, "expected ':'");
        break;
      }
      p++;
      have_key = TRUE;
      state = SCAN_VALUE;
    } else {
      gboolean in_object;

      if (depth == 0) {
        if (p != end) {
          fail (&scanner, p, *p == '/' ? "JSON has no comments" : "unexpected data after the value");
          break;
        }
        return TRUE;
      }
      in_object = stack_is_object (stack, depth - 1);
      if (p < end && *p == ',') {
        p = skip_space (p + 1, end);
        /* [1,] and {"a":1,} */
        if (p < end && (*p == ']' || *p == '}')) {
          fail (&scanner, p, "a comma must be followed by a value");
          break;
        }
        state = in_object ? SCAN_MEMBER : SCAN_VALUE;
      } else if (p < end && *p == (in_object ? '}' : ']')) {
        p++;
        depth--;
      } else {
        fail (&scanner, p, p < end && *p == '/' ? "JSON has no comments" :
                           in_object ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
      }
    }
  }

  if (error != NULL) {
    error->problem = scanner.problem;
    error->offset = scanner.where - start;
  }
  return FALSE;
}
