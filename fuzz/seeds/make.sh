#!/usr/bin/env bash
# Makes the committed seed corpus: fuzz/corpus/<target>/seed-* (small, real inputs each
# decoder accepts, so the fuzzer starts past the first checks), and fuzz/seeds/tsa-root.pem
# and tsa-body.txt (the timestamp target's trusted root and checkpoint body).
#
#   bash fuzz/seeds/make.sh [BIN]      BIN: a built caseledger (default target/debug/caseledger)
#
# Sources: the golden vectors (ledger-data/vectors/golden-ledger.json), ../shared/vectors
# (signed-note), ledger-data/example/events.jsonl, and a small ledger made here with a
# local witness and a local test TSA (scripts/test-tsa.py, as `make demo` does). The TSA's
# private keys stay in the scratch directory and are deleted. Re-running changes the seeds
# (fresh keys and times); that is harmless, the fuzz targets read only tsa-*.{pem,txt}.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:-target/debug/caseledger}")
[ -x "$BIN" ] || { echo "seeds: $BIN is missing; cargo build -p caseledger" >&2; exit 2; }
command -v openssl >/dev/null && command -v python3 >/dev/null ||
  { echo "seeds: needs openssl and python3" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/caseledger-seeds.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
wait_lines() {
  for _ in $(seq 200); do
    [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "seeds: $1: the service did not start" >&2
  return 1
}

# A small ledger (the example practice: 15 events) with one witness and a test TSA.
L=$W/ledger K=$W/keys
"$BIN" init "$L" --keys "$K" --origin seeds.caseledger.example/fuzz --private-practice >/dev/null
mkdir -p "$W/witness" "$W/tsa"
"$BIN" keys generate --out "$W/witness/witness.pem" >/dev/null
"$BIN" keys export --ledger "$L" --format note >"$W/witness/logs.txt"
"$BIN" witness serve --addr 127.0.0.1:0 --key "$W/witness/witness.pem" --name witness.seeds.example \
  --logs "$W/witness/logs.txt" --state "$W/witness/state" >"$W/witness/out" 2>"$W/witness/err" &
PIDS+=($!)
wait_lines "$W/witness/out" 2
"$BIN" witness add --ledger "$L" --keys "$K" seeds "$(sed -n 1p "$W/witness/out")" "$(sed -n 2p "$W/witness/out")" >/dev/null
python3 scripts/test-tsa.py "$W/tsa" >"$W/tsa/url" 2>"$W/tsa/err" &
PIDS+=($!)
wait_lines "$W/tsa/url" 1
"$BIN" timestamp config set --ledger "$L" --keys "$K" --tsa "$(sed -n 1p "$W/tsa/url")" --tsa-chain "$W/tsa/ca.pem" >/dev/null
"$BIN" import --ledger "$L" --keys "$K" ledger-data/example/events.jsonl >/dev/null
"$BIN" checkpoint --ledger "$L" --keys "$K" >"$W/checkpoint.txt"
"$BIN" export --ledger "$L" --keys "$K" --record X-0001 --out "$W/bundle.json" >/dev/null
"$BIN" archive export --ledger "$L" --out "$W/ledger.archive" >/dev/null
"$BIN" keys export --ledger "$L" --format note >"$W/ledger.vkey"
"$BIN" report retention --ledger "$L" --as-of "$(date -u +%F)" --signing-key "$W/report.pem" \
  --generate-key --ledger-key "$W/ledger.vkey" --trusted "$W/checkpoint.txt" --out "$W/report" >/dev/null

C=fuzz/corpus
S=fuzz/seeds
for t in entry_decode signed_note checkpoint cosignature archive bundle report checkpoints_log \
  jsonl_line http_body witness_request witness_response timestamp; do
  mkdir -p "$C/$t"
  rm -f "$C/$t"/seed-*
done
cp "$W/tsa/ca.pem" "$S/tsa-root.pem"
cp "$L/checkpoints.log" "$C/checkpoints_log/seed-ledger"
cp "$L/timestamps.log" "$C/timestamp/seed-timestamps-log"
cp "$W/bundle.json" "$C/bundle/seed-x-0001"
cp "$W/ledger.archive" "$C/archive/seed-example"
cp "$W/report/report.json" "$C/report/seed-report-json"
cp "$W/report/report.json.sig" "$C/report/seed-report-sshsig"
cp "$W/checkpoint.txt" "$C/signed_note/seed-cosigned"
cp "$W/checkpoint.txt" "$C/checkpoint/seed-cosigned"
cp "$W/ledger.vkey" "$C/signed_note/seed-vkey"

# The rest is cut and framed from those files and the vectors.
python3 - "$W" <<'EOF'
import base64, hashlib, json, os, subprocess, sys
w = sys.argv[1]
C = "fuzz/corpus"
def put(t, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(C, t, "seed-" + name), "wb") as f:
        f.write(data)

g = json.load(open("ledger-data/vectors/golden-ledger.json"))
for e in g["entries"]:
    put("entry_decode", "golden-%02d-%s" % (int(e["seq"]), e["kind"]), bytes.fromhex(e["entry_bytes"]))
note = g["checkpoint"]
put("signed_note", "golden-checkpoint", note)
put("checkpoint", "golden-checkpoint", note)
put("checkpoint", "golden-body", note.split("\n\n")[0] + "\n")
sn = json.load(open("../shared/vectors/signed-note/go-sumdb-note.json"))
for k, v in sn.items():
    if isinstance(v, str) and "\n\u2014 " in v:
        put("signed_note", "go-" + k, v)
for k, v in sn.get("verifier_keys", {}).items():
    put("signed_note", "go-vkey-" + k, v)

cosigned = open(os.path.join(w, "checkpoint.txt")).read()
for i, line in enumerate(l for l in cosigned.splitlines(True) if l.startswith("\u2014 ")):
    put("cosignature", "line-%d" % i, line)
    put("witness_response", "line-%d" % i, b"\x03" + line.encode())
put("cosignature", "witness-vkey", open(os.path.join(w, "witness", "out")).read().splitlines()[1])
put("witness_response", "conflict", b"\x0316\n")
put("witness_response", "conflict-plain-type", b"\x0116\n")

# witness_request: the target's witness trusts the golden ledger's key.
put("witness_request", "golden-from-0", "old 0\n\n" + note)
h = base64.b64encode(bytes.fromhex(g["roots_by_size"][3])).decode()
put("witness_request", "golden-from-3", "old 3\n%s\n%s\n\n%s" % (h, h, note))

events = open("ledger-data/example/events.jsonl").read().splitlines()
for i, l in enumerate(events):
    put("jsonl_line", "example-%02d" % i, l)
    put("http_body", "example-%02d" % i, l)
bad = json.loads(events[2])
bad["payload"] = "CANARY-0123456789 the client said"
bad["occurred_on"] = "yesterday"
put("jsonl_line", "canary-bad-date", json.dumps(bad))
bad2 = dict(bad, occurred_on="2024-02-05", kind="progres note")
put("jsonl_line", "canary-near-kind", json.dumps(bad2))
put("jsonl_line", "presigned-shape", json.dumps(dict(json.loads(events[2]),
    signed_at="2024-02-05T10:00:00Z", nonce="00" * 16, salt="11" * 32,
    signature="-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
    id="note-1")))
put("http_body", "batch", json.dumps({"events": [json.loads(l) for l in events[2:6]]}))
admin_pub = open(os.path.join(w, "keys", "actors", "admin.pub")).read() \
    if os.path.exists(os.path.join(w, "keys", "actors", "admin.pub")) else ""
vkey = open(os.path.join(w, "ledger.vkey")).read().strip()
for name, key in [("vkey", vkey), ("hex", "00" * 32), ("pem", admin_pub)]:
    if key:
        put("http_body", "enrol-" + name, json.dumps({"actor": "lic-09", "role": "licensee",
            "public_key": key, "author": "admin", "occurred_on": "2024-03-01"}))

# timestamp: the log's body and tokens, and a response to the target's own request (the
# SHA-256 of tsa-body.txt, nonce "fuzznonc" as TimestampRequest::with_nonce encodes it).
raw = open(os.path.join(w, "ledger", "timestamps.log"), "rb").read()
text = raw.decode()
first = text.split("\n", 1)[1]
rec = first[: int(text.split("\n", 1)[0])]
body = rec.split("\n", 1)[1].split("\n\n")[0] + "\n"
open("fuzz/seeds/tsa-body.txt", "w").write(body)
pos = 0
n = 0
while pos < len(raw):
    nl = raw.index(b"\n", pos)
    size = int(raw[pos:nl])
    r = raw[nl + 1 : nl + 1 + size].decode()
    pos = nl + 1 + size
    tok = base64.b64decode(r.rstrip("\n").rsplit("\n", 1)[1])
    put("timestamp", "token-%d" % n, tok)
    n += 1
nonce = bytes([(ord("f") & 0x7F) | 0x40]) + b"uzznonc"
imprint = hashlib.sha256(body.encode()).digest()
alg = bytes.fromhex("300d0609608648016503040201" "0500")
mi = b"\x30" + bytes([len(alg) + 34]) + alg + b"\x04\x20" + imprint
inner = b"\x02\x01\x01" + mi + b"\x02\x08" + nonce + b"\x01\x01\xff"
req = b"\x30" + bytes([len(inner)]) + inner
qf = os.path.join(w, "req.der")
open(qf, "wb").write(req)
rf = os.path.join(w, "resp.der")
subprocess.run(["openssl", "ts", "-reply", "-config", os.path.join(w, "tsa", "ts.cnf"),
                "-queryfile", qf, "-out", rf], check=True, capture_output=True)
put("timestamp", "response", open(rf, "rb").read())
EOF
echo "seeds: $(find "$C" -name 'seed-*' | wc -l) files, $(du -sh --apparent-size "$C" | cut -f1) (corpus dir incl. any found inputs)"
