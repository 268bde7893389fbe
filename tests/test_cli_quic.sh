#!/usr/bin/env bash
# The attex command over attested QUIC (--quic): echo, rejection, mutual
# attestation, --forward to a TCP backend, the demo, clean shutdown.
# Usage: test_cli_quic.sh BUILD_DIR
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

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -subj /CN=localhost -days 2 \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
"$sample" keygen --key ak.pem --pub ak.pub.pem 2>/dev/null
"$sample" reference-values --exe "$attex" >refs.json
sed 's/"[0-9a-f]\{64\}"/"'"$(printf '0%.0s' $(seq 64))"'"/' refs.json >bad-refs.json
trust=(--trust-ak ak.pub.pem --reference-values refs.json)

if start_bg srv.log "$attex" server --quic --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --echo; then
    pass "QUIC server starts ($port)"
else
    fail "QUIC server start" srv.log
    echo "test_cli_quic: $passed passed, $failed failed"
    exit 1
fi
qport="$port"
srv_pid="$bg_pid"
printf 'hello over quic\nsecond line\n' | timeout 30 "$attex" client --quic \
    --connect "127.0.0.1:$qport" --ca cert.pem "${trust[@]}" --json >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "hello over quic" out && grep -qx "second line" out &&
    grep -q '"transport":"quic"' out && grep -q '"verdict":"affirming"' out &&
    pass "QUIC: attested echo, verdict affirming" || fail "QUIC echo (exit $rc)" out err srv.log
echo "nope" | timeout 30 "$attex" client --quic --connect "127.0.0.1:$qport" --ca cert.pem \
    --trust-ak ak.pub.pem --reference-values bad-refs.json >out 2>err
rc=$?
[ "$rc" -eq 1 ] && ! grep -q nope out && grep -q "exe" err &&
    pass "QUIC: wrong reference value, rejected naming the measurement, no data" ||
    fail "QUIC rejection (exit $rc)" out err
echo "x" | timeout 30 "$attex" client --quic --connect "127.0.0.1:$qport" --ca key.pem \
    "${trust[@]}" >out 2>err
rc=$?
[ "$rc" -ne 0 ] && ! grep -q x out && pass "QUIC: server certificate not trusted, refused (exit $rc)" ||
    fail "QUIC with a wrong CA (exit $rc)" out err

# ---- mutual, and --forward to a TCP backend ------------------------------------------------
if start_bg srv2.log "$attex" server --quic --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --require-client "${trust[@]}" --echo; then
    echo "mutual" | timeout 30 "$attex" client --quic --connect "127.0.0.1:$port" --ca cert.pem \
        "${trust[@]}" --attest-key ak.pem >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] && grep -qx "mutual" out && pass "QUIC: mutual attestation" ||
        fail "QUIC mutual (exit $rc)" out err srv2.log
    echo "anon" | timeout 30 "$attex" client --quic --connect "127.0.0.1:$port" --ca cert.pem \
        "${trust[@]}" >out 2>err
    rc=$?
    [ "$rc" -ne 0 ] && ! grep -q anon out && pass "QUIC: a client that does not attest gets no data" ||
        fail "QUIC unattested client (exit $rc)" out err srv2.log
else
    fail "mutual QUIC server start" srv2.log
fi
if start_bg echo.log "$attex" test-echo --listen 127.0.0.1:0 && eport="$port" &&
    start_bg fwd.log "$attex" server --quic --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
        --attest-key ak.pem --forward "127.0.0.1:$eport"; then
    echo "through the backend" | timeout 30 "$attex" client --quic --connect "127.0.0.1:$port" \
        --ca cert.pem "${trust[@]}" >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] && grep -qx "through the backend" out && pass "QUIC: --forward to a TCP backend" ||
        fail "QUIC --forward (exit $rc)" out err fwd.log
else
    fail "forward setup" echo.log fwd.log
fi

# ---- demo and shutdown -----------------------------------------------------------------------
timeout 60 "$attex" demo --quic >out 2>&1
rc=$?
[ "$rc" -eq 0 ] && grep -q "attestation accepted over QUIC" out && pass "attex demo --quic" ||
    fail "demo --quic (exit $rc)" out
"$attex" client --quic --connect "127.0.0.1:$qport" --listen 9999 "${trust[@]}" >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && pass "client --quic --listen: a clear usage error" || fail "--quic --listen (exit $rc)" out
kill -TERM "$srv_pid"
for _ in $(seq 1 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$srv_pid" 2>/dev/null && wait "$srv_pid"; then
    pass "QUIC server: SIGTERM, exit 0"
else
    fail "QUIC server shutdown" srv.log
fi
if grep -l -E "Sanitizer|runtime error:" ./*.log err 2>/dev/null; then
    fail "sanitizer reports" $(grep -l -E "Sanitizer|runtime error:" ./*.log err 2>/dev/null)
else
    pass "no sanitizer reports"
fi
echo "test_cli_quic: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
