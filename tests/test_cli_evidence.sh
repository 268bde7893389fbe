#!/usr/bin/env bash
# 'attex evidence' and 'attex inspect' on the real TEE and TPM samples in
# tests/vectors: each gives the result its README states, and tampering,
# wrong roots, wrong times and wrong report data are refused.
# Usage: test_cli_evidence.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build="$(cd "$1" && pwd)"
vec="$(cd "$2/tests/vectors" && pwd)"
attex="$build/attex"
tmp="$(mktemp -d)"
pids=()
trap 'rm -rf "$tmp"' EXIT
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
cd "$tmp" || exit 1

# expect NAME WANT_RC PATTERN COMMAND...: exit status and a pattern in the output.
expect() {
    local name="$1" want="$2" pat="$3"
    shift 3
    "$@" >out 2>&1
    local rc=$?
    if [ "$rc" -eq "$want" ] && grep -q -- "$pat" out; then pass "$name"; else fail "$name (exit $rc, want $want; pattern '$pat')" out; fi
}

tdx=(--type tdx --collateral "$vec/tdx/collateral-2023")
expect "TDX v4 sample at 2023-07-01: verified, NoMatchingTcbLevel, not accepted" 1 \
    "NoMatchingTcbLevel" "$attex" evidence verify "$vec/tdx/tdx_prod_quote_SPR_E4.dat" "${tdx[@]}" \
    --at 2023-07-01T01:00:00Z
expect "TDX collateral outside its validity window: refused" 1 "not at the validation time" \
    "$attex" evidence verify "$vec/tdx/tdx_prod_quote_SPR_E4.dat" "${tdx[@]}" --at 2024-09-01T00:00:00Z
cp "$vec/tdx/tdx_prod_quote_SPR_E4.dat" q.dat
printf '\x01' | dd of=q.dat bs=1 seek=200 conv=notrunc 2>/dev/null
expect "TDX quote with a flipped body byte: refused" 1 "signature" \
    "$attex" evidence verify q.dat "${tdx[@]}" --at 2023-07-01T01:00:00Z
expect "TDX v5 sample, 2026 collateral, incomplete allowed: UpToDate, warning" 1 "UpToDate" \
    "$attex" evidence verify "$vec/tdx/quote_v5_sample.dat" --type tdx \
    --collateral "$vec/tdx/collateral-2026" --at 2026-02-15T00:00:00Z --allow-incomplete-collateral
expect "... and accepted with --accept warning" 0 "accepted: warning" \
    "$attex" evidence verify "$vec/tdx/quote_v5_sample.dat" --type tdx \
    --collateral "$vec/tdx/collateral-2026" --at 2026-02-15T00:00:00Z --allow-incomplete-collateral \
    --accept warning
expect "TDX without --collateral: a clear error" 1 "needs --collateral" \
    "$attex" evidence verify "$vec/tdx/tdx_prod_quote_SPR_E4.dat" --type tdx

snp=(--type snp --vcek "$vec/snp/vcek.der")
expect "SNP sample, default policy: debug refused" 1 "POLICY.DEBUG" \
    "$attex" evidence verify "$vec/snp/attestation.bin" "${snp[@]}" --ask "$vec/snp/ask_ark_milan.pem"
expect "SNP sample with its policy: affirming" 0 '"verdict":"affirming"' \
    "$attex" evidence verify "$vec/snp/attestation.bin" "${snp[@]}" --ask "$vec/snp/ask_ark_milan.pem" \
    --policy "$vec/snp/policy_sample.json" --json
expect "SNP sample with the Genoa chain: refused" 1 "Genoa" \
    "$attex" evidence verify "$vec/snp/attestation.bin" "${snp[@]}" --ask "$vec/snp/ask_ark_genoa.pem"
rd="0102030405$(printf '0%.0s' $(seq 118))"
expect "SNP: its own report data passes" 0 "accepted: affirming" \
    "$attex" evidence verify "$vec/snp/attestation.bin" "${snp[@]}" --ask "$vec/snp/ask_ark_milan.pem" \
    --policy "$vec/snp/policy_sample.json" --report-data "$rd"
expect "SNP: other report data is a binding failure" 1 "binding" \
    "$attex" evidence verify "$vec/snp/attestation.bin" "${snp[@]}" --ask "$vec/snp/ask_ark_milan.pem" \
    --policy "$vec/snp/policy_sample.json" --report-data "ff${rd:2}"
head -c 1000 "$vec/snp/attestation.bin" >short.bin
expect "SNP: a truncated report is refused" 1 "NOT accepted" \
    "$attex" evidence verify short.bin "${snp[@]}" --ask "$vec/snp/ask_ark_milan.pem"

cca=(--type cca --platform-key "$vec/cca/cca_platform.pub")
expect "CCA sample without reference values: verified, warning" 1 "accepted: warning" \
    "$attex" evidence verify "$vec/cca/cca_token.cbor" "${cca[@]}"
expect "CCA sample, --accept warning: exit 0" 0 "accepted: warning" \
    "$attex" evidence verify "$vec/cca/cca_token.cbor" "${cca[@]}" --accept warning
expect "CCA with another platform key: refused" 1 "NOT accepted" \
    "$attex" evidence verify "$vec/cca/cca_token.cbor" --type cca --platform-key "$vec/tpm/ak_ecdsa.pem"

tpmrd="$(od -An -v -tx1 "$vec/tpm/report_data.bin" | tr -d ' \n')"
tpm=(--type tpm --reference-values "$vec/tpm/reference_values.json")
expect "TPM evidence with its report data: affirming" 0 "accepted: affirming" \
    "$attex" evidence verify "$vec/tpm/evidence_ecdsa.cbor" "${tpm[@]}" --trust-ak "$vec/tpm/ak_ecdsa.pem" \
    --report-data "$tpmrd"
expect "TPM evidence bound to another connection: refused" 1 "extraData" \
    "$attex" evidence verify "$vec/tpm/evidence_ecdsa_other_binding.cbor" "${tpm[@]}" \
    --trust-ak "$vec/tpm/ak_ecdsa.pem" --report-data "$tpmrd"
expect "TPM evidence from an untrusted AK: refused" 1 "unknown AK" \
    "$attex" evidence verify "$vec/tpm/evidence_ecdsa.cbor" "${tpm[@]}" --trust-ak "$vec/tpm/ak_rsa.pem"

expect "verify without --type: usage error" 2 "--type" \
    "$attex" evidence verify "$vec/cca/cca_token.cbor"
expect "--report-data of the wrong length: usage error" 2 "128 hex" \
    "$attex" evidence verify "$vec/cca/cca_token.cbor" "${cca[@]}" --report-data abcd

# describe and inspect recognise each kind.
expect "describe: TDX quote recognised" 0 '"body_type":"TD10"' \
    "$attex" evidence describe "$vec/tdx/tdx_prod_quote_SPR_E4.dat"
expect "describe: SNP report recognised" 0 '"signing_key":"vcek"' \
    "$attex" evidence describe "$vec/snp/attestation.bin"
expect "inspect: CCA token decoded" 0 '"kind":"cca"' \
    "$attex" inspect --json "$vec/cca/cca_token.cbor"
expect "inspect: TDX quote decoded" 0 "tdx evidence" \
    "$attex" inspect "$vec/tdx/quote_v5_sample.dat"
expect "describe: not evidence" 1 "not a TDX quote" \
    "$attex" evidence describe "$vec/ea/README.md"

echo "test_cli_evidence: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
