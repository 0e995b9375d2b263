#!/usr/bin/env bash
# Spread a network interface's IRQs round-robin over a CPU list.
#
# Why: each queue of a multi-queue NIC raises its own MSI-X interrupt; the CPU that takes it
# runs the hard IRQ and (usually) the NAPI poll. Pinning those IRQs keeps them off the CPUs
# a trading thread owns, and spreads them so one CPU does not take them all.
# Documentation/core-api/irq/irq-affinity.rst: /proc/irq/N/smp_affinity_list holds the CPUs
# allowed to take IRQ N, in cpulist syntax; writing it moves the IRQ.
# Kernel-managed IRQs (drivers that let the kernel spread their vectors) refuse the write
# with EPERM, and a CPU that cannot take the vector gives EINVAL or EIO, so failures are
# reported per IRQ and the rest carries on.
set -euo pipefail

PROG=$(basename "$0")
ROOT=/
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
	cat <<USAGE
Usage: $PROG IFACE CPULIST [--dry-run] [--root DIR]

Spread the IRQs of network interface IFACE round-robin over CPULIST by writing
/proc/irq/N/smp_affinity_list.

IRQs are found, in this order:
  1. /sys/class/net/IFACE/device/msi_irqs/*          (PCI MSI/MSI-X vectors)
  2. virtio NICs (device -> virtioN): /proc/interrupts names virtioN-input.Q / virtioN-output.Q
  3. /proc/interrupts names equal to IFACE or with IFACE as a dash-separated part
     (e.g. IFACE-TxRx-3, ice-IFACE-TxRx-0)

CPULIST uses the kernel's syntax: 0,2,4  2-7  0-15:2/4  4-N  all
(Documentation/admin-guide/kernel-parameters.rst, "CPU lists").

Options:
  --dry-run    print "IRQ N: old -> new" for each IRQ and change nothing
  --root DIR   read and write under DIR instead of / (a fixture or snapshot tree)
  -h, --help   this help

Exit: 0 all written, 1 some IRQ refused the write (each is reported), 2 bad input or no root.
USAGE
}

dry_run=0
args=()
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--dry-run) dry_run=1 ;;
	--root)
		(($# >= 2)) || die 2 "--root needs a directory"
		ROOT=$2
		shift
		;;
	--root=*) ROOT=${1#--root=} ;;
	-*) die 2 "unknown option '$1' (see --help)" ;;
	*) args+=("$1") ;;
	esac
	shift
done
((${#args[@]} == 2)) || die 2 "need IFACE and CPULIST (see --help)"
iface=${args[0]}
cpulist=${args[1]}
check_root_dir

netdir=$(rpath "/sys/class/net/$iface")
[[ "$iface" != */* && -e "$netdir" ]] || die 2 "unknown interface '$iface' (no $netdir)"

cpus_text=$(parse_cpulist "$cpulist" 2>&1) || die 2 "bad CPU list '$cpulist': $cpus_text"
mapfile -t cpus <<<"$cpus_text"

# Writing an offline CPU fails with EINVAL for every IRQ; refuse up front instead.
online_file=$(rpath /sys/devices/system/cpu/online)
if online_text=$(cat "$online_file" 2>/dev/null) && [[ -n "$online_text" ]]; then
	online_cpus=$(parse_cpulist "$online_text" 2>/dev/null) || online_cpus=""
	if [[ -n "$online_cpus" ]]; then
		for cpu in "${cpus[@]}"; do
			grep -qx "$cpu" <<<"$online_cpus" || die 2 "CPU $cpu is not online (online: $online_text)"
		done
	fi
fi

# Does an IRQ name in /proc/interrupts belong to this interface?
name_matches() {
	local name=$1
	[[ "$name" == "$iface" || "$name" == "$iface"-* || "$name" == *-"$iface"-* || "$name" == *-"$iface" ]]
}

irqs=()
source_desc=""
msidir=$netdir/device/msi_irqs
if [[ -d "$msidir" ]]; then
	for f in "$msidir"/*; do
		n=${f##*/}
		[[ "$n" =~ ^[0-9]+$ ]] && irqs+=("$n")
	done
	source_desc=$msidir
fi
if ((${#irqs[@]} == 0)); then
	interrupts=$(rpath /proc/interrupts)
	[[ -r "$interrupts" ]] || die 2 "cannot read $interrupts"
	dev=""
	if [[ -e "$netdir/device" ]]; then
		dev=$(readlink "$netdir/device" || true)
		dev=${dev##*/}
	fi
	while read -r first rest; do
		[[ "$first" =~ ^([0-9]+):$ ]] || continue
		n=${BASH_REMATCH[1]}
		name=${rest##* }
		if [[ "$dev" =~ ^virtio[0-9]+$ ]]; then
			# virtio-net names its queue vectors virtioN-input.Q and virtioN-output.Q
			# (drivers/net/virtio_net.c); virtioN-config is the config-change IRQ.
			[[ "$name" =~ ^${dev}-(input|output)\.[0-9]+$ ]] && irqs+=("$n")
		elif name_matches "$name"; then
			irqs+=("$n")
		fi
	done <"$interrupts"
	source_desc="$interrupts"
fi
((${#irqs[@]})) || die 2 "no IRQs found for $iface (looked in $msidir and $(rpath /proc/interrupts))"
mapfile -t irqs < <(printf '%s\n' "${irqs[@]}" | sort -n -u)

((dry_run)) || need_root "/proc/irq/*/smp_affinity_list"

echo "# $iface: ${#irqs[@]} IRQs from $source_desc over CPUs $(printf '%s\n' "${cpus[@]}" | format_cpulist)"
((dry_run)) && echo "# dry run: nothing is written"

failed=0
i=0
for n in "${irqs[@]}"; do
	new=${cpus[i % ${#cpus[@]}]}
	i=$((i + 1))
	file=$(rpath "/proc/irq/$n/smp_affinity_list")
	old=$(cat "$file" 2>/dev/null) || old="?"
	if ((dry_run)); then
		echo "IRQ $n: $old -> $new"
		continue
	fi
	# The builtin printf reports a failed write(2) (EPERM, EIO, EINVAL) on stderr.
	if err=$({ printf '%s\n' "$new" >"$file"; } 2>&1); then
		echo "IRQ $n: $old -> $new"
	else
		failed=$((failed + 1))
		echo "IRQ $n: $old -> $new FAILED: ${err##*: }"
	fi
done
if ((failed)); then
	warn "$failed of ${#irqs[@]} IRQs refused the new affinity"
	exit 1
fi
