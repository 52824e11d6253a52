"""Control signals for audio-driven generation: eye gaze, head distance and emotion.

The single home of every fact about what a caller may ask for: the control names, their bounds,
the output frame-rate range and the audio sample rate. The corpus builder (labels), the diffusion
model (conditions), ``candor generate`` (options), the pipeline, the video writer and the HTTP
request schema all read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from candor.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16_000  # Hz: every audio input is decoded to mono at this rate before features


@dataclass(frozen=True)
class Range:
    """A closed interval ``[low, high]`` in a control's unit; ``value in RANGE`` checks it (NaN is
    outside). ``description`` is the unit and sign convention, as shown to API clients."""

    low: float
    high: float
    description: str = ""

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


# Bounds in the controls' own units; ints stay ints so the published OpenAPI numbers read "30".
GAZE_YAW = Range(-30, 30, "degrees, > 0 toward image right")
GAZE_PITCH = Range(-20, 20, "degrees, > 0 up")
DISTANCE = Range(0.5, 2.0, "head distance relative to default framing")
INTENSITY = Range(0, 1, "emotion intensity")
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")

FPS = Range(15, 60, "frames per second of the video")  # what a video may be made at
DEFAULT_FPS = 25

# Condition vector: gazeYaw/30, gazePitch/20, log(distance), then emotion one-hot x intensity.
CONTROL_DIM = 3 + len(EMOTIONS)


@dataclass(frozen=True)
class Controls:
    """gaze_yaw/gaze_pitch: degrees of the main gaze direction (yaw > 0 image right, pitch > 0 up);
    distance: head distance relative to the default framing (1.0 default, 2.0 twice as far, so
    the face is half as large); emotion: one of EMOTIONS with intensity in [0, 1]."""

    gaze_yaw: float = 0.0
    gaze_pitch: float = 0.0
    distance: float = 1.0
    emotion: str = "neutral"
    intensity: float = 0.0

    def __post_init__(self) -> None:
        if self.emotion not in EMOTIONS:
            raise InvalidInput(f"unknown emotion {self.emotion!r}; choose one of {', '.join(EMOTIONS)}")
        if self.intensity not in INTENSITY:
            raise InvalidInput(f"emotion intensity must be within {INTENSITY}, got {self.intensity}")
        if self.distance not in DISTANCE:
            raise InvalidInput(f"distance must be within {DISTANCE}, got {self.distance}")
        # Written as |angle| > limit (the ranges are symmetric), as it always was.
        if abs(self.gaze_yaw) > GAZE_YAW.high or abs(self.gaze_pitch) > GAZE_PITCH.high:
            raise InvalidInput(
                f"gaze must be within +-{GAZE_YAW.high} degrees yaw and +-{GAZE_PITCH.high} degrees pitch"
            )

    def to_vector(self) -> np.ndarray:
        """The (CONTROL_DIM,) float32 condition vector."""
        import numpy as np  # here, not at the top: the CLI reads this module's bounds at startup

        v = np.zeros(CONTROL_DIM, np.float32)
        v[0] = self.gaze_yaw / GAZE_YAW.high
        v[1] = self.gaze_pitch / GAZE_PITCH.high
        v[2] = np.log(self.distance)
        v[3 + EMOTIONS.index(self.emotion)] = self.intensity if self.emotion != "neutral" else 1.0
        return v

    def as_dict(self) -> dict[str, Any]:
        """``{control name: value}`` in ``CONTROL_NAMES`` order (the request/job form of controls)."""
        return {name: getattr(self, name) for name in CONTROL_NAMES}

    def as_record(self, *, seed: int, fps: int) -> dict[str, Any]:
        """The "controls used" record a release carries in its claim and credentials: every
        control, then the seed and the frame rate."""
        return {**self.as_dict(), "seed": seed, "fps": fps}

    @classmethod
    def parse_emotion(cls, text: str) -> tuple[str, float]:
        """'happy:0.7' -> ('happy', 0.7); 'sad' -> ('sad', 1.0)."""
        name, _, value = text.partition(":")
        try:
            intensity = float(value) if value else 1.0
        except ValueError:
            raise InvalidInput(f"emotion must look like NAME or NAME:INTENSITY, got {text!r}") from None
        return name.strip().lower(), intensity


CONTROL_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Controls))
# The numeric controls' bounds by name (emotion is bounded by EMOTIONS instead).
BOUNDS: dict[str, Range] = {
    "gaze_yaw": GAZE_YAW,
    "gaze_pitch": GAZE_PITCH,
    "distance": DISTANCE,
    "intensity": INTENSITY,
}


def check_fps(fps: float) -> None:
    """Raise InvalidInput unless ``fps`` (frames per second) is within ``FPS``."""
    if fps not in FPS:
        raise InvalidInput(f"fps must be within {FPS}, got {fps}")
