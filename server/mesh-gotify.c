/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-gotify"

#include "config.h"

#include "mesh-gotify-private.h"

#define TEST_TITLE            "Mesh: test notification"
#define TEST_MESSAGE          "If you can read this, your Mesh server can reach this Gotify."

typedef enum {
  OUTCOME_DELIVERED,
  OUTCOME_RETRY,        /* may pass: try again later */
  OUTCOME_REFUSED,      /* a configuration problem: stop until new settings */
} Outcome;

/* One user's delivery state.  Messages are read from the store each time,
 * so this holds only what is in flight or waiting for a timer. */
typedef struct {
  MeshGotify   *self;             /* borrowed: targets die with the object */
  char         *user_id;
  GCancellable *cancellable;      /* set while a request is in flight */
  guint         deadline_id;      /* the in-flight request's time limit */
  gboolean      timed_out;
  gboolean      changed;          /* settings changed during the request */
  guint         retry_id;         /* the next try, after a backoff */
} Target;

struct _MeshGotify {
  GObject           parent_instance;

  MeshStore        *store;
  MeshGotifyConfig  config;
  GHashTable       *sessions;     /* the requests' sessions in flight (borrowed) */
  GHashTable       *targets;      /* user_id → Target (owned) */
  gboolean          stopped;
};

G_DEFINE_FINAL_TYPE (MeshGotify, mesh_gotify, G_TYPE_OBJECT)

/* One POST on a session of its own, whose connections can only go to the
 * checked addresses of the URL's host (the session's remote-connectable is
 * used for every connection, and as the TLS server identity). */
typedef struct {
  SoupSession        *session;
  SoupMessage        *msg;
  MeshCheckedAddress *address;
} Post;

static void
post_clear (MeshGotify *self,
            Post       *post)
{
  if (post->session != NULL && self->sessions != NULL)
    g_hash_table_remove (self->sessions, post->session);
  g_clear_object (&post->session);
  g_clear_object (&post->msg);
  g_clear_object (&post->address);
}

static void
post_start (MeshGotify *self,
            Post       *post)
{
  GUri *uri = soup_message_get_uri (post->msg);
  gboolean https = g_ascii_strcasecmp (g_uri_get_scheme (uri), "https") == 0;
  int port = g_uri_get_port (uri);

  post->address = g_object_new (MESH_TYPE_CHECKED_ADDRESS,
                                "hostname", g_uri_get_host (uri),
                                "port", port > 0 ? port : (https ? 443 : 80),
                                "scheme", g_uri_get_scheme (uri),
                                NULL);
  post->address->allow_private = self->config.allow_private_targets;
  /* "timeout" bounds each read and write; the deadline bounds the whole.
   * No proxy: it would resolve the name itself, unchecked. */
  post->session = soup_session_new_with_options ("timeout",
                                                 (guint) MAX (self->config.request_timeout_s, 1),
                                                 "idle-timeout", 5,
                                                 "max-conns", 1,
                                                 "max-conns-per-host", 1,
                                                 "proxy-resolver", NULL,
                                                 "remote-connectable", post->address,
                                                 "user-agent", "mesh-server/" PACKAGE_VERSION,
                                                 NULL);
  g_hash_table_add (self->sessions, post->session);
}

static void
body_closed_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_input_stream_close_finish (G_INPUT_STREAM (source), result, NULL);
}

/* The status line is all we use: the body is not read at all, and closing
 * it early drops the connection instead of draining it. */
static void
post_finish (SoupSession   *session,
             GAsyncResult  *result,
             GError       **error)
{
  g_autoptr(GInputStream) body = soup_session_send_finish (session, result, error);

  if (body != NULL)
    g_input_stream_close_async (body, G_PRIORITY_DEFAULT, NULL, body_closed_cb, NULL);
}

/* One request on its way; it keeps the object alive until its answer. */
typedef struct {
  MeshGotify   *self;
  char         *user_id;
  gint64        item_id;
  gint64        attempts;
  GCancellable *cancellable;
  Post          post;
} Delivery;

static void
delivery_free (Delivery *delivery)
{
  post_clear (delivery->self, &delivery->post);
  g_object_unref (delivery->self);
  g_free (delivery->user_id);
  g_object_unref (delivery->cancellable);
  g_free (delivery);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Delivery, delivery_free)

static void
target_clear_timers (Target *target)
{
  g_clear_handle_id (&target->deadline_id, g_source_remove);
  g_clear_handle_id (&target->retry_id, g_source_remove);
}

static void
target_free (Target *target)
{
  target_clear_timers (target);
  if (target->cancellable != NULL)
    g_cancellable_cancel (target->cancellable);
  g_clear_object (&target->cancellable);
  g_free (target->user_id);
  g_free (target);
}

void
mesh_gotify_config_init_default (MeshGotifyConfig *config)
{
  g_return_if_fail (config != NULL);

  config->request_timeout_s = 10;
  config->retry_min_s = 1;
  config->retry_max_s = 300;
  config->max_pending = 1000;
  config->allow_private_targets = FALSE;
}

static Outcome
classify (MeshGotify          *self,
          SoupMessage         *msg,
          MeshCheckedAddress  *address,
          const GError        *error,
          gboolean             timed_out,
          char               **reason)
{
  guint status;

  /* Retrying cannot help until the user (or the operator) changes something. */
  if (address->refusal != NULL) {
    *reason = g_strdup (address->refusal);
    return OUTCOME_REFUSED;
  }
  if (timed_out) {
    *reason = g_strdup_printf ("Gotify did not answer within %g s", self->config.request_timeout_s);
    return OUTCOME_RETRY;
  }
  if (error != NULL) {
    *reason = g_strdup_printf ("cannot reach Gotify: %s", error->message);
    return OUTCOME_RETRY;
  }
  status = soup_message_get_status (msg);
  if (SOUP_STATUS_IS_SUCCESSFUL (status)) {
    *reason = NULL;
    return OUTCOME_DELIVERED;
  }
  *reason = gotify_describe_answer (msg);
  /* Timeouts and rate limits of a proxy in front pass by themselves. */
  if (status == SOUP_STATUS_REQUEST_TIMEOUT || status == 425 ||
      status == 429)
    return OUTCOME_RETRY;
  if (SOUP_STATUS_IS_REDIRECTION (status) || SOUP_STATUS_IS_CLIENT_ERROR (status))
    return OUTCOME_REFUSED;
  return OUTCOME_RETRY;
}

/* Exponential backoff with "equal jitter": half the step is fixed, half
 * random, so that targets failing together do not retry together. */
static double
backoff_seconds (MeshGotify *self,
                 gint64      attempts)
{
  double step = self->config.retry_min_s;

  for (gint64 i = 1; i < attempts && step < self->config.retry_max_s; i++)
    step *= 2;
  step = MIN (step, self->config.retry_max_s);
  return step / 2 + g_random_double () * step / 2;
}

/* The next try, once the target's backoff has run out. */
static void target_try (Target *target);

static gboolean
retry_cb (gpointer user_data)
{
  Target *target = user_data;

  target->retry_id = 0;
  target_try (target);
  return G_SOURCE_REMOVE;
}

static gboolean
deadline_cb (gpointer user_data)
{
  Target *target = user_data;

  target->deadline_id = 0;
  target->timed_out = TRUE;
  g_cancellable_cancel (target->cancellable);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (Target *target,
                double  seconds)
{
  g_clear_handle_id (&target->retry_id, g_source_remove);
  target->retry_id = g_timeout_add (MAX ((guint) (seconds * 1000), 1), retry_cb, target);
}

/* Forgets an idle target: nothing to send, no settings, or stopped. */
static void
target_drop (Target *target)
{
  g_hash_table_remove (target->self->targets, target->user_id);
}

static void
set_status (MeshGotify *self,
            const char *user_id,
            const char *last_error,
            const char *retry_error)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_store_set_gotify_status (self->store, user_id, last_error, retry_error, &error))
    g_warning ("Cannot record the Gotify status of %s: %s", user_id, error->message);
}

static void
delivered_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(Delivery) delivery = user_data;
  MeshGotify *self = delivery->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) store_error = NULL;
  g_autofree char *reason = NULL;
  Target *target;
  gboolean timed_out, changed;
  Outcome outcome;

  post_finish (SOUP_SESSION (source), result, &error);
  if (self->stopped)
    return;
  target = g_hash_table_lookup (self->targets, delivery->user_id);
  /* A request the target gave up on (its settings were deleted). */
  if (target == NULL || target->cancellable != delivery->cancellable)
    return;

  g_clear_handle_id (&target->deadline_id, g_source_remove);
  g_clear_object (&target->cancellable);
  timed_out = target->timed_out;
  changed = target->changed;
  target->timed_out = FALSE;
  target->changed = FALSE;

  outcome = classify (self, delivery->post.msg, delivery->post.address, error, timed_out,
                      &reason);
  if (outcome == OUTCOME_DELIVERED) {
    g_debug ("Delivered Gotify message %" G_GINT64_FORMAT " for %s", delivery->item_id,
             delivery->user_id);
    if (!mesh_store_outbox_remove (self->store, delivery->item_id, &store_error))
      g_warning ("Cannot remove a delivered Gotify message: %s", store_error->message);
    if (delivery->attempts > 0)
      set_status (self, delivery->user_id, NULL, NULL);
    target_try (target);
    return;
  }
  /* The answer was to the old settings: try the new ones at once. */
  if (changed) {
    target_try (target);
    return;
  }
  if (outcome == OUTCOME_REFUSED) {
    g_autofree char *shown = mesh_escape_for_display (reason, -1);

    g_message ("Gotify delivery for user %s stopped: %s", delivery->user_id, shown);
    set_status (self, delivery->user_id, reason, NULL);
    target_drop (target);
    return;
  }

  {
    gint64 attempts = delivery->attempts + 1;
    double delay = backoff_seconds (self, attempts);

    g_debug ("Gotify delivery for %s failed (%s), try %" G_GINT64_FORMAT " in %.1f s",
             delivery->user_id, reason, attempts + 1, delay);
    if (!mesh_store_outbox_defer (self->store, delivery->item_id, attempts,
                                  g_get_real_time () + (gint64) (delay * G_USEC_PER_SEC),
                                  &store_error))
      g_warning ("Cannot reschedule a Gotify message: %s", store_error->message);
    set_status (self, delivery->user_id, NULL, reason);
    schedule_retry (target, delay);
  }
}

static void
target_try (Target *target)
{
  MeshGotify *self = target->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshStoreGotify) settings = NULL;
  g_autoptr(MeshStoreOutboxItem) item = NULL;
  g_autofree char *url = NULL;
  Delivery *delivery;
  gint64 now;

  if (target->cancellable != NULL || target->retry_id != 0)
    return;

  settings = mesh_store_get_gotify (self->store, target->user_id, &error);
  if (settings == NULL || settings->last_error != NULL) {
    if (error != NULL)
      g_warning ("Cannot read the Gotify settings of %s: %s", target->user_id, error->message);
    target_drop (target);
    return;
  }
  item = mesh_store_outbox_head (self->store, target->user_id, &error);
  if (item == NULL) {
    if (error != NULL)
      g_warning ("Cannot read the Gotify outbox of %s: %s", target->user_id, error->message);
    target_drop (target);
    return;
  }
  /* After a restart the stored backoff still holds. */
  now = g_get_real_time ();
  if (item->next_attempt_usec > now) {
    schedule_retry (target, (double) (item->next_attempt_usec - now) / G_USEC_PER_SEC);
    return;
  }

  url = mesh_gotify_message_url (settings->url, &error);
  delivery = g_new0 (Delivery, 1);
  if (url != NULL)
    delivery->post.msg = gotify_build_request (url, settings->token, item->title,
                                               item->message, item->priority, item->extras,
                                               &error);
  if (delivery->post.msg == NULL) {
    g_autofree char *reason = g_strdup_printf ("the stored URL cannot be used: %s",
                                               error->message);

    g_free (delivery);
    set_status (self, target->user_id, reason, NULL);
    target_drop (target);
    return;
  }

  delivery->self = g_object_ref (self);
  delivery->user_id = g_strdup (target->user_id);
  delivery->item_id = item->id;
  delivery->attempts = item->attempts;
  delivery->cancellable = g_cancellable_new ();
  target->cancellable = g_object_ref (delivery->cancellable);
  target->deadline_id = g_timeout_add ((guint) (self->config.request_timeout_s * 1000),
                                       deadline_cb, target);
  post_start (self, &delivery->post);
  soup_session_send_async (delivery->post.session, delivery->post.msg, G_PRIORITY_DEFAULT,
                           delivery->cancellable, delivered_cb, delivery);
}

static Target *
target_get (MeshGotify *self,
            const char *user_id)
{
  Target *target = g_hash_table_lookup (self->targets, user_id);

  if (target == NULL) {
    target = g_new0 (Target, 1);
    target->self = self;
    target->user_id = g_strdup (user_id);
    g_hash_table_insert (self->targets, target->user_id, target);
  }
  return target;
}

/* A test message: the same request as a delivery, answered to the caller. */
typedef struct {
  MeshGotify   *self;
  Post          post;
  GCancellable *cancellable;      /* ours: the deadline cancels it */
  gulong        chained_id;       /* the caller's cancellable, forwarded */
  GCancellable *caller;
  guint         deadline_id;
  gboolean      timed_out;
} TestData;

static void
test_data_free (TestData *data)
{
  g_clear_handle_id (&data->deadline_id, g_source_remove);
  if (data->caller != NULL)
    g_cancellable_disconnect (data->caller, data->chained_id);
  g_clear_object (&data->caller);
  g_clear_object (&data->cancellable);
  post_clear (data->self, &data->post);
  g_clear_object (&data->self);
  g_free (data);
}

static gboolean
test_deadline_cb (gpointer user_data)
{
  TestData *data = user_data;

  data->deadline_id = 0;
  data->timed_out = TRUE;
  g_cancellable_cancel (data->cancellable);
  return G_SOURCE_REMOVE;
}

static void
test_caller_cancelled_cb (GCancellable *caller,
                          GCancellable *ours)
{
  g_cancellable_cancel (ours);
}

static void
test_sent_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TestData *data = g_task_get_task_data (task);
  MeshGotify *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  JsonObject *report;
  Outcome outcome;

  post_finish (SOUP_SESSION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !data->timed_out) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  outcome = classify (self, data->post.msg, data->post.address, error, data->timed_out, &reason);
  report = json_object_new ();
  json_object_set_boolean_member (report, "ok", outcome == OUTCOME_DELIVERED);
  if (error == NULL && !data->timed_out)
    json_object_set_int_member (report, "status", soup_message_get_status (data->post.msg));
  if (reason != NULL)
    json_object_set_string_member (report, "error", reason);
  g_task_return_pointer (task, report, (GDestroyNotify) json_object_unref);
}

static void
mesh_gotify_dispose (GObject *object)
{
  MeshGotify *self = MESH_GOTIFY (object);

  mesh_gotify_stop (self);
  g_clear_pointer (&self->targets, g_hash_table_unref);
  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (mesh_gotify_parent_class)->dispose (object);
}

static void
mesh_gotify_class_init (MeshGotifyClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mesh_gotify_dispose;
}

static void
mesh_gotify_init (MeshGotify *self)
{
  self->targets = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) target_free);
  self->sessions = g_hash_table_new (NULL, NULL);
}

MeshGotify *
mesh_gotify_new (MeshStore              *store,
                 const MeshGotifyConfig *config)
{
  MeshGotify *self;

  g_return_val_if_fail (MESH_IS_STORE (store), NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (MESH_TYPE_GOTIFY, NULL);
  self->store = g_object_ref (store);
  self->config = *config;
  return self;
}

void
mesh_gotify_resume (MeshGotify *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) users = NULL;

  g_return_if_fail (MESH_IS_GOTIFY (self));

  if (self->stopped)
    return;
  users = mesh_store_outbox_list_users (self->store, &error);
  if (users == NULL) {
    g_warning ("Cannot read the Gotify outbox: %s", error->message);
    return;
  }
  for (guint i = 0; i < users->len; i++)
    target_try (target_get (self, users->pdata[i]));
}

void
mesh_gotify_stop (MeshGotify *self)
{
  g_return_if_fail (MESH_IS_GOTIFY (self));

  self->stopped = TRUE;
  if (self->targets != NULL)
    g_hash_table_remove_all (self->targets);
  if (self->sessions != NULL) {
    g_autoptr(GList) sessions = g_hash_table_get_keys (self->sessions);

    for (GList *l = sessions; l != NULL; l = l->next)
      soup_session_abort (l->data);
  }
}

gboolean
mesh_gotify_push (MeshGotify *self,
                  const char *user_id,
                  const char *kind,
                  gint64      priority,
                  const char *title,
                  const char *message,
                  JsonObject *extras)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshStoreGotify) settings = NULL;
  g_autofree char *short_title = NULL;
  g_autofree char *short_message = NULL;
  g_autofree char *extras_json = NULL;
  guint dropped = 0;

  g_return_val_if_fail (MESH_IS_GOTIFY (self), FALSE);
  g_return_val_if_fail (user_id != NULL && kind != NULL, FALSE);
  g_return_val_if_fail (title != NULL && message != NULL, FALSE);

  if (self->stopped)
    return FALSE;
  settings = mesh_store_get_gotify (self->store, user_id, &error);
  if (settings == NULL) {
    if (error != NULL)
      g_warning ("Cannot read the Gotify settings of %s: %s", user_id, error->message);
    return FALSE;
  }
  if (settings->events != NULL && !g_strv_contains ((const char * const *) settings->events, kind))
    return FALSE;
  if (settings->priority >= 0)
    priority = settings->priority;

  /* Gotify has no size limit of its own; huge bodies have crashed it. */
  short_title = gotify_truncate_utf8 (title, MESH_GOTIFY_MAX_TITLE_BYTES);
  short_message = gotify_truncate_utf8 (message[0] != '\0' ? message : title,
                                        MESH_GOTIFY_MAX_MESSAGE_BYTES);
  if (extras != NULL)
    extras_json = mesh_json_object_to_string (extras, NULL);
  if (mesh_store_outbox_add (self->store, user_id, kind, short_title, short_message, priority,
                             extras_json, self->config.max_pending, &dropped, &error) == 0) {
    g_warning ("Cannot queue a Gotify message for %s: %s", user_id, error->message);
    return FALSE;
  }
  if (dropped > 0)
    g_message ("Gotify outbox of user %s is full: dropped its %u oldest message(s)",
               user_id, dropped);
  /* A stopped target keeps its messages for when the user fixes it. */
  if (settings->last_error == NULL)
    target_try (target_get (self, user_id));
  return TRUE;
}

void
mesh_gotify_target_changed (MeshGotify *self,
                            const char *user_id)
{
  g_autoptr(GError) error = NULL;
  Target *target;

  g_return_if_fail (MESH_IS_GOTIFY (self));
  g_return_if_fail (user_id != NULL);

  if (self->stopped)
    return;
  if (!mesh_store_outbox_reset_user (self->store, user_id, &error))
    g_warning ("Cannot reset the Gotify outbox of %s: %s", user_id, error->message);

  target = target_get (self, user_id);
  g_clear_handle_id (&target->retry_id, g_source_remove);
  /* The request in flight may still succeed: sending it again could make
   * a duplicate, so its answer is awaited and then the new settings used. */
  if (target->cancellable != NULL)
    target->changed = TRUE;
  else
    target_try (target);
}

void
mesh_gotify_test_async (MeshGotify          *self,
                        const char          *url,
                        const char          *token,
                        gint64               priority,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *message_url = NULL;
  TestData *data;

  g_return_if_fail (MESH_IS_GOTIFY (self));
  g_return_if_fail (url != NULL && token != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_gotify_test_async);

  message_url = mesh_gotify_message_url (url, &error);
  if (message_url == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  data = g_new0 (TestData, 1);
  data->self = g_object_ref (self);
  g_task_set_task_data (task, data, (GDestroyNotify) test_data_free);
  data->post.msg = gotify_build_request (message_url, token, TEST_TITLE, TEST_MESSAGE,
                                         priority,
                                         "{\"client::display\":{\"contentType\":\"text/plain\"}}",
                                         &error);
  if (data->post.msg == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  data->cancellable = g_cancellable_new ();
  if (cancellable != NULL) {
    data->caller = g_object_ref (cancellable);
    data->chained_id = g_cancellable_connect (cancellable, G_CALLBACK (test_caller_cancelled_cb),
                                              g_object_ref (data->cancellable), g_object_unref);
  }
  data->deadline_id = g_timeout_add ((guint) (self->config.request_timeout_s * 1000),
                                     test_deadline_cb, data);
  post_start (self, &data->post);
  soup_session_send_async (data->post.session, data->post.msg, G_PRIORITY_DEFAULT,
                           data->cancellable, test_sent_cb, g_steal_pointer (&task));
}

JsonObject *
mesh_gotify_test_finish (MeshGotify    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
