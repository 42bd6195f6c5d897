#!/usr/bin/env bash
# Wall time of whole `shipready diff` and `shipready update` processes on the
# largest preset, with the release binary. Target: median <= 20 ms each.
#
#   diff:   a clean tree (the common CI drift check)
#   update: after a template change that touches every file whose template
#           is `<path>.tera`, with one file edited locally so the run also
#           does a 3-way merge; the tree is restored before each run
#
# Uses hyperfine when installed (apt-get install -y hyperfine), else a loop
# timing each process. Usage: scripts/bench-drift.sh [RUNS]
set -euo pipefail

runs="${1:-50}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --quiet
bin="$root/target/release/shipready"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The largest preset is whichever renders the most files today.
best="" best_n=0
for preset in fastapi-three-tier twilio-voice; do
    "$bin" init --preset "$preset" --set domain=voice.example.com --dir "$work/$preset" >/dev/null
    n="$(grep -c '^\[files\.' "$work/$preset/shipready.toml")"
    echo "$preset renders $n files"
    if [ "$n" -gt "$best_n" ]; then best="$preset" best_n="$n"; fi
done
base="$work/$best"
echo "benchmarking $best ($best_n files)"

# A newer template set: every `<path>.tera` template gains a line.
overlay="$work/overlay"
mkdir -p "$overlay"
version="$(cat templates/VERSION)"
echo "${version%.*}.$(( ${version##*.} + 1 ))" >"$overlay/VERSION"
changed=0
while IFS= read -r path; do
    if [ -f "templates/$path.tera" ]; then
        mkdir -p "$overlay/$(dirname "$path")"
        { cat "templates/$path.tera"; printf '\n# bench: a line from a newer template set\n'; } >"$overlay/$path.tera"
        changed=$((changed + 1))
    fi
done < <(sed -n 's/^\[files\."\(.*\)"\]$/\1/p' "$base/shipready.toml")
echo "template change touches $changed files"

# One local edit, far from the template's change: update merges it cleanly.
first="$(sed -n 's/^\[files\."\(.*\)"\]$/\1/p' "$base/shipready.toml" | head -1)"
{ echo "# a local edit"; cat "$base/$first"; } >"$base/$first.tmp" && mv "$base/$first.tmp" "$base/$first"
git_clean_copy() { rm -rf "$work/u" && cp -a "$base" "$work/u"; }

# Sanity: the commands do what is measured.
clean="$work/clean"
"$bin" init --preset "$best" --set domain=voice.example.com --dir "$clean" >/dev/null
"$bin" diff --dir "$clean" >/dev/null
git_clean_copy
"$bin" update --dir "$work/u" --templates "$overlay" | tail -1
"$bin" diff --dir "$work/u" --templates "$overlay" --stat | head -3 || true

if command -v hyperfine >/dev/null; then
    hyperfine --style basic --warmup 5 --runs "$runs" -N \
        --export-json "$work/diff.json" \
        "$bin diff --dir $clean"
    hyperfine --style basic --warmup 5 --runs "$runs" \
        --prepare "rm -rf $work/u && cp -a $base $work/u" \
        --export-json "$work/update.json" \
        "$bin update --dir $work/u --templates $overlay"
    for f in diff update; do
        python3 - "$work/$f.json" "$f" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"{sys.argv[2]:>6}: median {r['median'] * 1000:.1f} ms (mean {r['mean'] * 1000:.1f}, min {r['min'] * 1000:.1f}, max {r['max'] * 1000:.1f}, runs {len(r['times'])})")
EOF
    done
else
    median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2) / 1e6 " ms"}'; }
    for _ in $(seq "$runs"); do
        s=$(date +%s%N); "$bin" diff --dir "$clean" >/dev/null; e=$(date +%s%N); echo $((e - s))
    done | { printf '  diff: median '; median; }
    for _ in $(seq "$runs"); do
        git_clean_copy
        s=$(date +%s%N); "$bin" update --dir "$work/u" --templates "$overlay" >/dev/null; e=$(date +%s%N); echo $((e - s))
    done | { printf 'update: median '; median; }
fi
