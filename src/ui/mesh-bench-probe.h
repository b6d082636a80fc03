/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The measuring side of bench/app-start, off unless the environment
 * variable MESH_BENCH_PROBE names a file.  Then it times the start, from the
 * process's creation to the first frame of the main window that shows the
 * signed-in room list; with MESH_BENCH_PROBE_ROOM (a room id) it also opens
 * that room, reads the idle memory, scrolls its chat up to the very first
 * message and records the longest stall of the main loop.  It writes
 * `key=value` lines to the file and quits the application.  Other knobs:
 * MESH_BENCH_PROBE_SCROLL_PX (pixels a frame, 200), MESH_BENCH_PROBE_IDLE_MS
 * (3000), MESH_BENCH_PROBE_TIMEOUT_S (600). */
void mesh_bench_probe_attach (GtkApplication *application);

G_END_DECLS
