"""Uploaded audio, referenced later by generations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, UploadFile
from fastapi.concurrency import run_in_threadpool

from candor import services
from candor.api.deps import CurrentPartner, SessionDep, StateDep
from candor.api.media import AUDIO_TYPES, audio_type_of, media_type_of, read_upload
from candor.api.openapi import problem_responses
from candor.api.schemas.assets import AssetPublic
from candor.api.schemas.common import AssetId

router = APIRouter(prefix="/assets", tags=["assets"])


@router.post(
    "/audio",
    status_code=201,
    response_model=AssetPublic,
    summary="Upload an audio clip (WAV, FLAC, MP3 or M4A, judged by its content)",
    responses=problem_responses(401, 403, 413, 415, 422, 429),
)
async def upload_audio(
    session: SessionDep,
    state: StateDep,
    partner: CurrentPartner,
    audio: Annotated[UploadFile, File(description="speech to animate the portrait with")],
) -> AssetPublic:
    declared = media_type_of(audio, AUDIO_TYPES, "audio")  # 415 before reading; 413 while reading
    data = await read_upload(audio, state.settings.max_upload_bytes, "audio")
    media_type = audio_type_of(data, declared)  # stored as what the bytes are, so the signer can name it
    asset = await run_in_threadpool(
        lambda: services.create_audio_asset(
            session=session,
            files=state.files,
            partner=partner,
            data=data,
            media_type=media_type,
            max_seconds=state.settings.max_audio_seconds,
        )
    )
    return AssetPublic.model_validate(asset)


@router.get(
    "/{asset_id}",
    response_model=AssetPublic,
    summary="Read one uploaded asset",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def get_asset(session: SessionDep, partner: CurrentPartner, asset_id: Annotated[AssetId, Path()]) -> AssetPublic:
    return AssetPublic.model_validate(services.get_asset(session=session, partner=partner, asset_id=asset_id))
