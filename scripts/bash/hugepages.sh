#!/usr/bin/env bash
# Size the per-NUMA-node huge page pools and say what the kernel really gave.
#
# Why: a trading process that maps its hot memory (order books, rings, packet buffers) on
# huge pages takes far fewer TLB misses, and pages on the node of the NIC and the trading
# cores avoid remote memory. Documentation/admin-guide/mm/hugetlbpage.rst:
# /sys/devices/system/node/nodeN/hugepages/hugepages-<size>kB/nr_hugepages is the persistent
# pool of one node; a write is a request the kernel meets only as far as it can find free
# contiguous memory, so the value must be read back. 1 GiB pages are only reliable when
# reserved at boot (hugepagesz=1G hugepages=N on the kernel command line).
set -euo pipefail

PROG=$(basename "$0")
ROOT=/
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
	cat <<USAGE
Usage: $PROG --size 2M|1G --pages N [--node N] [--dry-run] [--root DIR]

Set the persistent huge page pool of a NUMA node to N pages of the given size, then read
nr_hugepages back: the kernel may give fewer when memory is fragmented.
Without --node, every online node gets a pool of N pages (N per node).

Options:
  --size 2M|1G   page size (2M = hugepages-2048kB, 1G = hugepages-1048576kB)
  --pages N      pages wanted in the pool (0 frees the pool's unused pages)
  --node N       NUMA node (default: every node in /sys/devices/system/node/online)
  --dry-run      print "nodeN SIZE: old -> new" and change nothing
  --root DIR     read and write under DIR instead of /
  -h, --help     this help

Exit: 0 pools as asked, 1 the kernel gave a different count (or refused),
2 bad input or no root.
USAGE
}

size="" pages="" node="" dry_run=0
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--dry-run) dry_run=1 ;;
	--size | --pages | --node | --root)
		(($# >= 2)) || die 2 "$1 needs a value"
		case $1 in
		--size) size=$2 ;;
		--pages) pages=$2 ;;
		--node) node=$2 ;;
		--root) ROOT=$2 ;;
		esac
		shift
		;;
	*) die 2 "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
check_root_dir

case ${size^^} in
2M | 2048K | 2048KB) kb=2048 size=2M ;;
1G | 1048576K | 1048576KB) kb=1048576 size=1G ;;
"") die 2 "--size is required (2M or 1G)" ;;
*) die 2 "bad --size '$size' (2M or 1G)" ;;
esac
[[ -n "$pages" ]] || die 2 "--pages is required"
[[ "$pages" =~ ^[0-9]+$ ]] || die 2 "bad --pages '$pages' (a whole number)"
pages=$((10#$pages))

nodedir=$(rpath /sys/devices/system/node)
if [[ -n "$node" ]]; then
	[[ "$node" =~ ^[0-9]+$ ]] || die 2 "bad --node '$node' (a node number)"
	nodes=("$((10#$node))")
else
	online=$(cat "$nodedir/online" 2>/dev/null) || die 2 "cannot read $nodedir/online; pass --node"
	nodes_text=$(parse_cpulist "$online" 2>&1) || die 2 "bad $nodedir/online '$online': $nodes_text"
	mapfile -t nodes <<<"$nodes_text"
fi
for n in "${nodes[@]}"; do
	[[ -d "$nodedir/node$n" ]] || die 2 "unknown NUMA node $n (no $nodedir/node$n)"
	[[ -e "$nodedir/node$n/hugepages/hugepages-${kb}kB/nr_hugepages" ]] ||
		die 2 "node$n has no $size pool (no hugepages-${kb}kB: the CPU or kernel lacks this page size)"
done

((dry_run)) || need_root "nr_hugepages"
((dry_run)) && echo "# dry run: nothing is written"

failed=0
for n in "${nodes[@]}"; do
	file=$nodedir/node$n/hugepages/hugepages-${kb}kB/nr_hugepages
	old=$(cat "$file" 2>/dev/null) || old="?"
	if ((dry_run)); then
		echo "node$n $size: $old -> $pages"
		continue
	fi
	if ! err=$({ printf '%s\n' "$pages" >"$file"; } 2>&1); then
		echo "node$n $size: $old -> $pages FAILED: ${err##*: }"
		failed=$((failed + 1))
		continue
	fi
	# The write succeeds even when the allocator came up short: read the pool back.
	got=$(cat "$file" 2>/dev/null) || got="?"
	if [[ "$got" == "$pages" ]]; then
		echo "node$n $size: $old -> $got"
	elif [[ "$got" =~ ^[0-9]+$ ]] && ((got < pages)); then
		echo "node$n $size: $old -> $got SHORT: asked for $pages, the kernel gave $got" \
			"(memory too fragmented or too small; reserve at boot with hugepagesz= hugepages=," \
			"or write 1 to /proc/sys/vm/compact_memory and retry)"
		failed=$((failed + 1))
	else
		echo "node$n $size: $old -> $got MISMATCH: asked for $pages, the pool reads $got" \
			"(pages in use cannot be freed)"
		failed=$((failed + 1))
	fi
done
if ((failed)); then
	warn "$failed of ${#nodes[@]} pools not as asked"
	exit 1
fi
