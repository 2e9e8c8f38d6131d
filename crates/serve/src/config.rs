//! The server's configuration file (TOML). Relative paths are relative to the file's
//! directory. Unknown keys are refused (a misspelt limit must not silently be the default).
//!
//! ```toml
//! listen = "127.0.0.1:8714"          # loopback only, unless [tls] is given
//! [tls]                              # optional: HTTPS (rustls) instead of plain HTTP; SIGHUP rereads the files
//! cert = "tls/cert.pem"              # the certificate chain, leaf first (PEM)
//! key = "tls/key.pem"                # its private key (PEM), 0600 like every private key
//! [limits]                           # all optional, these are the defaults
//! max_body_bytes = 1048576
//! request_timeout_secs = 30
//! max_open_ledgers = 16
//! idle_close_secs = 300
//! max_batch = 1000
//! ledger_cache_mib = 64              # sled's page cache per open ledger
//! max_connections = 256              # served at once; more wait in the kernel's backlog
//! header_read_timeout_secs = 10      # a request's headers (or an idle kept-alive connection)
//! [ledgers.practice-a]               # name: [a-z0-9-]{1,64}
//! dir = "ledgers/practice-a"
//! keys = "keys/practice-a"           # ledger.pem (seals), kek, actors/<id>.pem
//! snapshots = "snapshots"            # optional: where the snapshot route writes copies
//! report_key = "keys/report.pem"     # optional: signs retention reports (needs snapshots)
//! [[clients]]
//! name = "ehr"
//! token_sha256 = "<64 hex>"          # `caseledger serve --new-token` prints a token and this
//! scopes = ["append", "read-status", "read-proofs"]
//! ledgers = ["practice-a"]           # optional: every ledger when absent
//! sign_as = ["lic-1"]                # optional: authors the server signs for with their keys
//! expires = "2027-06-30T00:00:00Z"   # optional: the token is refused (401) from then on
//! requests_per_sec = 50              # optional: 429 + Retry-After beyond (bursts of as many)
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The address served when the file names none: loopback, the port after the witness's.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8714";

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML, or a key or value the server does not know.
    #[error("config {path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (the TOML parser's words: a location and a key name).
        why: String,
    },
}

/// A ledger's name in URLs: 1-64 of `a-z`, `0-9` and `-`, not starting with `-`. Only names
/// the configuration maps to a directory are served; a name never becomes a path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LedgerName(String);

impl LedgerName {
    /// Validates a name (the value is not quoted back on error: it came from a URL).
    pub fn new(s: &str) -> Option<LedgerName> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| LedgerName(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LedgerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Limits (the defaults are [`Limits::default`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest request body (payloads included), in bytes; `413` beyond.
    pub max_body_bytes: usize,
    /// A request not answered within this many seconds gets `503` with `Retry-After` (an
    /// append already handed to the store still completes: retry with the same `id`).
    pub request_timeout_secs: u64,
    /// At most this many ledgers are open at once; a request for another when all are in
    /// use gets `503` with `Retry-After`.
    pub max_open_ledgers: usize,
    /// A ledger not used for this many seconds is closed (its lock released, so the CLI
    /// and `caseledger verify` can open it).
    pub idle_close_secs: u64,
    /// The most events one request may carry.
    pub max_batch: usize,
    /// sled's page cache per open ledger, in MiB: with `max_open_ledgers`, what bounds the
    /// server's memory (see [`crate::pool`]).
    pub ledger_cache_mib: u64,
    /// At most this many connections are served at once; more wait in the kernel's
    /// backlog (slow or idle clients cannot take the server's file descriptors or memory).
    pub max_connections: usize,
    /// A connection that has not sent a whole request's headers within this many seconds of
    /// starting to wait for them (a new connection, or a kept-alive one after its last
    /// answer) is closed: a client dribbling its headers (slowloris), or sending nothing,
    /// gives up its connection slot.
    pub header_read_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 1 << 20,
            request_timeout_secs: 30,
            max_open_ledgers: 16,
            idle_close_secs: 300,
            max_batch: 1000,
            ledger_cache_mib: 64,
            max_connections: 256,
            header_read_timeout_secs: 10,
        }
    }
}

/// What a client may do; each route needs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Append events (pre-signed, or signed by the server as the authors in `sign_as`).
    Append,
    /// Read a record's status.
    ReadStatus,
    /// Read seals, inclusion and consistency proofs.
    ReadProofs,
    /// Read full entries (their canonical bytes: record and actor ids, kinds, dates; never a
    /// payload) in the entry bundles under `…/tlog-entries` (crate::tiles). Not implied by
    /// `read-proofs`, whose bundles hold entry hashes only.
    ReadEntries,
    /// Evidence bundles (`POST …/records/{id}/bundle`) and signed retention reports
    /// (`GET …/reports/retention`).
    Report,
    /// Events that place or release holds, destroy records or revoke keys (with `append`),
    /// and snapshots.
    Admin,
}

impl Scope {
    /// The scope's name in the configuration and in errors.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Append => "append",
            Scope::ReadStatus => "read-status",
            Scope::ReadProofs => "read-proofs",
            Scope::ReadEntries => "read-entries",
            Scope::Report => "report",
            Scope::Admin => "admin",
        }
    }
}

/// HTTPS: the server's certificate and key (`[tls]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 RSA or SEC1 EC). Refused when the file gives
    /// group or others any access, as every private key file is (`caseledger_keyfile`).
    pub key: PathBuf,
}

/// One hosted ledger.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// The ledger directory.
    pub dir: PathBuf,
    /// Its key directory: `ledger.pem` (every commit is sealed with it), `kek` (payloads),
    /// and `actors/<id>.pem` for the authors the server may sign for.
    pub keys: PathBuf,
    /// Where `POST /v1/ledgers/{name}/snapshot` writes consistent copies for auditors
    /// (`<snapshots>/<name>-<unix ms>`); the route answers `404` when absent.
    pub snapshots: Option<PathBuf>,
    /// The reporting key (a private key file, `caseledger keys generate`) that signs the
    /// retention reports `GET …/reports/retention` answers; the route answers `404` when
    /// absent. Reports are made from a snapshot, so `snapshots` is needed too.
    #[serde(default)]
    pub report_key: Option<PathBuf>,
}

/// One client (a record system).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Its name in the log.
    pub name: String,
    /// SHA-256 of its bearer token, lowercase hex (the token itself is never stored).
    pub token_sha256: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The ledgers it may use (every configured ledger when absent).
    pub ledgers: Option<Vec<String>>,
    /// Authors whose events the server may sign with their key file from the ledger's key
    /// directory, for this client. Empty: the client sends pre-signed events only.
    #[serde(default)]
    pub sign_as: Vec<String>,
    /// When its token stops working: an RFC 3339 instant (`2027-06-30T00:00:00Z`). Absent:
    /// never (rotate it by hand: a new `--new-token`, the old hash removed).
    #[serde(default)]
    pub expires: Option<String>,
    /// At most this many requests per second on average, in bursts of as many (`429` with
    /// `Retry-After` beyond). Absent: no limit (the record system is trusted to pace itself).
    #[serde(default)]
    pub requests_per_sec: Option<u32>,
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen: a loopback address, or any address with `[tls]` (plain HTTP
    /// carries bearer tokens and clinical content in the clear: never off the host).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// HTTPS with this certificate and key; plain HTTP when absent.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// The hosted ledgers, by name.
    #[serde(default)]
    pub ledgers: BTreeMap<String, LedgerConfig>,
    /// The clients.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

fn default_listen() -> SocketAddr {
    // A literal that parses.
    SocketAddr::from(([127, 0, 0, 1], 8714))
}

impl Config {
    /// Reads and checks the file; relative paths are made relative to its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|why| ConfigError::Invalid {
            path: path.to_owned(),
            why,
        })
    }

    /// Parses and checks the text; relative paths are joined to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        let mut c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if !c.listen.ip().is_loopback() && c.tls.is_none() {
            return Err(format!(
                "listen {}: plain HTTP is served on a loopback address only: give [tls] cert and key to listen here, or put a TLS-terminating proxy on the same host",
                c.listen
            ));
        }
        if let Some(t) = &mut c.tls {
            t.cert = base.join(&t.cert);
            t.key = base.join(&t.key);
        }
        let l = &c.limits;
        if l.max_body_bytes == 0 || l.max_open_ledgers == 0 || l.max_batch == 0 {
            return Err(
                "limits: max_body_bytes, max_open_ledgers and max_batch must be at least 1".into(),
            );
        }
        if l.request_timeout_secs == 0 || l.header_read_timeout_secs == 0 {
            return Err(
                "limits: request_timeout_secs and header_read_timeout_secs must be at least 1"
                    .into(),
            );
        }
        if l.max_connections == 0 {
            return Err("limits: max_connections must be at least 1".into());
        }
        for (name, lc) in &mut c.ledgers {
            if LedgerName::new(name).is_none() {
                return Err(format!(
                    "ledgers.{name}: a ledger name is 1-64 of a-z, 0-9 and '-' (not first)"
                ));
            }
            lc.dir = base.join(&lc.dir);
            lc.keys = base.join(&lc.keys);
            lc.snapshots = lc.snapshots.as_ref().map(|p| base.join(p));
            lc.report_key = lc.report_key.as_ref().map(|p| base.join(p));
        }
        let mut seen = std::collections::BTreeSet::new();
        for cl in &c.clients {
            if !seen.insert(cl.name.clone()) {
                return Err(format!("clients: the name {:?} is given twice", cl.name));
            }
            let mut h = [0u8; 32];
            if hex::decode_to_slice(&cl.token_sha256, &mut h).is_err() {
                return Err(format!(
                    "clients {:?}: token_sha256 must be 64 hex digits (`caseledger serve --new-token` prints one)",
                    cl.name
                ));
            }
            for l in cl.ledgers.iter().flatten() {
                if !c.ledgers.contains_key(l) {
                    return Err(format!(
                        "clients {:?}: ledger {l:?} is not configured",
                        cl.name
                    ));
                }
            }
            if cl.requests_per_sec == Some(0) {
                return Err(format!(
                    "clients {:?}: requests_per_sec must be at least 1 (leave it out for no limit)",
                    cl.name
                ));
            }
            if let Some(e) = &cl.expires {
                if e.parse::<jiff::Timestamp>().is_err() {
                    return Err(format!(
                        "clients {:?}: expires must be an RFC 3339 instant, e.g. 2027-06-30T00:00:00Z",
                        cl.name
                    ));
                }
            }
            for a in &cl.sign_as {
                if caseledger_core::ActorId::new(a).is_err() {
                    return Err(format!(
                        "clients {:?}: sign_as {a:?} is not an actor id",
                        cl.name
                    ));
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn a_client_expiry_must_be_an_instant() {
        let with = |e: &str| {
            format!("[[clients]]\nname = \"ehr\"\ntoken_sha256 = \"{HASH}\"\nscopes = []\nexpires = \"{e}\"\n")
        };
        assert!(Config::parse(&with("2027-06-30T00:00:00Z"), Path::new("/")).is_ok());
        for bad in ["2027-06-30", "soon", ""] {
            let e = Config::parse(&with(bad), Path::new("/")).unwrap_err();
            assert!(e.to_string().contains("expires"), "{bad}: {e}");
        }
    }

    #[test]
    fn names_are_narrow() {
        assert!(LedgerName::new("practice-a").is_some());
        assert!(LedgerName::new(&"a".repeat(64)).is_some());
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            "A",
            "-a",
            "a b",
            "a%2f",
            &"a".repeat(65),
        ] {
            assert!(LedgerName::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_config_parses_with_defaults_and_relative_paths() {
        let text = format!(
            "[ledgers.p]\ndir = \"l\"\nkeys = \"/k\"\n[[clients]]\nname = \"ehr\"\ntoken_sha256 = \"{HASH}\"\nscopes = [\"append\", \"read-proofs\"]\n"
        );
        let c = Config::parse(&text, Path::new("/etc/cl")).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.ledgers["p"].dir, Path::new("/etc/cl/l"));
        assert_eq!(c.ledgers["p"].keys, Path::new("/k"));
        assert_eq!(c.limits.max_body_bytes, 1 << 20);
        assert_eq!(c.clients[0].scopes, vec![Scope::Append, Scope::ReadProofs]);
        assert!(c.tls.is_none());
    }

    #[test]
    fn tls_allows_a_public_address_and_its_paths_are_relative_to_the_file() {
        let c = Config::parse(
            "listen = \"0.0.0.0:8443\"\n[tls]\ncert = \"tls/c.pem\"\nkey = \"/k.pem\"\n",
            Path::new("/etc/cl"),
        )
        .unwrap();
        let t = c.tls.unwrap();
        assert_eq!(t.cert, Path::new("/etc/cl/tls/c.pem"));
        assert_eq!(t.key, Path::new("/k.pem"));
    }

    #[test]
    fn bad_configs_are_refused() {
        let p = Path::new("/");
        let bad = |t: &str| Config::parse(t, p).unwrap_err();
        assert!(bad("listen = \"0.0.0.0:80\"").contains("loopback"));
        assert!(bad("[tls]\ncert = \"c.pem\"").contains("missing field `key`"));
        assert!(bad("[tls]\ncert = \"c\"\nkey = \"k\"\nca = \"x\"").contains("unknown field"));
        assert!(bad("lisen = \"127.0.0.1:80\"").contains("unknown field"));
        assert!(bad("[limits]\nmax_body = 3").contains("unknown field"));
        assert!(bad("[ledgers.\"../x\"]\ndir = \"a\"\nkeys = \"b\"").contains("ledger name"));
        assert!(bad(&format!(
            "[[clients]]\nname = \"a\"\ntoken_sha256 = \"{HASH}\"\nscopes = [\"root\"]"
        ))
        .contains("unknown variant"));
        assert!(
            bad("[[clients]]\nname = \"a\"\ntoken_sha256 = \"abc\"\nscopes = []")
                .contains("64 hex")
        );
        assert!(bad(&format!(
            "[[clients]]\nname = \"a\"\ntoken_sha256 = \"{HASH}\"\nscopes = []\nledgers = [\"nope\"]"
        ))
        .contains("not configured"));
    }
}
