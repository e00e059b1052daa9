"""Writes BENCHMARKS.md (at the repository root) from bench/results/latest.json,
then appends bench/notes.md (hand-written analysis) when present. Every
hand-written section belongs in notes.md: BENCHMARKS.md is rewritten whole.

usage: report.py LATEST_JSON OUT_MD
"""
import json
import sys
from pathlib import Path


def k(x):
    return "–" if x is None else f"{x / 1000:.1f}k"


def ratio(x):
    return "–" if x is None else f"{x:.2f}"


def e2e_section(e):
    """1M users through the whole local stack (bench/e2e)."""
    mb = e["peak_rss_kb"] / 1024
    users = e["users"]
    per_link = users / max(e["invocations"], 1)
    # At the measured rate, how many 900 s invocations a million users need
    # (minus the 20 s safety margin each link keeps for its handoff).
    # The summary's sends_per_second counts devices; users over the busy time.
    busy = e["busy_ms"] / 1000
    rate = users / busy if busy else 0
    links_900 = (1_000_000 / (rate * 880)) if rate else None
    ok = "holds" if not e["cross_check_problems"] and e["status"] == "done" else "**broken**: " + "; ".join(e["cross_check_problems"])
    wall = e["wall_seconds"]
    lines = [
        "## End to end on the local stack",
        "",
        f"`bench/e2e`, run of {e['measured_at'][:19]} UTC: {users:,} users ({e['file_bytes'] / 1e6:.0f} MB JSONL) with their devices in",
        "dynalite, uploaded through the event plane's S3 proxy, sent by send-batch under `cargo lambda watch`",
        f"({'release' if e['release_build'] else 'debug'} build) with `MAX_RUN_SECONDS={e['max_run_seconds']:g}` forcing a chain, against push-sandbox.",
        "",
        "| | |",
        "| --- | --- |",
        f"| wall time, upload to summary | {wall:.0f} s |",
        f"| invocations (chain links) | {e['invocations']} ({per_link:,.0f} users per link) |",
        f"| send rate over the busy time ({busy:.0f} s) | {rate:,.0f} users/s ({e['sends_per_second'] or 0:,.0f} devices/s) |",
        f"| whole job, upload to summary | {users / wall:,.0f} users/s |",
        f"| peak RSS of send-batch | {mb:.1f} MB (target ≤ 128 MB: {'met' if mb <= 128 else '**missed**'}) |",
        f"| accounting identities and the sandbox's /stats | {ok} |",
        "",
    ]
    cpu = e.get("cpu_seconds")
    if cpu:
        lines += [
            "Where the time went, process by process (CPU from /proc, upload to summary; `cores` is CPU seconds",
            "over the wall time, so 1.00 is one core busy the whole run; the machine has 2):",
            "",
            "| process | CPU s | cores | CPU µs per user |",
            "| --- | --- | --- | --- |",
        ]
        for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {seconds:.1f} | {seconds / wall:.2f} | {seconds * 1e6 / users:.0f} |")
        dyn = cpu.get("dynalite", 0)
        if dyn:
            ceiling = users / dyn
            lines += [
                "",
                f"dynalite is one Node.js thread: at a whole core it would answer {ceiling:,.0f} users/s at the CPU it spent",
                f"per user here, the stack's ceiling. The send rate (over the chain's busy time, {busy:.0f} s) reached "
                f"{rate / ceiling:.2f} of it (target ≥ 0.8: {'met' if rate / ceiling >= 0.8 else '**missed**'}); the whole job,",
                f"upload to summary, {users / wall / ceiling:.2f}: the rest of the wall time is the upload, the event, the",
                "pre-flight read of the file, the summary, and the CLI's polling, while dynalite waits.",
            ]
        lines.append("")
    lines += [
        "Chain length at a 900 s timeout (880 s of sending after the 20 s margin), extrapolated from the measured",
        f"rate: {'%.2f' % links_900 if links_900 else '–'} invocations per million users at this local rate; the target is at most 2.",
        "",
    ]
    return lines


def main(src, out):
    r = json.loads(Path(src).read_text())
    h, s, m, v = r["headline"], r["settings"], r["machine"], r["versions"]
    t = h.get("targets", {})
    ok = lambda b: "met" if b else "**missed**"  # noqa: E731
    lines = [
        "# Benchmarks: pushbatch's send path",
        "",
        "How fast does pushbatch push from one core, compared with what the wire allows (h2load against the same",
        "server) and with the Node.js stack it replaces? Everything runs on one machine over 127.0.0.1: the",
        "local APNs/FCM stand-in `push-sandbox` pinned to CPU 0, each client pinned to CPU 1.",
        "",
        f"Run of {r['date']} (UTC), git {v.get('git_commit')}. Load average when the figures were collected:",
        f"{' / '.join(m['loadavg_at_collect'])} (1/5/15 min); each run's own load is in latest.json (`load_before`).",
        "",
        "## Results",
        "",
        "| | notifications/s | CPU µs per notification (client) |",
        "| --- | --- | --- |",
        f"| pushbatch send path (best, {h.get('pushbatch_best_in_flight')} in flight) | {k(h.get('pushbatch_best_per_second'))} "
        f"| {h.get('pushbatch_cpu_us_per_notification', 0):.1f} |",
        f"| Node.js baseline (best, {h.get('node_best_in_flight')} in flight) | {k(h.get('node_best_per_second'))} "
        f"| {(h.get('node_cpu_us_per_notification') or 0):.1f} |",
        f"| h2load ceiling, APNs only (best) | {k(h.get('h2load_apns_best_per_second'))} | – |",
        f"| h2load ceiling, 50/50 APNs + FCM (best) | {k(h.get('h2load_mixed_best_per_second'))} | – |",
        "",
        "| target (from the issue) | measured | |",
        "| --- | --- | --- |",
        f"| ≥ 25,000 notifications/s from one core | {h.get('pushbatch_best_per_second', 0):,.0f}/s | {ok(t.get('at_least_25k_per_second'))} |",
        f"| ≥ 0.5 of h2load's ceiling (APNs) | {ratio(h.get('vs_h2load_apns'))} (mixed ceiling: {ratio(h.get('vs_h2load_mixed'))}) "
        f"| {ok(t.get('at_least_half_of_h2load'))} |",
        f"| ≥ 5× the Node baseline | {ratio(h.get('vs_node'))}× (CPU per notification: {ratio(h.get('vs_node_cpu_per_notification'))}×) "
        f"| {ok(t.get('at_least_5x_node'))} |",
        f"| ≤ 20 µs of client CPU per notification (issue 18) | {h.get('pushbatch_cpu_us_per_notification', 0):.1f} µs "
        f"| {ok(t.get('at_most_20us_cpu_per_notification'))} |",
        f"| ≤ 1.5× h2load's client CPU per request, same in flight (issue 18) | {ratio(h.get('cpu_vs_h2load'))}× "
        f"(h2load: {h.get('h2load_cpu_us_per_request') or 0:.1f} µs) | {ok(t.get('at_most_1_5x_h2load_cpu'))} |",
        f"| ≥ 0.9 of h2load's rate (mixed), same in flight (issue 18) | {ratio(h.get('vs_h2load_mixed_same_in_flight'))} "
        f"| {ok(t.get('at_least_0_9_of_h2load_rate'))} |",
        f"| ≥ 10× the Node baseline, in client CPU per notification (issue 18) "
        f"| {ratio(h.get('vs_node_cpu_per_notification'))}× (rate: {ratio(h.get('vs_node'))}×, with the sandbox's core "
        f"{100 * (h.get('sandbox_busy') or 0):.0f} % busy during pushbatch's best run) | {ok(t.get('at_least_10x_node'))} |",
        f"| every notification delivered (client counts = sandbox /stats) | {'yes' if t.get('all_runs_verified') else 'NO'} | |",
        "",
        "### By requests in flight",
        "",
        "| in flight | pushbatch | h2load APNs | h2load mixed | Node | pushbatch / h2load APNs | pushbatch / mixed | pushbatch / Node |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["ratios"]:
        lines.append(
            f"| {row['in_flight']} | {k(row.get('pushbatch_per_second'))} | {k(row.get('h2load_apns_per_second'))} "
            f"| {k(row.get('h2load_mixed_per_second'))} | {k(row.get('node_per_second'))} "
            f"| {ratio(row.get('vs_h2load_apns'))} | {ratio(row.get('vs_h2load_mixed'))} | {ratio(row.get('vs_node'))} |"
        )
    node_only = [n for n in r["node"] if n["in_flight"] not in {x["in_flight"] for x in r["pushbatch"]}]
    for n in node_only:
        lines.append(f"| {n['in_flight']} | – | – | – | {k(n['notifications_per_second'])} | – | – | – |")
    lines += [
        "",
        "![throughput vs requests in flight](bench/results/throughput.png)",
        "",
        "## What was measured",
        "",
        f"- Batch file: {s['users']:,} users, JSONL, one inline device each, 50/50 iOS (64 hex) / Android "
        f"(152-character FCM-style token), no dead tokens; the body has a `{{{{name}}}}` placeholder so every "
        f"user is rendered. APNs payload {s['apns_payload_bytes']} bytes, FCM body {s['fcm_body_bytes']} bytes.",
        f"- pushbatch: `sendpath send`, the production code path (shared::batch::EntryReader → render::Renderer → "
        f"push::retry::deliver on ApnsClient + FcmClient), tokio current-thread runtime, "
        f"{s['apns_connections']} APNs + {s['fcm_connections']} FCM connections (production defaults), "
        "in-flight bounded in total; connections and the OAuth token are set up before the clock starts "
        "(a warm container). No FCM rate limit (the production default, 600,000/min, would cap FCM at 10k/s).",
        f"- Node baseline: `bench/node/send.js`, @parse/node-apn {v.get('parse_node_apn')} `MultiProvider` "
        f"({s['apns_connections']} clients) and Node's `http2` for FCM v1 ({s['fcm_connections']} sessions, "
        f"OAuth JWT-bearer grant against the sandbox's /token), same file, same rendering, first "
        f"{s['node_users']:,} users per sweep point (its rate is steady long before that).",
        f"- Ceiling: h2load, {s['apns_connections']} connections, streams per connection = in flight / "
        f"{s['apns_connections']}, {s['h2load_requests']:,} requests, same TLS, same headers and payload, a JWT "
        "minted by `sendpath jwt`. APNs alone and FCM alone; the mixed ceiling is their harmonic mean (the file "
        "is half and half).",
        f"- Sandbox flags (same for all): `{s['sandbox_flags'].strip()}`. Checked after every run: "
        "the sandbox's delivered count equals the client's.",
        "",
        "## Machine",
        "",
        f"- {m['nproc']} CPUs: {m['cpu_model']}; kernel {m['kernel']}",
        f"- {v.get('rustc')}; Node {v.get('node')}; {v.get('h2load')}",
        "",
    ]
    c = r.get("cost", {}).get("per_million")
    if c:
        p = r["cost"]["prices"]
        a = c["assumptions"]
        lines += [
            f"## Cost per million pushes (list prices as of {p['as_of']}, us-east-1)",
            "",
            f"Lambda arm64, {a['memory_mb']} MB (≈{a['cpu_share_of_a_vcpu']:.2f} vCPU): the measured one-core rate "
            f"scaled to that share gives ≈{a['lambda_rate_per_second']:,.0f} pushes/s, so "
            f"{c['lambda_seconds']:.0f} s and {c['lambda_gb_seconds']:.1f} GB-s "
            f"(${c['lambda_compute_usd']:.5f}) per million. {a['note']}",
            "",
            "| | 900 s timeout | 60 s timeout |",
            "| --- | --- | --- |",
        ]
        t9, t6 = c["timeouts"]["900s"], c["timeouts"]["60s"]
        for key, label, fmt in [
            ("invocations", "invocations (chain links)", "{:.0f}"),
            ("lambda_requests_usd", "Lambda requests, $", "{:.6f}"),
            ("s3_get", "S3 GET (one ranged read per link)", "{:.0f}"),
            ("s3_head", "S3 HEAD", "{:.0f}"),
            ("s3_put", "S3 PUT (summary + failed.jsonl)", "{:.0f}"),
            ("s3_usd", "S3, $", "{:.6f}"),
            ("dynamodb_read_units", "DynamoDB read units (BatchGetItem, eventually consistent, ≤4 KB)", "{:,.0f}"),
            ("dynamodb_write_units", "DynamoDB write units (checkpoint per 500 users + claims, ~2 KB)", "{:,.0f}"),
            ("dynamodb_usd", "DynamoDB (on-demand), $", "{:.4f}"),
            ("total_usd", "**total, $** (device lookups in DynamoDB)", "{:.4f}"),
            ("total_usd_inline_devices", "total, $ (inline devices, no lookups)", "{:.4f}"),
            ("vs_sns_mobile_push", "÷ SNS mobile push ($0.50 per million)", "{:.3f}"),
        ]:
            lines.append(f"| {label} | {fmt.format(t9[key])} | {fmt.format(t6[key])} |")
        lines += [
            "",
            f"Prices used: Lambda ${p['lambda_arm64_per_gb_second']} per GB-s and ${p['lambda_per_million_requests']} "
            f"per million requests; S3 ${p['s3_get_head_per_thousand']} per 1,000 GET/HEAD and "
            f"${p['s3_put_per_thousand']} per 1,000 PUT; DynamoDB on-demand ${p['dynamodb_per_million_read_units']} "
            f"per million read units and ${p['dynamodb_per_million_write_units']} per million write units; "
            f"SNS mobile push ${p['sns_mobile_push_per_million']} per million.",
            "",
        ]
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "bench/run            # builds, generates bench/.cache/users-1000000.jsonl once, measures, writes",
        "                     # bench/results/latest.json, bench/results/throughput.png and this report",
        'USERS=100000 SWEEP="500 2000" NODE_SWEEP="1000" NODE_USERS=50000 bench/run   # a quick run',
        "BEFORE=/path/to/old/sendpath bench/kinds   # per platform (Web Push included) and the renderer, old against new",
        "```",
        "",
        "Needs 2 CPUs, h2load (nghttp2-client), node ≥ 20, python3, taskset. Noise between runs is large on a",
        "2-core machine; compare contenders within one run, and run when the load average is below 1.5.",
        "",
    ]
    e2e = Path(src).parent / "e2e.json"
    if e2e.exists():
        lines += e2e_section(json.loads(e2e.read_text()))
    notes = Path(__file__).parent / "notes.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    Path(out).write_text("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:3])
