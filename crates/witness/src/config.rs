//! The witnesses a ledger sends its seals to: `<key directory>/witnesses.txt`, beside the
//! keys and not in the ledger (which witnesses a practice asks is its own configuration;
//! which ones count is the relying party's choice, at `verify --witness`).
//!
//! ```text
//! # caseledger witnesses (name url key)
//! board http://127.0.0.1:8440 cosign.board.example+1a2b3c4d+BAbc...
//! ```
//!
//! One witness per line: a local name (letters, digits, `.`, `-`, `_`), the URL prefix of
//! its `add-checkpoint` (`https://`, or `http://` for a witness on loopback or behind a local
//! TLS proxy), and its cosignature/v1 verifier key
//! (`name+hex8+base64(0x04 || pk)`), separated by single spaces, and optionally
//! `min-interval=<seconds>`: the CLI sends this witness a seal after a write at most once
//! per that many seconds (the newest seal wins; `witness sync` is not limited), and
//! `tls-roots=<absolute path>`: a PEM file whose roots alone are trusted for this witness's
//! `https://` URL (a witness behind a private CA; writes and `witness sync` both use it).
//! Blank lines and `#` comments are skipped when read; [`Witnesses::to_text`] writes the
//! header comment, and each option only when set, so files without them read as before.

use caseledger_core::checkpoint::CosignatureVerifier;
use std::fmt;

/// The file name in the key directory.
pub const CONFIG_FILE: &str = "witnesses.txt";

/// Why a witness entry or file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The local name is empty, too long or has other characters.
    #[error("witness name {0:?}: use 1-64 letters, digits, '.', '-' or '_'")]
    BadName(String),
    /// The URL is not `http(s)://host...` or has spaces or control characters.
    #[error("witness URL: must start with https:// or http:// and have no spaces")]
    BadUrl,
    /// The key is not a cosignature/v1 verifier key.
    #[error("witness key: {0}")]
    BadKey(String),
    /// A line does not have three fields (and optional `min-interval=`, `tls-roots=`).
    #[error("line {0}: expected `name url key [min-interval=SECONDS] [tls-roots=PATH]`")]
    BadLine(usize),
    /// A line's field is refused.
    #[error("line {line}: {error}")]
    AtLine {
        /// 1-based.
        line: usize,
        /// What.
        error: Box<ConfigError>,
    },
    /// `min-interval=` is not a number of seconds up to a week.
    #[error("min-interval: expected 0 to {MAX_MIN_INTERVAL} seconds")]
    BadInterval,
    /// `tls-roots=` is not an absolute path without spaces.
    #[error("tls-roots: expected an absolute path without spaces or control characters")]
    BadTlsRoots,
    /// Two witnesses with one name.
    #[error("witness {0:?} is configured twice")]
    Duplicate(String),
}

/// One configured witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessEntry {
    name: String,
    url: String,
    key: CosignatureVerifier,
    min_interval: u64,
    tls_roots: Option<String>,
}

/// The largest `min-interval` accepted: a week (a witness asked less often than that is
/// hardly a witness).
pub const MAX_MIN_INTERVAL: u64 = 7 * 86_400;

impl WitnessEntry {
    /// Validates a name, a URL and a key string.
    pub fn new(name: &str, url: &str, key: &str) -> Result<WitnessEntry, ConfigError> {
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !name_ok {
            return Err(ConfigError::BadName(name.chars().take(64).collect()));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(ConfigError::BadUrl)?;
        if rest.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::BadUrl);
        }
        let key =
            CosignatureVerifier::parse(key).map_err(|e| ConfigError::BadKey(e.to_string()))?;
        Ok(WitnessEntry {
            name: name.to_owned(),
            url: url.to_owned(),
            key,
            min_interval: 0,
            tls_roots: None,
        })
    }

    /// The same witness, asked after writes at most once per `secs` seconds (0: at every
    /// seal); at most [`MAX_MIN_INTERVAL`].
    pub fn with_min_interval(mut self, secs: u64) -> Result<WitnessEntry, ConfigError> {
        if secs > MAX_MIN_INTERVAL {
            return Err(ConfigError::BadInterval);
        }
        self.min_interval = secs;
        Ok(self)
    }

    /// The same witness, its `https://` URL trusted only under the roots in the PEM file at
    /// `path` (absolute: the file is read by every later command, from any directory).
    pub fn with_tls_roots(mut self, path: &str) -> Result<WitnessEntry, ConfigError> {
        let ok =
            path.starts_with('/') && !path.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(ConfigError::BadTlsRoots);
        }
        self.tls_roots = Some(path.to_owned());
        Ok(self)
    }

    /// The PEM file of roots trusted for this witness alone, if any.
    pub fn tls_roots(&self) -> Option<&str> {
        self.tls_roots.as_deref()
    }

    /// Seconds between two requests sent after writes (0: every seal).
    pub fn min_interval(&self) -> u64 {
        self.min_interval
    }

    /// The local name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The URL prefix.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The witness's key.
    pub fn key(&self) -> &CosignatureVerifier {
        &self.key
    }
    /// As a client endpoint.
    pub fn endpoint(&self) -> crate::client::Endpoint {
        crate::client::Endpoint {
            url: self.url.clone(),
            key: self.key.clone(),
        }
    }
}

impl fmt::Display for WitnessEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.url, self.key)?;
        if self.min_interval != 0 {
            write!(f, " min-interval={}", self.min_interval)?;
        }
        if let Some(p) = &self.tls_roots {
            write!(f, " tls-roots={p}")?;
        }
        Ok(())
    }
}

/// The configured witnesses, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Witnesses(Vec<WitnessEntry>);

impl Witnesses {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Witnesses, ConfigError> {
        let mut out = Witnesses::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let [name, url, key, ref options @ ..] = f[..] else {
                return Err(ConfigError::BadLine(i + 1));
            };
            let at = |error| ConfigError::AtLine {
                line: i + 1,
                error: Box::new(error),
            };
            let mut e = WitnessEntry::new(name, url, key).map_err(at)?;
            let (mut interval, mut roots) = (None, None);
            for o in options {
                if let Some(v) = o.strip_prefix("min-interval=") {
                    if interval.replace(v).is_some() {
                        return Err(ConfigError::BadLine(i + 1));
                    }
                } else if let Some(v) = o.strip_prefix("tls-roots=") {
                    if roots.replace(v).is_some() {
                        return Err(ConfigError::BadLine(i + 1));
                    }
                } else {
                    return Err(ConfigError::BadLine(i + 1));
                }
            }
            if let Some(v) = interval {
                let secs = v.parse::<u64>().map_err(|_| at(ConfigError::BadInterval))?;
                e = e.with_min_interval(secs).map_err(at)?;
            }
            if let Some(p) = roots {
                e = e.with_tls_roots(p).map_err(at)?;
            }
            out.add(e)?;
        }
        Ok(out)
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# caseledger witnesses: name url cosignature-key [min-interval=SECONDS] [tls-roots=PATH]\n",
        );
        for e in &self.0 {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    }

    /// Adds a witness; its name must be new.
    pub fn add(&mut self, e: WitnessEntry) -> Result<(), ConfigError> {
        if self.get(e.name()).is_some() {
            return Err(ConfigError::Duplicate(e.name.clone()));
        }
        self.0.push(e);
        Ok(())
    }

    /// Removes a witness by name; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|e| e.name != name);
        self.0.len() != before
    }

    /// The witness named `name`.
    pub fn get(&self, name: &str) -> Option<&WitnessEntry> {
        self.0.iter().find(|e| e.name == name)
    }

    /// Every witness.
    pub fn iter(&self) -> impl Iterator<Item = &WitnessEntry> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// None configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::keys::SigningKey;

    fn key() -> String {
        CosignatureVerifier::new("w.example", SigningKey::from_seed(&[2; 32]).public_key())
            .unwrap()
            .to_vkey_string()
    }

    #[test]
    fn round_trips_and_refuses_duplicates() {
        let mut w = Witnesses::default();
        w.add(WitnessEntry::new("board", "http://w.example/p", &key()).unwrap())
            .unwrap();
        w.add(
            WitnessEntry::new("peer-2", "http://127.0.0.1:9", &key())
                .unwrap()
                .with_min_interval(60)
                .unwrap(),
        )
        .unwrap();
        let text = w.to_text();
        assert!(text.contains(" min-interval=60\n"), "{text}");
        assert!(!text.contains("p min-interval"), "0 is not written: {text}");
        assert_eq!(Witnesses::parse(&text), Ok(w.clone()));
        assert_eq!(w.get("peer-2").map(WitnessEntry::min_interval), Some(60));
        assert_eq!(
            w.add(WitnessEntry::new("board", "http://x", &key()).unwrap()),
            Err(ConfigError::Duplicate("board".into()))
        );
        assert!(w.remove("board"));
        assert!(!w.remove("board"));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn refuses_bad_names_urls_keys_and_lines() {
        let k = key();
        assert!(matches!(
            WitnessEntry::new("a b", "http://x", &k),
            Err(ConfigError::BadName(_))
        ));
        assert!(matches!(
            WitnessEntry::new("", "http://x", &k),
            Err(ConfigError::BadName(_))
        ));
        assert_eq!(
            WitnessEntry::new("a", "ftp://x", &k),
            Err(ConfigError::BadUrl)
        );
        assert_eq!(
            WitnessEntry::new("a", "http://", &k),
            Err(ConfigError::BadUrl)
        );
        // A log (Ed25519) key is not a witness key.
        let log = caseledger_core::note::NoteVerifier::new(
            "l",
            SigningKey::from_seed(&[1; 32]).public_key(),
        )
        .unwrap()
        .to_vkey_string();
        assert!(matches!(
            WitnessEntry::new("a", "http://x", &log),
            Err(ConfigError::BadKey(_))
        ));
        assert_eq!(
            Witnesses::parse("# c\n\nonly two\n"),
            Err(ConfigError::BadLine(3))
        );
        assert!(matches!(
            Witnesses::parse(&format!("a http://x {k}\nb nope {k}\n")),
            Err(ConfigError::AtLine { line: 2, .. })
        ));
        for bad in [
            "min-interval=x",
            "min-interval=604801",
            "tls-roots=relative.pem",
            "tls-roots=",
        ] {
            assert!(
                matches!(
                    Witnesses::parse(&format!("a http://x {k} {bad}\n")),
                    Err(ConfigError::AtLine { line: 1, .. })
                ),
                "{bad}"
            );
        }
        // An unknown option, or one given twice, is not silently dropped.
        for bad in [
            "interval=5",
            "min-interval=5 min-interval=6",
            "tls-roots=/a.pem tls-roots=/b.pem",
        ] {
            assert_eq!(
                Witnesses::parse(&format!("a http://x {k} {bad}\n")),
                Err(ConfigError::BadLine(1)),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_roots_round_trip_in_either_order() {
        let k = key();
        let e = WitnessEntry::new("board", "https://w.example/p", &k)
            .unwrap()
            .with_tls_roots("/etc/caseledger/board-ca.pem")
            .unwrap();
        assert_eq!(e.tls_roots(), Some("/etc/caseledger/board-ca.pem"));
        let mut w = Witnesses::default();
        w.add(e.clone()).unwrap();
        let text = w.to_text();
        assert!(
            text.contains(" tls-roots=/etc/caseledger/board-ca.pem\n"),
            "{text}"
        );
        assert_eq!(Witnesses::parse(&text), Ok(w));
        let both = Witnesses::parse(&format!(
            "board https://w.example/p {k} tls-roots=/r.pem min-interval=30\n"
        ))
        .unwrap();
        let b = both.get("board").unwrap();
        assert_eq!((b.tls_roots(), b.min_interval()), (Some("/r.pem"), 30));
    }
}
