# shellcheck shell=bash
# Helpers shared by the scripts in scripts/bash/. Sourced, never run.
#
# Every script sets PROG (its name, for messages) and ROOT (the tree it reads and
# writes: "/" for the live host, or a fixture directory passed with --root).

# One clear line on stderr, then exit with the given code.
# Usage: die CODE MESSAGE...
die() {
	local code=$1
	shift
	printf '%s: %s\n' "${PROG:-script}" "$*" >&2
	exit "$code"
}

# A warning line on stderr; the script goes on.
warn() {
	printf '%s: %s\n' "${PROG:-script}" "$*" >&2
}

# Path of FILE inside ROOT ("/proc/cmdline" -> "$ROOT/proc/cmdline").
rpath() {
	local root=${ROOT:-/}
	root=${root%/}
	printf '%s%s' "$root" "$1"
}

# Writing to the live host needs root: the kernel checks CAP_SYS_ADMIN or file modes on
# /proc and /sys, and a half-applied change is worse than none. A fixture tree (--root)
# only needs to be writable, so tests can run as a normal user.
# Usage: need_root WHAT
need_root() {
	if [[ "${ROOT:-/}" == "/" && "${EUID}" -ne 0 ]]; then
		die 2 "writing $1 needs root (run as root, or use --dry-run)"
	fi
}

# --root DIR must be a directory; normalise it.
check_root_dir() {
	[[ -d "$ROOT" ]] || die 2 "--root $ROOT: not a directory"
}

# Parse a CPU list in the kernel's syntax and print the CPUs, one per line, ascending,
# without duplicates. Documentation/admin-guide/kernel-parameters.rst, "CPU lists":
#   "0,3,5"        single CPUs
#   "2-7"          a range
#   "0-15:2/4"     a range with a stride: use the first 2 CPUs of every group of 4
#                  (0,1,4,5,8,9,12,13)
#   "N"            the last CPU (nr_cpu_ids - 1), also usable inside ranges ("4-N")
#   "all"          every CPU (0-N)
# The last CPU is taken from ROOT's /sys/devices/system/cpu/possible (kernel-visible
# nr_cpu_ids); if it cannot be read, "N" and "all" are refused rather than guessed.
# Returns 1 with a reason on stderr when the list is malformed.
parse_cpulist() {
	local list=$1 item lo hi used group cpu last="" possible
	local -A seen=()
	if [[ -z "$list" ]]; then
		echo "empty CPU list" >&2
		return 1
	fi
	if [[ "$list" == *N* || "$list" == *all* ]]; then
		possible=$(cat "$(rpath /sys/devices/system/cpu/possible)" 2>/dev/null) || possible=""
		if [[ "$possible" =~ ([0-9]+)$ ]]; then
			last=${BASH_REMATCH[1]}
		else
			echo "cannot resolve 'N' or 'all': /sys/devices/system/cpu/possible unreadable" >&2
			return 1
		fi
		list=${list//all/0-N}
		list=${list//N/$last}
	fi
	local IFS=,
	for item in $list; do
		if [[ "$item" =~ ^([0-9]+)$ ]]; then
			lo=${BASH_REMATCH[1]} hi=$lo used=1 group=1
		elif [[ "$item" =~ ^([0-9]+)-([0-9]+)$ ]]; then
			lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]} used=1 group=1
		elif [[ "$item" =~ ^([0-9]+)-([0-9]+):([0-9]+)/([0-9]+)$ ]]; then
			lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]} used=${BASH_REMATCH[3]} group=${BASH_REMATCH[4]}
		else
			echo "bad CPU list item '$item'" >&2
			return 1
		fi
		# 10# so "08" is decimal, not an invalid octal number.
		lo=$((10#$lo)) hi=$((10#$hi)) used=$((10#$used)) group=$((10#$group))
		if ((lo > hi)); then
			echo "bad CPU range '$item': start after end" >&2
			return 1
		fi
		if ((group == 0 || used == 0 || used > group)); then
			echo "bad CPU stride '$item': need 0 < used <= group" >&2
			return 1
		fi
		if ((hi > 8191)); then
			echo "bad CPU '$item': above the kernel's NR_CPUS limit (8192)" >&2
			return 1
		fi
		for ((cpu = lo; cpu <= hi; cpu++)); do
			if ((((cpu - lo) % group) < used)); then
				seen[$cpu]=1
			fi
		done
	done
	if ((${#seen[@]} == 0)); then
		echo "CPU list '$1' names no CPU" >&2
		return 1
	fi
	printf '%s\n' "${!seen[@]}" | sort -n
}

# Print a sorted list of CPUs (one per line on stdin) back in compact kernel syntax.
format_cpulist() {
	local cpu start="" prev="" out=""
	while read -r cpu; do
		[[ -n "$cpu" ]] || continue
		if [[ -n "$start" ]] && ((cpu == prev + 1)); then
			prev=$cpu
			continue
		fi
		[[ -z "$start" ]] || out+="${out:+,}$(_range "$start" "$prev")"
		start=$cpu prev=$cpu
	done
	[[ -z "$start" ]] || out+="${out:+,}$(_range "$start" "$prev")"
	printf '%s\n' "$out"
}

_range() {
	if [[ "$1" == "$2" ]]; then
		printf '%s' "$1"
	else
		printf '%s-%s' "$1" "$2"
	fi
}
