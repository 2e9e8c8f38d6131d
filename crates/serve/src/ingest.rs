//! The JSON event line (docs/GUIDE.md, "Ingest format"): one line of `caseledger import`'s
//! JSONL, or one event posted to `caseledger serve`, parsed and validated into a [`Line`],
//! with the digest of the whole request that a client event id is keyed with.
//!
//! Shared by the CLI and the server so that both accept exactly the same events and key
//! the same request to the same digest (an event imported under an id, then posted under
//! it again, is recognised). Errors name the field and never quote its value: a value may
//! be clinical content.

pub use crate::line_error::LineError;
use crate::line_error::{bail_line, line_err, Result};
use crate::presign::{Fields, Presign, JSON_NAMES};
use base64::Engine;
use caseledger_core::event::{EventKind, Kind, Role, ShortText, TerminationReason};
use caseledger_core::{ActorId, Date, RecordId, Seq};
use caseledger_store::{EventId, RequestDigest};
use serde::Deserialize;
use serde_json::Value;

/// One ingest line, each field untyped so that errors name the field without echoing
/// its value (a value may be clinical content).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    record: Option<Value>,
    kind: Option<Value>,
    occurred_on: Option<Value>,
    author: Option<Value>,
    payload: Option<Value>,
    payload_base64: Option<Value>,
    amends: Option<Value>,
    matter: Option<Value>,
    reason: Option<Value>,
    actor: Option<Value>,
    role: Option<Value>,
    // Pre-signed events (docs/GUIDE.md, "Events signed by the record system").
    signed_at: Option<Value>,
    nonce: Option<Value>,
    salt: Option<Value>,
    signature: Option<Value>,
    /// The record system's own id of the event (a client event id, optional).
    id: Option<Value>,
    // A destruction's outside time, resolved when it is signed (crate::citation).
    cite_witness: Option<Value>,
    cite_timestamp: Option<Value>,
}

/// A validated line, ready to sign.
pub struct Line {
    /// 1-based line number in the file.
    pub line: usize,
    /// Who signs (or signed) it.
    pub author: ActorId,
    /// Its record (administration kinds have none).
    pub record: Option<RecordId>,
    /// What it records.
    pub kind: LineKind,
    /// The date it happened (the author's claim).
    pub occurred_on: Date,
    /// Its content, if any (clinical: never logged or quoted).
    pub payload: Option<Vec<u8>>,
    /// `signed_at`, `nonce`, `salt` and `signature`, when the record system gave them.
    pub pre: Presign,
    /// The client event id, if the line gives one.
    pub id: Option<EventId>,
    /// The outside time a destruction asks to cite (`cite_witness` / `cite_timestamp`),
    /// resolved against the ledger when it is signed: by `caseledger serve` only.
    pub cite: Option<crate::citation::CiteChoice>,
    /// The digest of the whole request (every field but `id`), for the id's row.
    pub request: RequestDigest,
}

/// The event kind of a line; enrolment gets its public key when the key is known.
pub enum LineKind {
    /// Any kind but enrolment: the event kind as signed.
    Event(EventKind),
    /// An enrolment, whose public key the importer chooses (generates) when it signs.
    Enrol {
        /// The actor enrolled.
        actor: ActorId,
        /// Its role.
        role: Role,
    },
}

fn field_str<'a>(v: &'a Option<Value>, name: &str) -> Result<Option<&'a str>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => bail_line!("{name}: expected a string"),
    }
}

fn need<'a>(v: &'a Option<Value>, name: &str, kind: Kind) -> Result<&'a str> {
    field_str(v, name)?.ok_or_else(|| line_err!("{name}: required for {kind} lines"))
}

fn forbid(v: &Option<Value>, name: &str, kind: Kind) -> Result<()> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(_) => bail_line!("{name}: not allowed on {kind} lines"),
    }
}

fn short(v: &Option<Value>, name: &str, kind: Kind) -> Result<ShortText> {
    ShortText::new(need(v, name, kind)?)
        .map_err(|_| line_err!("{name}: must be 1-256 bytes of text without control characters"))
}

/// Parses and validates one line (without the line number prefix in errors).
pub fn parse_line(bytes: &[u8], line: usize) -> Result<Line> {
    let raw: RawLine = serde_json::from_slice(bytes).map_err(json_error)?;
    validate(raw, line)
}

/// Parses and validates one event given as a JSON value (an event of a posted batch);
/// `line` numbers it in the [`Line`] (the server counts from 1).
pub fn parse_value(value: Value, line: usize) -> Result<Line> {
    let raw: RawLine = serde_json::from_value(value).map_err(json_error)?;
    validate(raw, line)
}

/// Parses a request body into a JSON value, refusing an object that names one key twice,
/// at any depth. The server must read a posted event as `caseledger import` reads the same
/// line: [`parse_line`] refuses a repeated field (serde's derive), but `serde_json::Value`
/// keeps the last of two equal keys silently, so `{"payload":"a","payload":"b"}` would be
/// refused by import and appended with `b` by a server parsing through `Value` (found by
/// the `jsonl_line` fuzz target; a record system that checked the first value would not
/// see what the ledger signed).
pub fn json_value(bytes: &[u8]) -> Result<Value> {
    let v: Strict = serde_json::from_slice(bytes).map_err(json_error)?;
    Ok(v.0)
}

/// A `Value` whose objects had no repeated key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::from(n)))
    }
    fn visit_u64<E>(self, n: u64) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::from(n)))
    }
    fn visit_f64<E>(self, n: f64) -> std::result::Result<Strict, E> {
        // As serde_json's own Value does: a non-finite float (not JSON) becomes null.
        Ok(Strict(Value::from(n)))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::String(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::String(s)))
    }
    fn visit_unit<E>(self) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = a.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Strict, A::Error> {
        let mut map = serde_json::Map::new();
        while let Some(key) = a.next_key::<String>()? {
            if map.contains_key(&key) {
                // The wording serde's derive uses, so that json_error treats both alike
                // (it shows the name only when it looks like a field name).
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )));
            }
            let Strict(v) = a.next_value()?;
            map.insert(key, v);
        }
        Ok(Strict(Value::Object(map)))
    }
}

/// A serde error in words that name a field at most, never a value.
pub fn json_error(e: serde_json::Error) -> LineError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => line_err!("not valid JSON at column {}", e.column()),
        Category::Io => line_err!("unreadable"),
        Category::Data => {
            // "unknown field `x`, expected one of ..." / "duplicate field `x`": names only.
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg);
            if msg.starts_with("unknown field") || msg.starts_with("duplicate field") {
                // The name is quoted only when it looks like a field name: a mangled line
                // can carry clinical text where a key should be.
                let name = msg.split('`').nth(1).unwrap_or_default();
                let looks_like_a_name = !name.is_empty()
                    && name.len() <= 32
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
                if looks_like_a_name {
                    line_err!("{}", msg.chars().take(300).collect::<String>())
                } else if msg.starts_with("unknown field") {
                    line_err!("an unknown field (its name is not shown: it is not a field name); see docs/GUIDE.md for the fields")
                } else {
                    line_err!("a duplicate field")
                }
            } else {
                line_err!("expected a JSON object")
            }
        }
    }
}

fn validate(raw: RawLine, line: usize) -> Result<Line> {
    let kind_name = field_str(&raw.kind, "kind")?.ok_or_else(|| line_err!("kind: required"))?;
    // The value is never quoted: a mangled line can carry clinical text in any field.
    let kind = Kind::parse(kind_name).map_err(|_| match near_kind(kind_name) {
        // Only a known kind's name is shown, never the value.
        Some(k) => line_err!("kind: not a known event kind; did you mean {k}?"),
        None => line_err!("kind: not a known event kind (the kinds are listed in docs/GUIDE.md)"),
    })?;
    if kind == Kind::Genesis {
        bail_line!("kind: genesis is written by `caseledger init`, not imported");
    }
    let author = field_str(&raw.author, "author")?.ok_or_else(|| line_err!("author: required"))?;
    let author = ActorId::new(author).map_err(|e| line_err!("author: {e}"))?;
    let occurred_on = field_str(&raw.occurred_on, "occurred_on")?
        .ok_or_else(|| line_err!("occurred_on: required"))?;
    let occurred_on = Date::parse(occurred_on)
        .map_err(|_| line_err!("occurred_on: expected an ISO date YYYY-MM-DD"))?;
    let record = match field_str(&raw.record, "record")? {
        Some(r) if kind.has_record() => {
            Some(RecordId::new(r).map_err(|e| line_err!("record: {e}"))?)
        }
        Some(_) => bail_line!("record: not allowed on {kind} lines"),
        None if kind.has_record() => bail_line!("record: required for {kind} lines"),
        None => None,
    };
    let payload = match (&raw.payload, &raw.payload_base64) {
        (Some(p), Some(b)) if !p.is_null() && !b.is_null() => {
            bail_line!("payload_base64: give payload or payload_base64, not both")
        }
        _ => {
            if let Some(p) = field_str(&raw.payload, "payload")? {
                Some(p.as_bytes().to_vec())
            } else if let Some(b) = field_str(&raw.payload_base64, "payload_base64")? {
                Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map_err(|_| line_err!("payload_base64: not valid base64"))?,
                )
            } else {
                None
            }
        }
    };
    if payload.is_some() && !kind.has_record() {
        bail_line!("payload: {kind} lines carry no payload");
    }
    let amends = match &raw.amends {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .ok_or_else(|| line_err!("amends: expected a seq (a non-negative integer)"))?,
        ),
        Some(_) => bail_line!("amends: expected a seq (a non-negative integer)"),
    };
    if kind != Kind::Amendment && amends.is_some() {
        bail_line!("amends: not allowed on {kind} lines");
    }
    if !matches!(kind, Kind::HoldPlaced | Kind::HoldReleased) {
        forbid(&raw.matter, "matter", kind)?;
    }
    if !matches!(kind, Kind::Destruction | Kind::ServiceTerminated) {
        forbid(&raw.reason, "reason", kind)?;
    }
    if !matches!(kind, Kind::ActorEnrolled | Kind::KeyRevoked) {
        forbid(&raw.actor, "actor", kind)?;
    }
    if kind != Kind::ActorEnrolled {
        forbid(&raw.role, "role", kind)?;
    }
    let cite_timestamp = match &raw.cite_timestamp {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => bail_line!("cite_timestamp: expected true or false"),
    };
    let cite_witness = field_str(&raw.cite_witness, "cite_witness")?;
    let cite = match (cite_witness, cite_timestamp) {
        (Some(_), true) => {
            bail_line!("cite_witness: give cite_witness or cite_timestamp, not both")
        }
        (Some(w), false) => Some(crate::citation::CiteChoice::Witness(w.to_owned())),
        (None, true) => Some(crate::citation::CiteChoice::Timestamp),
        (None, false) => None,
    };
    if cite.is_some() && kind != Kind::Destruction {
        let name = if cite_witness.is_some() {
            "cite_witness"
        } else {
            "cite_timestamp"
        };
        bail_line!("{name}: only destruction lines cite an outside time");
    }
    // The id's value is never quoted back: it is the record system's, not ours to echo.
    let id = match field_str(&raw.id, "id")? {
        Some(_) if !kind.has_record() => {
            bail_line!("id: only events of a record take an id ({kind} lines take none)")
        }
        Some(v) => Some(EventId::new(v).map_err(|e| line_err!("id: {e}"))?),
        None => None,
    };
    let amends_text = amends.map(|a| a.to_string());
    let request = request_digest(&[
        (
            "record",
            field_str(&raw.record, "record")?.map(str::as_bytes),
        ),
        ("kind", Some(kind_name.as_bytes())),
        (
            "occurred_on",
            field_str(&raw.occurred_on, "occurred_on")?.map(str::as_bytes),
        ),
        (
            "author",
            field_str(&raw.author, "author")?.map(str::as_bytes),
        ),
        ("amends", amends_text.as_deref().map(str::as_bytes)),
        (
            "matter",
            field_str(&raw.matter, "matter")?.map(str::as_bytes),
        ),
        (
            "reason",
            field_str(&raw.reason, "reason")?.map(str::as_bytes),
        ),
        ("actor", field_str(&raw.actor, "actor")?.map(str::as_bytes)),
        ("role", field_str(&raw.role, "role")?.map(str::as_bytes)),
        ("payload", payload.as_deref()),
        // After every earlier field, and only when given: the digest of a line without a
        // citation is what it was before these fields existed (stored ids still match).
        ("cite_witness", cite_witness.map(str::as_bytes)),
        ("cite_timestamp", cite_timestamp.then_some(&b"true"[..])),
    ]);
    let actor = |v: &Option<Value>| -> Result<ActorId> {
        ActorId::new(need(v, "actor", kind)?).map_err(|e| line_err!("actor: {e}"))
    };
    let kind = match kind {
        Kind::ActorEnrolled => {
            let role = need(&raw.role, "role", kind)?;
            let role = Role::parse(role)
                .map_err(|_| line_err!("role: expected admin, licensee or custodian"))?;
            LineKind::Enrol {
                actor: actor(&raw.actor)?,
                role,
            }
        }
        Kind::KeyRevoked => LineKind::Event(EventKind::KeyRevoked {
            actor: actor(&raw.actor)?,
        }),
        Kind::ServiceTerminated => LineKind::Event(EventKind::ServiceTerminated {
            terminated_on: occurred_on,
            reason: match field_str(&raw.reason, "reason")? {
                None => TerminationReason::Unstated,
                Some(r) => TerminationReason::parse(r).map_err(|_| {
                    line_err!("reason: expected unstated, completed, impairment, dual_relationship or other")
                })?,
            },
        }),
        Kind::Amendment => LineKind::Event(EventKind::Amendment {
            amends: Seq(amends.ok_or_else(|| line_err!("amends: required for amendment lines"))?),
        }),
        Kind::HoldPlaced => LineKind::Event(EventKind::HoldPlaced {
            matter: short(&raw.matter, "matter", kind)?,
        }),
        Kind::HoldReleased => LineKind::Event(EventKind::HoldReleased {
            matter: short(&raw.matter, "matter", kind)?,
        }),
        Kind::Destruction => LineKind::Event(EventKind::Destruction {
            reason: short(&raw.reason, "reason", kind)?,
            // A line carries no time citation yet (docs/GUIDE.md, "Attested destruction").
            citation: None,
        }),
        k => LineKind::Event(
            EventKind::simple(k).ok_or_else(|| line_err!("kind: {k} cannot be imported"))?,
        ),
    };
    let pre = Presign::parse(
        &Fields {
            signed_at: field_str(&raw.signed_at, "signed_at")?,
            nonce: field_str(&raw.nonce, "nonce")?,
            salt: field_str(&raw.salt, "salt")?,
            signature: field_str(&raw.signature, "signature")?,
        },
        &JSON_NAMES,
        payload.is_some(),
    )?;
    if pre.is_signed() && cite.is_some() {
        // The citation is part of the signed event, and only the server knows it.
        bail_line!("signature: a pre-signed destruction cannot ask the server to cite an outside time; sign it with its citation, or have the server sign it");
    }
    if pre.is_signed() && matches!(kind, LineKind::Enrol { .. }) {
        // The key an imported enrolment names is chosen (generated) at import.
        bail_line!("signature: actor_enrolled lines cannot be pre-signed; enrol a key held elsewhere with `caseledger actor add --pubkey FILE`");
    }
    Ok(Line {
        line,
        author,
        record,
        kind,
        occurred_on,
        payload,
        pre,
        id,
        cite,
        request,
    })
}

/// BLAKE3 derive-key context of request digests.
pub const REQUEST_DIGEST_CONTEXT: &str = "caseledger request digest v2";

/// The digest of a whole request: `BLAKE3-derive-key("caseledger request digest v2", m)`
/// where `m` is, for each field given, in the order of `fields` (record, kind, occurred_on,
/// author, amends, matter, reason, actor, role, payload): `u8 len(name) || name || u32 BE
/// len(value) || value` (docs/FORMAT.md §3). Values are the line's strings as given,
/// `amends` in decimal, the payload's bytes (from `payload` or `payload_base64`); absent
/// and null fields are left out. Never stored: the store keys it under the record key.
pub fn request_digest(fields: &[(&str, Option<&[u8]>)]) -> RequestDigest {
    let mut h = blake3::Hasher::new_derive_key(REQUEST_DIGEST_CONTEXT);
    for (name, value) in fields {
        let Some(v) = value else { continue };
        // Names are short literals; a value over 4 GiB (saturated here) is a payload the
        // store refuses anyway (MAX_PAYLOAD).
        h.update(&[u8::try_from(name.len()).unwrap_or(u8::MAX)]);
        h.update(name.as_bytes());
        h.update(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(v);
    }
    RequestDigest(*h.finalize().as_bytes())
}

/// The known event kind a near miss meant (`progress-note`, `Progress Note`, `progres_note`):
/// the same name up to case and `-`/space for `_`, or within two edits of it.
pub fn near_kind(s: &str) -> Option<&'static str> {
    if s.len() > 40 {
        return None;
    }
    let norm: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    Kind::ALL
        .iter()
        .filter(|k| !matches!(k, Kind::Genesis | Kind::RecordHead))
        .map(|k| (edit_distance(&norm, k.name()), k.name()))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, name)| name)
}

/// Levenshtein distance (small strings only).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod near_kind_tests {
    use super::near_kind;

    #[test]
    fn near_misses_name_the_kind_and_strangers_nothing() {
        assert_eq!(near_kind("progress-note"), Some("progress_note"));
        assert_eq!(near_kind("Progress Note"), Some("progress_note"));
        assert_eq!(near_kind("progres_note"), Some("progress_note"));
        assert_eq!(near_kind("chat"), None);
        assert_eq!(near_kind("the client said something"), None);
    }
}

#[cfg(test)]
mod duplicate_field_tests {
    use super::{json_value, parse_line, parse_value};

    /// Found by the `jsonl_line` fuzz target (fuzz/artifacts, 2026-12-02): the same bytes
    /// refused by `caseledger import` (a repeated field) were accepted through a
    /// `serde_json::Value`, the last `payload` winning.
    const REPEATED: &[u8] = br#"{"record":"X-0001","kind":"presenting_problem","occurred_on":"2024-02-05","author":"lic-01","payload":"EXAMPLE - fictional. Presenting presenting_problem","occurred_on":"2024-02-05","author":"lic-01","payload":"EXAMPLE - fictional. Presenting problem: placeholoblem: placeholder text."}"#;

    #[test]
    fn a_repeated_field_is_refused_by_the_line_and_by_the_body_parser() {
        let line = parse_line(REPEATED, 1).err().expect("import refuses it");
        assert!(
            line.0.contains("duplicate field `occurred_on`"),
            "{}",
            line.0
        );
        let body = json_value(REPEATED).expect_err("the body parser refuses it");
        assert_eq!(body, line, "both say the same");
        // serde_json's own Value keeps the last payload: the reason json_value exists.
        let lax: serde_json::Value = serde_json::from_slice(REPEATED).unwrap();
        assert!(parse_value(lax, 1).is_ok());
        // Nested objects (an event inside a batch) are checked too; the value is not quoted.
        let nested = br#"{"events":[{"kind":"x","payload":"CANARY-secret","payload":"b"}]}"#;
        let e = json_value(nested).expect_err("refused");
        assert!(!e.0.contains("CANARY"), "{}", e.0);
    }

    #[test]
    fn without_repeats_the_body_parser_reads_what_serde_json_reads() {
        let ok = br#"{"record":"X-0001","kind":"progress_note","occurred_on":"2024-02-05","author":"lic-01","payload":"p","amends":null,"n":[1,-2,3.5,true,{"a":{}}]}"#;
        let strict = json_value(ok).unwrap();
        let lax: serde_json::Value = serde_json::from_slice(ok).unwrap();
        assert_eq!(strict, lax);
        // An object key that repeats in different objects is no repeat.
        assert!(json_value(br#"[{"a":1},{"a":2}]"#).is_ok());
        assert!(json_value(br#"{"a":{"a":1}}"#).is_ok());
    }
}

#[cfg(test)]
mod citation_field_tests {
    use super::parse_line;
    use crate::citation::CiteChoice;

    const D: &str = r#""record":"C-1","kind":"destruction","occurred_on":"2025-01-02","author":"cust-1","reason":"R-7""#;

    fn line(extra: &str) -> Result<super::Line, String> {
        parse_line(format!("{{{D}{extra}}}").as_bytes(), 1).map_err(|e| e.to_string())
    }

    #[test]
    fn a_citation_is_parsed_keyed_and_refused_where_it_does_not_belong() {
        let plain = line("").unwrap();
        assert_eq!(plain.cite, None);
        // `false` is absent: the same request, the same digest as before the fields existed.
        let f = line(r#","cite_timestamp":false"#).unwrap();
        assert_eq!((f.cite, f.request), (None, plain.request));
        let t = line(r#","cite_timestamp":true"#).unwrap();
        assert_eq!(t.cite, Some(CiteChoice::Timestamp));
        let w = line(r#","cite_witness":"board""#).unwrap();
        assert_eq!(w.cite, Some(CiteChoice::Witness("board".into())));
        // Each choice is another request (an id keyed with one is not a repeat of another).
        assert!(t.request != plain.request && w.request != plain.request && w.request != t.request);
        for (extra, want) in [
            (r#","cite_witness":"b","cite_timestamp":true"#, "not both"),
            (r#","cite_timestamp":"yes""#, "expected true or false"),
            (r#","cite_witness":7"#, "expected a string"),
        ] {
            let e = line(extra).err().unwrap();
            assert!(e.contains(want), "{extra}: {e}");
        }
        let hold = parse_line(
            br#"{"record":"C-1","kind":"hold_placed","occurred_on":"2025-01-02","author":"cust-1","matter":"M","cite_witness":"b"}"#,
            1,
        );
        assert!(hold
            .err()
            .unwrap()
            .to_string()
            .contains("only destruction lines cite"));
        // Signed elsewhere, it cannot carry what only the server will know.
        let sig = format!(
            r#","cite_witness":"b","signed_at":"2025-01-02T10:00:00Z","nonce":"{}","signature":"{}""#,
            "2".repeat(32),
            "A".repeat(86) + "=="
        );
        let e = line(&sig).err().unwrap();
        assert!(e.contains("a pre-signed destruction cannot ask"), "{e}");
    }
}
