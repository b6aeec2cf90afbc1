"""The local UI site: where a request goes (UI file, SPA fallback, /ui-settings, API under /api)."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from devstack import ui_bundle
from devstack.ui import Api, Static, UiSettings, UiSite, is_html_navigation

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Host": "127.0.0.1:8000"}
SCRIPT = {"Accept": "application/json, text/plain, */*", "Host": "127.0.0.1:8000"}


@pytest.fixture
def site(tmp_path: Path) -> UiSite:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>ui</html>")
    (tmp_path / "assets" / "index-abc.js").write_text("js")
    (tmp_path / "robots.txt").write_text("robots")
    (tmp_path.parent / "secret.txt").write_text("no")
    return UiSite(tmp_path)


def test_api_under_api_prefix_loses_the_prefix(site):
    assert site.route("POST", "/api/flows/filter", SCRIPT) == Api("/flows/filter")
    assert site.route("GET", "/api/health", BROWSER) == Api("/health")  # even from a browser
    assert site.route("GET", "/api", SCRIPT) == Api("/")


def test_api_at_the_root_for_scripts_and_every_write(site):
    assert site.route("GET", "/flows/abc", SCRIPT) == Api("/flows/abc")
    assert site.route("POST", "/flows/", BROWSER) == Api("/flows/")
    assert site.route("GET", "/health", {}) == Api("/health")


def test_browser_navigation_gets_the_spa(site):
    for path in ("/runs", "/flows/flow/123", "/events", "/variables", "/deployments/deployment/x"):
        answer = site.route("GET", path, BROWSER)
        assert isinstance(answer, Static) and answer.file == site.root / "index.html", path
    assert isinstance(site.route("GET", "/runs", {"Sec-Fetch-Mode": "navigate"}), Static)


def test_files_and_their_cache_headers(site):
    index = site.route("GET", "/", SCRIPT)
    assert isinstance(index, Static) and index.file == site.root / "index.html"
    assert index.headers["Content-Type"] == "text/html" and index.headers["Cache-Control"] == "no-cache"
    asset = site.route("GET", "/assets/index-abc.js", SCRIPT)
    assert asset.headers["Content-Type"] == "text/javascript" and "immutable" in asset.headers["Cache-Control"]
    assert site.route("HEAD", "/robots.txt", SCRIPT).file == site.root / "robots.txt"


def test_never_outside_the_root(site):
    assert site.route("GET", "/../secret.txt", SCRIPT) == Api("/../secret.txt")
    escaped = site.route("GET", "/assets/../../secret.txt", SCRIPT)
    assert isinstance(escaped, Static) and escaped.file == site.root / "index.html"


def test_ui_settings_point_the_ui_at_the_api_prefix(site):
    answer = site.route("GET", "/ui-settings", SCRIPT)
    body = json.loads(answer.body)
    assert body["api_url"] == "http://127.0.0.1:8000/api"
    assert body["auth"] is None and body["csrf_enabled"] is False and body["flags"] == []
    assert body["available_uis"] == ["v1"] and body["default_ui"] == "v1"
    keyed = UiSite(site.root, UiSettings(api_url="https://x.example/api", auth="BASIC"))
    body = json.loads(keyed.route("GET", "/ui-settings", SCRIPT).body)
    assert body == {**body, "api_url": "https://x.example/api", "auth": "BASIC"}


def test_html_navigation_test_is_prefects():
    assert is_html_navigation("GET", {"sec-fetch-dest": "document"})
    assert not is_html_navigation("POST", BROWSER)
    assert not is_html_navigation("GET", SCRIPT)


def _wheel(tmp_path: Path) -> Path:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr(
            "prefect/server/ui/index.html", '<script src="/PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER/a.js">'
        )
        archive.writestr("prefect/server/ui/assets/a.js", 'x="/PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER/b"')
        archive.writestr("prefect/server/ui/ico/i.png", b"\x89PNG/PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER")
        archive.writestr("prefect/__init__.py", "")
    wheel = tmp_path / "prefect.whl"
    wheel.write_bytes(data.getvalue())
    return wheel


def test_extract_replaces_the_base_placeholder_in_text_files_only(tmp_path):
    wheel = _wheel(tmp_path)
    target = tmp_path / "ui"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert ui_bundle.extract(wheel, target, sha256=digest) == 3
    assert (target / "index.html").read_text() == '<script src="/a.js">'
    assert (target / "assets" / "a.js").read_text() == 'x="/b"'
    assert (target / "ico" / "i.png").read_bytes().endswith(b"PLACEHOLDER")  # binary: untouched
    assert not (tmp_path / "ui" / "__init__.py").exists()
    assert ui_bundle.ui_dir({ui_bundle.UI_DIR_VARIABLE: str(target)}) == target


def test_extract_refuses_a_wheel_that_is_not_the_pinned_one(tmp_path):
    with pytest.raises(ui_bundle.NotInstalled, match="SHA-256"):
        ui_bundle.extract(_wheel(tmp_path), tmp_path / "ui")


def test_missing_ui_says_what_to_run(tmp_path):
    with pytest.raises(ui_bundle.NotInstalled, match="make ui"):
        ui_bundle.ui_dir({}, cache=tmp_path)


def test_missing_files_under_the_ui_folders_are_the_uis(site):
    answer = site.route("GET", "/assets/gone.js", SCRIPT)
    assert isinstance(answer, Static) and answer.file == site.root / "index.html"
    assert site.route("GET", "/assets", SCRIPT) == Api("/assets")  # the folder itself is not a UI path


def test_root_favicons_come_from_the_icon_folder(site):
    (site.root / "ico").mkdir()
    (site.root / "ico" / "favicon.ico").write_bytes(b"icon")
    answer = site.route("GET", "/favicon.ico", SCRIPT)
    assert isinstance(answer, Static) and answer.file == site.root / "ico" / "favicon.ico"
    assert site.route("GET", "/other.ico", SCRIPT) == Api("/other.ico")
