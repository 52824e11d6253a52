"""A TTS-bootstrapped (or video-extracted) corpus of (audio, motion, controls) training pairs.

Format (full text: /work/notes/corpus-format.md; additions only, backward compatible)::

    DIR/manifest.jsonl   one JSON object per utterance: id, split ("train"|"val"), engine
                         ("espeak"|"flite"|"festival"|"video"|"real"), voice, language, text, duration_s,
                         fps (25), emotion, intensity, gaze_yaw, gaze_pitch (deg), distance,
                         file ("utts/<id>.npz"); extra keys may appear, readers ignore them.
    DIR/utts/<id>.npz    audio int16 (N,) mono 16 kHz; sr = 16000;
                         motion float32 (T, motion.DIM) at 25 fps in motion.LAYOUT order,
                         T = ceil(len(audio) / 640) (= ceil(duration_s * 25)),
                         frame t covers [t/25, (t+1)/25);
                         controls float32 (controls.CONTROL_DIM,) = Controls(...).to_vector();
                         phonemes: 0-d str, JSON [[start_s, end_s, symbol], ...] ("[]" for video);
                         mouth_open float32 (T,): viseme mouth opening before non-verbal additions.

Pose is relative to the subject's rest pose (yaw/pitch/roll degrees around 0, tx/ty around 0,
scale around 1/distance); blendshapes 0..1; gaze degrees (main direction + saccades). The
validation split holds out whole voices and the whole festival engine (whole videos for video
corpora).

Modules: ``tts`` (engines with phoneme timings), ``text`` (sentences), ``voices`` (catalogue and
split), ``visemes`` (coarticulated mouth curves), ``nonverbal`` (head, blinks, brows, gaze,
emotion), ``labels`` (per-frame motion of one utterance), ``build`` (the corpus builder),
``videos`` (a corpus from real talking-head videos), ``align`` (pocketsphinx phone timing of
real speech), ``real`` (a corpus from real recorded speech in Debian packages; extra manifest
keys ``source``, ``labels`` ("aligned"|"phone-loop"), ``band_hz``).
"""
