"""deploy/k8s/postgres: PostgreSQL as CloudNativePG objects, checked structurally (there is no CRD
schema at hand): kinds and apiVersions, the fields each needs, the references between objects
(the Pooler's and the ScheduledBackup's cluster, the recovery's source), the Secrets they read
documented in secrets.example.yaml with those keys, the names sajja-secrets' URLs use, the
connection budget against max_connections, and the restore drill in deploy/README.md."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = ROOT / "deploy" / "k8s" / "postgres"
README = ROOT / "deploy" / "README.md"
SECRET_EXAMPLE = ROOT / "deploy" / "k8s" / "secret.example.yaml"
API = "postgresql.cnpg.io/v1"
DATABASES = 5


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((POSTGRES / name).read_text(encoding="utf-8")) if doc]


def applied() -> list[dict[str, Any]]:
    kustomization = load("kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in load(name)]


def one(kind: str, docs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    found = [doc for doc in (docs if docs is not None else applied()) if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def secret_refs(node: Any) -> list[tuple[str, str | None]]:
    """Every (Secret name, key) a CloudNativePG spec reads: ``{name, key}`` selectors and
    ``secret: {name}`` / ``passwordSecret: {name}`` references."""
    found: list[tuple[str, str | None]] = []
    if isinstance(node, dict):
        for field, value in node.items():
            if isinstance(value, dict) and set(value) == {"name", "key"}:
                found.append((value["name"], value["key"]))
            elif field in ("secret", "passwordSecret") and isinstance(value, dict) and "name" in value:
                found.append((value["name"], None))
            else:
                found += secret_refs(value)
    elif isinstance(node, list):
        for item in node:
            found += secret_refs(item)
    return found


def example_secrets() -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in load("secrets.example.yaml")}


def test_kustomization_applies_the_cluster_the_pooler_and_the_backup_not_the_examples() -> None:
    kustomization = load("kustomization.yaml")[0]
    assert kustomization["namespace"] == "sajja"
    assert sorted(kustomization["resources"]) == ["cluster.yaml", "pooler.yaml", "scheduled-backup.yaml"]
    on_disk = {p.name for p in POSTGRES.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk - set(kustomization["resources"]) == {"recovery.example.yaml", "secrets.example.yaml"}
    for doc in applied():
        assert doc["apiVersion"] == API and doc["kind"] in ("Cluster", "Pooler", "ScheduledBackup"), doc["kind"]
        assert doc["metadata"]["namespace"] == "sajja" and doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "sajja"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


def test_the_cluster_is_replicated_archived_and_backed_up_to_object_storage() -> None:
    spec = one("Cluster")["spec"]
    assert spec["instances"] >= 3 and spec["affinity"]["enablePodAntiAffinity"] is True
    assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:\d+(\.\d+)?", spec["imageName"])
    assert re.fullmatch(r"\d+[GM]i", spec["storage"]["size"]) and re.fullmatch(r"\d+[GM]i", spec["walStorage"]["size"])
    assert spec["postgresql"]["parameters"]["timezone"] == "UTC"
    initdb = spec["bootstrap"]["initdb"]
    assert initdb["owner"] == "sajja" and initdb["database"].startswith("sajja_")
    assert any("CREATEDB" in statement for statement in initdb["postInitSQL"]), "sajja migrate creates the databases"
    store = spec["backup"]["barmanObjectStore"]
    assert re.fullmatch(r"s3://[a-z0-9.-]+/.*", store["destinationPath"])
    assert urlsplit(store["endpointURL"]).scheme == "https"
    assert store["wal"]["compression"] and store["data"]["compression"]
    assert re.fullmatch(r"\d+[dwm]", spec["backup"]["retentionPolicy"])


def test_the_pooler_is_pgbouncer_in_transaction_mode_in_front_of_the_cluster() -> None:
    cluster, pooler = one("Cluster"), one("Pooler")
    spec = pooler["spec"]
    assert spec["cluster"]["name"] == cluster["metadata"]["name"]
    assert spec["type"] == "rw" and spec["instances"] >= 2
    assert spec["pgbouncer"]["poolMode"] == "transaction"


def test_the_connection_budget_fits_max_connections() -> None:
    """Server connections the pooler may open (instances x default_pool_size x databases, and at
    most max_db_connections per database and instance) leave room under max_connections."""
    cluster, pooler = one("Cluster")["spec"], one("Pooler")["spec"]
    parameters = pooler["pgbouncer"]["parameters"]
    per_database = min(int(parameters["default_pool_size"]), int(parameters.get("max_db_connections", 10**6)))
    pooled = pooler["instances"] * per_database * DATABASES
    assert pooled + 20 <= int(cluster["postgresql"]["parameters"]["max_connections"]), pooled
    budget = README.read_text(encoding="utf-8")
    assert "### The connection budget" in budget and f"= {pooler['instances'] * int(parameters['default_pool_size']) * DATABASES}" in budget


def test_the_scheduled_backup_backs_up_the_cluster_through_its_object_store() -> None:
    cluster, backup = one("Cluster"), one("ScheduledBackup")
    spec = backup["spec"]
    assert spec["cluster"]["name"] == cluster["metadata"]["name"]
    assert spec["method"] == "barmanObjectStore" and "barmanObjectStore" in cluster["spec"]["backup"]
    fields = spec["schedule"].split()
    assert len(fields) == 6, "CloudNativePG schedules have six fields, seconds first"
    assert spec["backupOwnerReference"] in ("self", "cluster", "none")


def test_the_recovery_example_restores_the_clusters_archive_to_a_moment() -> None:
    cluster = one("Cluster")
    (restore,) = load("recovery.example.yaml")
    assert restore["apiVersion"] == API and restore["kind"] == "Cluster"
    assert restore["metadata"]["name"] != cluster["metadata"]["name"], "a new cluster, never the running one"
    recovery = restore["spec"]["bootstrap"]["recovery"]
    sources = {c["name"]: c for c in restore["spec"]["externalClusters"]}
    source = sources[recovery["source"]]
    store, original = source["barmanObjectStore"], cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == original["destinationPath"] and store["endpointURL"] == original["endpointURL"]
    assert store["serverName"] == cluster["metadata"]["name"]
    assert "backup" not in restore["spec"], "the restored cluster must not archive over the original's path"
    moment = dt.datetime.fromisoformat(recovery["recoveryTarget"]["targetTime"])
    assert moment.tzinfo is not None, "targetTime with its time zone"


@pytest.mark.parametrize("name", ["cluster.yaml", "pooler.yaml", "scheduled-backup.yaml", "recovery.example.yaml"])
def test_every_secret_the_manifests_read_is_documented_with_its_keys(name: str) -> None:
    examples = example_secrets()
    for secret, key in secret_refs([doc["spec"] for doc in load(name)]):
        assert secret in examples, f"{name}: Secret {secret} is not in secrets.example.yaml"
        if key is not None:
            assert key in examples[secret]["stringData"], f"{name}: Secret {secret} has no key {key} in the example"
        assert secret in README.read_text(encoding="utf-8"), f"deploy/README.md does not say how to make {secret}"
    for doc in examples.values():
        assert doc["kind"] == "Secret" and doc["metadata"]["namespace"] == "sajja"
        assert all(v == "sajja" or "dev-" in v for v in doc["stringData"].values()), "examples hold no usable secret"


def test_sajja_connects_through_the_pooler_and_migrates_on_the_primary() -> None:
    (secret,) = [doc for doc in yaml.safe_load_all(SECRET_EXAMPLE.read_text(encoding="utf-8")) if doc]
    data = secret["stringData"]
    assert urlsplit(data["SAJJA_DATABASE_URL"]).hostname == one("Pooler")["metadata"]["name"]
    assert urlsplit(data["SAJJA_MIGRATE_DATABASE_URL"]).hostname == f"{one('Cluster')['metadata']['name']}-rw"
    assert urlsplit(data["SAJJA_DATABASE_URL"]).username == example_secrets()["sajja-pg-app"]["stringData"]["username"]


def test_the_readme_has_the_restore_drill_step_by_step() -> None:
    text = README.read_text(encoding="utf-8")
    drill = text[text.index("### Restore drill"):]
    drill = drill[:drill.find("\n## ", 1) if "\n## " in drill[1:] else len(drill)]
    steps = re.findall(r"^(\d+)\. ", drill, flags=re.MULTILINE)
    assert [int(s) for s in steps] == list(range(1, len(steps) + 1)) and len(steps) >= 6
    for needed in ("recovery.example.yaml", "targetTime", "kubectl cnpg", "sajja-pg-restore", "wait-schema", "trial-balance"):
        assert needed in drill, f"the restore drill does not mention {needed}"
