#!/usr/bin/env bats
# The kernel's CPU list syntax (Documentation/admin-guide/kernel-parameters.rst, "CPU lists").

load helpers

setup() {
	PROG=test
	ROOT=$BATS_TEST_TMPDIR
	mkdir -p "$ROOT/sys/devices/system/cpu"
	echo 0-7 >"$ROOT/sys/devices/system/cpu/possible"
	# shellcheck source=../lib/common.sh
	source "$SCRIPTS/lib/common.sh"
}

list() { parse_cpulist "$1" | paste -sd' ' -; }

@test "single CPUs and ranges, sorted and deduplicated" {
	[ "$(list 3,1,2-4)" = "1 2 3 4" ]
}

@test "stride: first 2 of every group of 4" {
	[ "$(list 0-15:2/4)" = "0 1 4 5 8 9 12 13" ]
}

@test "stride 1/2 gives every other CPU" {
	[ "$(list 1-7:1/2)" = "1 3 5 7" ]
}

@test "N is the last possible CPU, all is every CPU" {
	[ "$(list 5-N)" = "5 6 7" ]
	[ "$(list all)" = "0 1 2 3 4 5 6 7" ]
}

@test "leading zeros are decimal" {
	[ "$(list 08-09)" = "8 9" ]
}

@test "malformed lists are refused with a reason" {
	for bad in "" "a" "3-1" "1-" "0-7:3/2" "0-7:0/2" "0-7:1/0" ",,x" "1.5"; do
		run parse_cpulist "$bad"
		[ "$status" -ne 0 ]
		[ -n "$output" ]
	done
}

@test "format_cpulist compacts ranges" {
	[ "$(printf '0\n1\n2\n5\n7\n8\n' | format_cpulist)" = "0-2,5,7-8" ]
	[ "$(echo 4 | format_cpulist)" = "4" ]
}
