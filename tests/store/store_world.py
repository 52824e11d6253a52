"""Build a small real world through the service functions: an approved partner, a consent record
with evidence, an enrolled portrait and a speech clip."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from candor import services
from candor.store.models import Asset, Consent, Partner, Portrait

CONSENT_FORM = b"%PDF-1.4\n% I, Ada Example, consent to my likeness being animated for education.\n"
FACE = {"face_count": 1, "box": [60, 40, 200, 200], "yaw_deg": 2.0}


@dataclass
class World:
    partner: Partner
    token: str
    consent: Consent
    portrait: Portrait
    audio: Asset
    extra: dict[str, Any] = field(default_factory=dict)

    def request(self, **changes: Any) -> services.GenerationRequest:
        base = {
            "consent_id": self.consent.id,
            "portrait_id": self.portrait.id,
            "audio_asset_id": self.audio.id,
            "controls": {"emotion": "happy", "intensity": 0.5},
            "seed": 7,
        }
        return services.GenerationRequest(**{**base, **changes})


def make_world(
    factory: sessionmaker[Session],
    log: Any,
    files: Any,
    portrait_png: bytes,
    speech_wav: bytes,
    *,
    name: str = "Acme Learning",
    quota_s: float | None = None,
) -> World:
    with factory() as session:
        partner = services.create_partner(
            session=session, log=log, name=name, use_case="education", monthly_quota_s=quota_s
        )
        services.set_partner_state(session=session, log=log, partner_id=partner.id, state="approved")
        issued = services.issue_api_key(session=session, log=log, partner_id=partner.id, scopes="generate,audit:read")
        consent = services.create_consent(
            session=session,
            log=log,
            files=files,
            partner=partner,
            subject_name="Ada Example",
            subject_is_adult=True,
            allowed_uses=["education"],
            evidence_document=CONSENT_FORM,
            evidence_document_type="application/pdf",
            reference=portrait_png,  # the subject's photo: the portrait below must match it
        )
        portrait = services.enroll_portrait(
            session=session,
            log=log,
            files=files,
            partner=partner,
            consent_id=consent.id,
            image=portrait_png,
            media_type="image/png",
            face_summary=FACE,
        )
        audio = services.create_audio_asset(
            session=session, files=files, partner=partner, data=speech_wav, media_type="audio/wav"
        )
    return World(partner, issued.token, consent, portrait, audio)
