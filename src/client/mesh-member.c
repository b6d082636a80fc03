/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-member.h"
#include "mesh-client-private.h"
#include "mesh-property.h"

enum {
  PROP_0,
  PROP_USER_ID,
  PROP_USERNAME,
  PROP_ROLE,
  PROP_STATUS,
  PROP_DEVICES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshMember {
  GObject       parent_instance;

  char         *user_id;
  char         *username;
  char         *role;
  MeshPresence  status;
  GStrv         devices;
};

G_DEFINE_FINAL_TYPE (MeshMember, mesh_member, G_TYPE_OBJECT)

static void
mesh_member_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  MeshMember *self = MESH_MEMBER (object);

  switch (prop_id) {
  case PROP_USER_ID:
    g_value_set_string (value, self->user_id);
    break;
  case PROP_USERNAME:
    g_value_set_string (value, self->username);
    break;
  case PROP_ROLE:
    g_value_set_string (value, self->role);
    break;
  case PROP_STATUS:
    g_value_set_enum (value, self->status);
    break;
  case PROP_DEVICES:
    g_value_set_boxed (value, self->devices);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_member_finalize (GObject *object)
{
  MeshMember *self = MESH_MEMBER (object);

  g_free (self->user_id);
  g_free (self->username);
  g_free (self->role);
  g_strfreev (self->devices);
  G_OBJECT_CLASS (mesh_member_parent_class)->finalize (object);
}

static void
mesh_member_class_init (MeshMemberClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = mesh_member_get_property;
  object_class->finalize = mesh_member_finalize;

  properties[PROP_USER_ID] = g_param_spec_string ("user-id", NULL, NULL, NULL, flags);
  properties[PROP_USERNAME] = g_param_spec_string ("username", NULL, NULL, NULL, flags);
  properties[PROP_ROLE] = g_param_spec_string ("role", NULL, NULL, NULL, flags);
  properties[PROP_STATUS] = g_param_spec_enum ("status", NULL, NULL, MESH_TYPE_PRESENCE,
                                               MESH_PRESENCE_OFFLINE, flags);
  properties[PROP_DEVICES] = g_param_spec_boxed ("devices", NULL, NULL, G_TYPE_STRV, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_member_init (MeshMember *self)
{
  self->devices = g_new0 (char *, 1);
}

MeshMember *
mesh_member_new (const char *user_id,
                 const char *username,
                 const char *role)
{
  MeshMember *self = g_object_new (MESH_TYPE_MEMBER, NULL);

  self->user_id = g_strdup (user_id);
  self->username = g_strdup (username);
  self->role = g_strdup (role);
  return self;
}

void
mesh_member_set_username (MeshMember *self,
                          const char *username)
{
  g_return_if_fail (MESH_IS_MEMBER (self));
  mesh_property_set_string (G_OBJECT (self), &self->username, username,
                            properties[PROP_USERNAME]);
}

void
mesh_member_set_role (MeshMember *self,
                      const char *role)
{
  g_return_if_fail (MESH_IS_MEMBER (self));
  mesh_property_set_string (G_OBJECT (self), &self->role, role, properties[PROP_ROLE]);
}

void
mesh_member_set_status (MeshMember   *self,
                        MeshPresence  status)
{
  g_return_if_fail (MESH_IS_MEMBER (self));

  if (self->status == status)
    return;
  self->status = status;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
}

void
mesh_member_set_devices (MeshMember         *self,
                         const char * const *devices)
{
  g_return_if_fail (MESH_IS_MEMBER (self));
  g_return_if_fail (devices != NULL);

  if (g_strv_equal (devices, (const char * const *) self->devices))
    return;
  g_strfreev (self->devices);
  self->devices = g_strdupv ((char **) devices);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEVICES]);
}

const char *
mesh_member_get_user_id (MeshMember *self)
{
  g_return_val_if_fail (MESH_IS_MEMBER (self), NULL);
  return self->user_id;
}

const char *
mesh_member_get_username (MeshMember *self)
{
  g_return_val_if_fail (MESH_IS_MEMBER (self), NULL);
  return self->username;
}

const char *
mesh_member_get_role (MeshMember *self)
{
  g_return_val_if_fail (MESH_IS_MEMBER (self), NULL);
  return self->role;
}

MeshPresence
mesh_member_get_status (MeshMember *self)
{
  g_return_val_if_fail (MESH_IS_MEMBER (self), MESH_PRESENCE_OFFLINE);
  return self->status;
}

const char * const *
mesh_member_get_devices (MeshMember *self)
{
  g_return_val_if_fail (MESH_IS_MEMBER (self), NULL);
  return (const char * const *) self->devices;
}
