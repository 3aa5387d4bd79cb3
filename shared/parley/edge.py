"""Whose address a request through CloudFront is: the viewer's, which CloudFront names in ``CloudFront-Viewer-Address``,
trusted only when the request also carries the stack's edge secret (``X-Parley-Edge``), which CloudFront adds to
every request it sends to the HTTP API origin (template.yaml's PageDistribution; docs/architecture.md, "The
viewer's address"). Anyone can call the execute-api URL directly and send both headers; without the secret's value
they are ignored and the request is keyed by API Gateway's ``sourceIp``, its real peer."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

EDGE_HEADER = "x-parley-edge"
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"


def viewer_ip(value: str) -> str | None:
    """The IP address of a ``CloudFront-Viewer-Address`` value ("ip:port": ``198.51.100.10:46532``, or for IPv6
    the address unbracketed before the last colon, ``2001:db8::1:46532``; a bracketed ``[2001:db8::1]:46532`` is
    accepted too), normalised (``ipaddress``'s text form); None when it is not one."""
    text = value.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def client_ip(headers: Mapping[str, str], source_ip: str, secret: str | None) -> str:
    """The address to key per-address throttles by: the viewer's when ``headers`` (lower-case names, as API
    Gateway's payload 2.0 gives them) carry the edge secret and a well-formed viewer address, else ``source_ip``."""
    if not secret:
        return source_ip
    presented = headers.get(EDGE_HEADER)
    if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), secret.encode()):
        return source_ip
    viewer = headers.get(VIEWER_ADDRESS_HEADER)
    ip = viewer_ip(viewer) if isinstance(viewer, str) else None
    return ip or source_ip
