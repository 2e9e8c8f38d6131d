//! The Go signed-note vectors (golang.org/x/mod/sumdb/note) in
//! `../shared/vectors/signed-note/go-sumdb-note.json`: signing is byte-for-byte
//! identical, both signatures verify, and each listed malformed note is refused
//! with the expected error.

use base64::Engine;
use caseledger_core::keys::SigningKey;
use caseledger_core::note::{open, Note, NoteError, NoteSigner, NoteVerifier, MAX_SIGNATURES};
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/signed-note/go-sumdb-note.json"
);

fn vectors() -> Value {
    let text = std::fs::read_to_string(VECTORS)
        .unwrap_or_else(|e| panic!("signed-note vectors missing at {VECTORS}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{VECTORS} is not JSON: {e}"))
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("vector field {path:?} missing"))
}

fn peter_signer(v: &Value) -> NoteSigner {
    NoteSigner::parse(s(v, &["signer_keys", "PeterNeumann"])).unwrap()
}
fn peter(v: &Value) -> NoteVerifier {
    NoteVerifier::parse(s(v, &["verifier_keys", "PeterNeumann"])).unwrap()
}
fn enoch(v: &Value) -> NoteVerifier {
    NoteVerifier::parse(s(v, &["verifier_keys", "EnochRoot"])).unwrap()
}
fn signed(v: &Value) -> String {
    s(v, &["signed_by_peter"]).to_owned()
}

#[test]
fn key_strings_round_trip() {
    let v = vectors();
    for name in ["PeterNeumann", "EnochRoot"] {
        let k = s(&v, &["verifier_keys", name]);
        assert_eq!(NoteVerifier::parse(k).unwrap().to_vkey_string(), k);
    }
    let signer = peter_signer(&v);
    assert_eq!(
        &*signer.to_signer_key_string(),
        s(&v, &["signer_keys", "PeterNeumann"])
    );
    assert_eq!(signer.verifier(), peter(&v));
    assert_eq!(format!("{:08x}", signer.key_id()), "c74f20a3");
}

#[test]
fn signing_matches_go_byte_for_byte() {
    let v = vectors();
    let note = peter_signer(&v).sign(s(&v, &["text"])).unwrap();
    assert_eq!(note, signed(&v));
    assert_eq!(
        peter_signer(&v).signature_line(s(&v, &["text"])),
        s(&v, &["signature_lines", "PeterNeumann"])
    );
}

#[test]
fn go_note_verifies() {
    let v = vectors();
    let opened = open(signed(&v).as_bytes(), &[peter(&v)]).unwrap();
    assert_eq!(opened.note.text(), s(&v, &["text"]));
    assert_eq!(opened.verified.len(), 1);
    assert_eq!(opened.verified[0].name, "PeterNeumann");
    assert!(opened.unverified.is_empty());
}

#[test]
fn enoch_signature_line_verifies_too() {
    let v = vectors();
    let both = format!("{}{}", signed(&v), s(&v, &["signature_lines", "EnochRoot"]));
    let opened = open(both.as_bytes(), &[peter(&v), enoch(&v)]).unwrap();
    let names: Vec<&str> = opened.verified.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["PeterNeumann", "EnochRoot"]);
    // Knowing only Enoch: Peter's signature is kept, not trusted.
    let opened = open(both.as_bytes(), &[enoch(&v)]).unwrap();
    assert_eq!(opened.verified.len(), 1);
    assert_eq!(opened.unverified.len(), 1);
    assert_eq!(opened.unverified[0].name, "PeterNeumann");
    // Enoch's line alone on the text.
    let enoch_only = format!(
        "{}\n{}",
        s(&v, &["text"]),
        s(&v, &["signature_lines", "EnochRoot"])
    );
    assert_eq!(
        open(enoch_only.as_bytes(), &[enoch(&v)]).unwrap().verified[0].name,
        "EnochRoot"
    );
}

#[test]
fn known_key_with_bad_signature_is_an_error() {
    let v = vectors();
    let tampered = signed(&v).replacen("cryptography", "cryptographY", 1);
    assert_eq!(
        open(tampered.as_bytes(), &[peter(&v)]),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    assert_eq!(
        open(signed(&v).as_bytes(), &[enoch(&v)]),
        Err(NoteError::NoVerifiedSignature)
    );
}

const MALFORMED: [&str; 7] = [
    "text without a blank line and signature",
    "text followed by a blank line and no signature",
    "a signature line without its final newline",
    "a note starting with byte 0x01 or 0xff",
    "a signature line whose key name contains a space",
    "an unexpected non-signature line after the signatures",
    "more than 100 signature lines",
];

#[test]
fn every_malformed_vector_has_a_test() {
    let v = vectors();
    let listed: Vec<&str> = v["malformed_notes_must_be_rejected"]
        .as_array()
        .expect("malformed_notes_must_be_rejected is a list")
        .iter()
        .map(|e| e.as_str().expect("string entry"))
        .collect();
    assert_eq!(
        listed, MALFORMED,
        "the vector list changed: add a test for each new entry"
    );
}

fn rejects(msg: &[u8]) -> NoteError {
    let v = vectors();
    let err = open(msg, &[peter(&v), enoch(&v)]).expect_err("malformed note was accepted");
    assert_eq!(
        Note::parse(msg).err(),
        Some(err.clone()),
        "parse and open agree"
    );
    err
}

#[test]
fn malformed_text_without_blank_line_and_signature() {
    let v = vectors();
    assert_eq!(
        rejects(s(&v, &["text"]).as_bytes()),
        NoteError::MissingSignatureBlock
    );
}

#[test]
fn malformed_text_followed_by_blank_line_and_no_signature() {
    let v = vectors();
    assert_eq!(
        rejects(format!("{}\n", s(&v, &["text"])).as_bytes()),
        NoteError::NoSignatures
    );
}

#[test]
fn malformed_signature_line_without_final_newline() {
    let v = vectors();
    let n = signed(&v);
    assert_eq!(
        rejects(n.trim_end_matches('\n').as_bytes()),
        NoteError::MissingFinalNewline
    );
}

#[test]
fn malformed_note_starting_with_0x01_or_0xff() {
    let v = vectors();
    let mut m = vec![0x01];
    m.extend_from_slice(signed(&v).as_bytes());
    assert_eq!(rejects(&m), NoteError::ControlCharacter { offset: 0 });
    m[0] = 0xff;
    assert_eq!(rejects(&m), NoteError::InvalidUtf8);
}

#[test]
fn malformed_key_name_with_space() {
    let v = vectors();
    let n = signed(&v).replacen("\u{2014} PeterNeumann ", "\u{2014} Peter Neumann ", 1);
    // Text is 2 lines, then the blank line: the signature is line 4.
    assert_eq!(rejects(n.as_bytes()), NoteError::BadKeyName { line: 4 });
    let plus = signed(&v).replacen("\u{2014} PeterNeumann ", "\u{2014} Peter+Neumann ", 1);
    assert_eq!(rejects(plus.as_bytes()), NoteError::BadKeyName { line: 4 });
}

#[test]
fn malformed_non_signature_line_after_signatures() {
    let v = vectors();
    let n = format!("{}not a signature\n", signed(&v));
    assert_eq!(
        rejects(n.as_bytes()),
        NoteError::NotASignatureLine { line: 5 }
    );
    // An ASCII hyphen instead of the em dash is not a signature line either.
    let hyphen = signed(&v).replacen('\u{2014}', "-", 1);
    assert_eq!(
        rejects(hyphen.as_bytes()),
        NoteError::NotASignatureLine { line: 4 }
    );
}

#[test]
fn malformed_more_than_100_signatures() {
    let v = vectors();
    let line = s(&v, &["signature_lines", "PeterNeumann"]);
    let note = |n: usize| format!("{}\n{}", s(&v, &["text"]), line.repeat(n));
    // Exactly 100 is fine (repeats of one key count once).
    let ok = open(note(MAX_SIGNATURES).as_bytes(), &[peter(&v)]).unwrap();
    assert_eq!(ok.verified.len(), 1);
    assert_eq!(
        rejects(note(MAX_SIGNATURES + 1).as_bytes()),
        NoteError::TooManySignatures
    );
}

/// A witness key prints as its vkey (`name+keyid+base64`), the form `--witness` and
/// `witnesses.txt` take back: Display round-trips through `parse`, and Debug names the type
/// around the same text (never key material beyond the public key).
#[test]
fn a_witness_key_prints_as_its_vkey() {
    use caseledger_core::checkpoint::CosignatureVerifier;
    let k = caseledger_core::keys::SigningKey::from_seed(&[3; 32]).public_key();
    let w = CosignatureVerifier::new("witness.example", k).unwrap();
    let shown = w.to_string();
    assert_eq!(shown, w.to_vkey_string());
    assert!(shown.starts_with("witness.example+"), "{shown}");
    assert_eq!(CosignatureVerifier::parse(&shown).unwrap(), w);
    assert_eq!(format!("{w:?}"), format!("CosignatureVerifier({shown})"));
}

/// C2SP signed-note, "Signatures": "The tuple of key name and key ID uniquely identifies the
/// key ... Verifiers MUST ignore signatures from unknown keys, even if they share a name or ID
/// (but not both) with a known key." A rotated log key keeps its name: the old and the new
/// key sign under the same name with different ids, and each is a key of its own.
#[test]
fn a_key_is_named_by_its_name_and_id_together() {
    let old = NoteSigner::new("example.com/log", SigningKey::from_seed(&[1; 32])).unwrap();
    let new = NoteSigner::new("example.com/log", SigningKey::from_seed(&[2; 32])).unwrap();
    assert_ne!(old.key_id(), new.key_id());
    let text = "rotated\n";
    let note = format!("{}{}", old.sign(text).unwrap(), new.signature_line(text));
    // Both keys known: both signatures verified, one entry per key.
    let both = open(note.as_bytes(), &[old.verifier(), new.verifier()]).unwrap();
    let ids: Vec<u32> = both.verified.iter().map(|s| s.key_id).collect();
    assert_eq!(ids, [old.key_id(), new.key_id()]);
    assert!(both.unverified.is_empty());
    // Only the old key known: the new key's signature is ignored (kept as unverified), not
    // checked against the old key and failed.
    let only_old = open(note.as_bytes(), &[old.verifier()]).unwrap();
    assert_eq!(only_old.verified.len(), 1);
    assert_eq!(only_old.verified[0].key_id, old.key_id());
    assert_eq!(only_old.unverified.len(), 1);
    assert_eq!(only_old.unverified[0].key_id, new.key_id());
}

/// C2SP signed-note, "Format": a signature is the base64 of 4+n bytes, the key id then the
/// signature; Go's `note.Open` (and this module's `MalformedSignature`) refuses fewer than
/// 5, so a line carrying only a key id is malformed, not an unverified signature.
#[test]
fn a_signature_line_needs_bytes_after_the_key_id() {
    let v = vectors();
    let id_only = base64::engine::general_purpose::STANDARD.encode(0xc74f20a3u32.to_be_bytes());
    let note = format!("{}\n\u{2014} PeterNeumann {id_only}\n", s(&v, &["text"]));
    // Text is 2 lines, then the blank line: the signature is line 4.
    assert_eq!(
        rejects(note.as_bytes()),
        NoteError::MalformedSignature { line: 4 }
    );
    // One byte after the key id parses; under the known key it is a bad signature.
    let mut five = 0xc74f20a3u32.to_be_bytes().to_vec();
    five.push(0);
    let one_byte = format!(
        "{}\n\u{2014} PeterNeumann {}\n",
        s(&v, &["text"]),
        base64::engine::general_purpose::STANDARD.encode(five)
    );
    assert_eq!(
        Note::parse(one_byte.as_bytes()).unwrap().signatures().len(),
        1
    );
    assert!(matches!(
        open(one_byte.as_bytes(), &[peter(&v)]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

/// Errors name the line of the whole note (the text's lines, the blank line, then the
/// signatures, counting from 1), whatever the length of the text.
#[test]
fn signature_line_numbers_count_every_text_line() {
    let signer = NoteSigner::new("example.com/log", SigningKey::from_seed(&[5; 32])).unwrap();
    for (text, line) in [("one\n", 3), ("one\ntwo\nthree\n", 5)] {
        let bad = signer.sign(text).unwrap().replacen(
            "\u{2014} example.com/log ",
            "\u{2014} example com/log ",
            1,
        );
        assert_eq!(
            Note::parse(bad.as_bytes()),
            Err(NoteError::BadKeyName { line }),
            "{text:?}"
        );
    }
}

/// A parsed signature line shows as the key it claims (`name+keyid`, as errors and vkeys
/// name keys), not as its bytes.
#[test]
fn a_signature_line_debugs_as_its_key() {
    let v = vectors();
    let note = Note::parse(signed(&v).as_bytes()).unwrap();
    assert_eq!(
        format!("{:?}", note.signatures()[0]),
        "NoteSignature(PeterNeumann+c74f20a3)"
    );
}

/// Key strings (C2SP signed-note verifier keys, Go's signer keys) give the key id as exactly
/// 8 hex digits, the id's big-endian 4 bytes: a 9-digit `0c74f20a3`, the same number, is
/// not that key's string, nor is a 7-digit one.
#[test]
fn a_key_id_is_exactly_eight_hex_digits() {
    let v = vectors();
    let vkey = s(&v, &["verifier_keys", "PeterNeumann"]);
    let skey = s(&v, &["signer_keys", "PeterNeumann"]);
    assert!(vkey.contains("+c74f20a3+") && skey.contains("+c74f20a3+"));
    for id in ["0c74f20a3", "c74f20a"] {
        let with = |k: &str| k.replacen("+c74f20a3+", &format!("+{id}+"), 1);
        assert_eq!(
            NoteVerifier::parse(&with(vkey)),
            Err(NoteError::BadVerifierKey("key id is not 8 hex digits")),
            "{id}"
        );
        assert!(
            matches!(
                NoteSigner::parse(&with(skey)),
                Err(NoteError::BadSignerKey("key id is not 8 hex digits"))
            ),
            "{id}"
        );
    }
}

/// A verifier prints (`Display`, and inside `Debug`) as its key string, the form it is read
/// from; a signer shows its name and key id and never its private key.
#[test]
fn keys_print_as_their_public_names() {
    let v = vectors();
    let vkey = s(&v, &["verifier_keys", "PeterNeumann"]);
    let verifier = peter(&v);
    assert_eq!(verifier.to_string(), vkey);
    assert_eq!(format!("{verifier:?}"), format!("NoteVerifier({vkey})"));
    let signer = peter_signer(&v);
    assert_eq!(signer.name(), "PeterNeumann");
    let shown = format!("{signer:?}");
    assert_eq!(
        shown,
        "NoteSigner(PeterNeumann+c74f20a3, private <redacted>)"
    );
    let secret_b64 = s(&v, &["signer_keys", "PeterNeumann"])
        .rsplit('+')
        .next()
        .unwrap();
    assert!(!shown.contains(secret_b64));
}
