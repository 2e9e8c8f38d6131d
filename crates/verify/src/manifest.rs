//! A report's manifest (`manifest.sha256`): the SHA-256 of every file of the report, in
//! the format `sha256sum -c` reads (`<64 hex>  <name>\n`, sorted by name), signed like
//! `report.json` (SSHSIG namespace `caseledger-report` and raw Ed25519). One signature
//! then covers the JSON, the HTML, the CSV and the key files; [`Manifest::check`] says
//! which file changed, is missing or is extra.

use sha2::{Digest, Sha256};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.sha256";
/// Its SSHSIG signature.
pub const MANIFEST_SIG: &str = "manifest.sha256.sig";
/// Its raw Ed25519 signature.
pub const MANIFEST_ED25519: &str = "manifest.sha256.ed25519";

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// A line is not `<64 lowercase hex>  <name>`.
    #[error("line {0}: not `<sha256 hex>  <file name>`")]
    BadLine(usize),
    /// A name is not a plain file name.
    #[error("line {0}: {1:?} is not a plain file name")]
    BadName(usize, String),
    /// Names are not sorted and unique.
    #[error("line {0}: names are not sorted and unique")]
    NotSorted(usize),
    /// The manifest is not UTF-8.
    #[error("not UTF-8 text")]
    NotText,
}

/// One problem found by [`Manifest::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A listed file's content differs.
    Changed(String),
    /// A listed file is absent.
    Missing(String),
    /// A file is present that the manifest does not list.
    Extra(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed(n) => write!(f, "{n}: changed (its SHA-256 is not the manifest's)"),
            Problem::Missing(n) => write!(f, "{n}: missing"),
            Problem::Extra(n) => write!(f, "{n}: not in the manifest"),
        }
    }
}

/// The manifest: file names and their SHA-256, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    files: Vec<(String, [u8; 32])>,
}

/// A plain file name: no path separator, no control character, not `.` or `..`, no
/// leading or trailing space (so that `sha256sum -c` reads the same name).
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
        && name.trim() == name
}

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Manifest {
    /// The manifest of `files` (name, content). Names must be plain file names.
    pub fn of<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Manifest, ManifestError> {
        let mut v: Vec<(String, [u8; 32])> = Vec::new();
        for (i, (name, data)) in files.into_iter().enumerate() {
            if !plain(name) {
                return Err(ManifestError::BadName(i + 1, name.to_owned()));
            }
            v.push((name.to_owned(), sha256(data)));
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        if v.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(ManifestError::NotSorted(0));
        }
        Ok(Manifest { files: v })
    }

    /// The manifest's bytes: `<hex>  <name>\n` per file, sorted by name.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(self.files.len() * 90);
        for (name, h) in &self.files {
            s.push_str(&hex::encode(h));
            s.push_str("  ");
            s.push_str(name);
            s.push('\n');
        }
        s.into_bytes()
    }

    /// Parses manifest bytes (strictly: the form [`Manifest::to_bytes`] writes).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotText)?;
        let mut files: Vec<(String, [u8; 32])> = Vec::new();
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(ManifestError::BadLine(text.lines().count()));
        }
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let (h, name) = line.split_once("  ").ok_or(ManifestError::BadLine(n))?;
            if h.len() != 64 || !h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ManifestError::BadLine(n));
            }
            let mut d = [0u8; 32];
            hex::decode_to_slice(h, &mut d).map_err(|_| ManifestError::BadLine(n))?;
            if !plain(name) {
                return Err(ManifestError::BadName(n, name.to_owned()));
            }
            if files.last().is_some_and(|(p, _)| p.as_str() >= name) {
                return Err(ManifestError::NotSorted(n));
            }
            files.push((name.to_owned(), d));
        }
        Ok(Manifest { files })
    }

    /// The names listed, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(n, _)| n.as_str())
    }

    /// Compares the manifest with what is present: `present` lists the names found (other
    /// than the manifest and its signatures), `digest` gives a listed file's SHA-256 (None
    /// when it is absent). Problems in name order; empty when everything matches.
    pub fn check(
        &self,
        present: &[String],
        mut digest: impl FnMut(&str) -> Option<[u8; 32]>,
    ) -> Vec<Problem> {
        let mut out = Vec::new();
        for (name, want) in &self.files {
            match digest(name) {
                None => out.push(Problem::Missing(name.clone())),
                Some(got) if got != *want => out.push(Problem::Changed(name.clone())),
                Some(_) => {}
            }
        }
        for p in present {
            if !self.files.iter().any(|(n, _)| n == p) {
                out.push(Problem::Extra(p.clone()));
            }
        }
        out.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        out
    }
}

fn name_of(p: &Problem) -> &str {
    match p {
        Problem::Changed(n) | Problem::Missing(n) | Problem::Extra(n) => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted_and_sha256sum_shaped() {
        let m = Manifest::of([("report.json", &b"{}"[..]), ("a.csv", &b"x"[..])]).unwrap();
        let b = m.to_bytes();
        let text = String::from_utf8(b.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("  a.csv") && lines[1].ends_with("  report.json"));
        // sha256("{}") = 44136fa3...
        assert!(lines[1]
            .starts_with("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"));
        assert_eq!(Manifest::parse(&b).unwrap(), m);
    }

    #[test]
    fn refuses_odd_names_and_lines() {
        assert!(Manifest::of([("../x", &b""[..])]).is_err());
        assert!(Manifest::of([("a", &b""[..]), ("a", &b""[..])]).is_err());
        assert_eq!(Manifest::parse(b"zz  a\n"), Err(ManifestError::BadLine(1)));
        let h = "0".repeat(64);
        assert_eq!(
            Manifest::parse(format!("{h}  b\n{h}  a\n").as_bytes()),
            Err(ManifestError::NotSorted(2))
        );
        assert!(Manifest::parse(format!("{h}  a/b\n").as_bytes()).is_err());
        assert!(Manifest::parse(format!("{h}  a").as_bytes()).is_err());
    }

    #[test]
    fn check_names_each_problem() {
        let m = Manifest::of([("a", &b"1"[..]), ("b", &b"2"[..]), ("c", &b"3"[..])]).unwrap();
        let present = vec!["a".to_owned(), "c".to_owned(), "d".to_owned()];
        let p = m.check(&present, |n| match n {
            "a" => Some(sha256(b"1")),
            "c" => Some(sha256(b"changed")),
            _ => None,
        });
        assert_eq!(
            p,
            vec![
                Problem::Missing("b".into()),
                Problem::Changed("c".into()),
                Problem::Extra("d".into())
            ]
        );
    }
}
