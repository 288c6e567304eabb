#!/usr/bin/env python3
"""Serves the reference workload on 127.0.0.1: GET /metrics answers snapshot k, where k
advances every --interval seconds and wraps around, as if the service's counters grew.
Snapshots are read into memory once. Stops by itself after --seconds."""
import argparse
import glob
import http.server
import os
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--interval", type=float, default=5.0)
ap.add_argument("--seconds", type=float, default=600.0)
a = ap.parse_args()
snaps = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(a.dir, "snap_*.prom")))]
start = time.time()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/metrics":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = snaps[int((time.time() - start) / a.interval) % len(snaps)]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), H)
threading.Timer(a.seconds, srv.shutdown).start()
srv.serve_forever()
