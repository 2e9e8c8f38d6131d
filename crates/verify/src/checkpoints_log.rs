//! `checkpoints.log`: the plain file beside the sled directory where the store appends
//! every signed checkpoint. Read with core's framing ([`caseledger_core::layout`]), but
//! tolerantly: the verifier reports a bad tail instead of refusing the whole log.

use caseledger_core::layout::{LogError, LogRecords};

/// The file name, beside the `sled` directory.
pub const FILE_NAME: &str = caseledger_core::layout::CHECKPOINTS_LOG;

/// Splits the log into its notes, in file order. A malformed record (a length line that is
/// not a canonical number) is returned as one last item holding the rest of the file, so
/// that the verifier reports it as a malformed checkpoint instead of silently reading a
/// shorter log. A complete record whose note is not UTF-8 is returned as it stands and
/// reading goes on (the verifier reports that note as malformed; the fuzz target
/// `checkpoints_log` holds this reader to both). A torn final record (the file ends inside it: a write in flight
/// when a raw copy was taken, or a crash the store cuts back at its next open) is dropped:
/// it is no evidence of tampering, and dropping it gives nobody more than deleting it would
/// (a removed seal is caught by the seals before it, the entries and outside evidence).
pub fn parse(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut records = LogRecords::new(bytes);
    let mut out = Vec::new();
    loop {
        let tail = records.rest();
        match records.next() {
            None => return out,
            Some(Ok(note)) => out.push(note.to_vec()),
            Some(Err(LogError::TornTail { .. })) => return out,
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
    fn splits_by_length_drops_a_torn_tail_and_keeps_a_malformed_one() {
        let a = "o\n1\nAAAA\n\n\u{2014} k sig\n";
        let mut log = format!("{}\n{a}", a.len()).into_bytes();
        log.extend(format!("{}\n{a}", a.len()).as_bytes());
        assert_eq!(
            parse(&log),
            vec![a.as_bytes().to_vec(), a.as_bytes().to_vec()]
        );
        let torn = &log[..log.len() - 3];
        assert_eq!(parse(torn), vec![a.as_bytes().to_vec()]);
        // A length line that is not a canonical number is malformed: kept, to be reported.
        assert!(parse(b"01\nx").len() == 1 && parse(b"").is_empty());
    }
}
