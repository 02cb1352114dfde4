#!/usr/bin/env bash
# Every scene on fresh seeds: simulate, replay offline, score; one line per draw and the
# draws that fail the every-scene test's criteria (a pickup missed, a false alarm, a
# duplicate, an alert left active, a wrong field, an identity conflict missed or false, an
# alert later than the scene's bound).
# The fixture scenes hold at their own seeds by construction; this is how a mechanism is
# checked in general rather than on the draw it was tuned on.
#
#   scripts/seed-sweep.sh [FIRST_SEED LAST_SEED [SCENE...]]
#
# VIGIE_BIN (default target/release/vigie) is the build under test; SWEEP_DIR (default
# /tmp/vigie-sweep) keeps each draw's recording, so a second build can be scored on the
# same recordings (set VIGIE_BIN and SWEEP_LABEL and run again). Two draws run at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
first=${1:-101}
last=${2:-104}
shift 2 2>/dev/null || shift $#
scenes=("$@")
if [ ${#scenes[@]} -eq 0 ]; then
    # The load scenes (2,000 vessels) take minutes each and have no pickups to miss.
    for f in fixtures/scenarios/*.toml; do
        n=$(basename "$f" .toml)
        case "$n" in load-2000 | strait-200) ;; *) scenes+=("$n") ;; esac
    done
fi
export VIGIE_BIN=${VIGIE_BIN:-$PWD/target/release/vigie}
export SWEEP_DIR=${SWEEP_DIR:-/tmp/vigie-sweep}
export SWEEP_LABEL=${SWEEP_LABEL:-run}

draw() {
    local scene=$1 seed=$2 d="$SWEEP_DIR/$1-$2" l=$SWEEP_LABEL
    mkdir -p "$d"
    [ -f "$d/rec.ndjson" ] || "$VIGIE_BIN" simulate --scenario "$scene" --seed "$seed" --out "$d" >/dev/null 2>&1
    "$VIGIE_BIN" replay "$d/rec.ndjson" --offline --config "$d/vigie.toml" \
        --alerts-out "$d/alerts-$l.ndjson" --tracks-out "$d/tracks-$l.ndjson" >/dev/null 2>&1
    "$VIGIE_BIN" score --alerts "$d/alerts-$l.ndjson" --truth "$d/truth.json" \
        --tracks "$d/tracks-$l.ndjson" --json >"$d/score-$l.json" 2>/dev/null || true
    python3 - "$d/score-$l.json" "$scene" "$seed" "$d/vigie.toml" <<'PY'
import json, sys, tomllib
s = json.load(open(sys.argv[1]))
# The every-scene test's bound on the delay from a stop to its alert: the scene's own, or
# the rule's dwell + 10 s.
scene = tomllib.load(open("fixtures/scenarios/%s.toml" % sys.argv[2], "rb"))
dwell = tomllib.load(open(sys.argv[4], "rb")).get("alerts", {}).get("loiter_dwell_s", 90.0)
max_delay = scene.get("max_delay_s", dwell + 10.0)
bad = (s["recall"] < 1 or s["false_alarms"] or s["duplicates"] or s["uncleared"]
       or s.get("wrong_fields") or s.get("false_conflicts")
       or s.get("conflicts", 0) != s.get("conflicts_detected", 0)
       or (s.get("max_delay_s") or 0.0) > max_delay)
ident = s.get("identity") or {}
line = "%-4s %s %s recall %s false %s dup %s uncleared %s wrong %d switches %s max-delay %s GOSPA %.1f" % (
    "FAIL" if bad else "ok", sys.argv[2], sys.argv[3], s["recall"], s["false_alarms"],
    s["duplicates"], s["uncleared"], len(s.get("wrong_fields") or []), ident.get("switches"),
    s.get("max_delay_s"), s.get("gospa_m") or 0.0)
print(line, flush=True)
PY
}
export -f draw
mkdir -p "$SWEEP_DIR"
rm -f "$SWEEP_DIR"/.line-*
for sc in "${scenes[@]}"; do
    for seed in $(seq "$first" "$last"); do echo "$sc $seed"; done
done | xargs -P2 -L1 bash -c 'draw "$0" "$1" > "$SWEEP_DIR/.line-$0-$1"'
cat "$SWEEP_DIR"/.line-* | sort -k2,2 -k3,3n | tee "$SWEEP_DIR/summary-$SWEEP_LABEL.txt"
rm -f "$SWEEP_DIR"/.line-*
echo "$(grep -c '^ok' "$SWEEP_DIR/summary-$SWEEP_LABEL.txt") of $(wc -l <"$SWEEP_DIR/summary-$SWEEP_LABEL.txt") draws clean"
