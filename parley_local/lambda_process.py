"""The template's functions in a process of their own, apart from API Gateway, as on AWS.

``FunctionProcess`` starts ``python -m parley_local.lambda_process`` with one end of a socket pair. Over it go
frames of JSON, each after its length (4 bytes, big-endian): first the set-up (the template, its parameters,
every function's environment), answered by ``ready`` or by why loading failed; then invocations and their
results, matched by id. The child hosts the functions with ``lambda_runtime.FunctionHost``, on threads, so the
functions still share one embedded database; the gateway's process keeps API Gateway (sockets, routes,
``@connections``) and the two no longer take turns on one GIL. A result travels as JSON, so a handler that
returns something JSON cannot carry fails as Lambda's ``Runtime.MarshalError``.

If the child dies, every invocation waiting on it and every later one fails with ``Runtime.ExitError``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .kit import HandlerLoadError
from .lambda_runtime import FunctionHost, InvocationError, apply_environment
from .template import read_stack

log = logging.getLogger("parley_local.lambda")

_LENGTH = struct.Struct(">I")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Setup:
    """What the child needs to load the functions exactly as the gateway read them."""

    template: str
    parameter_overrides: dict[str, str]
    stack_name: str
    function_env: dict[str, dict[str, str]]
    process_env: dict[str, str]
    max_workers: int
    log_level: int


async def _read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next frame, or None when the other side closed the socket."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        return json.loads(await reader.readexactly(_LENGTH.unpack(head)[0]))
    except asyncio.IncompleteReadError:
        return None


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _LENGTH.pack(len(body)) + body


class FunctionProcess:
    """Invokes the functions in a child process; ``invoke`` has FunctionHost's contract."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._proc: subprocess.Popen | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._exited = False

    async def start(self) -> None:
        """Start the child and wait until every function is loaded; raise HandlerLoadError as loading would."""
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "parley_local.lambda_process", "--fd", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=os.environ.copy(),
            )
        finally:
            theirs.close()
        reader, self._writer = await asyncio.open_connection(sock=ours)
        self._writer.write(_frame({"setup": self.setup.__dict__}))
        answer = await asyncio.wait_for(_read_frame(reader), START_TIMEOUT_S)
        if answer is None or "ready" not in answer:
            failed = (answer or {}).get("failed") or {"type": "RuntimeError", "message": "the functions' process exited"}
            await self.stop()
            error = HandlerLoadError if failed["type"] == "HandlerLoadError" else RuntimeError
            raise error(failed["message"])
        self._reader_task = asyncio.get_running_loop().create_task(self._read_results(reader))

    async def invoke(self, logical_id: str, event: dict[str, Any], *, invoked: bool = False) -> Any:
        if self._exited or self._writer is None:
            raise InvocationError("Runtime.ExitError", "the functions' process is not running")
        self._next_id += 1
        call_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._writer.write(_frame({"id": call_id, "function": logical_id, "event": event, "invoked": invoked}))
            return await future
        finally:
            self._pending.pop(call_id, None)

    async def _read_results(self, reader: asyncio.StreamReader) -> None:
        while (message := await _read_frame(reader)) is not None:
            future = self._pending.get(message["id"])
            if future is None or future.done():
                continue
            if "error" in message:
                future.set_exception(InvocationError(message["error"]["errorType"], message["error"]["errorMessage"]))
            else:
                future.set_result(message["result"])
        self._exited = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(InvocationError("Runtime.ExitError", "the functions' process exited"))

    async def stop(self) -> None:
        """Close the socket (the child's cue to exit) and wait for it; kill it if it does not go."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)
            self._reader_task = None
        if self._proc is not None:
            proc, self._proc = self._proc, None
            try:
                await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)


# ---------------------------------------------------------------------- the child


async def _serve(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    first = await _read_frame(reader)
    if first is None:
        return
    setup = Setup(**first["setup"])
    logging.basicConfig(level=setup.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        stack = read_stack(Path(setup.template), setup.parameter_overrides, stack_name=setup.stack_name)
        host = FunctionHost(stack.functions, max_workers=setup.max_workers)
        host.load_all(before_each=lambda spec: os.environ.update(setup.function_env[spec.logical_id]))
        apply_environment(setup.process_env)
    except Exception as exc:  # reported to the gateway, which raises it where it was started
        writer.write(_frame({"failed": {"type": type(exc).__name__, "message": str(exc)}}))
        await writer.drain()
        return
    writer.write(_frame({"ready": True}))
    tasks: set[asyncio.Task] = set()
    while (request := await _read_frame(reader)) is not None:
        task = asyncio.get_running_loop().create_task(_answer(host.invoke, request, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    host.shutdown()


async def _answer(invoke: Callable[..., Awaitable[Any]], request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
    call_id = request["id"]
    try:
        result = await invoke(request["function"], request["event"], invoked=request["invoked"])
        answer = _frame({"id": call_id, "result": result})
    except InvocationError as exc:
        answer = _frame({"id": call_id, "error": {"errorType": exc.error_type, "errorMessage": exc.error_message}})
    except (TypeError, ValueError) as exc:  # the result is not JSON
        message = f"Unable to marshal response: {exc}"
        answer = _frame({"id": call_id, "error": {"errorType": "Runtime.MarshalError", "errorMessage": message}})
    if not writer.is_closing():
        writer.write(answer)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m parley_local.lambda_process")
    parser.add_argument("--fd", type=int, required=True, help="the socket the gateway passed")
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group, but the gateway still has $disconnects to run here while it
    # closes its connections: it ends this process by closing the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(socket.socket(fileno=args.fd)))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # handler threads that outlived their timeout must not hold the process open


if __name__ == "__main__":
    main()
