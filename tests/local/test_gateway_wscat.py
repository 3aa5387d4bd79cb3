"""A client that is not Python: wscat (from the npm registry) against the real stack, non-interactively.

`make test` installs wscat into .tools/node. Without Node (or wscat) the test skips with the reason,
except under CI=true, where it must run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess

import httpx
import pytest



def find_wscat(repo_root) -> str | None:
    local = repo_root / ".tools" / "node" / "node_modules" / ".bin" / "wscat"
    if os.environ.get("WSCAT"):
        return os.environ["WSCAT"]
    if local.exists():
        return str(local)
    return shutil.which("wscat")


@pytest.fixture
def wscat(repo_root) -> str:
    reason = None
    if shutil.which("node") is None:
        reason = "Node.js is not installed (apt-get install nodejs npm), so wscat cannot run"
    elif (path := find_wscat(repo_root)) is None:
        reason = "wscat is not installed: run `make test` or `npm install --prefix .tools/node wscat@6`"
    if reason is None:
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, so the wscat test must run: {reason}")
    pytest.skip(reason)


async def run_wscat(wscat: str, url: str, *frames: str, wait: float = 1.5) -> tuple[int, list[str], str]:
    """Run wscat -c URL -x FRAME... -w WAIT; stdin stays open (wscat quits at once when it closes)."""
    args = [wscat, "--no-color", "-c", url, "-w", str(wait)]
    for frame in frames:
        args += ["-x", frame]
    process = await asyncio.create_subprocess_exec(
        *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
    lines = [line for line in stdout.decode().splitlines() if line.strip()]
    return process.returncode, lines, stderr.decode()


async def test_wscat_talks_to_parley(parley, wscat):
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        response = await http.post("/auth/signup", json={"username": "wscat_user", "password": "correct horse 1"})
        token = response.json()["token"]
    code, lines, stderr = await run_wscat(
        wscat,
        f"{parley.ws_url}?token={token}",
        json.dumps({"action": "join", "room": "general"}),
        json.dumps({"action": "ping"}),
        "not json",
    )
    assert code == 0, stderr
    frames = [json.loads(line) for line in lines]
    types = [f["type"] for f in frames]
    assert types == ["joined", "pong", "error"], lines
    assert frames[0]["users"][0]["username"] == "wscat_user"
    assert frames[2]["code"] == "invalid_json"


async def test_wscat_without_token_is_refused(parley, wscat):
    code, lines, stderr = await run_wscat(wscat, parley.ws_url, json.dumps({"action": "ping"}))
    assert code != 0
    assert "401" in stderr + "\n".join(lines)
