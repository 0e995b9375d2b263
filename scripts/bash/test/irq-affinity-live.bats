#!/usr/bin/env bats
# irq-affinity.sh writing for real on the live host (root only): a NIC's queue IRQs moved and
# every affinity put back, and a kernel-managed IRQ's EPERM reported for that IRQ alone.

load helpers
bats_require_minimum_version 1.5.0

# Every "dir value" pair under /proc/irq, to compare and to put back.
affinities() {
	local f
	for f in /proc/irq/*/smp_affinity_list; do
		printf '%s %s\n' "${f%/smp_affinity_list}" "$(cat "$f" 2>/dev/null || echo unreadable)"
	done
}

restore_affinities() {
	local dir value
	while read -r dir value; do
		[[ "$value" == unreadable ]] || { printf '%s\n' "$value" >"$dir/smp_affinity_list"; } 2>/dev/null || true
	done <<<"$1"
}

@test "live host: a real write moves the NIC's queue IRQs, and all are put back" {
	need_root
	iface=""
	for d in /sys/class/net/*; do
		if "$SCRIPTS/irq-affinity.sh" "${d##*/}" 0 --dry-run >/dev/null 2>&1; then iface=${d##*/}; break; fi
	done
	[[ -n "$iface" ]] || skip "no interface with IRQs here"
	saved=$(affinities)
	last=$(($(nproc --all) - 1))
	run "$SCRIPTS/irq-affinity.sh" "$iface" "$last"
	rc=$status out=$output
	moved=$(grep -c -- "-> $last$" <<<"$out" || true)
	landed=0
	while read -r n; do
		[[ "$(cat "/proc/irq/$n/smp_affinity_list")" == "$last" ]] && landed=$((landed + 1))
	done < <(sed -n 's/^IRQ \([0-9]*\): .* -> [0-9]*$/\1/p' <<<"$out")
	# Put everything back before judging, so a failed assertion leaves the host as it was.
	restore_affinities "$saved"
	[ "$(affinities)" = "$saved" ]
	echo "$out"
	[ "$rc" -eq 0 ]
	[ "$moved" -ge 1 ]
	[ "$landed" -eq "$moved" ]
}

@test "live host: a kernel-managed IRQ refuses with EPERM, reported for that IRQ only" {
	need_root
	managed=""
	for d in /proc/irq/[0-9]*; do
		v=$(cat "$d/smp_affinity_list" 2>/dev/null) || continue
		# Writing the current value back changes nothing; only a managed IRQ refuses it.
		if ! err=$({ printf '%s\n' "$v" >"$d/smp_affinity_list"; } 2>&1) && [[ "$err" == *"not permitted"* ]]; then
			managed=${d##*/}
			break
		fi
	done
	[[ -n "$managed" ]] || skip "no kernel-managed IRQ on this host"
	before=$(cat "/proc/irq/$managed/smp_affinity_list")
	t=$(make_tree)
	# IRQ 41 of the fixture NIC is, underneath, the live managed IRQ: the kernel answers.
	rm "$t/proc/irq/41/smp_affinity_list"
	ln -s "/proc/irq/$managed/smp_affinity_list" "$t/proc/irq/41/smp_affinity_list"
	run -1 --separate-stderr "$SCRIPTS/irq-affinity.sh" eth9 0 --root "$t"
	[[ "$output" == *"IRQ 41: "*"FAILED: Operation not permitted"* ]]
	[[ "$output" == *"IRQ 40: 0-3 -> 0"* ]]
	[ "$(cat "$t/proc/irq/42/smp_affinity_list")" = 0 ]
	[[ "$stderr" == *"1 of 4 IRQs refused"* ]]
	[ "$(cat "/proc/irq/$managed/smp_affinity_list")" = "$before" ]
}
