"""Cold start, measured locally: the time from starting a function's
executable to its first request for an event.

Lambda starts a custom runtime's `bootstrap` and it asks the Runtime API for
its first event (GET /2018-06-01/runtime/invocation/next) once its init is
done: building its clients, reading its secrets, its settings. This starts
each function's release build the same way, against a stand-in Runtime API
on 127.0.0.1 that notes when that first request arrives and then lets the
process go (the measurement ends there; no event is sent). The environment
is the local stack's (stack.env), as `cargo lambda watch` gives it.

usage: coldstart.py --env STACK_ENV --bin-dir DIR --runs N --out JSON NAME...
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path


def unquote(value):
    """The dotenv subset `pushbatch`'s env_file.rs writes: single quotes as
    they are, double quotes with backslash escapes, else up to a ` #`."""
    if value.startswith("'") and value.endswith("'") and len(value) >= 2:
        return value[1:-1]
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        out, chars = [], iter(value[1:-1])
        for c in chars:
            if c == "\\":
                c = next(chars, "")
                out.append("\n" if c == "n" else c)
            else:
                out.append(c)
        return "".join(out)
    return value.split(" #", 1)[0].rstrip()


def read_env(path):
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        env[key.strip()] = unquote(value.strip())
    return env


class RuntimeApi(http.server.ThreadingHTTPServer):
    """Notes the time of the first `next` request, then answers nothing."""

    def __init__(self):
        self.first_next = threading.Event()
        self.at = None
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next") and not self.server.first_next.is_set():
            self.server.at = time.perf_counter()
            self.server.first_next.set()
        # No event: the process is stopped before it would need one.
        time.sleep(5)

    def log_message(self, *args):
        pass


def once(binary, env, timeout):
    api = RuntimeApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    run_env = dict(env)
    run_env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME=binary.name,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{binary.name}",
        AWS_LAMBDA_LOG_STREAM_NAME="coldstart",
        RUST_LOG="warn",
    )
    started = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ready = api.first_next.wait(timeout)
    proc.kill()
    _, err = proc.communicate()
    api.shutdown()
    api.server_close()
    if not ready:
        raise RuntimeError(f"{binary.name} never asked for an event: {err.decode(errors='replace')[:2000]}")
    return (api.at - started) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("names", nargs="+")
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_")}
    env.update(read_env(a.env))
    results = {}
    # Interleaved: each round starts every function once, so the machine's
    # other load falls on all of them alike.
    samples = {name: [] for name in a.names}
    for _ in range(a.runs):
        for name in a.names:
            samples[name].append(once(Path(a.bin_dir) / name, env, timeout=30))
    for name, ms in samples.items():
        size = (Path(a.bin_dir) / name).stat().st_size
        results[name] = {
            "median_ms": statistics.median(ms),
            "min_ms": min(ms),
            "max_ms": max(ms),
            "runs_ms": ms,
            "binary_mib": size / 2**20,
        }
        print(f"{name:12} median {results[name]['median_ms']:.1f} ms (min {min(ms):.1f}, max {max(ms):.1f}), "
              f"binary {size / 2**20:.1f} MiB")
    out = {
        "bench": "coldstart",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": a.runs,
        "loadavg_before": os.getloadavg(),
        "build": Path(a.bin_dir).name,
        "functions": results,
    }
    Path(a.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
