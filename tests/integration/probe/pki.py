#!/usr/bin/python3
"""A throwaway test CA and server certificates, made with the openssl command line.

    pki.py DIR [--key ec|rsa]

--key picks the key type of the CA and of every certificate: ec (the default) is ECDSA
P-256, rsa is RSA-2048 (the benchmark measures both; with RSA the server's signature
in each handshake costs about 30 times what ECDSA's does).

Writes into DIR: ca.pem (the trust anchor to pass with --ca-file) and, for each case,
NAME.pem / NAME.key:
  valid       signed by the CA for every name the good servers use
  expired     signed by the CA, valid 2020-01-01 .. 2021-01-01
  notyet      signed by the CA, valid from 2040-01-01
  wrongname   signed by the CA for other.test only
  selfsigned  a self-signed certificate for selfsigned.test
`openssl ca` is used for the leaf certificates because it can set explicit start and
end dates (-startdate/-enddate), which OpenSSL 3.0's `x509 -req` cannot.
"""
import os
import subprocess
import sys

GOOD_NAMES = ["valid.test", "required.test", "nostarttls.test", "implicit.test",
              "authplain.test"]

LEAVES = {
    # name: (common name, SAN names, start, end)
    "valid": ("valid.test", GOOD_NAMES, None, None),
    "expired": ("expired.test", ["expired.test"], "200101000000Z", "210101000000Z"),
    "notyet": ("notyet.test", ["notyet.test"], "400101000000Z", "410101000000Z"),
    "wrongname": ("other.test", ["other.test"], None, None),
}

CA_CNF = """
[ ca ]
default_ca = testca
[ testca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 365
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
"""


def run(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


KEY_ARGS = {
    "ec": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
}


def newkey(path, kind="ec"):
    run("genpkey", *KEY_ARGS[kind], "-out", path)


def make(d, kind="ec"):
    os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
    with open(os.path.join(d, "index.txt"), "w"):
        pass
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(CA_CNF.format(dir=d))
    newkey(os.path.join(d, "ca.key"), kind)
    run("req", "-x509", "-new", "-key", os.path.join(d, "ca.key"), "-days", "3650",
        "-subj", "/CN=mailfleet test CA", "-out", os.path.join(d, "ca.pem"),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, (cn, sans, start, end) in LEAVES.items():
        key = os.path.join(d, name + ".key")
        csr = os.path.join(d, name + ".csr")
        ext = os.path.join(d, name + ".ext")
        newkey(key, kind)
        run("req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=" + ",".join("DNS:" + n for n in sans) + "\n")
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", "365"]
        run("ca", "-batch", "-notext", "-config", os.path.join(d, "ca.cnf"), "-in", csr,
            "-out", os.path.join(d, name + ".pem"), "-extfile", ext, *dates)
    key = os.path.join(d, "selfsigned.key")
    newkey(key, kind)
    run("req", "-x509", "-new", "-key", key, "-days", "365", "-subj", "/CN=selfsigned.test",
        "-addext", "subjectAltName=DNS:selfsigned.test", "-out",
        os.path.join(d, "selfsigned.pem"))


if __name__ == "__main__":
    args = sys.argv[1:]
    kind = "ec"
    if len(args) == 3 and args[1] == "--key" and args[2] in KEY_ARGS:
        kind = args[2]
    elif len(args) != 1:
        sys.exit("usage: pki.py DIR [--key ec|rsa]")
    make(os.path.abspath(args[0]), kind)
