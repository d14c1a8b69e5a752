#!/usr/bin/env python3
"""Renders each overlay under deploy/kubernetes/overlays and checks it, offline.

  python3 deploy/kubernetes/validate.py [--pulsegate PATH] [--require-kubectl] [--require-promtool]

For every overlay:
  * render it with the real kustomize (`kubectl kustomize`) when kubectl is on PATH,
    and with the small renderer below (the subset of kustomize these manifests use);
    both must give the same documents. Without kubectl (or with PULSEGATE_NO_KUBECTL=1)
    the small renderer's output is checked alone.
  * validate every document against the Kubernetes OpenAPI schemas in strict mode
    (unknown fields are errors) for the oldest and newest versions in K8S_VERSIONS,
    with the schemas bundled in the PyPI package kubernetes-validate (no network);
    KEDA's ScaledObject (a CRD) against SCALED_OBJECT_SCHEMA below.
  * check what the project requires of them: no Secret inlined, non-root, read-only
    root filesystem, no capabilities, memory requests and limits, probes on /readyz and
    /healthz of the admin listener, the admin port never on a public Service, the
    ports and data dir agreeing with the pulsegate.toml of the overlay's ConfigMap,
    the key file outside the data dir and mounted from a Secret, references resolving
    (ConfigMaps, Secrets documented in base/secret.example.yaml, scale targets,
    selectors).
  * with --pulsegate: `pulsegate check-config` accepts the overlay's pulsegate.toml.
  * with promtool on PATH: every KEDA Prometheus query parses, and promtool's rule
    unit tests show the dispatch query leaves out destinations whose breaker is open.

The example files (base/*.example.yaml) are validated against the schemas as well.
kustomize_lite.py (the renderer) and keda.py (the ScaledObject schema, the promtool
checks of its queries) beside this file are parts of it.
Exit status 0 when everything holds; otherwise every problem is printed, status 1.
"""

import argparse
import copy
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import tomllib

try:
    import jsonschema
    import kubernetes_validate
    import yaml
except ImportError as e:  # test.sh installs them (pip_pin kubernetes-validate ...)
    sys.exit(f"validate.py needs PyYAML, jsonschema and kubernetes-validate: {e}")

sys.dont_write_bytecode = True  # no __pycache__ beside the manifests
from keda import SCALED_OBJECT_SCHEMA, check_queries  # noqa: E402 (after the check above)
from kustomize_lite import (  # noqa: E402
    compare_renderings, key, load_docs, render_builtin, render_kubectl)

HERE = pathlib.Path(__file__).resolve().parent
K8S_VERSIONS = ["1.28.0", "1.37.0"]
PUBLIC_PORT_NAME = "http"
ADMIN_PORT_NAME = "admin"
INTERNAL_LABEL = ("pulsegate.io/exposure", "internal")
ROLES = {"serve", "ingest", "normalize", "dispatch"}

problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


def validate_schema(where, doc):
    if doc.get("apiVersion") == "keda.sh/v1alpha1":
        v = jsonschema.Draft202012Validator(SCALED_OBJECT_SCHEMA)
        for e in sorted(v.iter_errors(doc), key=lambda e: list(e.path)):
            problem(where, f"{key(doc)} (KEDA schema) at {'.'.join(map(str, e.path))}: {e.message}")
        return
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problem(where, f"{key(doc)} invalid for Kubernetes {version} at {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problem(where, f"{key(doc)}: no Kubernetes {version} schema for "
                           f"{doc.get('apiVersion')}/{doc.get('kind')}")


# --------------------------------------------------------------------------- policy

def documented_secrets():
    return {d["metadata"]["name"]: set((d.get("stringData") or {}) | (d.get("data") or {}))
            for d in load_docs(HERE / "base" / "secret.example.yaml") if d["kind"] == "Secret"}


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_overlay(name, docs, pulsegate_bin):
    where = f"overlay {name}"
    secrets = documented_secrets()
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for s in by_kind.get("Secret", []):
        problem(where, f"Secret {s['metadata']['name']} is inlined: create Secrets with kubectl "
                       "(README.md), keep only placeholders in base/secret.example.yaml")
    cms = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    tomls = {n: tomllib.loads(c["data"]["pulsegate.toml"]) for n, c in cms.items()
             if "pulsegate.toml" in (c.get("data") or {})}
    if len(tomls) != 1:
        problem(where, f"expected one ConfigMap with a pulsegate.toml, found {sorted(tomls)}")
        return
    (cm_name, cfg), = tomls.items()
    public_port = port_of(cfg["server"]["listen"])
    admin_port = port_of(cfg["admin"]["listen"])
    data_dir = cfg["bus"]["data_dir"]
    kind = cfg["bus"]["kind"]
    if pulsegate_bin:
        check_config(where, pulsegate_bin, cms[cm_name]["data"]["pulsegate.toml"])

    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    if not workloads:
        problem(where, "no workload")
    roles = set()
    for w in workloads:
        wn = f"{w['kind']} {w['metadata']['name']}"
        spec = w["spec"]
        tmpl_labels = spec["template"]["metadata"].get("labels", {})
        if not labels_match(spec["selector"].get("matchLabels"), tmpl_labels):
            problem(where, f"{wn}: selector does not match its pod template's labels")
        ps = spec["template"]["spec"]
        psc = ps.get("securityContext", {})
        if ps.get("automountServiceAccountToken") is not False:
            problem(where, f"{wn}: automountServiceAccountToken must be false")
        if ps.get("serviceAccountName") not in {s["metadata"]["name"] for s in by_kind.get("ServiceAccount", [])}:
            problem(where, f"{wn}: its ServiceAccount is not part of the overlay")
        volumes = {v["name"]: v for v in ps.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in cms:
                problem(where, f"{wn}: volume {v['name']} names ConfigMap {v['configMap']['name']}, not rendered")
            if "secret" in v:
                sn = v["secret"]["secretName"]
                if sn not in secrets:
                    problem(where, f"{wn}: Secret {sn} is not described in base/secret.example.yaml")
                mode = v["secret"].get("defaultMode", 0o644)
                if mode & 0o037:
                    problem(where, f"{wn}: Secret volume {v['name']} writable or readable by others ({oct(mode)})")
                # Secret files belong to root: a non-root user reads them through fsGroup.
                if psc.get("fsGroup") != psc.get("runAsGroup") or not psc.get("fsGroup"):
                    problem(where, f"{wn}: Secret volume {v['name']} needs fsGroup = runAsGroup to be readable")
        for c in ps["containers"]:
            cn = f"{wn} container {c['name']}"
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
                problem(where, f"{cn}: runAsNonRoot not set")
            if (sc.get("runAsUser", psc.get("runAsUser")) or 0) == 0:
                problem(where, f"{cn}: runs as uid 0")
            if sc.get("readOnlyRootFilesystem") is not True:
                problem(where, f"{cn}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problem(where, f"{cn}: allowPrivilegeEscalation must be false")
            if "ALL" not in (sc.get("capabilities", {}).get("drop") or []):
                problem(where, f"{cn}: capabilities must drop ALL")
            if sc.get("capabilities", {}).get("add"):
                problem(where, f"{cn}: adds capabilities")
            res = c.get("resources", {})
            if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
                problem(where, f"{cn}: memory request and limit are required")
            # The command: pulsegate <role> --config <the ConfigMap's file>.
            argv = (c.get("command") or []) + (c.get("args") or [])
            if len(argv) < 4 or argv[0] != "pulsegate" or argv[1] not in ROLES or argv[2] != "--config":
                problem(where, f"{cn}: command must be pulsegate <role> --config <file>: {argv}")
            else:
                roles.add(argv[1])
                cfg_path = pathlib.PurePosixPath(argv[3])
                mount = next((m for m in c.get("volumeMounts", [])
                              if m["name"] in volumes and "configMap" in volumes[m["name"]]
                              and cfg_path.parent == pathlib.PurePosixPath(m["mountPath"])), None)
                if mount is None or cfg_path.name != "pulsegate.toml":
                    problem(where, f"{cn}: --config {cfg_path} is not the mounted ConfigMap's pulsegate.toml")
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            if ports.get(PUBLIC_PORT_NAME) != public_port:
                problem(where, f"{cn}: port {PUBLIC_PORT_NAME} must be [server] listen's {public_port}")
            if ports.get(ADMIN_PORT_NAME) != admin_port:
                problem(where, f"{cn}: port {ADMIN_PORT_NAME} must be [admin] listen's {admin_port}")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                                ("startupProbe", "/healthz")):
                get = (c.get(probe) or {}).get("httpGet") or {}
                if get.get("path") != path or get.get("port") not in (ADMIN_PORT_NAME, admin_port):
                    problem(where, f"{cn}: {probe} must GET {path} on the admin listener, is {get}")
            env = {e["name"]: e for e in c.get("env", [])}
            for n, e in env.items():
                secretish = any(w in n for w in ("TOKEN", "SECRET", "PASSWORD", "ENCRYPTION_KEY"))
                if secretish and "value" in e:
                    problem(where, f"{cn}: {n} has an inline value: take it from a Secret")
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("key") not in secrets.get(ref.get("name"), set()):
                    problem(where, f"{cn}: {n} reads {ref} not described in base/secret.example.yaml")
            for e in c.get("envFrom", []):
                ref = e.get("secretRef")
                if ref and ref["name"] not in secrets:
                    problem(where, f"{cn}: envFrom Secret {ref['name']} not described in base/secret.example.yaml")
            # The encryption key: a file from a Secret volume, outside the data dir.
            key_file = (env.get("PULSEGATE_SECURITY__KEY_FILE") or {}).get("value")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            if not key_file:
                problem(where, f"{cn}: PULSEGATE_SECURITY__KEY_FILE must name the mounted key file")
            else:
                kdir = str(pathlib.PurePosixPath(key_file).parent)
                m = mounts.get(kdir)
                if not m or "secret" not in volumes.get(m["name"], {}):
                    problem(where, f"{cn}: the key file's directory {kdir} is not a Secret volume")
                elif pathlib.PurePosixPath(key_file).name not in secrets.get(volumes[m["name"]]["secret"]["secretName"], set()):
                    problem(where, f"{cn}: the key Secret has no {pathlib.PurePosixPath(key_file).name}")
                if key_file.startswith(data_dir.rstrip("/") + "/"):
                    problem(where, f"{cn}: key file {key_file} inside bus.data_dir {data_dir}")
            if argv[1:2] in (["ingest"], ["dispatch"], ["serve"]):
                ref = ((env.get("PULSEGATE_ADMIN__TOKEN") or {}).get("valueFrom") or {}).get("secretKeyRef")
                if not ref:
                    problem(where, f"{cn}: PULSEGATE_ADMIN__TOKEN must come from a Secret")
            dm = mounts.get(data_dir)
            if not dm:
                problem(where, f"{cn}: nothing mounted at bus.data_dir {data_dir} (read-only root)")
            elif kind == "embedded" and dm["name"] not in claims:
                problem(where, f"{cn}: the embedded log's {data_dir} must be a PersistentVolumeClaim")
            if "/tmp" not in mounts:
                problem(where, f"{cn}: no writable /tmp (read-only root)")
    expected_roles = {"serve"} if kind == "embedded" else {"ingest", "normalize", "dispatch"}
    if roles != expected_roles:
        problem(where, f"roles {sorted(roles)}, expected {sorted(expected_roles)} for bus.kind {kind}")
    if kind == "embedded":
        for w in workloads:
            if w["kind"] != "StatefulSet" or w["spec"].get("replicas") != 1:
                problem(where, f"{key(w)}: the embedded log needs a StatefulSet of exactly 1 replica")

    pods = [w["spec"]["template"]["metadata"].get("labels", {}) for w in workloads]
    for s in by_kind.get("Service", []):
        sn = f"Service {s['metadata']['name']}"
        sel = s["spec"].get("selector")
        if not sel or not any(labels_match(sel, p) for p in pods):
            problem(where, f"{sn}: selects no pod")
        targets = {p.get("targetPort") for p in s["spec"]["ports"]} | {p["port"] for p in s["spec"]["ports"]}
        admin = ADMIN_PORT_NAME in targets or admin_port in targets
        if admin:
            if s["metadata"].get("labels", {}).get(INTERNAL_LABEL[0]) != INTERNAL_LABEL[1]:
                problem(where, f"{sn}: serves the admin port without the label {'='.join(INTERNAL_LABEL)}")
            if s["spec"].get("type", "ClusterIP") != "ClusterIP":
                problem(where, f"{sn}: the admin port must stay ClusterIP (inside the cluster)")
            if PUBLIC_PORT_NAME in targets or public_port in targets:
                problem(where, f"{sn}: mixes the public and the admin port")
    public = [s for s in by_kind.get("Service", []) if s["metadata"]["name"] == "pulsegate"]
    if len(public) != 1 or [p.get("targetPort") for p in public[0]["spec"]["ports"]] != [PUBLIC_PORT_NAME]:
        problem(where, "the public Service pulsegate must expose exactly the public listener's port")
    for i in by_kind.get("Ingress", []):
        check_ingress(where, i)

    targets = {(w["kind"], w["metadata"]["name"]) for w in workloads}
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not any(labels_match(pdb["spec"]["selector"]["matchLabels"], p) for p in pods):
            problem(where, f"PodDisruptionBudget {pdb['metadata']['name']} selects no pod")
    scaled = []
    for h in by_kind.get("HorizontalPodAutoscaler", []) + by_kind.get("ScaledObject", []):
        ref = h["spec"]["scaleTargetRef"]
        t = (ref.get("kind", "Deployment"), ref["name"])
        scaled.append(t)
        if t not in targets:
            problem(where, f"{h['kind']} {h['metadata']['name']} scales {t}, not in the overlay")
    if len(scaled) != len(set(scaled)):
        problem(where, f"a workload has two autoscalers: {scaled}")
    for w in workloads:
        if (w["kind"], w["metadata"]["name"]) in scaled and "replicas" in w["spec"]:
            problem(where, f"{key(w)} is autoscaled but sets replicas (a re-apply would reset it)")
    for so in by_kind.get("ScaledObject", []):
        if so["spec"].get("maxReplicaCount", 100) > cfg["bus"].get("partitions", 8):
            problem(where, f"ScaledObject {so['metadata']['name']}: maxReplicaCount above bus.partitions")
    if kind == "kafka":
        want = {("Deployment", "pulsegate-normalize"), ("Deployment", "pulsegate-dispatch")}
        got = {(so["spec"]["scaleTargetRef"].get("kind", "Deployment"), so["spec"]["scaleTargetRef"]["name"])
               for so in by_kind.get("ScaledObject", [])}
        if got != want:
            problem(where, f"ScaledObjects scale {sorted(got)}, expected {sorted(want)}")
        pdbs = {tuple(sorted(p["spec"]["selector"]["matchLabels"].items())) for p in by_kind.get("PodDisruptionBudget", [])}
        for w in workloads:
            if tuple(sorted(w["spec"]["selector"]["matchLabels"].items())) not in pdbs:
                problem(where, f"{key(w)} has no PodDisruptionBudget")
    return by_kind.get("ScaledObject", [])


def check_ingress(where, ingress):
    """An Ingress routes only to the public Service's public port, with TLS."""
    if not ingress["spec"].get("tls"):
        problem(where, f"Ingress {ingress['metadata']['name']}: no TLS")
    for r in ingress["spec"].get("rules", []):
        for p in r.get("http", {}).get("paths", []):
            svc = p["backend"].get("service", {})
            if svc.get("name") != "pulsegate" or svc.get("port") not in ({"name": PUBLIC_PORT_NAME}, {"number": 8080}):
                problem(where, f"Ingress {ingress['metadata']['name']} routes to {svc}, not the public Service's port")


def check_config(where, pulsegate_bin, toml_text):
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "pulsegate.toml"
        path.write_text(toml_text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSEGATE_")}
        env["PULSEGATE_ADMIN__TOKEN"] = "validate-py-admin-token-0123456789abcdef0123"
        out = subprocess.run([pulsegate_bin, "check-config", "--config", str(path)],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0 or "configuration is valid" not in out.stdout:
            problem(where, f"pulsegate check-config refused the ConfigMap's pulsegate.toml: "
                           f"{out.stdout}{out.stderr}")


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pulsegate", help="the pulsegate binary: check-config each overlay's TOML")
    ap.add_argument("--require-kubectl", action="store_true",
                    help="fail when kubectl is missing instead of using the built-in renderer alone")
    ap.add_argument("--require-promtool", action="store_true",
                    help="fail when promtool is missing instead of skipping the query checks")
    args = ap.parse_args()
    root = HERE

    kubectl = shutil.which("kubectl") if os.environ.get("PULSEGATE_NO_KUBECTL") != "1" else None
    if args.require_kubectl and not kubectl:
        sys.exit("kubectl not found (--require-kubectl)")
    promtool = shutil.which("promtool")
    if args.require_promtool and not promtool:
        sys.exit("promtool not found (--require-promtool; Debian package prometheus)")

    overlays = sorted(p for p in (root / "overlays").iterdir() if (p / "kustomization.yaml").exists())
    if not overlays:
        sys.exit(f"no overlays under {root / 'overlays'}")
    scaled_objects = []
    for o in overlays:
        where = f"overlay {o.name}"
        mine = render_builtin(o)
        if kubectl:
            docs = render_kubectl(o)
            for p in compare_renderings(docs, copy.deepcopy(mine)):
                problem(where, p)
        else:
            docs = mine
        for d in docs:
            validate_schema(where, d)
        scaled_objects += check_overlay(o.name, docs, args.pulsegate)
        print(f"{where}: {len(docs)} documents "
              f"({'kubectl kustomize and the built-in renderer' if kubectl else 'built-in renderer'})")
    for example in sorted(root.glob("**/*.example.yaml")):
        for d in load_docs(example):
            validate_schema(str(example.relative_to(root)), d)
            if d["kind"] == "Ingress":
                check_ingress(str(example.relative_to(root)), d)
        print(f"{example.relative_to(root)}: schema-checked")
    if promtool:
        for p in check_queries(scaled_objects):
            problem("KEDA queries", p)
        print(f"KEDA queries: promtool checked {len(scaled_objects)} ScaledObjects")
    else:
        print("KEDA queries: promtool not found, not checked")

    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        sys.exit(1)
    print("all manifests valid")


if __name__ == "__main__":
    main()
