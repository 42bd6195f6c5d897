#!/usr/bin/env bash
# Benchmark: `shipready init` of the largest preset into a fresh directory,
# timed as a whole process (hyperfine) with its peak memory (GNU time).
# Targets: median within 2x the floor below (cp -r of the same tree),
# <= 15 MiB peak RSS.
#
# Usage: scripts/bench.sh [RUNS] [KEY=VALUE ...]   (default 50 runs)
#   extra answers go to every init, e.g. deploy.target=kubernetes
set -Eeuo pipefail
cd "$(dirname "$0")/.."
runs="${1:-50}"
shift || true
sets=()
for kv in "$@"; do sets+=("--set" "$kv"); done

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }; }
need hyperfine hyperfine
[ -x /usr/bin/time ] || need time time

cargo build --release --locked -q
bin="$PWD/target/release/shipready"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The largest preset: the one whose plan writes the most files.
largest="" max=0
for p in $("$bin" presets | awk '/^[a-z][a-z0-9-]+  / {print $1}'); do
  n=$("$bin" init --preset "$p" --set domain=bench.example.com "${sets[@]}" --dir "$work/count" --dry-run | grep -c '^  create')
  if [ "$n" -gt "$max" ]; then max=$n largest=$p; fi
done
echo "largest preset: $largest ($max files + lock)"

hyperfine --warmup 5 --runs "$runs" --shell=none \
  --prepare "rm -rf $work/out" \
  --export-json "$work/init.json" \
  "$bin init --preset $largest --set domain=bench.example.com ${sets[*]} --dir $work/out" >/dev/null
median_ms=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["median"] * 1000))' "$work/init.json")

peak_kib=0
for _ in $(seq 1 10); do
  rm -rf "$work/out"
  kib=$(/usr/bin/time -f '%M' "$bin" init --preset "$largest" --set domain=bench.example.com "${sets[@]}" --dir "$work/out" 2>&1 >/dev/null | tail -1)
  [ "$kib" -gt "$peak_kib" ] && peak_kib=$kib
done

# The floor under init: the filesystem creating the same tree, nothing else
# (this VM's disk varies by several times; judge init against this).
cp -r "$work/out" "$work/tree"
hyperfine --warmup 5 --runs "$runs" --shell=none \
  --prepare "rm -rf $work/copy" \
  --export-json "$work/floor.json" \
  "cp -r $work/tree $work/copy" >/dev/null
floor_ms=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["median"] * 1000))' "$work/floor.json")

peak_mib=$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / 1024:.1f}")' "$peak_kib")
echo "init $largest: median $median_ms ms wall ($runs runs), peak RSS $peak_mib MiB (max of 10)"
echo "  floor: cp -r of the same tree, median $floor_ms ms"
