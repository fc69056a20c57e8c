#!/usr/bin/python3
"""The demo company's SMTP servers, on loopback, for the agents to probe.

    smtp_servers.py WORKDIR        make a CA and certificates in WORKDIR/pki, start every
                                   server below, write WORKDIR/endpoints.json, and run until
                                   standard input closes (or SIGTERM)

Each server gets its own loopback address (127.0.1.N, all routed to lo on Linux) and,
when this process may bind it, the real port of the service (25, 465, 587); otherwise
the port + 10000. The agents reach them through --resolve HOST:PORT:ADDR, keeping the
host name for SNI and the certificate check, so nothing ever leaves the machine. Real
servers are aiosmtpd (Debian's python3-aiosmtpd); the broken ones are the ways real
servers break: a certificate that expired, one issued for another name, STARTTLS not
offered, a port nobody listens on, a relay that never answers.

endpoints.json: {"ca": PATH, "endpoints": [{"name", "hostname", "port", "addr", "mode",
"role"}...], "unresolvable": [{"hostname", "port"}]}.
"""
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading

from aiosmtpd.smtp import SMTP

# name: (host name, service port, mode, certificate, role in the story)
ENDPOINTS = [
    ("o365", "smtp.office365.com", 587, "starttls", "valid", "current"),
    ("corp465", "smtp.example-corp.com", 465, "implicit", "expired", "legacy"),
    ("corp25", "mail.example-corp.com", 25, "plain", None, "legacy"),
    ("oldnet", "mx1.old-example-corp.net", 587, "refused", None, "legacy"),
    ("exchange", "exchange.example-corp.local", 587, "nostarttls", None, "legacy"),
    ("gmail", "smtp.gmail.com", 465, "implicit", "valid", "personal"),
    ("yahoo", "smtp.mail.yahoo.com", 465, "implicit", "valid", "personal"),
    ("fastmail", "smtp.fastmail.com", 465, "implicit", "wrongname", "personal"),
    ("hotel", "smtp.hotel-wifi.example", 25, "blackhole", None, "hotel"),
]
# Names configured on some Macs that no DNS knows: the ISP from 2012.
UNRESOLVABLE = [("smtp.isp-2012.invalid", 25)]

GOOD_NAMES = ["smtp.office365.com", "smtp.gmail.com", "smtp.mail.yahoo.com"]
CA_CNF = """[ ca ]
default_ca = demo
[ demo ]
dir = {d}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_pki(d):
    """A demo CA and three leaves: valid (the good names), expired (2020-2021, for
    smtp.example-corp.com) and wrongname (issued for another.example.net)."""
    os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("2000\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(CA_CNF.format(d=d))

    def key(path):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path)

    key(os.path.join(d, "ca.key"))
    openssl("req", "-x509", "-new", "-key", os.path.join(d, "ca.key"), "-days", "3650",
            "-subj", "/O=Example Corp/CN=Example Corp demo CA", "-out",
            os.path.join(d, "ca.pem"), "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaves = {
        "valid": ("smtp.office365.com", GOOD_NAMES, None),
        "expired": ("smtp.example-corp.com", ["smtp.example-corp.com"],
                    ("200101000000Z", "210101000000Z")),
        "wrongname": ("another.example.net", ["another.example.net"], None),
    }
    for name, (cn, sans, dates) in leaves.items():
        k, csr, ext = (os.path.join(d, name + s) for s in (".key", ".csr", ".ext"))
        key(k)
        openssl("req", "-new", "-key", k, "-subj", "/O=Example Corp/CN=" + cn, "-out", csr)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" %
                    ",".join("DNS:" + n for n in sans))
        span = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "397"]
        openssl("ca", "-batch", "-notext", "-config", os.path.join(d, "ca.cnf"), "-in", csr,
                "-out", os.path.join(d, name + ".pem"), "-extfile", ext, *span)


class Handler:
    """aiosmtpd wants a handler; the probe never sends mail."""


def bind(addr, port):
    """A socket bound to addr: the service port if allowed, else port + 10000, else any."""
    for p in (port, port + 10000, 0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, p))
            return s
        except OSError:
            s.close()
    raise OSError("cannot bind %s" % addr)


async def blackhole(reader, writer):
    await asyncio.sleep(3600)  # accept, then never say a word


async def start(loop, pki, idx, ep):
    name, host, port, mode, cert, role = ep
    addr = "127.0.1.%d" % (idx + 1)
    sock = bind(addr, port)
    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(pki, cert + ".pem"), os.path.join(pki, cert + ".key"))
    if mode == "refused":
        pass  # bound, never listening: connections are refused
    elif mode == "blackhole":
        sock.listen(64)
        sock.setblocking(False)
        await asyncio.start_server(blackhole, sock=sock)
    else:
        sock.listen(128)
        sock.setblocking(False)
        implicit = mode == "implicit"

        def factory():
            return SMTP(Handler(), hostname=host, ident="Example ESMTP",
                        tls_context=ctx if mode == "starttls" else None,
                        require_starttls=False,
                        auth_require_tls=mode != "plain", timeout=30, loop=loop)

        await loop.create_server(factory, sock=sock, ssl=ctx if implicit else None)
    return {"name": name, "hostname": host, "port": sock.getsockname()[1], "addr": addr,
            "mode": mode, "role": role, "_sock": sock}


async def main(work):
    pki = os.path.join(work, "pki")
    make_pki(pki)
    loop = asyncio.get_running_loop()
    eps = [await start(loop, pki, i, ep) for i, ep in enumerate(ENDPOINTS)]
    doc = {"ca": os.path.join(pki, "ca.pem"),
           "endpoints": [{k: v for k, v in e.items() if k != "_sock"} for e in eps],
           "unresolvable": [{"hostname": h, "port": p} for h, p in UNRESOLVABLE]}
    tmp = os.path.join(work, "endpoints.json.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.rename(tmp, os.path.join(work, "endpoints.json"))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def watch_stdin():
        while sys.stdin.buffer.read(4096):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: smtp_servers.py WORKDIR")
    asyncio.run(main(os.path.abspath(sys.argv[1])))
