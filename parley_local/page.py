"""The web page as the bucket holds it: content-hashed names, the Cache-Control each file is served with.

No build step: ``build(source)`` reads a directory of plain files (index.html, CSS, ES modules, images) and
returns the objects to publish, in memory. Every file but index.html is published under
``static/<name>.<hash><ext>`` with ``Cache-Control: public, max-age=31536000, immutable``; index.html (and
``favicon.ico``, the name browsers ask for on their own) keep their names and are served ``no-cache``, so a
browser revalidates them on every load and finds a new deploy at once.

A file's hash is of its published bytes, after its references were rewritten to the hashed names: a module
that imports a changed module changes too, so files are hashed in dependency order (the reference graph must
be acyclic). An import map would avoid that, but it is an inline script, which the page's CSP
(``script-src 'self'``) forbids; so specifiers are rewritten instead. What is rewritten:

- ES modules: ``import … from "./x.js"``, ``export … from "./x.js"``, ``import "./x.js"`` and
  ``import("./x.js")`` with a relative specifier (bare and absolute URLs are left alone);
- CSS: ``url(…)`` and ``@import "…"`` naming a file of the directory;
- index.html: ``src``/``href`` attributes naming ``/static/<file>``.

A relative reference to a file that is not in the directory is an error (the page would break), as is a cycle.

The same objects are served by the local gateway (parley_local/cloudfront.py) and uploaded by
``python -m parley_local.page publish`` (tools of this module; boto3 only there). It knows files and URLs,
nothing of the chat.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import posixpath
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ENTRY = "index.html"
PREFIX = "static/"  # where every other file is published, under its hashed name
KEEP_DAYS = 7.0  # how long a published file outlives the last page that named it (make publish deletes it then)
RELEASES = "releases/"  # one object per publish: the keys its page named (see prune)
FAVICON = "favicon.ico"  # published as a copy of favicon.svg / favicon.ico when the directory has one
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASH_CHARS = 10

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}
_JS = (".js", ".mjs")

# import/export … from "spec" (across lines), import "spec", import("spec")
_JS_REFS = [
    re.compile(r"""^[ \t]*(?:import|export)\b[^;"'`]*?\bfrom\s*(["'])(?P<spec>[^"'\n]+)\1""", re.MULTILINE),
    re.compile(r"""^[ \t]*import\s*(["'])(?P<spec>[^"'\n]+)\1""", re.MULTILINE),
    re.compile(r"""\bimport\(\s*(["'])(?P<spec>[^"'\n]+)\1\s*\)"""),
]
_CSS_REFS = [
    re.compile(r"""url\(\s*(["']?)(?P<spec>[^"')\s]+)\1\s*\)"""),
    re.compile(r"""@import\s+(["'])(?P<spec>[^"'\n]+)\1"""),
]
_HTML_REFS = [re.compile(r"""\b(?:src|href)\s*=\s*(["'])(?P<spec>/static/[^"'\s]+)\1""")]


class PageError(ValueError):
    """The directory cannot be published as it is (a broken reference, a cycle)."""


@dataclass(frozen=True)
class PageFile:
    key: str  # the object's key, the URL path without its leading slash
    body: bytes
    content_type: str
    cache_control: str

    @property
    def etag(self) -> str:
        """S3's ETag of a single-part upload: the quoted MD5 of the body."""
        return '"' + hashlib.md5(self.body, usedforsecurity=False).hexdigest() + '"'


def content_type(name: str) -> str:
    suffix = posixpath.splitext(name)[1].lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _patterns(name: str) -> list[re.Pattern[str]]:
    if name == ENTRY:
        return _HTML_REFS
    suffix = posixpath.splitext(name)[1].lower()
    return _JS_REFS if suffix in _JS else _CSS_REFS if suffix == ".css" else []


def _target(name: str, spec: str, files: set[str]) -> str | None:
    """The file of the directory that ``spec`` (in file ``name``) refers to, or None when it is not a local one."""
    path = re.split(r"[?#]", spec, maxsplit=1)[0]
    if not path or re.match(r"^[a-z][a-z0-9+.-]*:|^//", spec, re.IGNORECASE):
        return None  # another site, data:, a fragment
    if path.startswith("/static/"):
        found = posixpath.normpath(path[len("/static/"):])
    elif path.startswith("/"):
        return None  # the site's own URL, not a file of the page (an API path, /favicon.ico)
    elif path.startswith(("./", "../")) or posixpath.splitext(name)[1].lower() == ".css":
        found = posixpath.normpath(posixpath.join(posixpath.dirname(name), path))
    else:
        return None  # a bare module specifier: not a file (and nothing the browser resolves without an import map)
    if found not in files or found == ENTRY:
        raise PageError(f"{name}: {spec!r} names no file of the page's directory")
    return found


def _references(name: str, text: str, files: set[str]) -> list[tuple[int, int, str]]:
    """(start, end, target) of each reference's specifier in ``text``."""
    found = []
    for pattern in _patterns(name):
        for match in pattern.finditer(text):
            target = _target(name, match.group("spec"), files)
            if target is not None:
                found.append((match.start("spec"), match.end("spec"), target))
    found.sort()
    return [ref for i, ref in enumerate(found) if i == 0 or ref[0] != found[i - 1][0]]


def _hashed_name(name: str, body: bytes) -> str:
    stem, ext = posixpath.splitext(name)
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:HASH_CHARS]}{ext}"


def _spec_for(name: str, spec: str, target_key: str) -> str:
    """The specifier ``spec`` (in ``name``) rewritten to the object ``target_key``, in the same style."""
    path = re.split(r"[?#]", spec, maxsplit=1)[0]
    tail = spec[len(path):]
    if path.startswith("/"):
        return "/" + target_key + tail
    relative = posixpath.relpath(target_key, posixpath.dirname(PREFIX + name))
    if path.startswith("./") and not relative.startswith("../"):
        relative = "./" + relative
    return relative + tail


def build(source: str | Path) -> dict[str, PageFile]:
    """The objects to publish for the page in ``source``, by key (index.html, favicon.ico, static/…)."""
    root = Path(source)
    if not (root / ENTRY).is_file():
        raise PageError(f"{root}: no {ENTRY}")
    raw = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }
    names = set(raw)
    refs = {}
    for name, body in raw.items():
        if _patterns(name):
            text = body.decode("utf-8")
            refs[name] = (text, _references(name, text, names))
    keys: dict[str, str] = {}  # source name -> published key
    published: dict[str, PageFile] = {}
    visiting: list[str] = []

    def publish(name: str) -> None:
        if name in keys:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name):] + [name]
            raise PageError(
                "the page's files refer to each other in a cycle (" + " -> ".join(cycle) + "): content hashes "
                "need an acyclic graph (an import map would not, but the CSP forbids inline scripts)"
            )
        visiting.append(name)
        body = raw[name]
        if name in refs:
            text, found = refs[name]
            for _, _, target in found:
                publish(target)
            out, at = [], 0
            for start, end, target in found:
                out += [text[at:start], _spec_for(name, text[start:end], keys[target])]
                at = end
            body = ("".join(out) + text[at:]).encode("utf-8")
        visiting.pop()
        if name == ENTRY:
            keys[name] = ENTRY
            published[ENTRY] = PageFile(ENTRY, body, content_type(ENTRY), REVALIDATE)
            return
        key = PREFIX + _hashed_name(name, body)
        keys[name] = key
        published[key] = PageFile(key, body, content_type(name), IMMUTABLE)

    for name in sorted(raw):
        publish(name)
    icon = next((n for n in ("favicon.ico", "favicon.svg") if n in raw), None)
    if icon is not None:  # browsers ask for /favicon.ico by themselves: a stable name, revalidated
        published[FAVICON] = PageFile(FAVICON, raw[icon], content_type(icon), REVALIDATE)
    return published


def write(files: dict[str, PageFile], out: str | Path) -> Path:
    """Write the objects under ``out`` (and ``page-manifest.json``: each key's Content-Type and Cache-Control)."""
    out = Path(out)
    for key, f in files.items():
        path = out / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.body)
    manifest = {k: {"ContentType": f.content_type, "CacheControl": f.cache_control} for k, f in sorted(files.items())}
    (out / "page-manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


# ---------------------------------------------------------------------------- publishing


def upload(files: dict[str, PageFile], bucket: str, s3: Any) -> list[str]:
    """Put the objects into ``bucket`` with their Content-Type and Cache-Control; returns the keys put.

    Hashed objects already in the bucket are skipped (their name is their content). They go first and
    index.html last, so a browser never gets an index naming a file not there yet. Nothing is deleted here: a
    page loaded before this deploy may still fetch the modules it names (``prune`` removes them later)."""
    present: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        present.update(o["Key"] for o in page.get("Contents") or [])
    order = sorted(files, key=lambda k: (k == ENTRY, k))
    put = []
    for key in order:
        f = files[key]
        if f.cache_control == IMMUTABLE and key in present:
            continue
        s3.put_object(Bucket=bucket, Key=key, Body=f.body, ContentType=f.content_type, CacheControl=f.cache_control)
        put.append(key)
    return put


def _release_key(when: datetime) -> str:
    return f"{RELEASES}{when.astimezone(timezone.utc):%Y-%m-%dT%H-%M-%S.%fZ}.json"


def _release_time(key: str) -> datetime:
    return datetime.strptime(key[len(RELEASES):], "%Y-%m-%dT%H-%M-%S.%fZ.json").replace(tzinfo=timezone.utc)


def _keys_under(s3: Any, bucket: str, prefix: str) -> list[dict]:
    found: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += page.get("Contents") or []
    return found


def prune(files: dict[str, PageFile], bucket: str, s3: Any, *, keep_days: float,
          now: datetime | None = None) -> list[str]:
    """Record this page as a release, then delete the hashed files no page has named for ``keep_days``.

    Each publish writes ``releases/<time>.json``, the keys its page names; a release is live until the next one.
    A file is kept while the current page or a release superseded less than ``keep_days`` ago names it, so a
    page loaded before a deploy keeps working that long. A file no release names (put before releases were
    recorded) goes once the first release is older than ``keep_days``. Releases superseded longer ago are deleted
    too. index.html and favicon.ico are never deleted (each publish overwrites them). Returns the keys deleted."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=keep_days)
    s3.put_object(Bucket=bucket, Key=_release_key(now), Body=json.dumps(sorted(files)).encode(),
                  ContentType="application/json", CacheControl=REVALIDATE)
    releases = sorted(o["Key"] for o in _keys_under(s3, bucket, RELEASES))
    named: dict[str, bool] = {}  # key -> still needed
    expired = []
    for key, successor in zip(releases, [*releases[1:], None]):
        live = successor is None or _release_time(successor) > cutoff
        if not live:
            expired.append(key)
        for name in json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()):
            named[name] = named.get(name, False) or live
    untracked_expired = _release_time(releases[0]) < cutoff
    stale = [k for k in (o["Key"] for o in _keys_under(s3, bucket, PREFIX)) if k not in files
             and (not named[k] if k in named else untracked_expired)]
    doomed = stale + expired
    for start in range(0, len(doomed), 1000):  # DeleteObjects takes at most 1,000 keys
        chunk = doomed[start:start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
    return stale


def page_source(template_path: str | Path) -> Path:
    """The page's source directory, from the bucket's ``Metadata: {LocalGateway: {PageSource: dir}}``."""
    from .cloudformation import load_template

    template_path = Path(template_path).resolve()
    for resource in (load_template(template_path).get("Resources") or {}).values():
        source = ((resource.get("Metadata") or {}).get("LocalGateway") or {})
        if isinstance(source, dict) and "PageSource" in source:
            return (template_path.parent / str(source["PageSource"])).resolve()
    raise PageError(f"{template_path}: no resource has Metadata LocalGateway: PageSource")


def _stack_name(default: str | None) -> str | None:
    """--stack-name, else samconfig.toml's (what `sam deploy --guided` saved)."""
    if default:
        return default
    config = Path("samconfig.toml")
    if config.is_file():
        import tomllib

        params = (tomllib.loads(config.read_text()).get("default") or {}).get("deploy", {}).get("parameters", {})
        return params.get("stack_name")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_local.page", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the published objects to a directory (to look at them)")
    b.add_argument("out")
    b.add_argument("--template", default="template.yaml")
    p = sub.add_parser("publish", help="upload the page to the stack's bucket (after sam deploy)")
    p.add_argument("--template", default="template.yaml")
    p.add_argument("--stack-name", help="default: samconfig.toml's stack_name")
    p.add_argument("--region", help="default: samconfig.toml's, else the AWS profile's")
    p.add_argument("--bucket", help="the bucket (default: the stack's PageBucketName output)")
    p.add_argument("--keep-days", type=float, default=KEEP_DAYS,
                   help=f"delete files no page has named for this long (default {KEEP_DAYS:g})")
    args = parser.parse_args(argv)
    files = build(page_source(args.template))
    if args.command == "build":
        print(write(files, args.out))
        return 0
    import boto3

    region = args.region
    if region is None and Path("samconfig.toml").is_file():
        import tomllib

        region = ((tomllib.loads(Path("samconfig.toml").read_text()).get("default") or {})
                  .get("deploy", {}).get("parameters", {}).get("region"))
    session = boto3.session.Session(region_name=region)
    bucket, url = args.bucket, None
    if bucket is None:
        stack = _stack_name(args.stack_name)
        if not stack:
            parser.error("no --stack-name and no samconfig.toml: say which stack's bucket to publish to")
        outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        bucket, url = values["PageBucketName"], values.get("PageUrl")
    s3 = session.client("s3")
    put = upload(files, bucket, s3)
    pruned = prune(files, bucket, s3, keep_days=args.keep_days)
    print(f"published {len(put)} of {len(files)} objects to s3://{bucket}, deleted {len(pruned)} older than "
          f"{args.keep_days:g} days" + (f"; the page: {url}" if url else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
