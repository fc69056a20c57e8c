#!/usr/bin/python3
"""SMTP servers on 127.0.0.1 for the probe's integration tests and benchmark.

    servers.py PKI_DIR PORTS_JSON [--only NAME,...] [--copies N] [--procs N]
               [--reply-delay MS]

Starts every case below in one asyncio loop, each on its own free loopback port
(bound here, so there is no race for ports), writes {"case": port, ...} to PORTS_JSON
and runs until its standard input is closed or it is killed. PKI_DIR comes from
pki.py. Real servers are aiosmtpd (Debian's python3-aiosmtpd); the hostile ones are
small asyncio servers that misbehave on purpose.

--procs N (default 1: everything in this one process) binds every listener here, then
serves them from N processes, each with its own asyncio loop and every Nth listener,
so that a benchmark with many listeners is not bound to one core by one Python
interpreter. PORTS_JSON is written once all N are serving; the extra processes end
when this one does.

--reply-delay MS (default 0) makes the aiosmtpd servers hold each reply (its last line)
for MS milliseconds: a stand-in for a server across the Internet, where a probe mostly
waits. Only the benchmark uses it.
"""
import asyncio
import json
import os
import signal
import socket
import ssl
import struct
import sys

from aiosmtpd.smtp import SMTP

# aiosmtpd cases: name -> (certificate base name or None, options)
REAL = {
    "valid": ("valid", {}),
    "expired": ("expired", {}),
    "notyet": ("notyet", {}),
    "wrongname": ("wrongname", {}),
    "selfsigned": ("selfsigned", {}),
    "required": ("valid", {"require_starttls": True}),
    "nostarttls": (None, {}),
    "implicit": ("valid", {"implicit": True}),
    "authplain": ("valid", {"auth_require_tls": False}),
}

HOSTILE = [
    "nobanner", "banner421", "drip", "hugeline", "badcode", "endless",
    "tlsgarbage", "tlsinject", "tlsalert", "tlsreset", "closeafterehlo", "blackhole",
    "refused",
]


class Handler:
    """aiosmtpd needs a handler; the probe never gets as far as MAIL FROM."""


REPLY_DELAY = 0.0  # seconds, --reply-delay


class SlowSMTP(SMTP):
    """aiosmtpd that holds the last line of each reply for REPLY_DELAY seconds."""

    async def push(self, status):
        line = status if isinstance(status, bytes) else status.encode("utf-8", "replace")
        if line[3:4] != b"-":
            await asyncio.sleep(REPLY_DELAY)
        await super().push(status)


def server_context(pki, base):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, base + ".pem"), os.path.join(pki, base + ".key"))
    return ctx


def listener(backlog=128):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    s.setblocking(False)
    return s


async def start_real(loop, pki, name, sock=None):
    base, opts = REAL[name]
    ctx = server_context(pki, base) if base else None
    implicit = opts.get("implicit", False)

    cls = SlowSMTP if REPLY_DELAY > 0 else SMTP

    def factory():
        return cls(Handler(), hostname=name + ".test", ident="mailfleet-test",
                   tls_context=None if implicit else ctx,
                   require_starttls=opts.get("require_starttls", False),
                   auth_require_tls=opts.get("auth_require_tls", not implicit),
                   timeout=30, loop=loop)

    sock = sock or listener()
    await loop.create_server(factory, sock=sock, ssl=ctx if implicit else None)
    return sock.getsockname()[1]


# ------------------------------------------------------------------------------------
# Hostile servers: each a coroutine (reader, writer) that misbehaves in one way.

async def say(w, data):
    w.write(data)
    await w.drain()


async def until_starttls(r, w, host):
    """Greet, answer EHLO with STARTTLS, accept STARTTLS. False if the client left."""
    await say(w, b"220 " + host + b" ESMTP hostile\r\n")
    while True:
        line = await r.readline()
        if not line:
            return False
        verb = line.strip().split(b" ")[0].upper()
        if verb in (b"EHLO", b"HELO"):
            await say(w, b"250-" + host + b"\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n")
        elif verb == b"STARTTLS":
            await say(w, b"220 go ahead\r\n")
            return True
        elif verb == b"QUIT":
            await say(w, b"221 bye\r\n")
            return False
        else:
            await say(w, b"502 no\r\n")


async def h_nobanner(r, w):
    await asyncio.sleep(3600)


async def h_banner421(r, w):
    await say(w, b"421 banner421.test too busy, try again later\r\n")
    w.close()


async def h_drip(r, w):
    for b in b"220 drip.test ESMTP slowly\r\n":
        await say(w, bytes([b]))
        await asyncio.sleep(1)
    await asyncio.sleep(3600)


async def h_hugeline(r, w):
    await say(w, b"220 " + b"A" * (1024 * 1024) + b"\r\n")
    await asyncio.sleep(30)


async def h_badcode(r, w):
    await say(w, b"2x0 badcode.test this is not a reply code\r\n")
    await asyncio.sleep(30)


async def h_endless(r, w):
    n = 0
    while True:  # ten lines a write, so the client's line cap is reached quickly
        await say(w, b"".join(b"220-endless.test line %d\r\n" % (n + i) for i in range(10)))
        n += 10
        await asyncio.sleep(0.005)


async def h_tlsgarbage(r, w):
    if await until_starttls(r, w, b"tlsgarbage.test"):
        await r.read(5)  # the ClientHello has started: answer it with garbage
        await say(w, b"this is not TLS at all, just plain text garbage\r\n" * 20)
        await asyncio.sleep(30)


async def h_tlsinject(r, w):
    """Plain text right behind "220 go ahead", in the same write: what a STARTTLS
    command injection looks like from the client's side."""
    await say(w, b"220 tlsinject.test ESMTP hostile\r\n")
    while True:
        line = await r.readline()
        if not line:
            return
        verb = line.strip().split(b" ")[0].upper()
        if verb == b"EHLO":
            await say(w, b"250-tlsinject.test\r\n250 STARTTLS\r\n")
        elif verb == b"STARTTLS":
            await say(w, b"220 go ahead\r\n250 injected reply\r\n")
            await asyncio.sleep(30)
            return
        else:
            await say(w, b"221 bye\r\n")
            return


async def h_tlsalert(r, w):
    if await until_starttls(r, w, b"tlsalert.test"):
        await r.read(5)  # the start of the ClientHello
        # A fatal handshake_failure alert (level 2, description 40) in a TLS 1.2 record.
        await say(w, struct.pack("!BHH", 21, 0x0303, 2) + bytes([2, 40]))
        await asyncio.sleep(0.5)
        w.close()


async def h_tlsreset(r, w):
    if await until_starttls(r, w, b"tlsreset.test"):
        await r.read(5)
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()


async def h_closeafterehlo(r, w):
    await say(w, b"220 closeafterehlo.test ESMTP\r\n")
    line = await r.readline()
    if line:
        await say(w, b"250-closeafterehlo.test\r\n250 STARTTLS\r\n")
    w.close()


HANDLERS = {name: globals()["h_" + name] for name in HOSTILE
            if "h_" + name in globals()}


def wrap(handler):
    async def run(r, w):
        try:
            await handler(r, w)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            try:
                w.close()
            except Exception:
                pass
    return run


KEEP = []  # sockets that must stay open for the run


UNSERVED = ("blackhole", "refused")  # hostile cases that need no event loop


def bind_unserved(name):
    if name == "blackhole":
        # A listener that never accepts, with its queue already full: Linux drops
        # further SYNs, so a connect neither succeeds nor fails (a black hole).
        s = listener(backlog=0)
        port = s.getsockname()[1]
        KEEP.append(s)
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            KEEP.append(c)
        return port
    if name == "refused":
        # Bound but not listening: the port stays ours and connecting is refused.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        KEEP.append(s)
        return s.getsockname()[1]
    raise ValueError(name)


async def start_hostile(loop, name, sock=None):
    if name in UNSERVED:
        return bind_unserved(name)
    sock = sock or listener()
    await asyncio.start_server(wrap(HANDLERS[name]), sock=sock)
    return sock.getsockname()[1]


def parse_args():
    global REPLY_DELAY
    pki, out = sys.argv[1], sys.argv[2]
    only = None
    copies = 1
    procs = 1
    args = sys.argv[3:]
    while args:
        if args[0] == "--only":
            only = set(args[1].split(","))
            args = args[2:]
        elif args[0] == "--copies":
            copies = int(args[1])
            args = args[2:]
        elif args[0] == "--procs":
            procs = int(args[1])
            if procs < 1:
                sys.exit("servers.py: --procs must be at least 1")
            args = args[2:]
        elif args[0] == "--reply-delay":
            REPLY_DELAY = int(args[1]) / 1000.0
            args = args[2:]
        else:
            sys.exit("servers.py: unknown argument " + args[0])
    return pki, out, only, copies, procs


def cases(only, copies):
    """(key in PORTS_JSON, case name) for every listener, in a fixed order."""
    for name in list(REAL) + HOSTILE:
        if only and name not in only:
            continue
        for i in range(copies):
            yield (name if copies == 1 else "%s%d" % (name, i)), name


def write_ports(out, ports):
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, out)


async def main():
    pki, out, only, copies, _ = parse_args()
    loop = asyncio.get_running_loop()
    ports = {}
    for key, name in cases(only, copies):
        if name in REAL:
            ports[key] = await start_real(loop, pki, name)
        else:
            ports[key] = await start_hostile(loop, name)
    write_ports(out, ports)
    # Run until the parent closes our stdin (or kills us): no orphan servers.
    await loop.run_in_executor(None, sys.stdin.read)


# ------------------------------------------------------------------------------------
# --procs N: the listeners are bound here, before any fork, so every port is known
# and fixed; each process then serves its share with its own loop.

async def serve_share(pki, share):
    loop = asyncio.get_running_loop()
    for _, name, sock in share:
        if name in REAL:
            await start_real(loop, pki, name, sock)
        else:
            await start_hostile(loop, name, sock)


async def child_main(pki, share, ready_fd, life_fd):
    await serve_share(pki, share)
    os.write(ready_fd, b"x")
    os.close(ready_fd)
    # The parent holds the write end of life_fd: end of file means it has gone.
    await asyncio.get_running_loop().run_in_executor(None, os.read, life_fd, 1)


async def parent_main(pki, out, share, ports, ready_fd, nchildren):
    await serve_share(pki, share)
    loop = asyncio.get_running_loop()
    ready = 0
    while ready < nchildren:
        got = await loop.run_in_executor(None, os.read, ready_fd, 64)
        if not got:
            sys.exit("servers.py: a server process ended before it was serving")
        ready += len(got)
    write_ports(out, ports)
    await loop.run_in_executor(None, sys.stdin.read)


def main_procs():
    pki, out, only, copies, procs = parse_args()
    ports = {}
    shares = [[] for _ in range(procs)]
    n = 0
    for key, name in cases(only, copies):
        if name in UNSERVED:
            ports[key] = bind_unserved(name)
            continue
        sock = listener()
        ports[key] = sock.getsockname()[1]
        shares[n % procs].append((key, name, sock))
        n += 1
    ready_r, ready_w = os.pipe()
    life_r, life_w = os.pipe()
    children = []
    for i in range(1, procs):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.close(ready_r)
                os.close(life_w)
                for j, other in enumerate(shares):
                    if j != i:
                        for _, _, sock in other:
                            sock.close()
                asyncio.run(child_main(pki, shares[i], ready_w, life_r))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    os.close(ready_w)
    os.close(life_r)
    for other in shares[1:]:
        for _, _, sock in other:
            sock.close()
    try:
        asyncio.run(parent_main(pki, out, shares[0], ports, ready_r, len(children)))
    finally:
        os.close(life_w)
        for pid in children:
            os.waitpid(pid, 0)


if __name__ == "__main__":
    try:
        if "--procs" in sys.argv[3:] and parse_args()[4] > 1:
            main_procs()
        else:
            asyncio.run(main())
    except KeyboardInterrupt:
        pass
