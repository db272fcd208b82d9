"""The tests mirror the tree, and no test file leans on another.

Tests live in a folder named after what they test (``tests/gateway/``, ``tests/members/``,
``tests/ledger/``, ``tests/benefits/``, ``tests/grants/``, ``tests/shared/``; ``tests/e2e/`` for
the real processes, ``tests/deploy/`` for the repository and its deployment, ``tests/authz/`` for
who may call every route of every process), never directly in
``tests/``. What they share (apps, tokens, funds, members, books, the running system) is in
``tests/support/``, the fakes in ``tests/fakes/``, fixtures in ``tests/conftest.py``: no module of
the tests or of ``bench/`` imports a ``test_*`` module or a ``conftest``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def leaning_imports(source: str) -> list[str]:
    """The modules ``source`` imports that are test files or conftests (``import`` or ``from``,
    absolute or relative, at the top or inside a function)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names = [base] + [f"{base.rstrip('.')}.{alias.name}" if node.module else alias.name for alias in node.names]
        else:
            continue
        leaning = [name for name in names if any(part.startswith("test_") or part == "conftest" for part in name.split("."))]
        if leaning:
            found.append(f"line {node.lineno}: {leaning[0]}")
    return found


def python_files() -> list[Path]:
    return sorted(p for folder in (TESTS, ROOT / "bench") for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_test_file_sits_directly_in_tests() -> None:
    loose = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert loose == [], f"move these into the folder of what they test: {loose}"


def test_each_test_folder_is_a_package() -> None:
    folders = {p.parent for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file())
    assert missing == []


def test_no_module_imports_a_test_file_or_a_conftest() -> None:
    files = python_files()
    assert len([p for p in files if p.name.startswith("test_")]) > 20
    found = [f"{p.relative_to(ROOT)}: {hit}" for p in files for hit in leaning_imports(p.read_text(encoding="utf-8"))]
    assert found == [], "import it from tests/support/ instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "leans"),
    [
        ("from tests.test_members import make_fund", True),
        ("from tests.ledger.test_ledger import make_books", True),
        ("from tests.conftest import gateway_app", True),
        ("from tests import conftest", True),
        ("from tests.grants import test_grants", True),
        ("import tests.test_e2e", True),
        ("from .test_ledger import Books", True),
        ("from . import conftest", True),
        ("def f():\n    from tests.test_grants import NAKHON\n", True),
        ("from tests.support.factories import make_fund, person", False),
        ("from tests.support.apps import gateway_app", False),
        ("from tests.fakes.line import FakeLine", False),
        ("from shared.auth import Role", False),
        ("import pytest", False),
    ],
)
def test_the_check_finds_imports_of_test_files_and_nothing_else(source: str, leans: bool) -> None:
    assert bool(leaning_imports(source)) is leans


def test_the_folders_mirror_the_tree() -> None:
    """A test folder is named after a package of the repository (``gateway``, ``shared``, a service
    under ``services/``), or is ``e2e`` (the real processes), ``deploy`` (the repository itself) or
    ``authz`` (the authorization matrix: every route of the five processes)."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {p.parent.name for p in ROOT.glob("services/*/__init__.py")}
    allowed = (packages - {"tests", "bench"}) | {"e2e", "deploy", "authz"}
    folders = {p.parent.relative_to(TESTS).parts[0] for p in TESTS.rglob("test_*.py") if p.parent != TESTS}
    assert folders <= allowed, sorted(folders - allowed)
