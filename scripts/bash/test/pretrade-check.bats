#!/usr/bin/env bats
# pretrade-check.sh is read-only: verdicts on fixture copies, UNKNOWN on what it cannot read.

load helpers
bats_require_minimum_version 1.5.0

verdict() { awk -v n="$1" '$2 == n {print $1}' <<<"$output"; }

@test "tuned-2s passes every check, exit 0" {
	H=$(copy_host tuned-2s)
	run "$SCRIPTS/pretrade-check.sh" --root "$H"
	[ "$status" -eq 0 ]
	for c in isolation nohz_full rcu_nocbs governor thp irqbalance swap clocksource; do
		[ "$(verdict "$c")" = PASS ]
	done
}

@test "untuned-2s fails, exit 1, with reasons" {
	H=$(copy_host untuned-2s)
	run "$SCRIPTS/pretrade-check.sh" --root "$H"
	[ "$status" -eq 1 ]
	[ "$(verdict thp)" = FAIL ]
	[ "$(verdict swap)" = FAIL ]
	[ "$(verdict governor)" = FAIL ]
	[[ "$output" == *"want never"* ]]
}

@test "an empty tree: everything UNKNOWN, never PASS, exit 2" {
	mkdir "$BATS_TEST_TMPDIR/empty"
	run "$SCRIPTS/pretrade-check.sh" --root "$BATS_TEST_TMPDIR/empty"
	[ "$status" -eq 2 ]
	[[ "$output" != *PASS* ]]
	[ "$(grep -c '^UNKNOWN' <<<"$output")" -eq 8 ]
}

@test "nohz_full missing an isolated CPU fails and names it" {
	H=$(copy_host tuned-2s)
	sed -i 's/nohz_full=9-15,25-31/nohz_full=9-15,25-30/' "$H/proc/cmdline"
	run "$SCRIPTS/pretrade-check.sh" --root "$H"
	[ "$status" -eq 1 ]
	[ "$(verdict nohz_full)" = FAIL ]
	[[ "$output" == *"misses isolated CPUs 31"* ]]
}

@test "--isolated with a stride is compared with the command line" {
	H=$(copy_host tuned-2s)
	run "$SCRIPTS/pretrade-check.sh" --root "$H" --isolated 9-15:1/2
	[ "$(verdict nohz_full)" = PASS ]
	run "$SCRIPTS/pretrade-check.sh" --root "$H" --isolated 2-15:1/2
	[ "$(verdict nohz_full)" = FAIL ]
	[[ "$output" == *"misses isolated CPUs 2,4,6,8"* ]]
}

@test "irqbalance running without banning the isolated CPUs fails" {
	H=$(copy_host tuned-2s)
	mkdir -p "$H/proc/4242"
	echo irqbalance >"$H/proc/4242/comm"
	printf 'PATH=/usr/bin\0IRQBALANCE_BANNED_CPULIST=9-15\0' >"$H/proc/4242/environ"
	run "$SCRIPTS/pretrade-check.sh" --root "$H"
	[ "$(verdict irqbalance)" = FAIL ]
	[[ "$output" == *"isolated CPUs 25-31 not banned"* ]]
	printf 'IRQBALANCE_BANNED_CPULIST=9-15,25-31\0' >"$H/proc/4242/environ"
	run "$SCRIPTS/pretrade-check.sh" --root "$H"
	[ "$(verdict irqbalance)" = PASS ]
}

@test "unreadable THP and clocksource are UNKNOWN, exit 2" {
	H=$(copy_host tuned-2s)
	rm "$H/sys/kernel/mm/transparent_hugepage/enabled"
	rm "$H/sys/devices/system/clocksource/clocksource0/current_clocksource"
	run "$SCRIPTS/pretrade-check.sh" --root "$H"
	[ "$status" -eq 2 ]
	[ "$(verdict thp)" = UNKNOWN ]
	[ "$(verdict clocksource)" = UNKNOWN ]
}

@test "swap and a non-tsc clocksource fail" {
	H=$(copy_host tuned-2s)
	printf 'Filename\tType\tSize\tUsed\tPriority\n/dev/vda2 partition 1048572 0 -2\n' >"$H/proc/swaps"
	echo hpet >"$H/sys/devices/system/clocksource/clocksource0/current_clocksource"
	run "$SCRIPTS/pretrade-check.sh" --root "$H"
	[ "$status" -eq 1 ]
	[ "$(verdict swap)" = FAIL ]
	[ "$(verdict clocksource)" = FAIL ]
}

@test "live host: runs read-only, every line judged or UNKNOWN" {
	run "$SCRIPTS/pretrade-check.sh"
	[ "$status" -le 2 ]
	[ "$(grep -cE '^(PASS|FAIL|UNKNOWN) ' <<<"$output")" -eq 8 ]
}

@test "bad --isolated is one line, exit 2" {
	run --separate-stderr "$SCRIPTS/pretrade-check.sh" --isolated 5-1
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}
