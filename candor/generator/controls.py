"""Control signals for audio-driven generation: eye gaze, head distance and emotion.

The same encoding is used by the corpus builder (labels), the diffusion model (conditions) and
``candor generate`` (user controls), so it lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from candor.errors import InvalidInput

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")
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
        if not 0.0 <= self.intensity <= 1.0:
            raise InvalidInput(f"emotion intensity must be within 0-1, got {self.intensity}")
        if not 0.5 <= self.distance <= 2.0:
            raise InvalidInput(f"distance must be within 0.5-2.0, got {self.distance}")
        if abs(self.gaze_yaw) > 30 or abs(self.gaze_pitch) > 20:
            raise InvalidInput("gaze must be within +-30 degrees yaw and +-20 degrees pitch")

    def as_record(self, *, seed: int, fps: int) -> dict[str, object]:
        """The controls a video was made with, as the credentials and the log record them."""
        return {
            "gaze_yaw": self.gaze_yaw,
            "gaze_pitch": self.gaze_pitch,
            "distance": self.distance,
            "emotion": self.emotion,
            "intensity": self.intensity,
            "seed": seed,
            "fps": fps,
        }

    def to_vector(self) -> np.ndarray:
        """The (CONTROL_DIM,) float32 condition vector."""
        v = np.zeros(CONTROL_DIM, np.float32)
        v[0] = self.gaze_yaw / 30.0
        v[1] = self.gaze_pitch / 20.0
        v[2] = np.log(self.distance)
        v[3 + EMOTIONS.index(self.emotion)] = self.intensity if self.emotion != "neutral" else 1.0
        return v

    @classmethod
    def parse_emotion(cls, text: str) -> tuple[str, float]:
        """'happy:0.7' -> ('happy', 0.7); 'sad' -> ('sad', 1.0)."""
        name, _, value = text.partition(":")
        try:
            intensity = float(value) if value else 1.0
        except ValueError:
            raise InvalidInput(f"emotion must look like NAME or NAME:INTENSITY, got {text!r}") from None
        return name.strip().lower(), intensity
