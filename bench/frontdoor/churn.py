#!/usr/bin/env python3
"""Send N requests to HOST:PORT, each on a new connection (`Connection: close`),
from C threads; read each response to the close. Prints "done OK FAILED".

Usage: churn.py HOST PORT N [C]
Used by bench/frontdoor-callgrind.sh: an exact request count, where wrk is
time-bounded.
"""
import socket
import sys
import threading

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def worker(host, port, n, counts, i):
    ok = failed = 0
    for _ in range(n):
        try:
            with socket.create_connection((host, port), timeout=30) as s:
                s.sendall(REQUEST)
                got = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            if got.startswith(b"HTTP/1.1 200 "):
                ok += 1
            else:
                failed += 1
        except OSError:
            failed += 1
    counts[i] = (ok, failed)


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    c = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    counts = [(0, 0)] * c
    threads = [
        threading.Thread(target=worker, args=(host, port, n // c + (i < n % c), counts, i))
        for i in range(c)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("done", sum(o for o, _ in counts), sum(f for _, f in counts))


if __name__ == "__main__":
    main()
