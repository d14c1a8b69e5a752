"""The subset of kustomize deploy/kubernetes uses, for validate.py: renders an overlay
without kubectl, and compares with `kubectl kustomize` where kubectl is installed."""

import hashlib
import json
import pathlib
import subprocess

import yaml

KUSTOMIZATION_FIELDS = {
    "apiVersion", "kind", "namespace", "resources", "configMapGenerator", "labels",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                  "PriorityClass", "CustomResourceDefinition"}


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def configmap_hash(cm):
    """kustomize's name suffix of a generated ConfigMap: sha256 of Go's json.Marshal of
    its kind, name and data (the name still empty when kustomize 5 hashes a generated
    one), the first 10 hex digits re-lettered."""
    m = {"data": cm.get("data", {}), "kind": "ConfigMap", "name": ""}
    text = json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoder escapes these for HTML safety.
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def pod_spec(doc):
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec.get("template", {}).get("spec")
    if doc["kind"] == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if doc["kind"] == "Pod":
        return spec
    return None


def rename_configmaps(doc, renames):
    ps = pod_spec(doc)
    if not ps:
        return
    for v in ps.get("volumes", []) or []:
        if "configMap" in v and v["configMap"].get("name") in renames:
            v["configMap"]["name"] = renames[v["configMap"]["name"]]
    for c in (ps.get("containers", []) or []) + (ps.get("initContainers", []) or []):
        for e in c.get("envFrom", []) or []:
            ref = e.get("configMapRef")
            if ref and ref.get("name") in renames:
                ref["name"] = renames[ref["name"]]
        for e in c.get("env", []) or []:
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and ref.get("name") in renames:
                ref["name"] = renames[ref["name"]]


def render_builtin(directory):
    """The subset of kustomize these manifests use: resources (files and directories),
    configMapGenerator (files), labels (metadata only), namespace. Anything else in a
    kustomization.yaml is refused rather than silently ignored."""
    directory = pathlib.Path(directory)
    k = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(k) - KUSTOMIZATION_FIELDS
    if unknown:
        raise SystemExit(f"{directory}/kustomization.yaml: fields the built-in renderer "
                         f"does not know: {sorted(unknown)} (use kubectl kustomize)")
    docs = []
    for r in k.get("resources", []):
        p = directory / r
        docs.extend(render_builtin(p) if p.is_dir() else load_docs(p))
    renames = {}
    for g in k.get("configMapGenerator", []):
        if set(g) - {"name", "files"}:
            raise SystemExit(f"{directory}: configMapGenerator fields beyond name/files")
        data = {}
        for f in g["files"]:
            key, _, path = f.partition("=") if "=" in f else (pathlib.Path(f).name, "", f)
            data[key] = (directory / path).read_text()
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"]},
              "data": data}
        hashed = f"{g['name']}-{configmap_hash(cm)}"
        renames[g["name"]] = hashed
        cm["metadata"]["name"] = hashed
        docs.append(cm)
    for d in docs:
        rename_configmaps(d, renames)
    for entry in k.get("labels", []):
        if set(entry) - {"pairs"}:
            raise SystemExit(f"{directory}: labels options beyond pairs")
        for d in docs:
            d.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    if "namespace" in k:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = k["namespace"]
    return docs


def render_kubectl(directory):
    out = subprocess.run(["kubectl", "kustomize", str(directory)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"kubectl kustomize {directory} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def key(doc):
    return (doc["kind"], doc["metadata"]["name"])


def compare_renderings(real, mine):
    """What differs between kubectl's documents and the built-in renderer's."""
    problems = []
    a = {key(d): d for d in real}
    b = {key(d): d for d in mine}
    for k_ in sorted(set(a) | set(b)):
        if k_ not in a or k_ not in b:
            problems.append(f"{k_} rendered by {'kubectl' if k_ in a else 'validate.py'} only")
        elif a[k_] != b[k_]:
            path, x, y = first_difference(a[k_], b[k_])
            problems.append(f"{k_} differs between kubectl kustomize and validate.py's renderer "
                            f"at {path}: kubectl {json.dumps(x)[:300]}, validate.py {json.dumps(y)[:300]}")
    return problems


def first_difference(x, y, path="$"):
    if isinstance(x, dict) and isinstance(y, dict):
        for k_ in sorted(set(x) | set(y), key=str):
            if x.get(k_) != y.get(k_):
                return first_difference(x.get(k_), y.get(k_), f"{path}.{k_}")
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (a, b) in enumerate(zip(x, y)):
            if a != b:
                return first_difference(a, b, f"{path}[{i}]")
    return path, x, y
