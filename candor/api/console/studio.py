"""The partner studio: consents (record, enrol portraits, revoke), generations (create, progress,
player, download, credentials) and usage (quota, generations by status, scans). Scope ``generate``,
the partner's own rows only: every read goes through the same partner-scoped services as ``/v1``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from candor import services
from candor.api.console.web import PREFIX, PostingViewer, ViewerDep, page_error, redirect, render
from candor.api.deps import SessionDep, StateDep
from candor.api.media import (
    AUDIO_TYPES,
    DOCUMENT_TYPES,
    IMAGE_TYPES,
    REFERENCE_TYPES,
    audio_type_of,
    media_type_of,
    read_upload,
    stored_file_response,
)
from candor.api.schemas.consents import ConsentCreate, ConsentPublic
from candor.api.schemas.generations import GenerationCreate, GenerationPublic
from candor.errors import CandorError, Conflict
from candor.generator import controls as C
from candor.generator.identity import MATCH_THRESHOLD
from candor.services import console as console_services
from candor.services.usage import partner_usage

router = APIRouter(prefix="/studio")
# The numeric controls' form inputs: names, bounds, units and defaults from generator.controls.
CONTROL_FIELDS = [{"name": n, "bound": b, "default": getattr(C.Controls(), n)} for n, b in C.BOUNDS.items()]


def _guard(work: Any) -> Any:
    """Run a service call, turning a domain or validation error into a console error page."""
    try:
        return work()
    except (CandorError, ValidationError) as exc:
        raise page_error(exc) from None


def _usage(session: Any, state: Any, partner: Any) -> dict[str, Any]:
    usage = partner_usage(session=session, partner=partner, policy=state.policy)
    limit = usage.quota_limit_s
    return {"usage": usage, "usage_fraction": min(1.0, usage.quota_used_s / limit) if limit else 1.0}


def active_subjects(consents: list[ConsentPublic]) -> list[tuple[ConsentPublic, Any]]:
    """(consent, portrait) pairs a generation or a live session may use: active consents only."""
    return [(c, p) for c in consents if c.status == "active" for p in c.portraits]


@router.get("")
def studio(request: Request, session: SessionDep, state: StateDep, viewer: ViewerDep) -> Response:
    partner = viewer.tenant("generate")
    now = datetime.now(UTC)
    consents = [ConsentPublic.of(c, now) for c in services.list_consents(session=session, partner=partner, limit=100)]
    generations = [GenerationPublic.of(g) for g in services.list_generations(session=session, partner=partner)]
    subjects = active_subjects(consents)
    return render(
        request, "studio.html", viewer, consents=consents, generations=generations, subjects=subjects,
        **_usage(session, state, partner), controls=CONTROL_FIELDS, emotions=C.EMOTIONS, fps=C.FPS,
        default_fps=C.DEFAULT_FPS, audio_types=",".join(AUDIO_TYPES),
        max_audio_seconds=state.settings.max_audio_seconds,
    )  # fmt: skip


@router.post("/consents")
async def record_consent(
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    subject_name: Annotated[str, Form()],
    allowed_uses: Annotated[str, Form()],
    evidence_document: Annotated[UploadFile, File()],
    reference: Annotated[UploadFile, File()],
    subject_is_adult: Annotated[bool, Form()] = False,
) -> Response:
    partner = viewer.tenant("generate")
    limit = state.settings.max_upload_bytes
    try:
        data = ConsentCreate.model_validate(
            {"subject_name": subject_name, "subject_is_adult": subject_is_adult, "allowed_uses": allowed_uses}
        )
        document_type = media_type_of(evidence_document, DOCUMENT_TYPES, "evidence_document")
        document = await read_upload(evidence_document, limit, "evidence_document")
        reference_type = media_type_of(reference, REFERENCE_TYPES, "reference")
        reference_data = await read_upload(reference, limit, "reference")
    except (CandorError, ValidationError) as exc:
        raise page_error(exc) from None

    def write() -> str:
        return services.create_consent(
            session=session, log=state.ledger, files=state.files, partner=partner, policy=state.policy,
            **data.model_dump(), evidence_document=document, evidence_document_type=document_type,
            reference=reference_data, reference_type=reference_type,
            max_megapixels=state.settings.max_image_megapixels,
        ).id  # fmt: skip

    consent_id = await run_in_threadpool(lambda: _guard(write))
    return redirect(f"{PREFIX}/studio/consents/{consent_id}", "consent recorded")


@router.get("/consents/{consent_id}")
def consent_page(request: Request, session: SessionDep, viewer: ViewerDep, consent_id: str) -> Response:
    partner = viewer.tenant("generate")
    consent = _guard(lambda: services.get_consent(session=session, partner=partner, consent_id=consent_id))
    return render(
        request, "consent.html", viewer, consent=ConsentPublic.of(consent, datetime.now(UTC)), threshold=MATCH_THRESHOLD
    )


@router.post("/consents/{consent_id}/portraits")
async def enrol_portrait(
    session: SessionDep, state: StateDep, viewer: PostingViewer, consent_id: str, image: Annotated[UploadFile, File()]
) -> Response:
    partner = viewer.tenant("generate")
    try:
        media_type = media_type_of(image, IMAGE_TYPES, "image")
        data = await read_upload(image, state.settings.max_upload_bytes, "image")
    except CandorError as exc:
        raise page_error(exc) from None

    def write() -> float | None:
        return services.enroll_portrait(
            session=session, log=state.ledger, files=state.files, partner=partner, consent_id=consent_id,
            image=data, media_type=media_type, max_megapixels=state.settings.max_image_megapixels,
        ).identity_distance  # fmt: skip

    distance = await run_in_threadpool(lambda: _guard(write))
    note = f"portrait enrolled: identity distance {distance:.3f} (same person below {MATCH_THRESHOLD:.2f})"
    return redirect(f"{PREFIX}/studio/consents/{consent_id}", note if distance is not None else "portrait enrolled")


@router.get("/portraits/{portrait_id}/image")
def portrait_image(session: SessionDep, state: StateDep, viewer: ViewerDep, portrait_id: str) -> Response:
    partner = viewer.tenant("generate")
    portrait = _guard(lambda: services.get_portrait(session=session, partner=partner, portrait_id=portrait_id))
    return stored_file_response(state.files, portrait.image_sha256, media_type=portrait.media_type, inline=True)


@router.post("/consents/{consent_id}/revoke")
def revoke(
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    consent_id: str,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    partner = viewer.tenant("generate")
    _guard(
        lambda: services.revoke_consent(
            session=session, log=state.ledger, partner=partner, consent_id=consent_id, reason=reason.strip() or None
        )
    )
    return redirect(f"{PREFIX}/studio/consents/{consent_id}", "consent revoked: later generations with it are refused")


@router.post("/generations")
async def create_generation(
    request: Request,
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    subject: Annotated[str, Form(max_length=100)],
    audio: Annotated[UploadFile, File()],
) -> Response:
    partner = viewer.tenant("generate")
    form = await request.form()
    consent_id, _, portrait_id = subject.partition("/")
    fields = {k: form[k] for k in (*C.CONTROL_NAMES, "fps", "seed") if isinstance(form.get(k), str) and form[k] != ""}
    try:
        data = GenerationCreate.model_validate({"consent_id": consent_id, "portrait_id": portrait_id, **fields})
        declared = media_type_of(audio, AUDIO_TYPES, "audio")
        audio_bytes = await read_upload(audio, state.settings.max_upload_bytes, "audio")
    except (CandorError, ValidationError) as exc:
        raise page_error(exc) from None
    new_audio = services.NewAudio(
        files=state.files, data=audio_bytes, media_type=audio_type_of(audio_bytes, declared),
        max_seconds=state.settings.max_audio_seconds,
    )  # fmt: skip

    def write() -> str:
        outcome = services.create_generation(
            session=session, log=state.ledger, partner=partner, policy=state.policy, audio=new_audio,
            request=data.to_request(audio_asset_id=data.audio_asset_id, idempotency_key=None)  # type: ignore[arg-type], api_key_id=viewer.key.id,
        )  # fmt: skip
        return outcome.generation.id

    generation_id = await run_in_threadpool(lambda: _guard(write))
    if state.queue is not None:
        state.queue.submit(generation_id)
    return redirect(f"{PREFIX}/studio/generations/{generation_id}", "generation queued")


def _generation(session: Any, viewer: Any, generation_id: str) -> Any:
    partner = viewer.tenant("generate")
    return _guard(lambda: services.get_generation(session=session, partner=partner, generation_id=generation_id))


@router.get("/generations/{generation_id}")
def generation_page(
    request: Request, session: SessionDep, state: StateDep, viewer: ViewerDep, generation_id: str
) -> Response:
    generation = _generation(session, viewer, generation_id)
    credentials = None
    if generation.status == "succeeded":
        credentials = _guard(
            lambda: console_services.generation_credentials(
                session=session, partner=viewer.partner, generation_id=generation.id,
                files=state.files, verifier=state.verifier,
            )
        )  # fmt: skip
    return render(
        request, "generation.html", viewer, generation=GenerationPublic.of(generation), credentials=credentials
    )


@router.get("/generations/{generation_id}/status")
def generation_status(session: SessionDep, viewer: ViewerDep, generation_id: str) -> JSONResponse:
    """What the progress script polls: status, progress in [0, 1], error."""
    generation = _generation(session, viewer, generation_id)
    return JSONResponse(
        {"id": generation.id, "status": generation.status, "progress": generation.progress, "error": generation.error}
    )


@router.get("/generations/{generation_id}/video")
def generation_video(
    session: SessionDep,
    state: StateDep,
    viewer: ViewerDep,
    generation_id: str,
    download: Annotated[bool, Query()] = False,
) -> Response:
    """The signed MP4: inline for the player; ``download=1`` saves it and is logged like the API's."""
    generation = _generation(session, viewer, generation_id)
    if download:
        generation = _guard(
            lambda: services.record_download(
                session=session,
                log=state.ledger,
                files=state.files,
                partner=viewer.partner,
                generation_id=generation.id,
            )
        )
    elif generation.status != "succeeded" or generation.output_sha256 is None:
        raise page_error(Conflict(f"generation {generation.id} is {generation.status}; no video yet"))
    return stored_file_response(
        state.files,
        generation.output_sha256,
        media_type="video/mp4",
        filename=f"{generation.id}.mp4" if download else None,
        inline=not download,
    )
