#!/usr/bin/env bash
# ses-dkim-client against aws-sdk-ses, side by side in one run on one machine.
#
# Builds both client loops (and the floor, a loop writing pre-built bytes), starts the loopback
# stub pinned to one CPU and runs every loop pinned to the other: first a correctness pass with the
# stub checking every signature, then sequential calls interleaved A B A B, instructions per call
# under callgrind, eight concurrent callers, spawn + one call + exit (also with both loops linked
# statically, so that neither maps the shared C library), and stripped binary sizes.
# Prints a markdown table (also written to $OUT/compare.md) with each figure and its ratio.
#
# Every loop is bounded by its call count. The stub counts what it answered; the run fails if a
# request was refused or the count differs from the calls the loops made.
#
# Knobs (environment): PAIRS, N, WARMUP, CG_N, CG_WARMUP, CONC, CONC_N, CONC_PAIRS, SPAWN_RUNS,
# STUB_CPU, LOOP_CPU, OUT, STATIC (0 skips the statically linked pair and its two builds). Needs
# taskset and valgrind; hyperfine is used when installed.

set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-5}
N=${N:-5000}
WARMUP=${WARMUP:-500}
CG_N=${CG_N:-2000}
CG_WARMUP=${CG_WARMUP:-200}
CONC=${CONC:-8}
CONC_N=${CONC_N:-8000}
CONC_PAIRS=${CONC_PAIRS:-3}
SPAWN_RUNS=${SPAWN_RUNS:-40}
STUB_CPU=${STUB_CPU:-0}
LOOP_CPU=${LOOP_CPU:-1}
STATIC=${STATIC:-1}

say() { printf 'compare: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for tool in taskset valgrind; do
    command -v "$tool" > /dev/null || die "$tool is missing (apt-get install $tool)"
done
[ "$(nproc)" -ge 2 ] || die "needs two CPUs, one for the stub (STUB_CPU) and one for the loops (LOOP_CPU)"

# Where cargo puts each workspace's builds: CARGO_TARGET_DIR or build.target-dir may move them.
target_dir() {
    cargo metadata --format-version 1 --no-deps --manifest-path "$1" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
TARGET=$(target_dir Cargo.toml)
SDK_TARGET=$(target_dir benches/sdk-loop/Cargo.toml)
[ -n "$TARGET" ] && [ -n "$SDK_TARGET" ] || die "cargo metadata names no target directory"
OUT=${OUT:-$TARGET/compare}

CLIENT=$TARGET/release/client-loop
SDK=$SDK_TARGET/release/sdk-loop
RAW=$TARGET/release/raw-loop
STUB=$TARGET/release/ses-stub

mkdir -p "$OUT"

# --- build -------------------------------------------------------------------------------------

say "building the loops and the stub (release)"
cargo build --release --quiet -p ses-dkim-benches --bins
say "building the aws-sdk-ses loop (its own workspace; slow the first time)"
cargo build --release --quiet --manifest-path benches/sdk-loop/Cargo.toml
say "building the ses-dkim and ses-dkim-lambda binaries"
cargo build --release --quiet -p ses-dkim-batch || say "ses-dkim does not build"
cargo build --release --quiet -p ses-dkim-lambda || say "ses-dkim-lambda does not build"

# Both loops again, linked statically (glibc's `crt-static`) into target directories of their own.
# An explicit target keeps the flag off build scripts and proc macros.
HOST=$(rustc -vV | sed -n 's/^host: //p')
STATIC_CLIENT=$TARGET/static-link/$HOST/release/client-loop
STATIC_SDK=$SDK_TARGET/static-link/$HOST/release/sdk-loop
case $STATIC in
    0 | 1) ;;
    *) die "STATIC must be 0 or 1, not '$STATIC'" ;;
esac
if [ "$STATIC" = 1 ] && ! command -v readelf > /dev/null; then
    say "no statically linked pair: readelf is missing (apt-get install binutils)"
    STATIC=0
fi
if [ "$STATIC" = 1 ] && [[ $HOST != *-linux-gnu ]]; then
    say "no statically linked pair: $HOST is not a glibc target"
    STATIC=0
fi
# Builds one loop with the caller's RUSTFLAGS plus crt-static (CARGO_ENCODED_RUSTFLAGS, which
# would win over RUSTFLAGS, is left out) and checks that it came out with no program interpreter.
build_static() {
    local bin=$1
    shift
    env -u CARGO_ENCODED_RUSTFLAGS RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --quiet --target "$HOST" "$@" &&
        [[ $(readelf -l "$bin") != *INTERP* ]]
}
if [ "$STATIC" = 1 ]; then
    say "building both loops linked statically (slow the first time)"
    if ! build_static "$STATIC_CLIENT" --target-dir "$TARGET/static-link" \
        -p ses-dkim-benches --bin client-loop ||
        ! build_static "$STATIC_SDK" --target-dir "$SDK_TARGET/static-link" \
            --manifest-path benches/sdk-loop/Cargo.toml; then
        say "no statically linked pair: the static builds failed (is static glibc installed?)"
        STATIC=0
    fi
fi

# --- helpers -----------------------------------------------------------------------------------

STUB_PID=
EXPECTED=0
cleanup() { [ -n "$STUB_PID" ] && kill "$STUB_PID" 2> /dev/null || true; }
trap cleanup EXIT

# Starts the stub with the given flags; sets ENDPOINT.
start_stub() {
    local log=$1
    shift
    taskset -c "$STUB_CPU" "$STUB" "$@" > "$log" &
    STUB_PID=$!
    for _ in $(seq 200); do
        grep -q '^listening on ' "$log" 2> /dev/null && break
        sleep 0.05
    done
    ENDPOINT=$(sed -n 's/^listening on //p' "$log")
    [ -n "$ENDPOINT" ] || die "the stub did not start"
}

# Stops the stub and checks that it answered exactly the expected calls and refused none.
stop_stub() {
    local log=$1 expected=$2 line
    kill -TERM "$STUB_PID"
    wait "$STUB_PID" || true
    STUB_PID=
    line=$(grep '^STUB ' "$log" || true)
    [ "$line" = "STUB requests=$expected ok=$expected rejected=0" ] ||
        die "the stub saw '$line', expected $expected well-formed calls"
    say "stub: $line"
}

# Runs a loop pinned to LOOP_CPU; sets RESULT (the RESULT line) and CPU (its stderr CPU line).
run_loop() {
    local bin=$1 n=$2 warmup=$3 concurrency=$4
    taskset -c "$LOOP_CPU" "$bin" --endpoint "$ENDPOINT" --n "$n" --warmup "$warmup" \
        --concurrency "$concurrency" > "$OUT/run.out" 2> "$OUT/run.err" ||
        die "$bin failed: $(cat "$OUT/run.err")"
    EXPECTED=$((EXPECTED + n + warmup))
    RESULT=$(grep '^RESULT ' "$OUT/run.out")
    CPU=$(grep -o 'CPU .*' "$OUT/run.err" || true)
}

# Prints field NAME of a `KEY=VALUE ...` line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< " $1"; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Prints a / b with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# Prints "met" when the figure meets the goal, else "missed".
goal() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = (op == ">=") ? v >= g : v <= g; print (ok ? "met" : "missed") }'; }

stripped_size() {
    [ -f "$1" ] || { echo 0; return; }
    strip -o "$OUT/stripped" "$1" && stat -c %s "$OUT/stripped"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

# --- 1. correctness: every signature checked by aws-sigv4 in the stub ----------------------------

say "correctness pass: the stub checks every signature"
start_stub "$OUT/stub-check.log" --check-signatures
for bin in "$CLIENT" "$SDK" "$RAW"; do
    run_loop "$bin" 200 0 1
done
run_loop "$CLIENT" 200 0 "$CONC"
run_loop "$SDK" 200 0 "$CONC"
stop_stub "$OUT/stub-check.log" "$EXPECTED"
EXPECTED=0

start_stub "$OUT/stub.log"

# --- 2. sequential calls, interleaved ----------------------------------------------------------

say "sequential: $PAIRS pairs of $N calls (after $WARMUP) each"
PAIR_ROWS=
: > "$OUT/pairs.tsv"
for pair in $(seq "$PAIRS"); do
    run_loop "$CLIENT" "$N" "$WARMUP" 1
    ours=$RESULT ours_cpu=$CPU
    run_loop "$SDK" "$N" "$WARMUP" 1
    sdk=$RESULT sdk_cpu=$CPU
    run_loop "$RAW" "$N" "$WARMUP" 1
    raw=$RESULT
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$(field "$ours" mean_us)" "$(field "$sdk" mean_us)" "$(field "$raw" mean_us)" \
        "$(field "$ours" p50_us)" "$(field "$sdk" p50_us)" "$(field "$raw" p50_us)" \
        "$(field "$ours" cpu_us_per_call)" "$(field "$sdk" cpu_us_per_call)" \
        "$(field "$ours_cpu" user_us_per_call)" "$(field "$sdk_cpu" user_us_per_call)" \
        "$(field "$ours" rss_kib)" "$(field "$sdk" rss_kib)" \
        "$(field "$raw" cpu_us_per_call)" >> "$OUT/pairs.tsv"
    PAIR_ROWS+=$(awk -F'\t' -v p="$pair" 'END {
        printf "| %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.1f | %.2f |\n",
            p, $1, $2, $2 / $1, $7, $8, $8 / $7, $3, $1 / $3 }' "$OUT/pairs.tsv")$'\n'
done
col() { cut -f"$1" "$OUT/pairs.tsv" | median; }
OURS_MEAN=$(col 1) SDK_MEAN=$(col 2) RAW_MEAN=$(col 3)
OURS_P50=$(col 4) SDK_P50=$(col 5) RAW_P50=$(col 6)
OURS_CPU=$(col 7) SDK_CPU=$(col 8) OURS_USER=$(col 9) SDK_USER=$(col 10)
OURS_RSS=$(col 11) SDK_RSS=$(col 12) RAW_CPU=$(col 13)
# The ratios are the medians of the pairs' ratios.
two() { awk '{ printf "%.2f", $1 }'; }
CPU_RATIOS=$(awk -F'\t' '{ print $8 / $7 }' "$OUT/pairs.tsv" | median | two)
WALL_RATIOS=$(awk -F'\t' '{ print $2 / $1 }' "$OUT/pairs.tsv" | median | two)
P50_RATIOS=$(awk -F'\t' '{ print $5 / $4 }' "$OUT/pairs.tsv" | median | two)
FLOOR_RATIOS=$(awk -F'\t' '{ print $1 / $3 }' "$OUT/pairs.tsv" | median | two)
SDK_FLOOR_RATIOS=$(awk -F'\t' '{ print $2 / $3 }' "$OUT/pairs.tsv" | median | two)
# The floor's CPU per call bounds every client's: the SDK over the floor is the most any client
# can be ahead of the SDK in CPU per call on this machine.
CPU_CEILING=$(awk -F'\t' '{ print $8 / $13 }' "$OUT/pairs.tsv" | median | two)

# --- 3. instructions per call under callgrind ---------------------------------------------------

say "callgrind: $CG_N calls after $CG_WARMUP, less a run of 0 calls"
# Sets IR to the instructions callgrind counted for a whole run of N timed calls.
instructions() {
    local bin=$1 n=$2
    taskset -c "$LOOP_CPU" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$bin" --endpoint "$ENDPOINT" --n "$n" --warmup "$CG_WARMUP" > /dev/null 2> "$OUT/cg.err" ||
        die "callgrind of $bin failed: $(tail -3 "$OUT/cg.err")"
    EXPECTED=$((EXPECTED + n + CG_WARMUP))
    IR=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/cg.err")
}
# Sets PER_CALL to the instructions of one call: a run of CG_N calls less a run of none.
per_call() {
    local base
    instructions "$1" 0
    base=$IR
    instructions "$1" "$CG_N"
    PER_CALL=$(((IR - base) / CG_N))
}
per_call "$CLIENT"
OURS_IR=$PER_CALL
per_call "$SDK"
SDK_IR=$PER_CALL
per_call "$RAW"
RAW_IR=$PER_CALL

# --- 4. concurrent callers -----------------------------------------------------------------------

say "concurrency: $CONC callers, $CONC_N calls, $CONC_PAIRS pairs"
: > "$OUT/conc.tsv"
for _ in $(seq "$CONC_PAIRS"); do
    run_loop "$CLIENT" "$CONC_N" $((CONC * 8)) "$CONC"
    ours=$RESULT
    run_loop "$SDK" "$CONC_N" $((CONC * 8)) "$CONC"
    sdk=$RESULT
    awk -v n="$CONC_N" -v a="$(field "$ours" wall_s)" -v b="$(field "$sdk" wall_s)" \
        'BEGIN { printf "%.0f\t%.0f\n", n / a, n / b }' >> "$OUT/conc.tsv"
done
OURS_CPS=$(cut -f1 "$OUT/conc.tsv" | median)
SDK_CPS=$(cut -f2 "$OUT/conc.tsv" | median)
CONC_RATIO=$(awk -F'\t' '{ print $1 / $2 }' "$OUT/conc.tsv" | median | two)

# --- 5. spawn, one call, exit --------------------------------------------------------------------

say "spawn + one call + exit: $SPAWN_RUNS runs each"
: > "$OUT/spawn-rss.tsv"
for _ in $(seq 5); do
    run_loop "$CLIENT" 1 0 1
    ours=$RESULT
    run_loop "$SDK" 1 0 1
    printf '%s\t%s\n' "$(field "$ours" rss_kib)" "$(field "$RESULT" rss_kib)" >> "$OUT/spawn-rss.tsv"
done
OURS_SPAWN_RSS=$(cut -f1 "$OUT/spawn-rss.tsv" | median)
SDK_SPAWN_RSS=$(cut -f2 "$OUT/spawn-rss.tsv" | median)
if [ "$STATIC" = 1 ]; then
    : > "$OUT/static-rss.tsv"
    for _ in $(seq 5); do
        run_loop "$STATIC_CLIENT" 1 0 1
        ours=$RESULT
        run_loop "$STATIC_SDK" 1 0 1
        printf '%s\t%s\n' "$(field "$ours" rss_kib)" "$(field "$RESULT" rss_kib)" >> "$OUT/static-rss.tsv"
    done
    OURS_STATIC_RSS=$(cut -f1 "$OUT/static-rss.tsv" | median)
    SDK_STATIC_RSS=$(cut -f2 "$OUT/static-rss.tsv" | median)
fi

if command -v hyperfine > /dev/null; then
    SPAWN_TOOL="hyperfine -N, median of $SPAWN_RUNS"
    taskset -c "$LOOP_CPU" hyperfine -N --style none --warmup 3 --runs "$SPAWN_RUNS" \
        --export-csv "$OUT/spawn.csv" \
        "$CLIENT --endpoint $ENDPOINT --n 1 --warmup 0" \
        "$SDK --endpoint $ENDPOINT --n 1 --warmup 0" > /dev/null
    EXPECTED=$((EXPECTED + 2 * (SPAWN_RUNS + 3)))
    # command,mean,stddev,median,user,system,min,max (seconds)
    OURS_SPAWN=$(awk -F, 'NR == 2 { print $4 * 1000 }' "$OUT/spawn.csv")
    SDK_SPAWN=$(awk -F, 'NR == 3 { print $4 * 1000 }' "$OUT/spawn.csv")
else
    SPAWN_TOOL="interleaved bash loop, median of $SPAWN_RUNS"
    : > "$OUT/spawn.tsv"
    for _ in $(seq "$SPAWN_RUNS"); do
        row=
        for bin in "$CLIENT" "$SDK"; do
            start=$EPOCHREALTIME
            taskset -c "$LOOP_CPU" "$bin" --endpoint "$ENDPOINT" --n 1 --warmup 0 > /dev/null 2>&1
            row+=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\t", (b - a) * 1000 }')
            EXPECTED=$((EXPECTED + 1))
        done
        echo "$row" >> "$OUT/spawn.tsv"
    done
    OURS_SPAWN=$(cut -f1 "$OUT/spawn.tsv" | median)
    SDK_SPAWN=$(cut -f2 "$OUT/spawn.tsv" | median)
fi

stop_stub "$OUT/stub.log" "$EXPECTED"

# --- 6. sizes ------------------------------------------------------------------------------------

OURS_SIZE=$(stripped_size "$CLIENT")
SDK_SIZE=$(stripped_size "$SDK")
BATCH_SIZE=$(stripped_size "$TARGET/release/ses-dkim")
LAMBDA_SIZE=$(stripped_size "$TARGET/release/ses-dkim-lambda")

# --- report --------------------------------------------------------------------------------------

SDK_VERSION=$(awk '/^name = "aws-sdk-ses"/ { getline; gsub(/[^0-9.]/, ""); print }' \
    benches/sdk-loop/Cargo.lock 2> /dev/null || echo "?")
IR_RATIO=$(ratio "$SDK_IR" "$OURS_IR")
SPAWN_RATIO=$(ratio "$OURS_SPAWN" "$SDK_SPAWN")
RSS_RATIO=$(ratio "$OURS_SPAWN_RSS" "$SDK_SPAWN_RSS")
LAMBDA_MIB=$(awk -v b="$LAMBDA_SIZE" 'BEGIN { print b / 1048576 }')
USER_RATIO=$(ratio "$SDK_USER" "$OURS_USER")

{
    echo "ses-dkim-client against aws-sdk-ses $SDK_VERSION, $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)),"
    echo "stub on CPU $STUB_CPU, loops on CPU $LOOP_CPU, current-thread tokio runtime on both sides;"
    echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD 2> /dev/null || echo ' with changes'), $(rustc --version)."
    echo
    echo "Each ratio of repeated runs is the median of the pairs' own ratios; the figures beside it are"
    echo "the medians of each side's figures."
    echo
    echo "| figure | ses-dkim | aws-sdk-ses | ratio | goal | |"
    echo "|---|---:|---:|---:|---|---|"
    echo "| instructions per call (callgrind, $CG_N calls) | $OURS_IR | $SDK_IR | $IR_RATIO x fewer | 6 x fewer | $(goal "$IR_RATIO" '>=' 6) |"
    echo "| client CPU per call, user + kernel (median of $PAIRS) | $OURS_CPU us | $SDK_CPU us | $CPU_RATIOS x less | 6 x less | $(goal "$CPU_RATIOS" '>=' 6) |"
    echo "| of which user-space CPU per call | $OURS_USER us | $SDK_USER us | $USER_RATIO x less | | |"
    echo "| the floor's CPU per call (no client: pre-built bytes, blocking socket) | $RAW_CPU us | | $CPU_CEILING x less than the SDK: the most any client can reach here | | |"
    echo "| wall per call, mean of $N sequential calls (median of $PAIRS) | $OURS_MEAN us | $SDK_MEAN us | $WALL_RATIOS x faster | | |"
    echo "| wall per call, p50 (median of $PAIRS) | $OURS_P50 us | $SDK_P50 us | $P50_RATIOS x faster | | |"
    echo "| wall per call against the raw floor ($RAW_MEAN us, $RAW_IR instructions) | $FLOOR_RATIOS x floor | $SDK_FLOOR_RATIOS x floor | | at most 2.5 x floor | $(goal "$FLOOR_RATIOS" '<=' 2.5) |"
    echo "| $CONC concurrent callers, calls a second (median of $CONC_PAIRS) | $OURS_CPS | $SDK_CPS | $CONC_RATIO x more | 5 x more | $(goal "$CONC_RATIO" '>=' 5) |"
    echo "| spawn + one call + exit ($SPAWN_TOOL) | $(printf '%.2f' "$OURS_SPAWN") ms | $(printf '%.2f' "$SDK_SPAWN") ms | $SPAWN_RATIO of the SDK | at most 0.5 | $(goal "$SPAWN_RATIO" '<=' 0.5) |"
    echo "| peak RSS, spawn + one call + exit | $OURS_SPAWN_RSS KiB | $SDK_SPAWN_RSS KiB | $RSS_RATIO of the SDK | at most 0.5 | $(goal "$RSS_RATIO" '<=' 0.5) |"
    if [ "$STATIC" = 1 ]; then
        STATIC_RATIO=$(ratio "$OURS_STATIC_RSS" "$SDK_STATIC_RSS")
        echo "| peak RSS, spawn + one call + exit, both linked statically | $OURS_STATIC_RSS KiB | $SDK_STATIC_RSS KiB | $STATIC_RATIO of the SDK | at most 0.5 | $(goal "$STATIC_RATIO" '<=' 0.5) |"
    fi
    echo "| peak RSS, $N sequential calls | $OURS_RSS KiB | $SDK_RSS KiB | $(ratio "$OURS_RSS" "$SDK_RSS") of the SDK | | |"
    echo "| stripped loop binary | $(mib "$OURS_SIZE") | $(mib "$SDK_SIZE") | $(ratio "$OURS_SIZE" "$SDK_SIZE") of the SDK | | |"
    echo "| stripped \`ses-dkim-lambda\` | $(mib "$LAMBDA_SIZE") | | | at most 4 MiB | $(goal "$LAMBDA_MIB" '<=' 4) |"
    echo "| stripped \`ses-dkim\` (batch) | $(mib "$BATCH_SIZE") | | | reported | |"
    echo
    echo "Sequential pairs, run A (ses-dkim) then B (aws-sdk-ses) then the floor:"
    echo
    echo "| pair | ses-dkim mean us | SDK mean us | SDK / ses-dkim | ses-dkim CPU us | SDK CPU us | SDK / ses-dkim | floor mean us | ses-dkim / floor |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s' "$PAIR_ROWS"
    echo
    echo "$CONC concurrent callers, pairs of $CONC_N calls, ses-dkim then aws-sdk-ses:"
    echo
    echo "| pair | ses-dkim calls a second | SDK calls a second | ses-dkim / SDK |"
    echo "|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %d | %d | %d | %.2f |\n", NR, $1, $2, $1 / $2 }' "$OUT/conc.tsv"
} | tee "$OUT/compare.md"
