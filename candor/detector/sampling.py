"""Which frames the classifier looks at: a fixed rate, and a second, denser look where it found too
few faces (adaptive sampling; :func:`adaptive`). Used by :mod:`candor.detector.features`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from candor.detector.features import ClipFeatures

# Adaptive sampling. A clip whose first pass finds a face in fewer than DENSE_BELOW sampled frames (the
# verdict's face-sample floor, candor.detector.timeline.MIN_FACE_SAMPLES: a faint or enlarged face the
# detector confirms only now and then) is looked at again DENSE_FACTOR times as densely, within
# DENSE_WINDOW_S seconds of each face found. The floor asks for evidence, and more frames of the same
# face are more evidence; the windows bound the cost (at most 7 faces x 1 s x 12 frames). Clips with no
# face at all get no second look (nothing says where to look), nor do clips too short to reach the floor
# at the base rate (under 2 s at 4 a second): the floor also means "at least that long a clip".
DENSE_BELOW = 8
DENSE_FACTOR = 3
DENSE_WINDOW_S = 0.5
DENSE_WORDS = (
    f"the first pass found a face in fewer than {DENSE_BELOW} sampled frames, so the frames within "
    f"{DENSE_WINDOW_S:g} s of each were looked at {DENSE_FACTOR}x as densely"
)
# stamps features made this way (a dataset's .npz, the evaluation's cache)
SAMPLING = f"adaptive: first-pass frames, x{DENSE_FACTOR} within {DENSE_WINDOW_S} s of each face below {DENSE_BELOW}"


class Sampler:
    """Which frames are samples: every ``step`` frames (0, then the first frame at or past each
    multiple of ``step``, counted as the first pass always has) for each of ``steps``, and with
    ``windows`` only those inside one of its (first, last) frame ranges. Call it once per frame
    index, in increasing order."""

    def __init__(self, steps: tuple[float, ...], windows: list[tuple[int, int]] | None = None) -> None:
        self.steps = [max(step, 1.0) for step in steps]
        self.windows = windows
        self._next = [0.0] * len(steps)

    def __call__(self, i: int) -> bool:
        hit = False
        for k, step in enumerate(self.steps):
            if i >= self._next[k]:
                hit = True
                while self._next[k] <= i:
                    self._next[k] += step
        return hit and (self.windows is None or any(a <= i <= b for a, b in self.windows))


def adaptive(pass_over: Callable[[Sampler], ClipFeatures], *, fps: float, sample_fps: float) -> ClipFeatures:
    """One pass at ``sample_fps``; where it found a face in fewer than :data:`DENSE_BELOW` frames,
    a second, denser pass around those faces (see :data:`DENSE_BELOW`), kept when it found more."""
    step = fps / sample_fps
    first = pass_over(Sampler((step,)))
    if not 0 < first.n < DENSE_BELOW or first.frames_decoded < DENSE_BELOW * step:
        return first
    half = round(DENSE_WINDOW_S * fps)
    windows = [(round(t * fps) - half, round(t * fps) + half) for t in first.times.tolist()]
    # the first pass's frames and DENSE_FACTOR times as many (the first pass's are kept whatever
    # rounding the finer grid meets)
    second = pass_over(Sampler((step, step / DENSE_FACTOR), windows))
    if second.n <= first.n:
        return first
    # frames looked at: both passes, less the first pass's frames the second looked at again
    again = Sampler((step,), windows)
    second.sampled += first.sampled - sum(again(i) for i in range(first.frames_decoded))
    second.dense = True
    return second
