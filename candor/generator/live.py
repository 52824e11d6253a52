"""Live motion: audio pushed in as it arrives, motion frames out after a short, fixed look-ahead.

:meth:`MotionGenerator.stream` waits for 8 frames (320 ms) of audio before its first window and
then samples whatever has arrived, so a frame can trail its audio by up to a window. A live
session needs a bound instead, which the window schedule gives:

- the first window emits ``first`` frame(s) as soon as their audio is heard, reading the newest
  frame's features before its right neighbour exists (:meth:`FeatureStream.peek`, a one-sided
  delta): the first frame needs 72 ms of audio (its 40 ms plus the 32 ms analysis half-window);
- every later window emits ``emit`` frames and is sampled over ``lookahead`` more frames of the
  audio that follows them (then dropped), so each emitted frame sees what is said next, as the
  offline path's long windows do; a frame waits for at most ``(emit - 1 + lookahead) * 40 ms +
  32 ms`` of audio after its own (the newest look-ahead frame is read early too), plus compute.

The default (1, 2, 1) waits at most 112 ms: with 2 frames of look-ahead (152 ms) frames trailed
their audio by 200 ms at the median on this 2-core machine (`benchmarks/live.py`), with 1 by 169.

Every window is conditioned on the previous frames actually emitted, like the offline windows,
and controls may change between windows (the join eases head pose and gaze in; the mouth, lids
and brows follow the model, see ``LIVE_JOIN_TAU``).

A live window is sampled with ``LIVE_STEPS`` = 4 DDIM steps instead of the offline 8: a window
per two frames at 8 steps was half the session's CPU. Measured on 40 s of espeak-ng speech
(jawOpen vs the audio's log energy, best lag; offline 8 steps: r 0.61 at lag 0): 8 steps r
0.65-0.68, 4 steps 0.70-0.71, 3 steps 0.70, 2 steps 0.68, all at lag 0; motion 17 -> 10 ms of CPU
per frame (features included). Schedules emitting one frame per window followed the sound a
frame late (lag 1), so the pairs stay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from candor.errors import InvalidAudio, InvalidInput
from candor.generator.audio import FEATURE_DIM, FeatureStream, iter_chunks
from candor.generator.controls import Controls
from candor.generator.motion import BLENDSHAPE_SLICE, DIM
from candor.generator.motion_generator import JOIN_TAU, MotionGenerator, _StreamState

LIVE_STEPS = 4  # DDIM steps per live window (the offline default is the checkpoint's, 8)

# Offline, each 2 s window's first frames are eased onto the trajectory before it. A live window
# emits two frames, so that ease acted on every frame and, on the mouth, low-passed the lip
# closures away (held-out real voices, motion level, /p b m/ closed 0.33 live vs 0.74 offline;
# r with the phonetic truth 0.567 vs 0.634). The blendshapes follow the model, which is
# conditioned on the frames emitted before (0.74 and 0.616 without the ease); head pose and gaze
# keep it.
LIVE_JOIN_TAU = JOIN_TAU.copy()
LIVE_JOIN_TAU[BLENDSHAPE_SLICE] = 0.0


@dataclass(frozen=True)
class Schedule:
    """Window schedule in video frames (40 ms at 25 fps): ``first`` frames in the first window,
    ``emit`` per later window, each later window sampled over ``lookahead`` frames beyond them."""

    first: int = 1
    emit: int = 2
    lookahead: int = 1

    def __post_init__(self) -> None:
        if self.first < 1 or self.emit < 1 or self.lookahead < 0:
            raise InvalidInput("a schedule emits at least one frame per window and looks ahead >= 0 frames")

    def max_audio_lag_s(self, fps: float) -> float:
        """Audio (seconds) a frame can wait for beyond its own end, before compute."""
        return (self.emit - 1 + self.lookahead) / fps + 0.032


class MotionStream:
    """``s = MotionStream(gen, controls); s.push(samples_16k) -> (n, DIM); s.finish() -> (m, DIM)``.

    Relative motion at the model's frame rate, frame i describing audio [i, i + 1) / fps; all the
    frames together number ``frame_count(samples)``, as offline. Not thread-safe: one caller.
    """

    def __init__(
        self,
        generator: MotionGenerator,
        controls: Controls | None = None,
        seed: int = 0,
        *,
        schedule: Schedule | None = None,
        steps: int | None = None,
        cfg_audio: float | None = None,
        cfg_control: float | None = None,
    ) -> None:
        self.generator = generator
        self.schedule = schedule or Schedule()
        steps = LIVE_STEPS if steps is None else steps
        settings = generator.sampling(cfg_audio, cfg_control, steps)
        self._state = _StreamState(generator, controls, seed, settings, join_tau=LIVE_JOIN_TAU)
        self._features = FeatureStream(generator.fps)
        self._feats = np.zeros((0, FEATURE_DIM), np.float32)  # complete features of frames >= _out
        self._held: list[np.ndarray] = []  # audio not yet analysed: it completes no frame yet
        self._held_n = 0
        self._received = 0  # complete feature frames received from the feature stream
        self._out = 0  # motion frames emitted
        self._finished = False

    @property
    def frames_out(self) -> int:
        return self._out

    def set_controls(self, controls: Controls) -> None:
        """Controls for the windows sampled from now on."""
        self._state.set_controls(controls)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """16 kHz mono float32 samples -> the (n, DIM) motion frames this audio completes (n >= 0)."""
        if self._finished:
            raise InvalidInput("the stream has finished")
        # The analysis costs ~1 ms a call whatever the chunk's length; 20 ms chunks complete a
        # frame every other chunk, so the chunks in between are held back (nothing is later).
        samples = np.asarray(samples, np.float32).reshape(-1)
        self._held.append(samples)
        self._held_n += samples.size
        if self._features.samples_seen + self._held_n < self._features.next_frame_at():
            return np.zeros((0, DIM), np.float32)
        self._take(self._features.push(self._release_held()))
        frames = []
        s = self.schedule
        while True:
            # The newest frame, read early (unless it was already emitted from an earlier peek).
            peek = self._features.peek() if self._received >= self._out else None
            avail = self._feats if peek is None else np.concatenate([self._feats, peek])
            emit = s.first if self._out == 0 else s.emit
            lookahead = 0 if self._out == 0 else s.lookahead
            if len(avail) < emit + lookahead:
                break
            frames.append(self._emit(avail[: emit + lookahead], emit, clip_ends=False))
        return np.concatenate(frames) if frames else np.zeros((0, DIM), np.float32)

    def finish(self) -> np.ndarray:
        """The remaining motion frames, once the audio has ended (InvalidAudio if there was none)."""
        if self._finished:
            return np.zeros((0, DIM), np.float32)
        self._finished = True
        held = self._release_held()
        if self._features.samples_seen + held.size == 0:
            raise InvalidAudio("the audio stream contained no samples")
        self._take(self._features.push(held, final=True))
        frames = []
        window = self.generator.config.window
        while len(self._feats):
            n = min(window, len(self._feats))
            frames.append(self._emit(self._feats[:window], n, clip_ends=n == len(self._feats)))
        return np.concatenate(frames) if frames else np.zeros((0, DIM), np.float32)

    def _release_held(self) -> np.ndarray:
        held = np.concatenate(self._held) if self._held else np.zeros(0, np.float32)
        self._held, self._held_n = [], 0
        return held

    def _take(self, new: np.ndarray) -> None:
        # Frames already emitted from a peek arrive again, complete: skip them.
        skip = max(0, self._out - self._received)
        self._received += len(new)
        self._feats = np.concatenate([self._feats, new[skip:]])

    def _emit(self, window: np.ndarray, keep: int, *, clip_ends: bool) -> np.ndarray:
        out = self._state.next_window(window, keep=keep, clip_ends=clip_ends)
        self._feats = self._feats[keep:]
        self._out += keep
        return out


def stream_clip(
    generator: MotionGenerator, samples: np.ndarray, controls: Controls | None = None, seed: int = 0,
    *, chunk_s: float = 0.02,
) -> np.ndarray:  # fmt: skip
    """Motion of a whole 16 kHz clip as a live session makes it: ``chunk_s`` chunks pushed into a
    :class:`MotionStream` as they would arrive, then ``finish``. (n, DIM), n = ``frame_count``."""
    stream = MotionStream(generator, controls, seed)
    parts = [stream.push(chunk) for chunk in iter_chunks(samples, chunk_s)]
    return np.concatenate([*parts, stream.finish()])
