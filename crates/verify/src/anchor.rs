//! What a verdict rests on: its [`Anchor`], decided by the verifier from what the relying
//! party supplied and what actually held, and the one set of words every output uses for it
//! (`verify`, `verify --bundle`, `status`, the retention report).
//!
//! Checkpoints checked only with the ledger key that genesis names are *self-attested*: an
//! insider who holds that key can re-sign any history, so such a verdict proves only that the
//! ledger is consistent with itself.
use caseledger_core::Hash;

/// The words for a verdict no key or checkpoint of the relying party anchors.
pub const SELF_ATTESTED_WORDS: &str =
    "checkpoints were checked with the ledger key named in the ledger itself";

/// What to give to anchor a self-attested verdict (`verify`'s flags).
pub const SELF_ATTESTED_HINT: &str = "give --key/--trusted/--witness to anchor the verdict";

/// Anchor: a signed checkpoint the auditor holds (`verify --trusted`).
pub const TRUSTED_CHECKPOINT_WORDS: &str =
    "the ledger matches a signed checkpoint the auditor holds";

/// Anchor: a witness quorum (`verify --witness … --quorum K`).
pub const WITNESS_QUORUM_WORDS: &str =
    "a checkpoint the ledger matches is cosigned by a quorum of witnesses the relying party named";

/// Anchor: a trusted ledger key (`verify --key`).
pub const LEDGER_KEY_WORDS: &str =
    "checkpoints were checked with a ledger key the relying party supplied; its holder can re-sign a rewritten history, which only a checkpoint or witness held outside catches";

/// No anchor although the relying party supplied keys: nothing they trust matched.
pub const UNANCHORED_WORDS: &str =
    "nothing the relying party supplied (keys, checkpoints, witnesses) matches the ledger";

/// The kinds of anchor, strongest first. Each anchored kind covers the ledger up to a size:
/// entries after it rest on nothing outside the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorKind {
    /// A checkpoint the auditor supplied (`--trusted`) is validly signed and the ledger's
    /// root at its size equals its root: entries `0..size` are anchored.
    AuditorCheckpoint {
        /// The checkpoint's size.
        size: u64,
        /// Its root.
        root: Hash,
    },
    /// The newest checkpoint matches the ledger and carries valid cosignatures of `n` of the
    /// `of` distinct witnesses the relying party named, at least the quorum it required.
    WitnessQuorum {
        /// The checkpoint's size.
        size: u64,
        /// Distinct witnesses whose cosignature verified.
        n: usize,
        /// Distinct witnesses named.
        of: usize,
    },
    /// The newest checkpoint that matches was signed by a ledger key the relying party
    /// supplied (`--key`). The key holder can still re-sign: weaker than the two above.
    AuditorKey {
        /// The checkpoint's size.
        size: u64,
    },
    /// The relying party supplied keys or checkpoints, but none of them matched the ledger.
    Unanchored,
    /// Nothing was supplied: checkpoints were checked with the ledger key genesis names.
    SelfAttested,
}

/// What a verdict rests on. Only the verifier constructs one (it is on a
/// [`Verified`](crate::Verified) or a [`VerifiedBundle`](crate::bundle::VerifiedBundle)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    kind: AnchorKind,
    ledger_size: u64,
}

/// The evidence that held, as the verifier found it.
#[derive(Default)]
pub(crate) struct Held {
    /// The largest auditor-supplied checkpoint that matched: (size, root).
    pub supplied: Option<(u64, Hash)>,
    /// The witness quorum met on a matching checkpoint: (size, n, of).
    pub quorum: Option<(u64, usize, usize)>,
    /// The newest matching checkpoint signed by a key the relying party supplied.
    pub keyed: Option<u64>,
    /// The relying party supplied anything at all (keys, checkpoints, a quorum).
    pub supplied_any: bool,
}

impl Anchor {
    /// Decides the anchor: outside evidence (an auditor's checkpoint, a witness quorum)
    /// covering the most entries, else a supplied key, else none.
    pub(crate) fn decide(ledger_size: u64, held: &Held) -> Anchor {
        let checkpoint = held
            .supplied
            .map(|(size, root)| AnchorKind::AuditorCheckpoint { size, root });
        let quorum = held
            .quorum
            .map(|(size, n, of)| AnchorKind::WitnessQuorum { size, n, of });
        let outside = match (checkpoint, quorum) {
            (Some(c), Some(q)) => Some(if q.size() > c.size() { q } else { c }),
            (c, q) => c.or(q),
        };
        let kind = outside
            .or(held.keyed.map(|size| AnchorKind::AuditorKey { size }))
            .unwrap_or(if held.supplied_any {
                AnchorKind::Unanchored
            } else {
                AnchorKind::SelfAttested
            });
        Anchor { kind, ledger_size }
    }

    /// The kind, with what it covers.
    pub fn kind(&self) -> AnchorKind {
        self.kind
    }

    /// Something the relying party supplied anchors the verdict (up to
    /// [`Anchor::covers`]).
    pub fn is_anchored(&self) -> bool {
        self.covers().is_some()
    }

    /// The ledger size up to which the verdict is anchored; `None` when nothing anchors it.
    pub fn covers(&self) -> Option<u64> {
        self.kind.size()
    }

    /// The machine name: `trusted_checkpoint`, `witness_quorum`, `ledger_key`, `none` or
    /// `self_attested` (the retention report's and `--json`'s `anchor.kind`).
    pub fn name(&self) -> &'static str {
        match self.kind {
            AnchorKind::AuditorCheckpoint { .. } => "trusted_checkpoint",
            AnchorKind::WitnessQuorum { .. } => "witness_quorum",
            AnchorKind::AuditorKey { .. } => "ledger_key",
            AnchorKind::Unanchored => "none",
            AnchorKind::SelfAttested => "self_attested",
        }
    }

    /// What the kind means, in the words every output uses.
    pub fn words(&self) -> &'static str {
        match self.kind {
            AnchorKind::AuditorCheckpoint { .. } => TRUSTED_CHECKPOINT_WORDS,
            AnchorKind::WitnessQuorum { .. } => WITNESS_QUORUM_WORDS,
            AnchorKind::AuditorKey { .. } => LEDGER_KEY_WORDS,
            AnchorKind::Unanchored => UNANCHORED_WORDS,
            AnchorKind::SelfAttested => SELF_ATTESTED_WORDS,
        }
    }

    /// One line for people: the kind, its words and what it covers, e.g.
    /// `trusted-checkpoint: the ledger matches a signed checkpoint the auditor holds (size 5
    /// of 8 entries; the 3 after it are not anchored)`.
    pub fn line(&self) -> String {
        let name = self.name().replace('_', "-");
        let words = self.words();
        let detail = match self.kind {
            AnchorKind::WitnessQuorum { n, of, .. } => format!("{n} of {of} witnesses, "),
            _ => String::new(),
        };
        match self.covers() {
            Some(size) if size >= self.ledger_size => {
                format!("{name}: {words} ({detail}size {size}, every entry)")
            }
            Some(size) => format!(
                "{name}: {words} ({detail}size {size} of {} entries; the {} after it are not anchored)",
                self.ledger_size,
                self.ledger_size - size
            ),
            None if self.kind == AnchorKind::SelfAttested => {
                format!("{name}: {words} — {SELF_ATTESTED_HINT}")
            }
            None => format!("{name}: {words}"),
        }
    }
}

impl AnchorKind {
    /// The size an anchored kind covers.
    fn size(&self) -> Option<u64> {
        match *self {
            AnchorKind::AuditorCheckpoint { size, .. }
            | AnchorKind::WitnessQuorum { size, .. }
            | AnchorKind::AuditorKey { size } => Some(size),
            AnchorKind::Unanchored | AnchorKind::SelfAttested => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_evidence_covering_more_wins_and_keys_come_last() {
        let held = Held {
            supplied: Some((3, Hash::default())),
            quorum: Some((5, 2, 3)),
            keyed: Some(5),
            supplied_any: true,
        };
        let a = Anchor::decide(5, &held);
        assert_eq!(
            a.kind(),
            AnchorKind::WitnessQuorum {
                size: 5,
                n: 2,
                of: 3
            }
        );
        assert_eq!(
            a.line(),
            format!(
                "witness-quorum: {WITNESS_QUORUM_WORDS} (2 of 3 witnesses, size 5, every entry)"
            )
        );
        let a = Anchor::decide(
            5,
            &Held {
                keyed: Some(4),
                supplied_any: true,
                ..Held::default()
            },
        );
        assert_eq!(a.kind(), AnchorKind::AuditorKey { size: 4 });
        assert!(a
            .line()
            .ends_with("(size 4 of 5 entries; the 1 after it are not anchored)"));
        let a = Anchor::decide(
            5,
            &Held {
                supplied_any: true,
                ..Held::default()
            },
        );
        assert_eq!((a.name(), a.is_anchored()), ("none", false));
        let a = Anchor::decide(5, &Held::default());
        assert_eq!((a.name(), a.covers()), ("self_attested", None));
        assert!(a.line().contains(SELF_ATTESTED_HINT));
    }
}
