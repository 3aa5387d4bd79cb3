"""Run Lambda handlers of a template in this process, the way the Python Lambda runtime would.

Handlers are imported by file path from their CodeUri under unique module names (several functions
may each have an ``app.py``), with the function's directory and its layers on ``sys.path`` while the
module is imported. Invocations run in a thread pool, so a slow handler stalls no one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from .kit import HandlerLoadError, LambdaContext, handler_file, import_handler
from .cloudformation import REGION
from .sigv4 import StackCredentials
from .template import FunctionSpec

log = logging.getLogger("parley_local.lambda")

# Per-function variables Lambda sets; they cannot differ per function in one process, so they are not
# reported as conflicts (each function's LambdaContext still carries its own name, memory and ARN).
PER_FUNCTION_VARS = frozenset(
    {
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_TIMEOUT",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
        "AWS_EXECUTION_ENV",
    }
)


def fresh_credentials() -> StackCredentials:
    """A new access key, secret and session token for one run of the local stack (issue 22, section 6).

    The gateway accepts Invoke and ``@connections`` calls signed with these only, so whoever can sign with them
    can invoke a function with any authorizer context it likes. They are never written in the source, on a
    command line, in a file or in a log: the functions get them in their environment (on the gateway's threads)
    or over the socket pair to their own process (lambda_process.py)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    access_key = "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))  # the shape of STS temporary keys
    return StackCredentials(access_key, secrets.token_urlsafe(30), secrets.token_urlsafe(96))


class InvocationError(Exception):
    """An invocation failed the way Lambda reports it: errorType and errorMessage."""

    def __init__(self, error_type: str, error_message: str) -> None:
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message


def lambda_environment(spec: FunctionSpec, credentials: StackCredentials, region: str = REGION) -> dict[str, str]:
    """The variables the Lambda service sets for a function (SAM local sets the same fakes), with this run's
    credentials (``fresh_credentials``)."""
    return {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local/[$LATEST]local",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        "AWS_SAM_LOCAL": "true",
        # the local stack's credentials: the gateway's Invoke and @connections endpoints check signatures against them
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_SESSION_TOKEN": credentials.token or "",
    }


class Invoker(Protocol):
    """What the emulated APIs call a function through: FunctionHost here, or lambda_process.FunctionProcess."""

    async def invoke(self, logical_id: str, event: dict[str, Any], *, invoked: bool = False) -> Any:
        """The handler's result; raises InvocationError as Lambda reports a failure."""


@dataclass
class LoadedFunction:
    spec: FunctionSpec
    handler: Callable[[dict[str, Any], LambdaContext], Any]
    module: ModuleType


_OWN_DIR = Path(__file__).resolve().parent


def _modules_under(directories: list[Path]) -> dict[str, ModuleType]:
    """Modules imported from these directories (never the gateway's own, nor installed packages)."""
    found = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name == "__main__":
            continue
        path = Path(file).resolve()
        if path.is_relative_to(_OWN_DIR) or "site-packages" in path.parts:
            continue
        if any(path.is_relative_to(d) for d in directories):
            found[name] = module
    return found


def _forget_boto3_default_session() -> None:
    """A cold start on Lambda is a new process, so boto3's default session (and the credentials it resolved
    and keeps) starts afresh: here too, since every run of the gateway makes new keys (``fresh_credentials``)
    and a session of an earlier run in this process would sign with keys no longer accepted."""
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        boto3.DEFAULT_SESSION = None


class FunctionHost:
    """Imports a stack's handlers and invokes them off the event loop."""

    def __init__(self, functions: dict[str, FunctionSpec], *, max_workers: int = 32, instance: str = "0") -> None:
        self.specs = functions
        self.loaded: dict[str, LoadedFunction] = {}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda")
        # Functions invoked by other functions (the Lambda Invoke API) get threads of their own: on the same
        # pool, callers waiting on their invokes could hold every thread and the invokes would never start.
        self._invoked_executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda-invoked")
        self._instance = instance
        self._stashed: dict[str, ModuleType] = {}
        self._code_dirs = sorted({s.code_uri for s in functions.values()} | {d for s in functions.values() for d in s.layers})
        self._added_paths: list[str] = []

    # -- loading (the cold start of every function, all at once)
    def load_all(self, before_each: Callable[[FunctionSpec], None] | None = None) -> None:
        """Import every handler; a previous import of the same code is set aside first, so this is a cold start.

        ``before_each(spec)`` runs before each function's module is imported (to set its environment).
        """
        _forget_boto3_default_session()
        self._stashed = _modules_under(self._code_dirs)
        for name in self._stashed:
            del sys.modules[name]
        # layers are on sys.path for the whole run, as /opt/python is in Lambda
        for layer in sorted({d for s in self.specs.values() for d in s.layers}):
            if str(layer) not in sys.path:
                sys.path.append(str(layer))
                self._added_paths.append(str(layer))
        for logical_id, spec in self.specs.items():
            if before_each is not None:
                before_each(spec)
            self.loaded[logical_id] = self._load(spec)

    def _load(self, spec: FunctionSpec) -> LoadedFunction:
        file, attribute = handler_file(spec.code_uri, spec.handler, logical_id=spec.logical_id)
        module_name = f"_lambda_{self._instance}_{spec.logical_id}_{file.stem}"
        code_dir = str(spec.code_uri)
        # Sibling modules of another function's directory (same plain name) must not be reused.
        shadowed = {
            name: module
            for name, module in _modules_under([d for d in self._code_dirs if d != spec.code_uri and d not in spec.layers]).items()
            if "." not in name and (spec.code_uri / f"{name}.py").exists()
        }
        for name in shadowed:
            del sys.modules[name]
        sys.path.insert(0, code_dir)
        try:
            handler, module = import_handler(file, attribute, module_name=module_name, logical_id=spec.logical_id)
        finally:
            sys.path.remove(code_dir)
            sys.modules.update({k: v for k, v in shadowed.items() if k not in sys.modules})
        return LoadedFunction(spec=spec, handler=handler, module=module)

    def unload(self) -> None:
        """Forget the handlers' modules and give back whatever was imported before load_all()."""
        for name in list(_modules_under(self._code_dirs)):
            del sys.modules[name]
        for name in [n for n in sys.modules if n.startswith(f"_lambda_{self._instance}_")]:
            del sys.modules[name]
        sys.modules.update(self._stashed)
        for path in self._added_paths:
            if path in sys.path:
                sys.path.remove(path)
        self._added_paths = []
        self.loaded.clear()
        _forget_boto3_default_session()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._invoked_executor.shutdown(wait=False, cancel_futures=True)

    # -- invoking
    def context_for(self, logical_id: str) -> LambdaContext:
        spec = self.specs[logical_id]
        return LambdaContext(spec.function_name, arn=spec.arn, memory_mb=spec.memory_size, timeout_s=spec.timeout)

    async def invoke(self, logical_id: str, event: dict[str, Any], *, invoked: bool = False) -> Any:
        """Invoke a function with an event; raise InvocationError as Lambda would report a failure.
        ``invoked``: called through the Lambda Invoke API by another function (runs on its own threads).

        A handler still running when the function's Timeout passes is reported as timed out; its
        thread cannot be killed and finishes in the background.
        """
        function = self.loaded[logical_id]
        context = self.context_for(logical_id)
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        executor = self._invoked_executor if invoked else self._executor
        future = loop.run_in_executor(executor, _call, function.handler, event, context)
        try:
            result = await asyncio.wait_for(asyncio.shield(future), timeout=function.spec.timeout)
        except TimeoutError:
            log.warning(
                "%s request %s: Task timed out after %.2f seconds",
                logical_id,
                context.aws_request_id,
                function.spec.timeout,
            )
            raise InvocationError("Sandbox.Timedout", f"Task timed out after {function.spec.timeout:.2f} seconds") from None
        finally:
            log.debug("%s request %s: %.1f ms", logical_id, context.aws_request_id, (time.monotonic() - started) * 1000)
        return result


def _call(handler: Callable[..., Any], event: dict[str, Any], context: LambdaContext) -> Any:
    try:
        return handler(event, context)
    except Exception as exc:
        # Lambda logs the error with its type and message (never the event); so do we.
        log.error(
            "%s request %s failed: %s: %s",
            context.function_name,
            context.aws_request_id,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        raise InvocationError(type(exc).__name__, str(exc)) from exc


def apply_environment(values: dict[str, str]) -> dict[str, str | None]:
    """Set variables in os.environ; return the previous values so they can be restored."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
