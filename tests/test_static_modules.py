"""Every ES module the page loads is served by AuthFunction as JavaScript: app.js from index.html, then each
module any served module imports (so a file split off, such as startforms.js, cannot be left unserved)."""

from __future__ import annotations

import re

from tests.support import ROOT

STATIC = ROOT / "functions" / "auth" / "static"
IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+["']\./([\w.-]+\.js)["']""", re.MULTILINE)


def test_every_module_the_page_imports_is_served_as_javascript(stack):
    status, page, _ = stack.http("GET", "/")
    assert status == 200
    pending = re.findall(r'<script type="module" src="/static/([\w.-]+\.js)"', page)
    assert pending == ["app.js"]
    served: set[str] = set()
    while pending:
        name = pending.pop()
        if name in served:
            continue
        status, body, headers = stack.http("GET", f"/static/{name}")
        assert status == 200, name
        assert "javascript" in headers["content-type"], (name, headers["content-type"])
        served.add(name)
        pending += IMPORT.findall(body)
    assert "startforms.js" in served and "conversations.js" in served
    unreached = {p.name for p in STATIC.glob("*.js")} - served
    assert not unreached, f"modules in static/ that no served module imports: {sorted(unreached)}"
