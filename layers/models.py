"""Every table model, imported once so Base.metadata is complete (for Alembic and tests)."""

from layers.accounts import ApiToken, IdempotencyKey, LoginAttempt, PatrolMember, User
from layers.alerts import PublicAlert
from layers.areas import Area
from layers.audit import AuditEntry
from layers.base import Base
from layers.facilities import Facility, FreeBedsEntry
from layers.patrols import Patrol, PatrolStop
from layers.plans import StoredPlan
from layers.site_changes import SiteChange
from layers.sites import SiteStatusChange, SleepingSite
from layers.sos_bus import SosBusDuty, SosBusRoute, SosBusStop
from layers.visits import Visit
from layers.winter import WinterNight, WinterNotice

__all__ = [
    "ApiToken",
    "Area",
    "AuditEntry",
    "Base",
    "Facility",
    "FreeBedsEntry",
    "IdempotencyKey",
    "LoginAttempt",
    "Patrol",
    "PatrolMember",
    "PatrolStop",
    "PublicAlert",
    "SiteChange",
    "SiteStatusChange",
    "SleepingSite",
    "SosBusDuty",
    "SosBusRoute",
    "SosBusStop",
    "StoredPlan",
    "User",
    "Visit",
    "WinterNight",
    "WinterNotice",
]
