"""Checks webhook deliveries with terra-python 1.1.0: signature (and that a wrong secret
fails) and the body strictly against the client's webhook model for its `type` (the
same checks as suite.py's `webhooks` mode, without a harness).

argv[1]: a JSON file {"secret": ..., "deliveries": [{"headers": {...}, "body": "..."}]}.
Prints `ok: <type> <Model>` per delivery; exits 1 on any problem.
"""

import json
import os
import sys

with open(sys.argv[1]) as f:
    job = json.load(f)
# suite.py reads these at import; this mode talks to neither.
os.environ.setdefault("PG_URL", "http://127.0.0.1:9")
os.environ.setdefault("PG_HARNESS_URL", "http://127.0.0.1:9")
os.environ["PG_SIGNING_SECRET"] = job["secret"]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

failed = False
for d in job["deliveries"]:
    body, cls, problems = suite.check_webhook(d)
    if problems:
        failed = True
        print(f"FAIL {body.get('type')}: {problems}", flush=True)
    else:
        print(f"ok: {body.get('type')} {cls.__name__}", flush=True)
sys.exit(1 if failed else 0)
