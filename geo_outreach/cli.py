"""The `geo-outreach` command line."""

from __future__ import annotations

import getpass
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from geo_outreach import db
from geo_outreach.errors import GeoOutreachError
from geo_outreach.settings import Settings

app = typer.Typer(
    help="geo-outreach: records, plans and maps for homeless outreach (PostGIS).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(
    help="The database: embedded PostGIS cluster and migrations.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = "GEO_OUTREACH_" + "_".join(str(p) for p in err["loc"]).upper()
            typer.echo(f"error: {field}: {err['msg']}", err=True)
        raise typer.Exit(2) from None


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _database(settings: Settings) -> db.Database:
    database = db.resolve(settings)
    if database.embedded is None:
        _say(f"using GEO_OUTREACH_DATABASE_URL ({database.app_url.render_as_string()})")
    return database


# -- db ---------------------------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded PostGIS cluster."""
    settings = _settings()
    if settings.database_url:
        _say("GEO_OUTREACH_DATABASE_URL is set: using that server, not starting one")
        return
    cluster = db.local_cluster(settings)
    cluster.start()
    typer.echo(f"running: {cluster.data_dir} on 127.0.0.1:{cluster.state().port}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster (data stays in its directory)."""
    settings = _settings()
    if settings.database_url:
        _say("GEO_OUTREACH_DATABASE_URL is set: there is no embedded cluster to stop")
        return
    cluster = db.local_cluster(settings)
    typer.echo("stopped" if cluster.stop() else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Print PostgreSQL, PostGIS and pgRouting versions and the schema revision."""
    from geo_outreach import migrate

    settings = _settings()
    database = _database(settings)
    engine = db.make_engine(database.app_url)
    try:
        info = db.versions(engine)
    finally:
        engine.dispose()
    where = (
        f"embedded cluster {database.embedded.data_dir}, 127.0.0.1:{database.embedded.state().port}"
        if database.embedded
        else "external server"
    )
    typer.echo(f"database:   {where}")
    typer.echo(f"PostgreSQL: {info['postgresql']}")
    typer.echo(f"PostGIS:    {info['postgis']}")
    typer.echo(f"pgRouting:  {info['pgrouting']}")
    typer.echo(f"schema:     {migrate.current(database.admin_url) or 'not migrated'}")


@db_app.command("migrate")
def db_migrate(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Apply the schema migrations (up to head by default)."""
    from geo_outreach import migrate

    database = _database(_settings())
    migrate.upgrade(database.admin_url, revision)
    typer.echo(f"schema at {migrate.current(database.admin_url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. base")],
) -> None:
    """Undo migrations down to REVISION (base drops every layer table)."""
    from geo_outreach import migrate

    database = _database(_settings())
    migrate.downgrade(database.admin_url, revision)
    typer.echo(f"schema at {migrate.current(database.admin_url) or 'base'}")


# -- data -------------------------------------------------------------------------------------


@app.command("demo")
def demo_cmd(
    data_dir: Annotated[
        Path | None, typer.Option(help="shared data folder (default GEO_OUTREACH_DATA_DIR)")
    ] = None,
) -> None:
    """Load the Gdańsk–Sopot demo (idempotent: a second run adds nothing)."""
    from geo_outreach import demo, migrate

    settings = _settings()
    database = _database(settings)
    migrate.upgrade(database.admin_url)
    engine = db.make_engine(database.app_url)
    try:
        with db.session_scope(engine) as session:
            summary = demo.load(
                session,
                data_dir=data_dir or settings.data_dir,
                seed=settings.demo_seed,
                year=settings.demo_year,
                log=_say,
            )
    finally:
        engine.dispose()
    typer.echo(demo.describe(summary))


@app.command("import")
def import_cmd(
    layer: Annotated[str, typer.Argument(help="areas | sleeping_sites | facilities")],
    file: Annotated[Path, typer.Argument(help="GeoJSON, CSV (lon/lat), Shapefile or GeoPackage")],
    crs: Annotated[
        str | None,
        typer.Option(help="CRS of the file when it has none or is wrong, e.g. EPSG:2180"),
    ] = None,
    kind: Annotated[str, typer.Option(help="areas only: district | city | area")] = "district",
    upsert: Annotated[bool, typer.Option(help="update rows whose key already exists")] = False,
) -> None:
    """Validate every row, then import all of them in one transaction, or none."""
    from geo_outreach import io

    settings = _settings()
    database = _database(settings)
    engine = db.make_engine(database.app_url)
    try:
        with db.session_scope(engine) as session:
            result = io.import_file(
                session,
                layer,
                file,
                actor=_actor(),
                service_area=settings.service_area,
                crs=crs,
                kind=kind,
                upsert=upsert,
            )
    finally:
        engine.dispose()
    if result.ignored_columns:
        _say(f"columns not used: {', '.join(result.ignored_columns)}")
    typer.echo(
        f"{result.layer}: {result.inserted} added, {result.updated} updated from {file.name}"
        + (
            f"; bounds lon {result.bounds[0]:.4f}–{result.bounds[2]:.4f}, "
            f"lat {result.bounds[1]:.4f}–{result.bounds[3]:.4f}"
            if result.bounds
            else ""
        )
    )


@app.command("export")
def export_cmd(
    layer: Annotated[str, typer.Argument(help="a layer name, e.g. sleeping_sites")],
    fmt: Annotated[str, typer.Option("--format", help="geojson | gpkg | csv")] = "geojson",
    out: Annotated[Path, typer.Option(help="file to write")] = Path("export.geojson"),
    include_sensitive: Annotated[
        bool, typer.Option(help="visits: include notes (audited)")
    ] = False,
) -> None:
    """Write one layer to an open format (audited for sites, visits and patrols)."""
    from geo_outreach import io

    database = _database(_settings())
    engine = db.make_engine(database.app_url)
    try:
        with db.session_scope(engine) as session:
            n = io.export_layer(
                session, layer, out, fmt=fmt, actor=_actor(), include_sensitive=include_sensitive
            )
    finally:
        engine.dispose()
    typer.echo(f"{n} features written to {out}")


@app.command("up")
def up_cmd() -> None:
    """The main job: start PostGIS, migrate, load the demo and say what is there."""
    from geo_outreach import demo, io, migrate

    settings = _settings()
    started = time.monotonic()
    _say("[1/3] database …")
    database = _database(settings)
    _say("[2/3] schema migrations …")
    migrate.upgrade(database.admin_url)
    _say("[3/3] demo data for the Gdańsk–Sopot corridor …")
    engine = db.make_engine(database.app_url)
    try:
        with db.session_scope(engine) as session:
            summary = demo.load(
                session,
                data_dir=settings.data_dir,
                seed=settings.demo_seed,
                year=settings.demo_year,
                log=_say,
            )
        with db.session_scope(engine) as session:
            counts = io.count_rows(session)
        info = db.versions(engine)
    finally:
        engine.dispose()
    typer.echo(demo.describe(summary))
    typer.echo(
        f"\nPostgreSQL {info['postgresql']}, PostGIS {info['postgis']}, "
        f"pgRouting {info['pgrouting']}"
    )
    typer.echo("rows now: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    typer.echo(f"done in {time.monotonic() - started:.1f} s")


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Run the HTTP API (FastAPI) on HOST:PORT."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(_settings()), host=host, port=port)


def main() -> None:
    try:
        app()
    except GeoOutreachError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
