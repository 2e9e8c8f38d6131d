//! `checkpoints.log`: the plain file beside the sled directory where the store appends
//! every signed checkpoint. Read with core's framing ([`caseledger_core::layout`]), but
//! tolerantly: the verifier reports a bad tail instead of refusing the whole log.

use caseledger_core::layout::LogRecords;

/// The file name, beside the `sled` directory.
pub const FILE_NAME: &str = caseledger_core::layout::CHECKPOINTS_LOG;

/// Splits the log into its notes, in file order. A torn or malformed tail is returned as
/// one last item holding the rest of the file, so that the verifier reports it as a
/// malformed checkpoint instead of silently reading a shorter log.
pub fn parse(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut records = LogRecords::new(bytes);
    let mut out = Vec::new();
    loop {
        let tail = records.rest();
        match records.next() {
            None => return out,
            Some(Ok(note)) => out.push(note.to_vec()),
            Some(Err(_)) => {
                out.push(tail.to_vec());
                return out;
            }
        }
    }
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
