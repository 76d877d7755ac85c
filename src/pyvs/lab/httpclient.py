"""The lab clients' HTTP client, on plain sockets so each connection is explicit.

`python -m pyvs.lab.httpclient HOST PORT new N` makes N sequential requests,
each on a new TCP connection, and prints "<local port> <body>" per request.
`python -m pyvs.lab.httpclient HOST PORT keepalive` opens one connection and,
for every line read on stdin, sends one GET on it and prints "<local port> <body>";
it never reconnects, so an answer proves the same connection still works.
`python -m pyvs.lab.httpclient HOST PORT download PATH RATE` GETs PATH and
reads the body at RATE bytes per second (the transfer goes on for as long as
the caller needs it to) until a line arrives on stdin, then at full speed; it
prints "<local port> CONNECTED" once connected and, at the end, "<local port>
<real server of X-Served-By> <body bytes> <sha256 of the body>".
A failed request prints "<local port or -> ERROR <reason>".
"""

from __future__ import annotations

import argparse
import hashlib
import select
import socket
import sys
import time

TIMEOUT = 5.0


def request_bytes(host: str, path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pyvs-lab\r\n\r\n".encode()


def read_headers(sock: socket.socket) -> tuple[dict[str, str], bytes]:
    """One response's headers (lower-case names) and the body bytes read with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode(errors="replace").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


def read_response(sock: socket.socket) -> str:
    """Read one HTTP/1.1 response with Content-Length from `sock`; return its body."""
    headers, body = read_headers(sock)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed in the response body")
        body += chunk
    return body[:length].decode(errors="replace").strip()


def one_exchange(sock: socket.socket, host: str) -> str:
    sock.sendall(request_bytes(host))
    return read_response(sock)


def run_new(host: str, port: int, count: int) -> int:
    failures = 0
    for _ in range(count):
        local = "-"
        try:
            with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
                local = str(sock.getsockname()[1])
                print(local, one_exchange(sock, host), flush=True)
        except OSError as exc:
            failures += 1
            print(local, "ERROR", exc, flush=True)
    return 1 if failures else 0


def run_keepalive(host: str, port: int) -> int:
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        local = str(sock.getsockname()[1])
        print(local, "CONNECTED", flush=True)
        for _line in sys.stdin:
            try:
                print(local, one_exchange(sock, host), flush=True)
            except OSError as exc:
                print(local, "ERROR", exc, flush=True)
                return 1
    return 0


def run_download(host: str, port: int, path: str, rate: int) -> int:
    """GET `path`, read it at `rate` bytes/s until a line on stdin, then at full speed."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        local = str(sock.getsockname()[1])
        print(local, "CONNECTED", flush=True)
        try:
            sock.sendall(request_bytes(host, path))
            headers, first = read_headers(sock)
            length = int(headers.get("content-length", "0"))
            digest = hashlib.sha256(first)
            received = len(first)
            started, slow = time.monotonic(), True
            while received < length:
                if slow and select.select([sys.stdin], [], [], 0)[0]:
                    slow = False
                if slow and received > rate * (time.monotonic() - started):
                    time.sleep(0.01)
                    continue
                chunk = sock.recv(min(65536, length - received))
                if not chunk:
                    raise ConnectionError(f"connection closed after {received} of {length} body bytes")
                digest.update(chunk)
                received += len(chunk)
        except OSError as exc:
            print(local, "ERROR", exc, flush=True)
            return 1
        served_by = headers.get("x-served-by", "-").removeprefix("served by ").replace(" ", "_")
        print(local, served_by, received, digest.hexdigest(), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvs.lab.httpclient", description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    sub = parser.add_subparsers(dest="mode", required=True)
    new = sub.add_parser("new", help="N requests, one new connection each")
    new.add_argument("count", type=int)
    sub.add_parser("keepalive", help="one connection, one request per stdin line")
    download = sub.add_parser("download", help="one GET read slowly until a line on stdin")
    download.add_argument("path")
    download.add_argument("rate", type=int, help="bytes per second until a line arrives on stdin")
    args = parser.parse_args(argv)
    if args.mode == "new":
        return run_new(args.host, args.port, args.count)
    if args.mode == "download":
        try:
            return run_download(args.host, args.port, args.path, args.rate)
        except OSError as exc:
            print("-", "ERROR", exc, flush=True)
            return 1
    try:
        return run_keepalive(args.host, args.port)
    except OSError as exc:
        print("-", "ERROR", exc, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
