"""Consent evidence checks: what an upload's bytes are (magic-number sniffing), whatever its name
or declared type says, and whether the file reads.

A declared media type is a claim by the client; the first bytes are the fact. Consent evidence
must be non-empty, of a known format, of the format its declared type names, and readable.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from candor.errors import EvidenceTypeMismatch, InvalidEvidence, InvalidImage, PayloadTooLarge
from candor.files import sniff_media_type

# MP4/MOV/M4A share one container (ISO BMFF, brands vary freely) and WebM is Matroska's EBML: each
# declared type may hold any content of its container, as :func:`candor.files.sniff_media_type`
# names it ("text/plain" is this module's own finding: text has no signature).
_ISO_BMFF = frozenset({"video/mp4", "audio/mp4", "video/quicktime"})
CONTENT_OF_TYPE: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({"application/pdf"}),
    "image/png": frozenset({"image/png"}),
    "image/jpeg": frozenset({"image/jpeg"}),
    "image/webp": frozenset({"image/webp"}),
    "image/gif": frozenset({"image/gif"}),
    "image/bmp": frozenset({"image/bmp"}),
    "image/tiff": frozenset({"image/tiff"}),
    "text/plain": frozenset({"text/plain"}),
    "audio/wav": frozenset({"audio/wav"}),
    "audio/x-wav": frozenset({"audio/wav"}),
    "audio/wave": frozenset({"audio/wav"}),
    "audio/vnd.wave": frozenset({"audio/wav"}),
    "audio/flac": frozenset({"audio/flac"}),
    "audio/x-flac": frozenset({"audio/flac"}),
    "audio/mpeg": frozenset({"audio/mpeg"}),
    "audio/mp3": frozenset({"audio/mpeg"}),
    "audio/ogg": frozenset({"audio/ogg"}),
    "audio/webm": frozenset({"video/webm"}),
    "audio/mp4": _ISO_BMFF,
    "audio/x-m4a": _ISO_BMFF,
    "audio/aac": _ISO_BMFF | {"audio/aac"},
    "video/mp4": _ISO_BMFF,
    "video/quicktime": _ISO_BMFF,
    "video/webm": frozenset({"video/webm"}),
}
GENERIC_TYPE = "application/octet-stream"
# Speech for a generation: only containers the signer can record as a C2PA ingredient (an OGG,
# WebM or raw AAC clip would render a whole video and then fail at signing).
SPEECH_TYPES = (
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/vnd.wave",
    "audio/flac",
    "audio/x-flac",
    "audio/mpeg",
    "audio/mp3",
    "audio/mp4",
    "audio/x-m4a",
)
# What each evidence slot accepts (the declared type must match the content, see sniff_content):
# a recorded consent is only kept, never signed into a video, so any common recording will do.
DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/webp", "text/plain")
RECORDING_TYPES = (*SPEECH_TYPES, "audio/ogg", "audio/webm", "audio/aac", "video/mp4", "video/webm", "video/quicktime")
# A reference of the subject: a photo, or a short consent video from which faces are taken.
REFERENCE_TYPES = ("image/png", "image/jpeg", "image/webp", "video/mp4", "video/quicktime", "video/webm")


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still text.
        return exc.start >= len(head) - 3
    return True


def sniff_content(head: bytes) -> str | None:
    """The media type the first bytes show (:func:`candor.files.sniff_media_type`), "text/plain"
    for UTF-8 text without NULs, or None."""
    return sniff_media_type(head) or ("text/plain" if _is_text(head) else None)


def check_declared_type(data: bytes, declared: str | None, allowed: tuple[str, ...], what: str) -> str:
    """The media type to record for ``data`` declared as ``declared`` (parameters are dropped).

    InvalidEvidence (422) when ``data`` is empty or of no known format; EvidenceTypeMismatch (415)
    when its content is not the declared type, or not one of ``allowed`` for a generic
    (application/octet-stream or absent) declaration, whose recorded type then comes from the bytes.
    """
    if not data:
        raise InvalidEvidence(f"{what} is empty (0 bytes)")
    found = sniff_content(data[:512])
    if found is None:
        raise InvalidEvidence(f"{what} is not a readable file of any accepted format")
    declared = (declared or GENERIC_TYPE).split(";", 1)[0].strip().lower()
    if declared == GENERIC_TYPE:
        recorded = found
        if recorded not in allowed:
            raise EvidenceTypeMismatch(f"{what} is {found} content; accepted types are {', '.join(allowed)}")
        return recorded
    if declared not in allowed:
        raise EvidenceTypeMismatch(f"{what} must be one of {', '.join(allowed)}; got {declared!r}")
    if found not in CONTENT_OF_TYPE.get(declared, frozenset()):
        raise EvidenceTypeMismatch(f"{what} is declared {declared} but its content is {found}")
    return declared


def read_bounded(data: bytes | BinaryIO, limit: int, what: str) -> bytes:
    """All of ``data`` (bytes or a stream), PayloadTooLarge (413) past ``limit`` bytes."""
    raw = bytes(data) if isinstance(data, bytes | bytearray) else data.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"{what} is larger than the {limit}-byte limit")
    return raw


def check_evidence(data: bytes, declared: str | None, allowed: tuple[str, ...], what: str) -> str:
    """The media type to record once ``data`` is known to be non-empty, of its declared type and
    readable: an image decodes, a recording has an audio or video stream, a text is not blank."""
    media_type = check_declared_type(data, declared, allowed, what)
    if media_type.startswith("image/"):
        try:
            check_image_container(data)
        except InvalidImage as exc:
            raise InvalidEvidence(f"{what}: {exc.detail}") from None
    elif media_type.startswith(("audio/", "video/")):
        _check_recording(data, what)
    elif media_type == "text/plain" and not data.decode("utf-8", errors="replace").strip():
        raise InvalidEvidence(f"{what} is blank text")
    return media_type


def _check_recording(data: bytes, what: str) -> None:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            streams = [s for s in container.streams if s.type in ("audio", "video")]
            if not streams:
                raise InvalidEvidence(f"{what} holds no audio or video stream")
            packet_found = any(p.size for p in container.demux(streams[0]))
    except av.error.FFmpegError as exc:
        raise InvalidEvidence(f"{what} cannot be read as a recording ({exc.strerror or type(exc).__name__})") from None
    if not packet_found:
        raise InvalidEvidence(f"{what} holds no recorded data")


def check_image_container(image: bytes) -> None:
    """Refuse bytes whose image container is malformed before the decoder sees them.

    Pillow's parsers raise a wide, undocumented set of exceptions on hostile input (OSError,
    SyntaxError, but also AttributeError, struct.error, IndexError...); they all mean "corrupt
    upload" here, so they become InvalidImage (422) with the parser's message.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as img:
            img.verify()  # structure and checksums, without decoding the pixels
    except UnidentifiedImageError:
        raise InvalidImage("image is not an image (unrecognized format)") from None
    except Image.DecompressionBombError:
        return  # a huge but well-formed image: analyze_image reports it as ImageTooLarge (413)
    except Exception as exc:  # any parser failure on untrusted bytes is bad input
        raise InvalidImage(f"image is corrupt ({type(exc).__name__}: {exc})") from None
