"""The lab clients' HTTP client, on plain sockets so each connection is explicit.

`python -m pyvs.lab.httpclient HOST PORT new N` makes N sequential requests,
each on a new TCP connection, and prints "<local port> <body>" per request.
`python -m pyvs.lab.httpclient HOST PORT keepalive` opens one connection and,
for every line read on stdin, sends one GET on it and prints "<local port> <body>";
it never reconnects, so an answer proves the same connection still works.
A failed request prints "<local port or -> ERROR <reason>".
"""

from __future__ import annotations

import argparse
import socket
import sys

TIMEOUT = 5.0


def request_bytes(host: str, path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pyvs-lab\r\n\r\n".encode()


def read_response(sock: socket.socket) -> str:
    """Read one HTTP/1.1 response with Content-Length from `sock`; return its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvs.lab.httpclient", description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    sub = parser.add_subparsers(dest="mode", required=True)
    new = sub.add_parser("new", help="N requests, one new connection each")
    new.add_argument("count", type=int)
    sub.add_parser("keepalive", help="one connection, one request per stdin line")
    args = parser.parse_args(argv)
    if args.mode == "new":
        return run_new(args.host, args.port, args.count)
    try:
        return run_keepalive(args.host, args.port)
    except OSError as exc:
        print("-", "ERROR", exc, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
