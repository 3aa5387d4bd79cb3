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

The answer (exactly one, ``PhysicalResourceId`` always ``PHYSICAL_ID``, so an update never replaces the resource)
is ``parley.custom_resource.run``'s. The URI and the event's ResponseURL are never logged.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from parley import custom_resource
from parley.custom_resource import send

log = logging.getLogger()
log.setLevel(logging.INFO)

PHYSICAL_ID = "parley-database-migration"
# Answer FAILED this long before Lambda would kill the invocation (which would leave CloudFormation waiting); the
# database calls get the time left before that (pymongo's timeout(), adapters/mongo.py).
DEADLINE_MARGIN_S = 5.0


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
    custom_resource.run(event, context, work=lambda properties, budget_s: ("migrated", work(properties, budget_s)),
                        physical_id=PHYSICAL_ID, margin_s=DEADLINE_MARGIN_S,
                        on_delete="the database, its data and its indexes are left as they are",
                        timeout_reason="timed out before the migration finished", sender=send)
