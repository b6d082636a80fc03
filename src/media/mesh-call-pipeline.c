/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-private.h"

/* The call's pipeline: local sources encoded or converted once and tee'd to
 * every peer, the sound from the peers mixed to the speaker, the bus, and a
 * device swapped in place during a call. */

/* --- Building blocks ------------------------------------------------------ */

GstElement *
mesh_media_make (const char *factory)
{
  GstElement *element = gst_element_factory_make (factory, NULL);

  if (element == NULL)
    g_message ("GStreamer element '%s' is missing (install the GStreamer plugins)", factory);
  return element;
}

gboolean
mesh_media_add_chain (GstBin      *bin,
                      GstElement **elements,
                      guint        n)
{
  for (guint i = 0; i < n; i++) {
    if (elements[i] == NULL) {
      for (guint j = 0; j < n; j++)
        if (elements[j] != NULL)
          gst_object_unref (gst_object_ref_sink (elements[j]));
      return FALSE;
    }
  }
  for (guint i = 0; i < n; i++)
    gst_bin_add (bin, elements[i]);
  for (guint i = 0; i + 1 < n; i++) {
    if (!gst_element_link (elements[i], elements[i + 1]))
      return FALSE;
  }
  return TRUE;
}

/* No speaker: a fakesink, so that sound keeps flowing (and is counted). */
static GstElement *
make_silent_speaker (void)
{
  GstElement *sink = mesh_media_make ("fakesink");

  if (sink != NULL)
    g_object_set (sink, "sync", TRUE, "async", FALSE, NULL);
  return sink;
}

/* --- Pipeline ------------------------------------------------------------ */

static void
call_handle_level (MeshCall           *self,
                   const GstStructure *s)
{
  const GValue *rms = gst_structure_get_value (s, "rms");
  double loudest = -200;
  gboolean speaking;
  gint64 now = g_get_monotonic_time ();

  if (rms == NULL)
    return;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  if (G_VALUE_HOLDS (rms, g_value_array_get_type ())) {
    GValueArray *array = g_value_get_boxed (rms);

    for (guint i = 0; array != NULL && i < array->n_values; i++)
      loudest = MAX (loudest, g_value_get_double (g_value_array_get_nth (array, i)));
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
  if (loudest > -35)
    self->loud_at = now;
  speaking = self->muted && self->loud_at != 0 && now - self->loud_at < G_USEC_PER_SEC;
  mesh_call_set_speaking_while_muted (self, speaking);
}

static MeshCallPeer *
call_peer_of_object (MeshCall  *self,
                     GstObject *object)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));

  for (GstObject *o = object; o != NULL; o = GST_OBJECT_PARENT (o)) {
    for (guint i = 0; i < n; i++) {
      g_autoptr(MeshCallPeer) peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

      if (peer->bin != NULL && GST_OBJECT (peer->bin) == o)
        return peer;
    }
  }
  return NULL;
}

static gboolean
call_bus_message (GstBus     *bus,
                  GstMessage *message,
                  gpointer    data)
{
  MeshCall *self = data;

  switch (GST_MESSAGE_TYPE (message)) {
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) error = NULL;
    g_autofree char *debug = NULL;
    MeshCallPeer *peer;

    gst_message_parse_error (message, &error, &debug);
    g_message ("Call %s: %s: %s (%s)", self->call_id, GST_OBJECT_NAME (message->src),
               error->message, debug ? debug : "");
    peer = call_peer_of_object (self, message->src);
    if (peer != NULL)
      mesh_call_drop_peer (self, peer, MESH_CALL_END_FAILED, error->message);
    else
      mesh_call_end (self, MESH_CALL_END_FAILED, error->message);
    break;
  }
  case GST_MESSAGE_WARNING: {
    g_autoptr(GError) error = NULL;

    gst_message_parse_warning (message, &error, NULL);
    g_debug ("Call %s: %s: %s", self->call_id, GST_OBJECT_NAME (message->src), error->message);
    break;
  }
  case GST_MESSAGE_LATENCY:
    if (self->pipeline != NULL)
      gst_bin_recalculate_latency (GST_BIN (self->pipeline));
    break;
  case GST_MESSAGE_ELEMENT:
    if (self->level != NULL && message->src == GST_OBJECT (self->level) &&
        gst_message_has_name (message, "level"))
      call_handle_level (self, gst_message_get_structure (message));
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
pipeline_add_chain (GstElement  *pipeline,
                    GstElement **chain,
                    guint        n)
{
  if (!mesh_media_add_chain (GST_BIN (pipeline), chain, n)) {
    g_message ("Cannot build a local media chain");
    return FALSE;
  }
  return TRUE;
}

/* Sound from the peers: mixed (a silent source keeps the mixer running when
 * nobody talks) and, when echo cancellation is on, seen by the echo probe. */
static gboolean
call_build_playback (MeshCall   *self,
                     const char *probe_name)
{
  GstElement *silence = mesh_media_make ("audiotestsrc");
  GstElement *mixer = mesh_media_make ("audiomixer");
  GstElement *filter = mesh_media_make ("capsfilter");
  GstElement *probe = probe_name ? mesh_media_make ("webrtcechoprobe") : NULL;
  GstElement *convert = mesh_media_make ("audioconvert");
  GstElement *resample = mesh_media_make ("audioresample");
  GstElement *speaker = mesh_call_engine_claim_speaker (self->engine, self);
  g_autoptr(GstCaps) caps = gst_caps_from_string ("audio/x-raw,format=S16LE,rate=48000,channels=2");

  if (speaker == NULL)
    speaker = make_silent_speaker ();
  if (probe_name != NULL && probe != NULL)
    gst_object_set_name (GST_OBJECT (probe), probe_name);
  if (silence != NULL)
    g_object_set (silence, "is-live", TRUE, "wave", 4 /* silence */, "samplesperbuffer", 960, NULL);
  if (filter != NULL)
    g_object_set (filter, "caps", caps, NULL);
  self->speaker = speaker;
  self->mixer = mixer;
  if (probe != NULL) {
    GstElement *chain[] = { silence, mixer, filter, probe, convert, resample, speaker };

    return pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  } else {
    GstElement *chain[] = { silence, mixer, filter, convert, resample, speaker };

    return pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  }
}

static gboolean
call_build_microphone (MeshCall   *self,
                       GstElement *microphone,
                       const char *probe_name)
{
  GstElement *convert = mesh_media_make ("audioconvert");
  GstElement *resample = mesh_media_make ("audioresample");
  GstElement *filter = mesh_media_make ("capsfilter");
  GstElement *dsp = probe_name ? mesh_media_make ("webrtcdsp") : NULL;
  GstElement *level = mesh_media_make ("level");
  GstElement *volume = mesh_media_make ("volume");
  GstElement *convert2 = mesh_media_make ("audioconvert");
  GstElement *enc = mesh_media_make ("opusenc");
  GstElement *tee = mesh_media_make ("tee");
  g_autoptr(GstCaps) caps = gst_caps_from_string ("audio/x-raw,format=S16LE,rate=48000,channels=1");
  gboolean ok;

  if (filter != NULL)
    g_object_set (filter, "caps", caps, NULL);
  if (dsp != NULL)
    g_object_set (dsp, "probe", probe_name, NULL);
  if (level != NULL)
    g_object_set (level, "interval", (guint64) 100 * GST_MSECOND, "post-messages", TRUE, NULL);
  if (volume != NULL)
    g_object_set (volume, "mute", self->muted, NULL);
  if (enc != NULL) {
    g_object_set (enc, "bitrate", 32000, NULL);
    gst_util_set_object_arg (G_OBJECT (enc), "audio-type", "voice");
  }
  if (tee != NULL)
    g_object_set (tee, "allow-not-linked", TRUE, NULL);
  if (dsp != NULL) {
    GstElement *chain[] = { microphone, convert, resample, filter, dsp, level, volume, convert2, enc, tee };

    ok = pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  } else {
    GstElement *chain[] = { microphone, convert, resample, filter, level, volume, convert2, enc, tee };

    ok = pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  }
  if (ok) {
    self->microphone = microphone;
    self->audio_tee = tee;
    self->level = level;
    self->volume = volume;
  }
  return ok;
}

static gboolean
call_build_video (MeshCall   *self,
                  GstElement *source,
                  gboolean    camera)
{
  GstElement *convert = mesh_media_make ("videoconvert");
  GstElement *valve = mesh_media_make ("valve");
  GstElement *tee = mesh_media_make ("tee");
  GstElement *chain[] = { source, convert, valve, tee };

  if (tee != NULL)
    g_object_set (tee, "allow-not-linked", TRUE, NULL);
  if (valve != NULL)
    g_object_set (valve, "drop", camera && !self->camera_enabled, NULL);
  if (!pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain)))
    return FALSE;
  self->video_tee = tee;
  self->valve = valve;
  if (camera) {
    MeshVideoOutput *self_view = mesh_call_engine_get_self_view (self->engine);
    GstElement *element = mesh_video_output_get_element (self_view);

    self->camera = source;
    if (GST_OBJECT_PARENT (element) == NULL) {
      g_autoptr(GstPad) src = gst_element_request_pad_simple (tee, "src_%u");
      g_autoptr(GstPad) sink = gst_element_get_static_pad (element, "sink");

      gst_bin_add (GST_BIN (self->pipeline), element);
      if (gst_pad_link (src, sink) == GST_PAD_LINK_OK)
        self->self_view = element;
      else
        gst_bin_remove (GST_BIN (self->pipeline), element);
    }
  }
  return TRUE;
}

static gint probe_serial;

gboolean
mesh_call_ensure_pipeline (MeshCall *self)
{
  g_autofree char *probe_name = NULL;
  g_autoptr(GstBus) bus = NULL;
  GstElement *camera = NULL, *microphone = NULL;

  if (self->pipeline != NULL)
    return TRUE;

  self->pipeline = gst_pipeline_new (NULL);
  /* Live sources stamp buffers with the running time: a base time that
   * moved when a peer joined would stall them.  One base time, for good. */
  {
    g_autoptr(GstClock) clock = gst_system_clock_obtain ();

    gst_pipeline_use_clock (GST_PIPELINE (self->pipeline), clock);
    gst_element_set_start_time (self->pipeline, GST_CLOCK_TIME_NONE);
    gst_element_set_base_time (self->pipeline, gst_clock_get_time (clock));
  }
  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  self->bus_watch = gst_bus_add_watch (bus, call_bus_message, self);

  if (self->kind == MESH_MEDIA_KIND_CALL) {
    microphone = mesh_call_engine_claim_microphone (self->engine, self);
    camera = mesh_call_engine_claim_camera (self->engine, self);
    if (microphone != NULL && mesh_call_engine_get_echo_cancel (self->engine))
      /* Unique for the process: webrtcdsp finds its probe by name, and an
       * ended call's probe may not be gone yet. */
      probe_name = g_strdup_printf ("mesh-echo-probe-%u", (guint) g_atomic_int_add (&probe_serial, 1));
    /* The probe exists before the DSP that looks it up by name. */
    if (!call_build_playback (self, probe_name))
      goto failed;
    if (microphone != NULL && !call_build_microphone (self, microphone, probe_name))
      goto failed;
    if (camera != NULL && !call_build_video (self, camera, TRUE))
      goto failed;
  } else if (self->direction == MESH_CALL_DIRECTION_OUTGOING && self->screen != NULL) {
    if (!call_build_video (self, self->screen, FALSE))
      goto failed;
  }

  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    mesh_call_end (self, MESH_CALL_END_FAILED, "the local media did not start");
    return FALSE;
  }
  return TRUE;

failed:
  mesh_call_end (self, MESH_CALL_END_FAILED, "cannot build the local media");
  return FALSE;
}

void
mesh_call_destroy_pipeline (MeshCall *self)
{
  GstElement *pipeline = g_steal_pointer (&self->pipeline);
  GstElement *borrowed[] = { self->camera, self->microphone, self->self_view };

  if (pipeline == NULL)
    return;
  g_clear_handle_id (&self->bus_watch, g_source_remove);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  /* The engine's elements outlive the call. */
  for (guint i = 0; i < G_N_ELEMENTS (borrowed); i++) {
    if (borrowed[i] != NULL && GST_OBJECT_PARENT (borrowed[i]) == GST_OBJECT (pipeline))
      gst_bin_remove (GST_BIN (pipeline), borrowed[i]);
  }
  if (self->speaker != NULL && GST_OBJECT_PARENT (self->speaker) == GST_OBJECT (pipeline))
    gst_bin_remove (GST_BIN (pipeline), self->speaker);
  self->camera = self->microphone = self->self_view = self->speaker = NULL;
  self->video_tee = self->audio_tee = self->valve = self->volume = self->level = NULL;
  self->mixer = NULL;
  gst_object_unref (pipeline);
  mesh_call_engine_release_media (self->engine, self);
}

/* Puts @replacement where @old was (linked to the same peer pad). */
static gboolean
call_swap_element (MeshCall   *self,
                   GstElement *old,
                   GstElement *replacement,
                   gboolean    source)
{
  g_autoptr(GstPad) old_pad = gst_element_get_static_pad (old, source ? "src" : "sink");
  g_autoptr(GstPad) other = old_pad ? gst_pad_get_peer (old_pad) : NULL;
  g_autoptr(GstPad) new_pad = NULL;

  if (other == NULL)
    return FALSE;
  gst_element_set_locked_state (old, TRUE);
  gst_element_set_state (old, GST_STATE_NULL);
  if (source)
    gst_pad_unlink (old_pad, other);
  else
    gst_pad_unlink (other, old_pad);
  gst_bin_remove (GST_BIN (self->pipeline), old);
  if (replacement == NULL)
    return TRUE;

  gst_bin_add (GST_BIN (self->pipeline), replacement);
  new_pad = gst_element_get_static_pad (replacement, source ? "src" : "sink");
  if (new_pad == NULL ||
      (source ? gst_pad_link (new_pad, other) : gst_pad_link (other, new_pad)) != GST_PAD_LINK_OK) {
    g_message ("Call %s: cannot link the new %s", self->call_id, source ? "source" : "speaker");
    gst_bin_remove (GST_BIN (self->pipeline), replacement);
    return FALSE;
  }
  gst_element_sync_state_with_parent (replacement);
  return TRUE;
}

void
mesh_call_local_media_changed (MeshCall   *self,
                               GstElement *old,
                               GstElement *replacement)
{
  gboolean ok;

  if (self->pipeline == NULL || old == NULL)
    return;
  if (old == self->camera) {
    ok = call_swap_element (self, old, replacement, TRUE);
    self->camera = ok ? replacement : NULL;
  } else if (old == self->microphone) {
    ok = call_swap_element (self, old, replacement, TRUE);
    self->microphone = ok ? replacement : NULL;
  } else if (old == self->speaker) {
    GstElement *sink = replacement;

    if (sink == NULL)
      sink = make_silent_speaker ();
    ok = call_swap_element (self, old, sink, FALSE);
    self->speaker = ok ? sink : NULL;
  }
}

void
mesh_call_set_screen_source (MeshCall   *self,
                             GstElement *source)
{
  g_clear_pointer (&self->screen, gst_object_unref);
  self->screen = source ? gst_object_ref_sink (source) : NULL;
}
