"""Powertools logger and metrics, configured the same way for every function.

Never log an event, a token, a password or message text: log ids, codes and counts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from parley.errors import StoreUnavailable

SERVICE = "parley"
DATABASE_UNAVAILABLE = "DatabaseUnavailable"  # the metric the DatabaseUnavailableAlarm of template.yaml watches
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
    database not answering (``StoreUnavailable``); any other error emits nothing."""
    if isinstance(exc, StoreUnavailable):
        with single_metric(
            name=DATABASE_UNAVAILABLE,
            unit=MetricUnit.Count,
            value=1,
            namespace=namespace,
            default_dimensions={"service": SERVICE},
        ):
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
