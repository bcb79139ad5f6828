"""A lean HTTP/1.1 load client: keep-alive sockets, requests serialised in advance, so that the client spends
as little of the machine's two cores as possible. Several processes of several threads each."""

import multiprocessing
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    started: float = float("inf")  # time.monotonic() of the first request sent (system-wide clock)
    finished: float = 0.0  # of the last response received
    latencies: list[float] = field(default_factory=list)  # seconds, one per request
    statuses: dict[int, int] = field(default_factory=dict)
    sample: bytes = b""  # one response body that was not 2xx, to show what went wrong

    @property
    def seconds(self) -> float:
        return max(self.finished - self.started, 1e-9)

    def merge(self, other: "LoadResult") -> None:
        self.started = min(self.started, other.started)
        self.finished = max(self.finished, other.finished)
        self.latencies.extend(other.latencies)
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.sample = self.sample or other.sample


def http_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Connection:
    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port))
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            try:
                self.sock.sendall(request)
                return self._response()
            except (ConnectionError, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            self.buffer = rest
            self._fill()
            rest = self.buffer
        body, self.buffer = rest[:length], rest[length:]
        if close:
            self.close()
        return status, body

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionResetError("server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def _thread(port: int, requests: list[bytes], start_at: float, out: LoadResult, lock: threading.Lock) -> None:
    connection, mine = _Connection(port), LoadResult()
    latencies, statuses = mine.latencies, mine.statuses
    while time.monotonic() < start_at:
        time.sleep(0.001)
    mine.started = time.monotonic()
    for request in requests:
        sent = time.perf_counter()
        status, body = connection.exchange(request)
        latencies.append(time.perf_counter() - sent)
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 300 and not mine.sample:
            mine.sample = body[:500]
    mine.finished = time.monotonic()
    connection.close()
    with lock:
        out.merge(mine)


def _process(port: int, shares: list[list[bytes]], start_at: float, pipe) -> None:
    result, lock = LoadResult(), threading.Lock()
    threads = [threading.Thread(target=_thread, args=(port, share, start_at, result, lock)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pipe.send(result)
    pipe.close()


def run_load(port: int, requests: list[bytes], *, processes: int, threads: int) -> LoadResult:
    """Send every request once, over processes × threads keep-alive connections, all starting together."""
    connections = processes * threads
    shares = [requests[i::connections] for i in range(connections)]
    context = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.5 + 0.05 * processes
    children, pipes = [], []
    for p in range(processes):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_process, args=(port, shares[p::processes], start_at, sender), daemon=True)
        child.start()
        children.append(child)
        pipes.append(receiver)
    result = LoadResult()
    for receiver in pipes:
        result.merge(receiver.recv())
    for child in children:
        child.join()
    return result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")
