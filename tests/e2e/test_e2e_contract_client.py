"""A front end's client, generated from the running gateway's public document, drives a collector's
evening: openapi-typescript makes the types from ``/openapi.json``, ``contract/client/collector_day.ts``
(openapi-fetch) is type-checked with ``tsc --noEmit``, compiled and run with node against the real
processes: it logs in, reads the round, syncs a batch of offline deposits, meets a typed problem, and
reads the day's total. The live document is also the one ``tools.contract`` builds offline, the
committed snapshot's source (docs/api-contract.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from services.members.thai import national_id_check_digit
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem
from tools import contract

pytestmark = pytest.mark.e2e

CONTRACT_DIR = contract.ROOT / "contract"
BIN = CONTRACT_DIR / "node_modules" / ".bin"


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _login(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    answer = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_generated_typescript_client_runs_a_collectors_evening(tmp_path: Path, shared_system: RunningSystem) -> None:
    assert shutil.which("node"), "Node.js is needed for the contract checks (docs/api-contract.md)"
    assert BIN.joinpath("openapi-typescript").exists(), "contract/node_modules is missing: `make test` installs it"
    work = tmp_path / "client"
    work.mkdir()
    for name in ("collector_day.ts", "tsconfig.json"):
        shutil.copy(CONTRACT_DIR / "client" / name, work / name)
    (work / "package.json").write_text('{"private": true, "type": "module"}\n')
    (work / "node_modules").symlink_to(CONTRACT_DIR / "node_modules", target_is_directory=True)

    system = shared_system
    with httpx.Client(base_url=system.url, timeout=15) as client:
        live = client.get("/openapi.json").json()
        assert live == contract.public_document(), "the gateway serves another document than tools.contract builds"
        (work / "openapi.json").write_text(json.dumps(live, ensure_ascii=False))

        admin = _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
        fid = client.post("/v1/members/funds", headers=admin, json={
            "name": "กองทุนสวัสดิการชุมชนตำบลโพทะเล", "province": "พิจิตร", "district": "โพทะเล", "subdistrict": "โพทะเล",
            "founded_on": "2009-05-01"}).json()["id"]
        assert client.post("/v1/auth/users", headers=admin, json={
            "phone": "0870000011", "password": "committee-pass-1", "display_name": "เหรัญญิก", "role": "committee",
            "fund_id": fid}).status_code == 201
        committee = _login(client, "0870000011", "committee-pass-1")
        for i in range(2):
            first12 = f"3600200{i:05d}"
            assert client.post(f"/v1/members/funds/{fid}/members", headers=committee, json={
                "national_id": first12 + str(national_id_check_digit(first12)), "first_name": f"สมาชิก{i}",
                "last_name": "โพทะเล", "birth_date": "1970-01-01", "sex": "female", "village": 4, "house_no": str(i),
                "joined_on": "2016-01-01", "consent_given": True}).status_code == 201
        collector = client.post("/v1/auth/users", headers=admin, json={
            "phone": "0870000012", "password": "135790", "display_name": "อาสาเก็บเงิน", "role": "collector",
            "fund_id": fid}).json()
        assert client.post(f"/v1/members/funds/{fid}/collectors", headers=committee, json={
            "user_id": collector["id"], "display_name": "อาสาเก็บเงิน", "villages": [4]}).status_code == 201

        _run([str(BIN / "openapi-typescript"), "openapi.json", "-o", "sajja.d.ts"], work)
        _run([str(BIN / "tsc"), "--noEmit", "-p", "."], work)
        _run([str(BIN / "tsc"), "-p", "."], work)
        ids = [str(uuid.uuid4()) for _ in range(4)]
        today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
        env = {**os.environ, "SAJJA_URL": system.url, "SAJJA_PHONE": "0870000012", "SAJJA_PASSWORD": "135790",
               "SAJJA_FUND_ID": fid, "SAJJA_DEPOSIT_IDS": ",".join(ids), "SAJJA_TODAY": today}
        printed = json.loads(_run(["node", "out/collector_day.js"], work, env).strip().splitlines()[-1])

    assert printed["members"] == 2
    assert (printed["created"], printed["duplicates"]) == (4, 0) and len(set(printed["receipts"])) == 4
    assert (printed["refused_status"], printed["refused_code"]) == (422, "request.validation_failed")
    assert printed["refused_fields"] == ["body.deposits"]
    assert printed["collected_satang"] == sum(100 * (1 + i % 3) for i in range(4))
