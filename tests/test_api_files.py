"""Artifact downloads: only this run's files, and nothing outside the artifact directory, ever.

Requests go through ``http.client`` so the raw path reaches the server exactly as written: httpx would
normalise ``..`` segments on the client side and hide what the server does with them.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api_state_factory import complete, make_state, serving, start_running

PREFIX = "/api/results/files/"

TRAVERSALS = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%252F..%252Fetc%252Fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "..%25252F..%25252Fetc%25252Fpasswd",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "%2fetc%2fpasswd",
    "sub/../../etc/passwd",
    "sub/../profile_export.json",
    "./profile_export.json",
    "sub//x.csv",
    "..%5C..%5Cetc%5Cpasswd",
    "..%5c..%5cetc%5cpasswd",
    "sub%5C..%5C..%5Cetc%5Cpasswd",
    "C:%5CWindows%5Cwin.ini",
    "profile_export.json%00.txt",
    "%00",
    "..",
    "escape-link",
    "escape-dir/passwd",
    "listed-escape-link",
]


@pytest.fixture
def served(tmp_path: Path):
    """A completed run whose artifact dir also holds a stale file from an earlier run and symlinks out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    artifact_dir = tmp_path / "artifacts"
    artifact_dir.mkdir()
    (artifact_dir / "stale_previous_run.json").write_text('{"old": true}')
    (artifact_dir / "profile_export.csv").write_text("from an earlier run\n")
    os.symlink(outside / "passwd", artifact_dir / "escape-link")
    os.symlink(outside / "passwd", artifact_dir / "listed-escape-link")
    os.symlink(outside, artifact_dir / "escape-dir")
    state = make_state(artifact_dir)
    start_running(state)
    complete(state, {"sub/x.csv": "a,b\n"})
    # The engine would never record these, but the server must not trust that it never will.
    state.artifact_files = [*state.artifact_files, "listed-escape-link"]
    with serving(state) as server:
        yield server, state


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("name", TRAVERSALS)
def test_names_leaving_the_artifact_directory_are_rejected_with_400(served, name: str) -> None:
    server, _ = served
    status, body = raw_get(server.url, PREFIX + name)
    assert status == 400, body
    assert b"root:x" not in body


def test_backslash_sent_unencoded_is_rejected(served) -> None:
    server, _ = served
    status, body = raw_get(server.url, PREFIX + "..\\..\\etc\\passwd")
    assert status == 400 and b"root:x" not in body


@pytest.mark.parametrize("name", ["nonexistent.json", "sub/nonexistent.csv", "stale_previous_run.json",
                                  "profile_export.csv"])
def test_files_this_run_did_not_write_are_404(served, name: str) -> None:
    server, _ = served
    status, body = raw_get(server.url, PREFIX + name)
    assert status == 404, body


def test_stale_files_of_an_earlier_run_are_never_listed(served) -> None:
    server, _ = served
    listing = httpx.get(server.url + "/api/results/list").json()
    assert {f["path"] for f in listing["files"]} == {"profile_export.json", "sub/x.csv"}


def test_this_runs_files_download_intact(served) -> None:
    server, state = served
    status, body = raw_get(server.url, PREFIX + "sub/x.csv")
    assert (status, body) == (200, b"a,b\n")
    status, body = raw_get(server.url, PREFIX + "sub%2Fx.csv")  # an encoded separator inside the dir is fine
    assert (status, body) == (200, b"a,b\n")
    assert (state.artifact_dir / "profile_export.json").read_bytes() == raw_get(
        server.url, PREFIX + "profile_export.json")[1]


def test_a_recorded_file_deleted_from_disk_is_404_and_unlisted(served) -> None:
    server, state = served
    (state.artifact_dir / "sub" / "x.csv").unlink()
    assert raw_get(server.url, PREFIX + "sub/x.csv")[0] == 404
    listing = httpx.get(server.url + "/api/results/list").json()
    assert [f["path"] for f in listing["files"]] == ["profile_export.json"]


def test_nothing_is_served_before_the_engine_records_a_file(tmp_path: Path) -> None:
    artifact_dir = tmp_path / "artifacts"
    artifact_dir.mkdir()
    (artifact_dir / "profile_export.json").write_text('{"from": "previous run"}')
    state = make_state(artifact_dir)
    start_running(state)
    with serving(state) as server:
        assert raw_get(server.url, PREFIX + "profile_export.json")[0] == 404
        listing = httpx.get(server.url + "/api/results/list").json()
        assert listing["files"] == [] and listing["ready"] is False


def test_a_listed_files_bare_name_downloads_it_as_its_path_does(served) -> None:
    """``/api/results/list`` gives each file's ``name`` (``inferload.log``) beside its ``path``
    (``logs/inferload.log``): the name of exactly one listed file downloads that file."""
    server, _ = served
    listing = httpx.get(server.url + "/api/results/list").json()
    listed = {f["name"]: f["path"] for f in listing["files"]}
    assert listed["x.csv"] == "sub/x.csv"
    assert raw_get(server.url, PREFIX + "x.csv") == (200, b"a,b\n")
    assert raw_get(server.url, PREFIX + "profile_export.csv")[0] == 404  # an earlier run's, never served
