"""Shapes of the C2PA Soft Binding Resolution API (field names as the C2PA spec spells them)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SoftBindingMatch(BaseModel):
    manifestId: str = Field(description="resolve with GET /v1/manifests/{manifestId}")  # noqa: N815
    similarityScore: int | None = Field(None, ge=0, le=100, description="100 = exact match")  # noqa: N815


class SoftBindingMatches(BaseModel):
    matches: list[SoftBindingMatch]


class SoftBindingAlgorithm(BaseModel):
    alg: str


class SupportedAlgorithms(BaseModel):
    watermarks: list[SoftBindingAlgorithm]
    fingerprints: list[SoftBindingAlgorithm]
