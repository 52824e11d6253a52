"""Consent evidence checks: what an upload's bytes are (magic-number sniffing), whatever its name
or declared type says, and whether the file reads.

A declared media type is a claim by the client; the first bytes are the fact. Consent evidence
must be non-empty, of a known format, of the format its declared type names, and readable.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Literal

from candor.errors import EvidenceTypeMismatch, InvalidEvidence, InvalidImage, PayloadTooLarge

Format = Literal[
    "pdf",
    "png",
    "jpeg",
    "webp",
    "gif",
    "bmp",
    "tiff",
    "wav",
    "flac",
    "mp3",
    "ogg",
    "ebml",
    "isobmff",
    "aac",
    "zip",
    "text",
]

# Which sniffed formats each declared media type may hold. MP4/MOV/M4A share one container (ISO
# BMFF, brands vary freely), and WebM is Matroska's EBML: they are checked as containers.
FORMATS_OF_TYPE: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({"pdf"}),
    "image/png": frozenset({"png"}),
    "image/jpeg": frozenset({"jpeg"}),
    "image/webp": frozenset({"webp"}),
    "image/gif": frozenset({"gif"}),
    "image/bmp": frozenset({"bmp"}),
    "image/tiff": frozenset({"tiff"}),
    "text/plain": frozenset({"text"}),
    "audio/wav": frozenset({"wav"}),
    "audio/x-wav": frozenset({"wav"}),
    "audio/wave": frozenset({"wav"}),
    "audio/vnd.wave": frozenset({"wav"}),
    "audio/flac": frozenset({"flac"}),
    "audio/x-flac": frozenset({"flac"}),
    "audio/mpeg": frozenset({"mp3"}),
    "audio/mp3": frozenset({"mp3"}),
    "audio/ogg": frozenset({"ogg"}),
    "audio/webm": frozenset({"ebml"}),
    "audio/mp4": frozenset({"isobmff"}),
    "audio/x-m4a": frozenset({"isobmff"}),
    "audio/aac": frozenset({"aac", "isobmff"}),
    "video/mp4": frozenset({"isobmff"}),
    "video/quicktime": frozenset({"isobmff"}),
    "video/webm": frozenset({"ebml"}),
}
# The canonical media type to record when a client declared only application/octet-stream.
TYPE_OF_FORMAT: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "text": "text/plain",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "ebml": "video/webm",
    "isobmff": "video/mp4",
    "aac": "audio/aac",
    "zip": "application/zip",
}
GENERIC_TYPE = "application/octet-stream"
# What each evidence slot accepts (the declared type must match the content, see sniff_format).
DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/webp", "text/plain")
RECORDING_TYPES = (
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/vnd.wave",
    "audio/flac",
    "audio/x-flac",
    "audio/mpeg",
    "audio/mp3",
    "audio/ogg",
    "audio/webm",
    "audio/mp4",
    "audio/aac",
    "audio/x-m4a",
    "video/mp4",
    "video/webm",
    "video/quicktime",
)
# A reference of the subject: a photo, or a short consent video from which faces are taken.
REFERENCE_TYPES = ("image/png", "image/jpeg", "image/webp", "video/mp4", "video/quicktime", "video/webm")
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")


def _is_mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    # An MPEG audio frame header: 11 sync bits, a layer that is not "reserved" (01 is layer III).
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) == 0x02


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still text.
        return exc.start >= len(head) - 3
    return True


def sniff_format(head: bytes) -> Format | None:
    """The format the first bytes (at least 64 of them when the file has them) show, or None."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "ebml"
    if head[4:8] in _MP4_BOXES:
        return "isobmff"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    # ADTS AAC: 12 sync bits, then layer 00 (where MPEG audio has a non-zero layer).
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"
    if _is_mp3(head):
        return "mp3"
    if _is_text(head):
        return "text"
    return None


def check_declared_type(data: bytes, declared: str | None, allowed: tuple[str, ...], what: str) -> str:
    """The media type to record for ``data`` declared as ``declared`` (parameters are dropped).

    InvalidEvidence (422) when ``data`` is empty or of no known format; EvidenceTypeMismatch (415)
    when its content is not the declared type, or not one of ``allowed`` for a generic
    (application/octet-stream or absent) declaration, whose recorded type then comes from the bytes.
    """
    if not data:
        raise InvalidEvidence(f"{what} is empty (0 bytes)")
    found = sniff_format(data[:512])
    if found is None:
        raise InvalidEvidence(f"{what} is not a readable file of any accepted format")
    declared = (declared or GENERIC_TYPE).split(";", 1)[0].strip().lower()
    if declared == GENERIC_TYPE:
        recorded = TYPE_OF_FORMAT[found]
        if recorded not in allowed:
            raise EvidenceTypeMismatch(f"{what} is {found} content; accepted types are {', '.join(allowed)}")
        return recorded
    if declared not in allowed:
        raise EvidenceTypeMismatch(f"{what} must be one of {', '.join(allowed)}; got {declared!r}")
    if found not in FORMATS_OF_TYPE.get(declared, frozenset()):
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
