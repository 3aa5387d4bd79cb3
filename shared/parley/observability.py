"""Powertools logger and metrics, configured the same way for every function.

Never log an event, a token, a password or message text: log ids, codes and counts.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "parley"


def make_logger() -> Logger:
    return Logger(service=SERVICE)


def make_metrics(namespace: str) -> Metrics:
    return Metrics(namespace=namespace, service=SERVICE)


def counter(metrics: Metrics) -> Callable[[str, float], None]:
    def add(name: str, value: float) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    return add
