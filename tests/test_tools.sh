#!/usr/bin/env bash
# Tests of the installed library and of the attex-sample command, as a user
# would run them. Usage: test_tools.sh BUILD_DIR [CC [CFLAGS]]
# (a sanitizer build passes its compiler and -fsanitize flags, which a program
# linking that library needs too).
set -uo pipefail
build="$1"
cc="${2:-cc}"
cflags="${3:-}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # check NAME COMMAND...: passes if COMMAND succeeds
    local name="$1"
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $name" >&2
        sed 's/^/    /' "$tmp/err" >&2
    fi
}
exits() { # exits CODE COMMAND...: passes if COMMAND exits with CODE
    local want="$1"
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    [ "$?" -eq "$want" ]
}

sample="$build/attex-sample"

# keygen writes a PEM pair that openssl reads, and never overwrites.
check "keygen" "$sample" keygen --key "$tmp/ak.pem" --pub "$tmp/ak.pub.pem"
check "private key is readable by openssl" openssl pkey -in "$tmp/ak.pem" -noout
check "public key is P-256" sh -c "openssl pkey -pubin -in '$tmp/ak.pub.pem' -text -noout | grep -q 'prime256v1\|P-256'"
check "private key mode 0600" sh -c "[ \"\$(stat -c %a '$tmp/ak.pem')\" = 600 ]"
check "keygen refuses to overwrite" exits 1 "$sample" keygen --key "$tmp/ak.pem" --pub "$tmp/other.pem"

# reference-values measures what it is told, as sha256sum does.
printf 'measured content\n' >"$tmp/file.txt"
check "reference-values" sh -c "'$sample' reference-values --exe '$sample' --file '$tmp/file.txt' >'$tmp/refs.json'"
check "reference value of the file" grep -q "$(sha256sum "$tmp/file.txt" | cut -c1-64)" "$tmp/refs.json"
check "reference value of the exe" grep -q "$(sha256sum "$sample" | cut -c1-64)" "$tmp/refs.json"
check "missing file is an error" exits 1 "$sample" reference-values --file "$tmp/absent"
check "usage error" exits 2 "$sample" no-such-command
check "help" exits 0 "$sample" --help

# The installed library and its pkg-config file work for a program outside the tree.
check "install" cmake --install "$build" --prefix "$tmp/prefix"
cat >"$tmp/use.c" <<'C'
#include <attex/attex.h>
#include <stdio.h>
int main(void)
{
    size_t n;
    attex_supported_schemes(&n);
    printf("attex %s, %zu schemes\n", attex_version(), n);
    return n == 11 ? 0 : 1;
}
C
pcdir="$(dirname "$(find "$tmp/prefix" -name attex.pc | head -n1)")"
check "compile with pkg-config" sh -c "PKG_CONFIG_PATH='$pcdir' '$cc' -std=c11 $cflags '$tmp/use.c' \$(PKG_CONFIG_PATH='$pcdir' pkg-config --cflags --libs attex) -Wl,-rpath,'$tmp/prefix/lib' -o '$tmp/use'"
check "run against the shared library" "$tmp/use"

echo "test_tools: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
