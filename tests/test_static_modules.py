"""Every ES module the page loads is published, as JavaScript, under the name that names it: app.js from
index.html, then each module any published module imports (so a file split off, such as startforms.js, cannot
be left unpublished), all as parley_local/page.py publishes the bucket's source directory (template.yaml's
PageBucket Metadata) for `make publish` and the local gateway."""

from __future__ import annotations

import posixpath
import re

from parley_local import page
from tests.support import ROOT

STATIC = ROOT / "functions" / "auth" / "static"
IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+["'](\./[\w.-]+\.js)["']""", re.MULTILINE)
HASHED = re.compile(r"static/([\w-]+)\.[0-9a-f]{10}\.js")


def test_every_module_the_page_imports_is_published_as_javascript():
    files = page.build(page.page_source(ROOT / "template.yaml"))
    index = files["index.html"]
    assert index.content_type.startswith("text/html") and index.cache_control == "no-cache"
    pending = re.findall(r'<script type="module" src="/(static/[\w.-]+\.js)"', index.body.decode())
    assert len(pending) == 1 and HASHED.fullmatch(pending[0]).group(1) == "app"
    served: set[str] = set()
    while pending:
        key = pending.pop()
        if key in served:
            continue
        assert key in files, key
        module = files[key]
        assert HASHED.fullmatch(key), f"{key} is not content-hashed"
        assert "javascript" in module.content_type, (key, module.content_type)
        assert module.cache_control == "public, max-age=31536000, immutable", key
        served.add(key)
        pending += [posixpath.normpath(posixpath.join("static", spec)) for spec in IMPORT.findall(module.body.decode())]
    names = {HASHED.fullmatch(k).group(1) for k in served}
    assert "startforms" in names and "conversations" in names
    unreached = {p.stem for p in STATIC.glob("*.js")} - names
    assert not unreached, f"modules in static/ that no published module imports: {sorted(unreached)}"
