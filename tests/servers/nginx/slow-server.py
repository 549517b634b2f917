#!/usr/bin/env python3
"""Tiny upstream for nginx's /slow/ location (client timeout tests).

Every request (any method, any path) is answered with
    200, Content-Type: application/fhir+json, body {}
after sleeping DELAY seconds (default 3, from argv[2]); a `delay=SECONDS`
query parameter overrides it per request (capped at 60).

Usage: slow-server.py PORT [DELAY]   -- binds 127.0.0.1 only.
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT = int(sys.argv[1])
DEFAULT_DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        delay = DEFAULT_DELAY
        try:
            q = parse_qs(urlsplit(self.path).query)
            if "delay" in q:
                delay = max(0.0, min(60.0, float(q["delay"][0])))
        except ValueError:
            pass
        time.sleep(delay)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (that is what timeout tests do)

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def log_message(self, fmt, *args):
        sys.stderr.write("%s slow %s\n" % (self.log_date_time_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    srv = Server(("127.0.0.1", PORT), Handler)
    sys.stderr.write("slow-server listening on 127.0.0.1:%d delay=%.1fs\n" % (PORT, DEFAULT_DELAY))
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
