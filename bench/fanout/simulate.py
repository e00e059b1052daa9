"""Fan-out simulation (issue #9): wall time and cost of one send job of N users cut
into K byte-range shards, each run by its own send-batch chain, all drawing on one
FCM quota per project.

usage: python3 bench/fanout/simulate.py [--out-json bench/results/fanout.json]
                                        [--out-png bench/results/fanout.png]
                                        [--rtt-ms 50] [--link-overhead-s 1] ...
       (--help lists every model parameter; the plot needs matplotlib, see
       bench/requirements.txt; --no-png skips it)

This is a model, not a measurement. What comes from where:

Measured, read from files
- devices per user, FCM share of devices, dead-token share, bytes per user:
  bench/results/e2e.json (1M users end to end on the local stack; attempted
  devices / targeted users, android attempted / all attempted, pruned /
  attempted, file_bytes / entries). The dead share (~5 %) is the bench file's
  fixture, not a real-world figure.
- send path CPU rate on one core: latest.json headline pushbatch_best_per_second
  (sendpath bench: push-sandbox on loopback, no DynamoDB, no S3).
- prices, Lambda memory (1024 MB), CPU share (1024/1769 = 0.579 vCPU), users per
  batch, item sizes and the margin rule: imported from bench/cost.py.
- defaults of send-batch read from its source: APNS_MAX_IN_FLIGHT and
  FCM_MAX_IN_FLIGHT (one shared in-flight window per batch), the devices
  lookup's parallel BatchGetItem calls, the FCM quota block
  (FCM_SHARED_QUOTA_BLOCK).
- the local e2e rate (~1,060 users/s) is reported for context only: it is bound
  by dynalite (single-threaded DynamoDB emulator) and does not feed the model.

Assumed (parameters; defaults are typical in-region AWS latencies, not measured)
- a chain's batch loop is serial: read 500 users, one round of BatchGetItem
  (100 keys a call, all calls of a batch in parallel: 5 calls <= 8 parallel),
  one wave of sends (all devices of a batch fit in the in-flight window), prune
  dead tokens (16 conditional writes in parallel), then one checkpoint write.
- per-batch latency = BatchGetItem + send wave + prune rounds + checkpoint +
  quota calls (GetItem + conditional UpdateItem per block of 500 FCM tokens,
  i.e. 4 calls per 1,000 FCM pushes, serialised behind a mutex) + the S3
  stream read of the batch's bytes.
- the send wave lasts rtt_ms x wave_tail (the batch waits for its slowest
  request of ~600, taken as 2 x the median RTT of 50 ms).
- chain rate = min(CPU-bound rate, round-trip-bound rate): the CPU rate is the
  measured one-core rate x Lambda's CPU share / devices per user. Taking the min
  (not the sum) assumes CPU work overlaps the waits; it is the optimistic end.
  CPU spent on DynamoDB/S3 responses is not in the measured rate.
- total users/s = min(K x chain rate, Q / 60 / (FCM share x devices per user));
  APNs has no quota. When the quota binds each chain runs at total/K and spends
  the rest waiting for tokens, which Lambda bills.
- links per chain = ceil(chain busy time / (900 s - margin(900 s))); every link
  costs link_overhead_s (cold start + claim + async invoke of the next link),
  billed (Lambda bills INIT for every runtime since 2025-08).
- planning, by one invocation before the chains start: K ranged S3 GETs to find
  line boundaries and K async Invokes, done one after another (an upper bound;
  a parallel planner makes this negligible), plus one shard record write each.
- the shards start together and are equal, so the job's wall time is planning +
  one chain's busy time + its links' overhead.
- cost: Lambda GB-s of every chain link and the planner; Lambda requests; DynamoDB
  on-demand: device reads 0.5 RRU per user (eventually consistent, <= 4 KB),
  quota GetItem 1 RRU (strongly consistent) and UpdateItem 1 WRU per block,
  checkpoints 2 WRU per batch and per link claim (cost.py's figures), prunes one
  device item (cost.py's DEVICE_ITEM_KB) per dead token, K shard records;
  S3: K planning GETs + one GET per link + 1 HEAD, 2 PUTs per shard (summary and
  failed part) + 2 for the merged report.

Not modeled (caveats printed in the JSON): DynamoDB throttling (a new on-demand
table starts at 12,000 RRU/s and doubles with its peak; the JSON shows the
device-lookup read rate per point), lost races on the single quota item as K
grows (each failed conditional write still costs a WRU and a round trip),
provider throttling (429/503 back-off), retries, stragglers between shards,
Lambda concurrency limits other than K.
"""

import argparse
import json
import math
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import cost  # noqa: E402  (bench/cost.py, after the path insert)

USERS = (10_000_000, 100_000_000)
SHARDS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
QUOTAS_PER_MINUTE = (300_000, 600_000, 1_200_000)
KNEE_TOLERANCE = 0.05
SENSITIVITY_RTT_MS = (0, 25, 50, 100, 200)
LAMBDA_MAX_TIMEOUT_S = 900
# A new on-demand table's initial read throughput (AWS docs); above it, reads
# may throttle until the table has scaled.
NEW_ON_DEMAND_TABLE_RRU_PER_S = 12_000


class InputError(Exception):
    """An input file lacks a figure the model needs."""


def rust_default(path, pattern, what):
    """A default written in send-batch's or shared's source, so the model follows the code."""
    text = (REPO / path).read_text()
    m = re.search(pattern, text)
    if not m:
        raise InputError(f"{what}: pattern {pattern!r} not found in {path}")
    return int(m.group(1).replace("_", ""))


def code_defaults():
    settings = "functions/send-batch/src/settings.rs"
    return {
        "batch_size": rust_default(settings, r'"BATCH_SIZE",\s*([\d_]+)', "batch size"),
        "apns_max_in_flight": rust_default(settings, r'"APNS_MAX_IN_FLIGHT",\s*([\d_]+)', "APNs in flight"),
        "fcm_max_in_flight": rust_default(settings, r'"FCM_MAX_IN_FLIGHT",\s*([\d_]+)', "FCM in flight"),
        "quota_block": rust_default(settings, r"DEFAULT_SHARED_QUOTA_BLOCK:\s*u64\s*=\s*([\d_]+)", "quota block"),
        "lookup_parallel_calls": rust_default(
            "shared/src/devices/dynamo.rs", r"parallel_calls:\s*([\d_]+)\s*}", "BatchGetItem parallel calls"
        ),
        "keys_per_batch_get": rust_default(
            "shared/src/devices/dynamo.rs", r"MAX_KEYS_PER_CALL:\s*usize\s*=\s*([\d_]+)", "keys per BatchGetItem"
        ),
        "prune_parallel": rust_default(
            "functions/send-batch/src/send.rs", r"buffer_unordered\((\d+)\)", "prune parallelism"
        ),
        "pipeline_batches": rust_default(settings, r'"PIPELINE_BATCHES",\s*([\d_]+)', "batches open at once"),
    }


def pipeline_input(path):
    """The measured pipelined link (bench/pipeline): its rate with the round
    trips put back, over its own no-latency (CPU-bound) rate, in one run."""
    try:
        r = json.loads(Path(path).read_text())
        return {
            "efficiency": r["ratios"]["pipelined_50ms_over_its_no_latency"],
            "serial_efficiency": r["ratios"]["serial_50ms_over_its_no_latency"],
            "at_rtt_ms": r["rtt_ms"],
            "at_aws_ms": r["aws_ms"],
            "measured_at": r["date"],
        }
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise InputError(f"pipeline.json lacks a figure: {e!r}") from e


def measured_inputs(e2e_path, latest_path):
    e2e = json.loads(Path(e2e_path).read_text())
    latest = json.loads(Path(latest_path).read_text())
    try:
        c = e2e["counters"]
        dev = c["devices"]
        attempted = dev["android"]["attempted"] + dev["ios"]["attempted"]
        pruned = dev["android"]["pruned"] + dev["ios"]["pruned"]
        rate_one_core = latest["headline"]["pushbatch_best_per_second"]
        return {
            "devices_per_user": attempted / c["targeted_users"],
            "fcm_share": dev["android"]["attempted"] / attempted,
            "dead_share": pruned / attempted,
            "bytes_per_user": e2e["file_bytes"] / c["entries"],
            "rate_one_core": rate_one_core,
            "rate_one_core_in_flight": latest["headline"]["pushbatch_best_in_flight"],
            "sendpath_measured_at": latest["date"],
            "e2e_local": {
                "users": e2e["users"],
                "links": e2e["invocations"],
                "wall_seconds": e2e["wall_seconds"],
                "busy_seconds": e2e["busy_ms"] / 1000,
                "users_per_second": e2e["sends_per_second"],
                "measured_at": e2e["measured_at"],
                "note": "bound by dynalite (single-threaded local DynamoDB); context only, not a model input",
            },
        }
    except (KeyError, ZeroDivisionError, TypeError) as e:
        raise InputError(f"e2e.json / latest.json lack a figure: {e!r}") from e


def default_params():
    """Assumed latencies and overheads (milliseconds unless named otherwise)."""
    return {
        "rtt_ms": 50.0,  # APNs/FCM median round trip from a Lambda in the provider's region
        "wave_tail": 2.0,  # a batch's send wave ends with its slowest request
        "batch_get_ms": 15.0,  # BatchGetItem of 100 small items, in-region
        "ddb_call_ms": 8.0,  # GetItem / UpdateItem / PutItem, in-region
        "s3_first_byte_ms": 50.0,  # a ranged GET's latency to first byte
        "s3_stream_mb_per_s": 50.0,  # one GET's streaming rate once started
        "invoke_ms": 30.0,  # an async Invoke API call
        "link_overhead_s": 1.0,  # cold start + claim + invoking the next link
    }


def chain_rate(m, d, p, pipeline=None):
    """Users per second one chain sustains, and what bounds it. With the
    measured pipeline (`pipeline_input`), the chain is the pipelined link: its
    CPU-bound rate times its measured efficiency at the measured round trip,
    unless `pipeline_batches` batches' worth of round trips at this RTT (the
    serial batch time below, overlapped) bound it lower. Without, the serial
    loop of before."""
    share = min(1.0, cost.MEMORY_MB / cost.FULL_VCPU_MB)
    cpu_users_s = m["rate_one_core"] * share / m["devices_per_user"]

    users = d["batch_size"]
    devices = users * m["devices_per_user"]
    in_flight = d["apns_max_in_flight"] + d["fcm_max_in_flight"]
    lookup_rounds = math.ceil(math.ceil(users / d["keys_per_batch_get"]) / d["lookup_parallel_calls"])
    prune_rounds = math.ceil(devices * m["dead_share"] / d["prune_parallel"])
    fcm = devices * m["fcm_share"]
    parts_ms = {
        "s3_read": users * m["bytes_per_user"] / (p["s3_stream_mb_per_s"] * 1e6) * 1000,
        "device_lookup": lookup_rounds * p["batch_get_ms"],
        "send_waves": math.ceil(devices / in_flight) * p["rtt_ms"] * p["wave_tail"],
        "prune": prune_rounds * p["ddb_call_ms"],
        "quota": fcm / d["quota_block"] * 2 * p["ddb_call_ms"],
        "checkpoint": p["ddb_call_ms"],
    }
    batch_ms = sum(parts_ms.values())
    serial_users_s = users / (batch_ms / 1000)
    if pipeline is None:
        return {
            "model": "serial loop",
            "cpu_bound_users_per_s": cpu_users_s,
            "round_trip_bound_users_per_s": serial_users_s,
            "users_per_s": min(cpu_users_s, serial_users_s),
            "bound": "cpu" if cpu_users_s <= serial_users_s else "round-trip",
            "batch_ms": batch_ms,
            "batch_ms_parts": parts_ms,
            "lambda_cpu_share": share,
        }
    measured = cpu_users_s * pipeline["efficiency"]
    overlapped = d["pipeline_batches"] * serial_users_s
    return {
        "model": "pipelined link, measured efficiency",
        "cpu_bound_users_per_s": cpu_users_s,
        "measured_efficiency": pipeline["efficiency"],
        "round_trip_bound_users_per_s": overlapped,
        "serial_loop_users_per_s": min(cpu_users_s, serial_users_s),
        "users_per_s": min(measured, overlapped),
        "bound": "cpu (pipelined)" if measured <= overlapped else "round-trip",
        "batch_ms": batch_ms,
        "batch_ms_parts": parts_ms,
        "lambda_cpu_share": share,
    }


def quota_users_per_s(q, m):
    """Users per second the FCM quota q (messages a minute) lets through."""
    return q / 60 / (m["fcm_share"] * m["devices_per_user"])


def simulate(n, k, q, m, d, p, chain):
    """One grid point: wall time and cost of a job of n users in k shards under quota q/min."""
    dpu, fcm_share = m["devices_per_user"], m["fcm_share"]
    quota_users_s = quota_users_per_s(q, m)
    chains_users_s = k * chain["users_per_s"]
    total_users_s = min(chains_users_s, quota_users_s)
    bound = "fcm quota" if quota_users_s < chains_users_s else chain["bound"]

    busy_s = n / total_users_s  # every chain runs the whole time (equal shards)
    usable_s = LAMBDA_MAX_TIMEOUT_S - cost.margin(LAMBDA_MAX_TIMEOUT_S)
    links = math.ceil(busy_s / usable_s)
    plan_s = k * (p["s3_first_byte_ms"] + p["invoke_ms"] + p["ddb_call_ms"]) / 1000
    wall_s = p["link_overhead_s"] + plan_s + busy_s + links * p["link_overhead_s"]

    gb = cost.MEMORY_MB / 1024
    price = cost.PRICES
    gb_s = (k * (busy_s + links * p["link_overhead_s"]) + p["link_overhead_s"] + plan_s) * gb
    requests = k * links + 1
    batches = math.ceil(n / d["batch_size"])  # shards cut at batch granularity, near enough
    fcm_pushes = n * dpu * fcm_share
    blocks = math.ceil(fcm_pushes / d["quota_block"])
    dead = n * dpu * m["dead_share"]
    read_units = {"devices": n * 0.5, "quota": blocks * 1.0}
    write_units = {
        "checkpoints": (batches + k * links) * cost.CHECKPOINT_ITEM_KB,
        "quota": blocks * 1.0,
        "prunes": dead * cost.DEVICE_ITEM_KB,
        "shard_records": k * cost.CHECKPOINT_ITEM_KB,
    }
    s3_gets = k + k * links + 1  # planning reads, one per link, the ETag HEAD
    s3_puts = 2 * k + 2
    usd = {
        "lambda_compute": gb_s * price["lambda_arm64_per_gb_second"],
        "lambda_requests": requests * price["lambda_per_million_requests"] / 1e6,
        "dynamodb_reads": sum(read_units.values()) * price["dynamodb_per_million_read_units"] / 1e6,
        "dynamodb_writes": sum(write_units.values()) * price["dynamodb_per_million_write_units"] / 1e6,
        "s3": s3_gets * price["s3_get_head_per_thousand"] / 1000 + s3_puts * price["s3_put_per_thousand"] / 1000,
    }
    total = sum(usd.values())
    return {
        "users": n,
        "shards": k,
        "fcm_quota_per_minute": q,
        "bound": bound,
        "users_per_second": total_users_s,
        "chain_users_per_second": total_users_s / k,
        "chain_utilisation": total_users_s / chains_users_s,
        "links_per_chain": links,
        "planning_seconds": plan_s,
        "busy_seconds": busy_s,
        "wall_seconds": wall_s,
        "wall_minutes": wall_s / 60,
        "lambda_gb_seconds": gb_s,
        "lambda_requests": requests,
        "dynamodb_read_units": read_units,
        "dynamodb_write_units": write_units,
        "device_read_units_per_second": total_users_s * 0.5,
        "quota_calls": 2 * blocks,
        "s3_get_head": s3_gets,
        "s3_put": s3_puts,
        "usd": usd,
        "usd_total": total,
        "usd_per_million_users": total / n * 1e6,
    }


def knees(grid, m, users=USERS):
    out = []
    for n in users:
        for q in QUOTAS_PER_MINUTE:
            rows = sorted(
                (r for r in grid if r["users"] == n and r["fcm_quota_per_minute"] == q), key=lambda r: r["shards"]
            )
            best = min(rows, key=lambda r: r["wall_seconds"])
            knee = next(r for r in rows if r["wall_seconds"] <= best["wall_seconds"] * (1 + KNEE_TOLERANCE))
            out.append(
                {
                    "users": n,
                    "fcm_quota_per_minute": q,
                    "best_shards": best["shards"],
                    "best_minutes": best["wall_minutes"],
                    "best_usd": best["usd_total"],
                    "knee_shards": knee["shards"],
                    "knee_minutes": knee["wall_minutes"],
                    "knee_usd": knee["usd_total"],
                    "knee_bound": knee["bound"],
                    "quota_floor_minutes": n / quota_users_per_s(q, m) / 60,
                    "shards_1_minutes": rows[0]["wall_minutes"],
                    "shards_1_usd": rows[0]["usd_total"],
                    "shards_256_usd": rows[-1]["usd_total"],
                }
            )
    return out


def grid_for(m, d, params, chain, users=USERS):
    return [simulate(n, k, q, m, d, params, chain) for n in users for q in QUOTAS_PER_MINUTE for k in SHARDS]


def sensitivity(m, d, params, pipeline=None):
    """How the knee moves with the provider round trip, the least certain assumption."""
    out = []
    for rtt in SENSITIVITY_RTT_MS:
        p = dict(params, rtt_ms=rtt)
        chain = chain_rate(m, d, p, pipeline)
        n = USERS[0]
        out.append(
            {
                "rtt_ms": rtt,
                "chain_users_per_second": chain["users_per_s"],
                "chain_bound": chain["bound"],
                "knee_shards_10M": {
                    str(k["fcm_quota_per_minute"]): k["knee_shards"]
                    for k in knees(grid_for(m, d, p, chain, (n,)), m, (n,))
                },
            }
        )
    return out


def run(e2e_path, latest_path, params, pipeline_path=None):
    m = measured_inputs(e2e_path, latest_path)
    d = code_defaults()
    pipeline = pipeline_input(pipeline_path) if pipeline_path else None
    if pipeline:
        m["pipeline"] = pipeline
    chain = chain_rate(m, d, params, pipeline)
    grid = grid_for(m, d, params, chain)
    knee = knees(grid, m)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "kind": "model (not a measurement); see bench/fanout/simulate.py's docstring",
        "inputs": {
            "measured": m,
            "send_batch_defaults": d,
            "assumed": params,
            "from_cost_py": {
                "prices": cost.PRICES,
                "memory_mb": cost.MEMORY_MB,
                "full_vcpu_mb": cost.FULL_VCPU_MB,
                "margin_900s": cost.margin(LAMBDA_MAX_TIMEOUT_S),
                "checkpoint_item_kb": cost.CHECKPOINT_ITEM_KB,
                "device_item_kb": cost.DEVICE_ITEM_KB,
            },
        },
        "chain": chain,
        "knee_tolerance": KNEE_TOLERANCE,
        "knees": knee,
        "sensitivity_to_rtt": sensitivity(m, d, params, pipeline),
        "grid": grid,
        "not_modeled": [
            (
                f"DynamoDB throttling: a new on-demand table starts at {NEW_ON_DEMAND_TABLE_RRU_PER_S} RRU/s "
                "(see device_read_units_per_second per point)"
            ),
            "lost races on the one quota item as K grows (each costs a WRU and a round trip)",
            "provider throttling (429/503 back-off) and retries",
            "stragglers: shards are taken as equal and starting together",
            "CPU spent on DynamoDB/S3 responses (the measured CPU rate is the send path only)",
        ],
    }


def plot(result, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    colors = {300_000: "tab:red", 600_000: "tab:blue", 1_200_000: "tab:green"}
    fig, axes = plt.subplots(2, len(USERS), figsize=(12, 8), dpi=110, sharex=True)
    for col, n in enumerate(USERS):
        top, bottom = axes[0][col], axes[1][col]
        for q in QUOTAS_PER_MINUTE:
            rows = sorted(
                (r for r in result["grid"] if r["users"] == n and r["fcm_quota_per_minute"] == q),
                key=lambda r: r["shards"],
            )
            ks = [r["shards"] for r in rows]
            label = f"FCM quota {q // 1000}k/min" + (" (default)" if q == 600_000 else "")
            top.plot(ks, [r["wall_minutes"] for r in rows], marker="o", color=colors[q], label=label)
            bottom.plot(ks, [r["usd_total"] for r in rows], marker="o", color=colors[q], label=label)
            k = next(x for x in result["knees"] if x["users"] == n and x["fcm_quota_per_minute"] == q)
            top.plot(
                [k["knee_shards"]],
                [k["knee_minutes"]],
                marker="*",
                markersize=16,
                color=colors[q],
                markeredgecolor="black",
                linestyle="none",
            )
            top.annotate(
                f"knee K={k['knee_shards']}\n{k['knee_minutes']:.0f} min",
                (k["knee_shards"], k["knee_minutes"]),
                textcoords="offset points",
                xytext=(8, 6),
                fontsize=8,
                color=colors[q],
            )
        top.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        top.yaxis.set_major_formatter(plain)
        top.yaxis.set_minor_formatter(plain)
        top.tick_params(axis="y", which="minor", labelsize=7)
        bottom.text(
            0.02,
            0.04,
            "floor: DynamoDB (device reads, prune writes)\nrise: Lambda GB-s of chains waiting for FCM tokens",
            transform=bottom.transAxes,
            fontsize=8,
            color="dimgray",
        )
        top.set_title(f"{n // 1_000_000}M users")
        top.set_ylabel("wall time (minutes, log)")
        bottom.set_ylabel("cost per job (USD)")
        bottom.set_xlabel("shards K (parallel chains)")
        bottom.set_ylim(bottom=0)
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xticks(SHARDS)
            ax.set_xticklabels([str(s) for s in SHARDS])
            ax.grid(True, which="both", alpha=0.3)
        top.legend(fontsize=8, loc="upper right")
    chain = result["chain"]
    fig.suptitle(
        f"pushbatch fan-out model ({result['generated_at'][:10]}): one chain ≈ "
        f"{chain['users_per_s']:,.0f} users/s ({chain['bound']}-bound), "
        f"{result['inputs']['measured']['devices_per_user']:.2f} devices/user, "
        f"{result['inputs']['measured']['fcm_share']:.0%} FCM; ★ = smallest K within 5% of the best time",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--e2e", default=str(BENCH / "results" / "e2e.json"))
    ap.add_argument("--latest", default=str(BENCH / "results" / "latest.json"))
    ap.add_argument(
        "--pipeline",
        default=str(BENCH / "results" / "pipeline.json"),
        help="the measured pipelined link (bench/pipeline); 'none' models the old serial loop",
    )
    ap.add_argument("--out-json", default=str(BENCH / "results" / "fanout.json"))
    ap.add_argument("--out-png", default=str(BENCH / "results" / "fanout.png"))
    ap.add_argument("--no-png", action="store_true", help="skip the plot (no matplotlib needed)")
    for name, value in default_params().items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=float, default=value, dest=name)
    args = ap.parse_args(argv)
    params = {name: getattr(args, name) for name in default_params()}
    try:
        result = run(args.e2e, args.latest, params, None if args.pipeline == "none" else args.pipeline)
    except (InputError, OSError, json.JSONDecodeError) as e:
        sys.exit(f"simulate.py: {e}")
    Path(args.out_json).write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_png:
        plot(result, args.out_png)
    c = result["chain"]
    print(
        f"one chain: {c['users_per_s']:,.0f} users/s ({c['bound']}-bound; cpu {c['cpu_bound_users_per_s']:,.0f}, "
        f"round-trip {c['round_trip_bound_users_per_s']:,.0f}; batch {c['batch_ms']:.0f} ms)"
    )
    print(f"{'users':>6} {'quota/min':>9} {'knee K':>6} {'min':>7} {'$':>8} {'K=1 min':>8} {'K=1 $':>7} {'K=256 $':>8}")
    for k in result["knees"]:
        print(
            f"{k['users'] // 1_000_000:>5}M {k['fcm_quota_per_minute'] // 1000:>8}k {k['knee_shards']:>6} "
            f"{k['knee_minutes']:>7.1f} {k['knee_usd']:>8.2f} {k['shards_1_minutes']:>8.0f} "
            f"{k['shards_1_usd']:>7.2f} {k['shards_256_usd']:>8.2f}"
        )


if __name__ == "__main__":
    main()
