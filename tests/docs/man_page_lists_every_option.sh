#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tokensign(1) documents every command, option and argument the CLI has: the list comes from the
# binary itself (tokensign --dump-commands), so an option added without its man page entry fails
# here, naming it. Each command's options must be in that command's own `.SS` section (the
# top-level options in `.SH OPTIONS`). The page must also render without groff warnings and
# carry the binary's version.
# Usage: man_page_lists_every_option.sh TOKENSIGN MAN-PAGE
set -euo pipefail
cli=$1 page=$2

dump=$("$cli" --dump-commands)
[[ $(grep -c '^command' <<<"$dump") -ge 15 ]] || { echo "too few commands in --dump-commands" >&2; exit 1; }

# The page as plain text, one "SECTION<TAB>line" per source line: the section is the command
# path of the last `.SS` ("tokensign ca sign"), or "tokensign" under `.SH OPTIONS`.
text=$(sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\e/\\/g' "$page" | awk '
    /^\.SH / { sect = ($2 == "OPTIONS") ? "tokensign" : ""; next }
    /^\.SS / { sub(/^\.SS +/, ""); gsub(/"/, ""); sect = "tokensign " $0; next }
    sect != "" { print sect "\t" $0 }')

missing=0
section_text() { awk -F'\t' -v s="$1" '$1 == s { sub(/^[^\t]*\t/, ""); print }' <<<"$text"; }
while IFS=$'\t' read -r kind path name _; do
    case $kind in
        command)
            # A command with subcommands (tokensign ca) is documented by its leaves.
            if ! grep -q "^command"$'\t'"$path " <<<"$dump" && [[ $path != tokensign ]] &&
                ! grep -q "^$path"$'\t' <<<"$text"; then
                echo "tokensign(1) has no section '.SS ${path#tokensign }'"
                missing=1
            fi ;;
        option | argument)
            [[ $name == -h || $name == --help ]] && continue   # documented once, under OPTIONS
            [[ $path != tokensign ]] && ! grep -q "^command"$'\t'"$path"'$' <<<"$dump" && continue
            if ! section_text "$path" | grep -qwF -- "$name"; then
                echo "tokensign(1) does not mention $kind $name of '$path' in its section"
                missing=1
            fi ;;
    esac
done <<<"$dump"

# The page is of the version the binary says it is.
version=$("$cli" --version | sed -n 's/^tokensign \([^ ]*\)$/\1/p')
if ! grep -q "^\.TH TOKENSIGN 1 [^ ]* \"tokensign $version\"" "$page"; then
    echo "tokensign(1)'s .TH line does not say version $version: $(grep '^\.TH' "$page")"
    missing=1
fi

warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1 || true)
if [[ -n $warnings ]]; then
    echo "groff warns about $page:"; echo "$warnings"; missing=1
fi
[[ $missing -eq 0 ]] && echo "tokensign(1) lists all $(grep -c '^option\|^argument' <<<"$dump") options and arguments"
exit $missing
