"""Cost model per million pushes, from the measured send rate; adds a
`cost` section to latest.json.

usage: cost.py LATEST_JSON
       cost.py --price USAGE_JSON DELIVERIES   (a job's receipt, as summary.json's `cost` has it)

Prices are list prices (us-east-1) as of 2026-11. The Lambda prices are the
ones the project's issue names; the S3 and DynamoDB ones are their public
list prices for S3 Standard and on-demand tables.
"""
import json
import math
import sys
from pathlib import Path

PRICES = {
    "as_of": "2026-11",
    "lambda_arm64_per_gb_second": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    "s3_get_head_per_thousand": 0.0004,
    "s3_put_per_thousand": 0.005,
    "s3_list_per_thousand": 0.005,
    "dynamodb_per_million_read_units": 0.125,
    "dynamodb_per_million_write_units": 0.625,
    "sns_mobile_push_per_million": 0.50,
}
MEMORY_MB = 1024
# Lambda gives one full vCPU at 1,769 MB and CPU in proportion below that.
FULL_VCPU_MB = 1769
USERS_PER_BATCH = 500
CHECKPOINT_ITEM_KB = 2
DEVICE_ITEM_KB = 4
# send-batch's safety margin: min(20 s, a quarter of the run).
def margin(timeout_s):
    return min(20.0, timeout_s / 4)


def model(rate_one_core, pushes=1_000_000, devices_per_user=1.0):
    cpu_share = min(1.0, MEMORY_MB / FULL_VCPU_MB)
    # CPU-bound: the measured one-core rate scaled by the share Lambda gives.
    rate = rate_one_core * cpu_share
    seconds = pushes / rate
    gb_seconds = seconds * MEMORY_MB / 1024
    users = pushes / devices_per_user
    out = {
        "pushes": pushes,
        "assumptions": {
            "measured_rate_one_core": rate_one_core,
            "memory_mb": MEMORY_MB,
            "cpu_share_of_a_vcpu": round(cpu_share, 3),
            "lambda_rate_per_second": rate,
            "note": "CPU-bound estimate: the bench's x86 core is taken as equal to a Graviton vCPU; "
            "against real APNs/FCM (~50 ms RTT) the rate is also bounded by in-flight / RTT.",
            "users": users,
            "users_per_batch": USERS_PER_BATCH,
        },
        "lambda_seconds": seconds,
        "lambda_gb_seconds": gb_seconds,
        "lambda_compute_usd": gb_seconds * PRICES["lambda_arm64_per_gb_second"],
        "timeouts": {},
    }
    batches = math.ceil(users / USERS_PER_BATCH)
    for timeout in (900, 60):
        usable = timeout - margin(timeout)
        links = math.ceil(seconds / usable)
        s3_gets = links  # one ranged GET per chain link (a warm container may reuse it)
        s3_heads = 1  # the ETag check at the job's start
        s3_puts = 2  # summary.json and failed.jsonl
        ddb_reads = users * 0.5  # BatchGetItem, eventually consistent, items <= 4 KB
        # One checkpoint per batch plus one claim per link, ~2 KB items: 2 WCU each.
        ddb_writes = (batches + links) * math.ceil(CHECKPOINT_ITEM_KB)
        cost = {
            "invocations": links,
            "lambda_requests_usd": links * PRICES["lambda_per_million_requests"] / 1e6,
            "s3_get": s3_gets,
            "s3_head": s3_heads,
            "s3_put": s3_puts,
            "s3_usd": (s3_gets + s3_heads) * PRICES["s3_get_head_per_thousand"] / 1000
            + s3_puts * PRICES["s3_put_per_thousand"] / 1000,
            "dynamodb_read_units": ddb_reads,
            "dynamodb_write_units": ddb_writes,
            "dynamodb_usd": ddb_reads * PRICES["dynamodb_per_million_read_units"] / 1e6
            + ddb_writes * PRICES["dynamodb_per_million_write_units"] / 1e6,
        }
        cost["total_usd"] = (
            out["lambda_compute_usd"] + cost["lambda_requests_usd"] + cost["s3_usd"] + cost["dynamodb_usd"]
        )
        cost["total_usd_inline_devices"] = cost["total_usd"] - ddb_reads * PRICES[
            "dynamodb_per_million_read_units"
        ] / 1e6
        cost["vs_sns_mobile_push"] = cost["total_usd"] / PRICES["sns_mobile_push_per_million"]
        out["timeouts"][f"{timeout}s"] = cost
    return out


def price(usage, deliveries):
    """A job's cost from what it used (shared::cost::Usage's fields); the
    Rust side (shared::cost::Prices::price) must give the same figures."""
    compute = usage["gb_seconds"] * PRICES["lambda_arm64_per_gb_second"]
    requests = usage["invocations"] * PRICES["lambda_per_million_requests"] / 1e6
    s3 = (usage["s3_get"] * PRICES["s3_get_head_per_thousand"]
          + usage["s3_put"] * PRICES["s3_put_per_thousand"]
          + usage["s3_list"] * PRICES["s3_list_per_thousand"]) / 1000
    dynamodb = (usage["dynamodb_read_units"] * PRICES["dynamodb_per_million_read_units"]
                + usage["dynamodb_write_units"] * PRICES["dynamodb_per_million_write_units"]) / 1e6
    return {
        "lambda_compute_usd": compute,
        "lambda_requests_usd": requests,
        "s3_usd": s3,
        "dynamodb_usd": dynamodb,
        "total_usd": compute + requests + s3 + dynamodb,
        "sns_mobile_push_usd": deliveries * PRICES["sns_mobile_push_per_million"] / 1e6,
    }


def main(path):
    latest = json.loads(Path(path).read_text())
    rate = latest.get("headline", {}).get("pushbatch_best_per_second")
    if not rate:
        sys.exit("cost.py: no pushbatch rate in the results")
    latest["cost"] = {"prices": PRICES, "per_million": model(rate), "sns_mobile_push_usd": PRICES["sns_mobile_push_per_million"]}
    Path(path).write_text(json.dumps(latest, indent=2) + "\n")
    c = latest["cost"]["per_million"]
    print(f"per million pushes: {c['lambda_gb_seconds']:.1f} GB-s, "
          f"${c['timeouts']['900s']['total_usd']:.4f} (900 s), ${c['timeouts']['60s']['total_usd']:.4f} (60 s); "
          f"SNS ${PRICES['sns_mobile_push_per_million']:.2f}")


if __name__ == "__main__":
    if sys.argv[1] == "--price":
        print(json.dumps(price(json.loads(sys.argv[2]), int(sys.argv[3]))))
    else:
        main(sys.argv[1])
