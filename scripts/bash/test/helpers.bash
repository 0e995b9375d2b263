# shellcheck shell=bash
# Shared set-up for the bats tests of scripts/bash/. Fixture trees are built in
# $BATS_TEST_TMPDIR; the repository's tests/hosts/* are only ever copied, never written.

SCRIPTS="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
REPO="$(cd "$SCRIPTS/../.." && pwd)"
export SCRIPTS REPO

# Skip unless root (tests that touch the live host or network namespaces).
need_root() {
	[[ $EUID -eq 0 ]] || skip "needs root"
}

# Run a command as an unprivileged user: as root through setpriv, else directly.
as_user() {
	if [[ $EUID -eq 0 ]]; then
		command -v setpriv >/dev/null || skip "setpriv not installed"
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	else
		"$@"
	fi
}

# A copy of a repository fixture host, writable, in the test's temp dir.
copy_host() {
	local name=$1
	cp -a "$REPO/tests/hosts/$name" "$BATS_TEST_TMPDIR/$name"
	printf '%s\n' "$BATS_TEST_TMPDIR/$name"
}

# A small hand-made tree: 4 CPUs online, NIC eth9 with MSI-X IRQs 40-43, NIC ens9 with IRQs
# only named in /proc/interrupts (ens9-TxRx-0..1 on 50-51, plus an unrelated ens90 on 52),
# a virtio NIC veth... (virtio5) with virtio5-input.0/output.0 on 60-61, one NUMA node.
make_tree() {
	local t=$BATS_TEST_TMPDIR/tree n
	mkdir -p "$t/sys/devices/system/cpu" "$t/proc/irq" "$t/sys/class/net" "$t/sys/devices/virtio5"
	echo 0-3 >"$t/sys/devices/system/cpu/online"
	echo 0-3 >"$t/sys/devices/system/cpu/possible"
	mkdir -p "$t/sys/devices/pci0/msi_irqs" "$t/sys/class/net/eth9" "$t/sys/class/net/ens9" "$t/sys/class/net/eth5"
	ln -s ../../../devices/pci0 "$t/sys/class/net/eth9/device"
	ln -s ../../../devices/virtio5 "$t/sys/class/net/eth5/device"
	for n in 40 41 42 43; do
		echo 0 >"$t/sys/devices/pci0/msi_irqs/$n"
	done
	{
		echo "           CPU0       CPU1       CPU2       CPU3"
		for n in 40 41 42 43; do
			echo " $n:          1          0          0          0  PCI-MSIX  $n-edge      eth9-TxRx-$((n - 40))"
		done
		echo " 50:          1          0          0          0  PCI-MSIX  0-edge      ens9-TxRx-0"
		echo " 51:          1          0          0          0  PCI-MSIX  1-edge      ens9-TxRx-1"
		echo " 52:          1          0          0          0  PCI-MSIX  2-edge      ens90-TxRx-0"
		echo " 59:          1          0          0          0  PCI-MSIX  0-edge      virtio5-config"
		echo " 60:          1          0          0          0  PCI-MSIX  1-edge      virtio5-input.0"
		echo " 61:          1          0          0          0  PCI-MSIX  2-edge      virtio5-output.0"
		echo "LOC:        100        100        100        100   Local timer interrupts"
	} >"$t/proc/interrupts"
	for n in 40 41 42 43 50 51 52 59 60 61; do
		mkdir -p "$t/proc/irq/$n"
		echo 0-3 >"$t/proc/irq/$n/smp_affinity_list"
	done
	printf '%s\n' "$t"
}

# Checksum of every smp_affinity_list under a /proc/irq tree.
affinity_sum() {
	local f
	for f in "$1"/irq/*/smp_affinity_list; do
		printf '%s %s\n' "$f" "$(cat "$f" 2>/dev/null || echo unreadable)"
	done | md5sum
}

# The first network interface other than lo, or nothing.
first_iface() {
	local d
	for d in /sys/class/net/*; do
		[[ "${d##*/}" == lo ]] || { printf '%s\n' "${d##*/}"; return 0; }
	done
}
