"""The page's publishing tool (parley_local/page.py): content-hashed names in dependency order, rewritten
references, the Cache-Control per object, and the uploader against moto's S3."""

from __future__ import annotations

import re

import boto3
import pytest
from moto import mock_aws

from parley_local import page
from tests.support import ROOT

STATIC = ROOT / "functions" / "auth" / "static"


def _site(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


SITE = {
    "index.html": '<link rel="stylesheet" href="/static/style.css"><script type="module" src="/static/app.js"></script>'
    '<a href="#main">skip</a><img src="/static/favicon.svg">',
    "app.js": 'import { a } from "./a.js";\nimport {\n  b,\n} from "./b.js";\nimport "./side.js";\n'
    'export { c } from "./c.js";\nconst lazy = () => import("./lazy.js");\nfetch("/config.json");\n',
    "a.js": 'import { leaf } from "./leaf.js";\nexport const a = leaf;\n',
    "b.js": "export const b = 2;\n",
    "c.js": "export const c = 3;\n",
    "side.js": "window.side = 1;\n",
    "lazy.js": "export default 1;\n",
    "leaf.js": "export const leaf = 1;\n",
    "style.css": '@import "./more.css";\nbody { background: url(bg.svg) }\n',
    "more.css": "p { color: red }\n",
    "bg.svg": "<svg/>",
    "favicon.svg": "<svg>icon</svg>",
}


def _key(files, name: str) -> str:
    stem, ext = name.rsplit(".", 1)
    (key,) = [k for k in files if re.fullmatch(rf"static/{re.escape(stem)}\.[0-9a-f]{{10}}\.{ext}", k)]
    return key


def test_every_file_gets_a_content_hashed_name_and_every_reference_follows(tmp_path):
    files = page.build(_site(tmp_path, SITE))
    assert set(files) == {"index.html", "favicon.ico"} | {_key(files, n) for n in SITE if n != "index.html"}
    index = files["index.html"].body.decode()
    assert f'href="/{_key(files, "style.css")}"' in index and f'src="/{_key(files, "app.js")}"' in index
    assert f'src="/{_key(files, "favicon.svg")}"' in index and 'href="#main"' in index
    app = files[_key(files, "app.js")].body.decode()
    for name in ("a.js", "b.js", "side.js", "c.js", "lazy.js"):
        assert f'"./{_key(files, name).removeprefix("static/")}"' in app, name
    assert 'fetch("/config.json")' in app  # not a file of the page
    css = files[_key(files, "style.css")].body.decode()
    assert _key(files, "more.css").removeprefix("static/") in css and _key(files, "bg.svg").removeprefix("static/") in css


def test_cache_control_and_content_types():
    files = page.build(STATIC)
    assert files["index.html"].cache_control == "no-cache"
    assert files["index.html"].content_type == "text/html; charset=utf-8"
    assert files["favicon.ico"].content_type == "image/svg+xml" and files["favicon.ico"].cache_control == "no-cache"
    hashed = [f for k, f in files.items() if k.startswith("static/")]
    assert hashed and all(f.cache_control == "public, max-age=31536000, immutable" for f in hashed)
    assert files[_key(files, "app.js")].content_type == "text/javascript; charset=utf-8"
    assert files[_key(files, "style.css")].content_type == "text/css; charset=utf-8"


def test_a_changed_module_renames_itself_and_every_importer_but_nothing_else(tmp_path):
    before = page.build(_site(tmp_path, SITE))
    (tmp_path / "leaf.js").write_text("export const leaf = 2;\n")
    after = page.build(tmp_path)
    changed = {n for n in SITE if n != "index.html" and _key(before, n) != _key(after, n)}
    assert changed == {"leaf.js", "a.js", "app.js"}  # leaf, its importer, and the importer's importer
    assert after["index.html"].body != before["index.html"].body


def test_a_name_is_the_hash_of_the_published_bytes(tmp_path):
    import hashlib

    for key, f in page.build(_site(tmp_path, SITE)).items():
        if key.startswith("static/"):
            assert key.split(".")[-2] == hashlib.sha256(f.body).hexdigest()[:10], key


def test_a_cycle_or_a_missing_module_is_refused(tmp_path):
    site = _site(tmp_path / "cycle", {"index.html": '<script src="/static/x.js"></script>',
                                       "x.js": 'import "./y.js";\n', "y.js": 'import { x } from "./x.js";\n'})
    with pytest.raises(page.PageError, match="cycle"):
        page.build(site)
    site = _site(tmp_path / "missing", {"index.html": "", "x.js": 'import { gone } from "./gone.js";\n'})
    with pytest.raises(page.PageError, match="gone.js"):
        page.build(site)
    site = _site(tmp_path / "html", {"index.html": '<script src="/static/gone.js"></script>'})
    with pytest.raises(page.PageError, match="gone.js"):
        page.build(site)


def test_the_real_page_builds_and_names_only_hashed_files():
    files = page.build(STATIC)
    index = files["index.html"].body.decode()
    referenced = re.findall(r'(?:src|href)="/(static/[^"]+)"', index)
    assert referenced and all(r in files for r in referenced)
    assert not re.search(r'"/static/[\w-]+\.(js|css|svg)"', index)  # no unhashed name is left


def test_the_bucket_metadata_names_the_page_source():
    assert page.page_source(ROOT / "template.yaml") == STATIC


@mock_aws
def test_upload_puts_each_object_with_its_headers_and_skips_hashed_ones_already_there(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="parley-page")
    files = page.build(_site(tmp_path, SITE))
    put = page.upload(files, "parley-page", s3)
    assert sorted(put) == sorted(files) and put[-1] == "index.html"  # index last: its files exist before it
    app = _key(files, "app.js")
    head = s3.head_object(Bucket="parley-page", Key=app)
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["ContentType"] == "text/javascript; charset=utf-8"
    assert s3.get_object(Bucket="parley-page", Key=app)["Body"].read() == files[app].body
    assert s3.head_object(Bucket="parley-page", Key="index.html")["CacheControl"] == "no-cache"
    (tmp_path / "b.js").write_text("export const b = 22;\n")
    again = page.build(tmp_path)
    put = page.upload(again, "parley-page", s3)
    assert sorted(put) == sorted(["index.html", "favicon.ico", _key(again, "b.js"), _key(again, "app.js")])
    assert s3.head_object(Bucket="parley-page", Key=app)  # the old module stays for pages loaded before


@mock_aws
def test_publish_deletes_a_file_only_once_no_page_has_named_it_for_keep_days(tmp_path):
    from datetime import datetime, timedelta, timezone

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="parley-page")
    s3.put_object(Bucket="parley-page", Key="static/ancient.0123456789.js", Body=b"1")  # from before releases
    day = timedelta(days=1)
    t0 = datetime(2026, 12, 1, tzinfo=timezone.utc)

    def publish(b_text: str, when: datetime) -> tuple[dict, list[str]]:
        (tmp_path / "b.js").write_text(b_text)
        files = page.build(_site(tmp_path, {k: v for k, v in SITE.items() if k != "b.js"} | {"b.js": b_text}))
        page.upload(files, "parley-page", s3)
        return files, page.prune(files, "parley-page", s3, keep_days=7, now=when)

    def keys() -> set[str]:
        return {o["Key"] for o in s3.list_objects_v2(Bucket="parley-page").get("Contents", [])}

    first, deleted = publish("export const b = 1;\n", t0)
    assert deleted == [] and "static/ancient.0123456789.js" in keys()  # releases begin now: kept a week
    second, deleted = publish("export const b = 2;\n", t0 + 6 * day)
    old_b, old_app = _key(first, "b.js"), _key(first, "app.js")
    assert deleted == [] and {old_b, old_app} <= keys()  # the first page was live until a moment ago
    third, deleted = publish("export const b = 3;\n", t0 + 8 * day)
    # the untracked file: unnamed since the first release, 8 days ago; the first page's own files were named
    # until the second release, 2 days ago, so they stay
    assert deleted == ["static/ancient.0123456789.js"]
    assert {old_b, old_app} <= keys()
    fourth, deleted = publish("export const b = 3;\n", t0 + 13 * day + timedelta(minutes=1))
    assert sorted(deleted) == sorted({old_b, old_app})  # superseded 7 days and a minute ago
    assert set(third) <= keys() and _key(second, "b.js") in keys()  # the second page: superseded 5 days ago
    assert all(k in keys() for k in fourth)
    assert len([k for k in keys() if k.startswith(page.RELEASES)]) == 3  # the first release is gone too
