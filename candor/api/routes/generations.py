"""Generation jobs: request (policy-checked, idempotent), poll, cancel, download the signed MP4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Path, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from candor import services
from candor.api.deps import CurrentPartner, SessionDep, StateDep
from candor.api.media import AUDIO_TYPES, audio_type_of, media_type_of, read_upload, stored_file_response
from candor.api.openapi import problem_responses
from candor.api.schemas.common import Absent, GenerationId, Limit, PageInfo
from candor.api.schemas.generations import DownloadUrlPublic, GenerationCreate, GenerationPage, GenerationPublic
from candor.errors import InvalidInput
from candor.services import GenerationOutcome

router = APIRouter(prefix="/generations", tags=["generations"])
_AUTH_ERRORS = (401, 403, 429)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="repeat a request safely: the same key and body return the first job",
    ),
]


@router.post(
    "",
    status_code=202,
    response_model=GenerationPublic,
    summary="Request a talking-face video (policy-checked, queued as a durable job)",
    responses={
        200: {"description": "Replay of an earlier request with the same Idempotency-Key"},
        **problem_responses(*_AUTH_ERRORS, 404, 409, 413, 415, 422),
    },
)
async def create_generation(
    http_request: Request,
    response: Response,
    session: SessionDep,
    state: StateDep,
    partner: CurrentPartner,
    data: Annotated[GenerationCreate, Form()],
    audio: Annotated[UploadFile | Absent, File(description="speech, instead of audio_asset_id")] = None,
    idempotency_key: IdempotencyKey = None,
) -> GenerationPublic:
    if (audio is None) == (data.audio_asset_id is None):
        raise InvalidInput("give exactly one of audio_asset_id or an audio file part")
    new_audio = None
    if audio is not None:
        declared = media_type_of(audio, AUDIO_TYPES, "audio")
        audio_bytes = await read_upload(audio, state.settings.max_upload_bytes, "audio")
        new_audio = services.NewAudio(
            files=state.files,
            data=audio_bytes,
            media_type=audio_type_of(audio_bytes, declared),
            max_seconds=state.settings.max_audio_seconds,
        )
    request = data.to_request(audio_asset_id=data.audio_asset_id, idempotency_key=idempotency_key)
    outcome: GenerationOutcome = await run_in_threadpool(
        lambda: services.create_generation(
            session=session,
            log=state.ledger,
            partner=partner,
            request=request,
            policy=state.policy,
            audio=new_audio,
            api_key_id=getattr(http_request.state, "api_key_id", None),
        )
    )
    generation, replayed = outcome.generation, outcome.replayed
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    elif state.queue is not None:
        state.queue.submit(generation.id)  # the row is committed: a crash now loses nothing
    response.headers["Location"] = f"/v1/generations/{generation.id}"
    return GenerationPublic.of(generation)


@router.get(
    "",
    response_model=GenerationPage,
    summary="List your generations, newest first",
    responses=problem_responses(*_AUTH_ERRORS, 422),
)
def list_generations(
    session: SessionDep,
    partner: CurrentPartner,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[GenerationId | None, Query(description="the last id of the previous page")] = None,
) -> GenerationPage:
    before = (
        services.get_generation(session=session, partner=partner, generation_id=cursor).created_at if cursor else None
    )
    rows = services.list_generations(session=session, partner=partner, limit=limit + 1, before=before)
    items = [GenerationPublic.of(g) for g in rows[:limit]]
    next_cursor = items[-1].id if len(rows) > limit else None
    return GenerationPage(items=items, page=PageInfo(limit=limit, next_cursor=next_cursor))


@router.get(
    "/{generation_id}",
    response_model=GenerationPublic,
    summary="Status and progress of a generation",
    responses=problem_responses(*_AUTH_ERRORS, 404, 422),
)
def get_generation(
    session: SessionDep, partner: CurrentPartner, generation_id: Annotated[GenerationId, Path()]
) -> GenerationPublic:
    return GenerationPublic.of(services.get_generation(session=session, partner=partner, generation_id=generation_id))


@router.post(
    "/{generation_id}/cancel",
    response_model=GenerationPublic,
    summary="Cancel a queued or running generation (idempotent; nothing is published afterwards)",
    responses=problem_responses(*_AUTH_ERRORS, 404, 409, 422),
)
def cancel_generation(
    session: SessionDep, state: StateDep, partner: CurrentPartner, generation_id: Annotated[GenerationId, Path()]
) -> GenerationPublic:
    """A running job stops at its next heartbeat and publishes nothing; its quota is given back.
    Cancelling a cancelled job answers it again; a succeeded or failed one is 409."""
    generation = services.cancel_generation(
        session=session, log=state.ledger, partner=partner, generation_id=generation_id
    )
    return GenerationPublic.of(generation)


@router.get(
    "/{generation_id}/video",
    response_class=FileResponse,
    summary="Download the signed, watermarked MP4 (the download is logged; 410 once the retention period removed it)",
    responses={
        200: {"content": {"video/mp4": {"schema": {"type": "string", "contentMediaType": "video/mp4"}}}},
        **problem_responses(*_AUTH_ERRORS, 404, 409, 410, 422),
    },
)
def download_video(
    session: SessionDep, state: StateDep, partner: CurrentPartner, generation_id: Annotated[GenerationId, Path()]
) -> Response:
    generation = services.record_download(
        session=session, log=state.ledger, files=state.files, partner=partner, generation_id=generation_id
    )
    headers = {"ETag": f'"{generation.output_sha256}"', "Cache-Control": "private, max-age=3600"}
    return stored_file_response(
        state.files, generation.output_sha256, media_type="video/mp4", filename=f"{generation.id}.mp4", headers=headers
    )


@router.get(
    "/{generation_id}/download-url",
    response_model=DownloadUrlPublic,
    summary="A time-limited URL for the signed MP4 (presigned from the object store; the download is logged)",
    responses=problem_responses(*_AUTH_ERRORS, 404, 409, 422),
)
def download_url(
    session: SessionDep, state: StateDep, partner: CurrentPartner, generation_id: Annotated[GenerationId, Path()]
) -> DownloadUrlPublic:
    """With an object store, a presigned URL that fetches the video straight from it, without a key,
    until ``expires_at``; with a local store, this API's own ``/video`` path (it needs the key)."""
    generation = services.record_download(
        session=session, log=state.ledger, files=state.files, partner=partner, generation_id=generation_id
    )
    expires_s = state.settings.download_url_seconds
    url = state.files.download_url(
        generation.output_sha256, filename=f"{generation.id}.mp4", media_type="video/mp4", expires_s=expires_s
    )
    if url is None:
        return DownloadUrlPublic(url=f"/v1/generations/{generation.id}/video", presigned=False, expires_at=None)
    return DownloadUrlPublic(url=url, presigned=True, expires_at=datetime.now(UTC) + timedelta(seconds=expires_s))
