"""The HTTP side of the boot path: the generated ``srv/`` tree, and the end of the install
loop.

iPXE fetches kernels, initrds and WinPE files over HTTP, Anaconda its Kickstart. A host's
Kickstart ends with ``GET /installed/HOST``: this server then sets ``install: local`` for
that host in the inventory (one line, :func:`hftinfra.provision.edit.set_install`) and
regenerates the tree, so the MAC's next boot goes to its disk instead of installing again.
``hftinfra provision mark HOST reinstall`` turns it back. Only hosts in the inventory can be
marked, and only by that path; everything else is read-only static files (no directory
listings, no paths outside srv/).
"""

from __future__ import annotations

import datetime
import functools
import http.server
import sys
import threading
from pathlib import Path
from typing import TextIO

from hftinfra.provision.generate import SRV


class _Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "hftinfra-provision"
    mark_host = None  # set per server: callable(name) -> (status, text)
    log_to: TextIO = sys.stderr

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path.startswith("/installed/"):
            status, text = self.mark_host(path[len("/installed/"):])
            body = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def list_directory(self, path):
        self.send_error(404, "No listing")
        return None

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.log_to.write(f"{now} {self.address_string()} {format % args}\n")
        self.log_to.flush()


def make_server(inventory: str | Path, out: str | Path, *, bind: str, port: int,
                log: TextIO = sys.stderr) -> http.server.ThreadingHTTPServer:
    """A server for ``out``/srv on ``bind``:``port`` (not started)."""
    from hftinfra.provision.edit import edit_and_regenerate, set_install
    from hftinfra.provision.inventory import InventoryError, load_inventory

    out = Path(out)
    lock = threading.Lock()

    def mark(name: str) -> tuple[int, str]:
        with lock:
            try:
                known = {h.name for h in load_inventory(inventory).hosts}
            except InventoryError as exc:
                return 500, f"hftinfra: inventory unreadable: {exc}"
            if name not in known:
                return 404, f"hftinfra: no host {name!r} in the inventory"
            try:
                edit, _result = edit_and_regenerate(
                    str(inventory), out, lambda write: set_install(inventory, name, "local", write=write))
            except (InventoryError, ValueError) as exc:
                return 500, f"hftinfra: could not mark {name} installed: {exc}"
            log.write(f"hftinfra: host {name} marked installed (install {edit.old} -> local); "
                      "its next boot is from disk\n")
            log.flush()
            return 200, f"hftinfra: {name} marked installed; next boot from disk"

    handler = type("Handler", (_Handler,), {"mark_host": staticmethod(mark), "log_to": log})
    factory = functools.partial(handler, directory=str(out / SRV))
    return http.server.ThreadingHTTPServer((bind, port), factory)


def serve(inventory: str | Path, out: str | Path, *, bind: str, port: int, log: TextIO = sys.stderr) -> None:
    server = make_server(inventory, out, bind=bind, port=port, log=log)
    log.write(f"hftinfra provision serve: {out}/{SRV} on http://{bind}:{port}/ (Ctrl-C stops)\n")
    log.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()


__all__ = ["make_server", "serve"]
