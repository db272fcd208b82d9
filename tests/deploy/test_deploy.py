"""Static checks of the deployment artifacts under ``deploy/``.

No Docker engine or cluster is needed: the YAML is parsed, every Kubernetes manifest is validated
against the OpenAPI schemas shipped with ``kubernetes_validate`` (strict: unknown fields fail),
and the properties the deployment relies on are asserted: one Deployment and Service per process,
probes, resources, non-root and read-only containers, selectors, autoscalers, secrets only by
reference, and every ``sajja`` command line accepted by the real CLI parser. ``kubectl kustomize``
and ``hadolint`` are used when installed and skipped otherwise.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.settings import PROCESS_NAMES, SERVICE_NAMES
from shared.worker import WORKER_NAMES, WORKERS
from tests.support import dockerfile

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
README = DEPLOY / "README.md"
ENV_EXAMPLE = DEPLOY / ".env.example"
KUSTOMIZATION = K8S / "kustomization.yaml"
SECRET_EXAMPLE = K8S / "secret.example.yaml"

NAMESPACE = "sajja"
SECRET_NAME = "sajja-secrets"
IMAGE = "sajja"  # the image name in the manifests, rewritten by kustomize `images:`
PORT = 8000
SERVE_ARGS = ["--host", "0.0.0.0", "--port", str(PORT)]
# The oldest Kubernetes deploy/README.md supports, and the newest the validator has schemas for.
K8S_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())

SETTINGS_CLASSES = {
    "gateway": ("gateway.settings", "GatewaySettings"),
    "members": ("services.members.settings", "MembersSettings"),
    "ledger": ("services.ledger.settings", "LedgerSettings"),
    "benefits": ("services.benefits.settings", "BenefitsSettings"),
    "grants": ("services.grants.settings", "GrantsSettings"),
}
#: Variables read by ``shared.cli`` (or the image) rather than by a settings class.
METRICS_PORT = 9100
CLI_VARIABLES = {"SAJJA_WORKERS", "SAJJA_FORWARDED_ALLOW_IPS", "SAJJA_HOST", "SAJJA_PORT", "SAJJA_HEALTHCHECK_URL"}
SECRET_VARIABLE = re.compile(r"SECRET|PASSWORD|DATABASE_URL|_KEY$")
REQUIRED_REF = r"\$\{\w+:\?[^}]*\}"  # ${VAR:?message}: compose fails while VAR is unset or empty
K8S_FILES = sorted(p for p in K8S.glob("*.yaml") if p != KUSTOMIZATION)


# ------------------------------------------------------------------------------------------ helpers


def load_yaml(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


@cache
def kustomization() -> dict[str, Any]:
    (doc,) = load_yaml(KUSTOMIZATION)
    return doc


@cache
def applied() -> tuple[dict[str, Any], ...]:
    """Every object `kubectl apply -k deploy/k8s` creates (the example Secret excluded)."""
    docs: list[dict[str, Any]] = []
    for name in kustomization()["resources"]:
        docs += load_yaml(K8S / name)
    return tuple(docs)


def objects(kind: str) -> dict[str, dict[str, Any]]:
    found = [doc for doc in applied() if doc["kind"] == kind]
    names = [doc["metadata"]["name"] for doc in found]
    assert len(names) == len(set(names)), f"duplicate {kind} names: {names}"
    return dict(zip(names, found))


def deployment(name: str) -> dict[str, Any]:
    deployments = objects("Deployment")
    assert name in deployments, f"no Deployment for process {name!r}"
    return deployments[name]


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: expected one container"
    return containers[0]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@cache
def compose() -> dict[str, Any]:
    (doc,) = load_yaml(COMPOSE)
    return doc


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def sajja_compose_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose_services().items() if n not in ("postgres", "pgbouncer")}


def env_list(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def quantity(value: str | float) -> float:
    """A Kubernetes quantity as a number (cores or bytes), for the units used here."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    return dockerfile.instructions(DOCKERFILE)


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def exec_form(instruction: str) -> list[str]:
    values = [args for kw, args in final_stage() if kw == instruction]
    assert values, f"the final stage has no {instruction}"
    parsed = json.loads(values[-1])  # exec (JSON) form, so no shell sits between
    assert isinstance(parsed, list) and all(isinstance(x, str) for x in parsed)
    return parsed


def healthcheck_command() -> list[str]:
    (args,) = [args for kw, args in final_stage() if kw == "HEALTHCHECK"]
    _, sep, command = args.partition("CMD ")
    assert sep, "HEALTHCHECK must use CMD"
    parsed = json.loads(command)
    assert isinstance(parsed, list), "HEALTHCHECK CMD must use the exec (JSON) form"
    return parsed


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch, where: str) -> tuple[Any, ...]:
    """Parse ``sajja ARGV`` with the real CLI; return what it would have run."""
    from shared import cli

    assert argv and argv[0] in ("serve", "migrate", "worker", "wait-schema"), f"{where}: unexpected sajja command {argv}"
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        cli, "serve", lambda name, host, port, workers, reuse_port=False: calls.append(("serve", name, host, port)) or 0
    )
    monkeypatch.setattr(cli, "migrate_all", lambda names: calls.append(("migrate", *names)) or 0)
    monkeypatch.setattr(cli, "run_workers", lambda names: calls.append(("worker", list(names))) or 0)
    monkeypatch.setattr(cli, "wait_schema", lambda name, timeout: calls.append(("wait-schema", name)) or 0)
    try:
        assert cli.main(list(argv)) == 0
    except SystemExit as exc:
        pytest.fail(f"{where}: `sajja {' '.join(argv)}` is rejected by the CLI (exit {exc.code})")
    assert len(calls) == 1
    return calls[0]


def settings_class(process: str) -> Any:
    import importlib

    module, cls_name = SETTINGS_CLASSES[process]
    return getattr(importlib.import_module(module), cls_name)


def known_variables(process: str) -> set[str]:
    """Every SAJJA_* variable the process reads: its settings fields under both prefixes."""
    fields = settings_class(process).model_fields
    own = f"SAJJA_{process.upper()}_"
    return {f"SAJJA_{f.upper()}" for f in fields} | {own + f.upper() for f in fields} | CLI_VARIABLES | {own + "PORT"}


def secret_settings(process: str) -> dict[str, tuple[str, str]]:
    """Each secret the process refuses to run without in production, and the two variables
    that can set it (common prefix, own prefix)."""
    cls = settings_class(process)
    own = f"SAJJA_{process.upper()}_"
    return {field: (f"SAJJA_{field.upper()}", own + field.upper()) for field in cls.secret_fields}


def migrate_variables() -> set[str]:
    return ({"SAJJA_DATABASE_URL", "SAJJA_MIGRATE_DATABASE_URL"} | {f"SAJJA_{p.upper()}_DATABASE_URL" for p in PROCESS_NAMES}
            | {f"SAJJA_{p.upper()}_MIGRATE_DATABASE_URL" for p in PROCESS_NAMES} | CLI_VARIABLES)


# ------------------------------------------------------------------------------------- YAML + schema


def test_settings_classes_cover_every_process() -> None:
    assert set(SETTINGS_CLASSES) == set(PROCESS_NAMES)


def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def test_deploy_files_exist() -> None:
    for path in (DOCKERFILE, DOCKERIGNORE, COMPOSE, README, ENV_EXAMPLE, KUSTOMIZATION, SECRET_EXAMPLE):
        assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    assert len(yaml_files()) >= 10


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    docs = load_yaml(path)
    assert docs, f"{path} holds no YAML document"
    assert all(isinstance(doc, dict) for doc in docs)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", K8S_FILES, ids=lambda p: p.name)
def test_kubernetes_manifests_validate(path: Path, version: str) -> None:
    for doc in load_yaml(path):
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{path.name}: not a Kubernetes object"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} at {where}: {exc.message}")


def test_validator_is_strict() -> None:
    """The schema check above would catch a typo or a wrong type."""
    broken = copy.deepcopy(deployment("gateway"))
    only_container(broken)["readynessProbe"] = {"tcpSocket": {"port": PORT}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)
    broken = copy.deepcopy(objects("HorizontalPodAutoscaler")["gateway"])
    broken["spec"]["minReplicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    k = kustomization()
    assert k["apiVersion"].startswith("kustomize.config.k8s.io/") and k["kind"] == "Kustomization"
    assert k["namespace"] == NAMESPACE
    listed = k["resources"]
    assert len(listed) == len(set(listed))
    assert SECRET_EXAMPLE.name not in listed
    assert set(listed) == {p.name for p in K8S_FILES} - {SECRET_EXAMPLE.name}
    assert [i["name"] for i in k["images"]] == [IMAGE]
    assert all(doc["kind"] != "Secret" for doc in applied()), "secrets are created out of band"


def test_namespaced_objects_are_in_the_sajja_namespace() -> None:
    kinds = {doc["kind"] for doc in applied()}
    assert "Namespace" in kinds
    (namespace,) = [d for d in applied() if d["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == NAMESPACE
    assert namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"
    for doc in applied():
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_build_renders_valid_objects() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(rendered) == len(applied())
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
        assert doc["kind"] != "Secret"
        if doc["kind"] in ("Deployment", "Job"):
            image = only_container(doc)["image"]
            assert image != IMAGE and ":" in image, f"kustomize did not pin the image: {image}"


# ---------------------------------------------------------------------------------- Deployments


def test_every_process_has_a_deployment_and_a_service() -> None:
    assert set(objects("Deployment")) == set(PROCESS_NAMES) | {f"worker-{w}" for w in WORKER_NAMES}
    assert set(objects("Service")) == set(PROCESS_NAMES)


@pytest.mark.parametrize("name", WORKER_NAMES)
def test_every_worker_has_a_deployment_of_two_replicas(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers run as processes of their own (docs/workers.md), two replicas each; the settings and
    secrets are those of the process whose database the worker works on."""
    worker = deployment(f"worker-{name}")
    assert worker["spec"]["replicas"] == 2
    assert pod_labels(worker)["app.kubernetes.io/component"] == "worker"
    container = only_container(worker)
    assert container["image"] == IMAGE and container["args"] == ["worker", name]
    assert run_cli(container["args"], monkeypatch, f"worker-{name}") == ("worker", [name])
    assert container["securityContext"] == only_container(deployment(WORKERS[name][0]))["securityContext"]
    owner_env = {e["name"] for e in only_container(deployment(WORKERS[name][0])).get("env", [])}
    assert {e["name"] for e in container.get("env", [])} == owner_env
    assert "cpu" in container["resources"]["requests"] and "memory" in container["resources"]["limits"]


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_deployment_runs_its_process(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    container = only_container(deployment(name))
    assert container["image"] == IMAGE
    assert "command" not in container, "keep the image's ENTRYPOINT (sajja)"
    assert container["args"] == ["serve", name, *SERVE_ARGS]
    assert run_cli(container["args"], monkeypatch, f"Deployment {name}") == ("serve", name, "0.0.0.0", PORT)
    assert {"name": "http", "containerPort": PORT, "protocol": "TCP"} in container["ports"]


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_deployment_probes(name: str) -> None:
    container = only_container(deployment(name))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert probe in container, f"{name}: no {probe}"
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/readyz" and readiness["port"] in ("http", PORT)
    liveness = container["livenessProbe"]
    if name == "gateway":
        # The gateway's /healthz fails whenever one service does: never a reason to restart it.
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe].get("httpGet", {}).get("path") != "/healthz", f"gateway {probe}"
        assert "tcpSocket" in liveness or liveness["httpGet"]["path"] == "/readyz"
    else:
        assert liveness["httpGet"]["path"] == "/healthz"
    # The liveness probe must not fire before the startup probe has had its chance.
    startup = container["startupProbe"]
    assert startup.get("failureThreshold", 3) * startup.get("periodSeconds", 10) >= 30


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_deployment_resources(name: str) -> None:
    resources = only_container(deployment(name))["resources"]
    for kind in ("cpu", "memory"):
        request, limit = resources["requests"][kind], resources["limits"][kind]
        assert 0 < quantity(request) <= quantity(limit), f"{name} {kind}: {request} > {limit}"


def assert_hardened(workload: dict[str, Any]) -> None:
    name = workload["metadata"]["name"]
    pod = workload["spec"]["template"]["spec"]
    pod_ctx = pod.get("securityContext", {})
    container = only_container(workload)
    ctx = container.get("securityContext", {})
    # Pod level, so it also binds any container added later; a container must not undo it.
    assert pod_ctx.get("runAsNonRoot") is True, f"{name}: runAsNonRoot"
    assert ctx.get("runAsNonRoot", True) is True, f"{name}: the container overrides runAsNonRoot"
    assert pod_ctx.get("runAsUser", ctx.get("runAsUser")) not in (None, 0), f"{name}: runs as root"
    assert ctx.get("allowPrivilegeEscalation") is False, f"{name}: privilege escalation"
    assert ctx.get("readOnlyRootFilesystem") is True, f"{name}: writable root filesystem"
    assert ctx.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: capabilities"
    assert not ctx.get("capabilities", {}).get("add")
    assert ctx.get("privileged", False) is False
    seccomp = ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}
    assert seccomp.get("type") == "RuntimeDefault", f"{name}: seccomp"
    assert pod.get("automountServiceAccountToken") is False, f"{name}: needs no API token"
    # Read-only root: /tmp (uploads spooled by python-multipart) must be a writable volume.
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]], f"{name}: no writable /tmp"


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_deployment_security(name: str) -> None:
    assert_hardened(deployment(name))


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_deployment_configuration(name: str) -> None:
    workload = deployment(name)
    container = only_container(workload)
    configmaps = objects("ConfigMap")
    refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
    assert refs and all(r in configmaps for r in refs), f"{name}: envFrom names a missing ConfigMap"
    env = env_list(container)

    def from_secret(var: str) -> bool:
        ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef")
        return bool(ref) and ref["name"] == SECRET_NAME and ref["key"] == var and not ref.get("optional")

    assert from_secret("SAJJA_DATABASE_URL"), f"{name}: SAJJA_DATABASE_URL"
    # Every secret the settings class refuses to default in production (read from the code).
    for field, names in secret_settings(name).items():
        assert any(from_secret(var) for var in names), f"{name}: {field} must come from {SECRET_NAME} ({names})"
    own_db = env.get(f"SAJJA_{name.upper()}_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
    assert own_db.get("optional") is True, f"{name}: its own database server should be an optional override"
    for var, item in env.items():
        if SECRET_VARIABLE.search(var):
            assert "value" not in item, f"{name}: secret {var} written into the manifest"
    known = known_variables(name)
    for var in env:
        assert var in known, f"{name}: {var} is not a setting of this process"
    assert "replicas" not in workload["spec"], f"{name}: the HorizontalPodAutoscaler owns replicas"
    assert pod_labels(workload).get("app.kubernetes.io/part-of") == "sajja"


# ----------------------------------------------------------------------- Services, HPA, PDB, Ingress


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_service_selects_its_deployment_only(name: str) -> None:
    service = objects("Service")[name]
    selector = service["spec"]["selector"]
    workload = deployment(name)
    assert selects(selector, pod_labels(workload)), f"Service {name} does not select its pods"
    assert selects(workload["spec"]["selector"]["matchLabels"], pod_labels(workload))
    for other, other_workload in objects("Deployment").items():
        if other != name:
            assert not selects(selector, pod_labels(other_workload)), f"Service {name} also selects {other}"
    container_ports = {p["name"]: p["containerPort"] for p in only_container(workload)["ports"]}
    (port,) = service["spec"]["ports"]
    assert port["port"] == PORT
    assert port["targetPort"] in container_ports or port["targetPort"] in container_ports.values()


def test_only_the_gateway_is_reachable_from_outside() -> None:
    for name, service in objects("Service").items():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", name
    ingresses = objects("Ingress")
    assert ingresses
    gateway_ports = {p["name"] for p in objects("Service")["gateway"]["spec"]["ports"]}
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == "gateway"
                assert backend["port"].get("name") in gateway_ports or backend["port"].get("number") == PORT


def test_network_policy_admits_the_gateway_to_the_services() -> None:
    (policy,) = objects("NetworkPolicy").values()
    selector = policy["spec"]["podSelector"]["matchLabels"]
    guarded = {n for n, d in objects("Deployment").items() if selects(selector, pod_labels(d))}
    assert guarded == set(SERVICE_NAMES)
    sources = [f["podSelector"]["matchLabels"] for rule in policy["spec"]["ingress"] for f in rule["from"]
               if "podSelector" in f]
    assert any(selects(s, pod_labels(deployment("gateway"))) for s in sources)
    # The metrics port only from Prometheus's namespace, and nothing else from it (docs/observability.md).
    for rule in policy["spec"]["ingress"]:
        ports = {p["port"] for p in rule["ports"]}
        if any("namespaceSelector" in f for f in rule["from"]):
            assert ports == {METRICS_PORT}
            assert [f["namespaceSelector"]["matchLabels"] for f in rule["from"]] == [
                {"kubernetes.io/metadata.name": "monitoring"}]
        else:
            assert ports == {PORT}


@pytest.mark.parametrize("name", [*PROCESS_NAMES, *(f"worker-{w}" for w in WORKER_NAMES)])
def test_every_pod_serves_its_metrics_apart_from_its_api(name: str) -> None:
    """Every process's /metrics on a port of its own (docs/observability.md), which no Service routes."""
    workload = objects("Deployment")[name]
    ports = {p["name"]: p["containerPort"] for p in only_container(workload)["ports"]}
    assert ports["metrics"] == METRICS_PORT
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)}
    for service in objects("Service").values():
        for port in service["spec"]["ports"]:
            assert port.get("targetPort") not in ("metrics", METRICS_PORT) and port["port"] != METRICS_PORT
    (config,) = objects("ConfigMap").values()
    assert config["data"]["SAJJA_METRICS_PORT"] == str(METRICS_PORT) and config["data"]["SAJJA_LOG_FORMAT"] == "json"


def test_autoscalers_target_existing_deployments() -> None:
    hpas = objects("HorizontalPodAutoscaler")
    deployments = objects("Deployment")
    targets = []
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["apiVersion"] == "apps/v1" and ref["kind"] == "Deployment"
        assert ref["name"] in deployments, f"HPA {name} targets a missing Deployment {ref['name']}"
        targets.append(ref["name"])
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
        assert cpu and cpu[0]["resource"]["target"]["type"] == "Utilization"
        # Utilization is relative to the request: the target must request CPU.
        assert "cpu" in only_container(deployments[ref["name"]])["resources"]["requests"]
    # Every process is stateless (its state is in PostgreSQL), so every one scales.
    assert sorted(targets) == sorted(PROCESS_NAMES)


def test_disruption_budgets_cover_every_deployment() -> None:
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in objects("HorizontalPodAutoscaler").values()}
    covered = []
    for name, pdb in objects("PodDisruptionBudget").items():
        assert pdb["apiVersion"] == "policy/v1"
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [n for n, d in objects("Deployment").items() if selects(selector, pod_labels(d))]
        assert len(matched) == 1, f"PDB {name} selects {matched}"
        covered += matched
        # A budget the minimum replica count cannot satisfy would block every node drain.
        assert pdb["spec"]["minAvailable"] < hpas[matched[0]]["spec"]["minReplicas"]
    assert sorted(covered) == sorted(PROCESS_NAMES)


# -------------------------------------------------------------------------------- Job, ConfigMap, Secret


def test_migrate_job(monkeypatch: pytest.MonkeyPatch) -> None:
    (job,) = objects("Job").values()
    container = only_container(job)
    assert container["image"] == IMAGE and "command" not in container
    call = run_cli(container["args"], monkeypatch, "migrate Job")
    assert call[0] == "migrate" and set(call[1:]) <= set(PROCESS_NAMES)
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"].get("backoffLimit", 6) >= 1
    assert_hardened(job)
    env = env_list(container)
    ref = env["SAJJA_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": SECRET_NAME, "key": "SAJJA_DATABASE_URL"}
    for process in PROCESS_NAMES:
        var = f"SAJJA_{process.upper()}_DATABASE_URL"
        assert env[var]["valueFrom"]["secretKeyRef"]["optional"] is True, var
    assert set(env) <= migrate_variables()
    for item in container["resources"].values():
        assert {"cpu", "memory"} <= item.keys()


def test_configmap_settings() -> None:
    (config,) = objects("ConfigMap").values()
    data = config["data"]
    known = set().union(*(known_variables(p) for p in PROCESS_NAMES))
    for var, value in data.items():
        assert var in known, f"ConfigMap: {var} is not a Sajja setting"
        assert not SECRET_VARIABLE.search(var), f"ConfigMap holds a secret: {var}"
        assert isinstance(value, str)
    assert data["SAJJA_ENV"] == "production"
    services = objects("Service")
    assert data["SAJJA_GATEWAY_URL"] == f"http://gateway:{PORT}" and "gateway" in services
    assert data["SAJJA_JWKS_URL"] == f"http://gateway:{PORT}/.well-known/jwks.json"
    for name in SERVICE_NAMES:
        assert data[f"SAJJA_{name.upper()}_URL"] == f"http://{name}:{PORT}"
        assert services[name]["spec"]["ports"][0]["port"] == PORT


def test_secret_example_documents_every_key_and_is_unusable_as_is() -> None:
    (secret,) = load_yaml(SECRET_EXAMPLE)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == SECRET_NAME
    assert "EXAMPLE" in SECRET_EXAMPLE.read_text(encoding="utf-8").upper()
    keys = secret["stringData"]
    text = SECRET_EXAMPLE.read_text(encoding="utf-8")
    for doc in applied():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for item in only_container(doc).get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if not ref:
                continue
            assert ref["name"] == SECRET_NAME
            if ref.get("optional"):
                assert ref["key"] in text, f"secret.example.yaml does not mention {ref['key']}"
            else:
                assert ref["key"] in keys, f"secret.example.yaml lacks the required key {ref['key']}"
    for key, value in keys.items():
        # Empty or "dev-": the processes refuse both outside SAJJA_ENV=dev.
        assert value == "" or "dev-" in value, f"secret.example.yaml: {key} looks like a usable secret"


# ------------------------------------------------------------------------------------------ compose


def test_every_deployment_waits_for_its_schema_before_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The migrate Job completes before a release's pods start (docs/migrations.md): each
    Deployment's init container runs `sajja wait-schema` for the process whose database its
    container works on, with the same image and hardening, and the database URL from the Secret."""
    from shared.worker import WORKERS

    deployments = objects("Deployment")
    assert len(deployments) == len(PROCESS_NAMES) + len(WORKERS)
    for name, deployment in deployments.items():
        process = WORKERS[name.removeprefix("worker-")][0] if name.startswith("worker-") else name
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        assert run_cli(init["args"], monkeypatch, f"{name} init") == ("wait-schema", process), name
        assert init["image"] == only_container(deployment)["image"], name
        security = init["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"], name
        assert security["capabilities"]["drop"] == ["ALL"] and init["resources"]["limits"], name
        env = env_list(init)
        assert env["SAJJA_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME, name
        assert env[f"SAJJA_{process.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["optional"] is True, name


def test_compose_has_postgres_migrate_and_the_five_processes() -> None:
    assert set(compose_services()) == {"postgres", "pgbouncer", "migrate", *PROCESS_NAMES, "workers"}


def test_compose_processes_go_through_pgbouncer_and_migrations_do_not() -> None:
    """The connection budget (deploy/README.md): every process's URL is PgBouncer's, in transaction
    mode, with the pooler setting that keeps prepared statements inside transactions; the
    migration goes to PostgreSQL itself."""
    services = compose_services()
    bouncer = services["pgbouncer"]
    assert bouncer["environment"]["POOL_MODE"] == "transaction"
    assert bouncer["environment"]["DB_HOST"] == "postgres" and "ports" not in bouncer
    assert bouncer["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in (*PROCESS_NAMES, "workers"):
        env = services[name]["environment"]
        assert "@pgbouncer:6432/" in env["SAJJA_DATABASE_URL"] and env["SAJJA_DB_POOLER"] == "pgbouncer", name
        assert services[name]["depends_on"]["pgbouncer"]["condition"] == "service_healthy", name
    assert "@postgres:5432/" in services["migrate"]["environment"]["SAJJA_MIGRATE_DATABASE_URL"]


def test_compose_runs_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    workers = compose_services()["workers"]
    assert run_cli(workers["command"], monkeypatch, "compose workers") == ("worker", ["all"])
    assert workers["environment"]["SAJJA_ENV"] == "production" and "ports" not in workers


def test_compose_postgres() -> None:
    pg = compose_services()["postgres"]
    assert pg["image"] == "postgres:18"
    assert pg["healthcheck"]["test"] and "pg_isready" in " ".join(pg["healthcheck"]["test"])
    # PostgreSQL 18 images keep PGDATA under /var/lib/postgresql/18/docker.
    volume, _, target = pg["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql" and volume in compose()["volumes"]
    assert "ports" not in pg


def test_compose_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    migrate = compose_services()["migrate"]
    assert run_cli(migrate["command"], monkeypatch, "compose migrate")[0] == "migrate"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart") == "no"
    context = (COMPOSE.parent / migrate["build"]["context"]).resolve()
    assert context == ROOT, "the build context must be the repository root"
    assert (context / migrate["build"]["dockerfile"]).resolve() == DOCKERFILE


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_compose_process(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose_services()
    service = services[name]
    assert service["image"] == services["migrate"]["image"], f"{name}: not the image migrate builds"
    assert run_cli(service["command"], monkeypatch, f"compose {name}") == ("serve", name, "0.0.0.0", PORT)
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert service.get("read_only") is True and service.get("cap_drop") == ["ALL"]
    env = service["environment"]
    assert env["SAJJA_ENV"] == "production"
    known = known_variables(name)
    for var in env:
        assert var in known, f"compose {name}: {var} is not a setting of this process"
    for field, names in secret_settings(name).items():
        given = [env[var] for var in names if var in env]
        assert given and re.fullmatch(REQUIRED_REF, str(given[0])), f"compose {name}: {field} must be required"
    if name == "gateway":
        for upstream in SERVICE_NAMES:
            assert env[f"SAJJA_{upstream.upper()}_URL"] == f"http://{upstream}:{PORT}"
    else:
        assert env["SAJJA_GATEWAY_URL"] == f"http://gateway:{PORT}"
        assert env["SAJJA_JWKS_URL"] == f"http://gateway:{PORT}/.well-known/jwks.json"


def test_compose_publishes_only_the_gateway() -> None:
    published = {name: s["ports"] for name, s in compose_services().items() if s.get("ports")}
    assert published == {"gateway": [f"{PORT}:{PORT}"]}


def test_compose_has_no_default_secrets() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    # ${VAR:-default} / ${VAR-default} on a secret: only an empty default (optional, unset) is allowed.
    for var, default in re.findall(r"\$\{(\w+):?-([^}]*)\}", text):
        if SECRET_VARIABLE.search(var):
            assert default == "", f"compose.yaml gives {var} a default"
    for name, service in compose_services().items():
        for var, value in service.get("environment", {}).items():
            if not SECRET_VARIABLE.search(var):
                continue
            value = str(value)
            if var.endswith("DATABASE_URL"):
                # PostgreSQL itself (migrations), or PgBouncer in front of it (the processes).
                match = re.fullmatch(rf"postgresql\+asyncpg://\w+:({REQUIRED_REF})@(postgres:5432|pgbouncer:6432)/postgres", value)
                assert match, f"compose {name}: {var} must take its password from a required variable"
            elif "BOOTSTRAP" in var:
                assert re.fullmatch(rf"{REQUIRED_REF}|\$\{{\w+(:?-)?\}}", value), f"compose {name}: {var}"
            else:
                assert re.fullmatch(REQUIRED_REF, value), f"compose {name}: {var} must be ${{{var}:?...}}"


def test_env_example_lists_every_required_variable_without_values() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text(encoding="utf-8")))
    assert {"POSTGRES_PASSWORD", "SAJJA_SERVICE_SECRET", "SAJJA_GATEWAY_KEY_SECRET"} <= required
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    for var in required:
        assert var in values, f".env.example lacks {var}"
    for var, value in values.items():
        if SECRET_VARIABLE.search(var):
            assert value == "", f".env.example ships a value for {var}"


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not docker_compose_available(), reason="docker compose plugin not installed")
def test_docker_compose_config(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        "POSTGRES_PASSWORD=abc\nSAJJA_SERVICE_SECRET=0123456789abcdef0\nSAJJA_GATEWAY_KEY_SECRET=0123456789abcdef0\n"
    )
    empty = tmp_path / "empty"
    empty.write_text("")
    clean = {k: v for k, v in os.environ.items() if not SECRET_VARIABLE.search(k)}

    def config(env: Path) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "-q"]
        return subprocess.run(command, check=False, capture_output=True, text=True, env=clean, timeout=60)

    ok = config(env_file)
    assert ok.returncode == 0, ok.stderr
    assert config(empty).returncode != 0, "compose must refuse to run without the secrets"


# ------------------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for kw, a in instructions if kw == "ARG" and "=" in a)
    bases = []
    for kw, a in instructions:
        if kw == "FROM":
            image = a.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            bases.append(image)
    assert len(bases) >= 2, "multi-stage build expected"
    assert set(bases) == {"python:3.11-slim"}


def test_dockerfile_runs_sajja_as_a_non_root_user(monkeypatch: pytest.MonkeyPatch) -> None:
    users = [a for kw, a in final_stage() if kw == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "the image must not run as root"
    # Numeric, so Kubernetes can check runAsNonRoot; it matches the manifests' runAsUser.
    assert user.isdigit()
    for doc in applied():
        if doc["kind"] in ("Deployment", "Job"):
            assert str(doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == user
    assert exec_form("ENTRYPOINT") == ["sajja"]
    cmd = exec_form("CMD")
    assert cmd == ["serve", "gateway", *SERVE_ARGS]
    assert run_cli(cmd, monkeypatch, "Dockerfile CMD") == ("serve", "gateway", "0.0.0.0", PORT)
    exposed = [a for kw, a in final_stage() if kw == "EXPOSE"]
    assert exposed and str(PORT) in " ".join(exposed).replace("/tcp", "").split()


def test_dockerfile_installs_without_dev_extras() -> None:
    runs = " ".join(a for kw, a in dockerfile_instructions() if kw == "RUN")
    assert "pip install" in runs
    assert not re.search(r"\[[^\]]*dev[^\]]*\]", runs), "the dev extra must not be installed"
    assert not re.search(r"\b(pytest|kubernetes.validate)\b", runs)
    # The final stage copies only the built virtualenv, no sources from the build context.
    copies = [a for kw, a in final_stage() if kw == "COPY"]
    assert copies and all(a.startswith("--from=") for a in copies)


def test_dockerfile_copies_only_what_the_ignore_file_allows() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "allow-list: exclude everything first"
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    for kw, a in dockerfile_instructions():
        if kw == "COPY" and not a.startswith("--from="):
            *sources, _dest = a.split()
            for source in sources:
                assert source in allowed, f"COPY {source} is excluded by Dockerfile.dockerignore"
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    # What `pip install .` needs: pyproject.toml, the readme it names, and every package.
    assert {"pyproject.toml", "README.md", "shared", "gateway", "services"} <= allowed


class _Stub(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # http.server's name
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("status", [200, 503])
def test_dockerfile_healthcheck_reports_readiness(status: int) -> None:
    command = healthcheck_command()
    assert command[0] == "python", "stdlib Python only: the slim image has no curl"
    code = command[command.index("-c") + 1]
    assert "urllib" in code and f"http://127.0.0.1:{PORT}/readyz" in code

    handler = type("Handler", (_Stub,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/readyz"
        env = {**os.environ, "SAJJA_HEALTHCHECK_URL": url}
        result = subprocess.run([sys.executable, *command[1:]], check=False, env=env, capture_output=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) == (status == 200), result.stderr


def test_dockerfile_healthcheck_fails_when_nothing_listens() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    env = {**os.environ, "SAJJA_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/readyz"}
    command = [sys.executable, *healthcheck_command()[1:]]
    result = subprocess.run(command, check=False, env=env, capture_output=True, timeout=30)
    assert result.returncode != 0


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed")
def test_hadolint() -> None:
    result = subprocess.run(["hadolint", str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------- names and docs


def used_variables() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in [COMPOSE, DOCKERFILE, *K8S_FILES])
    return set(re.findall(r"\bSAJJA_[A-Z0-9_]*[A-Z0-9]\b", text))


def test_every_process_name_used_is_a_real_process() -> None:
    names: set[str] = set()
    names |= set(objects("Deployment")) | set(objects("Service"))
    names |= {h["spec"]["scaleTargetRef"]["name"] for h in objects("HorizontalPodAutoscaler").values()}
    names -= {f"worker-{w}" for w in WORKER_NAMES}
    names |= set(sajja_compose_services()) - {"migrate", "workers"}
    for doc in applied():
        if doc["kind"] == "Deployment" and only_container(doc)["args"][0] == "serve":
            names.add(only_container(doc)["args"][1])
    for service in sajja_compose_services().values():
        if service["command"][0] == "serve":
            names.add(service["command"][1])
    # SAJJA_<PROCESS>_DATABASE_URL (a process's own server) and SAJJA_<PROCESS>_URL (an upstream).
    not_processes = {"SAJJA_DATABASE_URL", "SAJJA_JWKS_URL", "SAJJA_HEALTHCHECK_URL", "SAJJA_MIGRATE_DATABASE_URL"}
    for var in used_variables() - not_processes:
        match = re.fullmatch(r"SAJJA_([A-Z]+)_(?:DATABASE_)?URL", var)
        if match:
            names.add(match.group(1).lower())
    unknown = sorted(names - set(PROCESS_NAMES))
    assert names and not unknown, f"unknown process names: {unknown}"


def test_readme_documents_the_commands_and_every_variable() -> None:
    text = README.read_text(encoding="utf-8")
    for command in (
        "docker build -f deploy/Dockerfile",
        "docker compose -f deploy/compose.yaml",
        "kubectl apply -k deploy/k8s",
    ):
        assert command in text, f"deploy/README.md does not show `{command}`"
    per_process = re.compile(rf"SAJJA_({'|'.join(p.upper() for p in PROCESS_NAMES)})_DATABASE_URL")
    for var in used_variables():
        documented = per_process.sub("SAJJA_<PROCESS>_DATABASE_URL", var)
        assert documented in text, f"deploy/README.md does not document {var}"


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_compose_gives_each_process_the_address_of_every_service_it_calls(name: str) -> None:
    """A setting ``<service>_url`` left at its default (127.0.0.1) points a container at itself:
    every process is told where each service it calls lives, by its compose name."""
    env = compose_services()[name]["environment"]
    for service in SERVICE_NAMES:
        if f"{service}_url" in settings_class(name).model_fields:
            assert env.get(f"SAJJA_{service.upper()}_URL") == f"http://{service}:8000", (name, service)
