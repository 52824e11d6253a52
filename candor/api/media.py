"""Uploaded media at the HTTP edge: bounded reads, content-type checks, portrait face analysis."""

from __future__ import annotations

from fastapi import UploadFile

from candor.api.errors import UnsupportedMediaType
from candor.errors import InvalidImage, MultipleFaces, PayloadTooLarge

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff")
AUDIO_TYPES = (
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
)
DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/webp", "text/plain")
RECORDING_TYPES = (*AUDIO_TYPES, "video/mp4", "video/webm", "video/quicktime")
# Clients that cannot tell (curl guesses only a few extensions) send this; the decoder then decides.
GENERIC_TYPE = "application/octet-stream"
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


def _check_image_container(image: bytes) -> None:
    """Refuse bytes whose image container is malformed before the decoder sees them.

    Pillow's parsers raise a wide, undocumented set of exceptions on hostile input (OSError,
    SyntaxError, but also AttributeError, struct.error, IndexError...); they all mean "corrupt
    upload" here, so they become InvalidImage (422) with the parser's message.
    """
    import io

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


def face_summary(image: bytes, *, max_megapixels: float) -> dict[str, object]:
    """Analyse a portrait for enrolment: exactly one face, framed and posed.

    Returns a small JSON-able summary (pose in degrees, face box in original pixels). Raises
    InvalidImage (corrupt/not an image), ImageTooLarge, NoFaceFound or MultipleFaces.
    """
    from candor.generator.face import analyze_image  # mediapipe loads on first use only

    _check_image_container(image)
    face = analyze_image(image, max_megapixels=max_megapixels)
    if face.faces_found > 1:
        raise MultipleFaces(
            f"the portrait shows {face.faces_found} faces; enrol a photo of the consenting person alone"
        )
    yaw, pitch, roll = (float(a) for a in face.fit.angles)
    summary: dict[str, object] = {
        "faces_found": int(face.faces_found),
        "yaw_deg": round(yaw, 2),
        "pitch_deg": round(pitch, 2),
        "roll_deg": round(roll, 2),
    }
    if face.box is not None:
        box = face.box
        summary["box_xyxy"] = [round(float(v), 1) for v in (box.x0, box.y0, box.x1, box.y1)]
    return summary
