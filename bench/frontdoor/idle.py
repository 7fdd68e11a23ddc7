#!/usr/bin/env python3
"""Open N keep-alive connections to HOST:PORT, send one GET on each, read the
full response, then keep every socket open and idle until SIGTERM/SIGINT or
HOLD seconds pass. Prints "ready OK FAILED" once all connections are idle.

Usage: idle.py [--tls] HOST PORT N [HOLD_SECONDS]
  --tls   connect over TLS (ALPN http/1.1, no certificate check: a benchmark
          against our own self-signed certificate on loopback)
Used by bench/frontdoor.sh and bench/tls.sh for the idle-connection RSS measurement.
"""
import asyncio
import resource
import signal
import ssl
import sys

TLS = None


async def one(host, port, sem, writers):
    async with sem:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=TLS), 10)
            w.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            await w.drain()
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await asyncio.wait_for(r.readexactly(length), 10)
            if not head.startswith(b"HTTP/1.1 200"):
                w.close()
                return False
            writers.append((r, w))
            return True
        except Exception:
            return False


async def main():
    global TLS
    if "--tls" in sys.argv:
        sys.argv.remove("--tls")
        TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        TLS.check_hostname = False
        TLS.verify_mode = ssl.CERT_NONE
        TLS.set_alpn_protocols(["http/1.1"])
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(20000, hard) if hard != resource.RLIM_INFINITY else 20000
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sem = asyncio.Semaphore(256)
    writers = []
    results = await asyncio.gather(*(one(host, port, sem, writers) for _ in range(n)))
    ok = sum(results)
    print(f"ready {ok} {n - ok}", flush=True)
    loop = asyncio.get_running_loop()
    # Hold until the driver sends SIGTERM (or SIGINT), or the hold time passes.
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    try:
        await asyncio.wait_for(done.wait(), hold)
    except asyncio.TimeoutError:
        pass
    alive = sum(1 for r, w in writers if not r.at_eof())
    print(f"closing {len(writers)} (still open at end: {alive})", flush=True)
    for _, w in writers:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
