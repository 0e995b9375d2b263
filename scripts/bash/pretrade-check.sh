#!/usr/bin/env bash
# Read-only readiness check before a trading session: is the box still tuned?
#
# Each line is PASS, FAIL or UNKNOWN with the reason. UNKNOWN means the value could not be
# read (missing file, no permission, no driver): it is never counted as a pass.
# Sources for what "tuned" means:
#   Documentation/admin-guide/kernel-parameters.rst  isolcpus=, nohz_full=, rcu_nocbs=
#   Documentation/timers/no_hz.rst                   nohz_full CPUs need no tick
#   Documentation/admin-guide/pm/cpufreq.rst         scaling_governor
#   Documentation/admin-guide/mm/transhuge.rst       THP "never" avoids khugepaged and
#                                                    compaction stalls
#   irqbalance(1)                                    IRQBALANCE_BANNED_CPULIST / _CPUS
#   swapon(8), /proc/swaps                           no swap: no major faults on the hot path
#   Documentation/virt/kvm/x86/timekeeping.rst       clocksource tsc reads without a VM exit
set -euo pipefail

PROG=$(basename "$0")
ROOT=/
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
	cat <<USAGE
Usage: $PROG [--root DIR] [--isolated LIST]

Read-only. Checks: CPU isolation, nohz_full and rcu_nocbs on /proc/cmdline covering the
isolated CPUs, cpufreq governor "performance", transparent huge pages "never", irqbalance
not running or banned from the isolated CPUs, no swap, clocksource tsc.

Options:
  --isolated LIST  the CPUs that should be isolated (default: /sys/devices/system/cpu/isolated)
  --root DIR       read under DIR instead of / (a fixture or snapshot tree)
  -h, --help       this help

Exit: 0 every check passed, 1 at least one FAIL, 2 no FAIL but something was UNKNOWN
(or nothing could be judged at all).
USAGE
}

isolated_arg=""
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--root | --isolated)
		(($# >= 2)) || die 2 "$1 needs a value"
		if [[ $1 == --root ]]; then ROOT=$2; else isolated_arg=$2; fi
		shift
		;;
	*) die 2 "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
check_root_dir

npass=0 nfail=0 nunknown=0
report() {
	local verdict=$1 name=$2
	shift 2
	printf '%-8s %-12s %s\n' "$verdict" "$name" "$*"
	case $verdict in
	PASS) npass=$((npass + 1)) ;;
	FAIL) nfail=$((nfail + 1)) ;;
	*) nunknown=$((nunknown + 1)) ;;
	esac
}

# CPUs of LIST (kernel syntax) as " 1 2 3 " for substring tests; empty on a bad list.
cpuset() {
	local out
	out=$(parse_cpulist "$1" 2>/dev/null) || return 1
	printf ' %s ' "$(tr '\n' ' ' <<<"$out")"
}

# Print the CPUs of A (a cpuset string) missing from B.
missing_from() {
	local a=$1 b=$2 cpu out=()
	for cpu in $a; do
		[[ "$b" == *" $cpu "* ]] || out+=("$cpu")
	done
	((${#out[@]} == 0)) || printf '%s\n' "${out[@]}" | format_cpulist
}

# --- isolation ------------------------------------------------------------------------
isolated_set=""
iso_ok=0
if [[ -n "$isolated_arg" ]]; then
	isolated_set=$(cpuset "$isolated_arg") || die 2 "bad --isolated list '$isolated_arg'"
	report PASS isolation "expecting CPUs $isolated_arg isolated (--isolated)"
	iso_ok=1
elif iso=$(cat "$(rpath /sys/devices/system/cpu/isolated)" 2>/dev/null); then
	if [[ -z "$iso" ]]; then
		report FAIL isolation "no isolated CPU (/sys/devices/system/cpu/isolated is empty; isolcpus= not set)"
	elif isolated_set=$(cpuset "$iso"); then
		report PASS isolation "CPUs $iso isolated from the scheduler"
		iso_ok=1
	else
		report UNKNOWN isolation "cannot parse /sys/devices/system/cpu/isolated '$iso'"
	fi
else
	report UNKNOWN isolation "cannot read /sys/devices/system/cpu/isolated"
fi

# --- nohz_full / rcu_nocbs on the command line -----------------------------------------
# Value of kernel parameter NAME on the command line ("" when absent); the last one wins,
# as in the kernel's own parsing.
param() {
	local word value="" found=1
	for word in $cmdline; do
		[[ "$word" == -- ]] && break # the rest goes to init
		if [[ "$word" == "$1="* ]]; then
			value=${word#*=}
			found=0
		elif [[ "$word" == "$1" ]]; then
			value=""
			found=0
		fi
	done
	printf '%s' "$value"
	return "$found"
}

if cmdline=$(cat "$(rpath /proc/cmdline)" 2>/dev/null); then
	for name in nohz_full rcu_nocbs; do
		if value=$(param "$name"); then
			if [[ -z "$value" ]]; then
				# rcu_nocbs without a list offloads no CPU at boot (only makes it possible later).
				report FAIL "$name" "$name given without a CPU list"
			elif ! set=$(cpuset "$value"); then
				report FAIL "$name" "cannot parse $name=$value"
			elif ((iso_ok == 0)); then
				report UNKNOWN "$name" "$name=$value but no isolated CPUs known to compare with"
			else
				miss=$(missing_from "$isolated_set" "$set")
				if [[ -z "$miss" ]]; then
					report PASS "$name" "$name=$value covers the isolated CPUs"
				else
					report FAIL "$name" "$name=$value misses isolated CPUs $miss"
				fi
			fi
		elif [[ "$name" == rcu_nocbs ]] && value=$(param nohz_full) && [[ -n "$value" ]] &&
			((iso_ok)) && set=$(cpuset "$value") && [[ -z "$(missing_from "$isolated_set" "$set")" ]]; then
			# nohz_full CPUs are RCU-offloaded too when the kernel has CONFIG_RCU_NOCB_CPU
			# (kernel/rcu/tree_nocb.h, rcu_init_nohz).
			report PASS rcu_nocbs "not set, but nohz_full=$value offloads RCU callbacks from those CPUs"
		else
			report FAIL "$name" "$name= absent from /proc/cmdline"
		fi
	done
else
	report UNKNOWN nohz_full "cannot read /proc/cmdline"
	report UNKNOWN rcu_nocbs "cannot read /proc/cmdline"
fi

# --- governor ---------------------------------------------------------------------------
shopt -s nullglob
policies=("$(rpath /sys/devices/system/cpu/cpufreq)"/policy*)
shopt -u nullglob
if ((${#policies[@]} == 0)); then
	report UNKNOWN governor "no cpufreq driver: frequency is not visible to Linux (a VM, or no driver loaded)"
else
	bad=() govs=() unread=0
	for p in "${policies[@]}"; do
		if g=$(cat "$p/scaling_governor" 2>/dev/null); then
			if [[ "$g" != performance ]]; then
				bad+=("${p##*/policy}")
				[[ " ${govs[*]} " == *" $g "* ]] || govs+=("$g")
			fi
		else
			unread=$((unread + 1))
		fi
	done
	if ((${#bad[@]})); then
		report FAIL governor "policies $(printf '%s\n' "${bad[@]}" | sort -n | format_cpulist) run ${govs[*]}, want performance"
	elif ((unread)); then
		report UNKNOWN governor "$unread of ${#policies[@]} policies unreadable"
	else
		report PASS governor "performance on all ${#policies[@]} policies"
	fi
fi

# --- transparent huge pages --------------------------------------------------------------
if thp=$(cat "$(rpath /sys/kernel/mm/transparent_hugepage/enabled)" 2>/dev/null) &&
	[[ "$thp" =~ \[([a-z]+)\] ]]; then
	if [[ ${BASH_REMATCH[1]} == never ]]; then
		report PASS thp "enabled [never]"
	else
		report FAIL thp "enabled [${BASH_REMATCH[1]}], want never"
	fi
else
	report UNKNOWN thp "cannot read /sys/kernel/mm/transparent_hugepage/enabled"
fi

# --- irqbalance ---------------------------------------------------------------------------
pid=""
procdir=$(rpath /proc)
if [[ -r "$procdir" ]]; then
	for c in "$procdir"/[0-9]*/comm; do
		[[ -e "$c" ]] || continue
		if [[ "$(cat "$c" 2>/dev/null)" == irqbalance ]]; then
			pid=${c%/comm}
			pid=${pid##*/}
			break
		fi
	done
	if [[ -z "$pid" ]]; then
		report PASS irqbalance "not running"
	else
		banned=""
		# The daemon's own environment is what it uses; fall back to its config files.
		env_text=$(tr '\0' '\n' <"$procdir/$pid/environ" 2>/dev/null || true)
		for f in "$(rpath /etc/sysconfig/irqbalance)" "$(rpath /etc/default/irqbalance)"; do
			[[ -n "$env_text" ]] || env_text=$(cat "$f" 2>/dev/null || true)
		done
		banned=$(sed -n 's/^IRQBALANCE_BANNED_CPULIST=["]*\([^"]*\)["]*$/\1/p' <<<"$env_text" | tail -n 1)
		if ((iso_ok == 0)); then
			report UNKNOWN irqbalance "running (pid $pid), no isolated CPUs known to compare with"
		elif [[ -z "$banned" ]]; then
			if grep -q '^IRQBALANCE_BANNED_CPUS=' <<<"$env_text"; then
				report UNKNOWN irqbalance "running (pid $pid) with a hex IRQBALANCE_BANNED_CPUS mask; not judged"
			else
				# irqbalance(1): without a banned list it bans isolated and nohz_full CPUs itself.
				report PASS irqbalance "running (pid $pid), no banned list: it skips isolcpus/nohz_full CPUs itself"
			fi
		elif bset=$(cpuset "$banned"); then
			miss=$(missing_from "$isolated_set" "$bset")
			if [[ -z "$miss" ]]; then
				report PASS irqbalance "running (pid $pid), banned CPUs $banned cover the isolated CPUs"
			else
				report FAIL irqbalance "running (pid $pid), isolated CPUs $miss not banned (IRQBALANCE_BANNED_CPULIST=$banned)"
			fi
		else
			report FAIL irqbalance "running (pid $pid), cannot parse IRQBALANCE_BANNED_CPULIST=$banned"
		fi
	fi
else
	report UNKNOWN irqbalance "cannot read $procdir"
fi

# --- swap -----------------------------------------------------------------------------------
if swaps=$(cat "$(rpath /proc/swaps)" 2>/dev/null); then
	active=$(tail -n +2 <<<"$swaps" | awk 'NF {print $1}' | paste -sd, -)
	if [[ -z "$active" ]]; then
		report PASS swap "no active swap"
	else
		report FAIL swap "swap active: $active (swapoff -a)"
	fi
else
	report UNKNOWN swap "cannot read /proc/swaps"
fi

# --- clocksource ----------------------------------------------------------------------------
cs_file=$(rpath /sys/devices/system/clocksource/clocksource0/current_clocksource)
if cs=$(cat "$cs_file" 2>/dev/null) && [[ -n "$cs" ]]; then
	if [[ "$cs" == tsc ]]; then
		report PASS clocksource "tsc"
	else
		report FAIL clocksource "$cs, want tsc (clock_gettime is slower and may trap)"
	fi
else
	report UNKNOWN clocksource "cannot read $cs_file"
fi

echo "# $npass pass, $nfail fail, $nunknown unknown"
if ((nfail)); then
	exit 1
elif ((nunknown)) || ((npass == 0)); then
	exit 2
fi
exit 0
