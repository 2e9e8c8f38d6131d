#!/usr/bin/env python3
"""A client of `caseledger serve`, Python standard library only (docs/GUIDE.md, "Serving
record systems over HTTP").

    client = Client("http://127.0.0.1:8714", token, "practice-a")
    receipt = client.append({"id": "EHR-NOTE-88123", "record": "C-0042",
                             "kind": "progress_note", "occurred_on": "2026-12-02",
                             "author": "lic-01", "payload": "..."})

`append` retries on its own: a lost connection, a timeout or `503 busy` (after
`Retry-After`) sends the same event again under the same `id`, which the ledger never appends
twice. Keep the receipts: `verify_inclusion` checks one against a seal without trusting the
server.

Run as a script it appends one event, retries it, reads its status and the newest seal, and
checks the inclusion proof: `caseledger_client.py URL TOKEN LEDGER RECORD AUTHOR`.
"""

import base64
import hashlib
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class CaseledgerError(Exception):
    """An error answer: `status` (HTTP), `kind`, `message`, `line` (event of a batch)."""

    def __init__(self, status, kind, message, line=None, retry_after=None):
        super().__init__(f"{status} {kind}: {message}")
        self.status, self.kind, self.message = status, kind, message
        self.line, self.retry_after = line, retry_after


class Client:
    """One ledger of one `caseledger serve`, with one client token."""

    def __init__(self, base_url, token, ledger, timeout=30.0, attempts=5):
        self.base = f"{base_url.rstrip('/')}/v1/ledgers/{urllib.parse.quote(ledger, safe='')}"
        self.token, self.timeout, self.attempts = token, timeout, attempts

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                err = json.load(e).get("error", {})
            except ValueError:
                err = {}
            retry = e.headers.get("Retry-After")
            raise CaseledgerError(e.code, err.get("kind", "unknown"), err.get("message", ""),
                                  err.get("line"), int(retry) if retry else None) from None

    def _retrying(self, method, path, body):
        # Safe only because every event carries its id: a repeat is answered with the
        # original receipt, never appended again.
        for attempt in range(self.attempts):
            try:
                return self._call(method, path, body)
            except CaseledgerError as e:
                if e.status != 503 or attempt + 1 == self.attempts:
                    raise
                time.sleep(e.retry_after or 1)
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt + 1 == self.attempts:
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    def append(self, event):
        """Appends one event (give it an `id`); its receipt once durable and sealed."""
        if "id" not in event:
            raise ValueError("give every event an id: retries are safe only with one")
        return self._retrying("POST", "/events", event)["receipts"][0]

    def append_batch(self, events):
        """Appends events all or nothing; their receipts, in order."""
        return self._retrying("POST", "/events", {"events": events})["receipts"]

    def status(self, record):
        return self._call("GET", f"/records/{urllib.parse.quote(record, safe='')}/status")

    def checkpoint(self):
        return self._call("GET", "/checkpoint")

    def inclusion(self, seq, size=None):
        q = f"seq={seq}" + (f"&size={size}" if size is not None else "")
        return self._call("GET", f"/proofs/inclusion?{q}")

    def consistency(self, first, second=None):
        q = f"from={first}" + (f"&to={second}" if second is not None else "")
        return self._call("GET", f"/proofs/consistency?{q}")


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(entry_hash_hex, seq, size, proof_b64, root_b64):
    """RFC 9162 §2.1.3.2 over the ledger's RFC 6962 tree: leaf SHA-256(0x00 || entry hash)."""
    r = hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()
    fn, sn = seq, size - 1
    for p in (base64.b64decode(x) for x in proof_b64):
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == base64.b64decode(root_b64)


def main(url, token, ledger, record, author):
    c = Client(url, token, ledger)
    event = {"id": f"example-{record}-1", "record": record, "kind": "contact",
             "occurred_on": time.strftime("%Y-%m-%d", time.gmtime()), "author": author}
    first = c.append(event)
    again = c.append(event)  # a retry: the original receipt, nothing appended
    assert again["seq"] == first["seq"] and again["replayed"], again
    print(f"appended at seq {first['seq']}; the retry was answered with the same receipt")
    print(f"status of {record}: {c.status(record)['status']}")
    seal = c.checkpoint()
    size, root = seal["size"], seal["note"].split("\n")[2]
    proof = c.inclusion(first["seq"], size)
    assert verify_inclusion(first["hash"], first["seq"], size, proof["proof"], root)
    print(f"inclusion of seq {first['seq']} in the seal of size {size}: verified")
    try:
        c.append({**event, "payload": "other content"})
        raise AssertionError("a changed event under a used id must be refused")
    except CaseledgerError as e:
        assert e.status == 409, e
        print("other content under the same id: refused (409)")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit("usage: caseledger_client.py URL TOKEN LEDGER RECORD AUTHOR")
    main(*sys.argv[1:])
