/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-escape.h"

static void
test_escape_controls (void)
{
  struct { const char *in; gssize len; const char *out; } cases[] = {
    { "holiday.jpg", -1, "holiday.jpg" },
    { "café ☕.txt", -1, "café ☕.txt" },
    { "ctl_\033[31mred", -1, "ctl_\\x1b[31mred" },
    { "a\rb\nc\td", -1, "a\\x0db\\x0ac\\x09d" },
    { "del\177", -1, "del\\x7f" },
    { "c1\302\233x", -1, "c1\\u{009b}x" },
    { "gpj.\342\200\256exe", -1, "gpj.\\u{202e}exe" },
    { "zero\342\200\213width", -1, "zero\\u{200b}width" },
    { "back\\slash", -1, "back\\\\slash" },
    { "bad\377utf8", -1, "bad\\xffutf8" },
    { "cut\342\200", -1, "cut\\xe2\\x80" },
    { "nul\0after", 9, "nul\\x00after" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *out = mesh_escape_for_display (cases[i].in, cases[i].len);

    g_assert_cmpstr (out, ==, cases[i].out);
    g_assert_true (g_utf8_validate (out, -1, NULL));
  }
  {
    g_autofree char *out = mesh_escape_for_display (NULL, -1);
    g_assert_cmpstr (out, ==, "(null)");
  }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mesh/unit/escape/controls", test_escape_controls);
  return g_test_run ();
}
