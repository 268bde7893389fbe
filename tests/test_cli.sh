#!/usr/bin/env bash
# Tests of the attex command as a user runs it. Usage: test_cli.sh BUILD_DIR
#
# Servers listen on port 0 and log "listening on 127.0.0.1:PORT" on standard
# error; the tests read the port from there. Every client run is under
# `timeout`, every background process is killed on exit.
set -uo pipefail
build="$(cd "$1" && pwd)"
attex="$build/attex"
sample="$build/attex-sample"
tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

cd "$tmp" || exit 1

# ---- keys, certificates, reference values ---------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -subj /CN=localhost -days 2 \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout otherkey.pem \
    -out othercert.pem -subj /CN=localhost -days 2 2>/dev/null
"$sample" keygen --key ak.pem --pub ak.pub.pem 2>/dev/null
"$sample" keygen --key other.pem --pub other.pub.pem 2>/dev/null
"$sample" reference-values --exe "$attex" >refs.json
sed 's/"[0-9a-f]\{64\}"/"'"$(printf '0%.0s' $(seq 64))"'"/' refs.json >bad-refs.json
if [ -s cert.pem ] && [ -s ak.pem ] && grep -q '"exe"' refs.json && ! cmp -s refs.json bad-refs.json; then
    pass "setup (openssl, attex-sample keygen, reference-values)"
else
    fail "setup"
    echo "test_cli: $passed passed, $failed failed"
    exit 1
fi
client_ok=(--trust-ak ak.pub.pem --reference-values refs.json --no-verify-cert)

# ---- usage and help ---------------------------------------------------------
for c in server client demo inspect; do
    "$attex" "$c" --help >out 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "usage: attex $c" out; then pass "$c --help"; else fail "$c --help (exit $rc)" out; fi
done
"$attex" no-such-command >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && pass "unknown command: exit 2" || fail "unknown command: exit $rc, want 2" out
"$attex" server --key key.pem >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && pass "server without --cert: exit 2" || fail "server without --cert: exit $rc" out
"$attex" client --connect 127.0.0.1:1 >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--trust-ak" out && pass "client without trust: exit 2 naming --trust-ak" ||
    fail "client without trust: exit $rc" out

# ---- attested echo ------------------------------------------------------------
if start_bg srv.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --echo --log-level debug; then
    pass "server starts and reports its port ($port)"
else
    fail "server start" srv.log
    echo "test_cli: $passed passed, $failed failed"
    exit 1
fi
srv_pid="$bg_pid"

echo "hello attested world" | timeout 20 "$attex" client --connect "127.0.0.1:$port" \
    "${client_ok[@]}" --json >out 2>err
rc=$?
if [ "$rc" -eq 0 ] && grep -qx "hello attested world" out; then
    pass "attested echo: line comes back, exit 0"
else
    fail "attested echo (exit $rc)" out err
fi
if head -n1 out | grep -q '"verdict":"affirming"' && head -n1 out | grep -q '"ok":true'; then
    pass "--json: one object with verdict affirming"
else
    fail "--json verdict" out
fi

echo "with ca" | timeout 20 "$attex" client --connect "127.0.0.1:$port" --trust-ak ak.pub.pem \
    --reference-values refs.json --ca cert.pem >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "with ca" out && grep -q "verdict affirming" err &&
    pass "--ca: certificate verified, human verdict on stderr" || fail "--ca (exit $rc)" out err

echo "x" | timeout 20 "$attex" client --connect "127.0.0.1:$port" --trust-ak ak.pub.pem \
    --reference-values refs.json --ca othercert.pem >out 2>err
rc=$?
[ "$rc" -eq 3 ] && grep -q "certificate" err && pass "server certificate not from --ca: exit 3" ||
    fail "wrong --ca (exit $rc)" out err

echo "nope" | timeout 20 "$attex" client --connect "127.0.0.1:$port" --trust-ak ak.pub.pem \
    --reference-values bad-refs.json --no-verify-cert >out 2>err
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'measurement "exe"' err && ! grep -q nope out; then
    pass "wrong reference value: exit 1, message names the measurement, no data"
else
    fail "wrong reference value (exit $rc)" out err
fi
[ "$(wc -l <err)" -eq 1 ] && pass "failure is a one-line message" || fail "failure message lines" err

echo "nope" | timeout 20 "$attex" client --connect "127.0.0.1:$port" --trust-ak other.pub.pem \
    --reference-values refs.json --no-verify-cert >out 2>err
rc=$?
if [ "$rc" -eq 1 ] && grep -qi "trusted key" err && ! grep -q nope out; then
    pass "untrusted attestation key: exit 1"
else
    fail "untrusted attestation key (exit $rc)" out err
fi

timeout 20 "$attex" client --connect "127.0.0.1:1" --no-attest --no-verify-cert </dev/null >out 2>err
rc=$?
[ "$rc" -eq 3 ] && pass "connection refused: exit 3" || fail "connection refused: exit $rc" err

if grep -q "accepted" srv.log && grep -q "peer rejected our attestation" srv.log; then
    pass "server logs accepts and the client's verdicts"
else
    fail "server log" srv.log
fi

# 20 concurrent clients, each with its own line.
for i in $(seq 1 20); do
    (echo "client $i" | timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" \
        >"c$i.out" 2>"c$i.err"
     echo $? >"c$i.rc") &
done
wait_ok=1
for i in $(seq 1 20); do
    for _ in $(seq 1 400); do [ -f "c$i.rc" ] && break; sleep 0.05; done
done
bad=0
for i in $(seq 1 20); do
    if [ "$(cat "c$i.rc" 2>/dev/null)" != 0 ] || ! grep -qx "client $i" "c$i.out"; then
        bad=$((bad + 1))
        wait_ok=0
    fi
done
[ "$wait_ok" -eq 1 ] && pass "20 concurrent clients all succeed" || fail "concurrent clients: $bad failed" c1.err

# A stalled client (connects, never reads or handshakes) does not block others.
exec 7<>"/dev/tcp/127.0.0.1/$port"
echo "after stall" | timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "after stall" out && pass "a stalled connection does not delay others" ||
    fail "stalled connection (exit $rc)" out err
exec 7>&-

# SIGTERM: prompt exit 0.
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

# ---- the server requires the client's attestation ----------------------------------
if start_bg req.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --require-client --trust-ak ak.pub.pem --reference-values refs.json --echo; then
    echo "secret" | timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" >out 2>err
    rc=$?
    if [ "$rc" -eq 1 ] && ! grep -q secret out; then
        pass "--require-client: a client that does not attest fails (exit 1)"
    else
        fail "--require-client without client attestation (exit $rc)" out err req.log
    fi
    echo "mutual" | timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" \
        --attest-key ak.pem >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] && grep -qx mutual out && pass "--require-client: an attesting client succeeds" ||
        fail "mutual attestation (exit $rc)" out err req.log
    grep -q "attestation of the client accepted: verdict affirming" req.log &&
        pass "server logs the client's verdict" || fail "client verdict log" req.log
else
    fail "--require-client server start" req.log
fi

# ---- re-attestation: the server re-attests the client every second -------------------
echo "configuration v1" >cfile
"$sample" reference-values --exe "$attex" --file "$tmp/cfile" >crefs.json
if start_bg re.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --require-client --trust-ak ak.pub.pem --reference-values crefs.json \
    --reattest 1 --echo; then
    (echo first; sleep 2.5; echo second) | timeout 20 "$attex" client \
        --connect "127.0.0.1:$port" "${client_ok[@]}" --attest-key ak.pem \
        --measure "$tmp/cfile" >out 2>err
    rc=$?
    accepted="$(grep -c "attestation of the client accepted" re.log)"
    if [ "$rc" -eq 0 ] && grep -qx first out && grep -qx second out && [ "$accepted" -ge 2 ]; then
        pass "re-attestation: accepted again while data flows ($accepted verdicts)"
    else
        fail "re-attestation (exit $rc, $accepted verdicts)" out err re.log
    fi
    # The measured file changes after the first verdict: the next re-attestation fails and
    # the connection closes, with the reason on both sides.
    # (The change waits until "first" came back: slow builds must not move it earlier.)
    (echo first
        for _ in $(seq 1 150); do grep -qx first out 2>/dev/null && break; sleep 0.1; done
        echo "configuration v2" >"$tmp/cfile"
        sleep 4
        echo second) |
        timeout 20 "$attex" client --connect "127.0.0.1:$port" "${client_ok[@]}" \
        --attest-key ak.pem --measure "$tmp/cfile" >out 2>err
    rc=$?
    why=""
    [ "$rc" -eq 1 ] || why="$why exit=$rc"
    grep -qx first out || why="$why no-first-echo"
    grep -q second out && why="$why second-delivered"
    grep -q "rejected" err || why="$why no-reason-at-client"
    grep -q "cfile" re.log || why="$why no-reason-at-server"
    if [ -z "$why" ]; then
        pass "failing re-attestation closes the connection (exit 1, reason shown)"
    else
        fail "failing re-attestation:$why" out err re.log
    fi
else
    fail "--reattest server start" re.log
fi

# ---- --forward to a plain TCP echo (attex test-echo) -----------------------------------
if start_bg echo.log "$attex" test-echo --listen 127.0.0.1:0 && eport="$port" &&
    start_bg fwd.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
        --attest-key ak.pem --forward "127.0.0.1:$eport" && fport="$port"; then
    printf 'one\ntwo\n' | timeout 20 "$attex" client --connect "127.0.0.1:$fport" "${client_ok[@]}" >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] && [ "$(cat out)" = "$(printf 'one\ntwo')" ] && pass "--forward relays both ways" ||
        fail "--forward (exit $rc)" out err fwd.log
    head -c 300000 /dev/urandom >big.bin
    timeout 20 "$attex" client --connect "127.0.0.1:$fport" "${client_ok[@]}" <big.bin >big.out 2>err
    rc=$?
    [ "$rc" -eq 0 ] && cmp -s big.bin big.out && pass "--forward: 300 kB round trip intact" ||
        fail "--forward big (exit $rc)" err fwd.log
    # client --listen: a local plain TCP port through its own attested connection
    if start_bg cl.log "$attex" client --connect "127.0.0.1:$fport" "${client_ok[@]}" \
        --listen 127.0.0.1:0; then
        exec 8<>"/dev/tcp/127.0.0.1/$port"
        echo "via local port" >&8
        line=""
        IFS= read -r -t 10 line <&8
        exec 8>&-
        [ "$line" = "via local port" ] && pass "client --listen forwards a local connection" ||
            fail "client --listen (got '$line')" cl.log fwd.log
    else
        fail "client --listen start" cl.log
    fi
else
    fail "--forward setup" echo.log fwd.log
fi

# ---- demo and inspect -------------------------------------------------------------------
timeout 30 "$attex" demo >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -q "affirming" out && grep -q "identical" out && grep -q "echo" out &&
    pass "demo" || fail "demo (exit $rc)" out err

cat >cmw.json <<'J'
["application/eat+cwt; eat_profile=\"tag:attex.dev,2026:sample-evidence-v1\"", "2IRDoQEmoFgbpAF4JXRhZzphdHRleC5kZXYsMjAyNjpzYW1wbGU", 4]
J
"$attex" inspect cmw.json >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -q "record" out && grep -q "ind 4 (evidence)" out && grep -q "sample evidence" out &&
    pass "inspect: JSON CMW" || fail "inspect JSON CMW (exit $rc)" out err
"$attex" inspect --json cmw.json >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -q '"kind":"record"' out && grep -q '"ind":4' out &&
    pass "inspect --json" || fail "inspect --json (exit $rc)" out err
od -An -tx1 -v cmw.json | "$attex" inspect - >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -q "(hex)" out && grep -q "ind 4" out && pass "inspect: hex input detected" ||
    fail "inspect hex (exit $rc)" out err
base64 cmw.json | "$attex" inspect >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -q "(base64)" out && pass "inspect: base64 input detected" ||
    fail "inspect base64 (exit $rc)" out err
# An authenticator (the known-answer vector's), its empty variant, and a truncated one.
vec="$here/vectors/ea/tls13-aes128gcm-sha256-server.txt"
sed -n 's/^authenticator=//p' "$vec" | "$attex" inspect - >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -q "CN=ea-phase3" out && grep -q "ecdsa_secp256r1_sha256" out &&
    grep -q "4b7108ff017a952e" out && pass "inspect: authenticator" ||
    fail "inspect authenticator (exit $rc)" out err
sed -n 's/^empty_authenticator=//p' "$vec" | "$attex" inspect --json - >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -q '"empty":true' out && pass "inspect: empty authenticator" ||
    fail "inspect empty authenticator (exit $rc)" out err
sed -n 's/^authenticator=//p' "$vec" | cut -c1-600 | "$attex" inspect - >out 2>err
rc=$?
[ "$rc" -eq 1 ] && grep -q "malformed" out && pass "inspect: truncated authenticator exits 1" ||
    fail "inspect truncated authenticator (exit $rc)" out err
printf 'garbage that is not a cmw' | "$attex" inspect >out 2>err
rc=$?
[ "$rc" -eq 1 ] && pass "inspect: undecodable input exits 1" || fail "inspect garbage (exit $rc)" out err

# SSLKEYLOGFILE
if start_bg kl.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --echo; then
    echo k | SSLKEYLOGFILE="$tmp/keys.log" timeout 20 "$attex" client --connect "127.0.0.1:$port" \
        "${client_ok[@]}" >out 2>err
    grep -q "^CLIENT_HANDSHAKE_TRAFFIC_SECRET " keys.log 2>/dev/null && grep -q "^EXPORTER_SECRET " keys.log &&
        pass "SSLKEYLOGFILE gets NSS key log lines" || fail "SSLKEYLOGFILE" err
fi

# Stop the background servers (SIGTERM: each must exit 0), then look for
# sanitizer reports (ASan/UBSan/LSan builds) in everything the programs wrote.
bad_exit=0
for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p" 2>/dev/null
        timeout 10 tail --pid="$p" -f /dev/null
        wait "$p" || bad_exit=$((bad_exit + 1))
    fi
done
pids=()
[ "$bad_exit" -eq 0 ] && pass "every background server exits 0 on SIGTERM" ||
    fail "$bad_exit background server(s) exited non-zero on SIGTERM"
if grep -l -E "Sanitizer|runtime error:" ./*.log ./*.err err 2>/dev/null | head -n1 | grep -q .; then
    fail "sanitizer reports" $(grep -l -E "Sanitizer|runtime error:" ./*.log ./*.err err 2>/dev/null)
else
    pass "no sanitizer reports"
fi

echo "test_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
