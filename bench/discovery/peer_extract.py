#!/usr/bin/python3
"""peer_extract.py: the benchmark's peer, a straightforward Python take on the agent's
discovery (what an admin would write first): plistlib for Apple Mail's Accounts.plist,
MailMate and configuration profiles, sqlite3 for the Accounts4 store (read from a
private copy, as the agent does, so nothing is written next to the original), a small
NSKeyedArchiver unwrapper, and a regular expression for Thunderbird's prefs.js.

Usage: peer_extract.py [--users-root DIR] [--profiles DIR] [HOME...]
Prints a JSON summary: the SMTP servers and accounts found, with their links.
It does the same reading as `mailfleet-agent collect --no-probe`, without the agent's
hardening (size caps, error reporting per file, lock checks): a fair, simple peer.
"""

import configparser
import glob
import json
import os
import plistlib
import re
import shutil
import sqlite3
import sys
import tempfile
import urllib.parse

servers, accounts = [], []


def add_server(user, client, host, port, ssl, username, ident=None):
    servers.append({"id": "s%d" % (len(servers) + 1), "user": user, "client": client,
                    "hostname": (host or "").strip().lower() or None, "port": port,
                    "ssl": ssl, "username": username, "ident": ident})
    return servers[-1]["id"]


def add_account(user, client, kind, emails, smtp):
    accounts.append({"id": "a%d" % (len(accounts) + 1), "user": user, "client": client,
                     "type": kind, "emails": emails, "smtp": smtp})


def as_int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def as_bool(v):
    if isinstance(v, str):
        return v.strip().upper() in ("YES", "TRUE", "1")
    return bool(v)


# Apple Mail: Accounts.plist -------------------------------------------------------------

def accounts_plist(user, path):
    try:
        with open(path, "rb") as f:
            doc = plistlib.load(f)
    except Exception:
        return
    if not isinstance(doc, dict):
        return
    ids = {}
    for d in doc.get("DeliveryAccounts", []):
        if not isinstance(d, dict):
            continue
        sid = add_server(user, "apple-mail", d.get("Hostname"), as_int(d.get("PortNumber")),
                         as_bool(d.get("SSLEnabled", False)), d.get("Username"))
        key = (d.get("Hostname") or "").strip().lower()
        ids["%s:%s" % (key, d["Username"]) if d.get("Username") else key] = sid
    for m in doc.get("MailAccounts", []):
        if not isinstance(m, dict):
            continue
        ref = m.get("SMTPIdentifier") or ""
        host, _, u = ref.rpartition(":") if ":" in ref else (ref, "", "")
        key = "%s:%s" % (host.strip().lower(), u) if u else ref.strip().lower()
        add_account(user, "apple-mail", m.get("AccountType"), m.get("EmailAddresses", []),
                    ids.get(key))


# Apple Mail: Accounts4.sqlite ------------------------------------------------------------

def unarchive(blob):
    try:
        p = plistlib.loads(blob)
    except Exception:
        try:
            return blob.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not (isinstance(p, dict) and p.get("$archiver") == "NSKeyedArchiver"):
        return p
    objs = p["$objects"]

    def obj(u):
        v = objs[u.data if isinstance(u, plistlib.UID) else u]
        if isinstance(v, dict):
            if "NS.string" in v:
                return v["NS.string"]
            if "NS.keys" in v:
                return {obj(k): obj(x) for k, x in zip(v["NS.keys"], v["NS.objects"])}
            if "NS.objects" in v:
                return [obj(x) for x in v["NS.objects"]]
        return None if v == "$null" else v
    return obj(p["$top"]["root"])


def accounts4(user, path):
    tmp = tempfile.mkdtemp()
    try:
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                shutil.copyfile(path + suffix, os.path.join(tmp, "a.sqlite" + suffix))
        db = sqlite3.connect(os.path.join(tmp, "a.sqlite"))
        rows = db.execute("SELECT a.Z_PK, t.ZIDENTIFIER, a.ZIDENTIFIER, a.ZUSERNAME,"
                          " a.ZPARENTACCOUNT FROM ZACCOUNT a JOIN ZACCOUNTTYPE t"
                          " ON t.Z_PK = a.ZACCOUNTTYPE").fetchall()
        props = {}
        for owner, key, val in db.execute("SELECT ZOWNER, ZKEY, ZVALUE FROM ZACCOUNTPROPERTY"):
            if "password" not in key.lower():
                props.setdefault(owner, {})[key] = unarchive(val)
        db.close()
    except sqlite3.Error:
        return
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    by_uuid, by_ref = {}, {}
    for pk, kind, uuid, uname, parent in rows:
        if kind.endswith(".SMTP"):
            p = props.get(pk, {})
            sid = add_server(user, "apple-mail", p.get("Hostname"), as_int(p.get("PortNumber")),
                             bool(p.get("SSLEnabled")), uname, uuid)
            by_uuid[uuid] = sid
            host = (p.get("Hostname") or "").lower()
            by_ref["%s:%s" % (host, uname) if uname else host] = sid
    for pk, kind, uuid, uname, parent in rows:
        if kind.endswith(".SMTP") or kind.endswith(".AppleAccount"):
            continue
        p = props.get(pk, {})
        link = by_uuid.get(p.get("SendingAccountIdentifier")) or by_ref.get(p.get("SMTPIdentifier"))
        add_account(user, "apple-mail", kind.rsplit(".", 1)[1], p.get("EmailAddresses", []), link)


# Thunderbird ------------------------------------------------------------------------------

PREF = re.compile(r'user_pref\("([^"]+)",\s*("(?:[^"\\]|\\.)*"|-?\d+|true|false)\);')


def read_prefs(path, prefs):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return
    for name, raw in PREF.findall(text):
        if "password" in name:
            continue
        prefs[name] = json.loads(raw) if raw[0] == '"' else (
            raw == "true" if raw in ("true", "false") else int(raw))


def thunderbird(user, home):
    base = os.path.join(home, "Library/Thunderbird")
    ini = configparser.ConfigParser(interpolation=None)
    if not ini.read(os.path.join(base, "profiles.ini")):
        return
    for sec in ini.sections():
        if not sec.startswith("Profile"):
            continue
        path = ini[sec].get("Path", "")
        if ini[sec].get("IsRelative", "1") == "1":
            path = os.path.join(base, path)
        prefs = {}
        read_prefs(os.path.join(path, "prefs.js"), prefs)
        read_prefs(os.path.join(path, "user.js"), prefs)
        ids = {}
        for key in filter(None, prefs.get("mail.smtpservers", "").split(",")):
            g = lambda k, d=None: prefs.get("mail.smtpserver.%s.%s" % (key, k),
                                            prefs.get("mail.smtpserver.default." + k, d))
            ids[key] = add_server(user, "thunderbird", g("hostname"), g("port", 0),
                                  g("try_ssl", 0) > 0, g("username"))
        default = prefs.get("mail.smtp.defaultserver")
        for acc in filter(None, prefs.get("mail.accountmanager.accounts", "").split(",")):
            for ident in filter(None, prefs.get("mail.account.%s.identities" % acc, "").split(",")):
                key = prefs.get("mail.identity.%s.smtpServer" % ident) or default
                add_account(user, "thunderbird",
                            prefs.get("mail.server.%s.type" % prefs.get("mail.account.%s.server" % acc)),
                            [prefs.get("mail.identity.%s.useremail" % ident)], ids.get(key))


# MailMate, profiles ------------------------------------------------------------------------

def mailmate(user, home):
    path = os.path.join(home, "Library/Application Support/MailMate/Submission.plist")
    try:
        with open(path, "rb") as f:
            doc = plistlib.load(f)
    except Exception:
        return
    for s in doc.get("smtpServers", []):
        u = urllib.parse.urlsplit(s.get("serverURL", ""))
        sid = add_server(user, "mailmate", u.hostname, as_int(s.get("port")) or u.port,
                         u.scheme == "smtps", urllib.parse.unquote(u.username or ""))
        add_account(user, "mailmate", "other", [], sid)


def profiles(folder):
    for path in sorted(glob.glob(os.path.join(folder, "*.mobileconfig"))):
        with open(path, "rb") as f:
            data = f.read()
        if not data.lstrip().startswith((b"<?xml", b"bplist")):
            start, end = data.find(b"<?xml"), data.rfind(b"</plist>")
            data = data[start:end + 8]
        try:
            doc = plistlib.loads(data)
        except Exception:
            continue
        for p in doc.get("PayloadContent", []):
            if p.get("PayloadType") != "com.apple.mail.managed":
                continue
            sid = add_server("", "profile", p.get("OutgoingMailServerHostName"),
                             p.get("OutgoingMailServerPortNumber"),
                             p.get("OutgoingMailServerUseSSL", False),
                             p.get("OutgoingMailServerUsername"))
            add_account("", "profile", p.get("EmailAccountType"), [p.get("EmailAddress")], sid)


def scan_home(home):
    user = os.path.basename(home.rstrip("/"))
    mail = os.path.join(home, "Library/Mail")
    vdirs = sorted((d for d in (os.listdir(mail) if os.path.isdir(mail) else [])
                    if re.fullmatch(r"V\d+", d)), key=lambda d: int(d[1:]))
    for v in vdirs:
        p = os.path.join(mail, v, "MailData/Accounts.plist")
        if os.path.isfile(p):
            accounts_plist(user, p)
    prefs = os.path.join(home, "Library/Preferences/com.apple.mail.plist")
    if os.path.isfile(prefs):
        accounts_plist(user, prefs)
    a4 = os.path.join(home, "Library/Accounts/Accounts4.sqlite")
    if os.path.isfile(a4):
        accounts4(user, a4)
    thunderbird(user, home)
    mailmate(user, home)


def main(argv):
    homes, profile_dirs, i = [], [], 1
    while i < len(argv):
        if argv[i] == "--users-root":
            root = argv[i + 1]
            homes += [os.path.join(root, d) for d in sorted(os.listdir(root))
                      if not d.startswith(".") and os.path.isdir(os.path.join(root, d))]
            i += 2
        elif argv[i] == "--profiles":
            profile_dirs.append(argv[i + 1])
            i += 2
        else:
            homes.append(argv[i])
            i += 1
    for h in homes:
        scan_home(h)
    for d in profile_dirs:
        profiles(d)
    used = {a["smtp"] for a in accounts}
    for s in servers:
        s["unused"] = s["id"] not in used
    json.dump({"servers": servers, "accounts": accounts}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
