"""Credentials for an existing MP4: allocate a serial, watermark (re-encode), sign, store.

This is what ``candor sign`` runs. The generator's release path embeds the watermark frame by frame
while encoding and calls :func:`candor.provenance.manifest.sign_video` itself; this module serves any
MP4 made elsewhere.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import secrets
from pathlib import Path

from candor.config import Settings
from candor.errors import InvalidInput
from candor.provenance.manifest import GenerationClaim, SignedManifest, SoftBinding, sign_video
from candor.provenance.repository import ManifestRepository
from candor.provenance.signer import ClaimSigner

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def media_type(path: Path) -> str:
    """The MIME type from the file name; refuses names it cannot type."""
    mime, _ = mimetypes.guess_type(str(path))
    if mime is None:
        raise InvalidInput(f"cannot tell the media type of {path}: use a usual extension (.png, .jpg, .wav...)")
    return mime


def _read_input(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror}") from exc


def watermark_and_sign_file(
    video: Path,
    output: Path,
    *,
    portrait: Path,
    audio: Path | None,
    claim: GenerationClaim,
    settings: Settings,
    repository: ManifestRepository,
    signer: ClaimSigner | None = None,
    crf: int = 18,
) -> SignedManifest:
    """Watermark ``video`` with a fresh serial (re-encoding at ``crf``), sign it into ``output``, store
    the manifest. ``output`` appears complete or not at all (temp file + ``os.replace``)."""
    from candor.provenance.watermark import WatermarkKey, embed_video

    video, output = Path(video), Path(output)
    if not video.is_file():
        raise InvalidInput(f"no such video: {video}")
    portrait_bytes = _read_input(portrait, "portrait")
    audio_bytes = _read_input(audio, "audio") if audio is not None else None
    output.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    marked = output.with_name(f".{output.name}.{token}.wm.mp4")
    signed_tmp = output.with_name(f".{output.name}.{token}.tmp")
    serial = repository.allocate_serial(generation_id=claim.generation_id)
    try:
        embed_video(str(video), str(marked), WatermarkKey.from_settings(settings), serial, crf=crf)
        with marked.open("rb") as src, signed_tmp.open("wb+") as dst:
            signed = sign_video(
                src,
                dst,
                claim=claim,
                portrait=portrait_bytes,
                portrait_mime=media_type(portrait),
                audio=audio_bytes,
                audio_mime=media_type(audio) if audio is not None else None,
                binding=SoftBinding.for_serial(serial),
                settings=settings,
                signer=signer,
            )
            dst.flush()
            os.fsync(dst.fileno())
        repository.store(signed)
        os.replace(signed_tmp, output)
    finally:
        marked.unlink(missing_ok=True)
        signed_tmp.unlink(missing_ok=True)
    return signed
