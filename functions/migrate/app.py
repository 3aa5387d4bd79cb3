"""The DatabaseMigration custom resource: the database's indexes and data migrations, once per deploy.

CloudFormation calls this function on every create and update of the stack (its properties name
MessageRetentionDays, the shared layer's version and a migration version, so a deploy that changes any of them
runs it again); the local gateway calls it the same way before it serves (parley_local, docs/local.md). The work
is ``parley.adapters.mongo_migrate.migrate``: idempotent, safe to run twice at once. Handlers never touch indexes.

Contract, for each request type:

- **Create / Update**: migrate the database (``MONGODB_URI_SECRET_ARN``'s URI, ``MONGODB_DB``) with the resource's
  ``MessageRetentionDays``; answer SUCCESS with ``Data`` ``{"Created", "Retention", "Backfilled"}``.
- **Delete**: change nothing (the data and its indexes outlive the stack) and answer SUCCESS.
- **Any failure** (the database unreachable, an index that conflicts, a crash, the function about to time out):
  answer FAILED with the reason, so CloudFormation rolls the deploy back at once instead of waiting an hour.

Every answer is one PUT to the request's pre-signed ``ResponseURL`` (functions/deploy/log_role.py's pattern);
``PhysicalResourceId`` is always ``PHYSICAL_ID``, so an update never replaces the resource. The URI and the
event's ResponseURL are never logged.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from typing import Any, Callable

log = logging.getLogger()
log.setLevel(logging.INFO)

PHYSICAL_ID = "parley-database-migration"
# Answer FAILED this long before Lambda would kill the invocation (which would leave CloudFormation waiting); the
# database calls get the time left before that (pymongo's timeout(), adapters/mongo.py).
DEADLINE_MARGIN_S = 5.0
PUT_TIMEOUT_S = 10.0
PUT_ATTEMPTS = 3


def send(event: dict[str, Any], status: str, reason: str, data: dict[str, str] | None = None) -> None:
    """PUT the answer to the pre-signed ResponseURL (no Content-Type: the URL was signed without one)."""
    body = json.dumps({
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "Data": data or {},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    for attempt in range(1, PUT_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=PUT_TIMEOUT_S) as response:  # noqa: S310 - CloudFormation's https URL
                log.info("answered %s to CloudFormation (HTTP %s)", status, response.status)
                return
        except Exception as exc:  # noqa: BLE001 - a failed answer is retried, then logged; nothing else can be done
            log.warning("answering CloudFormation failed (attempt %d): %s", attempt, type(exc).__name__)


class _Once:
    """Sends at most one answer, whether from the handler or from the deadline timer."""

    def __init__(self, event: dict[str, Any], sender: Callable[..., None]) -> None:
        self._event, self._sender, self._lock, self._sent = event, sender, threading.Lock(), False

    def __call__(self, status: str, reason: str, data: dict[str, str] | None = None) -> bool:
        with self._lock:
            if self._sent:
                return False
            self._sent = True
        self._sender(self._event, status, reason, data)
        return True


def _retention_days(properties: dict[str, Any]) -> int:
    raw = properties.get("MessageRetentionDays", 0)
    days = int(str(raw).strip() or 0)  # CloudFormation passes every property as a string
    if not 0 <= days <= 36_500:
        raise ValueError(f"MessageRetentionDays must be between 0 and 36500, got {days}")
    return days


def migrate(properties: dict[str, Any], budget_s: float) -> dict[str, str]:
    """Run the migration against this function's database within ``budget_s`` seconds; the report as Data."""
    from parley.adapters import mongo, mongo_migrate
    from parley.adapters.secrets import mongodb_uri
    from parley.config import Settings

    settings = Settings.from_env()
    db = mongo.database(mongodb_uri(settings), settings.mongodb_db)
    with mongo.deadline(budget_s):
        report = mongo_migrate.migrate(db, message_retention_days=_retention_days(properties))
    log.info("migrated %s: %s", settings.mongodb_db, report.summary())
    return report.summary()


def handler(event: dict[str, Any], context: Any, work: Callable[[dict[str, Any], float], dict[str, str]] = migrate) -> None:
    """CloudFormation custom resource entry point; always answers, SUCCESS or FAILED (see the module docstring)."""
    answer = _Once(event, send)
    remaining_s = (context.get_remaining_time_in_millis() / 1000.0) if context is not None else 60.0
    budget_s = max(remaining_s - DEADLINE_MARGIN_S, 0.1)
    timer = threading.Timer(budget_s, answer, args=("FAILED", "timed out before the migration finished"))
    timer.daemon = True
    timer.start()
    try:
        request_type = event["RequestType"]
        log.info("%s %s", request_type, event.get("LogicalResourceId"))
        if request_type == "Delete":
            answer("SUCCESS", "the database, its data and its indexes are left as they are")
            return
        if request_type not in ("Create", "Update"):
            raise ValueError(f"unknown RequestType {request_type!r}")
        data = work(event.get("ResourceProperties") or {}, budget_s)
        answer("SUCCESS", "migrated", data)
    except Exception as exc:  # noqa: BLE001 - every failure must still answer CloudFormation
        log.exception("failed")
        answer("FAILED", f"{type(exc).__name__}: {exc}")
    finally:
        timer.cancel()
