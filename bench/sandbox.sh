# Sourced by bench/run, bench/kinds and bench/ab: one push-sandbox on CPU 0,
# with the same flags for every send-path benchmark, for clients on CPU 1.
#
#   start_sandbox <push-sandbox binary> <work dir>   # sets sandbox_pid, tls, http, state
#   stop_sandbox                                     # in the caller's EXIT trap

sandbox_flags=(--max-streams 1000 --latency-ms 0 --dead-fraction 0)
sandbox_pid=""

start_sandbox() {
  local bin="$1" work="$2"
  taskset -c 0 "$bin" --state-dir "$work/state" --tls-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    "${sandbox_flags[@]}" 2>"$work/sandbox.log" &
  sandbox_pid=$!
  for _ in $(seq 1 100); do [[ -s "$work/state/ready.json" ]] && break; sleep 0.1; done
  [[ -s "$work/state/ready.json" ]] || { cat "$work/sandbox.log" >&2; exit 1; }
  local field='import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])'
  tls="$(python3 -c "$field" "$work/state/ready.json" tls)"
  http="$(python3 -c "$field" "$work/state/ready.json" http)"
  state="$work/state"
}

stop_sandbox() {
  if [[ -n "$sandbox_pid" ]]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
}
