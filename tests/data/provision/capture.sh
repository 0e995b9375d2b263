#!/bin/bash
# Captures the dnsmasq logs and the serial console transcript in this folder, for real:
# two network namespaces joined by a veth pair, dnsmasq 2.90 (DHCP and TFTP) in one,
# busybox DHCP/TFTP clients and a qemu VM whose NIC ROM is iPXE in the other.
# Run as root: bash tests/data/provision/capture.sh OUTDIR
set -euo pipefail
OUT=$(realpath "${1:?usage: capture.sh OUTDIR}")
A=hftdiag-a B=hftdiag-b
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
mkdir -p "$OUT"

ip netns add "$A"
ip netns add "$B"
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip -n "$A" addr add 10.77.0.1/24 dev va
ip -n "$A" link set va up

# The TFTP root, laid out as hftinfra provision generates it (paths relative to srv/).
ROOT=$WORK/srv
mkdir -p "$ROOT/ipxe/hosts" "$WORK/http"
cat > "$ROOT/ipxe/hosts/52-54-00-aa-00-01.ipxe" <<'S'
#!ipxe
echo hftinfra: host alpha (52:54:00:aa:00:01) install
S
cat > "$ROOT/ipxe/hosts/52-54-00-aa-00-10.ipxe" <<'S'
#!ipxe
echo hftinfra: host vm1 (52:54:00:aa:00:10) install
kernel http://10.77.0.1:8080/images/pxeboot/vmlinuz initrd=initrd.img console=ttyS0 || goto failed
boot || goto failed
:failed
echo hftinfra: vm1 (52:54:00:aa:00:10) could not boot: ${errno}
sleep 1
reboot
S
printf 'not a real loader\n' > "$ROOT/undionly.kpxe"

run_dnsmasq() {  # $1 log file, rest: extra options
  local log=$1; shift
  rm -f "$WORK/leases"
  ip netns exec "$A" /usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp \
    --log-facility="$log" --dhcp-leasefile="$WORK/leases" --pid-file="$WORK/dnsmasq.pid" \
    --interface=va --bind-interfaces --dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,12h \
    --dhcp-authoritative --enable-tftp --tftp-root="$ROOT" \
    --dhcp-userclass=set:ipxe,iPXE --dhcp-match=set:ipxe,175 \
    --dhcp-host=52:54:00:aa:00:01,10.77.0.11,alpha \
    --dhcp-host=52:54:00:aa:00:02,10.77.0.12,bravo \
    --dhcp-host=52:54:00:aa:00:03,10.77.0.13,charlie \
    --dhcp-host=52:54:00:aa:00:10,10.77.0.20,vm1 \
    --dhcp-mac=set:m-52-54-00-aa-00-10,52:54:00:aa:00:10 \
    --dhcp-boot=tag:!ipxe,undionly.kpxe \
    --dhcp-boot=tag:ipxe,tag:m-52-54-00-aa-00-10,ipxe/hosts/52-54-00-aa-00-10.ipxe \
    "$@" 2>"$WORK/dnsmasq.stderr" &
  DNSMASQ=$!
  PIDS+=("$DNSMASQ")
  sleep 1
}
stop_dnsmasq() {
  kill "$DNSMASQ"; wait "$DNSMASQ" 2>/dev/null || true
}
client() {  # $1 MAC: a PXE-like DHCP exchange from vb with that MAC
  ip -n "$B" link set vb down
  ip -n "$B" link set vb address "$1"
  ip -n "$B" addr flush dev vb
  ip -n "$B" link set vb up
  sleep 1
  ip netns exec "$B" busybox udhcpc -f -q -n -t 3 -T 1 -i vb -V PXEClient -x 0x5d:0000 -s /bin/true || true
}
tftp_get() {  # $1 client IP, $2 file
  ip -n "$B" addr add "$1/24" dev vb
  ip netns exec "$B" busybox tftp -g -r "$2" -l /dev/null 10.77.0.1 || true
  ip -n "$B" addr flush dev vb
}

# 1. DHCP and TFTP clients.
#    alpha: DHCP, then its script by TFTP (sent), then a file that is not there (not found).
#    bravo: DHCP only, no TFTP request. An unknown MAC: ignored (dhcp-ignore=tag:!known).
run_dnsmasq "$WORK/dnsmasq-clients.log" --dhcp-ignore=tag:!known
client 52:54:00:aa:00:01
tftp_get 10.77.0.11 ipxe/hosts/52-54-00-aa-00-01.ipxe
tftp_get 10.77.0.11 ipxe/hosts/52-54-00-aa-00-1.ipxe
client 52:54:00:aa:00:02
client 52:54:00:ee:ee:ee
stop_dnsmasq
cp "$WORK/dnsmasq-clients.log" "$OUT/dnsmasq-clients.log"

# 2. One qemu boot: the VM's e1000 ROM is iPXE; it gets its script by TFTP, echoes the
#    host marker, and fails to fetch its kernel from an HTTP server that lacks it.
ip -n "$B" link set vb down
ip -n "$B" link set vb address 52:54:00:bb:00:01
ip -n "$B" link add brb type bridge
ip -n "$B" link set vb master brb
ip -n "$B" tuntap add tap0 mode tap
ip -n "$B" link set tap0 master brb
ip -n "$B" link set vb up
ip -n "$B" link set tap0 up
ip -n "$B" link set brb up
ip netns exec "$A" python3 -m http.server 8080 --bind 10.77.0.1 --directory "$WORK/http" \
  >"$WORK/http.log" 2>&1 &
PIDS+=("$!")
run_dnsmasq "$WORK/dnsmasq-vm.log" --dhcp-ignore=tag:!known
ip netns exec "$B" timeout 120 qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
  -boot n -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
  -device e1000,netdev=n0,mac=52:54:00:aa:00:10 </dev/null >"$WORK/console-vm.raw" 2>&1 || true
stop_dnsmasq
cp "$WORK/dnsmasq-vm.log" "$OUT/dnsmasq-vm.log"
cp "$WORK/console-vm.raw" "$OUT/console-vm.txt"
cp "$WORK/http.log" "$OUT/http-vm.log"
