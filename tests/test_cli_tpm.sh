#!/usr/bin/env bash
# The attex command with a TPM 2.0: a software TPM (swtpm, started by
# 'attex tpm swtpm'), an AK provisioned with 'attex tpm provision', reference
# values from 'attex tpm reference-values', then attested connections over
# real TLS. Usage: test_cli_tpm.sh BUILD_DIR
set -uo pipefail
build="$(cd "$1" && pwd)"
attex="$build/attex"
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
    echo "test_cli_tpm: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# ---- a software TPM and its AK -------------------------------------------------
"$attex" tpm swtpm >tcti.txt 2>swtpm.err &
pids+=("$!")
for _ in $(seq 1 100); do [ -s tcti.txt ] && break; sleep 0.1; done
tcti="$(head -n1 tcti.txt)"
if [[ "$tcti" == swtpm:host=127.0.0.1,port=* ]]; then
    pass "attex tpm swtpm prints its TCTI ($tcti)"
else
    fail "attex tpm swtpm" swtpm.err
    finish
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -subj /CN=localhost -days 2 2>/dev/null
if "$attex" tpm provision --tcti "$tcti" --out ak.pem 2>err &&
    "$attex" tpm provision --tcti "$tcti" --type rsa --out rsa-ak.pem 2>>err &&
    "$attex" tpm reference-values --tcti "$tcti" --out refs.json 2>>err &&
    grep -q "BEGIN PUBLIC KEY" ak.pem && grep -q '"sha256"' refs.json && ! cmp -s ak.pem rsa-ak.pem; then
    pass "provision (ECC and RSA AKs) and reference values"
else
    fail "provision / reference-values" err
    finish
fi
"$attex" tpm provision --tcti "$tcti" --out ak.pem >out 2>&1
rc=$?
[ "$rc" -ne 0 ] && grep -q "ak.pem" out && pass "provision refuses to overwrite a file" ||
    fail "provision overwrote ak.pem (exit $rc)" out
"$attex" tpm provision >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--tcti" out && pass "provision without --tcti: exit 2" ||
    fail "provision without --tcti: exit $rc" out

trust=(--trust-tpm-ak ak.pem --tpm-reference-values refs.json --no-verify-cert)

# ---- server attests with the TPM ---------------------------------------------
if start_bg srv.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attester tpm --tpm-tcti "$tcti" --echo; then
    pass "server with --attester tpm starts"
else
    fail "server start" srv.log
    finish
fi
srv_pid="$bg_pid"
echo "hello tpm" | timeout 30 "$attex" client --connect "127.0.0.1:$port" "${trust[@]}" \
    --json >out 2>err
rc=$?
if [ "$rc" -eq 0 ] && grep -qx "hello tpm" out &&
    grep -q '"cmw_type":"application/vnd.attex.tpm2-quote+cbor"' out &&
    grep -q '"verdict":"affirming"' out; then
    pass "client accepts the server's TPM quote and the data flows"
else
    fail "TPM-attested echo (exit $rc)" out err
fi
echo "x" | timeout 30 "$attex" client --connect "127.0.0.1:$port" --trust-tpm-ak rsa-ak.pem \
    --tpm-reference-values refs.json --no-verify-cert >out 2>err
rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown AK" err && ! grep -q x out &&
    pass "an AK the client does not trust: rejected, no data" ||
    fail "untrusted AK (exit $rc)" out err

# ---- mutual: the client attests with the same TPM (RSA AK) ---------------------
if start_bg srv2.log "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 \
    --attester tpm --tpm-tcti "$tcti" --require-client --trust-tpm-ak rsa-ak.pem \
    --tpm-reference-values refs.json --echo; then
    echo "mutual" | timeout 30 "$attex" client --connect "127.0.0.1:$port" "${trust[@]}" \
        --attester tpm --tpm-tcti "$tcti" --tpm-ak-type rsa >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] && grep -qx "mutual" out && pass "mutual TPM attestation" ||
        fail "mutual TPM attestation (exit $rc)" out err srv2.log
    echo "mutual" | timeout 30 "$attex" client --connect "127.0.0.1:$port" "${trust[@]}" \
        --attester tpm --tpm-tcti "$tcti" >out 2>err
    rc=$?
    [ "$rc" -ne 0 ] && ! grep -q mutual out && grep -q "unknown AK" srv2.log &&
        pass "server rejects a client AK it does not trust" ||
        fail "server accepted an untrusted client AK (exit $rc)" out err srv2.log
else
    fail "mutual server start" srv2.log
fi

# ---- a PCR extended after the reference values were taken -----------------------
"$attex" tpm extend --tcti "$tcti" --pcr 7 --data "another boot loader" 2>err ||
    fail "tpm extend" err
echo "x" | timeout 30 "$attex" client --connect "127.0.0.1:$port" "${trust[@]}" >out 2>err
rc=$?
[ "$rc" -eq 1 ] && grep -q "PCR sha256:7 differs" err && ! grep -q x out &&
    pass "PCR 7 extended: rejected, naming PCR sha256:7" ||
    fail "extended PCR (exit $rc)" out err

# ---- TPM unreachable: a clear error, quickly --------------------------------------
start=$(date +%s)
timeout 30 "$attex" server --cert cert.pem --key key.pem --listen 127.0.0.1:0 --attester tpm \
    --tpm-tcti "swtpm:host=127.0.0.1,port=1" --tpm-timeout 2000 >out 2>&1
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qi "tpm" out && [ "$took" -le 10 ] &&
    pass "TPM unreachable: server refuses to start with a clear error (${took} s)" ||
    fail "TPM unreachable (exit $rc, ${took} s)" out
"$attex" server --cert cert.pem --key key.pem --tpm-tcti x >out 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--attester tpm" out && pass "--tpm-tcti without --attester tpm: exit 2" ||
    fail "--tpm-tcti without --attester tpm (exit $rc)" out
finish
