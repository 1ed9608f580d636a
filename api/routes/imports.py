"""File imports for coordinators (the office console's upload): a dry run first, then the same
call with `dry_run=false` to write. The one import engine of the command line does the work
(geo_outreach.io.files and .observations); this route only takes the upload and answers.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse

from api.deps import Ctx, guard
from geo_outreach.core import db, policy
from geo_outreach.core.errors import REQUEST, ValidationFailed, invalid
from geo_outreach.io import columns, observations
from geo_outreach.io import files as io
from layers import audit

router = APIRouter(prefix="/imports", tags=["imports"])
Layer = Literal["areas", "sleeping_sites", "facilities", "observations"]
# What importing a layer also creates, beyond the import right itself.
LAYER_NEEDS: dict[str, tuple[str, ...]] = {
    "sleeping_sites": ("sleeping_sites",),
    "observations": ("sleeping_sites", "visits"),
}
SUFFIXES = (".geojson", ".json", ".csv", ".xlsx", ".ods", ".kml", ".kmz", ".gpx", ".gpkg")
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "the file or an option was refused; `problems` name row, field, fault"}
}


@router.post("/{layer}", responses=REFUSED)
def import_upload(
    layer: Layer,
    ctx: Annotated[Ctx, guard("imports", "create")],
    file: Annotated[UploadFile, File(description="GeoJSON, CSV, XLSX, KML/KMZ, GPX or GPKG")],
    dry_run: Annotated[bool, Query(description="check and report only (the default)")] = True,
    crs: Annotated[str | None, Query(description="the file's CRS, e.g. EPSG:2180")] = None,
    map_: Annotated[list[str], Query(alias="map", description="COLUMN=FIELD")] = [],  # noqa: B006
    set_: Annotated[list[str], Query(alias="set", description="FIELD=VALUE")] = [],  # noqa: B006
    skip_invalid: Annotated[bool, Query(description="write the good rows")] = False,
    upsert: Annotated[bool, Query(description="update rows whose key exists")] = False,
    kind: Annotated[str, Query(description="areas: district | city | area")] = "district",
    radius: Annotated[float, Query(description="observations: metres for one site")] = 50.0,
) -> Any:
    """Import one file into `layer` (or observations → sites and visits); answers the report."""
    # Importing sites (or observations, which match stored sites) is writing them, and a dry
    # run's matches tell where they are: only roles that may create them may do it.
    for resource in LAYER_NEEDS.get(layer, ()):
        policy.require(ctx.principal, resource, "create")
    options: dict[str, Any] = {
        "mapping": columns.pairs(map_, field="map"),
        "defaults": columns.pairs(set_, field="set"),
        "crs": crs,
        "dry_run": dry_run,
        "skip_invalid": skip_invalid,
    }
    with tempfile.TemporaryDirectory(prefix="geo-outreach-upload-") as tmp:
        path, name = _saved(file, Path(tmp))
        try:
            with ctx.tx() as tx:
                report = _run(ctx, tx.session, layer, path, name, upsert, kind, radius, options)
        except ValidationFailed as exc:
            if exc.source == REQUEST:  # an option, not the file: the usual 422
                raise
            return _refused(ctx, layer, name, exc)
    return report


def _saved(upload: UploadFile, folder: Path) -> tuple[Path, str]:
    """The upload as a file whose suffix says its format; its own name only for messages."""
    name = PurePath(upload.filename or "upload").name[:120]
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUFFIXES:
        msg = f"'{suffix or name}' is not a format this import reads: {', '.join(SUFFIXES)}"
        raise invalid("file", msg)
    path = folder / f"upload{suffix}"
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    return path, name


def _run(
    ctx: Ctx,
    session: Any,
    layer: str,
    path: Path,
    name: str,
    upsert: bool,
    kind: str,
    radius: float,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The engine for `layer`; sites and observations audit themselves, the rest here."""
    who: dict[str, Any] = {"actor": ctx.actor, "role": ctx.principal.role, "source": name}
    area = ctx.settings.service_area
    if layer == observations.LAYER:
        done = observations.import_observations(
            session, path, service_area=area, radius=radius, **who, **options
        )
        return done.report()
    result = io.import_file(
        session, layer, path, service_area=area, upsert=upsert, kind=kind, **who, **options
    )
    if not io.IMPORTS[result.layer].audited:
        action = "import_check" if result.dry_run else "import"
        detail = {"file": name, "inserted": result.inserted, "updated": result.updated}
        audit.record(
            session,
            actor=ctx.actor,
            role=ctx.principal.role,
            action=action,
            layer=result.layer,
            detail={**detail, "refused": result.refused_rows},
        )
    return result.report()


def _refused(ctx: Ctx, layer: str, name: str, exc: ValidationFailed) -> JSONResponse:
    """422 naming each refused row, field and fault; the refusal is audited on its own."""
    table = "sleeping_sites" if layer == observations.LAYER else layer
    with db.session_scope(ctx.engine) as session:
        audit.record(
            session,
            actor=ctx.actor,
            role=ctx.principal.role,
            action="import",
            layer=table,
            outcome="refused",
            detail={"file": name, "problems": len(exc.problems)},
        )
    problems = [
        {"row": p.row, "field": p.field, "fault": p.fault, "label": p.label} for p in exc.problems
    ]
    body = {"detail": f"{len(exc.problems)} problem(s), nothing was stored", "problems": problems}
    return JSONResponse(body, status_code=422)
