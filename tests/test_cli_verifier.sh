#!/usr/bin/env bash
# The two RATS models with the attex command: 'attex verifier' on loopback,
# then attested connections where the relying party has the Verifier appraise
# the evidence (background check, client --verifier) or the attester presents
# the Verifier's EAR (passport, server --passport, client --trust-ear); with
# sample and TPM (swtpm) evidence. Usage: test_cli_verifier.sh BUILD_DIR
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
export TSS2_LOG=all+none
finish() {
    echo "test_cli_verifier: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -subj /CN=localhost -days 2 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ear.pem 2>/dev/null
openssl pkey -in ear.pem -pubout -out ear.pub.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other-ear.pem 2>/dev/null
openssl pkey -in other-ear.pem -pubout -out other-ear.pub.pem 2>/dev/null
"$sample" keygen --key ak.pem --pub ak.pub.pem 2>/dev/null
"$sample" keygen --key rogue.pem --pub rogue.pub.pem 2>/dev/null
"$sample" reference-values --exe "$attex" >refs.json
"$attex" tpm swtpm >tcti.txt 2>swtpm.err &
pids+=("$!")
for _ in $(seq 1 100); do [ -s tcti.txt ] && break; sleep 0.1; done
tcti="$(head -n1 tcti.txt)"
if [ -s ear.pub.pem ] && [ -s refs.json ] && [ -n "$tcti" ] &&
    "$attex" tpm provision --tcti "$tcti" --out tpm-ak.pem 2>err &&
    "$attex" tpm reference-values --tcti "$tcti" --out tpm-refs.json 2>>err; then
    pass "setup: EAR key, sample AK, swtpm with an AK"
else
    fail "setup" err swtpm.err
    finish
fi

# ---- the Verifier --------------------------------------------------------------
if start_bg ver.log "$attex" verifier --ear-key ear.pem --listen 127.0.0.1:0 \
    --trust-ak ak.pub.pem --reference-values refs.json \
    --trust-tpm-ak tpm-ak.pem --tpm-reference-values tpm-refs.json --access-log access.log; then
    pass "attex verifier starts ($port)"
else
    fail "verifier start" ver.log
    finish
fi
vurl="http://127.0.0.1:$port"
ver_pid="$bg_pid"
if curl -sf "$vurl/.well-known/veraison/verification" >disc.json && grep -q '"ear-verification-key"' disc.json; then
    pass "discovery document with the EAR key"
else
    fail "discovery" disc.json ver.log
fi

# ---- background check: the client sends the server's evidence to the Verifier ------
start_bg srv.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --echo || fail "server start" srv.log
echo "background" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --verifier "$vurl" --verifier-key ear.pub.pem --json >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "background" out && grep -q '"verdict":"affirming"' out &&
    pass "background check: Verifier affirms the server's evidence, data flows" ||
    fail "background check (exit $rc)" out err ver.log
echo "x" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --verifier "$vurl" --verifier-key other-ear.pub.pem >out 2>err
rc=$?
[ "$rc" -eq 1 ] && ! grep -q x out && pass "background check: EAR signed by an untrusted key, rejected" ||
    fail "background check with the wrong EAR key (exit $rc)" out err
start_bg srv2.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key rogue.pem --echo || fail "rogue server start" srv2.log
echo "x" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --verifier "$vurl" --verifier-key ear.pub.pem >out 2>err
rc=$?
[ "$rc" -eq 1 ] && grep -q "contraindicated" err && ! grep -q x out &&
    pass "background check: evidence from an unknown attestation key, contraindicated" ||
    fail "background check, rogue evidence (exit $rc)" out err

# ---- passport: the server presents the Verifier's EAR -----------------------------
start_bg srv3.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attest-key ak.pem --passport "$vurl" --echo || fail "passport server start" srv3.log
echo "passport" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --trust-ear ear.pub.pem --json >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "passport" out && grep -q '"cmw_ind":8' out &&
    grep -q 'eat+jwt' out && pass "passport: client validates the EAR locally, data flows" ||
    fail "passport (exit $rc)" out err srv3.log
echo "x" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --trust-ear other-ear.pub.pem >out 2>err
rc=$?
[ "$rc" -eq 1 ] && ! grep -q x out && pass "passport: EAR from an untrusted Verifier, rejected" ||
    fail "passport, untrusted Verifier (exit $rc)" out err
echo "x" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --trust-ak ak.pub.pem --reference-values refs.json >out 2>err
rc=$?
[ "$rc" -eq 1 ] && ! grep -q x out && pass "passport: a client that takes only evidence rejects an EAR" ||
    fail "passport to an evidence-only client (exit $rc)" out err

# ---- TPM evidence through the Verifier, both models ---------------------------------
start_bg srv4.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attester tpm --tpm-tcti "$tcti" --passport "$vurl" --echo || fail "TPM passport server" srv4.log
echo "tpm passport" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --trust-ear ear.pub.pem >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "tpm passport" out && pass "passport with TPM evidence" ||
    fail "TPM passport (exit $rc)" out err srv4.log
start_bg srv5.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attester tpm --tpm-tcti "$tcti" --echo || fail "TPM server" srv5.log
echo "tpm background" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --no-verify-cert \
    --verifier "$vurl" --verifier-key ear.pub.pem >out 2>err
rc=$?
[ "$rc" -eq 0 ] && grep -qx "tpm background" out && pass "background check with TPM evidence" ||
    fail "TPM background check (exit $rc)" out err

# ---- the Verifier goes away -------------------------------------------------------------
lines=$(wc -l <access.log)
[ "$lines" -ge 6 ] && head -n1 access.log | grep -q '"status":' && pass "access log: one JSON line per request ($lines)" ||
    fail "access log" access.log
kill -TERM "$ver_pid"
for _ in $(seq 1 50); do kill -0 "$ver_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ver_pid" 2>/dev/null && fail "verifier did not stop on SIGTERM" ver.log ||
    pass "verifier stops on SIGTERM"
start=$(date +%s)
echo "x" | timeout 30 "$attex" client --connect "127.0.0.1:$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' srv.log)" \
    --no-verify-cert --verifier "$vurl" --verifier-key ear.pub.pem >out 2>err
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -eq 1 ] && ! grep -q x out && [ "$took" -le 15 ] &&
    pass "Verifier down: connection not accepted, clear error (${took} s)" ||
    fail "Verifier down (exit $rc, ${took} s)" out err
"$attex" verifier --listen 127.0.0.1:0 --trust-ak ak.pub.pem --reference-values refs.json >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--ear-key" out && pass "verifier without --ear-key: exit 2" ||
    fail "verifier without --ear-key (exit $rc)" out
"$attex" client --connect 127.0.0.1:1 --verifier "$vurl" >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--verifier-key" out && pass "client --verifier without --verifier-key: exit 2" ||
    fail "client --verifier without key (exit $rc)" out
finish
