"""An hourly forecast in Open-Meteo's JSON format, read from a file or a URL, and tonight's cold.

Open-Meteo (`/v1/forecast?hourly=temperature_2m,apparent_temperature,wind_speed_10m,
precipitation&timezone=Europe/Warsaw`) answers with parallel arrays under `hourly` (`time` plus
one array per variable), their units under `hourly_units`, and `timezone` /
`utc_offset_seconds`: with a time zone the times are local wall-clock times without an offset;
with `timeformat=unixtime` they are seconds since the epoch in UTC. Both are read here. Units
other than the defaults (°F, m/s, mph, kn, inch) are converted, never guessed.

The levels are data (`Levels`), so a city sets its own: "akcja-zima" below −10 °C (the seeds'
rule, the planner's threshold) and "cold" below 0 °C with wind or precipitation.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from geo_outreach.core.errors import GeoOutreachError, invalid

Level = Literal["akcja-zima", "cold"]
LEVELS: tuple[Level, ...] = ("akcja-zima", "cold")
MAX_BYTES = 2_000_000  # a week of hourly data is ~20 kB; anything far larger is not a forecast
WIND_KMH = {"km/h": 1.0, "kmh": 1.0, "m/s": 3.6, "ms": 3.6, "mp/h": 1.609344, "mph": 1.609344,
            "kn": 1.852, "knots": 1.852}  # fmt: skip
PRECIP_MM = {"mm": 1.0, "inch": 25.4, "in": 25.4}


class ForecastError(GeoOutreachError):
    """The forecast could not be read or is not an hourly Open-Meteo forecast."""


@dataclass(frozen=True)
class Hour:
    at: datetime  # aware, local to the forecast's time zone
    temperature: float  # °C
    apparent: float | None  # °C, wind chill and humidity included
    wind_kmh: float | None
    precipitation_mm: float | None


@dataclass(frozen=True)
class Forecast:
    source: str  # "file NAME" or "url HOST": never a full URL (it may carry a key)
    timezone: str
    hours: tuple[Hour, ...]


@dataclass(frozen=True)
class Night:
    """The forecast for one night's window (e.g. 18:00 to 08:00 the next morning, local)."""

    day: date
    start: datetime
    end: datetime
    hours: int
    min_temperature: float
    min_apparent: float | None
    max_wind_kmh: float | None
    precipitation_mm: float | None


@dataclass(frozen=True)
class Levels:
    """When a night is cold enough to act. Configurable (Settings.winter_*)."""

    akcja_zima_below: float = -10.0  # °C, the seeds' and the planner's rule
    cold_below: float = 0.0  # °C, only together with wind or precipitation:
    cold_wind_kmh: float = 20.0
    cold_precipitation_mm: float = 0.5
    night_start: time = time(18, 0)
    night_end: time = time(8, 0)


@dataclass(frozen=True)
class Decision:
    night: Night
    level: Level | None  # None: no action tonight
    reason: str
    threshold: float | None = None  # the °C the level was reached against (the planner's rule)


def _convert_temp(values: list[float], unit: str) -> list[float]:
    if unit in ("°C", "C", "celsius", ""):
        return values
    if unit in ("°F", "F", "fahrenheit"):
        return [(v - 32.0) * 5.0 / 9.0 for v in values]
    msg = f"hourly_units: temperature unit {unit!r} is not °C or °F"
    raise ForecastError(msg)


def _zone(doc: dict[str, Any]) -> tzinfo:
    name = doc.get("timezone")
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # an abbreviation or a name this machine lacks: the offset says enough
    offset = doc.get("utc_offset_seconds", 0)
    if not isinstance(offset, int) or abs(offset) > 18 * 3600:
        msg = f"utc_offset_seconds: {offset!r} is not a whole number of seconds within ±18 h"
        raise ForecastError(msg)
    return timezone(timedelta(seconds=offset))


def _times(raw: list[Any], zone: tzinfo) -> list[datetime]:
    out = []
    for i, value in enumerate(raw):
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(datetime.fromtimestamp(value, UTC).astimezone(zone))
            continue
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            msg = f"hourly.time[{i}]: {value!r} is not an ISO 8601 time or a unix time"
            raise ForecastError(msg) from None
        # Open-Meteo writes local wall-clock times without an offset.
        out.append(at.replace(tzinfo=zone) if at.tzinfo is None else at.astimezone(zone))
    return out


def _series(hourly: dict[str, Any], name: str, n: int, *, required: bool) -> list[float] | None:
    raw = hourly.get(name)
    if raw is None and not required:
        return None
    if not isinstance(raw, list) or len(raw) != n:
        msg = f"hourly.{name}: want a list of {n} numbers (one per hourly.time)"
        raise ForecastError(msg)
    out = []
    for i, v in enumerate(raw):
        if v is None:  # Open-Meteo writes null where a model has no value
            out.append(math.nan)
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
        else:
            msg = f"hourly.{name}[{i}]: {v!r} is not a number"
            raise ForecastError(msg)
    return out


def _unit(doc: dict[str, Any], name: str, table: dict[str, float], default: str) -> float:
    unit = str((doc.get("hourly_units") or {}).get(name, default))
    if unit not in table:
        msg = f"hourly_units.{name}: unit {unit!r} is not one of {', '.join(table)}"
        raise ForecastError(msg)
    return table[unit]


def parse(doc: object, *, source: str) -> Forecast:
    """An Open-Meteo response (already decoded JSON) as hours in °C, km/h and mm."""
    if not isinstance(doc, dict) or not isinstance(doc.get("hourly"), dict):
        msg = f"{source}: not an Open-Meteo forecast (no 'hourly' object)"
        raise ForecastError(msg)
    hourly: dict[str, Any] = doc["hourly"]
    raw_times = hourly.get("time")
    if not isinstance(raw_times, list) or not raw_times:
        msg = f"{source}: hourly.time is missing or empty"
        raise ForecastError(msg)
    zone = _zone(doc)
    times = _times(raw_times, zone)
    n = len(times)
    units = doc.get("hourly_units") or {}
    temps = _series(hourly, "temperature_2m", n, required=True) or []
    temps = _convert_temp(temps, str(units.get("temperature_2m", "°C")))
    apparent = _series(hourly, "apparent_temperature", n, required=False)
    if apparent is not None:
        apparent = _convert_temp(apparent, str(units.get("apparent_temperature", "°C")))
    wind = _series(hourly, "wind_speed_10m", n, required=False)
    if wind is not None:
        factor = _unit(doc, "wind_speed_10m", WIND_KMH, "km/h")
        wind = [w * factor for w in wind]
    precip = _series(hourly, "precipitation", n, required=False)
    if precip is not None:
        factor = _unit(doc, "precipitation", PRECIP_MM, "mm")
        precip = [p * factor for p in precip]

    def pick(values: list[float] | None, i: int) -> float | None:
        return None if values is None or math.isnan(values[i]) else values[i]

    hours = tuple(
        Hour(times[i], temps[i], pick(apparent, i), pick(wind, i), pick(precip, i))
        for i in range(n)
        if not math.isnan(temps[i])
    )
    return Forecast(source=source, timezone=str(doc.get("timezone") or zone), hours=hours)


def _describe(source: str) -> str:
    if source.startswith(("http://", "https://")):
        host = urllib.parse.urlparse(source).hostname or "?"
        return f"url {host}"
    return f"file {Path(source).name}"


def load(source: str, *, timeout: float = 10.0) -> Forecast:
    """Read a forecast from a file path or an http(s) URL (a `forecast` parameter fault when the
    source cannot be read)."""
    label = _describe(source)
    try:
        if source.startswith(("http://", "https://")):
            request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
                source, headers={"Accept": "application/json", "User-Agent": "geo-outreach"}
            )
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body = response.read(MAX_BYTES + 1)
        elif "://" in source:
            msg = f"{label}: only a file path or an http(s) URL can be read"
            raise invalid("forecast", msg)
        else:
            with Path(source).open("rb") as f:
                body = f.read(MAX_BYTES + 1)
    except OSError as exc:  # urllib's URLError and timeouts are OSErrors too
        msg = f"{label}: cannot be read ({type(exc).__name__}: {exc})"
        raise invalid("forecast", msg) from None
    if len(body) > MAX_BYTES:
        msg = f"{label}: larger than {MAX_BYTES} bytes; not an hourly forecast"
        raise invalid("forecast", msg)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{label}: not JSON ({exc})"
        raise invalid("forecast", msg) from None
    try:
        return parse(doc, source=label)
    except ForecastError as exc:
        raise invalid("forecast", str(exc)) from None


def night_window(day: date, zone: tzinfo, levels: Levels) -> tuple[datetime, datetime]:
    start = datetime.combine(day, levels.night_start, zone)
    end_day = day + timedelta(days=1) if levels.night_end <= levels.night_start else day
    return start, datetime.combine(end_day, levels.night_end, zone)


def tonight(forecast: Forecast, day: date, levels: Levels) -> Night:
    """The night of `day` (its evening to the next morning, in the forecast's local time)."""
    zone = forecast.hours[0].at.tzinfo if forecast.hours else UTC
    assert zone is not None
    start, end = night_window(day, zone, levels)
    inside = [h for h in forecast.hours if start <= h.at <= end]
    if not inside:
        first, last = forecast.hours[0].at, forecast.hours[-1].at
        msg = (
            f"{forecast.source}: no hours for the night of {day} ({start:%Y-%m-%d %H:%M} – "
            f"{end:%Y-%m-%d %H:%M}); it covers {first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M}"
        )
        raise invalid("night", msg)
    apparent = [h.apparent for h in inside if h.apparent is not None]
    wind = [h.wind_kmh for h in inside if h.wind_kmh is not None]
    precip = [h.precipitation_mm for h in inside if h.precipitation_mm is not None]
    return Night(
        day=day,
        start=start,
        end=end,
        hours=len(inside),
        min_temperature=min(h.temperature for h in inside),
        min_apparent=min(apparent) if apparent else None,
        max_wind_kmh=max(wind) if wind else None,
        precipitation_mm=round(sum(precip), 2) if precip else None,
    )


def decide(night: Night, levels: Levels) -> Decision:
    """Which level tonight reaches, and why (in words the coordinator reads)."""
    t = night.min_temperature
    feels = "" if night.min_apparent is None else f", feels like {night.min_apparent:.1f} °C"
    seen = f"minimum {t:.1f} °C{feels} between {night.start:%H:%M} and {night.end:%H:%M}"
    if t < levels.akcja_zima_below:
        reason = f"{seen}: below the Akcja Zima level {levels.akcja_zima_below:g} °C"
        return Decision(night, "akcja-zima", reason, levels.akcja_zima_below)
    if t < levels.cold_below:
        wind, wet = night.max_wind_kmh or 0.0, night.precipitation_mm or 0.0
        why = []
        if wind >= levels.cold_wind_kmh:
            why.append(f"wind up to {wind:.0f} km/h")
        if wet >= levels.cold_precipitation_mm:
            why.append(f"{wet:.1f} mm of precipitation")
        if why:
            reason = (
                f"{seen}: below {levels.cold_below:g} °C with {' and '.join(why)} (the cold level)"
            )
            return Decision(night, "cold", reason, levels.cold_below)
        reason = (
            f"{seen}: below {levels.cold_below:g} °C but calm and dry (wind under "
            f"{levels.cold_wind_kmh:g} km/h, precipitation under "
            f"{levels.cold_precipitation_mm:g} mm): no level reached"
        )
        return Decision(night, None, reason)
    reason = (
        f"{seen}: not below {levels.cold_below:g} °C (cold) nor "
        f"{levels.akcja_zima_below:g} °C (Akcja Zima): no level reached"
    )
    return Decision(night, None, reason)
