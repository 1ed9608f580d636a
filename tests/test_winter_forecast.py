"""The forecast adapter: Open-Meteo's hourly JSON (local ISO times or unix times, units converted)
from a file or a URL, tonight's minimum, and the levels. No network: the files are written here,
the URL is served by a server on 127.0.0.1 started by the test."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from geo_outreach.core.errors import ValidationFailed
from geo_outreach.winter import forecast as fc

TZ = ZoneInfo("Europe/Warsaw")
DAY = date(2026, 1, 15)


def open_meteo(
    temps: list[float],
    *,
    start: datetime = datetime(2026, 1, 15, 0, 0),
    apparent: list[float] | None = None,
    wind: list[float] | None = None,
    rain: list[float] | None = None,
    units: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An Open-Meteo /v1/forecast answer with timezone=Europe/Warsaw (local times, no offset)."""
    n = len(temps)
    times = [(start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M") for i in range(n)]
    return {
        "latitude": 54.36,
        "longitude": 18.64,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": 3600,
        "timezone": "Europe/Warsaw",
        "timezone_abbreviation": "GMT+1",
        "elevation": 12.0,
        "hourly_units": {
            "time": "iso8601",
            "temperature_2m": "°C",
            "apparent_temperature": "°C",
            "wind_speed_10m": "km/h",
            "precipitation": "mm",
            **(units or {}),
        },
        "hourly": {
            "time": times,
            "temperature_2m": temps,
            "apparent_temperature": apparent if apparent is not None else [t - 4 for t in temps],
            "wind_speed_10m": wind if wind is not None else [5.0] * n,
            "precipitation": rain if rain is not None else [0.0] * n,
        },
    }


def two_days(night_min: float, day_temp: float = 2.0) -> list[float]:
    """48 hours from midnight: the night of DAY (18:00 to 08:00) dips to night_min at 03:00."""
    temps = [day_temp] * 48
    for h in range(18, 33):
        temps[h] = night_min + 3
    temps[27] = night_min
    return temps


def write(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "forecast.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_tonight_minimum_from_a_recorded_file(tmp_path: Path) -> None:
    data = fc.load(write(tmp_path, open_meteo(two_days(-12.0))))
    assert data.source == "file forecast.json"
    night = fc.tonight(data, DAY, fc.Levels())
    assert night.min_temperature == -12.0 and night.min_apparent == -16.0
    assert night.start == datetime(2026, 1, 15, 18, tzinfo=TZ)
    assert night.end == datetime(2026, 1, 16, 8, tzinfo=TZ)
    assert night.hours == 15  # 18:00 … 08:00 inclusive
    decision = fc.decide(night, fc.Levels())
    assert decision.level == "akcja-zima" and decision.threshold == -10.0
    assert "minimum -12.0 °C" in decision.reason and "Akcja Zima level -10" in decision.reason


def test_the_day_s_warmth_does_not_count_and_midday_cold_neither(tmp_path: Path) -> None:
    temps = two_days(3.0)
    temps[12] = -20.0  # noon of DAY: not tonight
    temps[40] = -20.0  # 16:00 the next day: not tonight either
    night = fc.tonight(fc.parse(open_meteo(temps), source="t"), DAY, fc.Levels())
    assert night.min_temperature == 3.0
    decision = fc.decide(night, fc.Levels())
    assert decision.level is None and "no level reached" in decision.reason


@pytest.mark.parametrize(
    ("wind", "rain", "level"),
    [(25.0, 0.0, "cold"), (5.0, 0.2, "cold"), (5.0, 0.0, None), (19.0, 0.0, None)],
)
def test_cold_needs_wind_or_precipitation(wind: float, rain: float, level: str | None) -> None:
    temps = two_days(-3.0)
    rains = [0.0] * 48
    rains[20] = rain
    rains[22] = rain * 2  # the night's total counts: 3 × rain
    doc = open_meteo(temps, wind=[wind] * 48, rain=rains)
    night = fc.tonight(fc.parse(doc, source="t"), DAY, fc.Levels())
    decision = fc.decide(night, fc.Levels())
    assert decision.level == level, decision.reason
    if level is None:
        assert "calm and dry" in decision.reason


def test_levels_are_configurable() -> None:
    night = fc.tonight(fc.parse(open_meteo(two_days(-7.0)), source="t"), DAY, fc.Levels())
    assert fc.decide(night, fc.Levels()).level is None  # calm, dry, above −10
    assert fc.decide(night, fc.Levels(akcja_zima_below=-5.0)).level == "akcja-zima"


def test_unix_times_and_other_units() -> None:
    start = datetime(2026, 1, 15, 0, tzinfo=TZ)
    temps_f = [t * 9 / 5 + 32 for t in two_days(-12.0)]
    doc = open_meteo(
        temps_f,
        apparent=[t - 7.2 for t in temps_f],
        wind=[10.0] * 48,
        units={"temperature_2m": "°F", "apparent_temperature": "°F", "wind_speed_10m": "m/s"},
    )
    doc["hourly"]["time"] = [int((start + timedelta(hours=i)).timestamp()) for i in range(48)]
    doc["hourly_units"]["time"] = "unixtime"
    data = fc.parse(doc, source="t")
    night = fc.tonight(data, DAY, fc.Levels())
    assert night.min_temperature == pytest.approx(-12.0)
    assert night.min_apparent == pytest.approx(-16.0)
    assert night.max_wind_kmh == pytest.approx(36.0)
    assert data.hours[27].at == datetime(2026, 1, 16, 3, tzinfo=TZ)


def test_across_the_dst_change_the_local_hours_are_kept() -> None:
    # 29 March 2026: clocks go forward at 02:00 in Poland; Open-Meteo writes local times.
    doc = open_meteo(two_days(1.0), start=datetime(2026, 3, 28, 0, 0))
    data = fc.parse(doc, source="t")
    assert data.hours[27].at.utcoffset() == timedelta(hours=2)  # 03:00 CEST
    assert data.hours[20].at.utcoffset() == timedelta(hours=1)  # 20:00 CET


@pytest.mark.parametrize(
    ("mutate", "fault"),
    [
        (lambda d: d.pop("hourly"), "no 'hourly' object"),
        (lambda d: d["hourly"].update(time=[]), "hourly.time is missing or empty"),
        (lambda d: d["hourly"]["temperature_2m"].pop(), "hourly.temperature_2m: want a list of 48"),
        (lambda d: d["hourly"]["temperature_2m"].__setitem__(3, "cold"), "temperature_2m[3]"),
        (lambda d: d["hourly"]["time"].__setitem__(0, "yesterday"), "hourly.time[0]"),
        (lambda d: d["hourly_units"].update(temperature_2m="K"), "is not °C or °F"),
        (lambda d: d["hourly_units"].update(wind_speed_10m="bft"), "wind_speed_10m: unit"),
    ],
)
def test_a_bad_forecast_is_refused_naming_the_fault(
    tmp_path: Path, mutate: Any, fault: str
) -> None:
    doc = open_meteo(two_days(-12.0))
    mutate(doc)
    with pytest.raises(ValidationFailed, match="forecast") as caught:
        fc.load(write(tmp_path, doc))
    assert fault in str(caught.value)


def test_unreadable_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match=r"file nothing\.json: cannot be read"):
        fc.load(str(tmp_path / "nothing.json"))
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="not JSON"):
        fc.load(str(tmp_path / "x.json"))
    with pytest.raises(ValidationFailed, match="only a file path or an http"):
        fc.load("ftp://example.org/forecast.json")


def test_a_forecast_without_tonight_says_what_it_covers() -> None:
    data = fc.parse(open_meteo([1.0] * 10), source="file f.json")
    with pytest.raises(ValidationFailed, match="no hours for the night of 2026-01-20") as caught:
        fc.tonight(data, date(2026, 1, 20), fc.Levels())
    assert "covers 2026-01-15 00:00 – 2026-01-15 09:00" in str(caught.value)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The recorded forecast served over HTTP on loopback, as Open-Meteo would answer."""
    body = json.dumps(open_meteo(two_days(-12.0))).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self.path.startswith("/v1/forecast"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_read_from_a_url(served: str) -> None:
    data = fc.load(f"{served}/v1/forecast?latitude=54.36&longitude=18.64&key=secret")
    assert data.source == "url 127.0.0.1"  # never the full URL: it may carry a key
    assert fc.tonight(data, DAY, fc.Levels()).min_temperature == -12.0
    with pytest.raises(ValidationFailed, match=r"url 127\.0\.0\.1: cannot be read"):
        fc.load(f"{served}/elsewhere")
