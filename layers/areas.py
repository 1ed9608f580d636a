"""Areas: city boundaries and districts (MultiPolygon)."""

from __future__ import annotations

import uuid
from typing import Annotated

from geoalchemy2 import WKBElement
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CheckConstraint, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geo_outreach.core.vocab import AREA_KINDS, sql_in
from layers.base import Base, Tracked, geometry, gist, uuid_pk
from layers.rules import OneOf

TABLE = "areas"
GEOMETRY_TYPE = "MULTIPOLYGON"


class Area(Tracked, Base):
    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint(sql_in("kind", AREA_KINDS), name="kind"),
        CheckConstraint("population IS NULL OR population >= 0", name="population"),
        UniqueConstraint("kind", "name", "is_demo", name="uq_areas_kind_name_demo"),
        gist(TABLE),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    code: Mapped[str | None] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    geom: Mapped[WKBElement] = geometry(GEOMETRY_TYPE)


class AreaIn(BaseModel):
    """One area as imported or posted; geometry travels separately."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Annotated[str, OneOf(AREA_KINDS)] = "district"
    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=50)
    population: int | None = Field(default=None, ge=0)


# Column names seen in real boundary files, mapped to ours (lower-cased on lookup).
IMPORT_ALIASES = {
    "name": "name",
    "nazwa": "name",
    "nazwa_dzie": "name",
    "dzielnica": "name",
    "powiat": "name",
    "gmina": "name",
    "code": "code",
    "kod": "code",
    "id": "code",
    "id_jednost": "code",
    "teryt": "code",
    "population": "population",
    "liczba_mie": "population",
    "ludnosc": "population",
    "kind": "kind",
    "rodzaj": "kind",
}
