/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: the envelope parser must turn any input into either an
 * envelope or a BAD_REQUEST error (with, when the id was readable, that id
 * as the ref), never a crash, a leak or a hang. */
#include "config.h"

#include "mesh-envelope.h"
#include "mesh-error.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ref = NULL;
  g_autoptr(MeshEnvelope) env = mesh_envelope_parse_full ((const char *) data, size, &ref, &error);

  if (env == NULL) {
    g_assert_nonnull (error);
    g_assert_true (error->domain == MESH_ERROR && error->code == MESH_ERROR_BAD_REQUEST);
    /* A ref goes back in an error frame: a short, valid string. */
    if (ref != NULL) {
      g_assert_true (ref[0] != '\0' && strlen (ref) <= MESH_ENVELOPE_MAX_ID_LEN);
      g_assert_true (g_utf8_validate (ref, -1, NULL));
    }
    return 0;
  }
  g_assert_null (ref);

  g_assert_nonnull (env->type);
  g_assert_nonnull (env->payload);
  /* What parsed must serialise again and parse to the same type. */
  {
    g_autofree char *again = mesh_envelope_to_string (env, NULL);
    g_autoptr(MeshEnvelope) env2 = mesh_envelope_parse (again, strlen (again), NULL);

    g_assert_nonnull (env2);
    g_assert_cmpstr (env2->type, ==, env->type);
  }
  return 0;
}
