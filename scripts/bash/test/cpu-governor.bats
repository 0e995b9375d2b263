#!/usr/bin/env bats
# cpu-governor.sh against a copy of the tuned-2s fixture (intel_pstate, 32 policies) and
# the live host (no cpufreq driver on the project's VMs).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	H=$(copy_host tuned-2s)
	P=$H/sys/devices/system/cpu/cpufreq
}

@test "read-only listing shows driver, governor and EPP" {
	run "$SCRIPTS/cpu-governor.sh" --root "$H" --cpus 0-1
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "cpu0: driver intel_pstate governor performance epp performance" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "sets governor then EPP on the CPUs given, leaves the others" {
	run "$SCRIPTS/cpu-governor.sh" --root "$H" --cpus 2-3 --governor powersave --epp balance_power
	[ "$status" -eq 0 ]
	[ "$(cat "$P/policy2/scaling_governor")" = powersave ]
	[ "$(cat "$P/policy3/energy_performance_preference")" = balance_power ]
	[ "$(cat "$P/policy4/scaling_governor")" = performance ]
	[[ "$output" == *"cpu2: governor performance -> powersave"* ]]
}

@test "numeric EPP 0-255 is accepted, 256 is not" {
	run "$SCRIPTS/cpu-governor.sh" --root "$H" --cpus 5 --epp 128
	[ "$status" -eq 0 ]
	[ "$(cat "$P/policy5/energy_performance_preference")" = 128 ]
	run "$SCRIPTS/cpu-governor.sh" --root "$H" --cpus 5 --epp 256
	[ "$status" -eq 2 ]
}

@test "--dry-run changes nothing" {
	before=$(cat "$P"/policy*/scaling_governor | md5sum)
	run "$SCRIPTS/cpu-governor.sh" --root "$H" --governor powersave --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"cpu31: governor performance -> powersave"* ]]
	[ "$(cat "$P"/policy*/scaling_governor | md5sum)" = "$before" ]
}

@test "an unavailable governor is refused before any write" {
	before=$(cat "$P"/policy*/scaling_governor | md5sum)
	run --separate-stderr "$SCRIPTS/cpu-governor.sh" --root "$H" --governor ondemand
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ "$(cat "$P"/policy*/scaling_governor | md5sum)" = "$before" ]
}

@test "a refused write is reported per CPU, exit 1" {
	rm "$P/policy1/scaling_governor"
	mkdir "$P/policy1/scaling_governor"
	run "$SCRIPTS/cpu-governor.sh" --root "$H" --cpus 0-2 --governor powersave
	[ "$status" -eq 1 ]
	[[ "$output" == *"cpu1: governor ? -> powersave FAILED"* ]]
	[ "$(cat "$P/policy2/scaling_governor")" = powersave ]
}

@test "bad CPU list is one line, exit 2" {
	run --separate-stderr "$SCRIPTS/cpu-governor.sh" --root "$H" --cpus 4-2
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

@test "no cpufreq driver: clear message, exit 3" {
	T=$BATS_TEST_TMPDIR/nodrv
	mkdir -p "$T/sys/devices/system/cpu/cpufreq" "$T/sys/devices/system/cpu/cpu0"
	echo 0-1 >"$T/sys/devices/system/cpu/online"
	run --separate-stderr "$SCRIPTS/cpu-governor.sh" --root "$T" --governor performance
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"no cpufreq driver"* ]]
}

@test "live host without a cpufreq driver: exit 3" {
	if compgen -G "/sys/devices/system/cpu/cpufreq/policy*" >/dev/null; then
		skip "this host has a cpufreq driver"
	fi
	run --separate-stderr "$SCRIPTS/cpu-governor.sh"
	[ "$status" -eq 3 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}
