"""The `geo-outreach` command line."""

from __future__ import annotations

import getpass
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geo_outreach.core import db
from geo_outreach.core.errors import REQUEST, GeoOutreachError, ValidationFailed
from geo_outreach.core.pgserver import LocalPostgres
from geo_outreach.core.settings import Settings
from geo_outreach.core.vocab import OSM_ATTRIBUTION

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


ROLE = "cli"  # the audit role of whatever is done at the command line

# The domain names the field at fault; the command line says which option that is.
OPTIONS = {
    "mode": "--mode",
    "teams": "--teams",
    "temperature": "--temperature",
    "district": "--district",
    "depot": "--depot",
    "seconds": "--seconds",
    "layer": "LAYER",
    "crs": "--crs",
    "upsert": "--upsert",
    "map": "--map",
    "set": "--set",
    "radius": "--radius",
    "kind": "--kind",
    "format": "--format",
    "year": "--year",
    "compare": "--compare",
    "lang": "--lang",
    "night": "--date",
    "reason": "--reason",
    "forecast": "--forecast",
    "out": "--out",
}


def _problems(exc: ValidationFailed) -> str:
    """A refused request as the options the user typed; a file's rows as they are."""
    if exc.source != REQUEST:
        return str(exc)
    return "\n".join(f"{OPTIONS.get(p.field, p.field)}: {p.fault}" for p in exc.problems)


@contextmanager
def _session(database: db.Database) -> Iterator[Session]:
    """One transaction as the app role, committed when the block ends normally."""
    engine = db.make_engine(database.app_url)
    try:
        with db.session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


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
    if settings.wal_archive:  # issue 16: point-in-time recovery
        from geo_outreach.ops import pitr

        pitr.enable(cluster, settings.archive_dir, key=_backup_key(settings))
        typer.echo(f"WAL archived, encrypted, into {pitr.wal_dir(settings.archive_dir)}")
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
    from geo_outreach.core import migrate

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
    from geo_outreach.core import migrate

    database = _database(_settings())
    migrate.upgrade(database.admin_url, revision)
    typer.echo(f"schema at {migrate.current(database.admin_url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. base")],
) -> None:
    """Undo migrations down to REVISION (base drops every layer table)."""
    from geo_outreach.core import migrate

    database = _database(_settings())
    migrate.downgrade(database.admin_url, revision)
    typer.echo(f"schema at {migrate.current(database.admin_url) or 'base'}")


def _backup_key(settings: Settings) -> str | None:
    return settings.backup_key.get_secret_value() if settings.backup_key else None


@db_app.command("backup")
def db_backup(
    out: Annotated[
        Path | None,
        typer.Option(help="file to write, or a folder (default GEO_OUTREACH_BACKUP_DIR)"),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            min=1, help="keep the newest N backups there (default GEO_OUTREACH_BACKUP_KEEP)"
        ),
    ] = None,
) -> None:
    """Back up the whole database, encrypted with GEO_OUTREACH_BACKUP_KEY (issue 16)."""
    from geo_outreach.ops import backup

    settings = _settings()
    backup.check_key(_backup_key(settings))  # refused before the database is even started
    if out is None:
        out = settings.backups
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = _database(settings)
    result = backup.create_backup(
        database.admin_url,
        key=_backup_key(settings),
        out=out,
        keep=keep or settings.backup_keep,
        bin_dir=settings.pg_bin_dir,
        actor=_actor(),
        log=_say,
    )
    rows = sum(t.rows for t in result.manifest.tables.values())
    typer.echo(
        f"backup written to {result.path} ({result.file_bytes} bytes, mode 0600): "
        f"{len(result.manifest.tables)} tables, {rows} rows, schema "
        f"{result.manifest.schema_revision}, PostgreSQL {result.manifest.server_version}"
    )
    for path in result.removed:
        typer.echo(f"removed {path}")


def _embedded_archive(settings: Settings) -> LocalPostgres:
    """The embedded cluster, started, with WAL archiving on (point-in-time recovery)."""
    if settings.database_url:
        _say("GEO_OUTREACH_DATABASE_URL is set: use that server's own base backups and WAL")
        raise typer.Exit(2)
    if not settings.wal_archive:
        _say("set GEO_OUTREACH_WAL_ARCHIVE=true (then 'geo-outreach db start') first")
        raise typer.Exit(2)
    from geo_outreach.ops import backup, pitr

    backup.check_key(_backup_key(settings))  # refused before the cluster is even started
    cluster = db.local_cluster(settings)
    cluster.start()
    pitr.enable(cluster, settings.archive_dir, key=_backup_key(settings))
    return cluster


@db_app.command("basebackup")
def db_basebackup(
    keep: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="keep the newest N base backups and the WAL they need "
            "(default GEO_OUTREACH_BASEBACKUP_KEEP)",
        ),
    ] = None,
) -> None:
    """An encrypted base backup of the embedded cluster for point-in-time recovery (issue 16);
    older ones beyond --keep and the archived WAL only they needed are deleted."""
    from geo_outreach.ops import pitr

    settings = _settings()
    cluster = _embedded_archive(settings)
    done = pitr.take_base_backup(
        cluster,
        settings.archive_dir,
        key=_backup_key(settings),
        keep=keep or settings.basebackup_keep,
        log=_say,
    )
    typer.echo(
        f"base backup in {done.folder / pitr.BASE_FILE} ({done.file_bytes} bytes, encrypted, "
        f"mode 0600); {len(done.removed)} older base backups and WAL segments removed"
    )


def _restore_to_time(settings: Settings, when: str, *, discard_previous: bool) -> None:
    from geo_outreach.ops import pitr, retention

    try:
        target = datetime.fromisoformat(when)
    except ValueError:
        _say(f"error: --to-time: '{when}' is not an ISO time, e.g. 2026-01-31T22:00:00+01:00")
        raise typer.Exit(2) from None
    cluster = _embedded_archive(settings)
    policy = retention.RetentionPolicy(
        note_months=settings.retention_note_months,
        login_days=settings.retention_login_days,
        idempotency_days=settings.retention_idempotency_days,
        audit_years=settings.retention_audit_years,
        alert_days=settings.alert_keep_days,
    )
    done = pitr.restore_to_time(
        cluster,
        settings.archive_dir,
        target=target,
        key=_backup_key(settings),
        redo=pitr.Redo(policy=policy, service_area=settings.service_area),
        actor=_actor(),
        log=_say,
    )
    typer.echo(f"restored to {done.target.isoformat()} from base backup {done.base.name}")
    if done.retention is not None:
        typer.echo(
            f"redacted again: {done.redactions} notes/site texts redacted after that time; "
            f"retention run: {done.retention.notes_redacted} visit notes older than "
            f"{policy.note_months} months redacted"
        )
    if discard_previous:
        pitr.remove_kept(done)
        typer.echo(f"the cluster as it was before the restore ({done.kept}) was deleted")
    else:
        typer.echo(
            f"the cluster as it was before the restore is kept in {done.kept}: it holds "
            "UNREDACTED data; delete it once you have checked (or restore with "
            "--discard-previous)"
        )


@db_app.command("restore")
def db_restore(
    file: Annotated[
        Path | None, typer.Argument(help="a backup written by 'geo-outreach db backup'")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="drop and replace a database that is not empty")
    ] = False,
    to_time: Annotated[
        str | None,
        typer.Option(help="instead: the embedded cluster as it was then (WAL archive, issue 16)"),
    ] = None,
    discard_previous: Annotated[
        bool,
        typer.Option(help="with --to-time: delete the cluster as it was before (unredacted)"),
    ] = False,
) -> None:
    """Restore a backup into an empty database (refuses a non-empty one unless --force), or
    with --to-time the whole embedded cluster to a moment (point-in-time recovery)."""
    from geo_outreach.ops import backup

    settings = _settings()
    if to_time is not None and file is None:
        _restore_to_time(settings, to_time, discard_previous=discard_previous)
        return
    if file is None or to_time is not None:
        _say("error: give either a backup FILE or --to-time")
        raise typer.Exit(2)
    database = _database(settings)
    result = backup.restore_backup(
        file,
        database.admin_url,
        key=_backup_key(settings),
        force=force,
        bin_dir=settings.pg_bin_dir,
        actor=_actor(),
        log=_say,
    )
    rows = sum(t.rows for t in result.manifest.tables.values())
    typer.echo(
        f"restored {file} into {result.database}"
        + (" (replaced)" if result.replaced else "")
        + f": {len(result.manifest.tables)} tables, {rows} rows, row counts and checksums "
        f"match the manifest; backup made {result.manifest.created_at}"
    )


@db_app.command("standby")
def db_standby(
    folder: Annotated[Path, typer.Argument(help="a new, empty folder for the replica's data")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port")] = 0,
) -> None:
    """Make and start a streaming replica of the embedded cluster (issue 16) for reads; given
    the folder of one made before, start it again."""
    settings = _settings()
    if settings.database_url:
        _say("GEO_OUTREACH_DATABASE_URL is set: make the replica with that server's tools")
        raise typer.Exit(2)
    cluster = db.local_cluster(settings)
    cluster.start()
    if (folder / "standby.signal").exists():
        standby = LocalPostgres(
            folder, os_user=settings.pg_os_user, bin_dir=settings.pg_bin_dir, log=_say
        )
        standby.start()
    else:
        standby = cluster.make_standby(folder, port=port)
    url = standby.url().render_as_string(hide_password=True)
    typer.echo(f"standby running: {standby.data_dir} on 127.0.0.1:{standby.state().port}")
    typer.echo(f"serve with GEO_OUTREACH_READ_DATABASE_URL={url} (password: its state file)")


# -- data -------------------------------------------------------------------------------------


@app.command("demo")
def demo_cmd(
    data_dir: Annotated[
        Path | None, typer.Option(help="shared data folder (default GEO_OUTREACH_DATA_DIR)")
    ] = None,
) -> None:
    """Load the Gdańsk–Sopot demo (idempotent: a second run adds nothing)."""
    from geo_outreach.core import migrate
    from geo_outreach.demo import load as demo

    settings = _settings()
    database = _database(settings)
    migrate.upgrade(database.admin_url)
    with _session(database) as session:
        summary = demo.load(
            session,
            data_dir=data_dir or settings.data_dir,
            seed=settings.demo_seed,
            year=settings.demo_year,
            log=_say,
        )
    typer.echo(demo.describe(summary))


@app.command("import")
def import_cmd(
    layer: Annotated[
        str, typer.Argument(help="areas | sleeping_sites | facilities | observations")
    ],
    file: Annotated[
        Path, typer.Argument(help="GeoJSON, CSV, XLSX, KML/KMZ, GPX, Shapefile or GeoPackage")
    ],
    crs: Annotated[
        str | None,
        typer.Option(help="CRS of the file when it has none or is wrong, e.g. EPSG:2180"),
    ] = None,
    kind: Annotated[str, typer.Option(help="areas only: district | city | area")] = "district",
    upsert: Annotated[bool, typer.Option(help="update rows whose key already exists")] = False,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=FIELD: read a column as a field (repeatable)"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=VALUE: a value for empty or missing cells (repeatable)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="check everything and say what would be written; write nothing")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option(help="write the good rows; the refused ones go to --refused")
    ] = False,
    refused: Annotated[
        Path | None,
        typer.Option(help="where --skip-invalid writes refused rows [default: FILE.refused.csv]"),
    ] = None,
    radius: Annotated[
        float, typer.Option(help="observations: metres within which they are one site")
    ] = 50.0,
) -> None:
    """Validate every row, then import all of them in one transaction, or none.

    `observations` (date, count, position) become sites and dated visits of them.
    """
    from geo_outreach.io import columns, observations
    from geo_outreach.io import files as io

    settings = _settings()
    mapping = columns.pairs(map_ or [], field="map")
    defaults = columns.pairs(set_ or [], field="set")
    refused_to = refused or file.with_name(f"{file.stem}.refused.csv")
    database = _database(settings)
    # The options both import engines share (observations add a radius, layers kind and upsert).
    common: dict[str, Any] = {
        "actor": _actor(),
        "role": ROLE,
        "service_area": settings.service_area,
        "crs": crs,
        "mapping": mapping,
        "defaults": defaults,
        "dry_run": dry_run,
        "skip_invalid": skip_invalid,
        "refused_to": refused_to,
    }
    with _session(database) as session:
        if layer == observations.LAYER:
            done = observations.import_observations(session, file, radius=radius, **common)
        else:
            result = io.import_file(session, layer, file, kind=kind, upsert=upsert, **common)
    report: io.ImportResult | observations.ObservationsResult = (
        done if layer == observations.LAYER else result
    )
    if report.mapped_columns:
        mapped = ", ".join(f"{c} → {f}" for c, f in report.mapped_columns.items())
        _say(f"columns used: {mapped}")
    if report.ignored_columns:
        _say(f"columns not used: {', '.join(report.ignored_columns)}")
    for problem in report.refused:
        _say(f"refused: {problem}")
    if report.refused_file:
        _say(f"{report.refused_rows} refused row(s) written to {report.refused_file}")
    prefix = "dry run, nothing written: would be " if dry_run else ""
    if layer == observations.LAYER:
        typer.echo(
            f"{prefix}observations: {done.observations} from {file.name}: "
            f"{done.sites_created} sites created, {done.sites_matched} sites matched, "
            f"{done.visits_written} visits written ({done.visits_present} already there)"
        )
        return
    typer.echo(
        f"{prefix}{result.layer}: {result.inserted} added, {result.updated} updated "
        f"from {file.name}"
        + (f" ({result.codes_made} codes made)" if result.codes_made else "")
        + (
            f"; bounds lon {result.bounds[0]:.4f}–{result.bounds[2]:.4f}, "
            f"lat {result.bounds[1]:.4f}–{result.bounds[3]:.4f}"
            if result.bounds and result.layer != "sleeping_sites"  # never print where people sleep
            else ""
        )
    )


@app.command("export")
def export_cmd(
    layer: Annotated[str, typer.Argument(help="a layer name, e.g. sleeping_sites")],
    fmt: Annotated[str, typer.Option("--format", help="geojson | gpkg | csv | gpx")] = "geojson",
    out: Annotated[Path, typer.Option(help="file to write")] = Path("export.geojson"),
    include_sensitive: Annotated[
        bool, typer.Option(help="visits: include notes (audited)")
    ] = False,
) -> None:
    """Write one layer to an open format (audited for sites, visits and patrols)."""
    from geo_outreach.io import exports

    database = _database(_settings())
    with _session(database) as session:
        n = exports.export_layer(
            session,
            layer,
            out,
            fmt=fmt,
            actor=_actor(),
            role=ROLE,
            include_sensitive=include_sensitive,
        )
    typer.echo(f"{n} features written to {out}")


@app.command("up")
def up_cmd(
    out: Annotated[Path, typer.Option(help="folder for the plan, maps and reports")] = Path("out"),
) -> None:
    """The main job: start PostGIS, migrate, load the demo, write tonight's plan and the maps.

    Run it again and no row changes: outputs are files, the plan is not stored as patrols.
    """
    from geo_outreach.core import migrate
    from geo_outreach.demo import load as demo
    from geo_outreach.io import files as io

    settings = _settings()
    started = time.monotonic()
    _say("[1/4] database …")
    database = _database(settings)
    _say("[2/4] schema migrations …")
    migrate.upgrade(database.admin_url)
    _say("[3/4] demo data for the Gdańsk–Sopot corridor …")
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
        _say("[4/4] outputs …")
        written = [
            *_up_plan_and_maps(settings, engine, out),
            _up_report(settings, engine, out / "report"),
        ]
        with db.session_scope(engine) as session:
            counts = io.count_rows(session)
        info = db.versions(engine)
    finally:
        engine.dispose()
    typer.echo(demo.describe(summary))
    for line in written:
        typer.echo(line)
    typer.echo(
        f"\nPostgreSQL {info['postgresql']}, PostGIS {info['postgis']}, "
        f"pgRouting {info['pgrouting']}"
    )
    typer.echo("rows now: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    typer.echo(f"done in {time.monotonic() - started:.1f} s")
    typer.echo(
        "next: open out/maps/public.html; for the field app at http://127.0.0.1:8000/app/ add an "
        "account (geo-outreach user add NAME --role streetworker --password-stdin) and run "
        "geo-outreach serve"
    )


def _up_report(settings: Settings, engine: Engine, out: Path) -> str:
    """The demo year's indicator report, as the programme reports it."""
    from geo_outreach.reports import render as report_render
    from geo_outreach.reports import tables as reports

    with db.session_scope(engine) as session:
        data = reports.collect(
            session,
            year=settings.demo_year,
            compare=0,
            actor=_actor(),
            role=ROLE,
            timezone=settings.timezone,
        )
    files = report_render.write_report(data, out, lang="pl")
    return f"report {settings.demo_year}: {out / files.html.name}"


def _up_plan_and_maps(settings: Settings, engine: Engine, out: Path) -> list[str]:
    """Tonight's demo plan (Akcja Zima at −12 °C, three teams) and the three maps."""
    from datetime import datetime

    from geo_outreach.mapping.render import KINDS, write_maps
    from geo_outreach.routing import exports as plan_export
    from geo_outreach.routing import planner

    with db.session_scope(engine) as session:
        plan = planner.plan_tonight(
            session,
            settings,
            actor=_actor(),
            role=ROLE,
            progress=lambda line: _say(f"  {line}"),
        )
        _say("  maps (street tiles are drawn once per extract) …")
        written = write_maps(
            session,
            kinds=KINDS,
            out_dir=out / "maps",
            osm=settings.pbf,
            cache_dir=settings.cache_dir,
            now=datetime.now(planner.TZ),
            actor=_actor(),
            plan=plan,
        )
    plan_export.write_plan(plan, out / "plan")
    pages = ", ".join(str(p) for p in written.pages.values())
    return [
        planner.describe(plan) + f"\n  (demo at −12 °C) written to {out / 'plan'}/",
        f"maps: {pages}",
    ]


# `serve`: access lines (JSON, one per request, from the app) to stdout; everything else to
# stderr. A dictConfig, because uvicorn applies it in every worker process it starts.
SERVE_LOGGING: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
        "json": {"format": "%(message)s"},
    },
    "handlers": {
        "plain": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "geo_outreach.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["plain"], "level": "INFO"},
}


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes (a dead one is replaced)")
    ] = 1,
    graceful_seconds: Annotated[
        int, typer.Option(min=1, help="on SIGTERM, how long requests in flight may still take")
    ] = 30,
) -> None:
    """Run the HTTP API (FastAPI) on HOST:PORT; SIGTERM finishes the requests in flight."""
    import uvicorn

    _settings()  # refuse bad settings here, with the variable's name, before uvicorn starts
    # No uvicorn access log: its query strings (bbox) would put coordinates in the log; the app
    # logs method, route template, status and time instead. The app is named, not imported:
    # the CLI and the API are both top-level packages and neither imports the other.
    # proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from loopback; the app
    # decides that itself (GEO_OUTREACH_TRUSTED_PROXIES).
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=SERVE_LOGGING,
        timeout_graceful_shutdown=graceful_seconds,
        access_log=False,
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn": it tells a scanner what to try (issue 10)
    )


# -- route planner ----------------------------------------------------------------------------


def _hhmm(value: str, option: str) -> dt_time:
    try:
        return dt_time.fromisoformat(value)
    except ValueError:
        msg = f"{option} '{value}' is not a time like 20:00"
        raise GeoOutreachError(msg) from None


def _lonlat(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lon, lat = (float(v) for v in value.split(","))
    except ValueError:
        msg = f"--depot '{value}' is not LON,LAT (e.g. 18.6402,54.3598)"
        raise GeoOutreachError(msg) from None
    return lon, lat


@app.command("plan")
def plan_cmd(
    mode: Annotated[
        str, typer.Option(help="streetwork | joint | akcja-zima | inspection | sos-bus")
    ],
    out: Annotated[Path, typer.Option(help="folder for plan.geojson, GPX files and trasa.html")],
    teams: Annotated[int, typer.Option(help="number of teams")] = 2,
    start: Annotated[str, typer.Option(help="shift start HH:MM")] = "20:00",
    end: Annotated[
        str, typer.Option(help="shift end HH:MM (earlier than start: next day)")
    ] = "23:00",
    day: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default: today in Poland)")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="°C; akcja-zima needs ≤ −10")] = None,
    district: Annotated[str | None, typer.Option(help="inspection: the district")] = None,
    depot: Annotated[str | None, typer.Option(help="LON,LAT where teams start and end")] = None,
    seconds: Annotated[float, typer.Option(help="solver time budget")] = 2.0,
    seed: Annotated[int, typer.Option(help="solver seed")] = 1,
    iterations: Annotated[
        int | None, typer.Option(help="fixed solver iterations (reproducible on any machine)")
    ] = None,
    store: Annotated[bool, typer.Option(help="keep the routes as planned patrols")] = True,
) -> None:
    """Plan routes for several teams over the real street network and write them for the teams."""
    from datetime import date, datetime

    from geo_outreach.routing import bus as sosbus
    from geo_outreach.routing import exports as plan_export
    from geo_outreach.routing import planner

    settings = _settings()
    try:
        when = date.fromisoformat(day) if day else datetime.now(planner.TZ).date()
    except ValueError:
        msg = f"--date '{day}' is not a date like 2026-11-23"
        raise GeoOutreachError(msg) from None
    req = planner.PlanRequest(
        mode=mode,  # type: ignore[arg-type]  # validated by planner.validate
        teams=teams,
        start=_hhmm(start, "--start"),
        end=_hhmm(end, "--end"),
        day=when,
        temperature=temperature,
        district=district,
        seconds=seconds,
        seed=seed,
        iterations=iterations,
        depot=_lonlat(depot),
    )
    planner.validate(req)
    pbf, cache = settings.pbf, settings.cache_dir
    with _session(_database(settings)) as session:
        if mode == "sos-bus":
            report = sosbus.coverage(
                session, pbf=pbf, cache_dir=cache, actor=_actor(), role=ROLE, progress=_say
            )
            paths = sosbus.write_coverage(report, out)
            typer.echo(sosbus.describe(report))
        else:
            plan = planner.make_plan(
                session, req, pbf=pbf, cache_dir=cache, actor=_actor(), role=ROLE, progress=_say
            )
            if store:
                planner.store_plan(session, plan, actor=_actor(), role=ROLE)
            paths = plan_export.write_plan(plan, out)
            typer.echo(planner.describe(plan))
    typer.echo("written: " + ", ".join(str(p) for p in paths))


# -- reports (issue 6: yearly indicator tables, count night) ----------------------------------


@app.command("report")
def report_cmd(
    year: Annotated[int, typer.Option("--year", help="the report year, e.g. 2025")],
    out: Annotated[Path, typer.Option("--out", help="folder for report.html/.md, CSV, PNG")],
    compare: Annotated[
        int, typer.Option("--compare", help="also show the N previous years as columns")
    ] = 0,
    lang: Annotated[str, typer.Option("--lang", help="pl | en | uk")] = "pl",
) -> None:
    """The programme's yearly indicator tables from the logs (HTML, Markdown, CSV, charts)."""
    from geo_outreach.reports import render as report_render
    from geo_outreach.reports import tables as reports

    code = reports.validate(year=year, compare=compare, lang=lang)
    if out.exists() and not out.is_dir():
        msg = f"--out: {out} is a file; give a folder"
        raise reports.ReportInputError(msg)
    settings = _settings()
    database = _database(settings)
    with _session(database) as session:
        data = reports.collect(
            session,
            year=year,
            compare=compare,
            actor=_actor(),
            role=ROLE,
            timezone=settings.timezone,
        )
    files = report_render.write_report(data, out, lang=code)
    typer.echo(
        f"report {year} written to {out}: {files.html.name}, {files.markdown.name}, "
        f"{len(files.csv)} CSV tables, {len(files.charts)} charts"
    )


@app.command("count-night")
def count_night_cmd(
    night: Annotated[
        str, typer.Option("--date", help="the evening the count night starts, YYYY-MM-DD")
    ],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    lang: Annotated[str, typer.Option("--lang", help="labels: pl | en | uk")] = "pl",
    public: Annotated[
        bool, typer.Option("--public", help="for partners: hide counts 1–9 (and what reveals them)")
    ] = False,
) -> None:
    """Sites with people and people per place category of the national count, for one night."""
    from geo_outreach.reports import render as report_render
    from geo_outreach.reports import tables as reports

    day = reports.parse_night(night)
    code = reports.validate(year=day.year, compare=0, lang=lang)
    if out.is_dir():
        msg = f"--out: {out} is a folder; give a CSV file name"
        raise reports.ReportInputError(msg)
    settings = _settings()
    database = _database(settings)
    with _session(database) as session:
        result = reports.count_night(
            session, night=day, actor=_actor(), role=ROLE, timezone=settings.timezone
        )
    report_render.write_count_night(result, out, lang=code, public=public)
    total = result.total
    typer.echo(
        f"count night {result.start:%Y-%m-%d %H:%M} – {result.end:%Y-%m-%d %H:%M}: "
        f"{total.people} people at {total.sites_with_people} sites "
        f"({total.people_from_visits} met on visits at {total.sites_visited} sites visited, "
        f"{total.people_from_estimates} estimated at {total.sites_estimated} active sites "
        f"not visited) → {out}" + (" (small counts suppressed)" if public else "")
    )


# -- api: accounts ---------------------------------------------------------------------------

user_app = typer.Typer(help="Named accounts for the HTTP API.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="account name: a-z, 0-9, '.', '_', '-'")],
    role: Annotated[
        str, typer.Option(help="streetworker | coordinator | partner | ngo | admin")
    ] = "streetworker",
    agency: Annotated[
        str | None, typer.Option(help="partner's agency, e.g. straz_miejska or policja")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="read the password from standard input (no prompt)")
    ] = False,
) -> None:
    """Add a named account (the password is stored only as an argon2 hash)."""
    from geo_outreach.accounts import users as auth
    from geo_outreach.core import migrate

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    database = _database(_settings())
    migrate.upgrade(database.admin_url)
    with _session(database) as session:
        user = auth.add_user(
            session, name=name, role=role, password=password, actor=_actor(), agency=agency
        )
        role_name = user.role
    typer.echo(f"account '{name}' added with role {role_name}")


@user_app.command("assign")
def user_assign(
    name: Annotated[str, typer.Argument(help="account name")],
    patrol: Annotated[str, typer.Argument(help="patrol code")],
) -> None:
    """Put an account on a patrol (a partner sees a joint patrol's sites only then)."""
    from geo_outreach.accounts import users as auth

    database = _database(_settings())
    with _session(database) as session:
        auth.assign_patrol(session, name=name, patrol_code=patrol, actor=_actor())
    typer.echo(f"account '{name}' assigned to patrol {patrol}")


@user_app.command("revoke")
def user_revoke(name: Annotated[str, typer.Argument(help="account name")]) -> None:
    """The lost-phone button: end every browser session and API token of an account."""
    from geo_outreach.accounts import sessions

    database = _database(_settings())
    with _session(database) as session:
        ended = sessions.revoke_user(session, name=name)
    typer.echo(f"account '{name}': {ended} session(s) and token(s) ended")


# -- retention and redaction (issue 16) -------------------------------------------------------

retention_app = typer.Typer(
    help="Retention: old notes redacted, old records deleted.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")
redact_app = typer.Typer(
    help="Redact one visit's note or one site's free text now.", no_args_is_help=True
)
app.add_typer(redact_app, name="redact")


@retention_app.command("run")
def retention_run() -> None:
    """Apply the retention settings (GEO_OUTREACH_RETENTION_*) once; one audit row per run."""
    from geo_outreach.ops import retention

    settings = _settings()
    database = _database(settings)
    policy = retention.RetentionPolicy(
        note_months=settings.retention_note_months,
        login_days=settings.retention_login_days,
        idempotency_days=settings.retention_idempotency_days,
        audit_years=settings.retention_audit_years,
        alert_days=settings.alert_keep_days,
    )
    # The schema owner: the app role may not delete login attempts, tokens or audit rows.
    engine = db.make_engine(database.admin_url)
    try:
        with db.session_scope(engine) as session:
            result = retention.run(session, policy, actor=_actor(), role=ROLE)
    finally:
        engine.dispose()
    typer.echo(
        f"retention: {result.notes_redacted} visit notes older than {policy.note_months} months "
        f"redacted; deleted {result.login_attempts_deleted} login attempts, "
        f"{result.idempotency_keys_deleted} idempotency keys, {result.tokens_deleted} ended "
        f"tokens/sessions, {result.audit_rows_deleted} audit rows older than "
        f"{policy.audit_years} years"
    )


def _object_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        msg = f"ID: {value!r} is not a UUID"
        raise GeoOutreachError(msg) from None


@redact_app.command("visit")
def redact_visit_cmd(
    visit_id: Annotated[str, typer.Argument(metavar="ID", help="the visit's id")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit log)")],
) -> None:
    """Replace one visit's note by a marker; the visit and its counts stay (audited)."""
    from geo_outreach.ops import retention

    database = _database(_settings())
    with _session(database) as session:
        changed = retention.redact_visit(
            session, _object_id(visit_id), reason=reason, actor=_actor(), role=ROLE
        )
    typer.echo(f"visit {visit_id}: " + ("note redacted" if changed else "had no note to redact"))


@redact_app.command("site")
def redact_site_cmd(
    site_id: Annotated[str, typer.Argument(metavar="ID", help="the site's id")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit log)")],
) -> None:
    """Replace one site's free text (access notes) by a marker; the site stays (audited)."""
    from geo_outreach.ops import retention

    settings = _settings()
    database = _database(settings)
    with _session(database) as session:
        changed = retention.redact_site(
            session,
            _object_id(site_id),
            reason=reason,
            actor=_actor(),
            role=ROLE,
            service_area=settings.service_area,
        )
    typer.echo(f"site {site_id}: " + ("free text redacted" if changed else "had no text to redact"))


# -- maps (issue 4: live, planner and public maps, offline) -----------------------------------


def _map_time(value: str | None, settings: Settings) -> datetime:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(settings.timezone)
    if value is None:
        return datetime.now(tz)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        msg = f"--at: {value!r} is not an ISO date-time like 2025-12-15T21:30"
        raise GeoOutreachError(msg) from None
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


@app.command("map")
def map_cmd(
    kind: Annotated[str, typer.Argument(help="live | planner | public | all")],
    out: Annotated[Path, typer.Option(help="folder for the HTML, assets/ and tiles/")] = Path(
        "out/maps"
    ),
    osm: Annotated[
        Path | None,
        typer.Option(help=".osm.pbf for the street tiles (default: the shared Gdańsk extract)"),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="tile cache (default: .geo-outreach/cache)")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="the moment shown (open now, next bus), ISO; default now")
    ] = None,
) -> None:
    """Write offline maps: live (streetworkers), planner (tonight's plan), public (campaign)."""
    from geo_outreach.mapping.render import KINDS, write_maps

    settings = _settings()
    if kind != "all" and kind not in KINDS:
        msg = f"map: KIND must be one of {', '.join(KINDS)}, all; got {kind!r}"
        raise GeoOutreachError(msg)
    now = _map_time(at, settings)
    osm_file = osm or settings.pbf
    cache_dir = cache or settings.cache_dir
    database = _database(settings)
    with _session(database) as session:
        kinds: tuple[str, ...] = KINDS if kind == "all" else (kind,)
        plan = None
        if "planner" in kinds:
            from geo_outreach.routing import planner

            plan = planner.plan_tonight(session, settings, actor=_actor(), role=ROLE, progress=_say)
        written = write_maps(
            session,
            kinds=kinds,
            out_dir=out,
            osm=osm_file,
            cache_dir=cache_dir,
            now=now,
            actor=_actor(),
            plan=plan,
        )
    for name, path in written.pages.items():
        typer.echo(f"{name}: {path}")
    if written.tiles is not None:
        typer.echo(
            f"street tiles: {written.tiles.tiles} (zoom {written.tiles.min_zoom}-"
            f"{written.tiles.max_zoom}) in {out / 'tiles'}; {OSM_ATTRIBUTION}"
        )


@user_app.command("email")
def user_email(
    name: Annotated[str, typer.Argument(help="account name")],
    address: Annotated[
        str | None, typer.Argument(help="e-mail address; leave out to remove it")
    ] = None,
) -> None:
    """Where an account (a coordinator) is told of a cold night by e-mail."""
    from geo_outreach.accounts import users as auth

    with _session(_database(_settings())) as session:
        auth.set_email(session, name=name, email=address)
    typer.echo(f"account '{name}': e-mail {'set' if address else 'removed'}")


# -- cold nights (issue 14) -------------------------------------------------------------------

winter_app = typer.Typer(help="Cold nights: the forecast decides Akcja Zima.", no_args_is_help=True)
app.add_typer(winter_app, name="winter")


@winter_app.command("check")
def winter_check(
    forecast: Annotated[
        str | None,
        typer.Option(help="Open-Meteo JSON: a file or an http(s) URL (GEO_OUTREACH_FORECAST_URL)"),
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", help="the night's date YYYY-MM-DD (default: today)")
    ] = None,
) -> None:
    """Decide tonight from the forecast; on a cold night record it once with tonight's list and
    a proposed plan, and tell the coordinators. Exit 0: no action; 3: cold; 4: Akcja Zima."""
    from geo_outreach.winter import forecast as fc
    from geo_outreach.winter import night

    settings = _settings()
    source = forecast or settings.forecast_url
    if not source:
        msg = "--forecast: give a file or URL, or set GEO_OUTREACH_FORECAST_URL"
        raise GeoOutreachError(msg)
    when = _night_date(day, settings)
    data = fc.load(source, timeout=settings.forecast_timeout_seconds)
    engine = db.make_engine(_database(settings).app_url)
    try:
        outcome = night.run_check(
            engine, settings, forecast=data, day=when, actor=_actor(), progress=_say
        )
    finally:
        engine.dispose()
    typer.echo("\n".join(outcome.lines()))
    raise typer.Exit(outcome.exit_code)


def _night_date(value: str | None, settings: Settings) -> date:
    from zoneinfo import ZoneInfo

    if value is None:
        return datetime.now(ZoneInfo(settings.timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        msg = f"--date '{value}' is not a date like 2026-01-15"
        raise GeoOutreachError(msg) from None


def main() -> None:
    try:
        app()
    except ValidationFailed as exc:
        typer.echo(f"error: {_problems(exc)}", err=True)
        sys.exit(1)
    except GeoOutreachError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
