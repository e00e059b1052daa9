"""Checks of the fan-out model's shape: plain asserts, no pytest.

usage: python3 bench/fanout/test_simulate.py
"""

import itertools
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import simulate as sim  # noqa: E402

RESULTS = HERE.parent / "results"

# A fixed set of measured inputs, so the formula checks do not move with the bench files.
MEASURED = {
    "devices_per_user": 1.2,
    "fcm_share": 0.5,
    "dead_share": 0.05,
    "bytes_per_user": 25.0,
    "rate_one_core": 26_000.0,
}


def series(grid, n, q):
    return sorted((r for r in grid if r["users"] == n and r["fcm_quota_per_minute"] == q), key=lambda r: r["shards"])


def fixed_run():
    d = sim.code_defaults()
    p = sim.default_params()
    chain = sim.chain_rate(MEASURED, d, p)
    return d, p, chain, sim.grid_for(MEASURED, d, p, chain)


def test_code_defaults_follow_send_batch():
    d = sim.code_defaults()
    assert d["batch_size"] == sim.cost.USERS_PER_BATCH, d
    assert d["keys_per_batch_get"] == 100, d
    assert all(isinstance(v, int) and v > 0 for v in d.values()), d


def test_chain_rate_is_the_lower_bound():
    d, p, chain, _ = fixed_run()
    assert chain["users_per_s"] == min(chain["cpu_bound_users_per_s"], chain["round_trip_bound_users_per_s"])
    share = sim.cost.MEMORY_MB / sim.cost.FULL_VCPU_MB
    assert math.isclose(chain["cpu_bound_users_per_s"], 26_000 * share / 1.2)
    # A longer provider round trip can only slow a chain down.
    slow = sim.chain_rate(MEASURED, d, dict(p, rtt_ms=p["rtt_ms"] * 4))
    assert slow["users_per_s"] < chain["users_per_s"]
    # With no waits at all the CPU bound is what is left.
    no_wait = {k: 0.0 for k in p}
    no_wait["s3_stream_mb_per_s"] = 1e9
    free = sim.chain_rate(MEASURED, d, no_wait)
    assert free["bound"] == "cpu", free


def test_time_never_increases_with_k_until_the_quota_binds():
    _, _, _, grid = fixed_run()
    for n in sim.USERS:
        for q in sim.QUOTAS_PER_MINUTE:
            rows = series(grid, n, q)
            for a, b in itertools.pairwise(rows):
                if b["bound"] != "fcm quota":
                    assert b["wall_seconds"] < a["wall_seconds"], (n, q, a["shards"], b["shards"])
            # Some K in the grid reaches every quota, and then stays on it.
            bound = [r["bound"] == "fcm quota" for r in rows]
            assert bound[-1] and bound == sorted(bound), (n, q, bound)


def test_quota_bound_time_is_users_over_quota():
    _, p, _, grid = fixed_run()
    for r in grid:
        if r["bound"] == "fcm quota":
            floor_s = r["users"] * 0.5 * 1.2 / r["fcm_quota_per_minute"] * 60
            assert math.isclose(r["busy_seconds"], floor_s, rel_tol=1e-9), r
            # Only planning and link overheads come on top: under 10 % even for 256 shards of the smallest job.
            overhead = r["planning_seconds"] + (r["links_per_chain"] + 1) * p["link_overhead_s"]
            assert math.isclose(r["wall_seconds"], floor_s + overhead, rel_tol=1e-9), r
            assert r["wall_seconds"] < floor_s * 1.10, (r["shards"], r["wall_seconds"], floor_s)


def test_shards_past_the_quota_only_cost():
    _, _, _, grid = fixed_run()
    for n in sim.USERS:
        for q in sim.QUOTAS_PER_MINUTE:
            rows = series(grid, n, q)
            free = [r for r in rows if r["bound"] != "fcm quota"]
            bound = [r for r in rows if r["bound"] == "fcm quota"]
            # Unthrottled, K chains do the same work: GB-s differ only by link overheads.
            gbs = [r["lambda_gb_seconds"] for r in free]
            assert max(gbs) - min(gbs) < 0.01 * min(gbs) + 2 * 256, (n, q, gbs)
            # Throttled, every extra chain is billed while it waits for tokens.
            for a, b in itertools.pairwise(bound):
                assert b["lambda_gb_seconds"] > a["lambda_gb_seconds"]
                assert b["usd_total"] > a["usd_total"]
                assert b["chain_utilisation"] < a["chain_utilisation"] <= 1.0


def test_links_follow_the_lambda_timeout():
    *_, grid = fixed_run()
    usable = 900 - sim.cost.margin(900)
    for r in grid:
        assert r["links_per_chain"] == math.ceil(r["busy_seconds"] / usable)
        assert r["lambda_requests"] == r["shards"] * r["links_per_chain"] + 1


def test_knee_is_the_smallest_k_within_tolerance():
    _, _, chain, grid = fixed_run()
    for k in sim.knees(grid, MEASURED):
        rows = series(grid, k["users"], k["fcm_quota_per_minute"])
        best = min(r["wall_seconds"] for r in rows)
        limit = best * (1 + sim.KNEE_TOLERANCE)
        knee = next(r for r in rows if r["shards"] == k["knee_shards"])
        assert knee["wall_seconds"] <= limit
        assert all(r["wall_seconds"] > limit for r in rows if r["shards"] < k["knee_shards"])
        # Fewer chains than quota / chain rate cannot come within the tolerance.
        quota_rate = sim.quota_users_per_s(k["fcm_quota_per_minute"], MEASURED)
        assert k["knee_shards"] * chain["users_per_s"] * (1 + 2 * sim.KNEE_TOLERANCE) >= quota_rate, k


def test_run_on_the_bench_files():
    import json

    result = sim.run(RESULTS / "e2e.json", RESULTS / "latest.json", sim.default_params())
    m = result["inputs"]["measured"]
    assert 1.0 < m["devices_per_user"] < 2.0 and 0.0 < m["fcm_share"] < 1.0, m
    assert len(result["grid"]) == len(sim.USERS) * len(sim.SHARDS) * len(sim.QUOTAS_PER_MINUTE)
    assert len(result["knees"]) == len(sim.USERS) * len(sim.QUOTAS_PER_MINUTE)
    json.dumps(result)  # the output file must serialise


def test_the_pipelined_chain_is_its_measured_share_of_the_cpu_bound():
    d, p, serial, _ = fixed_run()
    pipeline = {"efficiency": 0.85, "serial_efficiency": 0.43, "at_rtt_ms": 50, "at_aws_ms": 8, "measured_at": "x"}
    chain = sim.chain_rate(MEASURED, d, p, pipeline)
    assert math.isclose(chain["users_per_s"], min(serial["cpu_bound_users_per_s"] * 0.85, chain["round_trip_bound_users_per_s"]))
    assert chain["users_per_s"] > serial["users_per_s"], (chain, serial)
    # Very slow providers bound even the pipeline by its round trips.
    slow = sim.chain_rate(MEASURED, d, dict(p, rtt_ms=2000), pipeline)
    assert slow["bound"] == "round-trip", slow


def main():
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)]
    for name, fn in tests:
        fn()
        print(f"ok  {name}")
    print(f"{len(tests)} passed")


if __name__ == "__main__":
    main()
