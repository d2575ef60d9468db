"""A delayed link for a simulated node, for kernels built without netem.

The node's veth peer is taken off the testbed bridge; a forwarder process moves every frame
between it (an AF_PACKET socket) and a TAP device that takes its place on the bridge,
holding each frame for the delay in both directions. Frames keep their addresses, so open
connections carry on through it. `heal` puts the veth back on the bridge.

Run as `python link_delay.py VETH BRIDGE TAP DELAY_MS`: it prints "ready" once frames flow
and runs until SIGTERM.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
MAX_FRAME = 65536


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


class DelayLine:
    """Frames from `receive` come out of `send` `delay_s` later, in order."""

    def __init__(self, delay_s: float, send: Callable[[bytes], object]) -> None:
        self.delay_s = delay_s
        self.send = send
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.ready = threading.Condition()
        threading.Thread(target=self._drain, daemon=True).start()

    def receive(self, frame: bytes) -> None:
        with self.ready:
            self.queue.append((time.monotonic() + self.delay_s, frame))
            self.ready.notify()

    def _drain(self) -> None:
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                due, frame = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.ready.wait(wait)
                    continue
                self.queue.popleft()
            # a frame the other side refuses (too big, link down) is dropped, as on a wire
            with contextlib.suppress(OSError):
                self.send(frame)


def main() -> int:
    veth, bridge, tap, delay_ms = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tap_fd = open_tap(tap)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((veth, ETH_P_ALL))  # Python puts it in network order (0 would receive nothing)
    _ip("link", "set", veth, "nomaster")
    _ip("link", "set", tap, "master", bridge)
    _ip("link", "set", tap, "up")
    towards_bridge = DelayLine(delay_ms / 1000, lambda frame: os.write(tap_fd, frame))
    towards_node = DelayLine(delay_ms / 1000, raw.send)
    watched: list[socket.socket | int] = [raw, tap_fd]
    print("ready", flush=True)
    while not stop.is_set():
        readable, _, _ = select.select(watched, [], [], 0.2)
        if raw in readable:
            frame, address = raw.recvfrom(MAX_FRAME)
            if address[2] != PACKET_OUTGOING:  # not the frames we send ourselves
                towards_bridge.receive(frame)
        if tap_fd in readable:
            towards_node.receive(os.read(tap_fd, MAX_FRAME))
    _ip("link", "set", tap, "nomaster")
    _ip("link", "set", veth, "master", bridge)
    os.close(tap_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
