//! `checkpoints.log`: the plain file beside the sled directory where the store appends
//! every signed checkpoint. Parsed here independently of the store's writer.
//!
//! Framing (the store's `layout` module): a sequence of records
//! `<decimal byte length, no sign, no leading zeros> "\n" <note bytes>`.

/// The file name, beside the `sled` directory.
pub const FILE_NAME: &str = "checkpoints.log";

/// Splits the log into its notes, in file order. A torn or malformed tail is returned as
/// one last item holding the rest of the file, so that the verifier reports it as a
/// malformed checkpoint instead of silently reading a shorter log.
pub fn parse(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(note) = split_one(rest) else {
            out.push(rest.to_vec());
            break;
        };
        out.push(note.0.to_vec());
        rest = note.1;
    }
    out
}

fn split_one(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let digits = rest.get(..nl)?;
    let canonical = !digits.is_empty()
        && digits.len() <= 12
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits.first() != Some(&b'0'));
    if !canonical {
        return None;
    }
    let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let body = rest.get(nl + 1..)?;
    body.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_length_and_keeps_a_torn_tail() {
        let a = "o\n1\nAAAA\n\n\u{2014} k sig\n";
        let mut log = format!("{}\n{a}", a.len()).into_bytes();
        log.extend(format!("{}\n{a}", a.len()).as_bytes());
        assert_eq!(
            parse(&log),
            vec![a.as_bytes().to_vec(), a.as_bytes().to_vec()]
        );
        let torn = &log[..log.len() - 3];
        let p = parse(torn);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], a.as_bytes());
        assert!(parse(b"01\nx").len() == 1 && parse(b"").is_empty());
    }
}
