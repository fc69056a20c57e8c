#!/usr/bin/python3
"""SMTP servers on 127.0.0.1 for the probe's integration tests and benchmark.

    servers.py PKI_DIR PORTS_JSON [--only NAME,...] [--copies N]

Starts every case below in one asyncio loop, each on its own free loopback port
(bound here, so there is no race for ports), writes {"case": port, ...} to PORTS_JSON
and runs until its standard input is closed or it is killed. PKI_DIR comes from
pki.py. Real servers are aiosmtpd (Debian's python3-aiosmtpd); the hostile ones are
small asyncio servers that misbehave on purpose.
"""
import asyncio
import json
import os
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


async def start_real(loop, pki, name):
    base, opts = REAL[name]
    ctx = server_context(pki, base) if base else None
    implicit = opts.get("implicit", False)

    def factory():
        return SMTP(Handler(), hostname=name + ".test", ident="mailfleet-test",
                    tls_context=None if implicit else ctx,
                    require_starttls=opts.get("require_starttls", False),
                    auth_require_tls=opts.get("auth_require_tls", not implicit),
                    timeout=30, loop=loop)

    sock = listener()
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


async def start_hostile(loop, name):
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
    sock = listener()
    await asyncio.start_server(wrap(HANDLERS[name]), sock=sock)
    return sock.getsockname()[1]


async def main():
    pki, out = sys.argv[1], sys.argv[2]
    only = None
    copies = 1
    args = sys.argv[3:]
    while args:
        if args[0] == "--only":
            only = set(args[1].split(","))
            args = args[2:]
        elif args[0] == "--copies":
            copies = int(args[1])
            args = args[2:]
        else:
            sys.exit("servers.py: unknown argument " + args[0])
    loop = asyncio.get_running_loop()
    ports = {}
    for name in list(REAL) + HOSTILE:
        if only and name not in only:
            continue
        for i in range(copies):
            key = name if copies == 1 else "%s%d" % (name, i)
            if name in REAL:
                ports[key] = await start_real(loop, pki, name)
            else:
                ports[key] = await start_hostile(loop, name)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, out)
    # Run until the parent closes our stdin (or kills us): no orphan servers.
    await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
