#!/usr/bin/env bash
# Save, tune and restore a NIC's coalescing, rings, channels and offloads with ethtool.
#
# Why: interrupt coalescing trades latency for CPU (ethtool(8) -C rx-usecs, adaptive-rx);
# GRO/LRO merge packets and add delay before the socket sees the first byte (-K); the number
# of queues decides how many IRQs and CPUs the NIC spreads over (-L); ring size bounds the
# burst a queue absorbs (-G). Changing channels or rings makes most drivers reallocate their
# queues and reset the link, dropping packets: those need --allow-disruptive.
# Drivers implement only some of these operations: ethtool then says
# "Operation not supported" (EOPNOTSUPP); that is reported per setting and the rest goes on.
# `save` records the current values so `restore` can put them back exactly.
set -euo pipefail

PROG=$(basename "$0")
ROOT=/
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
	cat <<USAGE
Usage: $PROG save IFACE FILE
       $PROG restore FILE [--dry-run]
       $PROG apply IFACE [options] [--allow-disruptive] [--dry-run]

  save      write IFACE's current channels, rings, coalescing and offloads to FILE
  restore   put the values in FILE back (channels and rings included: restore undoes
            what apply did, so it implies --allow-disruptive)
  apply     change the settings given:
    --rx-usecs N        interrupt coalescing delay, microseconds        (ethtool -C rx-usecs)
    --adaptive on|off   adaptive coalescing, RX and TX                   (ethtool -C adaptive-rx/-tx)
    --gro on|off        generic receive offload                          (ethtool -K gro)
    --lro on|off        large receive offload                            (ethtool -K lro)
    --combined N        combined channels, disruptive                    (ethtool -L combined)
    --rx-channels N     RX-only channels, disruptive                     (ethtool -L rx)
    --tx-channels N     TX-only channels, disruptive                     (ethtool -L tx)
    --rx-ring N         RX ring entries, disruptive                      (ethtool -G rx)
    --allow-disruptive  allow the settings that reset the NIC's queues
    --dry-run           print what would change, change nothing
  -h, --help            this help

Exit: 0 all applied, 1 some setting not supported or refused (each is reported),
2 bad input, no root, or a disruptive setting without --allow-disruptive.
USAGE
}

command -v ethtool >/dev/null || die 2 "ethtool not found (Debian package ethtool)"

check_iface() {
	[[ "$1" != */* && -e "/sys/class/net/$1" ]] || die 2 "unknown interface '$1' (no /sys/class/net/$1)"
}

# "Current hardware settings" of `ethtool -l` or `-g`, as "key value" lines with lower-case
# keys (rx, tx, other, combined), numeric values only ("n/a" means the driver has none).
current_section() {
	awk '/^Current hardware settings:/ {cur = 1; next}
	     /:$/ {cur = 0}
	     cur && $NF ~ /^[0-9]+$/ {k = tolower($1); sub(/:$/, "", k); print k, $NF}'
}

# `ethtool -c` as "key value": adaptive-rx, adaptive-tx and the numeric *-usecs/*-frames.
coalesce_values() {
	awk '/^Adaptive RX:/ {if ($3 ~ /^o(n|ff)$/) print "adaptive-rx", $3
	                      if ($5 ~ /^o(n|ff)$/) print "adaptive-tx", $5; next}
	     $1 ~ /^(rx|tx)-(usecs|frames):$/ && $2 ~ /^[0-9]+$/ {k = $1; sub(/:$/, "", k); print k, $2}'
}

# `ethtool -k` as "name on|off" for every feature that can change (not "[fixed]") and that
# is a leaf: group lines (tx-checksumming, scatter-gather, ...) followed by indented members
# are skipped so a restore sets each member exactly once.
feature_values() {
	awk 'NR == 1 {next}
	     { indented = ($0 ~ /^[ \t]/); line = $0; sub(/^[ \t]+/, "", line)
	       if (!indented && prev != "") print_prev()
	       if (indented && prev != "") prev = ""
	       if (indented) emit(line); else prev = line }
	     END { if (prev != "") print_prev() }
	     function print_prev() { emit(prev); prev = "" }
	     function emit(l,   n, v) { if (l ~ /\[fixed\]/) return
	       n = l; sub(/:.*/, "", n); v = l; sub(/^[^:]*: */, "", v); sub(/ .*/, "", v)
	       if (v == "on" || v == "off") print n, v }'
}

# Run ethtool, keep its message; "Operation not supported" becomes a per-setting report.
# Usage: run_ethtool LABEL ARGS...   (sets ok=1 on success)
failed=0
dry_run=0
run_ethtool() {
	local label=$1 out rc=0
	shift
	if ((dry_run)); then
		echo "$label: would run: ethtool $*"
		return 0
	fi
	out=$(ethtool "$@" 2>&1) || rc=$?
	if ((rc == 0)); then
		echo "$label: ok (ethtool $*)"
		return 0
	fi
	failed=$((failed + 1))
	if grep -qi 'not supported' <<<"$out"; then
		echo "$label: not supported by this driver (ethtool $*: Operation not supported)"
	else
		echo "$label: FAILED (ethtool $*): $(tr '\n' ' ' <<<"$out" | sed 's/ *$//')"
	fi
	return 1
}

# Value of KEY in "key value" lines on stdin.
value_of() { awk -v k="$1" '$1 == k {print $2; exit}'; }

cmd_save() {
	local iface=$1 file=$2 out tmp
	check_iface "$iface"
	tmp=$(mktemp "${file}.XXXXXX") || die 2 "cannot write next to $file"
	{
		echo "# $PROG save of $iface, $(date -u +%FT%TZ); restore with: $PROG restore FILE"
		echo "iface $iface"
		if out=$(ethtool -l "$iface" 2>/dev/null); then
			echo "channels $(current_section <<<"$out" | tr '\n' ' ' | sed 's/ *$//')"
		else
			echo "channels unsupported"
		fi
		if out=$(ethtool -g "$iface" 2>/dev/null); then
			echo "ring $(current_section <<<"$out" | grep -E '^(rx|tx) ' | tr '\n' ' ' | sed 's/ *$//')"
		else
			echo "ring unsupported"
		fi
		if out=$(ethtool -c "$iface" 2>/dev/null); then
			echo "coalesce $(coalesce_values <<<"$out" | tr '\n' ' ' | sed 's/ *$//')"
		else
			echo "coalesce unsupported"
		fi
		if out=$(ethtool -k "$iface" 2>/dev/null); then
			echo "features $(feature_values <<<"$out" | tr '\n' ' ' | sed 's/ *$//')"
		else
			echo "features unsupported"
		fi
	} >"$tmp" || { rm -f "$tmp"; die 2 "cannot write $file"; }
	mv "$tmp" "$file"
	echo "saved $iface to $file"
}

# Pairs "k v k v" of WANT that differ from the "key value" lines in CURRENT.
changed_pairs() {
	local want=$1 current=$2 k v
	local -a words
	read -r -a words <<<"$want"
	for ((i = 0; i + 1 < ${#words[@]}; i += 2)); do
		k=${words[i]} v=${words[i + 1]}
		[[ "$(value_of "$k" <<<"$current")" == "$v" ]] || printf '%s %s ' "$k" "$v"
	done
}

cmd_restore() {
	local file=$1 iface="" kind rest pairs out flag
	local -a words
	[[ -r "$file" ]] || die 2 "cannot read $file"
	iface=$(awk '$1 == "iface" {print $2; exit}' "$file")
	[[ -n "$iface" ]] || die 2 "$file: no 'iface' line (not written by '$PROG save')"
	check_iface "$iface"
	((dry_run)) || need_root "NIC settings of $iface"
	# Channels and rings first: resetting the queues can reset other settings with them.
	for kind in channels ring coalesce features; do
		rest=$(awk -v k="$kind" '$1 == k {$1 = ""; sub(/^ /, ""); print; exit}' "$file")
		[[ -n "$rest" && "$rest" != unsupported ]] || continue
		case $kind in
		channels) out=$(ethtool -l "$iface" 2>/dev/null | current_section) || out="" ; flag=-L ;;
		ring) out=$(ethtool -g "$iface" 2>/dev/null | current_section) || out="" ; flag=-G ;;
		coalesce) out=$(ethtool -c "$iface" 2>/dev/null | coalesce_values) || out="" ; flag=-C ;;
		features) out=$(ethtool -k "$iface" 2>/dev/null | feature_values) || out="" ; flag=-K ;;
		esac
		pairs=$(changed_pairs "$rest" "$out")
		if [[ -z "$pairs" ]]; then
			echo "$kind: unchanged"
			continue
		fi
		read -r -a words <<<"$pairs"
		run_ethtool "$kind" "$flag" "$iface" "${words[@]}" || true
	done
	# Features interact (turning one off can drop others): check the result, not the call.
	rest=$(awk '$1 == "features" {$1 = ""; sub(/^ /, ""); print; exit}' "$file")
	if [[ -n "$rest" && "$rest" != unsupported ]] && ! ((dry_run)); then
		pairs=$(changed_pairs "$rest" "$(ethtool -k "$iface" 2>/dev/null | feature_values)")
		if [[ -n "$pairs" ]]; then
			echo "features: still differ after restore: $pairs"
			failed=$((failed + 1))
		fi
	fi
}

cmd_apply() {
	local iface=$1
	shift
	local rx_usecs="" adaptive="" gro="" lro="" combined="" rxch="" txch="" rx_ring="" disruptive=0
	check_iface "$iface"
	while (($#)); do
		case $1 in
		--allow-disruptive) disruptive=1 ;;
		--dry-run) dry_run=1 ;;
		--rx-usecs | --adaptive | --gro | --lro | --combined | --rx-channels | --tx-channels | --rx-ring)
			(($# >= 2)) || die 2 "$1 needs a value"
			case $1 in
			--rx-usecs) rx_usecs=$2 ;;
			--adaptive) adaptive=$2 ;;
			--gro) gro=$2 ;;
			--lro) lro=$2 ;;
			--combined) combined=$2 ;;
			--rx-channels) rxch=$2 ;;
			--tx-channels) txch=$2 ;;
			--rx-ring) rx_ring=$2 ;;
			esac
			shift
			;;
		*) die 2 "unknown argument '$1' (see --help)" ;;
		esac
		shift
	done
	local v
	for v in "$rx_usecs" "$combined" "$rxch" "$txch" "$rx_ring"; do
		[[ -z "$v" || "$v" =~ ^[0-9]+$ ]] || die 2 "bad number '$v'"
	done
	for v in "$adaptive" "$gro" "$lro"; do
		[[ -z "$v" || "$v" == on || "$v" == off ]] || die 2 "bad switch '$v' (on or off)"
	done
	if [[ -n "$combined$rxch$txch$rx_ring" ]] && ((disruptive == 0)); then
		die 2 "channels and rings reset $iface's queues (packets are dropped): add --allow-disruptive"
	fi
	if [[ -z "$rx_usecs$adaptive$gro$lro$combined$rxch$txch$rx_ring" ]]; then
		die 2 "nothing to apply (see --help)"
	fi
	((dry_run)) || need_root "NIC settings of $iface"

	local args=()
	[[ -z "$combined" ]] || args+=(combined "$combined")
	[[ -z "$rxch" ]] || args+=(rx "$rxch")
	[[ -z "$txch" ]] || args+=(tx "$txch")
	((${#args[@]} == 0)) || run_ethtool channels -L "$iface" "${args[@]}" || true
	[[ -z "$rx_ring" ]] || run_ethtool rx-ring -G "$iface" rx "$rx_ring" || true
	[[ -z "$adaptive" ]] || run_ethtool adaptive -C "$iface" adaptive-rx "$adaptive" adaptive-tx "$adaptive" || true
	[[ -z "$rx_usecs" ]] || run_ethtool rx-usecs -C "$iface" rx-usecs "$rx_usecs" || true
	local name want feat got
	for name in gro lro; do
		want=$gro feat=generic-receive-offload
		[[ $name == lro ]] && want=$lro feat=large-receive-offload
		[[ -n "$want" ]] || continue
		run_ethtool "$name" -K "$iface" "$name" "$want" || continue
		((dry_run)) && continue
		# ethtool -K exits 0 when the kernel keeps a fixed feature ("off [requested on]").
		got=$(ethtool -k "$iface" 2>/dev/null | awk -v f="$feat:" '$1 == f {print $2}')
		if [[ "$got" != "$want" ]]; then
			echo "$name: not applied, $iface keeps $feat ${got:-?} (fixed by the driver)"
			failed=$((failed + 1))
		fi
	done
}

(($#)) || { usage >&2; exit 2; }
case $1 in
-h | --help) usage; exit 0 ;;
save)
	(($# == 3)) || die 2 "usage: $PROG save IFACE FILE"
	cmd_save "$2" "$3"
	;;
restore)
	(($# >= 2)) || die 2 "usage: $PROG restore FILE [--dry-run]"
	file=$2
	shift 2
	while (($#)); do
		case $1 in
		--dry-run) dry_run=1 ;;
		*) die 2 "unknown argument '$1' (see --help)" ;;
		esac
		shift
	done
	cmd_restore "$file"
	;;
apply)
	(($# >= 2)) || die 2 "usage: $PROG apply IFACE [options]"
	shift
	cmd_apply "$@"
	;;
*) die 2 "unknown command '$1' (save, restore or apply; see --help)" ;;
esac
if ((failed)); then
	warn "$failed settings not applied"
	exit 1
fi
