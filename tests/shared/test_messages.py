"""Every problem code a process raises has its Thai and English message in that process.

Each service is a process of its own and registers its own messages (``register_messages``), so
a code registered by one service means nothing in another: raised there, its answer fell back to
the generic message and said ``{detail}`` (found by fuzzing: the grants service's
``fund.not_found``). One subprocess per process imports its app, as ``sajja serve`` does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: A problem raised with its code written out: ``NotFound("fund.not_found")``.
RAISED = re.compile(r'\b(?:SajjaError|NotFound|Conflict|Forbidden|Unauthenticated)\(\s*"([a-z_]+(?:\.[a-z_]+)+)"')
PROCESSES = {"gateway": ("gateway.app", "gateway"),
             **{name: (f"services.{name}.app", f"services/{name}") for name in ("members", "ledger", "benefits", "grants")}}


@pytest.fixture(scope="module")
def registered() -> dict[str, tuple[set[str], set[str]]]:
    """Each process's registered codes and the ``shared`` modules it imports, the imports run side by side."""
    probe = ("import json, sys, {module}; from shared.errors import _MESSAGES; "
             "print(json.dumps([sorted(_MESSAGES), sorted(m.__file__ for n, m in list(sys.modules.items()) "
             "if n.startswith('shared.') and getattr(m, '__file__', None))]))")
    running = {process: subprocess.Popen([sys.executable, "-c", probe.format(module=module)],
                                         cwd=REPO, stdout=subprocess.PIPE, text=True)
               for process, (module, _) in PROCESSES.items()}
    answers = {process: json.loads(proc.communicate(timeout=120)[0]) for process, proc in running.items()}
    return {process: (set(codes), {str(Path(f).resolve()) for f in files}) for process, (codes, files) in answers.items()}


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_every_code_a_process_raises_has_its_messages_there(process: str, registered: dict[str, tuple[set[str], set[str]]]) -> None:
    """Its own folder's codes, and those of the ``shared`` modules it imports."""
    codes, imported = registered[process]
    folder = PROCESSES[process][1]
    shared = [path for path in (REPO / "shared").rglob("*.py") if str(path.resolve()) in imported]
    assert len(shared) > 5, "the probe found the shared modules the process imports"
    raised = {code: path.relative_to(REPO) for path in [*(REPO / folder).rglob("*.py"), *shared]
              for code in RAISED.findall(path.read_text(encoding="utf-8"))}
    assert raised, "no code found: the pattern no longer matches how problems are raised"
    assert {code: str(path) for code, path in raised.items() if code not in codes} == {}
