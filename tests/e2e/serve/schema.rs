//! Every answer of the e2e serve tests checked against docs/openapi.json.
//!
//! The OpenAPI document describes the JSON answers with mirror structs
//! (`crates/serve/src/openapi.rs`), while the server builds most answers with `json!`: the
//! two could drift without any compile error. So [`check`] runs on every answer the tests'
//! `request` receives: a documented operation's `2xx` JSON must match its response schema
//! (no undocumented key, every required key, the documented types), its content type must
//! be the documented one, and every JSON error answer must be an `ErrorBody` with a
//! documented status. The validator knows the subset of JSON Schema (2020-12, OpenAPI 3.1)
//! that utoipa writes: `$ref`, `oneOf`, `anyOf`, `allOf`, `type` (one or a list),
//! `required`, `properties`, `additionalProperties`, `items`, `enum`, `minimum`.

use serde_json::Value;
use std::sync::OnceLock;

fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        serde_json::from_str(&std::fs::read_to_string(p).expect("docs/openapi.json"))
            .expect("docs/openapi.json is JSON")
    })
}

/// The documented operation (path template) `path` is an instance of, if any.
fn operation(method: &str, path: &str) -> Option<&'static Value> {
    let path = path.split('?').next().unwrap_or(path);
    let want: Vec<&str> = path.split('/').collect();
    doc()["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| {
            let t: Vec<&str> = template.split('/').collect();
            // `{rest}` (the tile routes) takes the rest of the path.
            let rest = t.last().is_some_and(|s| *s == "{rest}");
            let n = if rest { t.len() - 1 } else { t.len() };
            (if rest {
                want.len() > n
            } else {
                want.len() == n
            }) && t[..n]
                .iter()
                .zip(&want)
                .all(|(t, w)| t.starts_with('{') && !w.is_empty() || t == w)
        })
        .and_then(|(_, ops)| ops.get(method.to_ascii_lowercase()))
}

/// Checks one answer; `Err` says what does not match the document.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &str,
) -> Result<(), String> {
    let json = content_type.is_some_and(|c| c.starts_with("application/json"));
    let Some(op) = operation(method, path) else {
        // Not a documented route (traversal attempts, unknown paths): an error answer,
        // JSON, in the one error shape.
        if json {
            let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
            return validate(&doc()["components"]["schemas"]["ErrorBody"], &v, "$");
        }
        return Ok(());
    };
    let responses = &op["responses"];
    let documented = responses.get(status.to_string());
    if status >= 400 {
        if documented.is_none() && responses.get("default").is_none() {
            return Err(format!(
                "status {status} is not documented for {method} {path}"
            ));
        }
        if !json {
            return Err(format!(
                "error answer {status} is not JSON ({content_type:?})"
            ));
        }
        let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
        return validate(&doc()["components"]["schemas"]["ErrorBody"], &v, "$");
    }
    let Some(resp) = documented else {
        return Err(format!(
            "status {status} is not documented for {method} {path}"
        ));
    };
    let Some(content) = resp.get("content").and_then(Value::as_object) else {
        return Ok(());
    };
    let ct = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    let Some(media) = content.get(ct) else {
        return Err(format!(
            "{method} {path} answered {status} as {ct:?}; documented: {:?}",
            content.keys().collect::<Vec<_>>()
        ));
    };
    match media.get("schema") {
        Some(schema) if json => {
            let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
            validate(schema, &v, "$")
        }
        _ => Ok(()),
    }
}

fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            resolve(&doc()["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `v` against `schema` (at JSON path `at`, for the message).
pub fn validate(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = resolve(schema);
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            validate(sub, v, at)?;
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|sub| validate(sub, v, at).is_ok()) {
            return Err(format!("{at}: matches none of anyOf"));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let n = one
            .iter()
            .filter(|sub| validate(sub, v, at).is_ok())
            .count();
        if n != 1 {
            let why: Vec<String> = one
                .iter()
                .filter_map(|sub| validate(sub, v, at).err())
                .collect();
            return Err(format!("{at}: matches {n} of oneOf, not 1 ({why:?})"));
        }
    }
    if let Some(t) = s.get("type") {
        let got = type_name(v);
        let ok = |want: &str| want == got || (want == "number" && got == "integer");
        let fits = match t {
            Value::String(w) => ok(w),
            Value::Array(ws) => ws.iter().filter_map(Value::as_str).any(ok),
            _ => true,
        };
        if !fits {
            return Err(format!("{at}: a {got}, documented as {t}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            return Err(format!("{at}: {n} is below the minimum {min}"));
        }
    }
    if let Value::Object(map) = v {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap_or_default();
            if !map.contains_key(r) {
                return Err(format!("{at}: the required {r:?} is missing"));
            }
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            let extra = s.get("additionalProperties");
            for (k, val) in map {
                let here = format!("{at}.{k}");
                match (props.get(k), extra) {
                    (Some(p), _) => validate(p, val, &here)?,
                    (None, Some(Value::Bool(true))) => {}
                    (None, Some(e @ Value::Object(_))) => validate(e, val, &here)?,
                    (None, _) => return Err(format!("{here}: not in the document")),
                }
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (v, s.get("items")) {
        for (i, val) in items.iter().enumerate() {
            validate(item, val, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The checker is able to fail: on the real document, answers that drift from it are
/// refused (an undocumented key, a missing required key, a wrong type, both or neither
/// branch of a `oneOf`, an error in another shape, an undocumented status).
#[test]
fn the_answer_checker_refuses_answers_that_drift_from_the_document() {
    let events = "/v1/ledgers/practice/events";
    let good = r#"{"receipts":[{"seq":3,"hash":"ab","recorded_at_us":1,"replayed":false}]}"#;
    let line =
        r#"{"receipts":[{"seq":3,"hash":"ab","recorded_at_us":1,"replayed":false,"line":1}]}"#;
    let json = Some("application/json");
    // The receipt line's optional fields, if any, are documented: use the real schema's.
    let receipt = resolve(&doc()["components"]["schemas"]["ReceiptOut"]);
    let has_line = receipt["properties"].get("line").is_some();
    assert_eq!(check("POST", events, 200, json, good), Ok(()));
    assert_eq!(check("POST", events, 200, json, line).is_ok(), has_line);
    for (bad, why) in [
        (
            r#"{"receipts":[{"seq":3,"hash":"ab","recorded_at_us":1,"replayed":false,"payload":"x"}]}"#,
            "not in the document",
        ),
        (
            r#"{"receipts":[{"seq":3,"hash":"ab","replayed":false}]}"#,
            "required",
        ),
        (
            r#"{"receipts":[{"seq":"3","hash":"ab","recorded_at_us":1,"replayed":false}]}"#,
            "documented as",
        ),
        (r#"{"receipts":[],"dry_run":true}"#, "oneOf"),
    ] {
        let e = check("POST", events, 200, json, bad).expect_err(bad);
        assert!(e.contains(why), "{bad}: {e}");
    }
    assert!(check("POST", events, 400, json, r#"{"error":"bad"}"#).is_err());
    assert!(check(
        "POST",
        events,
        400,
        json,
        r#"{"error":{"kind":"bad_request","message":"m"}}"#
    )
    .is_ok());
    assert!(check(
        "POST",
        events,
        418,
        json,
        r#"{"error":{"kind":"x","message":"m"}}"#
    )
    .unwrap_err()
    .contains("not documented"));
    assert!(check(
        "GET",
        "/v1/ledgers/practice/tlog/checkpoint",
        200,
        json,
        "{}"
    )
    .unwrap_err()
    .contains("documented"));
    assert_eq!(
        check(
            "GET",
            "/v1/ledgers/practice/tlog/tile/0/000",
            200,
            Some("application/octet-stream"),
            ""
        ),
        Ok(())
    );
}
