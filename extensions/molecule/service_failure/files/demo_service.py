"""A small HTTP service for the service_failure scenario (stdlib + psycopg, binds 127.0.0.1).

/health answers 200 only when what the service depends on answers:
  --postgres           PostgreSQL accepts a connection (Unix socket, as the current OS user)
  --upstream URL       URL answers 200 (the frontend depends on the API this way)
SIGUSR1 wedges the service (its /health answers 503 until it is restarted), as a connection
pool that leaked or a deadlock would. IGNORE_SIGTERM=1 makes it ignore SIGTERM, so only a
hard restart (SIGKILL) stops it.
"""

from __future__ import annotations

import argparse
import os
import signal
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WEDGED = False


def wedge(signum, frame):
    global WEDGED
    WEDGED = True


def check_postgres():
    import psycopg
    with psycopg.connect('host=/var/run/postgresql dbname=postgres', connect_timeout=2) as conn:
        conn.execute('SELECT 1')


def check_upstream(url):
    with urllib.request.urlopen(url, timeout=2) as resp:
        if resp.status != 200:
            raise RuntimeError(f'{url} answered {resp.status}')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--postgres', action='store_true')
    parser.add_argument('--upstream')
    args = parser.parse_args()
    signal.signal(signal.SIGUSR1, wedge)
    if os.environ.get('IGNORE_SIGTERM') == '1':
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != '/health':
                self._answer(404, 'not found')
                return
            if WEDGED:
                self._answer(503, 'wedged')
                return
            try:
                if args.postgres:
                    check_postgres()
                if args.upstream:
                    check_upstream(args.upstream)
            except Exception as exc:  # any failure of a dependency makes the service unhealthy
                self._answer(503, f'dependency down: {exc}'.replace('\n', ' '))
                return
            self._answer(200, 'ok')

        def _answer(self, code, text):
            body = (text + '\n').encode()
            self.send_response(code)
            self.send_header('Content-Type', 'text/plain')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *fargs):
            pass

    ThreadingHTTPServer(('127.0.0.1', args.port), Handler).serve_forever()


if __name__ == '__main__':
    main()
