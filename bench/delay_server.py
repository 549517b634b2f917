#!/usr/bin/env python3
"""Delay for bench/run.sh's nginx: its /slow/ locations ask this server first (auth_request), so
each static page there is served DELAY_MS milliseconds late, as a real server's work would be.

Usage: delay_server.py PORT DELAY_MS   -- binds 127.0.0.1 only; answers 204 to every GET.
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
DELAY = float(sys.argv[2]) / 1000.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(DELAY)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
