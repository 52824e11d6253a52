"""Schema pieces shared by several resources."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema


# Resource ids are the store's prefixed random strings (``cns_…``): the patterns keep junk away
# from the database layer and give fuzzers (and readers) their shape.
def id_type(prefix: str) -> Any:
    """The id type of one resource: ``prefix_`` + the store's lowercase base32 (see new_id)."""
    return Annotated[str, StringConstraints(pattern=rf"^{prefix}_[a-z2-7]{{1,40}}$")]


ConsentId = id_type("cns")
PortraitId = id_type("prt")
AssetId = id_type("ast")
GenerationId = id_type("gen")


# An optional form field: left out when not given. A multipart form cannot send null (it arrives
# as an empty string, which the field refuses), so the schema does not offer it.
Absent = SkipJsonSchema[None]

# Free text a partner sends: any character but NUL, which PostgreSQL text cannot hold (it was a 500
# there and stored fine on SQLite). Said in the schema, so clients and fuzzers know it.
NO_NUL = r"^[^\x00]*$"


def text_type(min_length: int, max_length: int) -> Any:
    """A free-text field of ``min_length``..``max_length`` characters, NUL excluded."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_NUL)]


class PublicModel(BaseModel):
    """Read from ORM objects by attribute; ``extra=forbid`` keeps the documented shape exact."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class PageInfo(BaseModel):
    limit: int = Field(description="page size asked for")
    next_cursor: str | None = Field(None, description="pass as `cursor` to get the next page; null at the end")


Limit = Annotated[int, Field(ge=1, le=200, description="items per page (1-200)")]
