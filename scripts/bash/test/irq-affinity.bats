#!/usr/bin/env bats
# irq-affinity.sh against a hand-made tree, the tuned-2s fixture host, and (dry run) the
# live host.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	T=$(make_tree)
}

@test "MSI-X vectors are spread round-robin over the CPU list" {
	run "$SCRIPTS/irq-affinity.sh" eth9 1-2 --root "$T"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/proc/irq/40/smp_affinity_list")" = 1 ]
	[ "$(cat "$T/proc/irq/41/smp_affinity_list")" = 2 ]
	[ "$(cat "$T/proc/irq/42/smp_affinity_list")" = 1 ]
	[ "$(cat "$T/proc/irq/43/smp_affinity_list")" = 2 ]
	[[ "$output" == *"IRQ 40: 0-3 -> 1"* ]]
}

@test "without msi_irqs, /proc/interrupts names are used and ens90 is not ens9" {
	run "$SCRIPTS/irq-affinity.sh" ens9 3 --root "$T"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/proc/irq/50/smp_affinity_list")" = 3 ]
	[ "$(cat "$T/proc/irq/51/smp_affinity_list")" = 3 ]
	[ "$(cat "$T/proc/irq/52/smp_affinity_list")" = 0-3 ]
}

@test "virtio: virtioN-input/output queues, not virtioN-config" {
	run "$SCRIPTS/irq-affinity.sh" eth5 0-1 --root "$T"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/proc/irq/60/smp_affinity_list")" = 0 ]
	[ "$(cat "$T/proc/irq/61/smp_affinity_list")" = 1 ]
	[ "$(cat "$T/proc/irq/59/smp_affinity_list")" = 0-3 ]
}

@test "strided CPU list" {
	run "$SCRIPTS/irq-affinity.sh" eth9 0-3:1/2 --root "$T"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/proc/irq/41/smp_affinity_list")" = 2 ]
	[ "$(cat "$T/proc/irq/42/smp_affinity_list")" = 0 ]
}

@test "--dry-run prints old -> new and writes nothing" {
	before=$(affinity_sum "$T/proc")
	run "$SCRIPTS/irq-affinity.sh" eth9 2 --dry-run --root "$T"
	[ "$status" -eq 0 ]
	[[ "$output" == *"IRQ 43: 0-3 -> 2"* ]]
	[ "$(affinity_sum "$T/proc")" = "$before" ]
}

@test "a refused write is reported for that IRQ, the others are written, exit 1" {
	# A directory in place of the file makes the write fail, as EPERM does on a managed IRQ.
	rm "$T/proc/irq/41/smp_affinity_list"
	mkdir "$T/proc/irq/41/smp_affinity_list"
	run "$SCRIPTS/irq-affinity.sh" eth9 1 --root "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"IRQ 41: ? -> 1 FAILED"* ]]
	[ "$(cat "$T/proc/irq/40/smp_affinity_list")" = 1 ]
	[ "$(cat "$T/proc/irq/42/smp_affinity_list")" = 1 ]
	[ "$(cat "$T/proc/irq/43/smp_affinity_list")" = 1 ]
}

@test "tuned-2s fixture copy: ens1f0's MSI-X vectors move" {
	H=$(copy_host tuned-2s)
	run "$SCRIPTS/irq-affinity.sh" ens1f0 0-8 --root "$H"
	[ "$status" -eq 0 ]
	[ "$(cat "$H/proc/irq/125/smp_affinity_list")" = 1 ]
}

@test "bad input: unknown interface, bad CPU list, offline CPU, missing args" {
	run --separate-stderr "$SCRIPTS/irq-affinity.sh" nosuch0 0 --root "$T"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown interface"* ]]
	for bad in 3-1 x 0-3:2/1 ""; do
		run --separate-stderr "$SCRIPTS/irq-affinity.sh" eth9 "$bad" --root "$T"
		[ "$status" -eq 2 ]
		[ "${#stderr_lines[@]}" -eq 1 ]
	done
	run --separate-stderr "$SCRIPTS/irq-affinity.sh" eth9 7 --root "$T"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not online"* ]]
	run "$SCRIPTS/irq-affinity.sh" eth9
	[ "$status" -eq 2 ]
}

@test "live host: --dry-run changes no smp_affinity_list" {
	iface=$(first_iface)
	[ -n "$iface" ] || skip "no network interface"
	before=$(affinity_sum /proc)
	run "$SCRIPTS/irq-affinity.sh" "$iface" 0 --dry-run
	[ "$(affinity_sum /proc)" = "$before" ]
	# 2: this interface has no IRQ of its own (e.g. a purely virtual one).
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
}

@test "live host, normal user: writing is one line and exit 2" {
	iface=$(first_iface)
	[ -n "$iface" ] || skip "no network interface"
	before=$(affinity_sum /proc)
	run --separate-stderr as_user "$SCRIPTS/irq-affinity.sh" "$iface" 0
	[ "$(affinity_sum /proc)" = "$before" ]
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}
