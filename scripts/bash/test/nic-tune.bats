#!/usr/bin/env bats
# nic-tune.sh on a real veth pair inside a network namespace the test creates and deletes.
# On veth, ethtool -l/-L and -k/-K work; -g/-c/-G/-C answer "Operation not supported".

load helpers
bats_require_minimum_version 1.5.0

setup() {
	need_root
	command -v ethtool >/dev/null || skip "ethtool not installed"
	NS=bats-nictune-$$-$BATS_TEST_NUMBER
	ip netns add "$NS" || skip "cannot create a network namespace"
	ip -n "$NS" link add nt0 numtxqueues 4 numrxqueues 4 type veth peer name nt1 numtxqueues 4 numrxqueues 4
	ip -n "$NS" link set nt0 up
	ip -n "$NS" link set nt1 up
}

teardown() {
	if [[ -n "${NS:-}" ]]; then
		ip netns del "$NS" 2>/dev/null || true
	fi
}

in_ns() { ip netns exec "$NS" "$@"; }

@test "save -> apply -> restore gives back the exact ethtool -k and -l output" {
	k0=$(in_ns ethtool -k nt0)
	l0=$(in_ns ethtool -l nt0)
	run in_ns "$SCRIPTS/nic-tune.sh" save nt0 "$BATS_TEST_TMPDIR/nt0.saved"
	[ "$status" -eq 0 ]
	grep -q '^iface nt0$' "$BATS_TEST_TMPDIR/nt0.saved"
	grep -q '^coalesce unsupported$' "$BATS_TEST_TMPDIR/nt0.saved"

	run in_ns "$SCRIPTS/nic-tune.sh" apply nt0 --gro on --rx-channels 2 --tx-channels 3 --allow-disruptive
	[ "$status" -eq 0 ]
	[ "$(in_ns ethtool -k nt0)" != "$k0" ]
	[ "$(in_ns ethtool -l nt0)" != "$l0" ]
	# A change made by hand that drags dependent features with it.
	in_ns ethtool -K nt0 tx-checksum-ip-generic off >/dev/null

	run in_ns "$SCRIPTS/nic-tune.sh" restore "$BATS_TEST_TMPDIR/nt0.saved"
	[ "$status" -eq 0 ]
	[ "$(in_ns ethtool -k nt0)" = "$k0" ]
	[ "$(in_ns ethtool -l nt0)" = "$l0" ]
}

@test "restore of an unchanged NIC changes nothing and exits 0" {
	in_ns "$SCRIPTS/nic-tune.sh" save nt0 "$BATS_TEST_TMPDIR/s"
	run in_ns "$SCRIPTS/nic-tune.sh" restore "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[[ "$output" == *"features: unchanged"* ]]
}

@test "Operation not supported is reported per setting, the rest is applied, exit 1" {
	run in_ns "$SCRIPTS/nic-tune.sh" apply nt0 --rx-usecs 0 --adaptive off --rx-ring 256 --gro on --allow-disruptive
	[ "$status" -eq 1 ]
	[[ "$output" == *"rx-usecs: not supported"* ]]
	[[ "$output" == *"adaptive: not supported"* ]]
	[[ "$output" == *"rx-ring: not supported"* ]]
	in_ns ethtool -k nt0 | grep -qx 'generic-receive-offload: on'
}

@test "a feature the driver keeps fixed is reported, not claimed" {
	run in_ns "$SCRIPTS/nic-tune.sh" apply nt0 --lro on
	[ "$status" -eq 1 ]
	[[ "$output" == *lro:* ]]
	in_ns ethtool -k nt0 | grep -q '^large-receive-offload: off'
}

@test "channels and rings need --allow-disruptive" {
	l0=$(in_ns ethtool -l nt0)
	for opt in "--rx-channels 2" "--combined 2" "--rx-ring 512"; do
		# shellcheck disable=SC2086 # option and value are two words
		run --separate-stderr in_ns "$SCRIPTS/nic-tune.sh" apply nt0 $opt
		[ "$status" -eq 2 ]
		[[ "$stderr" == *--allow-disruptive* ]]
	done
	[ "$(in_ns ethtool -l nt0)" = "$l0" ]
}

@test "--dry-run changes nothing" {
	k0=$(in_ns ethtool -k nt0)
	l0=$(in_ns ethtool -l nt0)
	run in_ns "$SCRIPTS/nic-tune.sh" apply nt0 --gro on --rx-channels 2 --allow-disruptive --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"would run: ethtool -K nt0 gro on"* ]]
	[ "$(in_ns ethtool -k nt0)" = "$k0" ]
	[ "$(in_ns ethtool -l nt0)" = "$l0" ]
}

@test "bad input: unknown interface, bad values, unknown command" {
	run --separate-stderr in_ns "$SCRIPTS/nic-tune.sh" apply nosuch0 --gro on
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown interface"* ]]
	run --separate-stderr in_ns "$SCRIPTS/nic-tune.sh" apply nt0 --gro maybe
	[ "$status" -eq 2 ]
	run --separate-stderr in_ns "$SCRIPTS/nic-tune.sh" apply nt0 --rx-usecs -5
	[ "$status" -eq 2 ]
	run --separate-stderr in_ns "$SCRIPTS/nic-tune.sh" frobnicate
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run --separate-stderr in_ns "$SCRIPTS/nic-tune.sh" restore "$BATS_TEST_TMPDIR/none"
	[ "$status" -eq 2 ]
}

@test "normal user: apply is one line, exit 2, nothing changes" {
	k0=$(in_ns ethtool -k nt0)
	run --separate-stderr in_ns setpriv --reuid=65534 --regid=65534 --clear-groups "$SCRIPTS/nic-tune.sh" apply nt0 --gro on
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ "$(in_ns ethtool -k nt0)" = "$k0" ]
}
