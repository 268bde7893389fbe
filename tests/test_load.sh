#!/usr/bin/env bash
# Load tests of `attex server` with the real tools. Usage: test_load.sh BUILD_DIR
#
#  (a) N concurrent attested clients (200; fewer in a sanitizer build, see below)
#      each echo their own line; every client keeps its connection open for a
#      moment so that they overlap; the server's peak resident memory (VmHWM)
#      stays bounded;
#  (b) two stalled connections (a raw TCP one that sent half a TLS record, and a
#      TLS one, through `openssl s_client`, that sent half an attex frame) do not
#      delay 100 other attested clients, which all complete within their timeout;
#  (c) the server is still healthy afterwards and exits 0 on SIGTERM.
#
# Every client runs under `timeout 20`; background processes are killed on exit.
set -uo pipefail
build="$(cd "$1" && pwd)"
attex="$build/attex"
sample="$build/attex-sample"
tmp="$(mktemp -d)"
pids=()
cleanup() {
    exec 7>&- 2>/dev/null
    exec 9>&- 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
finish() {
    echo "test_load: $passed passed, $failed failed ($SECONDS s)"
    [ "$failed" -eq 0 ]
    exit
}

# Sanitizer builds (directory name with 'asan' or 'san') run every process slower.
n_concurrent=200
n_after_stall=100
hold=2
rss_limit_kb=$((200 * 1024))
case "$(basename "$build")" in
*asan* | *sanitize* | *san*)
    # Measured: 200 + 100 clients take about 15 s under ASan+UBSan on 2 cores, so the
    # counts stay; only the memory limit is raised for ASan's shadow memory and quarantine.
    rss_limit_kb=$((400 * 1024))
    echo "note: sanitizer build ($build): same connection counts, server memory limit 400 MB" \
        "(ASan shadow memory and quarantine) instead of 200 MB"
    ;;
esac

# proc_kb PID FIELD: a /proc/PID/status field in kB (VmRSS, VmHWM).
proc_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# run_clients PREFIX COUNT HOLD: starts COUNT attested clients at once, each sending
# "PREFIX i" and keeping stdin open for HOLD seconds; waits for all of them; sets
# $bad to the number that did not exit 0 with their line echoed, and $slowest to the
# longest client run (s), and $peak_fds to the most fds the server had open meanwhile.
run_clients() {
    local prefix="$1" count="$2" hold_s="$3" i
    local cpids=()
    for i in $(seq 1 "$count"); do
        (
            s=$(date +%s%N)
            { echo "$prefix $i"; sleep "$hold_s"; } |
                timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" \
                    >"$prefix$i.out" 2>"$prefix$i.err"
            rc=$?
            echo "$rc $((($(date +%s%N) - s) / 1000000))" >"$prefix$i.rc"
        ) &
        cpids+=("$!")
    done
    peak_fds=0
    while :; do
        local n alive=0
        n=$(ls "/proc/$srv_pid/fd" 2>/dev/null | wc -l)
        [ "$n" -gt "$peak_fds" ] && peak_fds=$n
        for i in "${cpids[@]}"; do kill -0 "$i" 2>/dev/null && alive=1 && break; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    wait "${cpids[@]}" 2>/dev/null
    bad=0
    slowest=0
    for i in $(seq 1 "$count"); do
        local rc ms
        read -r rc ms <"$prefix$i.rc" 2>/dev/null || { rc=x; ms=0; }
        [ "${ms:-0}" -gt "$slowest" ] && slowest=$ms
        if [ "$rc" != 0 ] || ! grep -qx "$prefix $i" "$prefix$i.out"; then
            bad=$((bad + 1))
            [ "$bad" -eq 1 ] && first_bad="$prefix$i"
        fi
    done
}

cd "$tmp" || exit 1

# ---- keys, certificates, reference values ---------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -subj /CN=localhost -days 2 \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
"$sample" keygen --key ak.pem --pub ak.pub.pem 2>/dev/null
"$sample" reference-values --exe "$attex" >refs.json
if [ -s cert.pem ] && [ -s ak.pem ] && grep -q '"exe"' refs.json; then
    pass "setup (openssl req, attex-sample keygen, reference-values)"
else
    fail "setup"
    finish
fi
client_ok=(--trust-ak ak.pub.pem --reference-values refs.json --ca cert.pem)

if start_bg srv.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --echo; then
    pass "server starts ($port)"
else
    fail "server start" srv.log
    finish
fi
srv_pid="$bg_pid"

echo "warm up" | timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "warm up" out && pass "one attested echo" || fail "first echo (exit $rc)" out err
rss_before=$(proc_kb "$srv_pid" VmRSS)

# ---- (a) concurrent clients --------------------------------------------------------------
t0=$SECONDS
run_clients c "$n_concurrent" "$hold"
rss_after=$(proc_kb "$srv_pid" VmRSS)
hwm=$(proc_kb "$srv_pid" VmHWM)
if [ "$bad" -eq 0 ]; then
    pass "$n_concurrent concurrent attested clients all echo their line" \
        "($((SECONDS - t0)) s, slowest client ${slowest} ms, server peak $peak_fds fds)"
else
    fail "concurrent clients: $bad of $n_concurrent failed" "$first_bad.err" srv.log
fi
# Each connection holds a socket: most of them must have been open at the same time.
if [ "$peak_fds" -ge $((n_concurrent / 2)) ]; then
    pass "connections overlapped (server had $peak_fds fds open at once)"
else
    fail "connections did not overlap: server peak $peak_fds fds for $n_concurrent clients"
fi
if [ -n "$hwm" ] && [ "$hwm" -lt "$rss_limit_kb" ] && [ "$rss_after" -lt "$rss_limit_kb" ]; then
    pass "server memory bounded: VmRSS $((rss_before / 1024)) MB before," \
        "$((rss_after / 1024)) MB after, peak $((hwm / 1024)) MB (< $((rss_limit_kb / 1024)) MB)"
else
    fail "server memory: VmRSS ${rss_before:-?} kB before, ${rss_after:-?} kB after, peak ${hwm:-?} kB"
fi

# ---- (b) stalled connections -------------------------------------------------------------
# A raw TCP connection that sent half a TLS record header's worth of a ClientHello...
exec 7<>"/dev/tcp/127.0.0.1/$port"
printf '\x16\x03\x01\x02\x00\x01' >&7
# ...and a TLS 1.3 connection that sent half an attex frame (a REQUEST announcing 256
# bytes, of which 3 are sent), then nothing: s_client keeps reading the FIFO.
mkfifo stall.fifo
openssl s_client -quiet -tls1_3 -connect "127.0.0.1:$port" <stall.fifo >stall.out 2>stall.err &
stall_pid=$!
pids+=("$stall_pid")
exec 9>stall.fifo
printf '\x01\x00\x00\x01\x00abc' >&9
sleep 0.5
kill -0 "$stall_pid" 2>/dev/null && pass "stalled TLS client connected, holds half a frame" ||
    fail "stalled TLS client (s_client) exited" stall.err

t0=$SECONDS
run_clients s "$n_after_stall" 0
if [ "$bad" -eq 0 ]; then
    pass "$n_after_stall attested clients complete during the stalls" \
        "($((SECONDS - t0)) s, slowest client ${slowest} ms)"
else
    fail "clients during the stall: $bad of $n_after_stall failed" "$first_bad.err" srv.log
fi
if [ "$slowest" -lt 10000 ]; then
    pass "no client was delayed by the stalls (slowest ${slowest} ms < 10000 ms)"
else
    fail "a client took ${slowest} ms during the stalls"
fi
if kill -0 "$stall_pid" 2>/dev/null && kill -0 "$srv_pid" 2>/dev/null; then
    pass "the stalled connections were still open throughout"
else
    fail "the stalled TLS connection ended early" stall.err
fi

# ---- (c) healthy afterwards, SIGTERM ----------------------------------------------------------
echo "still here" | timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "still here" out && pass "server healthy after the load" ||
    fail "echo after the load (exit $rc)" out err srv.log
exec 9>&-
exec 7>&-
kill "$stall_pid" 2>/dev/null
rss_end=$(proc_kb "$srv_pid" VmRSS)
[ -n "$rss_end" ] && [ "$rss_end" -lt "$rss_limit_kb" ] &&
    pass "server VmRSS at the end: $((rss_end / 1024)) MB" || fail "server VmRSS at the end: ${rss_end:-?} kB"

kill -TERM "$srv_pid"
rc=124
for _ in $(seq 1 100); do
    if ! kill -0 "$srv_pid" 2>/dev/null; then
        wait "$srv_pid"
        rc=$?
        break
    fi
    sleep 0.05
done
[ "$rc" -eq 0 ] && pass "SIGTERM: server exits 0 promptly" || fail "SIGTERM: exit $rc" srv.log
if grep -qiE "AddressSanitizer|LeakSanitizer|runtime error" srv.log; then
    fail "sanitizer report in the server log" srv.log
fi
finish
