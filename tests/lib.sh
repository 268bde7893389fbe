# Shared by the shell tests: results, and starting servers in the background.
# The sourcing script defines `pids` (an array) and cleans them up on exit.

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() {
    failed=$((failed + 1))
    echo "FAILED: $1" >&2
    for f in "${@:2}"; do [ -f "$f" ] && sed 's/^/    /' "$f" | head -n 20 >&2; done
}

# start_bg LOGFILE COMMAND...: runs COMMAND in the background and waits (up to
# 10 s) until it logs "listening on 127.0.0.1:PORT"; sets $port and $bg_pid.
start_bg() {
    local log="$1"
    shift
    port=""
    "$@" </dev/null >"$log.out" 2>"$log" &
    local pid=$!
    bg_pid=$pid
    pids+=("$pid")
    for _ in $(seq 1 200); do
        port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -n1)"
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
