"""TalkingFacePipeline: one analysed portrait + audio + controls -> 512x512 frames.

The pipeline holds its parts from ``__init__`` (the portrait's analysis, the renderer, the motion
generator) and runs numbered steps: 1. check inputs, 2. encode audio, 3. prepare latents,
4. denoise window by window, 5. decode frames. Writing the video is the caller's job (the CLI and
the API send frames through the release path, which watermarks and signs them).

Motion is generated in a background thread while the current window is being rendered, so the
two stages overlap on two cores; a short queue keeps memory flat in the clip's length.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from candor.errors import InvalidAudio
from candor.generator.audio import load_audio
from candor.generator.controls import DEFAULT_FPS, SAMPLE_RATE, Controls, check_fps
from candor.generator.face import SourceFace
from candor.generator.motion import MotionSequence, to_absolute
from candor.generator.motion_generator import MotionGenerator, SamplingSettings
from candor.generator.rig import FaceRig
from candor.generator.threads import one_thread_per_stage

_DONE = object()


class TalkingFacePipeline:
    """``TalkingFacePipeline(source, renderer, generator).frames(audio, controls, seed=0)``."""

    def __init__(self, analysis: SourceFace, renderer, motion_generator: MotionGenerator) -> None:
        self.source = analysis
        self.renderer = renderer  # candor.generator.render.FaceRenderer(analysis) or equivalent
        self.generator = motion_generator
        self.rig = FaceRig(analysis)
        one_thread_per_stage()  # the stages run on threads of their own (see candor.generator.threads)

    @classmethod
    def for_portrait(
        cls,
        analysis: SourceFace,
        checkpoint: str | Path | None = None,
        *,
        motion_generator: MotionGenerator | None = None,
    ) -> TalkingFacePipeline:
        """Build every part for one analysed portrait: the renderer, and the motion generator of
        ``checkpoint`` (the packaged one by default) unless one is given, already loaded."""
        from candor.generator.render import FaceRenderer

        generator = motion_generator or MotionGenerator.from_checkpoint(checkpoint)
        return cls(analysis, FaceRenderer(analysis), generator)

    def render(self, relative: np.ndarray) -> np.ndarray:
        """One (512, 512, 3) uint8 frame for one generated (relative) motion vector.

        The model's pose is relative to a rest pose (angles and tx/ty around 0, scale a ratio
        around 1 / distance), so distance 2 halves the face whatever the portrait's framing; see
        :func:`candor.generator.motion.to_absolute`.
        """
        return self.renderer.render(self.rig.target(to_absolute(self.source.baseline, relative)[0]))

    def motion(
        self,
        audio: str | Path | np.ndarray,
        controls: Controls | None = None,
        *,
        seed: int = 0,
        sr: int = SAMPLE_RATE,
        fps: float = DEFAULT_FPS,
        cfg_audio: float | None = None,
        cfg_control: float | None = None,
        steps: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Relative motion frames (DIM,) at ``fps``, produced window by window.

        Inputs are checked before this returns (errors surface at once); the returned iterator
        encodes the audio when first asked, then generates one window at a time.
        """
        windows = self._windows(audio, controls, seed, sr, fps, cfg_audio, cfg_control, steps)
        return (vector for window in windows for vector in window)

    def _windows(
        self,
        audio: str | Path | np.ndarray,
        controls: Controls | None,
        seed: int,
        sr: int,
        fps: float,
        cfg_audio: float | None,
        cfg_control: float | None,
        steps: int | None,
    ) -> Iterator[np.ndarray]:
        """Steps 1 (here) and 2-4 (in the returned iterator): (n, DIM) relative motion per window."""
        # 1. check inputs: a file is decoded here, whole (bad/empty audio raises InvalidAudio);
        # front doors load audio themselves, under their configured length limit.
        samples = (
            load_audio(audio, max_seconds=None) if isinstance(audio, str | Path) else np.asarray(audio, np.float32)
        )
        check_fps(fps)
        if samples.size == 0:
            raise InvalidAudio("audio contains no samples")
        sampling = self.generator.sampling(cfg_audio, cfg_control, steps)  # bad settings fail here too
        return self._generate(samples, sr, fps, controls, seed, sampling)

    def _generate(
        self, samples: np.ndarray, sr: int, fps: float, controls: Controls | None, seed: int, sampling: SamplingSettings
    ) -> Iterator[np.ndarray]:
        # 2. encode audio: per-frame features at the model's frame rate.
        feats = self.generator.features(samples, sr)
        if fps != self.generator.fps:
            # Other frame rates: the clip's motion (a few KB per second) is made whole, then resampled.
            yield self.generator.generate(feats, controls, seed=seed, fps=fps, cfg_audio=sampling.cfg_audio,
                                          cfg_control=sampling.cfg_control, steps=sampling.steps).values  # fmt: skip
            return
        # 3. prepare latents (the seeded noise) and 4. denoise window by window.
        yield from self.generator.iter_windows(feats, controls, seed, sampling=sampling)

    def frames(
        self,
        audio: str | Path | np.ndarray,
        controls: Controls | None = None,
        *,
        seed: int = 0,
        sr: int = SAMPLE_RATE,
        fps: float = DEFAULT_FPS,
        cfg_audio: float | None = None,
        cfg_control: float | None = None,
        steps: int | None = None,
    ) -> Iterator[np.ndarray]:
        """(512, 512, 3) uint8 frames for the audio, one per 1/fps s (the last may be partial).

        Bad input raises here, before any frame is made. The audio features and the motion are
        made on a thread of their own (see :func:`_background`), a window ahead of the rendering;
        the caller meanwhile starts its encoder.
        """
        windows = self._windows(audio, controls, seed, sr, fps, cfg_audio, cfg_control, steps)
        # 5. decode frames, overlapping with the generation of the next window.
        return (self.render(vector) for window in _background(windows) for vector in window)

    def stream(
        self,
        audio_chunks: Iterable[np.ndarray],
        sr: int = SAMPLE_RATE,
        controls: Controls | None = None,
        seed: int = 0,
        **sampling: float,
    ) -> Iterator[np.ndarray]:
        """Real-time use: audio chunks in, 25 fps frames out as soon as each window is ready."""
        for vector in self.generator.stream(audio_chunks, sr, controls, seed, **sampling):
            yield self.render(vector)

    def motion_sequence(self, audio: str | Path | np.ndarray, controls: Controls | None = None, **kw) -> MotionSequence:
        """The whole clip's relative motion (small: 31 floats a frame)."""
        fps = float(kw.get("fps", DEFAULT_FPS))
        return MotionSequence(np.stack(list(self.motion(audio, controls, **kw))), fps)


def _background(items: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Run a generator in a worker thread, handing items over a bounded queue (errors re-raised).

    The items are whole windows of motion: a hand-over per frame woke the waiting worker (and
    made it take the GIL) once a frame.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True, name="motion")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
