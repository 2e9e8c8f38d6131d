//! `caseledger keys generate|export`.

use super::{KeyFormat, KeysExportArgs, KeysGenerateArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Result};
use caseledger_core::keys::SigningKey;
use caseledger_core::{ActorId, PublicKey};

/// `keys generate --out FILE`: a fresh Ed25519 key, 0600 PKCS#8 v1 PEM, never overwriting.
pub(crate) fn generate(a: KeysGenerateArgs, out: &Out) -> Result<Outcome> {
    let key = SigningKey::generate();
    let comment = a
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::keys::write_private(&a.out, &key, &comment)?;
    let pk = key.public_key();
    if out.json {
        out.json_data(&serde_json::json!({
            "private_key_file": a.out.display().to_string(),
            "public_key": pk.to_openssh(""),
        }))?;
    } else {
        out.say(format!("wrote private key {} (mode 0600)", a.out.display()));
        out.data(&pk.to_openssh(&comment))?;
    }
    Ok(Outcome::Ok)
}

/// `keys export`: prints only public keys.
pub(crate) fn export(a: KeysExportArgs, out: &Out) -> Result<Outcome> {
    let (pk, default_name) = if let Some(dir) = &a.ledger {
        crate::io::check_ledger_dir(dir)?;
        let kd = crate::keys::KeyDir::of(dir);
        let origin = super::ledger_ops::open(dir, caseledger_store::Durability::Immediate)?
            .origin()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default();
        match &a.actor {
            Some(id) => {
                let id = ActorId::new(id.as_str()).map_err(|e| anyhow!("--actor: {e}"))?;
                (kd.actor_key(&id)?.public_key(), id.to_string())
            }
            None => (kd.ledger_key()?.public_key(), origin),
        }
    } else if let Some(path) = &a.key {
        let text = crate::io::read_file(path, "key file", crate::keys::MAX_KEY_TEXT)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pk = if text.windows(11).any(|w| w == b"PRIVATE KEY") {
            crate::keys::read_private(path)?.public_key()
        } else {
            crate::keys::read_public(path, "key file")?
        };
        (pk, stem)
    } else {
        return Err(anyhow!("give --key <FILE> or --ledger <DIR>"));
    };
    let name = a.name.unwrap_or(default_name);
    let text = render(pk, a.format, &name, a.witness)?;
    if out.json {
        out.json_data(
            &serde_json::json!({ "format": format_name(a.format), "key": text.trim_end() }),
        )?;
    } else {
        out.data(&text)?;
    }
    Ok(Outcome::Ok)
}

fn format_name(f: KeyFormat) -> &'static str {
    match f {
        KeyFormat::Note => "note",
        KeyFormat::Pem => "pem",
        KeyFormat::Ssh => "ssh",
    }
}

/// A public key in the requested form.
pub(crate) fn render(
    pk: PublicKey,
    format: KeyFormat,
    name: &str,
    witness: bool,
) -> Result<String> {
    Ok(match format {
        KeyFormat::Note if witness => {
            caseledger_core::checkpoint::CosignatureVerifier::new(name, pk)
                .map_err(|e| anyhow!("--name {name:?}: {e}"))?
                .to_vkey_string()
        }
        KeyFormat::Note => pk
            .to_note_vkey(name)
            .map_err(|e| anyhow!("--name {name:?}: {e}"))?,
        KeyFormat::Pem => pk.to_spki_pem(),
        KeyFormat::Ssh => pk.to_openssh(name),
    })
}
