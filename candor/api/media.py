"""Uploaded media at the HTTP edge: bounded reads, content-type checks, portrait face analysis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse

from candor.api.errors import UnsupportedMediaType
from candor.errors import InvalidAudio, InvalidVideo, PayloadTooLarge
from candor.files import sniff_media_type
from candor.services import evidence
from candor.store.filestore import FileStore

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff")
AUDIO_TYPES = evidence.SPEECH_TYPES  # speech for a generation (see there why no OGG/WebM/AAC)
# The canonical type each sniffed audio container is stored under (what the signer names it).
_AUDIO_BY_CONTENT = {
    "audio/wav": "audio/wav",
    "audio/flac": "audio/flac",
    "audio/mpeg": "audio/mpeg",
    "audio/mp4": "audio/mp4",
    "video/mp4": "audio/mp4",  # an .m4a is often branded isom/mp42
}
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-msvideo")
_VIDEO_CONTENT = {"video/mp4", "video/quicktime", "video/webm", "video/x-msvideo", "audio/mp4"}
# Consent uploads: the service checks their content against these too (services.evidence).
DOCUMENT_TYPES = evidence.DOCUMENT_TYPES
RECORDING_TYPES = evidence.RECORDING_TYPES
REFERENCE_TYPES = evidence.REFERENCE_TYPES
# Clients that cannot tell (curl guesses only a few extensions) send this; the bytes then decide.
GENERIC_TYPE = evidence.GENERIC_TYPE
_CHUNK = 1 << 20


def media_type_of(upload: UploadFile, allowed: tuple[str, ...], what: str) -> str:
    """The upload's declared media type (parameters dropped) if acceptable, else UnsupportedMediaType (415)."""
    declared = (upload.content_type or GENERIC_TYPE).split(";", 1)[0].strip().lower()
    if declared in allowed or declared == GENERIC_TYPE:
        return declared
    raise UnsupportedMediaType(f"{what} must be one of {', '.join(allowed)}; got {declared!r}")


async def read_upload(upload: UploadFile, max_bytes: int, what: str) -> bytes:
    """All bytes of ``upload``, refusing with PayloadTooLarge (413) past ``max_bytes``."""
    size = upload.size
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(f"{what} is {size} bytes; the limit is {max_bytes} bytes")
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"{what} is larger than the {max_bytes}-byte limit")
        parts.append(chunk)
    return b"".join(parts)


def audio_type_of(data: bytes, declared: str) -> str:
    """The canonical media type to store speech under, judged from its bytes: a WAV, FLAC, MP3 or
    MP4/M4A clip, whatever it was declared as (``audio/mp3``, ``application/octet-stream``...).
    Empty or unrecognised bytes are InvalidAudio (422); a real audio format that the signer cannot
    record (OGG, WebM, raw AAC) or content of another kind (an image) is UnsupportedMediaType (415),
    so nothing is queued that would fail at signing."""
    if not data:
        raise InvalidAudio("the uploaded audio is empty")
    sniffed = sniff_media_type(data[:16])
    if sniffed is None:
        raise InvalidAudio(f"the uploaded audio (declared {declared}) is not a WAV, FLAC, MP3 or M4A file")
    canonical = _AUDIO_BY_CONTENT.get(sniffed)
    if canonical is None:
        raise UnsupportedMediaType(f"the uploaded audio is {sniffed} (declared {declared}); send WAV, FLAC, MP3 or M4A")
    return canonical


def check_video_content(data: bytes, declared: str) -> None:
    """Refuse (415) an upload whose bytes are not a video container (MP4, MOV, WebM/MKV, AVI),
    whatever type it was declared as: FFmpeg would read a PNG as a one-frame video."""
    if not data:
        raise InvalidVideo("the uploaded video is empty")
    sniffed = sniff_media_type(data[:16])
    if sniffed not in _VIDEO_CONTENT:
        what = f"a {sniffed} file" if sniffed else "not a known video container"
        raise UnsupportedMediaType(
            f"the uploaded video (declared {declared}) is {what}; send MP4, MOV, WebM, MKV or AVI"
        )


def upload_name(upload: UploadFile) -> str | None:
    """The upload's file name as a client sent it, without control characters (NUL cannot be stored
    in PostgreSQL text) and at most 255 characters; None when it has none."""
    name = "".join(ch for ch in upload.filename or "" if ch >= " " and ch != "\x7f")[:255]
    return name or None


def stored_file_response(
    files: FileStore,
    sha256: str,
    *,
    media_type: str,
    filename: str | None = None,
    inline: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """A stored file as a response: sent from disk where the store keeps it locally, streamed
    through from an object store otherwise (a presigned URL is the way around the API)."""
    path = files.local_path(sha256)
    if path is not None:
        disposition = "inline" if inline else "attachment"
        return FileResponse(
            path, media_type=media_type, filename=filename, headers=headers, content_disposition_type=disposition
        )
    headers = dict(headers or {})
    if filename is not None:
        headers["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    return StreamingResponse(_chunks(files.open(sha256)), media_type=media_type, headers=headers)


def _chunks(body: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := body.read(_CHUNK):
            yield chunk
    finally:
        body.close()
