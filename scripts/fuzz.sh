#!/usr/bin/env bash
# Builds the attex libFuzzer targets with clang and runs each for a while.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20)
#
# Configures and builds build-fuzz (ASan + UBSan + libFuzzer, library built
# with ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO), then runs every fuzz target
# (fuzz/fuzz_*.c: fuzz_request, fuzz_authenticator, fuzz_validate, ...) one
# after the other, each on a scratch copy of its seed corpus
# (build-fuzz/corpus-run/<target>; the committed fuzz/corpus is never
# modified) with fuzz/<target>.dict, or else fuzz/attex.dict. Logs go to build-fuzz/fuzz-logs/<target>.log
# and crash, leak or timeout reproducers to build-fuzz/fuzz-artifacts/<target>/
# (both reset on each run). Prints one summary line per target and exits
# non-zero if any target crashes, leaks, times out or runs out of memory.
#
# Environment: FUZZ_TARGETS="fuzz_request ..." restricts the targets run;
# extra libFuzzer flags can be given in FUZZ_EXTRA_FLAGS.
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]   (a positive integer, default 20)" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"

# The targets: FUZZ_TARGETS, or every fuzz/fuzz_*.c that CMake builds.
wanted=()
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    read -r -a wanted <<<"$FUZZ_TARGETS"
else
    for src in "$root"/fuzz/fuzz_*.c; do
        if [[ -e "$src" ]]; then
            wanted+=("$(basename "$src" .c)")
        fi
    done
fi

echo "== configuring and building $build"
CC=clang cmake -S "$root" -B "$build" -G Ninja -DATTEX_FUZZ=ON -DATTEX_TESTS=OFF >/dev/null
known="$(ninja -C "$build" -t targets all)"
targets=()
for t in "${wanted[@]}"; do
    if grep -q "^$t: " <<<"$known"; then
        targets+=("$t")
    else
        echo "fuzz.sh: no CMake target $t; skipped" >&2
    fi
done
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "fuzz.sh: no fuzz targets to run" >&2
    exit 1
fi
ninja -C "$build" "${targets[@]}"

# UBSan findings are fatal (the targets are not built with -fno-sanitize-recover);
# libFuzzer checks every new input for leaks (LeakSanitizer) and fails on one.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

mkdir -p "$build/corpus-run" "$build/fuzz-logs" "$build/fuzz-artifacts"
failed=0
summary=()

for t in "${targets[@]}"; do
    seeds="$root/fuzz/corpus/$t"
    run="$build/corpus-run/$t"
    log="$build/fuzz-logs/$t.log"
    art="$build/fuzz-artifacts/$t"
    rm -rf "$run" "$art"
    mkdir -p "$run" "$art"
    if [[ -d "$seeds" ]]; then
        cp -R "$seeds/." "$run/"
    fi
    dict=()
    if [[ -f "$root/fuzz/$t.dict" ]]; then
        dict=("-dict=$root/fuzz/$t.dict")
    elif [[ -f "$root/fuzz/attex.dict" ]]; then
        dict=("-dict=$root/fuzz/attex.dict")
    fi

    # Known bugs must stay fixed: replay this target's regression inputs first.
    regress="$root/fuzz/regressions/$t"
    if [[ -d "$regress" ]] && find "$regress" -type f | grep -q .; then
        echo "== $t: replaying $(find "$regress" -type f | wc -l) regression input(s)"
        if ! "$build/$t" $(find "$regress" -type f | sort) >"$log.regress" 2>&1; then
            failed=1
            summary+=("$(printf '%-20s %s' "$t" "REGRESSION (see $log.regress)")")
            grep -E "ERROR:|invariant violated|SUMMARY:" "$log.regress" | head -n 10 >&2 || true
            continue
        fi
    fi

    echo "== $t: ${seconds}s on $(find "$run" -type f | wc -l) seeds (log: $log)"
    rc=0
    # shellcheck disable=SC2086
    "$build/$t" "$run" "${dict[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" ${FUZZ_EXTRA_FLAGS:-} >"$log" 2>&1 || rc=$?

    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
    last="$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")"

    if [[ $rc -eq 0 ]]; then
        status="ok"
    else
        failed=1
        if grep -q "ERROR: LeakSanitizer" "$log"; then
            status="LEAK"
        elif grep -q "ERROR: libFuzzer: timeout" "$log"; then
            status="TIMEOUT"
        elif grep -q "ERROR: libFuzzer: out-of-memory" "$log"; then
            status="OOM"
        else
            status="CRASH"
        fi
        status="$status (exit $rc; reproducer: $(find "$art" -type f | head -n1 || true))"
    fi
    line="$(printf '%-20s %-8s execs=%-10s exec/s=%-8s cov=%-6s ft=%-6s corpus=%s' \
        "$t" "${status%% *}" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")"
    if [[ $rc -ne 0 ]]; then
        line="$line  ${status#* }"
        grep -E "ERROR:|invariant violated|SUMMARY:|^    #[0-9]+ " "$log" | head -n 25 >&2 || true
    fi
    summary+=("$line")
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
    echo "fuzz.sh: FAILED (see $build/fuzz-logs and $build/fuzz-artifacts)" >&2
    exit 1
fi
echo "fuzz.sh: all targets ok"
