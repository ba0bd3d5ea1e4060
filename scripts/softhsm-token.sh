#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Creates a throwaway SoftHSM2 token in DIR and prints the environment to use it:
#   eval "$(scripts/softhsm-token.sh DIR LABEL)"
# The user PIN is written to DIR/user.pin (mode 0600) for pin-source; nothing else holds it.
set -euo pipefail
dir=${1:?usage: softhsm-token.sh DIR [LABEL]}
label=${2:-tokensign-demo}
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
umask 077
# A random PIN for a throwaway token: it only ever lives in the pin file.
pin=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
so_pin=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pin" >"$dir/user.pin"
SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label "$label" \
    --pin "$pin" --so-pin "$so_pin" >/dev/null
echo "export SOFTHSM2_CONF='$dir/softhsm2.conf'"
echo "export TS_PIN_FILE='$dir/user.pin'"
