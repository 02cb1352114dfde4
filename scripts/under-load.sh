#!/usr/bin/env bash
# The suite's live-against-offline tests on a loaded machine: each round starts a load,
# runs the tests that compare what vigie publishes live (through each broker, across a
# broker kill, a cut network, a redelivery storm, a restart, a replica or stream leader
# killed) with what an offline replay of the same recording gives, and stops the load.
# One line per test per round; exit status 1 if any test failed in any round.
#
#   scripts/under-load.sh [ROUNDS [LOAD...]]
#
# LOAD (default: cpu broker):
#   cpu     stress-ng busy on every core at the tests' own priority (Debian `stress-ng`):
#           every thread of vigie, the broker and the tests waits for a core;
#   broker  the latency bench's busy strait at 10,000 msg/s, through the broker the tests
#           use when VIGIE_TEST_MQTT_URL is set (its own embedded broker otherwise), with
#           a second vigie taking it: the machine as a centre's would be, with the broker
#           carrying ~33,000 messages a second beside the tests' own.
# Each round runs each load in turn. The tests are those `.ci/run` runs; set
# VIGIE_TEST_MQTT_URL and VIGIE_REQUIRE_NATS=1 as it does to include Mosquitto and NATS.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
shift || true
loads=("$@")
[ ${#loads[@]} -eq 0 ] && loads=(cpu broker)

tests=(
    scenes_live_through_each_broker_match_offline
    cap::cap_on_mqtt_is_actual_for_live_data_and_exercise_for_replays
    faults::a_qos1_redelivery_storm_changes_no_alert
    faults::broker_killed_mid_scenario_loses_no_alert
    faults::network_to_the_broker_cut_for_30_s_loses_no_alert
    faults::vigie_killed_between_two_raises_raises_each_pickup_once
    faults::vigie_killed_mid_alert_restores_it_and_clears_it_once
    restart::a_restart_between_two_raises_keeps_every_pickup_and_no_buoy_alerts
    replication::two_replicas_on_a_3_node_cluster_alert_as_offline_replay_does_once_each
    replication::a_replica_or_the_stream_leader_killed_mid_pickup_loses_and_duplicates_nothing
)

# Built before any load starts, so that building is not what the load slows.
cargo test --test tests --no-run -q 2>/dev/null
for l in "${loads[@]}"; do
    case $l in
    cpu) command -v stress-ng >/dev/null || { echo "under-load: stress-ng is not installed (apt-get install stress-ng)" >&2; exit 2; } ;;
    broker) cargo bench --bench latency --no-run -q 2>/dev/null ;;
    *) echo "under-load: unknown load '$l' (cpu, broker)" >&2; exit 2 ;;
    esac
done

log=$(mktemp -d /tmp/vigie-under-load.XXXXXX)
load_pid=
stop_load() {
    if [ -n "$load_pid" ]; then
        kill -- -"$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
        load_pid=
    fi
}
trap stop_load EXIT

failed=0
for r in $(seq 1 "$rounds"); do
    for l in "${loads[@]}"; do
        case $l in
        cpu) setsid stress-ng --cpu 0 --cpu-method matrixprod --timeout 3600 >"$log/load-$r-$l" 2>&1 &
            ;;
        broker) setsid env VIGIE_BENCH_SUSTAIN=10000x1500 \
                ${VIGIE_TEST_MQTT_URL:+VIGIE_BENCH_MQTT_URL=$VIGIE_TEST_MQTT_URL} \
                cargo bench --bench latency -q >"$log/load-$r-$l" 2>&1 &
            ;;
        esac
        load_pid=$!
        if [ "$l" = broker ]; then
            # The bench first replays the whole input offline (what vigie must publish),
            # then starts its vigie and publishes: wait for that.
            for _ in $(seq 600); do
                pgrep -f 'target/release/vigie run' >/dev/null && break
                kill -0 "$load_pid" 2>/dev/null || { echo "under-load: the bench stopped: $log/load-$r-$l" >&2; exit 2; }
                sleep 1
            done
        fi
        sleep 10
        start=$(date +%s)
        read -r _ u0 n0 s0 i0 w0 q0 sq0 st0 _ </proc/stat
        cargo test --test tests -- "${tests[@]}" >"$log/tests-$r-$l" 2>&1 || true
        secs=$(($(date +%s) - start))
        read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
        # The machine's share busy while the tests ran (all cores; what the load made it).
        busy=$((u1 + n1 + s1 + q1 + sq1 - u0 - n0 - s0 - q0 - sq0))
        idle=$((i1 + w1 - i0 - w0))
        stolen=$((st1 - st0))
        pct=$((100 * busy / (busy + idle + stolen + 1)))
        carried=
        if [ "$l" = broker ] && [ -n "${VIGIE_TEST_MQTT_URL:-}" ] && command -v mosquitto_sub >/dev/null; then
            # What the broker took in over the last minute of the tests (Mosquitto's $SYS
            # figure, a moving average per minute): the load was there to the end.
            hp=${VIGIE_TEST_MQTT_URL#mqtt://}
            per_min=$(timeout 15 mosquitto_sub -h "${hp%:*}" -p "${hp##*:}" -C 1 \
                -t '$SYS/broker/load/publish/received/1min' 2>/dev/null || true)
            [ -n "$per_min" ] && carried=", broker took in $(awk -v m="$per_min" 'BEGIN { printf "%.0f", m / 60 }') publications/s"
        fi
        stop_load
        grep -E '^test .* \.\.\. ' "$log/tests-$r-$l" | sed "s/^/round $r, load $l: /" || true
        summary=$(grep -E '^test result' "$log/tests-$r-$l" || echo "test result: none (see $log/tests-$r-$l)")
        echo "round $r, load $l: $summary (${secs} s, machine ${pct} % busy, $((100 * stolen / (busy + idle + stolen + 1))) % stolen${carried})"
        case $summary in *" 0 failed"*) ;; *) failed=1 ;; esac
    done
done
echo "logs: $log"
exit $failed
