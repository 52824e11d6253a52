"""Schema pieces shared by several resources."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Resource ids are the store's prefixed random strings (``cns_…``); the pattern keeps junk out of
# the database layer and gives fuzzers (and readers) the shape.
ID_PATTERN = r"^[a-z]{3}_[a-z2-7]{1,40}$"


def id_type(prefix: str) -> type[str]:
    """A path/form id that must start with ``prefix_`` (e.g. ``cns``)."""
    return Annotated[  # type: ignore[return-value]
        str, StringConstraints(pattern=rf"^{prefix}_[a-z2-7]{{1,40}}$", max_length=48)
    ]


ConsentId = id_type("cns")
PortraitId = id_type("prt")
AssetId = id_type("ast")
GenerationId = id_type("gen")


class PublicModel(BaseModel):
    """Read from ORM objects by attribute; ``extra=forbid`` keeps the documented shape exact."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class PageInfo(BaseModel):
    limit: int = Field(description="page size asked for")
    next_cursor: str | None = Field(None, description="pass as `cursor` to get the next page; null at the end")


Limit = Annotated[int, Field(ge=1, le=200, description="items per page (1-200)")]
