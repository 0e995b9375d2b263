#!/usr/bin/env bats
# hugepages.sh against a copy of the tuned-2s fixture (two nodes), a fake sysfs attribute
# that gives fewer pages than asked, and the live host (dry run, and writing back the
# value it already has).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	H=$(copy_host tuned-2s)
	N=$H/sys/devices/system/node
}

@test "one node's 1G pool is written and read back" {
	run "$SCRIPTS/hugepages.sh" --size 1G --pages 20 --node 1 --root "$H"
	[ "$status" -eq 0 ]
	[ "$(cat "$N/node1/hugepages/hugepages-1048576kB/nr_hugepages")" = 20 ]
	[[ "$output" == *"node1 1G: 16 -> 20"* ]]
}

@test "without --node every online node gets N" {
	run "$SCRIPTS/hugepages.sh" --size 2m --pages 64 --root "$H"
	[ "$status" -eq 0 ]
	[ "$(cat "$N/node0/hugepages/hugepages-2048kB/nr_hugepages")" = 64 ]
	[ "$(cat "$N/node1/hugepages/hugepages-2048kB/nr_hugepages")" = 64 ]
}

@test "--dry-run writes nothing" {
	run "$SCRIPTS/hugepages.sh" --size 1G --pages 2 --root "$H" --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"node1 1G: 16 -> 2"* ]]
	[ "$(cat "$N/node1/hugepages/hugepages-1048576kB/nr_hugepages")" = 16 ]
}

@test "the kernel giving fewer pages is said, exit 1" {
	# A FIFO stands in for nr_hugepages: it answers the first read with 16, takes the
	# write, and answers the read-back with 7, as a fragmented node would.
	f=$N/node1/hugepages/hugepages-1048576kB/nr_hugepages
	rm "$f"
	mkfifo "$f"
	(echo 16 >"$f"; cat "$f" >"$BATS_TEST_TMPDIR/written"; echo 7 >"$f") &
	run timeout 10 "$SCRIPTS/hugepages.sh" --size 1G --pages 32 --node 1 --root "$H"
	wait
	[ "$status" -eq 1 ]
	[ "$(cat "$BATS_TEST_TMPDIR/written")" = 32 ]
	[[ "$output" == *"SHORT: asked for 32, the kernel gave 7"* ]]
}

@test "bad input: size, pages, node" {
	for args in "--size 4M --pages 1" "--size 2M --pages -1" "--size 2M --pages x" \
		"--size 2M" "--pages 3" "--size 2M --pages 1 --node 7" "--size 2M --pages 1 --node a"; do
		# shellcheck disable=SC2086 # word splitting of the argument sets is intended
		run --separate-stderr "$SCRIPTS/hugepages.sh" $args --root "$H"
		[ "$status" -eq 2 ]
		[ "${#stderr_lines[@]}" -eq 1 ]
	done
}

@test "a node without that page size is refused" {
	rm -r "$N/node0/hugepages/hugepages-1048576kB"
	run --separate-stderr "$SCRIPTS/hugepages.sh" --size 1G --pages 1 --node 0 --root "$H"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no 1G pool"* ]]
}

@test "live host: dry run, and writing back the current 2M count of node0" {
	need_root
	f=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
	[ -e "$f" ] || skip "no 2M pool on node0"
	cur=$(cat "$f")
	run "$SCRIPTS/hugepages.sh" --size 2M --pages $((cur + 1)) --node 0 --dry-run
	[ "$status" -eq 0 ]
	[ "$(cat "$f")" = "$cur" ]
	run "$SCRIPTS/hugepages.sh" --size 2M --pages "$cur" --node 0
	[ "$status" -eq 0 ]
	[ "$(cat "$f")" = "$cur" ]
}

@test "live host, normal user: writing is one line, exit 2" {
	run --separate-stderr as_user "$SCRIPTS/hugepages.sh" --size 2M --pages 0 --node 0
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}
