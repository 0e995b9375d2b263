#!/usr/bin/env bash
# Show or set the cpufreq governor and the energy/performance preference (EPP) per CPU.
#
# Why: a trading core should not change frequency under load; the "performance" governor
# keeps the policy at the top of its range, and in intel_pstate / amd-pstate active mode the
# EPP hint "performance" tells the hardware P-state logic the same.
# Documentation/admin-guide/pm/cpufreq.rst: per-policy files under
# /sys/devices/system/cpu/cpufreq/policyX/ (cpuN/cpufreq links to its policy);
# scaling_governor and scaling_available_governors.
# Documentation/admin-guide/pm/intel_pstate.rst and amd-pstate.rst:
# energy_performance_preference and energy_performance_available_preferences; with the
# performance governor in active mode the driver refuses other EPP values (EBUSY).
set -euo pipefail

PROG=$(basename "$0")
ROOT=/
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
	cat <<USAGE
Usage: $PROG [--governor G] [--epp E] [--cpus LIST] [--dry-run] [--root DIR]

Without --governor or --epp, print each CPU's driver, governor and EPP (read-only).

Options:
  --governor G  write G to scaling_governor (must be in scaling_available_governors)
  --epp E       write E to energy_performance_preference (a name from
                energy_performance_available_preferences, or 0-255)
  --cpus LIST   CPUs to act on, kernel cpulist syntax (default: all online CPUs)
  --dry-run     print "cpuN: governor old -> new" and change nothing
  --root DIR    read and write under DIR instead of /
  -h, --help    this help

Exit: 0 done, 1 some write refused, 2 bad input or no root, 3 no cpufreq driver.
USAGE
}

governor="" epp="" cpus_arg="" dry_run=0
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--dry-run) dry_run=1 ;;
	--governor | --epp | --cpus | --root)
		(($# >= 2)) || die 2 "$1 needs a value"
		case $1 in
		--governor) governor=$2 ;;
		--epp) epp=$2 ;;
		--cpus) cpus_arg=$2 ;;
		--root) ROOT=$2 ;;
		esac
		shift
		;;
	*) die 2 "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
check_root_dir

cpudir=$(rpath /sys/devices/system/cpu)
if [[ -z "$cpus_arg" ]]; then
	cpus_arg=$(cat "$cpudir/online" 2>/dev/null) || die 2 "cannot read $cpudir/online; pass --cpus"
fi
cpus_text=$(parse_cpulist "$cpus_arg" 2>&1) || die 2 "bad CPU list '$cpus_arg': $cpus_text"
mapfile -t cpus <<<"$cpus_text"

# No driver registered (common on VMs, where the hypervisor owns frequency): the cpufreq
# directory has no policy and no cpuN/cpufreq link exists. Nothing to tune: say so.
shopt -s nullglob
policies=("$cpudir"/cpufreq/policy*)
shopt -u nullglob
if ((${#policies[@]} == 0)) && [[ ! -e "$cpudir/cpu${cpus[0]}/cpufreq" ]]; then
	echo "$PROG: no cpufreq driver on this host ($cpudir/cpufreq has no policy):" \
		"frequency is not under Linux control here (a VM, or no driver loaded)" >&2
	exit 3
fi

# The policy directory of a CPU: cpuN/cpufreq (a link to policyX), else the policy whose
# affected_cpus lists N.
policy_of() {
	local cpu=$1 p list
	if [[ -d "$cpudir/cpu$cpu/cpufreq" ]]; then
		printf '%s\n' "$cpudir/cpu$cpu/cpufreq"
		return 0
	fi
	for p in "${policies[@]}"; do
		list=$(cat "$p/affected_cpus" 2>/dev/null) || continue
		if [[ " $list " == *" $cpu "* ]]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

readf() { cat "$1" 2>/dev/null || echo "?"; }

if [[ -z "$governor" && -z "$epp" ]]; then
	for cpu in "${cpus[@]}"; do
		if ! p=$(policy_of "$cpu"); then
			echo "cpu$cpu: no cpufreq policy"
			continue
		fi
		echo "cpu$cpu: driver $(readf "$p/scaling_driver") governor $(readf "$p/scaling_governor")" \
			"epp $(readf "$p/energy_performance_preference")"
	done
	exit 0
fi

# Check every value before the first write, so bad input changes nothing.
for cpu in "${cpus[@]}"; do
	p=$(policy_of "$cpu") || continue
	if [[ -n "$governor" ]]; then
		avail=$(cat "$p/scaling_available_governors" 2>/dev/null || true)
		[[ -z "$avail" || " $avail " == *" $governor "* ]] ||
			die 2 "cpu$cpu: governor '$governor' not available (available: $avail)"
	fi
	# EPP is a name or a raw value 0-255 (intel_pstate.rst, "Energy vs Performance Hints").
	if [[ -n "$epp" ]] && ! { [[ "$epp" =~ ^[0-9]{1,3}$ ]] && ((10#$epp <= 255)); }; then
		avail=$(cat "$p/energy_performance_available_preferences" 2>/dev/null || true)
		[[ -z "$avail" || " $avail " == *" $epp "* ]] ||
			die 2 "cpu$cpu: epp '$epp' not available (available: ${avail% }, or 0-255)"
	fi
done

((dry_run)) || need_root "cpufreq settings"
((dry_run)) && echo "# dry run: nothing is written"

failed=0
# Write VALUE to FILE for CPU (or print it in a dry run); a refused write is reported.
set_one() {
	local cpu=$1 what=$2 file=$3 value=$4 old err
	if [[ ! -e "$file" ]]; then
		echo "cpu$cpu: $what not supported by this driver (no ${file##*/})"
		failed=$((failed + 1))
		return 0
	fi
	old=$(readf "$file")
	if ((dry_run)); then
		echo "cpu$cpu: $what $old -> $value"
	elif err=$({ printf '%s\n' "$value" >"$file"; } 2>&1); then
		echo "cpu$cpu: $what $old -> $value"
	else
		echo "cpu$cpu: $what $old -> $value FAILED: ${err##*: }"
		failed=$((failed + 1))
	fi
}

for cpu in "${cpus[@]}"; do
	if ! p=$(policy_of "$cpu"); then
		echo "cpu$cpu: no cpufreq policy"
		failed=$((failed + 1))
		continue
	fi
	# Governor before EPP: which EPP values a driver accepts depends on the governor.
	[[ -z "$governor" ]] || set_one "$cpu" governor "$p/scaling_governor" "$governor"
	[[ -z "$epp" ]] || set_one "$cpu" epp "$p/energy_performance_preference" "$epp"
done
if ((failed)); then
	warn "$failed settings not applied"
	exit 1
fi
