"""Throughput vs requests in flight: pushbatch, the Node baseline, h2load.

usage: plot.py LATEST_JSON OUT_PNG
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, out):
    r = json.loads(Path(src).read_text())
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)

    def line(rows, key, label, **kw):
        rows = sorted(rows, key=lambda x: x["in_flight"])
        if rows:
            ax.plot([x["in_flight"] for x in rows], [x[key] for x in rows], marker="o", label=label, **kw)

    line(r["ceiling"]["h2load_apns"], "requests_per_second", "h2load ceiling, APNs only", linestyle="--", color="grey")
    mixed = sorted((int(k), v) for k, v in r["ceiling"]["h2load_mixed_per_second"].items())
    if mixed:
        ax.plot([k for k, _ in mixed], [v for _, v in mixed], linestyle=":", marker=".", color="black",
                label="h2load ceiling, 50/50 APNs+FCM")
    line(r["pushbatch"], "notifications_per_second", "pushbatch send path", color="tab:orange", linewidth=2)
    line(r["node"], "notifications_per_second", "Node.js baseline (node-apn + http2)", color="tab:green")
    ax.axhline(25_000, color="tab:red", linewidth=0.8, alpha=0.6, label="target: 25k/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("requests in flight (total)")
    ax.set_ylabel("notifications per second (one client core)")
    load = r["machine"]["loadavg_at_collect"][0]
    ax.set_title(f"push-sandbox on CPU 0, client on CPU 1 ({r['date'][:10]}, load {load})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
