"""The commands the README and docs/ tell a user to run exist as written: every ``make`` target is
one the Makefile defines, every script and file path named in a command is in the checkout, every
``python -m`` module imports, every ``cirrus`` subcommand is one the CLI has, and every link into
docs/ points at a file that exists. (The quick start itself runs end to end in tests/e2e.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from chalicelib import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _shell_lines() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for block in re.findall(r"```sh\n(.*?)```", doc.read_text(), flags=re.S):
            for line in block.splitlines():
                command = line.split("#", 1)[0].strip()
                if command:
                    out.append((doc.name, command))
    return out


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text() + (ROOT / "infra" / "Makefile.include").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))


def test_the_docs_have_shell_blocks():
    assert len(_shell_lines()) > 20


@pytest.mark.parametrize(("doc", "command"), _shell_lines())
def test_each_documented_command_exists(doc, command):
    words = command.split()
    if words[0] == "make":
        targets = [w for w in words[1:] if "=" not in w]
        assert set(targets) <= _make_targets(), (doc, command)
    for word in words:
        if re.fullmatch(r"(bench|tests|infra|devstack|chalicelib)/[\w./-]+\.(py|txt|json)", word):
            assert (ROOT / word).exists(), (doc, command, word)
    if "-m" in words and words[0].endswith("python"):
        module = words[words.index("-m") + 1]
        assert importlib.util.find_spec(module) is not None, (doc, command)
    cirrus = [i for i, w in enumerate(words) if w.endswith("bin/cirrus") or w == "cirrus"]
    if cirrus:
        sub = words[cirrus[0] + 1]
        assert sub in cli.build_parser()._subparsers._group_actions[0].choices, (doc, command)  # noqa: SLF001


def test_links_into_docs_point_at_files():
    for doc in DOCS:
        for target in re.findall(r"\]\(((?:docs/)?[\w-]+\.md)(?:#[\w-]+)?\)", doc.read_text()):
            base = ROOT if doc.name == "README.md" else ROOT / "docs"
            assert (base / target).exists(), (doc.name, target)
