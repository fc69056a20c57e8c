#!/usr/bin/python3
"""The demo company's Macs: home folders as real Macs have them, built with the fixture
builder (tests/fixtures/mkfixtures.py).

    fleet.py OUTDIR --endpoints ENDPOINTS.json [--macs 200] [--seed 7] [--jobs N]

Writes OUTDIR/macs/<serial>/Users/<user>/… (and …/Profiles/ for managed Macs) and
OUTDIR/fleet.json: [{"serial", "hostname", "os", "user", "users_root", "profiles"}].

The company moved its mail to Microsoft 365 (smtp.office365.com). Macs set up before the
move (about 45 %) still carry the old servers in Apple Mail's account store: the
implicit-TLS server whose certificate has since expired, the plain-text port-25 relay
that was shut down, a server of the company merged in 2019 that now refuses
connections, the on-premises Exchange, and an ISP from 2012 whose name no longer
resolves. Some Macs also have Thunderbird or MailMate, an MDM profile, personal Gmail,
Yahoo or Fastmail accounts (Fastmail's certificate does not match its name here), iCloud
(provider-managed: no host name is stored), a hotel's relay that never answers, or a
damaged Accounts.plist. The same seed gives the same fleet.
"""
import argparse
import json
import multiprocessing
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
import mkfixtures as fx  # noqa: E402

FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "kim", "leo", "mallory", "niaj", "olivia", "peggy", "quinn", "rupert", "sybil",
         "trent", "uma", "victor", "walter", "xena", "yasmin", "zoe"]
MODELS = ["mbp", "mba", "imac", "studio", "mini"]
OS = ["12.7.6", "13.6.9", "14.5", "14.7.1", "15.1", "15.2"]
ORG = "example-corp.com"


def serial(rng):
    return "C02" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(9))


def smtp_row(host, port, user, ssl, year=2015, direct=None, auth=True):
    props = {"Hostname": host, "PortNumber": port, "SSLEnabled": ssl,
             "ShouldUseAuthentication": auth, "MaxMessageBytes": 31457280}
    if direct is not None:
        props["SSLIsDirect"] = direct
    return fx.acct("SMTP", desc=host, username=user, props=props, year=year,
                   ident=fx.fixed_uuid("demo-smtp:%s:%s:%s" % (host, port, user)))


def build_mac(out, rng, n, ports):
    user = FIRST[n % len(FIRST)] + ("" if n < len(FIRST) else str(n // len(FIRST)))
    ser = serial(rng)
    # Real fleets have host names that repeat; a few default ones here.
    hostname = "MacBook-Pro" if rng.random() < 0.03 else "%s-%s" % (user, rng.choice(MODELS))
    root = os.path.join(out, "macs", ser)
    case = fx.Case(root)
    h = case.home(user)
    email = "%s@%s" % (user, ORG)
    migrated = rng.random() < 0.45
    accts = []
    # The current account: Microsoft 365, STARTTLS on 587.
    accts += fx.accounts4_imap_pair("Example Corp", email, "smtp.office365.com",
                                    "outlook.office365.com", port=ports["smtp.office365.com"],
                                    ssl=True, year=2023, seed=ser)
    legacy = []
    if migrated:
        choices = [("smtp.example-corp.com", True, True), ("mail.example-corp.com", False, None),
                   ("mx1.old-example-corp.net", True, False),
                   ("exchange.example-corp.local", True, False),
                   ("smtp.isp-2012.invalid", False, None)]
        legacy = rng.sample(choices, rng.randint(1, 3))
        for host, ssl, direct in legacy:
            accts.append(smtp_row(host, ports[host], user, ssl, direct=direct,
                                  year=rng.choice([2014, 2016, 2018])))
    if rng.random() < 0.03:
        accts.append(smtp_row("smtp.hotel-wifi.example", ports["smtp.hotel-wifi.example"],
                              None, False, year=2017, auth=False))
    personal = rng.random() < 0.5
    if personal:
        host = rng.choice(["smtp.gmail.com", "smtp.mail.yahoo.com", "smtp.fastmail.com"])
        pmail = "%s.home@%s" % (user, {"smtp.gmail.com": "gmail.com",
                                       "smtp.mail.yahoo.com": "yahoo.com"}.get(host,
                                                                                "fastmail.com"))
        accts += fx.accounts4_imap_pair("Personal", pmail, host, host.replace("smtp", "imap", 1),
                                        port=ports[host], ssl=True, direct=True, year=2020,
                                        seed=ser)
    if rng.random() < 0.6:
        accts += fx.icloud_accounts("%s@icloud.com" % user)
    h.accounts4(accts)
    # Migrated Macs often keep Mail's old Accounts.plist (V2) with the same servers.
    if migrated and rng.random() < 0.3:
        delivery = [fx.smtp_entry(hst, ports[hst], user, ssl=ssl, name=hst.split(".")[1])
                    for hst, ssl, _ in legacy]
        h.accounts_plist("V2", delivery, [fx.local_entry()], fmt="xml")
    elif rng.random() < 0.03:
        # A damaged file: the agent reports it and still reads everything else.
        h.accounts_plist("V2", raw=b"<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict>"
                                   b"<key>DeliveryAccounts</key><array><dict>")
    if rng.random() < 0.25:  # Thunderbird, pointed at the company's server
        tb_host = "mail.example-corp.com" if migrated and rng.random() < 0.5 else \
            "smtp.office365.com"
        tb_port = ports[tb_host]
        prefs = fx.tb_account_prefs(
            [{"key": "account1",
              "server": {"key": "server1", "type": "imap", "hostname": "outlook.office365.com",
                         "port": 993, "socketType": 3, "userName": email, "name": email},
              "identities": [{"key": "id1", "useremail": email, "fullName": user.title(),
                              "smtpServer": "smtp1"}]}],
            [{"key": "smtp1", "hostname": tb_host, "port": tb_port,
              "try_ssl": 0 if tb_host.startswith("mail.") else 2, "authMethod": 3,
              "username": email, "description": "Example Corp"}],
            default_smtp="smtp1")
        h.thunderbird([{"dir": "Profiles/%s.default-release" % ser.lower()[:8],
                        "name": "default-release", "prefs": prefs, "default": True}],
                      install_default="Profiles/%s.default-release" % ser.lower()[:8])
    if rng.random() < 0.05:  # MailMate
        h.mailmate([{"serverURL": "smtp://%s@smtp.office365.com" % email.replace("@", "%40"),
                     "port": str(ports["smtp.office365.com"]),
                     "uuid": fx.fixed_uuid("mm:" + ser), "enabled": True}])
    profiles = None
    if rng.random() < 0.2:  # managed: an MDM profile with the company account
        doc = fx.mobileconfig([fx.mail_payload("Example Corp (managed)", email,
                                               "smtp.office365.com",
                                               out_port=ports["smtp.office365.com"],
                                               in_host="outlook.office365.com", seed=ser)],
                              "Example Corp Mail")
        case.profile("mail.mobileconfig", doc)
        profiles = os.path.join(root, "profiles")
    return {"serial": ser, "hostname": hostname, "os": rng.choice(OS), "user": user,
            "users_root": os.path.join(root, "Users"), "profiles": profiles,
            "migrated": migrated}


def build_one(job):
    out, seed, n, ports = job
    return build_mac(out, random.Random(seed), n, ports)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--macs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    with open(a.endpoints) as f:
        ep = json.load(f)
    ports = {e["hostname"]: e["port"] for e in ep["endpoints"]}
    for u in ep["unresolvable"]:
        ports[u["hostname"]] = u["port"]
    # One generator per Mac, seeded from the fleet's: the same fleet whatever the number
    # of worker processes building it.
    master = random.Random(a.seed)
    jobs = [(a.out, master.getrandbits(64), n, ports) for n in range(a.macs)]
    with multiprocessing.Pool(a.jobs) as pool:
        macs = pool.map(build_one, jobs, chunksize=8)
    with open(os.path.join(a.out, "fleet.json"), "w") as f:
        json.dump(macs, f, indent=1)
    print("fleet: %d Macs, %d migrated" % (len(macs), sum(m["migrated"] for m in macs)))


if __name__ == "__main__":
    main()
