"""What the README and docs/ name exists: every repository path (``shared/http1.py``,
``services/{members,ledger}/``, ``services/benefits/rules.py::Rules``) and every dotted module
(``shared.http``, ``shared.auth.service_client_secret``). A file moved or renamed without its
docs fails here, not on a reader.

``bench-results/`` and ``.venv/`` are left out: ``make bench``, the tests and ``make install`` write them.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Written by ``make bench``, the tests and ``make install``, not kept in the repository as such.
GENERATED = ("bench-results/", ".venv/")
PACKAGES = ("shared", "services", "gateway", "tools", "bench", "tests")
EXTENSIONS = ("py", "md", "json", "yaml", "yml", "sh", "toml", "txt", "csv", "html", "png", "sql", "cfg")

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_PATH = re.compile(r"(?<![\w/.:-])(\.?[\w-]+(?:/(?:[\w.<>*-]|\{[\w,.-]*\})+)+/?)(::\w+)?")
_DOTTED = re.compile(r"`((?:%s)(?:\.\w+)+)`" % "|".join(PACKAGES))


def _expand(path: str) -> list[str]:
    """``a/{b,c}/d`` -> ``a/b/d``, ``a/c/d``."""
    parts = re.split(r"\{([^{}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def named_paths(text: str) -> list[tuple[str, str | None]]:
    """The repository paths ``text`` names, with the ``::name`` that follows one, if any."""
    tops = {p.name for p in ROOT.iterdir() if p.is_dir()}
    found = []
    for match in _PATH.finditer(_URL.sub(" ", text)):
        path, name = match.group(1).rstrip("."), match.group(2)
        first = path.split("/", 1)[0]
        if first not in tops and not path.endswith(tuple("." + ext for ext in EXTENSIONS)):
            continue  # text/csv, CSV/XLSX, application/problem+json: not a path
        if any(c in path for c in "<>*"):
            continue  # a pattern: `<package>/migrations`
        found += [(p, name[2:] if name else None) for p in _expand(path)]
    return found


def named_modules(text: str) -> list[str]:
    return _DOTTED.findall(text)


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+def|def|class)\s+{name}\b|^{name}\s*[:=]", source, re.M) is not None


def module_problem(dotted: str) -> str | None:
    """None when ``dotted`` is a module of the repository, or a name defined at the top of one."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:n])
        module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if not module.is_file():
            continue
        rest = parts[n:]
        if not rest:
            return None
        if len(rest) == 1 and _defines(module.read_text(encoding="utf-8"), rest[0]):
            return None
        return f"{'.'.join(parts[:n])} defines no {'.'.join(rest)}"
    return "no such module"


def path_problem(path: str, name: str | None) -> str | None:
    target = ROOT / path
    if not target.exists():
        return "no such file or folder"
    if name and not (target.is_file() and _defines(target.read_text(encoding="utf-8"), name)):
        return f"defines no {name}"
    return None


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("see `shared/http1.py`", [("shared/http1.py", None)]),
        ("validated by `services/benefits/rules.py::Rules`", [("services/benefits/rules.py", "Rules")]),
        ("`services/{members,ledger}/` each", [("services/members/", None), ("services/ledger/", None)]),
        ("(docs/architecture.md).", [("docs/architecture.md", None)]),
        ("`shared/http1.py`, `shared/lean.py`;", [("shared/http1.py", None), ("shared/lean.py", None)]),
        ("`.ci/run` copies", [(".ci/run", None)]),
        ("a moved `tests/bench.py`", [("tests/bench.py", None)]),
        ("text/csv and CSV/XLSX, application/problem+json", []),
        ("`<package>/migrations`", []),
        ("http://127.0.0.1:8000/dashboard/ and `/v1/members/funds/{id}`", []),
    ],
)
def test_what_the_scan_finds(text: str, paths: list[tuple[str, str | None]]) -> None:
    assert named_paths(text) == paths


def test_a_missing_path_or_name_is_a_problem() -> None:
    assert path_problem("tests/bench.py", None) == "no such file or folder"
    assert path_problem("shared/http1.py", "NoSuchThing") == "defines no NoSuchThing"
    assert module_problem("shared.servicetoken") == "shared defines no servicetoken"
    assert module_problem("nowhere.at_all") == "no such module"
    assert module_problem("shared.auth.no_such_function") == "shared.auth defines no no_such_function"
    assert module_problem("shared.auth.service_client_secret") is None


def test_every_path_and_module_the_docs_name_exists() -> None:
    problems = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for path, name in named_paths(text):
            if path.startswith(GENERATED):
                continue
            if (problem := path_problem(path, name)) is not None:
                problems.append(f"{doc.relative_to(ROOT)}: {path}{'::' + name if name else ''}: {problem}")
        for dotted in named_modules(text):
            if (problem := module_problem(dotted)) is not None:
                problems.append(f"{doc.relative_to(ROOT)}: {dotted}: {problem}")
    assert problems == [], "\n".join(problems)
