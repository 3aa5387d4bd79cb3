"""`make run` the way a new user runs it: start it, wait for /health, sign up, connect, press Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(600)  # a first run may still have to create the virtual environment
def test_make_run(repo_root, tmp_path):
    if shutil.which("make") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but make is not installed")
        pytest.skip("make is not installed")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "JWT_SECRET", "MAKEFLAGS", "MFLAGS")}
    env.update(PORT=str(port), HOST="127.0.0.1", PYTHONUNBUFFERED="1")
    log = (tmp_path / "make-run.log").open("w+b")
    # its own process group, so SIGINT reaches make and the gateway together, as Ctrl-C in a terminal does
    process = subprocess.Popen(
        ["make", "run"], cwd=repo_root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 540
        while True:
            assert process.poll() is None, f"make run exited early:\n{(tmp_path / 'make-run.log').read_text()}"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "make run did not answer /health in time"
            time.sleep(0.3)

        page = httpx.get(f"{base}/")  # the page as CloudFront serves it from the bucket: hashed names, their caching
        assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
        (app,) = re.findall(r'src="(/static/app\.[0-9a-f]{10}\.js)"', page.text)
        assert httpx.get(f"{base}{app}").headers["cache-control"] == "public, max-age=31536000, immutable"
        config = httpx.get(f"{base}/config.json").json()
        assert config["websocketUrl"] == f"ws://127.0.0.1:{port}/prod"
        token = httpx.post(f"{base}/auth/signup", json={"username": "newcomer", "password": "correct horse 1"}).json()["token"]
        with connect(f"{config['websocketUrl']}?token={token}") as ws:
            ws.send(json.dumps({"action": "ping"}))
            assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
            os.killpg(process.pid, signal.SIGINT)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=20)
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (1001, "Going away")
        returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    output = (tmp_path / "make-run.log").read_text()
    # make itself dies of the SIGINT it was sent (as it does on Ctrl-C); the gateway stopped in order
    assert returncode in (0, -signal.SIGINT), output
    for expected in (
        f"HTTP:      http://127.0.0.1:{port}",
        f"WebSocket: ws://127.0.0.1:{port}/prod",
        "embedded in-memory database (mongomock)",
        "Stopped.",
    ):
        assert expected in output, output
    assert "Traceback" not in output, output
    assert token not in output  # tokens never reach the logs
