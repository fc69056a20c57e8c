#!/usr/bin/python3
"""Headless Chromium driven over the DevTools protocol, with the standard library only.

    with Browser() as b:
        page = b.open("file:///tmp/report.html")      # waits for the load event
        page.console        # every console message and uncaught exception, as text
        page.requests       # every URL the page asked for besides itself
        page.timing         # {"dom_content_loaded_ms": …, "load_ms": …} from the page
        page.scripts        # with open(..., debugger=True): the URL of every script the
                            # page compiled (inline scripts and event handlers included)
        page.evaluate("document.title")
        page.screenshot("shot.png", width=1280, height=2400)

A fresh --user-data-dir is made for every browser and removed afterwards. The WebSocket
client below is the minimum RFC 6455 needs: client frames masked, server frames
unmasked, text and continuation frames, ping answered with pong.
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--hide-scrollbars"]


class CDPError(Exception):
    pass


def available():
    return os.access(CHROMIUM, os.X_OK)


class WebSocket:
    def __init__(self, url, timeout=60):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        if not m:
            raise CDPError("bad websocket url " + url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CDPError("websocket handshake: connection closed")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n")[0]:
            raise CDPError("websocket handshake refused: %r" % status[:200])
        self.buf = rest

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise CDPError("websocket closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, text):
        payload = text.encode()
        head = bytearray([0x81])
        n = len(payload)
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head += struct.pack(">H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack(">Q", n)
        mask = os.urandom(4)
        head += mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(head) + masked)

    def _send_control(self, opcode, payload=b""):
        mask = os.urandom(4)
        frame = bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + \
            bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(frame)

    def recv(self):
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            if b1 & 0x80:
                mask = self._read(4)
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(n)))
            else:
                data = self._read(n)
            if opcode == 0x9:  # ping
                self._send_control(0xA, data)
                continue
            if opcode == 0x8:
                raise CDPError("websocket closed by the browser")
            if opcode in (0x1, 0x2, 0x0):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self):
        try:
            self._send_control(0x8)
        except OSError:
            pass
        self.sock.close()


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []
        self.console = []
        self.requests = []
        self.scripts = []
        self.timing = {}

    def call(self, method, timeout=120, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise CDPError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self._event(msg)
        raise CDPError(method + ": no answer")

    def _event(self, msg):
        method = msg.get("method")
        if not method:
            return
        self.events.append(method)
        p = msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.console.append("console.%s: %s" % (p.get("type"), text))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.console.append("exception: %s %s" % (d.get("text", ""),
                                                        d.get("exception", {}).get("description", "")))
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            self.console.append("log.%s: %s" % (e.get("level"), e.get("text")))
        elif method == "Debugger.scriptParsed":
            self.scripts.append(p.get("url", ""))
        elif method == "Network.requestWillBeSent":
            self.requests.append(p.get("request", {}).get("url", ""))

    def wait_event(self, name, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self._event(msg)
            if msg.get("method") == name:
                return msg.get("params", {})
        raise CDPError("timed out waiting for " + name)

    def evaluate(self, expr, timeout=120):
        r = self.call("Runtime.evaluate", timeout=timeout, expression=expr, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise CDPError("evaluate %r: %s" % (expr, r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    def print_pdf(self):
        """The page printed by Chromium (print media, backgrounds on); PDF bytes."""
        r = self.call("Page.printToPDF", timeout=300, printBackground=True,
                      preferCSSPageSize=False)
        return base64.b64decode(r["data"])

    def media(self, kind):
        """Emulate a CSS media type ("print", "screen", or "" for none)."""
        self.call("Emulation.setEmulatedMedia", media=kind)

    def screenshot(self, path, width=1280, height=2000):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        r = self.call("Page.captureScreenshot", format="png",
                      clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                      captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))


class Browser:
    def __init__(self, extra_flags=()):
        self.extra = list(extra_flags)
        self.proc = None
        self.dir = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="mf-chromium-")
        self.log = open(os.path.join(self.dir, "stderr.txt"), "w+")
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + self.extra +
            ["--user-data-dir=" + os.path.join(self.dir, "profile"),
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            if self.proc.poll() is not None:
                break
            self.log.seek(0)
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", self.log.read())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.1)
        if self.port is None:
            self.__exit__(None, None, None)
            raise CDPError("chromium did not start its DevTools endpoint")
        return self

    def open(self, url, timeout=300, scripts=True, debugger=False):
        """A new tab showing url; returns when its load event has fired. scripts=False
        opens it with JavaScript disabled; debugger=True records in page.scripts every
        script V8 compiles for the page (an injected <script>, event handler or
        javascript: URL that ran would be one of them)."""
        req = urllib.request.Request("http://127.0.0.1:%d/json/new?about:blank" % self.port,
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=30) as r:
            target = json.loads(r.read())
        page = Page(WebSocket(target["webSocketDebuggerUrl"], timeout=timeout))
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(domain + ".enable")
        if debugger:
            page.call("Debugger.enable")
        if not scripts:
            page.call("Emulation.setScriptExecutionDisabled", value=True)
        page.requests.clear()
        page.scripts.clear()
        page.call("Page.navigate", url=url)
        page.wait_event("Page.loadEventFired", timeout=timeout)
        # What the page compiled by itself, before any evaluate() of the caller.
        page.scripts = [u for u in page.scripts if u]
        if not scripts:
            page.timing = {}
            page.requests = [u for u in page.requests if u != url]
            return page
        nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
        nav = json.loads(nav) if nav else {}
        page.timing = {
            "dom_content_loaded_ms": round(nav.get("domContentLoadedEventEnd", 0), 1),
            "load_ms": round(nav.get("loadEventEnd", 0) or nav.get("duration", 0), 1),
        }
        # The page itself is not an outside request.
        page.requests = [u for u in page.requests if u != url]
        return page

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
