"""A prototype, not part of Parley: the same broadcaster posting through botocore's SigV4 signer and
urllib3 directly, skipping botocore's per-call machinery (event hooks, validation, serialization,
endpoint rules, response parsing). Measured by the fan-out benchmark to size the gain before anyone
changes parley/adapters/apigw.py. Same semantics: 410 → gone, 429 → bounded jittered retry, else failed.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from parley.adapters.apigw import _FAILED, _GONE, _OK, ManagementApiBroadcaster, log


class LeanBroadcaster(ManagementApiBroadcaster):
    def __init__(self, client, *, pool, pool_size: int, **kwargs) -> None:
        super().__init__(client, pool=pool, **kwargs)
        self._endpoint = client.meta.endpoint_url.rstrip("/")
        self._region = client.meta.region_name or "us-east-1"
        self._credentials = client._request_signer._credentials  # refreshable; frozen per post
        self._http = urllib3.PoolManager(
            maxsize=pool_size, retries=False, timeout=urllib3.Timeout(connect=2, read=5)
        )

    def _post(self, connection_id: str, data: bytes) -> str:
        url = f"{self._endpoint}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(1, self._max_attempts + 1):
            request = AWSRequest(method="POST", url=url, data=data)
            SigV4Auth(self._credentials.get_frozen_credentials(), "execute-api", self._region).add_auth(request)
            try:
                status = self._http.request("POST", url, body=data, headers=dict(request.headers)).status
            except urllib3.exceptions.HTTPError as exc:
                log.warning("post_to_connection failed", extra={"connection_id": connection_id, "error_code": type(exc).__name__})
                return _FAILED
            if 200 <= status < 300:
                return _OK
            if status == 410:
                return _GONE
            if status == 429 and attempt < self._max_attempts:
                time.sleep(self._backoff(attempt))
                continue
            return _FAILED
        return _FAILED
