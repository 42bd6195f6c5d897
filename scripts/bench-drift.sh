#!/usr/bin/env bash
# Wall time of whole `shipready diff` and `shipready update` processes on the
# largest preset, with the release binary, next to the floors under update
# (below). Target: update within 1.5x its full floor.
#
#   diff:              a clean tree (the common CI drift check)
#   update:            after a template upgrade, the way one reaches a team:
#                      the tree was rendered by an older template set (here
#                      an overlay with VERSION 0.9.0 in which every template
#                      the preset uses differs by a line), and this binary's
#                      own templates are newer. One file carries a local
#                      edit, so the run also does a 3-way merge. The tree is
#                      restored and synced to disk before each run, as a
#                      repository's files are.
#   update --templates: the same upgrade coming from a --templates overlay
#                      of every template. Overlays are parsed at run time
#                      (embedded templates are parsed at build time), so
#                      this is the slow path; reported, not a target.
#
# Needs hyperfine (apt-get install -y hyperfine). Usage:
#   scripts/bench-drift.sh [RUNS]   (default 50)
set -euo pipefail

runs="${1:-50}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v hyperfine >/dev/null || { echo "bench-drift: needs hyperfine (apt-get install -y hyperfine)" >&2; exit 2; }
cargo build --release --locked --quiet
bin="$root/target/release/shipready"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
domain=voice.example.com

# The largest preset is whichever renders the most files today.
best="" best_n=0
for preset in $("$bin" presets | awk '/^[a-z][a-z0-9-]+  / {print $1}'); do
    "$bin" init --preset "$preset" --set domain=$domain --dir "$work/count-$preset" >/dev/null
    n="$(grep -c '^\[files\.' "$work/count-$preset/shipready.toml")"
    if [ "$n" -gt "$best_n" ]; then best="$preset" best_n="$n"; fi
done
echo "benchmarking $best ($best_n files)"
current="$work/count-$best"

# A template set that differs from the embedded one in every template the
# preset renders from, by one trailing line.
make_overlay() { # DIR VERSION
    mkdir -p "$1"
    echo "$2" >"$1/VERSION"
    while IFS= read -r path; do
        if [ -f "templates/$path.tera" ]; then
            mkdir -p "$1/$(dirname "$path")"
            { cat "templates/$path.tera"; printf '\n# bench: a line from another template set\n'; } >"$1/$path.tera"
        fi
    done < <(sed -n 's/^\[files\."\(.*\)"\]$/\1/p' "$current/shipready.toml")
}
version="$(cat templates/VERSION)"
make_overlay "$work/older" 0.9.0
make_overlay "$work/newer" "${version%.*}.$(( ${version##*.} + 1 ))"

# One local edit, far from the templates' change: update merges it cleanly.
edit_first() {
    local first
    first="$(sed -n 's/^\[files\."\(.*\)"\]$/\1/p' "$1/shipready.toml" | head -1)"
    { echo "# a local edit"; cat "$1/$first"; } >"$1/$first.tmp" && mv "$1/$first.tmp" "$1/$first"
}
"$bin" init --preset "$best" --set domain=$domain --dir "$work/old" --templates "$work/older" >/dev/null
edit_first "$work/old"
"$bin" init --preset "$best" --set domain=$domain --dir "$work/cur" >/dev/null
edit_first "$work/cur"

cat >"$work/restore" <<EOF
#!/bin/sh
rm -rf "$work/u" && cp -a "\$1" "$work/u" && sync
EOF
chmod +x "$work/restore"

# Sanity: each command does what is measured.
"$bin" diff --dir "$current" >/dev/null
"$work/restore" "$work/old" && "$bin" update --dir "$work/u" | tail -1
"$work/restore" "$work/cur" && "$bin" update --dir "$work/u" --templates "$work/newer" | tail -1

bench() { # NAME PREPARE COMMAND...
    local name="$1" prepare="$2"
    shift 2
    local args=(--style basic --warmup 5 --runs "$runs" -N --export-json "$work/$name.json")
    [ -n "$prepare" ] && args+=(--prepare "$prepare")
    hyperfine "${args[@]}" "$*" >/dev/null
}
# The floors under update, timed inside one process (no start-up):
#   full:  exactly the replacements update makes (every file whose bytes the
#          run changes: the managed files, their merge bases under
#          .shipready/base/, the lock), with update's result as the data,
#          each done alone as update does it: temp file, write, chmod,
#          rename (neither syncs).
#   files: the earlier floor: the managed files the upgrade changes only,
#          the same way.
cat >"$work/replace.py" <<'PY'
import os, subprocess, sys, time
if sys.argv[1] == "run":  # wall time of one whole process
    start = time.perf_counter()
    subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, check=True)
    print("%.3f" % ((time.perf_counter() - start) * 1000))
    sys.exit()
mode, root, source, paths = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
data = [open(os.path.join(source, rel), "rb").read() for rel in paths]
start = time.perf_counter()
for i, (rel, body) in enumerate(zip(paths, data)):
    path = os.path.join(root, rel)
    tmp = os.path.join(os.path.dirname(path), ".floor-%d" % i)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, body)
    os.fchmod(fd, os.stat(os.path.join(source, rel)).st_mode & 0o777)
    os.close(fd)
    os.rename(tmp, path)
print("%.3f" % ((time.perf_counter() - start) * 1000))
PY
# What update replaces: every file whose bytes differ after a real run.
"$work/restore" "$work/old" && "$bin" update --dir "$work/u" >/dev/null
rm -rf "$work/after" && cp -a "$work/u" "$work/after"
replaced=()
while IFS= read -r path; do
    replaced+=("$path")
done < <(cd "$work/after" && find . -type f -printf '%P\n' | sort | while IFS= read -r p; do
    cmp -s "$p" "$work/old/$p" || echo "$p"
done)
changed_paths=()
while IFS= read -r path; do
    [ -f "templates/$path.tera" ] && changed_paths+=("$path")
done < <(sed -n 's/^\[files\."\(.*\)"\]$/\1/p' "$work/old/shipready.toml")
# The disk here is shared and its speed drifts by several times within
# minutes, so update is also timed in the same loop as its floors, each run
# beside them; the ratios come from these paired runs.
floor_full=() floor_files=() paired=()
for _ in $(seq "$runs"); do
    "$work/restore" "$work/old"
    paired+=("$(python3 "$work/replace.py" run "$bin" update --dir "$work/u")")
    "$work/restore" "$work/old"
    floor_full+=("$(python3 "$work/replace.py" full "$work/u" "$work/after" "${replaced[@]}")")
    "$work/restore" "$work/old"
    floor_files+=("$(python3 "$work/replace.py" files "$work/u" "$work/after" "${changed_paths[@]}")")
done

bench diff "" "$bin" diff --dir "$current"
bench update "$work/restore $work/old" "$bin" update --dir "$work/u"
bench update-overlay "$work/restore $work/cur" "$bin" update --dir "$work/u" --templates "$work/newer"

median() { sort -n | awk '{a[NR] = $1} END {printf "%.1f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
full_ms="$(printf '%s\n' "${floor_full[@]}" | median)"
files_ms="$(printf '%s\n' "${floor_files[@]}" | median)"
paired_ms="$(printf '%s\n' "${paired[@]}" | median)"
echo "  full floor: median $full_ms ms for the ${#replaced[@]} replacements update makes, each alone ($runs runs)"
echo "  files floor: median $files_ms ms for the ${#changed_paths[@]} managed-file replacements alone ($runs runs)"
for f in diff update update-overlay; do
    python3 - "$work/$f.json" "$f" "$full_ms" "$files_ms" "$paired_ms" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
ms = lambda x: x * 1000
print(f"{sys.argv[2]:>15}: median {ms(r['median']):.1f} ms  (mean {ms(r['mean']):.1f}, "
      f"min {ms(r['min']):.1f}, max {ms(r['max']):.1f}, user {ms(r['user']):.1f}, "
      f"system {ms(r['system']):.1f}, runs {len(r['times'])})")
if sys.argv[2] == "update":
    full, files, paired = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    print(f"{'':>15}  timed beside its floors: median {paired:.1f} ms, "
          f"{paired / full:.2f}x the full floor, {paired / files:.2f}x the files floor")
EOF
done
