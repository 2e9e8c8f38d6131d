//! Issue 15, the auditor's side: `caseledger publish --tiles` writes C2SP tiles, entry
//! bundles and the checkpoint as static files; `caseledger serve` answers the same bytes
//! on `/v1/ledgers/{name}/tlog/…`; `caseledger monitor` follows either over HTTP (a
//! loopback static server, `caseledger_testkit::static_http`) and exits 1 on a rollback,
//! a fork, an inconsistent checkpoint and tampered tiles served by a tampered copy; `monitor
//! --every` left running follows a growing server and stops at a rollback (a server
//! restarted on an older copy, too); full entries under `…/tlog-entries` for `read-entries`.

use caseledger_testkit::cli::{caseledger_bin, fails, ok, stderr, today, Fixture};
use caseledger_testkit::static_http::StaticServer;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

/// The ledger key as `monitor --key` takes it.
fn vkey(f: &Fixture, ledger: &str) -> String {
    ok(&f.run(&["keys", "export", "--ledger", ledger]))
        .trim()
        .to_owned()
}

fn publish(f: &Fixture, ledger: &str, dir: &str) -> Value {
    let out = ok(&f.run(&["--json", "publish", "--ledger", ledger, "--tiles", dir]));
    serde_json::from_str(&out).unwrap()
}

fn monitor(f: &Fixture, url: &str, key: &str, extra: &[&str]) -> Output {
    let mut args = vec!["monitor", url, "--key", key, "--state", "mon.json"];
    args.extend(extra);
    f.run(&args)
}

fn progress_note(f: &Fixture, ledger: &str, n: usize) {
    // New content each time: a rerun of the same lines appends nothing (import request keys).
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"record":"C-OPEN","kind":"progress_note","occurred_on":"{}","author":"lic-1","payload":"note {k}-{i} SECRET-CLINICAL-T"}}"#,
                today()
            )
        })
        .collect();
    let file = format!("more-{k}.jsonl");
    f.write(&file, (lines.join("\n") + "\n").as_bytes());
    ok(&f.run(&["import", "--ledger", ledger, &file]));
}

/// A copy of a directory tree (a ledger, or a published directory to tamper with).
fn copy_dir(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn publish_writes_tiles_once_and_monitor_follows_the_ledger() {
    let f = Fixture::small();
    let key = vkey(&f, "L");
    let first = publish(&f, "L", "pub");
    let size = first["size"].as_u64().unwrap();
    assert!(size >= 10, "{first}");
    let pub_dir = f.path("pub");
    let cp = std::fs::read_to_string(pub_dir.join("checkpoint")).unwrap();
    assert_eq!(cp, ok(&f.run(&["checkpoint", "--ledger", "L"])));
    let tile = pub_dir.join(format!("tile/0/000.p/{size}"));
    assert_eq!(
        std::fs::read(&tile).unwrap().len(),
        32 * usize::try_from(size).unwrap()
    );
    let bundle = std::fs::read(pub_dir.join(format!("tile/entries/000.p/{size}"))).unwrap();
    assert_eq!(bundle.len(), 34 * usize::try_from(size).unwrap());
    // Entry hashes only: nothing of the content, no record or actor id.
    for needle in [&b"SECRET-CLINICAL"[..], b"C-OPEN", b"lic-1"] {
        assert!(!bundle.windows(needle.len()).any(|w| w == needle));
    }
    // A rerun writes nothing.
    let again = publish(&f, "L", "pub");
    assert_eq!(
        (
            again["written"].as_u64(),
            again["checkpoint_changed"].as_bool()
        ),
        (Some(0), Some(false))
    );

    let web = StaticServer::start(&pub_dir);
    let out = monitor(&f, &web.url(), &key, &[]);
    assert!(ok(&out).is_empty() || out.status.success());
    assert!(
        stderr(&out).contains(&format!("consistent: size {size} (was 0)")),
        "{}",
        stderr(&out)
    );
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("mon.json")).unwrap()).unwrap();
    assert_eq!(state["size"].as_u64(), Some(size));

    // The ledger grows past a full tile; a rerun writes the new tiles and the checkpoint.
    progress_note(&f, "L", 300);
    let grown = publish(&f, "L", "pub");
    let new_size = grown["size"].as_u64().unwrap();
    assert_eq!(new_size, size + 300);
    // tile 0 (now full) and its bundle, tile 1 partial and its bundle, tile/1 partial, checkpoint.
    assert_eq!(grown["written"].as_u64(), Some(6), "{grown}");
    assert!(pub_dir.join("tile/0/000").is_file() && pub_dir.join("tile/1/000.p/1").is_file());
    let out = monitor(&f, &web.url(), &key, &["--max-age", "1h"]);
    ok(&out);
    assert!(
        stderr(&out).contains(&format!("consistent: size {new_size} (was {size})")),
        "{}",
        stderr(&out)
    );
    // The same again: nothing new, not stale within the hour.
    ok(&monitor(&f, &web.url(), &key, &["--max-age", "1h"]));
    // The directory itself works as well as its URL.
    ok(&monitor(&f, "pub", &key, &[]));
}

#[test]
fn monitor_detects_rollback_fork_inconsistency_and_tampered_tiles() {
    let f = Fixture::small();
    let key = vkey(&f, "L");
    // Two histories with the same ledger key: L, and B, a copy of L that goes its own way
    // (what an owner who rebuilt the ledger would serve to some).
    copy_dir(&f.ledger(), &f.path("B"));
    publish(&f, "L", "a0");
    progress_note(&f, "L", 1);
    publish(&f, "L", "a1");
    progress_note(&f, "B", 1);
    publish(&f, "B", "b1");
    progress_note(&f, "B", 1);
    publish(&f, "B", "b2");
    let serve = |d: &str| StaticServer::start(&f.path(d));
    let (a0, a1, b1, b2) = (serve("a0"), serve("a1"), serve("b1"), serve("b2"));
    ok(&monitor(&f, &a1.url(), &key, &[]));
    let kept = std::fs::read(f.path("mon.json")).unwrap();
    let hook = "echo \"$CASELEDGER_MONITOR_FINDING\" >> hook.txt";
    for (server, kind, line) in [
        (
            &a0,
            "rollback",
            "rollback: the log serves a checkpoint of size",
        ),
        (&b1, "fork", "fork: the log serves a checkpoint of size"),
        (&b2, "inconsistent", "inconsistent: the checkpoint of size"),
    ] {
        let out = monitor(&f, &server.url(), &key, &["--hook", hook]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{kind}: {err}");
        assert!(err.contains(line), "{kind}: {err}");
        let hooked = std::fs::read_to_string(f.path("hook.txt")).unwrap();
        assert_eq!(hooked.lines().last(), Some(kind));
        // A finding never moves the state on.
        assert_eq!(std::fs::read(f.path("mon.json")).unwrap(), kept, "{kind}");
    }
    // A tampered mirror: one leaf of the level-0 tile changed (its bundle left as it was).
    copy_dir(&f.path("a1"), &f.path("t1"));
    let tiles = std::fs::read_dir(f.path("t1/tile/0")).unwrap();
    let tile = tiles
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let leaf_file = std::fs::read_dir(&tile)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&leaf_file).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&leaf_file, bytes).unwrap();
    let t1 = serve("t1");
    std::fs::remove_file(f.path("mon.json")).unwrap();
    let out = monitor(&f, &t1.url(), &key, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("tiles do not match: entry 0 of tile/entries/000.p/"),
        "{}",
        stderr(&out)
    );
    // Not a key: exit 2; no log at the URL: exit 2.
    let out = f.run(&["monitor", &a1.url(), "--key", "not a key"]);
    assert_eq!(out.status.code(), Some(2));
    let out = f.run(&["monitor", &format!("{}/nothing", a1.url()), "--key", &key]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(fails(&out).contains("checkpoint: not served"));
}

/// An answer as bytes: status, headers (lowercase names), body.
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A new client token: (token, its SHA-256 hex).
fn new_token(f: &Fixture) -> (String, String) {
    let out = ok(&f.run(&["serve", "--new-token"]));
    let mut l = out.lines();
    (l.next().unwrap().to_owned(), l.next().unwrap().to_owned())
}

#[test]
fn serve_answers_the_published_bytes_and_monitor_follows_it() {
    let f = Fixture::small();
    let key = vkey(&f, "L");
    progress_note(&f, "L", 260);
    publish(&f, "L", "pub");
    let (proofs, proofs_h) = new_token(&f);
    let (status, status_h) = new_token(&f);
    let (mut child, addr) = serve_clients(
        &f,
        &[
            ("auditor", &proofs_h, "\"read-proofs\"]"),
            ("status-only", &status_h, "\"read-status\"]"),
        ],
    );
    let prefix = "/v1/ledgers/practice/tlog";
    let t = Some(proofs.as_str());

    let (st, h, body) = get(&addr, &format!("{prefix}/checkpoint"), t);
    assert_eq!(st, 200);
    assert_eq!(
        header(&h, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header(&h, "cache-control"), Some("private, max-age=5"));
    assert_eq!(body, std::fs::read(f.path("pub/checkpoint")).unwrap());
    let size: u64 = String::from_utf8(body)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let w = size - 256;
    for (path, cache) in [
        (
            "tile/0/000".to_owned(),
            "private, max-age=31536000, immutable",
        ),
        (
            "tile/entries/000".to_owned(),
            "private, max-age=31536000, immutable",
        ),
        (format!("tile/0/001.p/{w}"), "private, max-age=60"),
        (format!("tile/entries/001.p/{w}"), "private, max-age=60"),
        ("tile/1/000.p/1".to_owned(), "private, max-age=60"),
    ] {
        let (st, h, body) = get(&addr, &format!("{prefix}/{path}"), t);
        assert_eq!(st, 200, "{path}");
        assert_eq!(header(&h, "content-type"), Some("application/octet-stream"));
        assert_eq!(header(&h, "cache-control"), Some(cache), "{path}");
        assert_eq!(
            body,
            std::fs::read(f.path(&format!("pub/{path}"))).unwrap(),
            "{path}"
        );
    }
    // Beyond the seal: 404; not the canonical spelling of a tile: 400.
    for path in [
        format!("tile/0/001.p/{}", w + 1),
        "tile/0/002".into(),
        "tile/2/000.p/1".into(),
        "tile/9/000".into(),
    ] {
        assert_eq!(get(&addr, &format!("{prefix}/{path}"), t).0, 404, "{path}");
    }
    for path in [
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/../../checkpoint",
        "tile/0/%2e%2e/000",
        "tile/00/000",
        "tile/0/000.p/0",
        "tile/x/000",
    ] {
        assert_eq!(get(&addr, &format!("{prefix}/{path}"), t).0, 400, "{path}");
    }
    // The scope: read-proofs; no token at all: 401.
    assert_eq!(
        get(&addr, &format!("{prefix}/tile/0/000"), Some(&status)).0,
        403
    );
    assert_eq!(get(&addr, &format!("{prefix}/checkpoint"), None).0, 401);

    // The monitor follows the server with the token from a file.
    f.write("token", proofs.as_bytes());
    let url = format!("http://{addr}{prefix}");
    let out = monitor(&f, &url, &key, &["--token-file", "token"]);
    assert!(stderr(&ok_or_show(&out)).contains(&format!("consistent: size {size} (was 0)")));
    let out = f.run(&["monitor", &url, "--key", &key]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "without a token: {}",
        stderr(&out)
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `caseledger serve` over the fixture's ledger `L` as `practice`, with clients `(name,
/// token hash, scopes)` (`scopes`: the TOML array's items, and any more lines after it):
/// the child and its address.
fn serve_clients(f: &Fixture, clients: &[(&str, &str, &str)]) -> (std::process::Child, String) {
    serve_clients_at(f, "127.0.0.1:0", clients)
}

/// [`serve_clients`] listening on `listen`.
fn serve_clients_at(
    f: &Fixture,
    listen: &str,
    clients: &[(&str, &str, &str)],
) -> (std::process::Child, String) {
    let mut config = format!(
        "listen = \"{listen}\"\n[ledgers.practice]\ndir = \"L\"\nkeys = \"{}\"\n",
        f.keys().display()
    );
    for (name, hash, scope) in clients {
        config.push_str(&format!(
            "[[clients]]\nname = \"{name}\"\ntoken_sha256 = \"{hash}\"\nscopes = [{scope}\n"
        ));
    }
    f.write("serve.toml", config.as_bytes());
    let mut child = std::process::Command::new(caseledger_bin())
        .args(["serve", "--config", "serve.toml"])
        .current_dir(f.dir())
        .env_remove("CASELEDGER_KEYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(f.path("serve.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .to_owned();
    (child, addr)
}

/// The entries of a full entry bundle (u16 BE length ‖ bytes each), refusing any leftover.
fn full_entries(bundle: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at(2);
        let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
        assert!(tail.len() >= n, "bundle ends inside entry {}", out.len());
        out.push(tail[..n].to_vec());
        rest = &tail[n..];
    }
    out
}

#[test]
fn full_entries_are_served_to_read_entries_clients_only_and_hash_to_the_tiles() {
    use base64::Engine;
    use caseledger_core::hash::{entry_hash, merkle_leaf};
    use caseledger_core::merkle::{root_from_leaves, Hash, Sha256Hasher};
    let f = Fixture::small();
    progress_note(&f, "L", 260);
    let (proofs, proofs_h) = new_token(&f);
    let (entries, entries_h) = new_token(&f);
    let (mut child, addr) = serve_clients(
        &f,
        &[
            ("auditor", &proofs_h, "\"read-proofs\"]"),
            ("mirror", &entries_h, "\"read-entries\"]"),
        ],
    );
    let full = "/v1/ledgers/practice/tlog-entries";
    let hashes = "/v1/ledgers/practice/tlog";
    let (st, _, cp) = get(&addr, &format!("{full}/checkpoint"), Some(&entries));
    assert_eq!(st, 200);
    assert_eq!(
        cp,
        get(&addr, &format!("{hashes}/checkpoint"), Some(&proofs)).2
    );
    let cp = String::from_utf8(cp).unwrap();
    let mut lines = cp.lines().skip(1);
    let size: u64 = lines.next().unwrap().parse().unwrap();
    let root = base64::engine::general_purpose::STANDARD
        .decode(lines.next().unwrap())
        .unwrap();
    let w = size - 256;
    assert!(w > 0 && w < 256, "{size}");

    // Without the scope: 403 and no entry's bytes; without a token: 401. read-entries
    // does not imply read-proofs either.
    for path in [
        "tile/entries/000".to_owned(),
        format!("tile/entries/001.p/{w}"),
        "checkpoint".into(),
        "tile/0/000".into(),
    ] {
        let (st, _, body) = get(&addr, &format!("{full}/{path}"), Some(&proofs));
        assert_eq!(st, 403, "{path}");
        for needle in [&b"C-OPEN"[..], b"lic-1", b"SECRET-CLINICAL"] {
            assert!(!body.windows(needle.len()).any(|x| x == needle), "{path}");
        }
        assert_eq!(get(&addr, &format!("{full}/{path}"), None).0, 401, "{path}");
    }
    assert_eq!(
        get(&addr, &format!("{hashes}/tile/entries/000"), Some(&entries)).0,
        403
    );

    // With it: each entry's bytes hash (h_i, then SHA-256(0x00 ‖ h_i)) to the leaf in the
    // level-0 tile, and all leaves to the checkpoint's root.
    let mut leaves = Vec::new();
    for (tile, cache) in [
        ("000".to_owned(), "private, max-age=31536000, immutable"),
        (format!("001.p/{w}"), "private, max-age=60"),
    ] {
        let (st, h, bundle) = get(
            &addr,
            &format!("{full}/tile/entries/{tile}"),
            Some(&entries),
        );
        assert_eq!(st, 200, "{tile}");
        assert_eq!(header(&h, "cache-control"), Some(cache), "{tile}");
        assert_eq!(header(&h, "content-type"), Some("application/octet-stream"));
        // Ids and dates are in the entries; the payload never is (a canary in every note).
        assert!(bundle.windows(6).any(|x| x == b"C-OPEN"), "{tile}");
        assert!(
            !bundle.windows(15).any(|x| x == b"SECRET-CLINICAL"),
            "{tile}"
        );
        let es = full_entries(&bundle);
        let (st, _, tile_bytes) = get(&addr, &format!("{full}/tile/0/{tile}"), Some(&entries));
        assert_eq!(st, 200);
        assert_eq!(
            tile_bytes,
            get(&addr, &format!("{hashes}/tile/0/{tile}"), Some(&proofs)).2
        );
        assert_eq!(tile_bytes.len(), 32 * es.len(), "{tile}");
        for (i, e) in es.iter().enumerate() {
            let leaf = merkle_leaf(&entry_hash(e));
            assert_eq!(
                leaf.0[..],
                tile_bytes[32 * i..32 * i + 32],
                "{tile} entry {i}"
            );
            leaves.push(leaf);
        }
    }
    assert_eq!(u64::try_from(leaves.len()).unwrap(), size);
    assert_eq!(
        root_from_leaves(&Sha256Hasher, &leaves),
        Hash::from_slice(&root).unwrap()
    );
    // Beyond the seal, and a Merkle tile's path under entries: 404 as on the hash prefix.
    assert_eq!(
        get(
            &addr,
            &format!("{full}/tile/entries/001.p/{}", w + 1),
            Some(&entries)
        )
        .0,
        404
    );
    assert_eq!(
        get(&addr, &format!("{full}/tile/entries/002"), Some(&entries)).0,
        404
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn ok_or_show(o: &Output) -> Output {
    assert!(o.status.success(), "{}", stderr(o));
    o.clone()
}

/// Go's sumdb tile layout as tlog_tiles writes paths, `tile/8/<L>/<N>[.p/<W>]`, is C2SP's
/// with the height: the files `publish` wrote are read as they are.
struct Published(std::path::PathBuf);

impl tlog_tiles::tile::TileReader for Published {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(
        &self,
        tiles: &[tlog_tiles::tile::Tile],
    ) -> Result<Vec<Vec<u8>>, tlog_tiles::tlog::Error> {
        tiles
            .iter()
            .map(|t| {
                let p = t.path().replacen("tile/8/", "tile/", 1);
                std::fs::read(self.0.join(p)).map_err(|_| tlog_tiles::tlog::Error::InvalidTile)
            })
            .collect()
    }
    fn save_tiles(&self, _: &[tlog_tiles::tile::Tile], _: &[Vec<u8>]) {}
}

#[test]
fn an_independent_tlog_client_reads_the_published_tiles() {
    use base64::Engine;
    use tlog_tiles::tile::TileHashReader;
    use tlog_tiles::tlog::{
        check_record, check_tree, prove_record, prove_tree, record_hash, stored_hash_index,
        tree_hash, Hash, HashReader,
    };
    let f = Fixture::small();
    progress_note(&f, "L", 600);
    publish(&f, "L", "pub");
    let cp = std::fs::read_to_string(f.path("pub/checkpoint")).unwrap();
    let mut lines = cp.lines().skip(1);
    let size: u64 = lines.next().unwrap().parse().unwrap();
    let root = base64::engine::general_purpose::STANDARD
        .decode(lines.next().unwrap())
        .unwrap();
    let root = Hash(root.try_into().unwrap());
    let dir = Published(f.path("pub"));
    // TileHashReader checks every tile it reads against the tree hash it is given.
    let r = TileHashReader::new(size, root, &dir);
    assert_eq!(tree_hash(size, &r).unwrap(), root);
    let bundle = std::fs::read(f.path("pub/tile/entries/000")).unwrap();
    for n in [0, 255, size / 2, size - 1] {
        let leaf = r.read_hashes(&[stored_hash_index(0, n)]).unwrap()[0];
        check_record(&prove_record(size, n, &r).unwrap(), size, root, n, leaf).unwrap();
        if n < 256 {
            // The bundle's entry (0x0020 ‖ h_n) is the log entry whose RFC 6962 leaf hash
            // is the tile's leaf.
            let at = usize::try_from(n).unwrap() * 34;
            assert_eq!(&bundle[at..at + 2], &[0, 32]);
            assert_eq!(record_hash(&bundle[at + 2..at + 34]), leaf);
        }
    }
    for old in [1, 256, size - 1] {
        let old_root = tree_hash(old, &r).unwrap();
        check_tree(
            &prove_tree(size, old, &r).unwrap(),
            size,
            root,
            old,
            old_root,
        )
        .unwrap();
    }
    // A changed level-1 hash is refused by the client.
    let w = size / 256;
    let p = f.path(&format!("pub/tile/1/000.p/{w}"));
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let r = TileHashReader::new(size, root, &dir);
    assert!(tree_hash(size, &r).is_err());
}

/// Posts one progress note through the server (a client with `append` that the server
/// signs for as lic-1).
fn post_note(addr: &str, token: &str, id: &str) {
    let body = format!(
        r#"{{"id":"{id}","record":"C-OPEN","kind":"progress_note","occurred_on":"{}","author":"lic-1","payload":"note {id} SECRET-CLINICAL-E"}}"#,
        today()
    );
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1/ledgers/practice/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
}

/// `caseledger monitor … --every D --rounds N` as a child: its stderr read line by line.
fn monitor_every(f: &Fixture, url: &str, key: &str, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["monitor", url, "--key", key, "--state", "mon.json"];
    args.extend(extra);
    std::process::Command::new(caseledger_bin())
        .args(&args)
        .current_dir(f.dir())
        .env_remove("CASELEDGER_KEYS")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The size a `round N: consistent: size S (was …)` line gives.
fn round_size(line: &str) -> u64 {
    let rest = line
        .split_once("consistent: size ")
        .unwrap_or_else(|| panic!("not a round line: {line}"))
        .1;
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_running_monitor_follows_a_growing_server_round_by_round() {
    let f = Fixture::small();
    let key = vkey(&f, "L");
    let (proofs, proofs_h) = new_token(&f);
    let (ehr, ehr_h) = new_token(&f);
    let (mut server, addr) = serve_clients(
        &f,
        &[
            ("auditor", &proofs_h, "\"read-proofs\"]"),
            (
                "ehr",
                &ehr_h,
                "\"append\", \"read-proofs\"]\nsign_as = [\"lic-1\"]",
            ),
        ],
    );
    f.write("token", proofs.as_bytes());
    let url = format!("http://{addr}/v1/ledgers/practice/tlog");
    let mut child = monitor_every(
        &f,
        &url,
        &key,
        // 25 rounds (5 s): the three appends below must land before the last one, also on a
        // loaded 2-core CI machine where an append can take hundreds of milliseconds.
        &[
            "--token-file",
            "token",
            "--every",
            "200ms",
            "--rounds",
            "25",
        ],
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("round 1: consistent: size "), "{first}");
    let mut sizes = vec![round_size(&first)];
    // The ledger grows twice while the monitor runs (each append is durable and sealed
    // when answered), then rests for its last rounds.
    post_note(&addr, &ehr, "run-1");
    post_note(&addr, &ehr, "run-2");
    std::thread::sleep(Duration::from_millis(100));
    post_note(&addr, &ehr, "run-3");
    let mut rest = Vec::new();
    for l in lines {
        rest.push(l.unwrap());
    }
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0), "{first}\n{}", rest.join("\n"));
    // Rounds that saw no growth say nothing; those that did, their new size: all growth
    // seen, in order, with no finding.
    for l in &rest {
        assert!(
            l.starts_with("round ") && l.contains(": consistent: size "),
            "{l}"
        );
        sizes.push(round_size(l));
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    let state: Value = serde_json::from_slice(&std::fs::read(f.path("mon.json")).unwrap()).unwrap();
    assert_eq!(state["size"].as_u64(), Some(sizes[0] + 3), "{sizes:?}");
    assert_eq!(sizes.last(), Some(&(sizes[0] + 3)));
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_running_monitor_stops_with_exit_1_when_the_server_rolls_back() {
    let f = Fixture::small();
    let key = vkey(&f, "L");
    publish(&f, "L", "old");
    progress_note(&f, "L", 3);
    publish(&f, "L", "live");
    let server = StaticServer::start(&f.path("live"));
    f.write("hook", b"echo \"$CASELEDGER_MONITOR_FINDING\" >> hook.txt");
    let mut child = monitor_every(
        &f,
        &server.url(),
        &key,
        &["--every", "200ms", "--rounds", "50", "--hook", "sh hook"],
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("round 1: consistent: size "), "{first}");
    let kept = std::fs::read(f.path("mon.json")).unwrap();
    // The server now answers an older checkpoint (its copy restored from a backup).
    std::fs::copy(f.path("old/checkpoint"), f.path("live/checkpoint")).unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(1), "{rest:?}");
    assert_eq!(rest.len(), 1, "one line: {rest:?}");
    assert!(
        rest[0].starts_with("round ")
            && rest[0].contains(": rollback: the log serves a checkpoint of size"),
        "{rest:?}"
    );
    assert_eq!(
        std::fs::read_to_string(f.path("hook.txt")).unwrap(),
        "rollback\n"
    );
    assert_eq!(std::fs::read(f.path("mon.json")).unwrap(), kept);
    // A log it cannot read: each round says so and the next tries again; exit 2 when the
    // last round could not read it either.
    std::fs::create_dir(f.path("empty")).unwrap();
    let out = f.run(&[
        "monitor", "empty", "--key", &key, "--every", "100ms", "--rounds", "2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "round 1: monitor empty: fetching checkpoint: not served; trying again in 100ms"
        ),
        "{err}"
    );
    assert!(err.contains("round 2: monitor empty"), "{err}");
    assert!(
        err.contains("the last round: fetching checkpoint: not served"),
        "{err}"
    );
    // --rounds without --every, and a zero pause, are usage errors.
    let out = f.run(&["monitor", "empty", "--key", &key, "--rounds", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let out = f.run(&["monitor", "empty", "--key", &key, "--every", "0s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--every 0"), "{}", stderr(&out));
}

#[test]
fn a_running_monitor_rides_out_a_server_restart_and_stops_at_the_rollback_it_serves() {
    let f = Fixture::small();
    let key = vkey(&f, "L");
    // The older copy the practice will restore.
    copy_dir(&f.ledger(), &f.path("L-old"));
    progress_note(&f, "L", 3);
    let (proofs, proofs_h) = new_token(&f);
    let clients = [("auditor", proofs_h.as_str(), "\"read-proofs\"]")];
    let (mut server, addr) = serve_clients(&f, &clients);
    f.write("token", proofs.as_bytes());
    let url = format!("http://{addr}/v1/ledgers/practice/tlog");
    let mut child = monitor_every(
        &f,
        &url,
        &key,
        &[
            "--token-file",
            "token",
            "--every",
            "200ms",
            "--rounds",
            "100",
        ],
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("round 1: consistent: size "), "{first}");
    // The server stops; the older copy is put in place; the server starts again on the
    // same address. Rounds meanwhile cannot read the log and say so.
    let _ = server.kill();
    let _ = server.wait();
    std::fs::rename(f.ledger(), f.path("L-new")).unwrap();
    std::fs::rename(f.path("L-old"), f.ledger()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (mut server, again) = serve_clients_at(&f, &addr, &clients);
    assert_eq!(again, addr);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(1), "{rest:?}");
    let (last, before) = rest.split_last().unwrap();
    assert!(
        last.starts_with("round ")
            && last.contains(": rollback: the log serves a checkpoint of size"),
        "{rest:?}"
    );
    assert!(
        !before.is_empty(),
        "no round while the server was down: {rest:?}"
    );
    assert!(
        before.iter().all(|l| l.contains("trying again in 200ms")),
        "{rest:?}"
    );
    let _ = server.kill();
    let _ = server.wait();
}
