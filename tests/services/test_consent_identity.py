"""A consent is bound to one face, and its evidence must be what it says (SQLite and PostgreSQL).

Real photos: the astronaut (scikit-image) and Grace Hopper (matplotlib), two different people.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from store_world import CONSENT_FORM

from candor import services
from candor.errors import (
    Conflict,
    ConsentReferenceRequired,
    EvidenceTypeMismatch,
    InvalidEvidence,
    PortraitIdentityMismatch,
)
from candor.generator.identity import MATCH_THRESHOLD
from candor.store.models import Consent, LogEntryRow, Portrait


def _encode(image: np.ndarray, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def astronaut_png(astronaut) -> bytes:  # type: ignore[no-untyped-def]
    return _encode(astronaut)


@pytest.fixture(scope="module")
def grace_png(grace_hopper) -> bytes:  # type: ignore[no-untyped-def]
    return _encode(grace_hopper)


@pytest.fixture(scope="module")
def astronaut_second_jpeg(astronaut) -> bytes:  # type: ignore[no-untyped-def]
    """Another picture of the astronaut: mirrored, cropped differently, darker, a JPEG."""
    h, w = astronaut.shape[:2]
    edited = (astronaut[int(h * 0.05) : int(h * 0.8), int(w * 0.15) :][:, ::-1] * 0.75).astype(np.uint8)
    return _encode(edited, "JPEG", quality=60)


def _consent(session, log, files, partner, name: str, reference: bytes | None, **evidence):  # type: ignore[no-untyped-def]
    evidence = evidence or {"evidence_document": CONSENT_FORM, "evidence_document_type": "application/pdf"}
    return services.create_consent(
        session=session,
        log=log,
        files=files,
        partner=partner,
        subject_name=name,
        subject_is_adult=True,
        allowed_uses=["education"],
        reference=reference,
        reference_type=None,  # undeclared: the bytes decide (PNG or MP4)
        **evidence,
    )


def _enroll(session, log, files, partner, consent_id: str, image: bytes):  # type: ignore[no-untyped-def]
    return services.enroll_portrait(
        session=session,
        log=log,
        files=files,
        partner=partner,
        consent_id=consent_id,
        image=image,
        media_type="image/png",
    )


def _count(factory, model) -> int:  # type: ignore[no-untyped-def]
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_face_enrols_only_under_its_own_subjects_consent(  # type: ignore[no-untyped-def]
    factory, log, files, world, astronaut_png, grace_png, astronaut_second_jpeg
) -> None:
    with factory() as session:
        partner = session.merge(world.partner)
        astronaut_consent = _consent(session, log, files, partner, "Astronaut", astronaut_png)
        grace_consent = _consent(session, log, files, partner, "Grace", grace_png)
        assert astronaut_consent.reference_embedding and len(astronaut_consent.reference_embedding) == 128
        assert files.read_bytes(astronaut_consent.reference_sha256) == astronaut_png

        own = _enroll(session, log, files, partner, astronaut_consent.id, astronaut_png)
        assert own.identity_distance is not None and own.identity_distance < 0.05
        # The subject's own second photo (another crop, mirrored, darker, JPEG) is accepted.
        second = _enroll(session, log, files, partner, astronaut_consent.id, astronaut_second_jpeg)
        assert 0.0 < second.identity_distance < MATCH_THRESHOLD

        portraits_before = _count(factory, Portrait)
        stored_before = sorted(files.stored())
        # The same photo under a different subject's consent is refused ...
        with pytest.raises(PortraitIdentityMismatch, match="does not match") as refused:
            _enroll(session, log, files, partner, grace_consent.id, astronaut_png)
        assert refused.value.distance >= MATCH_THRESHOLD and refused.value.status == 403
        # ... and so is another person's photo under the astronaut's consent.
        with pytest.raises(PortraitIdentityMismatch):
            _enroll(session, log, files, partner, astronaut_consent.id, grace_png)
    assert _count(factory, Portrait) == portraits_before
    assert sorted(files.stored()) == stored_before  # a refused face is not kept
    with factory() as session:
        refusals = list(
            session.scalars(select(LogEntryRow).where(LogEntryRow.event_type == "portrait.identity_mismatch"))
        )
    assert [r.subject for r in refusals] == [grace_consent.id, astronaut_consent.id]
    bodies = [json.loads(r.body) for r in refusals]
    assert all(b["details"]["distance"] >= MATCH_THRESHOLD for b in bodies), bodies


def test_a_consent_without_a_reference_needs_one_before_enrolment(  # type: ignore[no-untyped-def]
    factory, log, files, world, astronaut_png, grace_png
) -> None:
    with factory() as session:
        partner = session.merge(world.partner)
        legacy = _consent(session, log, files, partner, "Recorded before references", None)
        with pytest.raises(ConsentReferenceRequired, match="no reference"):
            _enroll(session, log, files, partner, legacy.id, astronaut_png)
        args = dict(session=session, log=log, files=files, partner=partner, consent_id=legacy.id)
        updated = services.set_consent_reference(**args, image=astronaut_png, media_type="image/png")
        assert updated.reference_sha256 and updated.reference_type == "image/png"
        # Set once: swapping the reference would let any face in after the fact.
        with pytest.raises(Conflict, match="already has a reference"):
            services.set_consent_reference(**args, image=grace_png, media_type="image/png")
        assert _enroll(session, log, files, partner, legacy.id, astronaut_png).identity_distance < 0.05


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("consent.txt", "not a PDF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("evidence", "error", "message"),
    [
        ({"evidence_document": b"", "evidence_document_type": "application/pdf"}, InvalidEvidence, "empty"),
        ({"evidence_document": _zip_bytes(), "evidence_document_type": "application/pdf"}, EvidenceTypeMismatch, "zip"),
        ({"evidence_document": b"\x00\x01\x02\x03" * 64}, InvalidEvidence, "not a readable"),
        ({"evidence_document": b"%PDF-1.4 x", "evidence_document_type": "image/png"}, EvidenceTypeMismatch, "pdf"),
        (
            {"evidence_recording": b"RIFF\x04\x00\x00\x00WAVE", "evidence_recording_type": "audio/wav"},
            InvalidEvidence,
            "read",
        ),
        ({"evidence_recording": b"%PDF-1.4 x", "evidence_recording_type": "audio/wav"}, EvidenceTypeMismatch, "pdf"),
        ({"evidence_document": b"  \n\t "}, InvalidEvidence, "blank"),
    ],
    ids=["empty", "zip-as-pdf", "unknown-bytes", "pdf-as-png", "broken-wav", "pdf-as-wav", "blank-text"],
)
def test_evidence_must_be_readable_and_what_it_claims(  # type: ignore[no-untyped-def]
    factory, log, files, world, evidence, error, message
) -> None:
    consents_before = _count(factory, Consent)
    stored_before = sorted(files.stored())
    with factory() as session, pytest.raises(error, match=message):
        _consent(session, log, files, session.merge(world.partner), "Evidence Check", None, **evidence)
    assert _count(factory, Consent) == consents_before
    assert sorted(files.stored()) == stored_before  # nothing half-written


def test_good_evidence_is_recorded_with_its_sniffed_type(factory, log, files, world, speech_wav) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        consent = _consent(
            session,
            log,
            files,
            session.merge(world.partner),
            "Evidence Check",
            None,
            evidence_document=CONSENT_FORM,
            evidence_document_type="application/octet-stream",
            evidence_recording=speech_wav,
            evidence_recording_type="audio/x-wav",
        )
    assert consent.evidence_document_type == "application/pdf"  # the bytes decide a generic claim
    assert consent.evidence_recording_type == "audio/x-wav"


def _video(tmp_path, frames: list[np.ndarray]) -> bytes:  # type: ignore[no-untyped-def]
    from candor.generator.video import VideoWriter

    path = tmp_path / "consent.mp4"
    with VideoWriter(path, fps=25) as writer:
        for frame in frames:
            writer.write(frame)
    return path.read_bytes()


def test_a_short_consent_video_is_a_reference(  # type: ignore[no-untyped-def]
    tmp_path, factory, log, files, world, astronaut, grace_hopper, astronaut_png, grace_png
) -> None:
    from skimage.transform import resize

    grace = (resize(grace_hopper[:512, :512], (512, 512)) * 255).astype(np.uint8)
    # 2 s of the subject, moving a little (shifted a few pixels a frame).
    own = _video(tmp_path, [np.roll(astronaut, i, axis=1) for i in range(0, 50)])
    with factory() as session:
        partner = session.merge(world.partner)
        consent = services.create_consent(
            session=session,
            log=log,
            files=files,
            partner=partner,
            subject_name="Filmed",
            subject_is_adult=True,
            allowed_uses=["education"],
            evidence_recording=own,
            evidence_recording_type="video/mp4",
            reference=own,
            reference_type="video/mp4",
        )
        assert consent.reference_type == "video/mp4" and len(consent.reference_embedding) == 128
        assert _enroll(session, log, files, partner, consent.id, astronaut_png).identity_distance < MATCH_THRESHOLD
        with pytest.raises(PortraitIdentityMismatch):
            _enroll(session, log, files, partner, consent.id, grace_png)
        # A video that cuts from one person to another is no one person's reference.
        mixed = _video(tmp_path, [astronaut] * 25 + [grace] * 25)
        with pytest.raises(InvalidEvidence, match="more than one person"):
            _consent(session, log, files, partner, "Mixed", mixed, evidence_document=CONSENT_FORM)
