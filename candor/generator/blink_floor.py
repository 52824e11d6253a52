"""A floor under the blink rate: a blink is added wherever the motion has gone too long without one.

Blinks in the training labels are a random point process (10-25 a minute, denser in pauses; see
``candor.training.corpus.nonverbal.blinks``), not something the audio determines, so a model that
predicts motion from audio reproduces only part of them: the shipped model blinked 7 times a
minute on real recorded speech (and about 14 on synthetic voices), under the 10-25 people do.
This keeps every blink the model makes and, when none has begun for a drawn interval
(``GAP_S``, uniform, seeded per clip), adds one shaped like the labels' (a cosine close over
35 % of its length, open over 65 %, apex on a frame). With no blink of its own the face then
blinks about ``60 / mean(GAP_S)`` = 16 times a minute; the model's own blinks reset the clock.

It runs on the emitted frames window by window (offline and streaming alike) and carries a blink
that crosses a window boundary into the next window.
"""

from __future__ import annotations

import numpy as np

from candor.generator import motion as M

GAP_S = (2.5, 5.0)  # seconds without a blink after which one is added (uniform draw per gap)
DURATION_S = (0.16, 0.26)  # of an added blink, lid start to lid open
PEAK = (0.92, 1.0)  # eyeBlink at its apex
ONSET = 0.5  # eyeBlink (mean of both eyes) above which a blink has begun

_LEFT, _RIGHT = M.index("eyeBlinkLeft"), M.index("eyeBlinkRight")
_WIDE = [M.index("eyeWideLeft"), M.index("eyeWideRight")]


def blink_shape(duration_s: float, peak: float, fps: float) -> np.ndarray:
    """(frames,) eyelid closure of one blink sampled at frame centres, apex on the second frame on."""
    close, open_ = 0.35 * duration_s, 0.65 * duration_s
    before = int(np.ceil(close * fps))
    x = (np.arange(-before, int(np.ceil(open_ * fps)) + 1)) / fps
    shape = np.where(
        x < 0,
        0.5 + 0.5 * np.cos(np.pi * np.clip(-x / close, 0, 1)),
        0.5 + 0.5 * np.cos(np.pi * np.clip(x / open_, 0, 1)),
    )
    return (peak * shape[shape > 0.02]).astype(np.float32)


class BlinkFloor:
    """Per clip: how long since a blink began, and the rest of a blink being added."""

    def __init__(self, fps: float, seed: int) -> None:
        self.fps = fps
        self.rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xB11C])
        self.since = 0  # frames since the last blink began (the clip's start counts as one)
        self.deadline = self._draw()
        self.pending = np.zeros(0, np.float32)  # lid closure still to add, one value per frame
        self.closed = False  # the previous frame was past ONSET

    def _draw(self) -> int:
        return round(self.rng.uniform(*GAP_S) * self.fps)

    def __call__(self, window: np.ndarray) -> np.ndarray:
        """(n, DIM) relative motion, in order -> the same with blinks added where due."""
        out = window.copy()
        for row in out:
            if not len(self.pending) and self.since >= self.deadline:
                duration, peak = self.rng.uniform(*DURATION_S), self.rng.uniform(*PEAK)
                self.pending = blink_shape(duration, peak, self.fps)
            if len(self.pending):
                lid, self.pending = float(self.pending[0]), self.pending[1:]
                row[_LEFT] = max(row[_LEFT], lid)
                row[_RIGHT] = max(row[_RIGHT], lid * 0.97)
                row[_WIDE] *= 1 - lid  # a closing lid cannot be wide open
            closed = (row[_LEFT] + row[_RIGHT]) / 2 > ONSET
            if closed and not self.closed:  # a blink began (the model's own or an added one)
                self.since, self.deadline = 0, self._draw()
            else:
                self.since += 1
            self.closed = closed
        return np.clip(out, M.LOWER, M.UPPER).astype(np.float32)
