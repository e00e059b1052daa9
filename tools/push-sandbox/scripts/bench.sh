#!/usr/bin/env bash
# APNs throughput of a release push-sandbox: the server pinned to CPU 0, h2load pinned
# to CPU 1, over TLS + HTTP/2 with a 260-byte payload. Everything stays on 127.0.0.1.
#   cargo build -p push-sandbox --release --bin push-sandbox --example apns_jwt
#   tools/push-sandbox/scripts/bench.sh            # N=200000 C=4 M=100 by default
set -euo pipefail

bin_dir="${CARGO_TARGET_DIR:-target}/release"
n="${N:-200000}" c="${C:-4}" m="${M:-100}"
for tool in taskset h2load curl; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

taskset -c 0 "$bin_dir/push-sandbox" --state-dir "$work/state" \
  --tls-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 2>"$work/sandbox.log" &
pid=$!
for _ in $(seq 1 300); do [[ -s "$work/state/ready.json" ]] && break; sleep 0.1; done
[[ -s "$work/state/ready.json" ]] || { cat "$work/sandbox.log" >&2; exit 1; }

ready="$work/state/ready.json"
tls="$(sed -n 's/.*"tls": "\(.*\)".*/\1/p' "$ready")"
http="$(sed -n 's/.*"http": "\(.*\)".*/\1/p' "$ready")"
jwt="$("$bin_dir/examples/apns_jwt" "$ready")"

# 260 bytes, the size of a typical alert with a deeplink.
printf '%s' '{"aps":{"alert":{"title":"We miss you","body":"See what'"'"'s new in the app this week, Ann - three new stories picked for you"},"sound":"default","badge":1,"thread-id":"day21","mutable-content":1},"deeplink":"app://home/stories?src=push&campaign=day21-inactive&v=B"}' \
  > "$work/payload.json"
echo "payload bytes: $(wc -c < "$work/payload.json")"

token="$(printf 'ab%.0s' $(seq 1 32))"
# Server CPU time (user+sys ticks), so a run on a busy machine still gives a
# contention-independent figure: requests per CPU-second of the server.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before="$(cpu_ticks)"
set -x
taskset -c 1 h2load -n "$n" -c "$c" -m "$m" \
  --header "authorization: bearer $jwt" \
  --header 'apns-topic: com.example.app' \
  --header 'apns-push-type: alert' \
  -d "$work/payload.json" \
  "https://$tls/3/device/$token"
set +x
after="$(cpu_ticks)"
awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="$n" \
  'BEGIN { s = t / hz; printf "server CPU: %.2f s, %.0f requests per server CPU-second\n", s, (s > 0 ? n / s : 0) }'
curl -sS "http://$http/stats"; echo
