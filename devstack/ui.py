"""Prefect's UI beside the API on one port, as ``prefect server start`` serves it.

The local front asks :meth:`UiSite.route` first for every request; it answers one of

- ``Api(path)``: hand the request to the API with this path. Requests under ``/api`` are the API
  with the prefix stripped: the UI calls the API there (its ``api_url``), as it does on Prefect's
  own server and on the deployed distribution (which routes ``/api/*`` to API Gateway), so none of
  its calls can collide with a UI page. Everything else that is not the UI's stays the API at the
  root, where Prefect clients with ``PREFECT_API_URL=http://127.0.0.1:8000`` call it.
- ``Static``: a file of the UI (``/``, ``/assets/…``, ``/ico/…``), the SPA's ``index.html`` for an
  HTML navigation (a browser opening ``/runs`` or ``/flows/flow/<id>``: ``Sec-Fetch-Mode:
  navigate`` or ``Accept: text/html``, Prefect's own test), or ``/ui-settings``.

The decision needs no I/O but a ``stat``; the files are read by the front.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

API_PREFIX = "/api"
UI_SETTINGS_PATH = "/ui-settings"
INDEX = "index.html"
#: Built assets carry a content hash in their names: cache them for good; everything else revalidates.
IMMUTABLE_DIR = "assets"
#: Where the build keeps its icons.
ICONS = "ico"


@dataclass(frozen=True)
class Api:
    path: str


@dataclass(frozen=True)
class Static:
    status: int
    headers: dict[str, str]
    body: bytes | None = None
    file: Path | None = None


@dataclass(frozen=True)
class UiSettings:
    """What ``/ui-settings`` answers (Prefect's ``UISettings``); ``api_url`` None: this host + ``/api``."""

    api_url: str | None = None
    auth: str | None = None  # "BASIC" when the API wants a key (the UI then asks for it)
    csrf_enabled: bool = False
    flags: list[str] = field(default_factory=list)

    def document(self, host: str | None, scheme: str = "http") -> dict[str, object]:
        api_url = self.api_url or f"{scheme}://{host or '127.0.0.1'}{API_PREFIX}"
        return {
            "api_url": api_url,
            "csrf_enabled": self.csrf_enabled,
            "auth": self.auth,
            "flags": list(self.flags),
            "default_ui": "v1",
            "available_uis": ["v1"],
            "v1_base_url": "/",
            "v2_base_url": None,
        }


def is_html_navigation(method: str, headers: Mapping[str, str]) -> bool:
    """Prefect's test (``_is_html_navigation``): a browser loading a page, not a script calling the API."""
    if method not in ("GET", "HEAD"):
        return False
    lower = {k.lower(): v for k, v in headers.items()}
    if lower.get("sec-fetch-mode") == "navigate" or lower.get("sec-fetch-dest") in ("document", "iframe"):
        return True
    return "text/html" in lower.get("accept", "").lower()


class UiSite:
    def __init__(self, root: Path, settings: UiSettings | None = None) -> None:
        self.root = root.resolve()
        self.settings = settings or UiSettings()
        if not (self.root / INDEX).is_file():
            raise FileNotFoundError(f"no {INDEX} in {self.root}")
        #: The UI's top-level folders; the API has no path under them.
        self.folders = frozenset(p.name for p in self.root.iterdir() if p.is_dir())

    def route(self, method: str, path: str, headers: Mapping[str, str]) -> Api | Static:
        """Where a request goes; ``path`` without the query string."""
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return Api(path[len(API_PREFIX) :] or "/")
        if method not in ("GET", "HEAD"):
            return Api(path)
        if path == UI_SETTINGS_PATH:
            host = {k.lower(): v for k, v in headers.items()}.get("host")
            body = json.dumps(self.settings.document(host)).encode()
            return Static(200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, body=body)
        file = self._file(path) or self._root_icon(path)
        if file is not None:
            return self._file_response(file)
        if is_html_navigation(method, headers) or self._in_ui_folder(path):
            return self._file_response(self.root / INDEX)
        return Api(path)

    def _root_icon(self, path: str) -> Path | None:
        """``/favicon.ico`` and ``/favicon-dark.ico``: the UI's page links them at the root, its build
        keeps them in ``ico/`` (Prefect's server answers them with its SPA fallback)."""
        name = path.lstrip("/")
        if not name.endswith(".ico") or "/" in name:
            return None
        return self._file(f"/{ICONS}/{name}")

    def _in_ui_folder(self, path: str) -> bool:
        """A path under one of the UI's own folders (``/assets/…``, ``/ico/…``): the UI's, even when
        no such file exists (Prefect answers those with ``index.html`` too: the UI asks for
        ``/ico/undefined.svg`` while a run's state is loading)."""
        first = path.lstrip("/").split("/", 1)[0]
        return "/" in path.lstrip("/") and first in self.folders

    def _file(self, path: str) -> Path | None:
        relative = PurePosixPath(path.lstrip("/"))
        if ".." in relative.parts:
            return None
        target = self.root / relative if str(relative) not in ("", ".") else self.root / INDEX
        try:
            target = target.resolve()
        except OSError:
            return None
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target

    def _file_response(self, file: Path) -> Static:
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix == ".js":
            kind = "text/javascript"  # some platforms' tables say text/plain
        relative = file.relative_to(self.root)
        immutable = relative.parts[:1] == (IMMUTABLE_DIR,)
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return Static(200, {"Content-Type": kind, "Cache-Control": cache}, file=file)
