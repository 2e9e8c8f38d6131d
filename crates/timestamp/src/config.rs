//! The TSA a ledger asks for time-stamp tokens after writes: `<key directory>/tsa.txt`,
//! beside `witnesses.txt` and the keys, not in the ledger (which TSA a practice uses is its
//! own configuration; which TSA roots count is the relying party's choice, at
//! `timestamp verify --tsa-chain`). No I/O here: the CLI reads and writes the file.
//!
//! ```text
//! # caseledger TSA (caseledger timestamp config set)
//! url https://freetsa.org/tsr
//! chain /etc/caseledger/freetsa-chain.pem
//! tls-roots /etc/caseledger/private-ca.pem
//! min-interval 60
//! ```
//!
//! `url` and `chain` are required (a token is verified against the chain before it is
//! stored, so a TSA that answers with something else stores nothing); `tls-roots` and
//! `min-interval` (seconds, default 0: every seal) are optional. Paths are absolute, so
//! the file means the same from any working directory. One `key value` per line; blank
//! lines and `#` comments are skipped.

use std::path::{Path, PathBuf};

/// The file name in the key directory.
pub const CONFIG_FILE: &str = "tsa.txt";

/// The largest `min-interval` accepted: a day (a token per day still bounds every seal's
/// time to within a day).
pub const MAX_MIN_INTERVAL: u64 = 86_400;

/// Why a TSA configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsaConfigError {
    /// The URL is not `http(s)://...` or has spaces or control characters.
    #[error("TSA URL: must start with https:// or http:// and have no spaces")]
    BadUrl,
    /// A path is not absolute, or is not UTF-8 text without control characters.
    #[error("{0}: must be an absolute path without control characters")]
    BadPath(&'static str),
    /// `min-interval` is not a number of seconds up to a day.
    #[error("min-interval: expected 0 to {MAX_MIN_INTERVAL} seconds")]
    BadInterval,
    /// A line is not `key value` with a known key, or a key occurs twice.
    #[error(
        "line {0}: expected one of `url`, `chain`, `tls-roots`, `min-interval` once, then a value"
    )]
    BadLine(usize),
    /// A required key is missing.
    #[error("no `{0}` line")]
    Missing(&'static str),
}

/// A configured TSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsaConfig {
    url: String,
    chain: PathBuf,
    tls_roots: Option<PathBuf>,
    min_interval: u64,
}

fn check_path(p: &Path, what: &'static str) -> Result<(), TsaConfigError> {
    let ok = p.is_absolute()
        && p.to_str()
            .is_some_and(|s| !s.chars().any(char::is_control) && s.trim() == s);
    if ok {
        Ok(())
    } else {
        Err(TsaConfigError::BadPath(what))
    }
}

impl TsaConfig {
    /// Validates a URL, the chain file's path and the optional TLS roots file's path.
    pub fn new(
        url: &str,
        chain: &Path,
        tls_roots: Option<&Path>,
        min_interval: u64,
    ) -> Result<TsaConfig, TsaConfigError> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(TsaConfigError::BadUrl)?;
        if rest.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TsaConfigError::BadUrl);
        }
        check_path(chain, "chain")?;
        if let Some(t) = tls_roots {
            check_path(t, "tls-roots")?;
        }
        if min_interval > MAX_MIN_INTERVAL {
            return Err(TsaConfigError::BadInterval);
        }
        Ok(TsaConfig {
            url: url.to_owned(),
            chain: chain.to_owned(),
            tls_roots: tls_roots.map(Path::to_owned),
            min_interval,
        })
    }

    /// The TSA's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The PEM file of the certificates to trust for the TSA (its root).
    pub fn chain(&self) -> &Path {
        &self.chain
    }
    /// For an `https://` TSA behind a private CA: the only TLS roots.
    pub fn tls_roots(&self) -> Option<&Path> {
        self.tls_roots.as_deref()
    }
    /// Seconds between two requests sent after writes (0: every seal).
    pub fn min_interval(&self) -> u64 {
        self.min_interval
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<TsaConfig, TsaConfigError> {
        let (mut url, mut chain, mut tls, mut interval) = (None, None, None, None);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = TsaConfigError::BadLine(i + 1);
            let (k, v) = line.split_once(' ').ok_or(bad.clone())?;
            let slot = match k {
                "url" => &mut url,
                "chain" => &mut chain,
                "tls-roots" => &mut tls,
                "min-interval" => &mut interval,
                _ => return Err(bad),
            };
            if slot.replace(v.trim()).is_some() {
                return Err(bad);
            }
        }
        let interval = interval
            .map(|v| v.parse::<u64>().map_err(|_| TsaConfigError::BadInterval))
            .transpose()?
            .unwrap_or(0);
        TsaConfig::new(
            url.ok_or(TsaConfigError::Missing("url"))?,
            Path::new(chain.ok_or(TsaConfigError::Missing("chain"))?),
            tls.map(Path::new),
            interval,
        )
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        // Paths were checked to be UTF-8 in `new`.
        let path = |p: &Path| p.to_str().unwrap_or_default().to_owned();
        let mut s = format!(
            "# caseledger TSA (caseledger timestamp config set)\nurl {}\nchain {}\n",
            self.url,
            path(&self.chain)
        );
        if let Some(t) = &self.tls_roots {
            s.push_str(&format!("tls-roots {}\n", path(t)));
        }
        if self.min_interval != 0 {
            s.push_str(&format!("min-interval {}\n", self.min_interval));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_optional_lines_optional() {
        let c = TsaConfig::new("http://127.0.0.1:9/tsa", Path::new("/k/ca.pem"), None, 0).unwrap();
        assert_eq!(
            c.to_text(),
            "# caseledger TSA (caseledger timestamp config set)\nurl http://127.0.0.1:9/tsa\nchain /k/ca.pem\n"
        );
        assert_eq!(TsaConfig::parse(&c.to_text()), Ok(c));
        let c = TsaConfig::new(
            "https://tsa.example/",
            Path::new("/k/ca.pem"),
            Some(Path::new("/k/tls.pem")),
            60,
        )
        .unwrap();
        let back = TsaConfig::parse(&c.to_text()).unwrap();
        assert_eq!(back.tls_roots(), Some(Path::new("/k/tls.pem")));
        assert_eq!(back.min_interval(), 60);
    }

    #[test]
    fn refuses_what_would_mean_something_else() {
        let ca = Path::new("/k/ca.pem");
        assert_eq!(
            TsaConfig::new("ftp://x", ca, None, 0),
            Err(TsaConfigError::BadUrl)
        );
        assert_eq!(
            TsaConfig::new("http://x", Path::new("ca.pem"), None, 0),
            Err(TsaConfigError::BadPath("chain"))
        );
        assert_eq!(
            TsaConfig::new("http://x", ca, None, MAX_MIN_INTERVAL + 1),
            Err(TsaConfigError::BadInterval)
        );
        assert_eq!(
            TsaConfig::parse("url http://x\n"),
            Err(TsaConfigError::Missing("chain"))
        );
        assert_eq!(
            TsaConfig::parse("url http://x\nurl http://y\nchain /c\n"),
            Err(TsaConfigError::BadLine(2))
        );
        assert_eq!(
            TsaConfig::parse("# c\nurl http://x\nchain /c\ncolour red\n"),
            Err(TsaConfigError::BadLine(4))
        );
        assert_eq!(
            TsaConfig::parse("url http://x\nchain /c\nmin-interval soon\n"),
            Err(TsaConfigError::BadInterval)
        );
    }
}
