"""The boto3 broadcasters Parley is measured against (not part of Parley).

``Boto3Broadcaster`` is what a careful sample does, and what Parley itself did until its own poster
replaced it: boto3's ``post_to_connection`` from a bounded thread pool over one client (botocore's
connection pool sized to match), 410 → gone, 429 → bounded jittered retry, anything else → failed.
Given a pool that runs one post after another it is the AWS samples' sequential loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from parley.ports import DeliveryReport
from parley.wire import Frame


def management_client(endpoint: str, *, pool_size: int):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        config=Config(
            max_pool_connections=pool_size, connect_timeout=2, read_timeout=5,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


class SerialPool:
    """Stands in for the thread pool: ``map`` runs the posts one after another (the samples' loop)."""

    def map(self, fn, items):
        return [fn(i) for i in items]


class Boto3Broadcaster:
    def __init__(self, client, *, pool, max_attempts: int = 4, base_delay: float = 0.05) -> None:
        self._client, self._pool = client, pool
        self._max_attempts, self._base_delay = max_attempts, base_delay

    def send(self, *, connection_ids: Sequence[str], frame: Frame) -> DeliveryReport:
        report = DeliveryReport()
        data = frame.body
        ids = list(dict.fromkeys(connection_ids))
        for cid, outcome in zip(ids, self._pool.map(lambda cid: self._post(cid, data), ids)):
            if outcome == "ok":
                report.delivered += 1
            elif outcome == "gone":
                report.gone.append(cid)
            else:
                report.failed.append(cid)
        return report

    def _post(self, connection_id: str, data: bytes) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(1, self._max_attempts + 1):
            try:
                self._client.post_to_connection(ConnectionId=connection_id, Data=data)
                return "ok"
            except self._client.exceptions.GoneException:  # before ClientError: it subclasses it
                return "gone"
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429 and attempt < self._max_attempts:
                    cap = min(1.0, self._base_delay * 2 ** (attempt - 1))
                    time.sleep(random.uniform(cap / 2, cap))
                    continue
                return "failed"
            except BotoCoreError:
                return "failed"
        return "failed"
