"""Powertools logger and metrics, configured the same way for every function.

Never log an event, a token, a password or message text: log ids, codes and counts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from parley.errors import StoreAuthFailed, StoreOverQuota, StoreUnavailable

SERVICE = "parley"
DATABASE_UNAVAILABLE = "DatabaseUnavailable"  # the metric the DatabaseUnavailableAlarm of template.yaml watches
DATABASE_AUTH_FAILURES = "DatabaseAuthFailures"  # DatabaseAuthFailuresAlarm: the credentials were refused
DATABASE_OVER_QUOTA = "DatabaseOverQuota"  # DatabaseOverQuotaAlarm: Atlas refused a write over the plan's storage
INTERNAL_ERRORS = "InternalErrors"  # <Function>InternalErrorsAlarm: a request answered internal_error / 5xx
_DATABASE_METRICS = ((StoreUnavailable, DATABASE_UNAVAILABLE), (StoreAuthFailed, DATABASE_AUTH_FAILURES),
                     (StoreOverQuota, DATABASE_OVER_QUOTA))
Handler = TypeVar("Handler", bound=Callable)


def make_logger() -> Logger:
    return Logger(service=SERVICE)


def make_metrics(namespace: str) -> Metrics:
    return Metrics(namespace=namespace, service=SERVICE)


def counter(metrics: Metrics) -> Callable[[str, float], None]:
    def add(name: str, value: float) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    return add


def count_if_database_down(exc: BaseException, namespace: str) -> None:
    """Emit ``DatabaseUnavailable`` = 1 (an EMF line of its own, written at once) when ``exc`` is the
    database not answering (``StoreUnavailable``), ``DatabaseAuthFailures`` when it refused the credentials
    (``StoreAuthFailed``), ``DatabaseOverQuota`` when it refused a write over the plan's storage
    (``StoreOverQuota``); any other error emits nothing."""
    for kind, name in _DATABASE_METRICS:
        if isinstance(exc, kind):
            _emit(name, namespace, {"service": SERVICE})


def count_internal_error(exc: BaseException, namespace: str, context: object) -> None:
    """What every catch-all calls: ``InternalErrors`` = 1 with the dimensions ``service`` and ``function`` (the
    Lambda function's name, what ``!Ref`` of the function gives in template.yaml), then the database's own metric
    when the database is what failed (``count_if_database_down``). Each an EMF line of its own, written at once,
    so it is counted even when the handler's own metrics are not flushed."""
    function = getattr(context, "function_name", None) or "unknown"
    _emit(INTERNAL_ERRORS, namespace, {"service": SERVICE, "function": function})
    count_if_database_down(exc, namespace)


def _emit(name: str, namespace: str, dimensions: dict[str, str]) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=namespace, default_dimensions=dimensions):
        pass


def tracing(enabled: bool) -> Callable[[Handler], Handler]:
    """The decorator for a Lambda handler: Powertools Tracer's ``capture_lambda_handler`` when ``enabled``
    (``Settings.tracing``), else the handler unchanged, so that aws_xray_sdk is never even imported.

    Traces botocore calls (the X-Ray SDK loads botocore itself) and, where the function has loaded it
    already, pymongo (call this after the module's wiring; FanoutFunction never loads pymongo, and patching
    would import it). Never records the handler's response (an HTTP reply may carry a token)."""
    if not enabled:
        return lambda handler: handler
    from aws_lambda_powertools import Tracer

    modules = ["botocore", *(["pymongo"] if "pymongo" in sys.modules else [])]
    tracer = Tracer(service=SERVICE, patch_modules=modules)
    return tracer.capture_lambda_handler(capture_response=False)
