"""The repository stands alone: no file of it reaches above its root.

Whoever clones Sajja has nothing beside it, so a path that climbs out of the repository (``../x``
from the root, ``Path(__file__).parents[n]`` or ``.parent`` chains past it, nested
``os.path.dirname(__file__)``) works only on the machine it was written on. The scan walks every
file a clone has (what ``.gitignore`` leaves out is skipped) and resolves each such path: in
documents and configuration (Markdown, YAML such as compose files, TOML, INI) relative to the
file's own folder, as their readers do; a shell script's ``$(dirname "$0")/..`` relative to the
script; in code, relative to the root, where ``make``, pytest and the CLI run. This file is left
out of the scan: its examples climb out on purpose, and the scan's own test checks them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Folders a clone does not have (``.gitignore``) or that are not the project's text.
SKIPPED_DIRS = {".git", ".venv", "venv", ".sajja", "__pycache__", ".pytest_cache", "node_modules", "build", "dist"}

#: Files of the workplace the project was written in; a clone has none of them.
OUTSIDE_NAMES = ("DESIGN" + ".md", "STYLE" + ".md", "seed" + "_facts.json", "shared" + "/seeds", "shared" + "/docs/")

#: Kinds of file whose relative paths are read from the file's own folder.
RELATIVE_TO_ITSELF = {".md", ".rst", ".yaml", ".yml", ".toml", ".ini", ".cfg"}
#: Runs of ``..`` path components: ``../``, ``../../x``, or a trailing ``/..``. Not an ellipsis.
UP = re.compile(r"(?:(?<![.\w])|(?<=/))((?:\.\.(?:/|(?=[\s\"'`)\]]|$)))+)")
#: A shell script's own folder, in front of a relative path.
SCRIPT_DIR = re.compile(r"(?:\$\(dirname \"?\$0\"?\)|\$\{0%/\*\})/$")
#: ``__file__`` followed by ``.parent`` steps and/or ``.parents[n]`` (the file's own, not a module's).
FILE_PARENTS = re.compile(
    r"(?<![\w.])__file__\)?(?:\.resolve\(\)|\.absolute\(\))?((?:\.parent\b(?!s))*)(?:\.parents\[(\d+)\])?"
)
DIRNAMES = re.compile(r"((?:os\.path\.dirname\()+)(?:os\.path\.(?:abspath|realpath)\()?(?<![\w.])__file__")


def escapes(rel: PurePosixPath, text: str) -> list[str]:
    """What in ``text`` (the file at ``rel``, relative to the root) reaches above the root."""
    found: list[str] = []
    depth = len(rel.parts)  # a file's ``.parent`` applied ``depth`` times is the root
    for line_no, line in enumerate(text.splitlines(), 1):
        for match in UP.finditer(line):
            ups = match.group(1).count("..")
            before = line[: match.start()]
            if rel.suffix in RELATIVE_TO_ITSELF or SCRIPT_DIR.search(before):
                base = depth - 1  # the file's own folder, this many levels below the root
            else:
                base = 0  # the root: where make, pytest and the CLI run
            if ups > base:
                found.append(f"{rel}:{line_no}: {line.strip()[:120]}")
        for match in FILE_PARENTS.finditer(line):
            steps = match.group(1).count(".parent")
            if match.group(2) is not None:
                steps += int(match.group(2)) + 1
            if steps > depth:
                found.append(f"{rel}:{line_no}: {line.strip()[:120]}")
        for match in DIRNAMES.finditer(line):
            if match.group(1).count("dirname") > depth:
                found.append(f"{rel}:{line_no}: {line.strip()[:120]}")
        for name in OUTSIDE_NAMES:
            if name in line:
                found.append(f"{rel}:{line_no}: names {name}, a file outside the repository")
    return found


def repository_text_files() -> list[tuple[PurePosixPath, str]]:
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            path = Path(folder) / name
            data = path.read_bytes()
            if b"\0" in data[:8192]:
                continue  # binary (fonts, images)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            files.append((PurePosixPath(path.relative_to(ROOT).as_posix()), text))
    return files


def test_no_file_of_the_repository_reaches_above_its_root() -> None:
    files = repository_text_files()
    assert len(files) > 100 and any(rel == PurePosixPath("tools/data/source_facts.json") for rel, _ in files)
    this = PurePosixPath(Path(__file__).resolve().relative_to(ROOT).as_posix())
    found = [hit for rel, text in files if rel != this for hit in escapes(rel, text)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("rel", "text", "escapes_root"),
    [
        ("tests/test_x.py", 'Path(__file__).resolve().parents[2] / "shared" / "data"', True),
        ("tests/test_x.py", 'Path(__file__).resolve().parents[1] / "README.md"', False),
        ("tools/demo.py", 'Path(__file__).resolve().parent / "data"', False),
        ("tests/test_x.py", "Path(__file__).parent.parent.parent / 'x'", True),
        ("tests/test_x.py", "Path(__file__).parent.parent / 'README.md'", False),
        ("tests/test_x.py", "os.path.dirname(os.path.dirname(os.path.dirname(__file__)))", True),
        ("tests/test_x.py", "os.path.dirname(os.path.dirname(__file__))", False),
        ("shared/migrate.py", 'Path(package.__file__).parent / "migrations"', False),
        ("tools/demo.py", 'open("../shared/data/facts.json")', True),
        ("Makefile", "\tcp ../shared/x .", True),
        ("docs/architecture.md", "see [the brief](../../shared/docs/x.md)", True),
        ("docs/architecture.md", "see [the README](../README.md)", False),
        ("docs/architecture.md", "`POST .../deposits/{id}/reverse` and /v1/<service>/...", False),
        (".ci/run", 'cd "$(dirname "$0")/.."', False),
        (".ci/run", 'cd "$(dirname "$0")/../.."', True),
        (".ci/run", "cd ..", True),
        ("deploy/compose.yaml", "context: ..", False),
        ("deploy/compose.yaml", "context: ../..", True),
        ("README.md", "the brief in " + "DESIGN" + ".md", True),
    ],
)
def test_the_scan_finds_what_climbs_out_and_nothing_else(rel: str, text: str, escapes_root: bool) -> None:
    assert bool(escapes(PurePosixPath(rel), text)) is escapes_root
