#!/bin/sh
# check-systemd-unit.sh SYSTEMD-ANALYZE UNIT MAX-EXPOSURE
# The unit must pass `systemd-analyze verify`; where systemd-analyze can
# review a unit file offline (systemd >= 250), its security exposure must
# not be above MAX-EXPOSURE (0.0 = locked down, 10.0 = unprotected).
set -eu
analyze=$1
unit=$2
max=$3

SYSTEMD_LOG_LEVEL=err "$analyze" verify --man=no "$unit"

if ! "$analyze" security --help 2>/dev/null | grep -q -- '--offline'; then
  echo "# systemd-analyze cannot review a unit offline: exposure not checked"
  exit 0
fi
# --threshold counts in tenths: 2.0 -> 20.
threshold=$(echo "$max" | awk '{ printf "%d", $1 * 10 + 0.5 }')
out=$(SYSTEMD_LOG_LEVEL=err "$analyze" security --offline=yes --no-pager \
        --threshold="$threshold" "$unit" 2>&1) && rc=0 || rc=$?
echo "$out" | tail -n 3
if [ "$rc" -ne 0 ]; then
  echo "$out"
  echo "FAIL: exposure of $unit is above $max (or the review failed, status $rc)" >&2
  exit 1
fi
