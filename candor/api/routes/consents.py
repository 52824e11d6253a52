"""Likeness consent records: create with evidence, list, read, revoke, erase, enrol portraits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Path, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from candor import services
from candor.api.deps import CurrentPartner, SessionDep, StateDep
from candor.api.media import (
    DOCUMENT_TYPES,
    IMAGE_TYPES,
    RECORDING_TYPES,
    REFERENCE_TYPES,
    media_type_of,
    read_upload,
)
from candor.api.openapi import problem_responses
from candor.api.schemas.common import Absent, ConsentId, Limit, PageInfo
from candor.api.schemas.consents import (
    ConsentCreate,
    ConsentPage,
    ConsentPublic,
    ConsentRevoke,
    ErasurePublic,
    PortraitPublic,
)
from candor.services.erasure import erase_consent

router = APIRouter(prefix="/consents", tags=["consents"])
_AUTH_ERRORS = (401, 403, 429)


@router.post(
    "",
    status_code=201,
    response_model=ConsentPublic,
    summary="Record a person's likeness consent",
    responses=problem_responses(*_AUTH_ERRORS, 413, 415, 422),
)
async def create_consent(
    session: SessionDep,
    state: StateDep,
    partner: CurrentPartner,
    data: Annotated[ConsentCreate, Form()],
    evidence_document: Annotated[UploadFile | Absent, File(description="signed consent form (PDF/image)")] = None,
    evidence_recording: Annotated[UploadFile | Absent, File(description="recorded spoken consent")] = None,
    reference: Annotated[
        UploadFile | Absent,
        File(
            description="the subject alone: a PNG/JPEG/WebP photo or a short MP4/MOV/WebM consent video; "
            "every enrolled portrait must match its face"
        ),
    ] = None,
) -> ConsentPublic:
    limit = state.settings.max_upload_bytes
    document = recording = None
    document_type = recording_type = None
    if evidence_document is not None:
        document_type = media_type_of(evidence_document, DOCUMENT_TYPES, "evidence_document")
        document = await read_upload(evidence_document, limit, "evidence_document")
    if evidence_recording is not None:
        recording_type = media_type_of(evidence_recording, RECORDING_TYPES, "evidence_recording")
        recording = await read_upload(evidence_recording, limit, "evidence_recording")
    reference_data = reference_type = None
    if reference is not None:
        reference_type = media_type_of(reference, REFERENCE_TYPES, "reference")
        reference_data = await read_upload(reference, limit, "reference")

    def write() -> ConsentPublic:
        consent = services.create_consent(
            session=session,
            log=state.ledger,
            files=state.files,
            partner=partner,
            policy=state.policy,
            **data.model_dump(),
            evidence_document=document,
            evidence_document_type=document_type,
            evidence_recording=recording,
            evidence_recording_type=recording_type,
            reference=reference_data,
            reference_type=reference_type,
            max_megapixels=state.settings.max_image_megapixels,
        )
        return ConsentPublic.of(consent, datetime.now(UTC))

    return await run_in_threadpool(write)


@router.get(
    "",
    response_model=ConsentPage,
    summary="List your consent records, newest first",
    responses=problem_responses(*_AUTH_ERRORS, 422),
)
def list_consents(
    session: SessionDep,
    partner: CurrentPartner,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[ConsentId | None, Query(description="the last id of the previous page")] = None,
) -> ConsentPage:
    before = services.get_consent(session=session, partner=partner, consent_id=cursor).created_at if cursor else None
    rows = services.list_consents(session=session, partner=partner, limit=limit + 1, before=before)
    now = datetime.now(UTC)
    items = [ConsentPublic.of(c, now) for c in rows[:limit]]
    next_cursor = items[-1].id if len(rows) > limit else None
    return ConsentPage(items=items, page=PageInfo(limit=limit, next_cursor=next_cursor))


@router.get(
    "/{consent_id}",
    response_model=ConsentPublic,
    summary="Read one consent record",
    responses=problem_responses(*_AUTH_ERRORS, 404, 422),
)
def get_consent(
    session: SessionDep, partner: CurrentPartner, consent_id: Annotated[ConsentId, Path()]
) -> ConsentPublic:
    consent = services.get_consent(session=session, partner=partner, consent_id=consent_id)
    return ConsentPublic.of(consent, datetime.now(UTC))


@router.post(
    "/{consent_id}/revoke",
    response_model=ConsentPublic,
    summary="Revoke consent: every later generation with it is refused at once",
    responses=problem_responses(*_AUTH_ERRORS, 404, 422),
)
def revoke_consent(
    session: SessionDep,
    state: StateDep,
    partner: CurrentPartner,
    consent_id: Annotated[ConsentId, Path()],
    body: Annotated[ConsentRevoke | None, Body()] = None,
) -> ConsentPublic:
    consent = services.revoke_consent(
        session=session,
        log=state.ledger,
        partner=partner,
        consent_id=consent_id,
        reason=body.reason if body else None,
    )
    return ConsentPublic.of(consent, datetime.now(UTC))


@router.delete(
    "/{consent_id}",
    response_model=ErasurePublic,
    summary="Erase the data subject: the consent, its portraits, evidence, audio, generations and outputs",
    responses=problem_responses(*_AUTH_ERRORS, 404, 422),
)
def erase(
    session: SessionDep, state: StateDep, partner: CurrentPartner, consent_id: Annotated[ConsentId, Path()]
) -> ErasurePublic:
    """Queued or running generations with it are stopped first (nothing is published afterwards);
    then everything of the subject leaves the database and the file store in one unit of work. The
    generation log keeps a tombstone with ids and counts only. Not undoable; a second call is 404."""
    erasure = erase_consent(
        session=session, log=state.ledger, files=state.files, consent_id=consent_id, partner=partner, actor=partner.id
    )
    return ErasurePublic(
        consent_id=erasure.consent_id,
        erased_at=erasure.erased_at,
        generations=erasure.generations,
        portraits=erasure.portraits,
        audio_assets=erasure.assets,
        manifests_erased=erasure.manifests,
        files_deleted=erasure.files_deleted,
        log_index=erasure.log_index,
    )


@router.post(
    "/{consent_id}/reference",
    response_model=ConsentPublic,
    summary="Add the subject's reference (photo or short video) to a consent recorded without one (once)",
    responses=problem_responses(*_AUTH_ERRORS, 404, 409, 413, 415, 422),
)
async def set_consent_reference(
    session: SessionDep,
    state: StateDep,
    partner: CurrentPartner,
    consent_id: Annotated[ConsentId, Path()],
    reference: Annotated[
        UploadFile, File(description="the subject alone: a PNG/JPEG/WebP photo or a short MP4/MOV/WebM video")
    ],
) -> ConsentPublic:
    media_type = media_type_of(reference, REFERENCE_TYPES, "reference")
    data = await read_upload(reference, state.settings.max_upload_bytes, "reference")

    def write() -> ConsentPublic:
        consent = services.set_consent_reference(
            session=session,
            log=state.ledger,
            files=state.files,
            partner=partner,
            consent_id=consent_id,
            image=data,
            media_type=media_type,
            max_megapixels=state.settings.max_image_megapixels,
        )
        return ConsentPublic.of(consent, datetime.now(UTC))

    return await run_in_threadpool(write)


@router.post(
    "/{consent_id}/portraits",
    status_code=201,
    response_model=PortraitPublic,
    summary="Enrol a portrait of the consenting person (exactly one face, matching the consent's reference)",
    responses=problem_responses(*_AUTH_ERRORS, 404, 409, 413, 415, 422),
)
async def enroll_portrait(
    session: SessionDep,
    state: StateDep,
    partner: CurrentPartner,
    consent_id: Annotated[ConsentId, Path()],
    image: Annotated[UploadFile, File(description="PNG/JPEG/WebP photo with one face")],
) -> PortraitPublic:
    media_type = media_type_of(image, IMAGE_TYPES, "image")
    data = await read_upload(image, state.settings.max_upload_bytes, "image")

    def write() -> PortraitPublic:
        portrait = services.enroll_portrait(
            session=session,
            log=state.ledger,
            files=state.files,
            partner=partner,
            consent_id=consent_id,
            image=data,
            media_type=media_type,
            max_megapixels=state.settings.max_image_megapixels,
        )
        return PortraitPublic.model_validate(portrait)

    return await run_in_threadpool(write)
