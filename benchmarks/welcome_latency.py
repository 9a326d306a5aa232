"""From a customer scanning a 渠道活码 to WeCom accepting the welcome message, on the embedded default.

``siyu serve`` (its default settings and in-process worker) is wired to the WeCom stand-in as ``siyu demo
--serve`` wires it: the demo 渠道活码 and the welcome SOP. Each of ``--scans`` customers scans the code one
after another; the stand-in sends the signed, encrypted callback, siyu stores it, applies it (the
contact, the relation and its welcome code, a ``contact_added`` event), its ``journeys.react`` loop runs
the SOP, and the ``wecom_welcome`` channel calls ``send_welcome_msg``. A scan's latency is from the scan
to the stand-in recording the welcome (the stand-in refuses one after the code's 20 seconds).

Baseline: the callback's own HTTP round trip (the stand-in's POST until siyu's empty 200), measured by the
same stand-in. Goal: p99 <= 20 s — WeCom's window; a welcome any later is lost.

Run: .venv/bin/python benchmarks/welcome_latency.py [--scans 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, report, server
from sqlalchemy import select

from siyu.cli import dev
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.models import Workspace
from siyu.wechat.standin.app import DEMO_CORP


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scans", type=int, default=30)
    args = parser.parse_args()
    with data_dir() as data, server(data, {"SIYU_RUN_WORKER_IN_PROCESS": "true"}) as base:
        factory = make_sessionmaker(make_engine(f"sqlite:///{data / 'siyu.db'}"))
        with transaction(factory) as session:
            session.add(Workspace(slug="bench", name="bench", timezone="Asia/Shanghai"))
        with transaction(factory) as session:
            ws = session.scalars(select(Workspace.id).where(Workspace.slug == "bench")).one()
        flow = dev.start_demo_wecom(factory, ws, "bench", base)
        time.sleep(1.0)  # the worker's loops take their first look
        latencies, round_trips = [], []
        try:
            for n in range(args.scans):
                started = time.monotonic()
                external = flow.state.customer_adds(DEMO_CORP, "zhangsan", state_code=dev.DEMO_STATE, name=f"客{n}")
                while not any(m["external_userid"] == external for m in flow.state.welcome_messages):
                    if time.monotonic() - started > 30:
                        break
                    time.sleep(0.005)
                latencies.append(time.monotonic() - started)
                round_trips.extend(e["seconds"] for e in flow.state.callback_log[-1:] if e.get("seconds") is not None)
        finally:
            flow.stop()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    baseline = statistics.median(round_trips) if round_trips else float("nan")
    report(
        "welcome_latency",
        p99 * 1000,
        "ms (p99, scan to welcome)",
        "<= 20000",
        "the callback's HTTP round trip (median)",
        p50 / baseline if round_trips else 0.0,
        p99 <= 20,
        p50_ms=round(p50 * 1000, 1),
        baseline_ms=round(baseline * 1000, 1) if round_trips else None,
        scans=len(latencies),
        welcomed=len(flow.state.welcome_messages),
    )


if __name__ == "__main__":
    main()
