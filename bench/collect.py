"""Gathers one bench/run's raw outputs into results/latest.json.

usage: collect.py WORK_DIR OUT_JSON
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def h2load(txt):
    text = Path(txt).read_text()
    # A run under a second reports milliseconds ("finished in 191.83ms").
    rate = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", text)
    done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    codes = re.search(r"status codes: (\d+) 2xx", text)
    return {
        "seconds": float(rate.group(1)) / (1000 if rate.group(2) == "ms" else 1),
        "requests_per_second": float(rate.group(3)),
        "requests": int(done.group(1)),
        "succeeded": int(done.group(3)),
        "failed": int(done.group(4)),
        "status_2xx": int(codes.group(1)),
    }


def main(work, out):
    work = Path(work)
    settings = json.loads((work / "settings.json").read_text())
    hz = settings["clk_tck"]
    runs = work / "runs"
    ceiling = {"apns": [], "fcm": []}
    contenders = {"pushbatch": [], "node": []}
    for meta_path in sorted(runs.glob("*.meta.json")):
        name = meta_path.name[: -len(".meta.json")]
        meta = json.loads(meta_path.read_text())
        stats = json.loads((runs / f"{name}.stats.json").read_text())
        server_cpu = meta["server_cpu_ticks"] / hz
        if name.startswith("h2load-"):
            _, provider, c, m = name.split("-")
            r = h2load(runs / f"{name}.txt")
            cpu = runs / f"{name}.cpu"
            if cpu.exists():
                user, system = (float(x) for x in cpu.read_text().split()[-2:])
                r.update(client_cpu_seconds=user + system, client_cpu_us_per_request=(user + system) * 1e6 / max(r["succeeded"], 1))
            r.update(connections=int(c[1:]), streams_per_connection=int(m[1:]), in_flight=int(c[1:]) * int(m[1:]))
            r.update(sandbox=stats, server_cpu_seconds=server_cpu, load_before=meta["load_before"])
            ceiling[provider].append(r)
        else:
            who = name.split("-")[0]
            r = json.loads((runs / f"{name}.json").read_text())
            expected = settings["users"] if who == "pushbatch" else min(settings["node_users"], settings["users"])
            sandbox_delivered = stats["apns"]["delivered"] + stats["fcm"]["delivered"]
            r.update(
                sandbox=stats,
                server_cpu_seconds=server_cpu,
                load_before=meta["load_before"],
                expected_deliveries=expected,
                verified=r["counts"]["delivered"] == expected == sandbox_delivered and r["counts"]["failed"] == 0,
            )
            contenders[who].append(r)
    for rows in list(ceiling.values()) + list(contenders.values()):
        rows.sort(key=lambda r: r["in_flight"])

    def by_inflight(rows):
        return {r["in_flight"]: r for r in rows}

    apns, fcm = by_inflight(ceiling["apns"]), by_inflight(ceiling["fcm"])
    pb, node = by_inflight(contenders["pushbatch"]), by_inflight(contenders["node"])
    # The file is half APNs, half FCM: the mixed ceiling is their harmonic mean.
    mixed = {
        t: 1 / (0.5 / apns[t]["requests_per_second"] + 0.5 / fcm[t]["requests_per_second"])
        for t in apns
        if t in fcm
    }
    ratios = []
    for t, r in sorted(pb.items()):
        rate = r["notifications_per_second"]
        row = {"in_flight": t, "pushbatch_per_second": rate}
        if t in apns:
            row["h2load_apns_per_second"] = apns[t]["requests_per_second"]
            row["vs_h2load_apns"] = rate / apns[t]["requests_per_second"]
        if t in mixed:
            row["h2load_mixed_per_second"] = mixed[t]
            row["vs_h2load_mixed"] = rate / mixed[t]
        if t in node:
            row["node_per_second"] = node[t]["notifications_per_second"]
            row["vs_node"] = rate / node[t]["notifications_per_second"]
        ratios.append(row)

    best_pb = max(pb.values(), key=lambda r: r["notifications_per_second"]) if pb else None
    best_node = max(node.values(), key=lambda r: r["notifications_per_second"]) if node else None
    best_apns = max(apns.values(), key=lambda r: r["requests_per_second"]) if apns else None
    best_mixed = max(mixed.values()) if mixed else None
    headline = {}
    if best_pb:
        headline = {
            "pushbatch_best_per_second": best_pb["notifications_per_second"],
            "pushbatch_best_in_flight": best_pb["in_flight"],
            "pushbatch_cpu_us_per_notification": best_pb["cpu_microseconds_per_notification"],
            "h2load_apns_best_per_second": best_apns and best_apns["requests_per_second"],
            "h2load_mixed_best_per_second": best_mixed,
            "node_best_per_second": best_node and best_node["notifications_per_second"],
            "node_best_in_flight": best_node and best_node["in_flight"],
            "node_cpu_us_per_notification": best_node and best_node["cpu_microseconds_per_notification"],
        }
        if best_apns:
            headline["vs_h2load_apns"] = best_pb["notifications_per_second"] / best_apns["requests_per_second"]
        if best_mixed:
            headline["vs_h2load_mixed"] = best_pb["notifications_per_second"] / best_mixed
        if best_node:
            headline["vs_node"] = best_pb["notifications_per_second"] / best_node["notifications_per_second"]
            headline["vs_node_cpu_per_notification"] = (
                best_node["cpu_microseconds_per_notification"] / best_pb["cpu_microseconds_per_notification"]
            )
        # h2load's client CPU per request at pushbatch's best point: the mean
        # of APNs' and FCM's, as the file is half and half.
        at = best_pb["in_flight"]
        h2load_cpu = [x[at].get("client_cpu_us_per_request") for x in (apns, fcm) if at in x]
        if len(h2load_cpu) == 2 and None not in h2load_cpu:
            headline["h2load_cpu_us_per_request"] = sum(h2load_cpu) / 2
            headline["cpu_vs_h2load"] = best_pb["cpu_microseconds_per_notification"] / headline["h2load_cpu_us_per_request"]
        if at in mixed:
            headline["vs_h2load_mixed_same_in_flight"] = best_pb["notifications_per_second"] / mixed[at]
        if best_pb.get("server_cpu_seconds") and best_pb.get("elapsed_seconds"):
            headline["sandbox_busy"] = best_pb["server_cpu_seconds"] / best_pb["elapsed_seconds"]
        headline["targets"] = {
            "at_least_25k_per_second": best_pb["notifications_per_second"] >= 25_000,
            "at_least_half_of_h2load": headline.get("vs_h2load_apns", 0) >= 0.5,
            "at_least_5x_node": headline.get("vs_node", 0) >= 5,
            # issue 18
            "at_most_20us_cpu_per_notification": best_pb["cpu_microseconds_per_notification"] <= 20,
            "at_most_1_5x_h2load_cpu": headline.get("cpu_vs_h2load", float("inf")) <= 1.5,
            "at_least_0_9_of_h2load_rate": headline.get("vs_h2load_mixed_same_in_flight", 0) >= 0.9,
            # In CPU per notification, as issue 18 states its send-path
            # targets: the sandbox's core caps the rate (its CPU time is the
            # run's wall time, `sandbox_busy` below), so the rate ratio to
            # Node is bounded by the sandbox, not by the client.
            "at_least_10x_node": headline.get("vs_node_cpu_per_notification", 0) >= 10,
            "all_runs_verified": all(r["verified"] for r in contenders["pushbatch"] + contenders["node"]),
        }

    lock = Path(__file__).parent / "node" / "package-lock.json"
    node_apn = json.loads(lock.read_text())["packages"].get("node_modules/@parse/node-apn", {}).get("version")
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu_model": cpu_model(),
            "kernel": platform.release(),
            "loadavg_at_collect": Path("/proc/loadavg").read_text().split()[:3],
        },
        "versions": {
            "rustc": sh("rustc", "--version"),
            "node": sh("node", "--version"),
            "parse_node_apn": node_apn,
            "h2load": sh("h2load", "--version"),
            "git_commit": sh("git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"),
        },
        "settings": settings,
        "headline": headline,
        "ratios": ratios,
        "ceiling": {"h2load_apns": ceiling["apns"], "h2load_fcm": ceiling["fcm"], "h2load_mixed_per_second": mixed},
        "pushbatch": contenders["pushbatch"],
        "node": contenders["node"],
    }
    Path(out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
