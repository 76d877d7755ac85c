"""The lab real servers' HTTP server: every GET gets one line naming the server;
a POST gets that line and the number of bytes it carried; GET /bytes/N gets
N bytes of `pattern()` (a download), with the line in an X-Served-By header.

Unlike `python3 -m http.server` it speaks HTTP/1.1 with Content-Length, so a
client can keep a connection open across requests (the weight-0 test needs
that), and it serves connections in threads.
Run as `python -m pyvs.lab.httpd --bind ADDR --port 80 --text "served by 10.3.3.3"`.
"""

from __future__ import annotations

import argparse
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 16
_BYTES_PATH = re.compile(r"/bytes/(\d+)")
_PERIOD = 251  # prime: a chunk or segment delivered twice or out of place changes the bytes


def pattern(offset: int, length: int) -> bytes:
    """Bytes offset .. offset + length of a download: byte i is i mod 251."""
    period = bytes(range(_PERIOD))
    start = offset % _PERIOD
    return (period * (2 + length // _PERIOD))[start:start + length]


class LabServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], text: str) -> None:
        super().__init__(address, LabHandler)
        self.text = text


class LabHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pyvs-lab"
    wbufsize = 65536  # headers and body leave in one segment, flushed after each request

    def do_GET(self) -> None:
        assert isinstance(self.server, LabServer)
        if (download := _BYTES_PATH.fullmatch(self.path)) is not None:
            self.send_download(int(download.group(1)))
            return
        body = self.server.text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_download(self, length: int) -> None:
        assert isinstance(self.server, LabServer)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("X-Served-By", self.server.text.strip())
        self.end_headers()
        for offset in range(0, length, CHUNK):
            self.wfile.write(pattern(offset, min(CHUNK, length - offset)))

    def do_POST(self) -> None:
        """Read the whole body, answer with the server's line and the byte count."""
        assert isinstance(self.server, LabServer)
        length = int(self.headers.get("Content-Length", "0"))
        received = len(self.rfile.read(length))
        body = f"{self.server.text.rstrip()} received {received} bytes\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.client_address[0]}:{self.client_address[1]} {format % args}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvs.lab.httpd", description=__doc__)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--text", required=True, help="the line every GET answers")
    args = parser.parse_args(argv)
    server = LabServer((args.bind, args.port), args.text + "\n")
    print(f"listening on {args.bind}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
