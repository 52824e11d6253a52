"""Schema pieces shared by several resources."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


# Resource ids are the store's prefixed random strings (``cns_…``): the patterns keep junk away
# from the database layer and give fuzzers (and readers) their shape.
def id_type(prefix: str) -> Any:
    """The id type of one resource: ``prefix_`` + the store's lowercase base32 (see new_id)."""
    return Annotated[str, StringConstraints(pattern=rf"^{prefix}_[a-z2-7]{{1,40}}$")]


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
