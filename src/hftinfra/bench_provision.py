"""``python -m hftinfra.bench_provision``: what generating a boot path costs as an inventory
grows. Prints figures; it is not a test and never fails on a slow machine.

For 10, 100 and 1,000 hosts (``--sizes``), built from the sample inventory's hosts with new
names, MACs and addresses (a mix of BIOS and UEFI Linux hosts and Windows hosts, as in the
sample): the time to load and validate the inventory, to render every file, and to write the
tree into an empty directory; the number of files and their total size.

    python -m hftinfra.bench_provision [--sizes 10,100,1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import statistics
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent.parent / "provisioning" / "sample-inventory.yaml"


def inventory_of(size: int, sample: Path = SAMPLE) -> dict:
    """An inventory of ``size`` hosts cycling through the sample's hosts, on a subnet large
    enough for them."""
    from hftinfra.provision.inventory import read_yaml

    data = read_yaml(sample.read_text(encoding="utf-8"), str(sample))
    templates = data["hosts"]
    net = ipaddress.IPv4Network("10.64.0.0/16")
    data["site"].update({"subnet": str(net), "server_ip": "10.64.0.2", "gateway": "10.64.0.1",
                         "dhcp_pool": "10.64.250.1-10.64.255.254"})
    hosts = []
    for i in range(size):
        h = copy.deepcopy(templates[i % len(templates)])
        h["name"] = f"{h['name'][:9]}-{i:05d}"  # a Windows computer name has at most 15 characters
        h["macs"] = [f"02:00:{(i >> 16) & 0xff:02x}:{(i >> 8) & 0xff:02x}:{i & 0xff:02x}:{k:02x}"
                     for k in range(len(h["macs"]))]
        h.setdefault("network", {})["ip"] = f"{net.network_address + 256 + i}/16"
        hosts.append(h)
    data["hosts"] = hosts
    return data


def measure(size: int, repeat: int) -> dict:
    from hftinfra.provision.generate import generate, write_tree
    from hftinfra.provision.inventory import parse_inventory

    data = inventory_of(size)
    load_s, render_s, write_s = [], [], []
    files = total = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        inv = parse_inventory(copy.deepcopy(data), f"bench-{size}.yaml")
        t1 = time.perf_counter()
        generated = generate(inv)
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_tree(generated, Path(tmp) / "out")
            t3 = time.perf_counter()
        load_s.append(t1 - t0)
        render_s.append(t2 - t1)
        write_s.append(t3 - t2)
        files = len(generated.files)
        total = sum(len(b) for b in generated.files.values())
    return {"hosts": size, "load_s": statistics.median(load_s), "render_s": statistics.median(render_s),
            "write_s": statistics.median(write_s), "files": files, "bytes": total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hftinfra.bench_provision", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="inventory sizes, comma separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the median is shown)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"{'hosts':>6} {'load+validate':>14} {'render':>9} {'write':>9} {'per host':>9} {'files':>6} {'size':>9}")
    for size in sizes:
        r = measure(size, max(1, args.repeat))
        whole = r["load_s"] + r["render_s"] + r["write_s"]
        print(f"{r['hosts']:>6} {r['load_s'] * 1e3:>11.1f} ms {r['render_s'] * 1e3:>6.1f} ms "
              f"{r['write_s'] * 1e3:>6.1f} ms {whole / size * 1e3:>6.2f} ms {r['files']:>6} "
              f"{r['bytes'] / 1e6:>6.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
