"""requirements.txt (what Chalice packages for Lambda) and pyproject.toml must agree."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"{line!r} is not pinned with =="
        pins[name.strip().lower()] = version.strip()
    return pins


def test_requirements_txt_matches_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = _pins(pyproject["project"]["dependencies"])
    packaged = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert packaged == declared


def test_every_dev_dependency_is_pinned():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for extra, deps in pyproject["project"]["optional-dependencies"].items():
        _pins(deps)  # asserts each is pinned
        assert deps, extra
