/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-envelope"

#include "config.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

MeshEnvelope *
mesh_envelope_new (const char *type,
                   const char *from,
                   const char *to,
                   JsonObject *payload)
{
  MeshEnvelope *self = g_new0 (MeshEnvelope, 1);

  g_return_val_if_fail (type != NULL, NULL);

  self->type = g_strdup (type);
  self->id = mesh_id_new ();
  self->timestamp = mesh_timestamp_now ();
  self->from = g_strdup (from);
  self->to = g_strdup (to);
  self->payload = payload ? json_object_ref (payload) : json_object_new ();
  return self;
}

void
mesh_envelope_free (MeshEnvelope *self)
{
  if (self == NULL)
    return;
  g_free (self->type);
  g_free (self->id);
  g_free (self->timestamp);
  g_free (self->from);
  g_free (self->to);
  g_clear_pointer (&self->payload, json_object_unref);
  g_free (self);
}

static gboolean
check_short_string (JsonObject  *root,
                    const char  *field,
                    gboolean     required,
                    gsize        max_len,
                    char       **out,
                    GError     **error)
{
  const char *value;

  if (!mesh_json_get_string (root, field, required, &value, error))
    return FALSE;
  if (value != NULL && (value[0] == '\0' || strlen (value) > max_len)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "field '%s' must be 1..%" G_GSIZE_FORMAT " characters", field, max_len);
    return FALSE;
  }
  *out = g_strdup (value);
  return TRUE;
}

/* A string token's value: as it is, or decoded when it has escapes (the
 * scan has checked them already). */
static char *
token_string (const MeshJsonToken *token)
{
  g_autofree char *quoted = NULL;
  g_autoptr(JsonNode) node = NULL;

  if (!token->escaped)
    return g_strndup (token->text, token->len);
  quoted = g_strdup_printf ("\"%.*s\"", (int) token->len, token->text);
  node = mesh_json_parse (quoted, -1, NULL);
  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (node));
}

/* Notes the top-level "id" seen so far (a later one replaces it). */
static void
find_id_cb (guint                depth,
            const MeshJsonToken *key,
            const MeshJsonToken *value,
            gpointer             user_data)
{
  char **id = user_data;
  g_autofree char *name = NULL;

  if (depth != 1 || key->len > 16)
    return;
  name = token_string (key);
  if (g_strcmp0 (name, "id") != 0)
    return;
  g_clear_pointer (id, g_free);
  if (value->kind == MESH_JSON_KIND_STRING)
    *id = token_string (value);
  if (*id != NULL && ((*id)[0] == '\0' || strlen (*id) > MESH_ENVELOPE_MAX_ID_LEN))
    g_clear_pointer (id, g_free);
}

/* The id of a frame that is not valid JSON, when a valid one came before
 * the problem: `{"id":"r1","payload":{'x':1}}` is still request r1. */
static char *
salvage_id (const char *data,
            gsize       len)
{
  char *id = NULL;

  if (data == NULL)
    return NULL;
  mesh_json_scan (data, len, MESH_JSON_MAX_DEPTH, MESH_JSON_SCAN_STRICT, find_id_cb, &id, NULL);
  return id;
}

/* Parses one untrusted frame.  Only `type` is required; `id`, `to` and
 * `timestamp` are kept when they are strings of sane length.  `from` is
 * never an error (§3: a server overwrites it, and a client cannot know its
 * peer_id before system.welcome): a string of sane length is kept, anything
 * else reads as absent.  A missing `payload` is an empty object.
 *
 * @ref (may be NULL) gets the frame's `id` when parsing fails but the id
 * could be read (even in a frame whose JSON goes wrong after it), so that
 * the error can carry `payload.ref` (§3). */
MeshEnvelope *
mesh_envelope_parse_full (const char  *data,
                          gsize        len,
                          char       **ref,
                          GError     **error)
{
  g_autoptr(MeshEnvelope) self = g_new0 (MeshEnvelope, 1);
  g_autoptr(JsonObject) root = NULL;
  JsonObject *payload;
  const char *from = NULL;

  if (ref != NULL)
    *ref = NULL;

  root = mesh_json_parse_object (data, len, error);
  if (root == NULL) {
    if (ref != NULL)
      *ref = salvage_id (data, len);
    return NULL;
  }

  /* The id first: every later failure can then name the request. */
  if (!check_short_string (root, "id", FALSE, MESH_ENVELOPE_MAX_ID_LEN, &self->id, error))
    return NULL;

  if (!check_short_string (root, "type", TRUE, MESH_ENVELOPE_MAX_TYPE_LEN, &self->type, error) ||
      !check_short_string (root, "timestamp", FALSE, 64, &self->timestamp, error) ||
      !check_short_string (root, "to", FALSE, MESH_ENVELOPE_MAX_ID_LEN, &self->to, error) ||
      !mesh_json_get_object (root, "payload", FALSE, &payload, error)) {
    if (ref != NULL)
      *ref = g_steal_pointer (&self->id);
    return NULL;
  }

  mesh_json_get_string (root, "from", FALSE, &from, NULL);
  if (from != NULL && from[0] != '\0' && strlen (from) <= MESH_ENVELOPE_MAX_ID_LEN)
    self->from = g_strdup (from);

  self->payload = payload ? json_object_ref (payload) : json_object_new ();

  return g_steal_pointer (&self);
}

MeshEnvelope *
mesh_envelope_parse (const char  *data,
                     gsize        len,
                     GError     **error)
{
  return mesh_envelope_parse_full (data, len, NULL, error);
}

char *
mesh_envelope_to_string (const MeshEnvelope *self,
                         gsize              *len)
{
  g_autoptr(JsonObject) root = json_object_new ();

  g_return_val_if_fail (self != NULL, NULL);

  json_object_set_string_member (root, "type", self->type);
  json_object_set_string_member (root, "id", self->id);
  json_object_set_string_member (root, "timestamp", self->timestamp);
  json_object_set_string_member (root, "from", self->from ? self->from : "server");
  if (self->to != NULL)
    json_object_set_string_member (root, "to", self->to);
  json_object_set_object_member (root, "payload", json_object_ref (self->payload));
  return mesh_json_object_to_string (root, len);
}

/* One-shot: a fresh id and timestamp around @payload. */
char *
mesh_envelope_build (const char *type,
                     const char *from,
                     const char *to,
                     JsonObject *payload,
                     gsize      *len)
{
  g_autoptr(MeshEnvelope) env = mesh_envelope_new (type, from, to, payload);

  return mesh_envelope_to_string (env, len);
}
