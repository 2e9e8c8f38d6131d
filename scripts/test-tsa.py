#!/usr/bin/env python3
"""A local test time-stamp authority (RFC 3161) for `make demo`: NOT for real evidence.

Usage: test-tsa.py DIR

Creates in DIR (which must exist) a test CA (`ca.pem`, the root a relying party trusts)
and a TSA certificate it issued (critical id-kp-timeStamping), then answers
`application/timestamp-query` POSTs on 127.0.0.1 (a free port) with `openssl ts -reply`.
Prints its URL on the first line of stdout once it listens, then serves until killed.
Independent of caseledger: Python's standard library and the openssl command only.
"""

import http.server
import os
import subprocess
import sys
import tempfile


def openssl(d, *args):
    subprocess.run(["openssl", *args], cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(d):
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-subj", "/CN=caseledger demo TSA root", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key",
            "-out", "tsa.csr", "-subj", "/CN=caseledger demo TSA")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("[tsa_ext]\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,nonRepudiation\n"
                "extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\n")
    openssl(d, "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tsa.pem", "-days", "365",
            "-extfile", "ext.cnf", "-extensions", "tsa_ext", "-sha256")
    with open(os.path.join(d, "tsaserial"), "w") as f:
        f.write("01\n")
    # openssl-ts(1), "CONFIGURATION FILE OPTIONS".
    with open(os.path.join(d, "ts.cnf"), "w") as f:
        f.write(f"""[tsa]
default_tsa = tsa1
[tsa1]
dir = {d}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
""")


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10  # seconds a client may take: the demo's own client takes milliseconds

    def do_POST(self):
        ctype = self.headers.get("Content-Type", "")
        length = int(self.headers.get("Content-Length", "0"))
        if ctype != "application/timestamp-query" or not 0 < length <= 10_000:
            self.send_error(415 if length else 400)
            return
        query = self.rfile.read(length)
        d = self.server.pki
        with tempfile.NamedTemporaryFile(dir=d) as q, tempfile.NamedTemporaryFile(dir=d) as r:
            q.write(query)
            q.flush()
            try:
                openssl(d, "ts", "-reply", "-config", "ts.cnf", "-queryfile", q.name, "-out", r.name)
            except subprocess.CalledProcessError:
                self.send_error(500)
                return
            reply = r.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: test-tsa.py DIR")
    d = os.path.abspath(sys.argv[1])
    make_pki(d)
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.pki = d
    print(f"http://127.0.0.1:{server.server_address[1]}/tsa", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
