"""What the service benchmarks start from: an approved partner, a consent (with evidence and the
subject's reference photo) and the enrolled astronaut portrait, and a short espeak-ng clip.

Imported by ``api_load.py`` and ``faults.py`` (run as ``python benchmarks/NAME.py``, so this folder
is on the import path).
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class World:
    partner_id: str
    consent_id: str
    portrait_id: str
    audio_asset_id: str


def seed_world(
    state: Any, data_dir: Path, *, partner_name: str, speech: str, espeak_args: tuple[str, ...] = ()
) -> World:
    """Seed ``state`` (a migrated candor.services.container.Container) and return the ids."""
    from PIL import Image
    from skimage import data

    from candor import services
    from candor.services import analyze_portrait

    png = io.BytesIO()
    Image.fromarray(data.astronaut()).save(png, "PNG")
    wav = data_dir / "speech.wav"
    subprocess.run(["espeak-ng", *espeak_args, "-w", str(wav), speech], check=True, capture_output=True)
    log = state.ledger
    with state.session_factory() as session:
        partner = services.create_partner(session=session, log=log, name=partner_name, use_case="education")
        services.set_partner_state(session=session, log=log, partner_id=partner.id, state="approved")
        consent = services.create_consent(
            session=session,
            log=log,
            files=state.files,
            partner=partner,
            subject_name="Benchmark Subject",
            subject_is_adult=True,
            allowed_uses=["education"],
            evidence_document=b"I consent to being animated for this benchmark.",
            evidence_document_type="text/plain",
            reference=png.getvalue(),  # the subject's photo: the portrait must match it
            policy=state.policy,
        )
        portrait = services.enroll_portrait(
            session=session,
            log=log,
            files=state.files,
            partner=partner,
            consent_id=consent.id,
            image=png.getvalue(),
            media_type="image/png",
            face_summary=analyze_portrait(png.getvalue(), max_megapixels=50),
        )
        asset = services.create_audio_asset(
            session=session, files=state.files, partner=partner, data=wav.read_bytes(), media_type="audio/wav"
        )
        return World(partner.id, consent.id, portrait.id, asset.id)
