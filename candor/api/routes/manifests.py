"""Soft-binding resolution, shaped like the C2PA Soft Binding Resolution API: a watermark value
decoded from a video finds the manifests it was signed with, even after the metadata was stripped.

Who may read which: an auditor reads every manifest; a partner's ``detect`` key reads only the
manifests of its own generations. The binding value is the watermark serial in hex (1, 2, 3...),
so an open resolver would let any key enumerate every tenant's generation, consent and controls;
another partner's binding answers "no match" and its manifest id 404, like unknown ones. A
verifier holding someone else's video uses ``POST /v1/detections``, which resolves the watermark
on the server and reports only what that video's own credentials say. Operators read none.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from candor.api.deps import Caller, ManifestReader, SessionDep
from candor.api.openapi import problem_responses
from candor.api.schemas.common import NO_NUL
from candor.api.schemas.manifests import SoftBindingMatches, SupportedAlgorithms
from candor.errors import Gone, NotFound
from candor.services import manifests as repository
from candor.services import principals


def _safe_name(manifest_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", manifest_id)[:100]


router = APIRouter(prefix="/manifests", tags=["manifests"])
C2PA_MEDIA_TYPE = "application/c2pa"


@router.get(
    "/matches/byBinding",
    response_model=SoftBindingMatches,
    summary="Manifest ids whose soft binding (watermark) equals the value",
    responses=problem_responses(401, 403, 422, 429),
)
def matches_by_binding(
    session: SessionDep,
    reader: ManifestReader,
    alg: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL, description="soft-binding algorithm name")],
    value: Annotated[
        str, Query(min_length=1, max_length=4096, pattern=NO_NUL, description="the binding value (base64)")
    ],
    maxResults: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SoftBindingMatches:
    found = repository.matches_by_binding(session=session, alg=alg, value=value, max_results=maxResults)
    if reader.partner_id is not None:
        ids = [m["manifestId"] for m in found["matches"]]
        mine = principals.owned_manifest_ids(session=session, partner_id=reader.partner_id, manifest_ids=ids)
        found = {**found, "matches": [m for m in found["matches"] if m["manifestId"] in mine]}
    return SoftBindingMatches.model_validate(found)


def _readable(session: SessionDep, reader: Caller, manifest_id: str) -> bool:
    if reader.partner_id is None:
        return True  # an auditor
    mine = principals.owned_manifest_ids(session=session, partner_id=reader.partner_id, manifest_ids=[manifest_id])
    return bool(mine)


@router.get(
    "/services/supportedAlgorithms",
    response_model=SupportedAlgorithms,
    summary="Soft-binding algorithms this repository resolves",
    responses=problem_responses(401, 403, 429),
)
def supported_algorithms(_reader: ManifestReader) -> SupportedAlgorithms:
    return SupportedAlgorithms.model_validate(repository.supported_algorithms())


@router.get(
    "/{manifest_id}",
    response_class=Response,
    summary="The C2PA manifest store (application/c2pa) with this id (410 once its subject was erased)",
    responses={
        200: {"content": {C2PA_MEDIA_TYPE: {"schema": {"type": "string", "contentMediaType": C2PA_MEDIA_TYPE}}}},
        **problem_responses(401, 403, 404, 410, 422, 429),
    },
)
def manifest_by_id(
    session: SessionDep,
    reader: ManifestReader,
    manifest_id: Annotated[str, Path(min_length=1, max_length=200)],
    returnActiveManifest: Annotated[bool, Query()] = False,
) -> Response:
    found = repository.manifest_by_id(
        session=session, manifest_id=manifest_id, return_active_manifest=returnActiveManifest
    )
    if found is None or not _readable(session, reader, manifest_id):
        raise NotFound(f"manifest {manifest_id} not found")
    if found["erasedAt"] is not None:
        raise Gone(f"manifest {manifest_id} was erased at {found['erasedAt']} with its data subject's consent")
    return Response(
        content=found["manifestStore"],
        media_type=C2PA_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{_safe_name(found["manifestId"])}.c2pa"'},
    )
