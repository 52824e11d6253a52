"""The generation log over HTTP: entries, signed checkpoints and Merkle proofs (hashes in base64)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AuditEntryPublic(BaseModel):
    index: int = Field(ge=0)
    timestamp: str = Field(description="RFC 3339 UTC")
    event_type: str
    actor: str
    subject: str | None
    details: dict[str, Any]
    entry: str = Field(description="the exact canonical JSON bytes hashed as the Merkle leaf")
    leaf_hash: str = Field(description="base64 SHA-256(0x00 || entry)")


class AuditEntryPage(BaseModel):
    entries: list[AuditEntryPublic]
    start: int
    next_start: int | None = Field(description="pass as `start` for the next page; null at the end")
    tree_size: int


class CheckpointPublic(BaseModel):
    origin: str
    tree_size: int
    root_hash: str = Field(description="base64 of the 32-byte RFC 6962 root")
    timestamp: str = Field(description="RFC 3339 UTC time the head was signed")
    key_name: str
    key_id: str = Field(description="base64 of the 4-byte key id")
    signature: str = Field(description="base64 DER ECDSA P-256/SHA-256 over the note body")
    note: str = Field(description="the signed checkpoint note, verifiable as is")
    public_key_pem: str | None = Field(description="the log's checkpoint key (pin it out of band)")


class InclusionProofPublic(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    audit_path: list[str]


class ConsistencyProofPublic(BaseModel):
    first: int
    second: int
    first_root_hash: str
    second_root_hash: str
    consistency: list[str]
