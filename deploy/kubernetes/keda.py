"""KEDA's ScaledObject for validate.py: a JSON schema of its spec (a CRD, so not among
the Kubernetes schemas), and promtool checks of its Prometheus queries."""

import pathlib
import subprocess
import tempfile

import yaml

# KEDA 2.x ScaledObject (keda.sh/v1alpha1): the fields of its CRD's spec, closed so
# that a misspelt one is an error as in the strict Kubernetes schemas; trigger metadata
# values must be strings (KEDA refuses numbers there).
_POLICY = {
    "type": "object", "additionalProperties": False,
    "required": ["type", "value", "periodSeconds"],
    "properties": {"type": {"enum": ["Pods", "Percent"]},
                   "value": {"type": "integer", "minimum": 1},
                   "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800}},
}
_RULES = {
    "type": "object", "additionalProperties": False,
    "properties": {"stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
                   "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
                   "policies": {"type": "array", "minItems": 1, "items": _POLICY}},
}
SCALED_OBJECT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string", "minLength": 1}}},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "additionalProperties": False, "required": ["name"],
                    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                   "name": {"type": "string"},
                                   "envSourceContainerName": {"type": "string"}},
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object", "additionalProperties": False,
                    "required": ["failureThreshold", "replicas"],
                    "properties": {"failureThreshold": {"type": "integer", "minimum": 1},
                                   "replicas": {"type": "integer", "minimum": 1},
                                   "behavior": {"type": "string"}},
                },
                "advanced": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object", "additionalProperties": False,
                            "properties": {"name": {"type": "string"},
                                           "behavior": {"type": "object", "additionalProperties": False,
                                                        "properties": {"scaleUp": _RULES,
                                                                       "scaleDown": _RULES}}},
                        },
                        "scalingModifiers": {"type": "object"},
                    },
                },
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {
                                "type": "object", "additionalProperties": False, "required": ["name"],
                                "properties": {"name": {"type": "string"},
                                               "kind": {"enum": ["TriggerAuthentication",
                                                                 "ClusterTriggerAuthentication"]}},
                            },
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                        # What each scaler this project uses requires (KEDA's scaler docs).
                        "allOf": [
                            {"if": {"properties": {"type": {"const": "prometheus"}}},
                             "then": {"properties": {"metadata": {
                                 "required": ["serverAddress", "query", "threshold"],
                                 "properties": {"threshold": {"pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                                "ignoreNullValues": {"enum": ["true", "false"]}}}}}},
                            {"if": {"properties": {"type": {"const": "kafka"}}},
                             "then": {"properties": {"metadata": {
                                 "required": ["bootstrapServers", "consumerGroup"]}}}},
                        ],
                    },
                },
            },
        },
    },
}


DISPATCH_QUERY_TEST = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # Two dispatcher replicas report the same partitions of destination a's group.
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="d1",topic="events",group="dispatch.a",partition="0"}'
        values: '300x5'
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="d2",topic="events",group="dispatch.a",partition="0"}'
        values: '300x5'
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="d1",topic="events",group="dispatch.a",partition="1"}'
        values: '200x5'
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="d1",topic="events",group="dispatch.b",partition="0"}'
        values: '100x5'
      # Destination c is paused by its circuit breaker: its lag must not scale anything.
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="d1",topic="events",group="dispatch.c",partition="0"}'
        values: '90000x5'
      - series: 'pulsegate_destination_breaker_open{namespace="pulsegate",pod="d1",destination="c"}'
        values: '1x5'
      - series: 'pulsegate_destination_breaker_open{namespace="pulsegate",pod="d1",destination="a"}'
        values: '0x5'
      # Retry tiers wait by design.
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="d1",topic="retry.3",group="dispatch.retry.3",partition="0"}'
        values: '70000x5'
      # Another installation in another namespace.
      - series: 'pulsegate_consumer_lag{namespace="other",pod="x",topic="events",group="dispatch.a",partition="0"}'
        values: '50000x5'
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="n1",topic="raw",group="normalizer",partition="0"}'
        values: '700x5'
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="n2",topic="raw",group="normalizer",partition="0"}'
        values: '700x5'
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="n2",topic="raw",group="normalizer",partition="1"}'
        values: '50x5'
      - series: 'pulsegate_consumer_lag{namespace="pulsegate",pod="n2",topic="raw",group="poll",partition="1"}'
        values: '9999x5'
    promql_expr_test:
      - expr: keda:pulsegate_dispatch
        eval_time: 4m
        exp_samples:
          - labels: 'keda:pulsegate_dispatch'
            value: 500
      - expr: keda:pulsegate_normalize
        eval_time: 4m
        exp_samples:
          - labels: 'keda:pulsegate_normalize'
            value: 750
  - interval: 1m
    input_series: []
    promql_expr_test:
      # Nothing scraped yet (no destination): 0, not "no data" (which KEDA with
      # ignoreNullValues=false would take as an error and fall back on).
      - expr: keda:pulsegate_dispatch
        eval_time: 1m
        exp_samples:
          - labels: 'keda:pulsegate_dispatch'
            value: 0
      - expr: keda:pulsegate_normalize
        eval_time: 1m
        exp_samples:
          - labels: 'keda:pulsegate_normalize'
            value: 0
"""


def check_queries(scaled_objects):
    """promtool parses every Prometheus trigger's query, and unit-tests the two
    ScaledObjects' queries (DISPATCH_QUERY_TEST). Returns the problems found."""
    problems = []
    rules = []
    for so in scaled_objects:
        for t in so["spec"]["triggers"]:
            if t["type"] == "prometheus":
                rules.append({"record": f"keda:{so['metadata']['name'].replace('-', '_')}",
                              "expr": t["metadata"]["query"].strip()})
    if not rules:
        return problems
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        (d / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "keda", "rules": rules}]}))
        out = subprocess.run(["promtool", "check", "rules", str(d / "rules.yml")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            problems.append(f"promtool check rules:\n{out.stdout}{out.stderr}")
            return problems
        names = {r["record"] for r in rules}
        if names == {"keda:pulsegate_dispatch", "keda:pulsegate_normalize"}:
            (d / "test.yml").write_text(DISPATCH_QUERY_TEST)
            out = subprocess.run(["promtool", "test", "rules", str(d / "test.yml")],
                                 capture_output=True, text=True, cwd=d)
            if out.returncode != 0:
                problems.append(f"promtool test rules:\n{out.stdout}{out.stderr}")
        else:
            problems.append(f"unexpected ScaledObjects {sorted(names)}: update DISPATCH_QUERY_TEST")
    return problems
