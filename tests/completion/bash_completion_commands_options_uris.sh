#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bash completion (docs/tokensign.bash-completion) completes subcommands, every option of
# every command (as tokensign --dump-commands lists them), files for FILE options, and pkcs11:
# token URIs from `token list` of a real SoftHSM2 token, quoted for the shell.
# Usage: bash_completion_commands_options_uris.sh TOKENSIGN COMPLETION-SCRIPT
set -euo pipefail
cli=$1 completion=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tokensign-completion-XXXXXX")
trap 'rm -rf "$work"' EXIT
eval "$("$here/scripts/softhsm-token.sh" "$work/token" comp-test)"
export SOFTHSM2_CONF
unset TOKENSIGN_MODULE TOKENSIGN_PIN

# shellcheck source=/dev/null
source "$completion"
fail=0
complete_line() {
    COMP_LINE=$1
    COMP_POINT=${#COMP_LINE}
    read -r -a COMP_WORDS <<<"$COMP_LINE"
    COMP_WORDS[0]=$cli
    _tokensign
}
expect() {  # expect LINE WORD...: each WORD is among the completions of LINE
    local line=$1 w
    shift
    complete_line "$line"
    # Compared in the shell: `printf | grep -q` under pipefail fails when grep exits on its
    # first match while printf still writes (SIGPIPE), which happened under load.
    local -A have=()
    for w in "${COMPREPLY[@]}"; do have[$w]=1; done
    for w in "$@"; do
        if [[ -z "${have[$w]:-}" ]]; then
            echo "FAIL: '$line' does not complete to '$w' (got: ${COMPREPLY[*]})"
            fail=1
        fi
    done
}
expect_exactly() {  # expect_exactly LINE WORD...
    local line=$1
    shift
    complete_line "$line"
    if [[ "${COMPREPLY[*]}" != "$*" ]]; then
        echo "FAIL: '$line' completes to '${COMPREPLY[*]}', not '$*'"
        fail=1
    fi
}

expect "tokensign " token key cert ca req ceremony
expect_exactly "tokensign c" cert ca ceremony
expect "tokensign ca " init sign revoke gencrl list status updatedb verify
expect_exactly "tokensign ca sign --con" --config
expect_exactly "tokensign --module /x key l" list
expect_exactly "tokensign key generate --label " # a free-form value: nothing to offer

# Every option of every command, straight from the binary.
while IFS=$'\t' read -r kind path name _; do
    [[ $kind == option && $name == --* ]] || continue
    expect "$path --" "$name"
done < <("$cli" --dump-commands)

# Files where a FILE is expected.
touch "$work/host.csr"
expect "tokensign ca sign --config $work/ca.cnf --in $work/ho" "$work/host.csr"

# Token URIs from token list, ';' escaped for the shell; after "pkcs11:" bash replaces only the
# part behind the ':' (COMP_WORDBREAKS).
uri=$("$cli" token list | sed -n 's/^ *uri: *\(.*token=comp-test\)$/\1/p')
[[ -n $uri ]] || { echo "FAIL: token list shows no comp-test token"; exit 1; }
expect "tokensign key list " "${uri//;/\\;}"
expect "tokensign key generate --token " "${uri//;/\\;}"
rest=${uri#pkcs11:}
expect "tokensign token mechanisms pkcs11:" "${rest//;/\\;}"

[[ $fail -eq 0 ]] && echo "completion: all checks passed"
exit $fail
