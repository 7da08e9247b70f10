"""Figure 1, cold start: each handler module started in a fresh process, in a Lambda-like layout
(relay_local.bundle.lambda_layout), beside a floor (boto3 and the same clients alone)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from relay_local.bench import OUT_DIR
from relay_local.template import FUNCTIONS, ROOT

COLD_ENV = {  # as template.yaml configures the functions on AWS: secrets named in SSM, not given
    "MEDIA_BUCKET": "bench-media-bucket",
    "PUSH_LOG_TABLE": "bench-push-log",
    "SEND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    "SEND_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    "PICKY_TOKEN_PARAMETER": "/picky-relay/token",
    "SIGNING_SECRET_PARAMETER": "/picky-relay/signing-secret",
    "EVENTS_SECRET_PARAMETER": "/picky-relay/events-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "RATE_LIMIT_TABLE": "bench-rate-limit",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "PickyRelay",
    "POWERTOOLS_SERVICE_NAME": "picky-media-relay",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

_T0 = "import time\n_t0 = time.perf_counter()\n"
_PRINT = "print(repr(time.perf_counter() - _t0))\n"
#: each handler module and what it builds once per container (nothing is fetched: no network)
COLD_INIT = {
    "ingest": "import ingest.app\nfrom relay.wiring import container\nc = container(); c.ingest_records; c.intake()\n",
    "sender": "import sender.app\nfrom relay.wiring import container\nc = container(); c.send_records; c.sender\n",
    "api": (
        "import api.app\nfrom relay.wiring import container\n"
        "c = container(); c.push_service; c.create_push; c.signing_secret; c.events_secret\n"
    ),
}
COLD_SCRIPTS = {name: _T0 + init + _PRINT for name, init in COLD_INIT.items()}
#: the floor: boto3 and the clients each handler needs, and nothing else
_PRESIGN = "boto3.client('s3', config=Config(signature_version='s3v4', s3={'addressing_style': 'virtual'}))\n"
_CLIENTS = {
    "ingest": "boto3.client('s3')\nboto3.client('dynamodb')\nboto3.client('sqs')\n",
    "sender": _PRESIGN + "boto3.client('dynamodb')\nboto3.client('sqs')\nboto3.client('ssm')\n",
    "api": "boto3.client('s3')\nboto3.client('dynamodb')\nboto3.client('sqs')\nboto3.client('ssm')\n",
}
FLOOR_SCRIPTS = {name: _T0 + "import boto3\nfrom botocore.config import Config\n" + clients + _PRINT for name, clients in _CLIENTS.items()}
_OUR_PACKAGES = ("relay", "ingest", "sender", "api")
#: after a handler's init, the third-party modules it loaded (from the bundle or the runtime), in import order
_MODULES_SCRIPT = (
    "import json, sys\n{init}"
    "roots = {roots!r}\n"
    "print(json.dumps([n for n, m in list(sys.modules.items()) if n.split('.')[0] not in {ours!r}\n"
    "    and any(str(getattr(m, '__file__', None) or '').startswith(r) for r in roots)]))\n"
)


#: variables the relay's settings read: never inherited from the bench's own environment
_SETTING_NAMES = {
    "MEDIA_BUCKET",
    "PUSH_LOG_TABLE",
    "SEND_QUEUE_URL",
    "PICKY_TOKEN",
    "PICKY_API_URL",
    "SIGNING_SECRET",
    "EVENTS_SECRET",
    "IDEMPOTENCY_TABLE",
    "RATE_LIMIT_TABLE",
    "SEND_DLQ_URL",
    "PICKY_TOKEN_PARAMETER",
    "SIGNING_SECRET_PARAMETER",
    "EVENTS_SECRET_PARAMETER",
}


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON")) and k not in _SETTING_NAMES}
    env.update(extra)
    env["PYTHONPATH"] = str(FUNCTIONS)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"cold-start script failed:\n{out.stderr[-2000:]}")
    return out


def _run_timed(script: str, env: dict[str, str], cwd: Path) -> float:
    return float(_run(["-c", script], env, cwd).stdout.strip().splitlines()[-1])


def _import_self_ms(script: str, env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Self import time per top-level package (python -X importtime)."""
    out = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    per: dict[str, float] = defaultdict(float)
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cum, name = (part.strip() for part in line[len("import time:") :].split("|"))
        top = name.split(".")[0]
        # the project's own modules one by one, other packages as a whole
        per[name if top in _OUR_PACKAGES else top] += int(self_us) / 1000
    return per


def _extra_imports(name: str, floor_env: dict[str, str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Packages (by self import time) the handler imports and the floor does not."""
    floor = _import_self_ms(FLOOR_SCRIPTS[name], floor_env, cwd)
    script = COLD_SCRIPTS[name]
    ours = _import_self_ms(script, env, cwd)
    extra = {pkg: ms - floor.get(pkg, 0.0) for pkg, ms in ours.items()}
    return {pkg: round(ms, 1) for pkg, ms in sorted(extra.items(), key=lambda kv: -kv[1]) if ms >= 1.0}


def _libraries_script(name: str, env: dict[str, str], layout: Any) -> str:
    """The floor plus every third-party module the handler loads, and nothing of ours."""
    script = _MODULES_SCRIPT.format(init=COLD_INIT[name], roots=(str(layout.task), str(layout.runtime)), ours=set(_OUR_PACKAGES))
    modules = json.loads(_run(["-c", script], env, layout.root).stdout.strip().splitlines()[-1])
    return FLOOR_SCRIPTS[name].replace(_PRINT, "") + f"import importlib\nfor _m in {modules!r}:\n    importlib.import_module(_m)\n" + _PRINT


def bench_coldstart(runs: int, out=print) -> dict[str, Any]:
    """Cold starts as Lambda pays them: in a Lambda-like layout (relay_local.bundle.lambda_layout), each
    variant beside the floor, interleaved so that machine noise hits them alike."""
    from relay_local.bundle.lambda_layout import build_layout

    layout = build_layout(OUT_DIR / "lambda")
    base = _clean_env(COLD_ENV)
    floor_env = layout.env(base)
    env = layout.env(base, layout.task)
    source_env = layout.env(base, layout.task_source)
    out(
        f"coldstart: layout {layout.root.relative_to(ROOT)}: runtime provides {', '.join(layout.provided)}; "
        f"the bundle holds {', '.join(layout.bundled)} and the functions' packages"
    )
    if layout.unwanted:
        out(f"coldstart: WARNING: the bundle holds {', '.join(layout.unwanted)}, which slow every cold start")
    libraries = {name: _libraries_script(name, env, layout) for name in COLD_INIT}
    variants = {  # name -> (script, env): what is measured for each handler, floor first
        "floor": lambda name: (FLOOR_SCRIPTS[name], floor_env),
        "handler": lambda name: (COLD_SCRIPTS[name], env),
        "libraries": lambda name: (libraries[name], env),
        "without_bytecode": lambda name: (COLD_SCRIPTS[name], source_env),
    }
    for name in COLD_INIT:  # one unmeasured round: the page cache warm
        for variant in variants.values():
            _run_timed(*variant(name), layout.root)
    samples: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in COLD_INIT}
    for _ in range(runs):
        for name in COLD_INIT:
            for key, variant in variants.items():
                samples[name][key].append(_run_timed(*variant(name), layout.root))
    result: dict[str, Any] = {
        "runs": runs,
        "layout": {"runtime": list(layout.provided), "bundle": list(layout.bundled), "unwanted_in_bundle": layout.unwanted},
    }
    for name in COLD_INIT:
        med = {key: statistics.median(values) for key, values in samples[name].items()}
        floor = med["floor"]
        result[name] = {
            **{f"{key}_ms": round(ms * 1000, 1) for key, ms in med.items()},
            "over_floor": round(med["handler"] / floor, 3),
            "libraries_over_floor": round(med["libraries"] / floor, 3),
            "without_bytecode_over_floor": round(med["without_bytecode"] / floor, 3),
            "samples_ms": {key: [round(v * 1000, 1) for v in values] for key, values in samples[name].items()},
            "import_ms_beyond_floor": _extra_imports(name, floor_env, env, layout.root),
        }
        r = result[name]
        out(
            f"coldstart {name:6s}: floor (boto3 + {_CLIENTS[name].count('boto3.client')} clients) {r['floor_ms']:4.0f} ms"
            " | handler as `make build` ships it "
            f"{r['handler_ms']:4.0f} ms = {r['over_floor']:.2f} | the same third-party modules alone {r['libraries_ms']:4.0f} ms "
            f"= {r['libraries_over_floor']:.2f} | with no bytecode (plain `sam build`) {r['without_bytecode_ms']:4.0f} ms "
            f"= {r['without_bytecode_over_floor']:.2f} (medians of {runs})"
        )
        top = ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in list(r["import_ms_beyond_floor"].items())[:8])
        out(f"coldstart {name:6s}: imports beyond the floor's, ms (self time, -X importtime, one run): {top}")
    return result
