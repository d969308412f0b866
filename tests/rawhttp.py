"""A raw HTTP/1.1 client for body-limit tests: sends a request head and as much of a body as the server
lets it, and tells how much it had sent when the answer came (httpx sends a whole body first)."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True)
class Answer:
    status: int
    """0 when no answer came in time."""
    body: bytes
    sent: int
    """Body bytes the client had sent when the answer came (or when it gave up)."""

    def error(self) -> str:
        return str(orjson.loads(self.body)["error"])


def chunked(parts: Iterable[bytes]) -> Iterable[bytes]:
    """`parts` in HTTP/1.1 chunked transfer encoding (without the terminating chunk)."""
    for part in parts:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"


def exchange(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    parts: Iterable[bytes],
    end: bytes = b"",
    wait: float = 10,
) -> Answer:
    """Send the head, then each of `parts` while the server has not answered, then `end`; the answer
    (status 0 if none within `wait` seconds after the last byte sent)."""
    where = urlsplit(url)
    head = f"{method} {path} HTTP/1.1\r\nhost: {where.hostname}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((where.hostname or "127.0.0.1", where.port or 80)) as sock:
        sock.sendall(head.encode())
        sent = 0
        answered = False
        for part in parts:
            if select.select([sock], [], [], 0.02)[0]:
                answered = True
                break
            try:
                sock.sendall(part)
            except OSError:  # the server closed the connection after answering
                answered = True
                break
            sent += len(part)
        if not answered and end:
            try:
                sock.sendall(end)
            except OSError:
                pass
        sock.settimeout(wait)
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < _expected(data):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return Answer(0, b"", sent)
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    return Answer(int(head_bytes.split(b" ", 2)[1]), body, sent)


def _expected(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(data) + 1  # no length: read to the end
