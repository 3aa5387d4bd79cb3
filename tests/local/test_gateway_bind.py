"""Issue 22, section 6: parley-local listens on loopback unless told otherwise, and says so loudly when told.

Nothing here listens beyond loopback: the warning is printed before the start, so a start that then fails
(its template is missing) shows it without a socket ever bound to another address."""

from __future__ import annotations

import logging
import re

import pytest

from parley_local.__main__ import build_parser, main
from parley_local.server import LocalGateway, exposure_warning


def test_the_default_address_is_loopback_in_the_cli_the_class_and_the_makefile(repo_root, monkeypatch):
    monkeypatch.delenv("HOST", raising=False)
    assert build_parser().parse_args([]).host == "127.0.0.1"
    assert LocalGateway().host == "127.0.0.1"
    assert re.search(r"^HOST \?= 127\.0\.0\.1$", (repo_root / "Makefile").read_text(), re.M)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_get_no_warning(host):
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "2001:db8::1"])
def test_any_other_address_gets_one(host):
    warning = exposure_warning(host)
    assert warning is not None and "not on loopback only" in warning and "127.0.0.1" in warning


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_parley_local_prints_the_warning_when_told_to_listen_everywhere(host, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("JWT_SECRET", raising=False)
    # main() configures logging; whatever it sets on the root logger is put back after this test
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    with pytest.raises(SystemExit) as exited:
        main(["--host", host, "--port", "0", "--template", str(tmp_path / "missing.yaml"), "--log-level", "CRITICAL"])
    assert exited.value.code == 1  # the missing template: nothing was served
    err = capsys.readouterr().err
    assert f"WARNING: listening on {host} (every network interface), not on loopback only" in err, err


def test_parley_local_prints_nothing_of_the_sort_on_loopback(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--host", "127.0.0.1", "--port", "0", "--template", str(tmp_path / "missing.yaml")])
    err = capsys.readouterr().err
    assert "WARNING" not in err and "missing.yaml" in err, err
