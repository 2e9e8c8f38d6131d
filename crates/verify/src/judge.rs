//! Checkpoint judging: gathering the stored, logged and supplied checkpoint notes, and
//! judging each against the replayed roots (signature, origin, truncation, root, split
//! view, witness cosignatures and quorum).
use crate::finding::{CheckpointSource, Finding, FindingKind};
use crate::policy::Policy;
use crate::source::StoredCheckpoint;
use crate::verified::VerifiedCheckpoint;
use caseledger_core::checkpoint::{verify_cosignatures, Checkpoint};
use caseledger_core::note::{Note, NoteError, NoteVerifier, ALG_ED25519};
use caseledger_core::record::Registry;
use caseledger_core::Hash;
use caseledger_core::PublicKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A checkpoint note gathered before the replay, with its parse.
pub(crate) struct Candidate {
    sources: Vec<CheckpointSource>,
    key: Option<Vec<u8>>,
    text: String,
    pub(crate) parsed: Option<(Note, Checkpoint)>,
}

pub(crate) fn parse_candidate(
    c: StoredCheckpoint,
    findings: &mut Vec<Finding>,
) -> Option<Candidate> {
    let bad = |msg: String| Finding::new(FindingKind::MalformedCheckpoint, None, None, msg);
    let Ok(text) = String::from_utf8(c.note) else {
        findings.push(bad(format!(
            "a {} checkpoint is not UTF-8",
            source_name(&c.source)
        )));
        return None;
    };
    let parsed = Note::parse(text.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|n| {
            Checkpoint::parse_body(n.text())
                .map(|cp| (n, cp))
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok(p) => Some(Candidate {
            sources: vec![c.source],
            key: c.key,
            text,
            parsed: Some(p),
        }),
        Err(e) => {
            findings.push(
                bad(format!(
                    "a {} checkpoint does not parse: {e}",
                    source_name(&c.source)
                ))
                .with_checkpoint(c.source, text),
            );
            None
        }
    }
}

/// The sources' names joined, e.g. `stored and checkpoints.log`.
fn names(sources: &[CheckpointSource]) -> String {
    sources
        .iter()
        .map(source_name)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Identical notes found in several places are judged once, citing every place.
pub(crate) fn coalesce(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::with_capacity(candidates.len());
    let mut at: HashMap<String, usize> = HashMap::new();
    for c in candidates {
        match at.get(&c.text).and_then(|&i| out.get_mut(i)) {
            Some(m) => {
                for s in c.sources {
                    if !m.sources.contains(&s) {
                        m.sources.push(s);
                    }
                }
                if m.key.is_none() {
                    m.key = c.key;
                }
            }
            None => {
                at.insert(c.text.clone(), out.len());
                out.push(c);
            }
        }
    }
    out
}

fn source_name(s: &CheckpointSource) -> &'static str {
    match s {
        CheckpointSource::Stored => "stored",
        CheckpointSource::Log => "checkpoints.log",
        CheckpointSource::Supplied => "supplied",
        CheckpointSource::Bundle => "bundle",
    }
}

/// The keys a checkpoint note is checked with: the auditor's, or else the ledger key named
/// in genesis under whatever key names the note's signature lines use (self-attested).
pub(crate) fn keys_for(note: &Note, policy: &Policy, registry: &Registry) -> Vec<NoteVerifier> {
    if !policy.trusted_keys.is_empty() {
        return policy.trusted_keys.clone();
    }
    registry
        .ledger_key
        .map(|k| self_attested_for(note, k))
        .unwrap_or_default()
}

/// How a checkpoint note's signatures judge against the keys a relying party trusts. The one
/// place a checkpoint's signature is judged: the ledger's checkpoints, the auditor's, and a
/// bundle's all go through it (each caller words its own finding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureVerdict {
    /// Signed (Ed25519, not merely cosigned) by one of the keys.
    Trusted,
    /// A signature line names one of the keys but does not verify: `name+keyid`.
    Bad(String),
    /// Signed by none of the keys: the `name+keyid` of each signature line.
    Untrusted(Vec<String>),
    /// The note is malformed (the reason).
    Malformed(String),
}

/// Judges `note`'s signatures against `keys` (see [`SignatureVerdict`]).
pub(crate) fn judge_signature(note: &Note, keys: &[NoteVerifier]) -> SignatureVerdict {
    match note.verify(keys) {
        Err(NoteError::InvalidSignature { name, key_id }) => {
            SignatureVerdict::Bad(format!("{name}+{key_id:08x}"))
        }
        Err(e) => SignatureVerdict::Malformed(e.to_string()),
        Ok(v) if v.verified.iter().any(|s| s.algorithm == ALG_ED25519) => SignatureVerdict::Trusted,
        Ok(_) => SignatureVerdict::Untrusted(
            note.signatures()
                .iter()
                .map(|s| format!("{}+{:08x}", s.name, s.key_id))
                .collect(),
        ),
    }
}

/// Verifiers for `note` under `key`, whatever key names the note's signature lines use.
pub(crate) fn self_attested_for(note: &Note, key: PublicKey) -> Vec<NoteVerifier> {
    let names: BTreeSet<&str> = note.signatures().iter().map(|s| s.name.as_str()).collect();
    names
        .into_iter()
        .filter_map(|n| NoteVerifier::new(n, key).ok())
        .collect()
}

/// The checkpoint note `text` as a [`VerifiedCheckpoint`] if it parses and is signed by a
/// key the auditor trusts under `policy` (its root was verified when the state was taken).
pub(crate) fn still_trusted(
    text: &str,
    policy: &Policy,
    registry: &Registry,
) -> Option<VerifiedCheckpoint> {
    let note = Note::parse(text.as_bytes()).ok()?;
    let cp = Checkpoint::parse_body(note.text()).ok()?;
    (judge_signature(&note, &keys_for(&note, policy, registry)) == SignatureVerdict::Trusted).then(
        || VerifiedCheckpoint {
            note: text.to_owned(),
            size: cp.size,
            root: cp.root,
            sources: vec![CheckpointSource::Supplied],
        },
    )
}

/// A validly signed checkpoint note and where it was found.
type Seen = (String, Vec<CheckpointSource>);

/// What checkpoints are judged against: the replay's conclusions and the auditor's policy.
pub(crate) struct Judge<'a> {
    pub policy: &'a Policy,
    /// The fold's ledger-wide state (for the genesis ledger key).
    pub registry: &'a Registry,
    /// The origin genesis names (empty if none).
    pub origin: &'a str,
    /// Entries in the ledger.
    pub size: u64,
    /// The ledger's root at each checkpoint size it reached (or the auditor's state knows).
    pub roots: &'a HashMap<u64, Hash>,
    /// The resume point of an incremental verification.
    pub resumed_from: Option<u64>,
}

/// What judging the checkpoints concluded (besides its findings).
pub(crate) struct Judged {
    /// The newest checkpoint the ledger matched.
    pub best: Option<VerifiedCheckpoint>,
    /// Validly signed checkpoints below the resume point whose root the auditor's state
    /// does not determine.
    pub unjudged: Vec<String>,
    /// The largest checkpoint the auditor supplied that the ledger matched: (size, root).
    pub supplied: Option<(u64, Hash)>,
    /// The witness quorum, met on a checkpoint the ledger matched: (size, distinct
    /// witnesses that cosigned, distinct witnesses named).
    pub quorum: Option<(u64, usize, usize)>,
    /// Every admitted note of a checkpoint the ledger matched, with its size: the notes
    /// whose cosignatures give outside time (collected only when the policy names witnesses).
    pub matched_notes: Vec<(u64, Note)>,
}

/// The checkpoints admitted by [`Judge::admit`]: validly signed, of the right origin.
#[derive(Default)]
struct Admitted {
    /// size -> root -> (note text, sources).
    valid: BTreeMap<u64, BTreeMap<Hash, Seen>>,
    /// The parsed note of each admitted text, for the witness quorum.
    notes: HashMap<String, Note>,
    /// Every admitted text of each (size, root): a stored note without cosignatures and a
    /// cosigned copy of it (supplied, or in `checkpoints.log`) are both counted.
    texts: HashMap<(u64, Hash), BTreeSet<String>>,
    /// Texts whose signature could not be checked (emptied ledger, no key).
    unchecked: BTreeSet<String>,
}

impl Judge<'_> {
    /// Judges every checkpoint against the replayed roots: each is admitted (storage key,
    /// signature, origin, cosignatures), then each size is judged (split view, truncation,
    /// root), then the witness quorum on the newest.
    pub(crate) fn judge(&self, candidates: Vec<Candidate>, findings: &mut Vec<Finding>) -> Judged {
        let mut admitted = Admitted::default();
        // Every commit is sealed, so a ledger may carry one checkpoint per commit: their
        // signatures are checked in parallel first (the verdicts are the same; findings are
        // still made in order below).
        let verdicts: Vec<Option<SignatureVerdict>> = {
            use rayon::prelude::*;
            candidates
                .par_iter()
                .map(|c| {
                    c.parsed.as_ref().map(|(note, _)| {
                        judge_signature(note, &keys_for(note, self.policy, self.registry))
                    })
                })
                .collect()
        };
        for (c, verdict) in candidates.into_iter().zip(verdicts) {
            self.admit(c, verdict, &mut admitted, findings);
        }
        let mut judged = Judged {
            best: None,
            unjudged: Vec::new(),
            supplied: None,
            quorum: None,
            matched_notes: Vec::new(),
        };
        for (cp_size, by_root) in &admitted.valid {
            self.judge_size(
                *cp_size,
                by_root,
                &admitted.unchecked,
                &mut judged,
                findings,
            );
        }
        judged.quorum = self.check_quorum(&admitted, findings);
        if !self.policy.witnesses.is_empty() {
            judged.matched_notes = self.matched_notes(&admitted);
        }
        judged
    }

    /// The admitted notes (each text once) of every checkpoint whose root is the ledger's
    /// at its size.
    fn matched_notes(&self, admitted: &Admitted) -> Vec<(u64, Note)> {
        let mut out = Vec::new();
        for ((size, root), texts) in &admitted.texts {
            if *size > self.size || self.roots.get(size) != Some(root) {
                continue;
            }
            // Only a note with a line besides its seal's signature can carry a cosignature:
            // one per commit otherwise, and none of them is needed.
            out.extend(
                texts
                    .iter()
                    .filter_map(|t| admitted.notes.get(t))
                    .filter(|n| n.signatures().len() > 1)
                    .map(|n| (*size, n.clone())),
            );
        }
        out
    }

    /// No entry is left: genesis is gone with the rest, so it names neither the origin nor,
    /// when the auditor gave no key, the key to check signatures with. Then a checkpoint is
    /// held to the auditor's expected origin (if any), and its signature is checked only if
    /// there is a key; each naming entries is a `truncation`.
    fn emptied(&self) -> bool {
        self.size == 0
    }

    /// Checks one checkpoint and admits it if it is validly signed and of the right origin.
    fn admit(
        &self,
        mut c: Candidate,
        verdict: Option<SignatureVerdict>,
        admitted: &mut Admitted,
        findings: &mut Vec<Finding>,
    ) {
        let Some((note, cp)) = c.parsed.take() else {
            return;
        };
        check_stored_key(&c, &cp, findings);
        if !self.check_signature(&c, &note, &cp, verdict, &mut admitted.unchecked, findings)
            || !self.check_origin(&c, &cp, findings)
        {
            return;
        }
        self.check_cosignatures(&c, &note, &cp, findings);
        admitted.notes.entry(c.text.clone()).or_insert(note);
        admitted
            .texts
            .entry((cp.size, cp.root))
            .or_default()
            .insert(c.text.clone());
        let e = admitted
            .valid
            .entry(cp.size)
            .or_default()
            .entry(cp.root)
            .or_insert_with(|| (c.text.clone(), Vec::new()));
        for src in c.sources {
            if !e.1.contains(&src) {
                e.1.push(src);
            }
        }
    }

    /// The note's signature by a key the auditor trusts (or the genesis ledger key). `false`
    /// (with a finding): refused. On an emptied ledger with no key there is nothing to check
    /// with: admitted, and listed in `unchecked`.
    fn check_signature(
        &self,
        c: &Candidate,
        note: &Note,
        cp: &Checkpoint,
        verdict: Option<SignatureVerdict>,
        unchecked: &mut BTreeSet<String>,
        findings: &mut Vec<Finding>,
    ) -> bool {
        let keys = keys_for(note, self.policy, self.registry);
        if self.emptied() && keys.is_empty() {
            unchecked.insert(c.text.clone());
            return true;
        }
        match verdict.unwrap_or_else(|| judge_signature(note, &keys)) {
            SignatureVerdict::Bad(key) => {
                findings.push(
                    Finding::new(
                        FindingKind::CheckpointBadSignature,
                        None,
                        None,
                        format!(
                            "a {} checkpoint of size {} has a bad signature",
                            names(&c.sources),
                            cp.size
                        ),
                    )
                    .with_key(key)
                    .cite(&c.sources, &c.text),
                );
                false
            }
            SignatureVerdict::Malformed(why) => {
                findings.push(
                    Finding::new(FindingKind::MalformedCheckpoint, None, None, why)
                        .cite(&c.sources, &c.text),
                );
                false
            }
            SignatureVerdict::Untrusted(by) => {
                findings.push(
                    Finding::new(
                        FindingKind::CheckpointUntrustedKey,
                        None,
                        None,
                        format!(
                            "a {} checkpoint of size {} is not signed by any trusted key",
                            names(&c.sources),
                            cp.size
                        ),
                    )
                    .with_key(by.join(", "))
                    .cite(&c.sources, &c.text),
                );
                false
            }
            SignatureVerdict::Trusted => true,
        }
    }

    /// The checkpoint's origin is the one genesis names (on an emptied ledger: the one the
    /// auditor expects, if any). `false` (with a finding): refused.
    fn check_origin(&self, c: &Candidate, cp: &Checkpoint, findings: &mut Vec<Finding>) -> bool {
        let want_origin = if self.emptied() {
            self.policy.expected_origin.as_deref()
        } else {
            Some(self.origin)
        };
        let Some(origin) = want_origin.filter(|o| cp.origin != *o) else {
            return true;
        };
        findings.push(
            Finding::new(
                FindingKind::CheckpointWrongOrigin,
                None,
                None,
                format!("a {} checkpoint names another origin", names(&c.sources)),
            )
            .expected_found(origin, &cp.origin)
            .cite(&c.sources, &c.text),
        );
        false
    }

    /// Every cosignature by a witness the auditor trusts verifies (the quorum is counted in
    /// [`Judge::check_quorum`]).
    fn check_cosignatures(
        &self,
        c: &Candidate,
        note: &Note,
        cp: &Checkpoint,
        findings: &mut Vec<Finding>,
    ) {
        for w in &self.policy.distinct_witnesses() {
            if let Err(e) = verify_cosignatures(note, std::slice::from_ref(w)) {
                findings.push(
                    Finding::new(
                        FindingKind::CosignatureBadSignature,
                        None,
                        None,
                        format!(
                            "a cosignature on the checkpoint of size {} does not verify: {e}",
                            cp.size
                        ),
                    )
                    .with_key(w.to_vkey_string())
                    .cite(&c.sources, &c.text),
                );
            }
        }
    }

    /// The admitted checkpoints of one size: several roots are a split view; each root is
    /// beyond the ledger (truncation), matches, cannot be judged (below the resume point,
    /// root unknown) or does not match.
    fn judge_size(
        &self,
        cp_size: u64,
        by_root: &BTreeMap<Hash, Seen>,
        unchecked: &BTreeSet<String>,
        judged: &mut Judged,
        findings: &mut Vec<Finding>,
    ) {
        if by_root.len() > 1 {
            let mut f = Finding::new(
                FindingKind::SplitView,
                None,
                None,
                format!("{} different roots are validly signed for size {cp_size}: the ledger key signed conflicting histories", by_root.len()),
            );
            for (text, sources) in by_root.values() {
                for s in sources {
                    f = f.with_checkpoint(s.clone(), text.clone());
                }
            }
            findings.push(f);
        }
        let size = self.size;
        for (cp_root, (text, sources)) in by_root {
            let with_all = |mut f: Finding| {
                for s in sources {
                    f = f.with_checkpoint(s.clone(), text.clone());
                }
                f
            };
            if cp_size > size {
                let message = if self.emptied() {
                    format!(
                        "a checkpoint covers {cp_size} entries but the ledger holds none: every entry was deleted{}",
                        if unchecked.contains(text) {
                            " (its signature could not be checked: genesis, which names the ledger key, is gone and the auditor gave no key)"
                        } else {
                            ""
                        }
                    )
                } else {
                    format!("a checkpoint covers {cp_size} entries but the ledger holds {size}: entries were truncated or rolled back")
                };
                findings.push(with_all(
                    Finding::new(FindingKind::Truncation, Some(size), None, message)
                        .expected_found(cp_size, size),
                ));
                continue;
            }
            match self.roots.get(&cp_size) {
                Some(r) if r == cp_root => {
                    if judged.best.as_ref().is_none_or(|b| b.size < cp_size) {
                        judged.best = Some(VerifiedCheckpoint { note: text.clone(), size: cp_size, root: *cp_root, sources: sources.clone() });
                    }
                    // The auditor's own copy anchors the ledger up to its size.
                    if sources.contains(&CheckpointSource::Supplied)
                        && judged.supplied.is_none_or(|(s, _)| s < cp_size)
                    {
                        judged.supplied = Some((cp_size, *cp_root));
                    }
                }
                None if self.resumed_from.is_some_and(|n| cp_size < n) => {
                    judged.unjudged.push(text.clone());
                }
                found => findings.push(with_all(
                    Finding::new(FindingKind::RootMismatch, None, None, format!("the ledger's root at size {cp_size} is not the checkpoint's: the history was rewritten"))
                        .expected_found(cp_root, found.map_or_else(|| "none".to_owned(), Hash::to_string)),
                )),
            }
        }
    }

    /// The witness quorum on the newest validly signed checkpoint (of its roots, the one the
    /// ledger matched, if any). Each distinct witness key counts once, whichever of the
    /// checkpoint's admitted notes (stored, logged, supplied by the auditor) carries its
    /// valid cosignature, and however many lines it signed. Met on a checkpoint the ledger
    /// matches, it anchors the verdict: `Some((size, cosigned, named))`; not met, it is a
    /// finding and anchors nothing.
    fn check_quorum(
        &self,
        admitted: &Admitted,
        findings: &mut Vec<Finding>,
    ) -> Option<(u64, usize, usize)> {
        let quorum = self.policy.quorum;
        if quorum == 0 {
            return None;
        }
        let newest = admitted
            .valid
            .iter()
            .next_back()
            .and_then(|(size, by_root)| {
                by_root
                    .iter()
                    .find(|(root, _)| self.roots.get(size) == Some(*root))
                    .or_else(|| by_root.iter().next())
                    .map(|(root, seen)| (*size, *root, seen))
            });
        let witnesses = self.policy.distinct_witnesses();
        let notes: Vec<&Note> = newest
            .and_then(|(size, root, _)| admitted.texts.get(&(size, root)))
            .into_iter()
            .flatten()
            .filter_map(|t| admitted.notes.get(t))
            .collect();
        let count = witnesses
            .iter()
            .filter(|w| {
                notes.iter().any(|note| {
                    verify_cosignatures(note, std::slice::from_ref(*w)).is_ok_and(|v| !v.is_empty())
                })
            })
            .count();
        if count < quorum {
            let distinct = if witnesses.len() < quorum {
                format!(" (it names {} distinct witness key(s))", witnesses.len())
            } else {
                String::new()
            };
            let mut f = Finding::new(FindingKind::WitnessQuorumNotMet, None, None, format!("the newest checkpoint has {count} valid cosignature(s) from distinct trusted witnesses; the policy requires {quorum}{distinct}"))
                .expected_found(quorum, count);
            if let Some((_, _, (text, sources))) = newest {
                for s in sources {
                    f = f.with_checkpoint(s.clone(), text.clone());
                }
            }
            findings.push(f);
            return None;
        }
        newest
            .filter(|(size, root, _)| *size <= self.size && self.roots.get(size) == Some(root))
            .map(|(size, _, _)| (size, count, witnesses.len()))
    }
}

/// A checkpoint stored in the `checkpoints` tree must be stored under its size.
fn check_stored_key(c: &Candidate, cp: &Checkpoint, findings: &mut Vec<Finding>) {
    let Some(k) = &c.key else { return };
    if k.as_slice() != cp.size.to_be_bytes() {
        findings.push(
            Finding::new(
                FindingKind::MalformedCheckpoint,
                None,
                None,
                "a checkpoint is stored under a key that is not its size",
            )
            .expected_found(cp.size, hex::encode(k))
            .cite(&c.sources, &c.text),
        );
    }
}
