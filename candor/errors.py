"""Candor's domain errors: one hierarchy, mapped to CLI messages and RFC 9457 problems at the edges."""

from __future__ import annotations


class CandorError(Exception):
    """Base of every error Candor reports to a user. ``status`` is the HTTP status it maps to."""

    status: int = 400
    type_slug: str = "candor-error"
    title: str = "Request could not be processed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(CandorError):
    status = 422
    type_slug = "invalid-input"
    title = "Invalid input"


class InvalidImage(InvalidInput):
    type_slug = "invalid-image"
    title = "Invalid image"


class ImageTooLarge(InvalidImage):
    status = 413
    type_slug = "image-too-large"
    title = "Image too large"


class NoFaceFound(InvalidImage):
    type_slug = "no-face"
    title = "No face found"


class InvalidAudio(InvalidInput):
    type_slug = "invalid-audio"
    title = "Invalid audio"


class AudioTooLong(InvalidAudio):
    status = 413
    type_slug = "audio-too-long"
    title = "Audio too long"


class InvalidVideo(InvalidInput):
    type_slug = "invalid-video"
    title = "Invalid video"


class InvalidMotion(InvalidInput):
    type_slug = "invalid-motion"
    title = "Invalid motion sequence"
