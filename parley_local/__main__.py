"""``parley-local``: serve template.yaml on one local port (HTTP API, WebSocket API, @connections API).

The gateway modules are generic; the only Parley-specific part is the *local profile* here:
which database and JWT secret the functions get when run on a developer's machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from .lambda_runtime import HandlerLoadError
from .server import BODY_TIMEOUT_S, HEADER_TIMEOUT_S, IDLE_TIMEOUT_S, MAX_CONNECTION_S, FunctionsIn, LocalGateway, exposure_warning
from .cloudformation import TemplateError

EMBEDDED_URI = "mongomock://localhost"
STACK_NAME = "parley-local"


def mask_uri(uri: str) -> str:
    """The URI with its password (if any) replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", uri)


def parley_profile(environ: dict[str, str] | None = None) -> tuple[dict[str, dict[str, str]], dict[str, str], str]:
    """Parley's local settings: (env_vars for every function, parameter overrides, database description).

    MONGODB_URI from the environment selects a real MongoDB; without it the embedded in-memory
    database (mongomock) is used. JWT_SECRET from the environment is used, or a fresh one per run; EDGE_SECRET
(what the local CloudFront proves its requests with) is always a fresh one.
    """
    environ = dict(os.environ if environ is None else environ)
    uri = environ.get("MONGODB_URI") or EMBEDDED_URI
    values = {
        "PARLEY_ENV": "local",
        "MONGODB_URI": uri,
        "JWT_SECRET": environ.get("JWT_SECRET") or secrets.token_urlsafe(48),
        # what the emulated CloudFront adds as X-Parley-Edge (template.yaml's EdgeSecret names this variable), so the
        # auth function trusts its CloudFront-Viewer-Address as in AWS: a fresh one per run
        "EDGE_SECRET": secrets.token_urlsafe(36),
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here, whatever TracingMode says
    }
    if uri == EMBEDDED_URI:
        database = "embedded in-memory database (mongomock) — data is lost when you stop"
    else:
        database = f"MongoDB at {mask_uri(uri)}"
    # a dummy for the template's MongoDbUri parameter; the functions get MONGODB_URI above, which wins over the secret
    return {"Parameters": values}, {"MongoDbUri": "set-by-local-profile"}, database


def parse_overrides(items: list[str]) -> dict[str, str]:
    """SAM's two spellings: ``Key=Value`` and ``ParameterKey=Key,ParameterValue=Value``."""
    overrides: dict[str, str] = {}
    for item in items:
        for part in item.split():
            if part.startswith("ParameterKey="):
                key_part, sep, value_part = part.partition(",ParameterValue=")
                key, value = key_part.removeprefix("ParameterKey="), value_part
            else:
                key, sep, value = part.partition("=")
            if not sep or not key:
                raise SystemExit(f"--parameter-overrides: expected Key=Value, got {part!r}")
            overrides[key] = value
    return overrides


def _load_env_vars(path: str | None) -> dict[str, dict[str, Any]]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SystemExit(f"--env-vars: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SystemExit(f"--env-vars: {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise SystemExit('--env-vars: expected {"Parameters": {...}, "<LogicalId>": {...}}')
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley-local",
        description="Serve template.yaml locally: the HTTP API, the WebSocket API and its @connections API on one port.",
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1; any other than loopback prints a warning)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")), help="port (default 3000; 0 picks a free one)")
    parser.add_argument("--template", default="template.yaml", help="the SAM template (default template.yaml)")
    parser.add_argument("--env-vars", help="JSON file in SAM's --env-vars format; merged over the local profile")
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values, e.g. StageName=dev",
    )
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S, help="seconds before an idle connection closes (default 600)")
    parser.add_argument("--max-connection-duration", type=float, default=MAX_CONNECTION_S, help="seconds before any connection closes (default 7200)")
    parser.add_argument("--header-timeout", type=float, default=HEADER_TIMEOUT_S,
                        help="seconds a client has to send a request's headers (default 10)")
    parser.add_argument("--body-timeout", type=float, default=BODY_TIMEOUT_S,
                        help="seconds a client has, once its headers are in, to send the request's body; a slower "
                        "body gets 408 and the connection is closed (default 10)")
    parser.add_argument(
        "--functions-in",
        choices=[f.value for f in FunctionsIn],
        default=FunctionsIn.PROCESS.value if os.name == "posix" else FunctionsIn.THREADS.value,
        help="run the functions in a process of their own, apart from the gateway as on AWS (default where the OS "
        "can pass it a socket), or on the gateway's threads",
    )
    parser.add_argument("--log-level", default=os.environ.get("GATEWAY_LOG_LEVEL", "INFO"), help="the gateway's log level (default INFO)")
    return parser


async def serve(args: argparse.Namespace) -> int:
    warning = exposure_warning(args.host)
    if warning is not None:  # printed, whatever --log-level says
        print(f"parley-local: {warning}", file=sys.stderr, flush=True)
    env_vars, overrides, database = parley_profile()
    for key, values in _load_env_vars(args.env_vars).items():
        env_vars.setdefault(key, {}).update({k: str(v) for k, v in values.items()})
    overrides.update(parse_overrides(args.parameter_overrides))
    gateway = LocalGateway(
        args.template,
        host=args.host,
        port=args.port,
        env_vars=env_vars,
        parameter_overrides=overrides,
        stack_name=STACK_NAME,
        idle_timeout=args.idle_timeout,
        max_connection_duration=args.max_connection_duration,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        functions_in=FunctionsIn(args.functions_in),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start()
    except (TemplateError, HandlerLoadError, OSError) as exc:
        print(f"parley-local: {exc}", file=sys.stderr)
        return 1
    print(f"Parley is running (template {args.template})", flush=True)
    print(f"  HTTP:      {gateway.http_url}", flush=True)
    print(f"  WebSocket: {gateway.ws_url}?token=<JWT from POST /auth/login>", flush=True)
    print(f"  Database:  {database}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        print("Stopping: closing connections (each gets its $disconnect)…", flush=True)
        await gateway.stop()
    print("Stopped.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    raise SystemExit(asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
