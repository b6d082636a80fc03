/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "cli-private.h"

int
cmd_devices (App *app)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) answer = NULL;
  JsonArray *array;
  int code;

  if (!load_state (app, &code))
    return code;
  answer = rest_call (app, "GET", "/devices", NULL, NULL, &error);
  if (answer == NULL) {
    complain ("Cannot list devices: %s\n", safe (error->message));
    return exit_code_for (error);
  }
  if (!JSON_NODE_HOLDS_ARRAY (answer)) {
    complain ("Cannot list devices: the server's answer is malformed.\n");
    return EXIT_FAILURE_;
  }
  array = json_node_get_array (answer);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *node = json_array_get_element (array, i);
    const char *id = NULL, *name = NULL, *fingerprint = NULL;

    if (!JSON_NODE_HOLDS_OBJECT (node))
      continue;
    mesh_json_get_string (json_node_get_object (node), "device_id", FALSE, &id, NULL);
    mesh_json_get_string (json_node_get_object (node), "name", FALSE, &name, NULL);
    mesh_json_get_string (json_node_get_object (node), "fingerprint", FALSE, &fingerprint, NULL);
    say ("%s\t%s\t%s%s\n", id != NULL ? safe (id) : "?", name != NULL ? safe (name) : "",
         fingerprint != NULL ? safe (fingerprint) : "",
         g_strcmp0 (id, mesh_agent_state_get_device_id (app->state)) == 0 ? "\t(this device)"
                                                                          : "");
  }
  return EXIT_OK;
}
