"""Issue 9: the domain names fields, not CLI flags; each rule is written once and every path
uses it (live statuses, the partner-on-a-joint-patrol rule, one export engine)."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import gpxpy
import pyogrio
import pytest
from sqlalchemy import URL, text
from sqlalchemy.orm import Session

from geo_outreach.accounts import users as auth
from geo_outreach.core import db, policy
from geo_outreach.core.errors import ValidationFailed
from geo_outreach.core.settings import REPO_ROOT
from geo_outreach.core.vocab import LIVE_SITE_STATUSES, OSM_ATTRIBUTION
from geo_outreach.io import exports
from layers import features
from tests.api_support import Api, api_for
from tests.conftest import cli_env, run_cli

# -- messages name fields, not options --------------------------------------------------------

DOMAIN = [REPO_ROOT / p for p in ("geo_outreach", "layers", "api", "maps")]
CLI = REPO_ROOT / "geo_outreach" / "cli"
FLAG = re.compile(r"(?<![\w-])--[a-z]")
# Calls whose text arguments become an error message someone reads.
MESSAGE_CALLS = {"invalid", "refuse", "_problem", "RowProblem", "ValidationFailed"}
MESSAGE_NAMES = {"msg", "message", "fault", "detail", "why", "reason"}


def _modules() -> Iterator[Path]:
    for root in DOMAIN:
        for path in sorted(root.rglob("*.py")):
            if CLI not in path.parents and "migrations" not in path.parts:
                yield path


def _texts(node: ast.AST) -> Iterator[str]:
    """The literal text inside an expression (f-string parts included)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _messages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            yield from ((node.lineno, t) for t in _texts(node.exc))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & MESSAGE_NAMES and node.value is not None:
                yield from ((node.lineno, t) for t in _texts(node.value))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in MESSAGE_CALLS:
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    yield from ((node.lineno, t) for t in _texts(arg))


def test_the_scan_finds_a_flag_when_there_is_one() -> None:
    sample = 'def f(n):\n    msg = f"--teams must be at least 1, got {n}"\n    raise E(msg)\n'
    found = [t for _, t in _messages(ast.parse(sample)) if FLAG.search(t)]
    assert found == ["--teams must be at least 1, got "]


def test_no_message_outside_the_cli_names_a_cli_option() -> None:
    offenders = []
    scanned = 0
    for path in _modules():
        for line, message in _messages(ast.parse(path.read_text(encoding="utf-8"))):
            scanned += 1
            if FLAG.search(message):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{line}: {message!r}")
    assert scanned > 200  # the scan read the messages of the whole domain
    assert offenders == []


def test_the_cli_maps_a_field_back_to_its_option(scratch: tuple[URL, URL], tmp_path: Path) -> None:
    env = cli_env(*scratch)
    proc = run_cli("plan", "--mode", "inspection", "--out", str(tmp_path), env=env)
    assert proc.returncode == 1
    assert "error: --district: is required for inspection" in proc.stderr
    f = tmp_path / "x.csv"
    f.write_text("code,lon,lat\nA,18.6,54.3\n")
    proc = run_cli("import", "sites", str(f), "--crs", "EPSG:99999999", env=env)
    assert proc.returncode == 1 and "error: --crs: 'EPSG:99999999' is not a" in proc.stderr
    proc = run_cli("export", "sites", "--format", "kml", "--out", str(tmp_path / "x"), env=env)
    assert proc.returncode == 1 and "error: --format: 'kml' is not one of" in proc.stderr


# -- live sites: one constant -----------------------------------------------------------------


def test_live_statuses_are_spelled_out_only_in_the_vocabulary() -> None:
    live = set(LIVE_SITE_STATUSES)
    spelled = []
    for path in _modules():
        if path.name == "vocab.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else []
            values = {e.value for e in items if isinstance(e, ast.Constant)}
            sql = isinstance(node, ast.Constant) and "'active', 'seasonal'" in str(node.value)
            if values == live or sql:
                spelled.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert spelled == []


def test_the_heat_layer_reads_every_live_site(session: Session) -> None:
    from geo_outreach.mapping import data as mapdata

    heat = mapdata.heat_points(session, actor="test", role="test")
    expected = session.execute(
        text(
            "SELECT count(*) FROM sleeping_sites WHERE status = ANY(:live) AND estimated_people > 0"
        ),
        {"live": list(LIVE_SITE_STATUSES)},
    ).scalar_one()
    seasonal = session.execute(
        text(
            "SELECT count(*) FROM sleeping_sites WHERE status = 'seasonal' AND estimated_people > 0"
        )
    ).scalar_one()
    assert len(heat) == expected and seasonal > 0  # seasonal sites are live too


# -- the partner rule: Python and SQL are one rule --------------------------------------------


def test_partner_rule_in_python_and_in_sql_agree(session: Session) -> None:
    user = auth.add_user(
        session, name="rule-partner", role="partner", password="x" * 12, actor="test",
        agency="policja",
    )  # fmt: skip
    now = session.execute(text("SELECT now()")).scalar_one()
    margin = policy.PATROL_MARGIN
    windows = {
        "running": (now - timedelta(hours=1), now + timedelta(hours=1)),
        "ended within margin": (now - timedelta(hours=2), now - margin / 2),
        "ended long ago": (now - timedelta(hours=5), now - timedelta(hours=3)),
        "starts within margin": (now + margin / 2, now + timedelta(hours=2)),
        "starts later": (now + margin * 3, now + timedelta(hours=5)),
    }
    cases: dict[uuid.UUID, str | None] = {}
    n = 0
    for kind in ("joint", "streetwork"):
        for status in ("planned", "in_progress", "cancelled"):
            for start, end in windows.values():
                for member in (True, False):
                    n += 1
                    patrol_id = session.execute(
                        text(
                            "INSERT INTO patrols (code, kind, agencies, planned_start, planned_end,"
                            " status, created_by, updated_by) VALUES (:code, :kind, '{mops}', "
                            ":start, :end, :status, 'test', 'test') RETURNING id"
                        ),
                        {"code": f"RULE-{n}", "kind": kind, "start": start, "end": end,
                         "status": status},
                    ).scalar_one()  # fmt: skip
                    if member:
                        session.execute(
                            text(
                                "INSERT INTO patrol_members (patrol_id, user_id, assigned_by) "
                                "VALUES (:p, :u, 'test')"
                            ),
                            {"p": patrol_id, "u": user.id},
                        )
                    cases[patrol_id] = policy.partner_may_open(
                        kind=kind, status=status, start=start, end=end, now=now, member=member
                    )
    sql, params = policy.partner_patrols_sql(user.id)
    visible = set(
        session.execute(
            text(f"SELECT t.id FROM patrols t WHERE t.code LIKE 'RULE-%' AND {sql}"), params
        ).scalars()
    )
    allowed = {pid for pid, why in cases.items() if why is None}
    assert visible == allowed
    # Both outcomes occur: 2 statuses × 3 windows inside the margin, joint and assigned only.
    assert len(allowed) == 6 and len(cases) == 60
    assert set(cases.values()) == {None, *(c.refusal for c in policy.PARTNER_PATROL_RULE)}
    # Without an account the SQL form matches nothing.
    none_sql, none_params = policy.partner_patrols_sql(None)
    assert not session.execute(
        text(f"SELECT t.id FROM patrols t WHERE {none_sql}"), none_params
    ).all()


# -- one export engine ------------------------------------------------------------------------


def _attribution_in(fmt: str, body: bytes, tmp: Path) -> bool:
    if fmt == "gpkg":
        path = tmp / "x.gpkg"
        path.write_bytes(body)
        info = pyogrio.read_info(path)
        return OSM_ATTRIBUTION in json.dumps(
            [info.get("layer_metadata"), info.get("dataset_metadata")], ensure_ascii=False
        )
    if fmt == "gpx":
        doc = gpxpy.parse(body.decode("utf-8"))
        return OSM_ATTRIBUTION.removeprefix("© ") in (doc.copyright_author or "")
    return OSM_ATTRIBUTION in body.decode("utf-8")


@pytest.mark.parametrize("layer", list(features.LAYOUT))
def test_every_layer_exports_to_every_format_with_attribution(
    session: Session, tmp_path: Path, layer: str
) -> None:
    count = session.execute(text(f"SELECT count(*) FROM {layer}")).scalar_one()
    for fmt in exports.FORMATS:
        out = tmp_path / f"{layer}.{fmt}"
        if fmt == "gpx" and features.LAYOUT[layer][0] is None:
            with pytest.raises(ValidationFailed) as info:
                exports.export_layer(session, layer, out, fmt=fmt, actor="test", role="test")
            assert info.value.problems[0].field == "format"
            continue
        n = exports.export_layer(session, layer, out, fmt=fmt, actor="test", role="test")
        assert n == count, (layer, fmt)
        assert _attribution_in(fmt, out.read_bytes(), tmp_path), (layer, fmt)
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
            assert len(rows) == count and (not rows or rows[0]["attribution"])
    audited = session.execute(
        text(
            "SELECT count(*) FROM audit_log WHERE action = 'export' AND layer = :layer "
            "AND role = 'test' AND actor = 'test'"
        ),
        {"layer": layer},
    ).scalar_one()
    assert audited == (len(exports.FORMATS) - (features.LAYOUT[layer][0] is None)) * (
        layer in exports.AUDITED
    )


def test_a_gpkg_export_keeps_typed_columns(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "patrols.gpkg"
    exports.export_layer(session, "patrols", out, fmt="gpkg", actor="test", role="test")
    frame = pyogrio.read_dataframe(out)
    assert str(frame["planned_start"].dtype).startswith("datetime64")
    assert str(frame["team_size"].dtype).startswith("int")


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def test_the_api_and_the_cli_write_the_same_file(api: Api) -> None:
    """The API's download is the engine's output for the role's fields; nothing of its own."""
    h = api.headers("coordinator")
    fields = policy.fields("sleeping_sites", "coordinator")
    for fmt in ("geojson", "csv", "gpx"):
        response = api.client.get(f"/exports/sleeping_sites?format={fmt}", headers=h)
        assert response.status_code == 200, response.text[:200]
        with db.session_scope(api.engine) as s:
            direct = exports.export(s, "sleeping_sites", fmt=fmt, fields=fields)
        assert response.content == direct.body, fmt
        assert response.headers["content-type"].startswith(exports.MEDIA[fmt].split(";")[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "visits.gpkg"
        path.write_bytes(api.client.get("/exports/visits?format=gpkg", headers=h).content)
        assert "note" not in pyogrio.read_dataframe(path).columns
    refused = api.client.get("/exports/visits?format=gpx", headers=h)
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == "format"


# -- POST /plans answers 422 naming the field -------------------------------------------------

NIGHT = {"day": "2026-01-15", "start": "20:00", "end": "23:00", "seconds": 0.5}


@pytest.mark.parametrize(
    ("body", "field", "fault"),
    [
        ({"mode": "akcja-zima", "teams": 2}, "temperature", "is required for akcja-zima"),
        ({"mode": "akcja-zima", "temperature": -3}, "temperature", "-3 °C is above"),
        ({"mode": "inspection"}, "district", "is required for inspection"),
        ({"mode": "inspection", "district": "Atlantyda"}, "district", "no sites in"),
    ],
)
def test_plans_name_the_field_the_planner_refused(
    api: Api, body: dict[str, object], field: str, fault: str
) -> None:
    response = api.client.post("/plans", json={**NIGHT, **body}, headers=api.headers("coordinator"))
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem["field"] == field and problem["fault"].startswith(fault)
    assert "--" not in response.text


@pytest.mark.parametrize("teams", [0, 51])
def test_plans_name_a_bad_team_count(api: Api, teams: int) -> None:
    body = {**NIGHT, "mode": "streetwork", "teams": teams}
    response = api.client.post("/plans", json=body, headers=api.headers("coordinator"))
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "teams"] and "--" not in response.text


def test_plan_audit_rows_carry_the_callers_role(api: Api) -> None:
    body = {**NIGHT, "mode": "streetwork", "teams": 1}
    response = api.client.post("/plans", json=body, headers=api.headers("coordinator"))
    assert response.status_code == 200, response.text
    with db.session_scope(api.engine) as s:
        roles = set(
            s.execute(
                text(
                    "SELECT role FROM audit_log WHERE layer = 'sleeping_sites' AND action = 'read'"
                    " AND detail->>'purpose' = 'plan streetwork'"
                )
            ).scalars()
        )
    assert roles == {"coordinator"}
