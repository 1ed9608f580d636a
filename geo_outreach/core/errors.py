"""Domain errors. The API maps them to HTTP codes in one table; the CLI to exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class GeoOutreachError(Exception):
    """Base of every error the domain raises on purpose."""


class DatabaseUnavailable(GeoOutreachError):
    """PostgreSQL/PostGIS cannot be reached or started."""


@dataclass(frozen=True)
class RowProblem:
    """One fault in one row of input: where it is and what is wrong."""

    row: int  # 1-based feature/row number in the input
    field: str
    fault: str
    label: str = ""  # a human handle for the row (its id or name), if it has one

    def __str__(self) -> str:
        where = f"row {self.row}" + (f" ({self.label})" if self.label else "")
        return f"{where}, field '{self.field}': {self.fault}"


class ValidationFailed(GeoOutreachError):
    """Input was refused; nothing was stored."""

    def __init__(self, problems: list[RowProblem], *, source: str = "input") -> None:
        self.problems = problems
        self.source = source
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{source}: {len(problems)} problem(s), nothing was stored:\n{shown}{more}"
        )


REQUEST = "request"  # the source of a parameter fault, as opposed to a file's rows


def invalid(field: str, fault: str) -> ValidationFailed:
    """One bad parameter of a request (not a row of a file), named by its field: the API answers
    it as a 422 problem, the CLI prints the option it came from (the domain knows neither)."""
    return ValidationFailed([RowProblem(1, field, fault)], source=REQUEST)


class NotFound(GeoOutreachError):
    pass


class Conflict(GeoOutreachError):
    pass


class StaleVersion(Conflict):
    def __init__(self, *, current: int) -> None:
        self.current = current
        super().__init__(f"the record was changed meanwhile; current version is {current}")
