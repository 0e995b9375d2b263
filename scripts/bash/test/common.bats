#!/usr/bin/env bats
# What every script shares: shebang, strict mode, --help, one-line errors.

load helpers
bats_require_minimum_version 1.5.0

SCRIPT_NAMES=(irq-affinity.sh cpu-governor.sh hugepages.sh nic-tune.sh pretrade-check.sh)

@test "every script starts with env bash and sets strict mode" {
	for s in "${SCRIPT_NAMES[@]}"; do
		[ "$(head -n 1 "$SCRIPTS/$s")" = "#!/usr/bin/env bash" ]
		grep -qx 'set -euo pipefail' "$SCRIPTS/$s"
		[ -x "$SCRIPTS/$s" ]
	done
}

@test "-h and --help print usage and exit 0" {
	for s in "${SCRIPT_NAMES[@]}"; do
		for h in -h --help; do
			run "$SCRIPTS/$s" "$h"
			[ "$status" -eq 0 ]
			[[ "$output" == Usage:* ]]
		done
	done
}

@test "an unknown option is one line on stderr and exit 2" {
	for s in "${SCRIPT_NAMES[@]}"; do
		run --separate-stderr "$SCRIPTS/$s" --no-such-option
		[ "$status" -eq 2 ]
		[ "${#stderr_lines[@]}" -eq 1 ]
	done
}
