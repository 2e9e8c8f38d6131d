//! `caseledger keys generate|export|recover`.

use super::{KeyFormat, KeysExportArgs, KeysGenerateArgs, KeysRecoverArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Result};
use caseledger_core::keys::SigningKey;
use caseledger_core::{ActorId, PublicKey};

/// `keys generate --out FILE [--encrypt]`: a fresh Ed25519 key, 0600 PKCS#8 PEM (plain v1,
/// or passphrase-encrypted), never overwriting.
pub(crate) fn generate(a: KeysGenerateArgs, out: &Out) -> Result<Outcome> {
    let key = SigningKey::generate();
    let comment = a
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let passphrase = if a.encrypt {
        Some(crate::keys::new_passphrase(&a.out)?)
    } else {
        None
    };
    crate::keys::write_private_with(&a.out, &key, &comment, passphrase.as_ref())?;
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
        // Public keys come from the ledger itself (genesis, enrolments): no private key
        // is read, and none need be on this machine.
        crate::io::check_ledger_dir(dir)?;
        let ledger = super::ledger_ops::open(dir, caseledger_store::Durability::Immediate)?;
        let d = dir.display();
        let registry = ledger.registry();
        let origin = registry
            .origin
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default();
        match &a.actor {
            Some(id) => {
                let id = ActorId::new(id.as_str()).map_err(|e| anyhow!("--actor: {e}"))?;
                let state = registry
                    .actors
                    .get(&id)
                    .ok_or_else(|| anyhow!("--actor {id}: not enrolled in ledger {d}"))?;
                (state.key, id.to_string())
            }
            None => (
                ledger
                    .ledger_key()
                    .ok_or_else(|| anyhow!("ledger {d}: has no genesis"))?,
                origin,
            ),
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

/// `keys recover --kit FILE --keys DIR`: opens the recovery kit and writes `<DIR>/kek`
/// (0600). An existing KEK is kept: the same key is reported as already there, another
/// one is refused (two KEKs would mean two sets of wrapped record keys).
pub(crate) fn recover(a: KeysRecoverArgs, out: &Out) -> Result<Outcome> {
    use caseledger_keyfile::kek::{open_kit, KitIdentity};
    use caseledger_keyfile::{Passphrase, PassphraseSource};
    let kit = crate::io::read_file(&a.kit, "recovery kit", 64 * 1024)?;
    let opener = match (&a.identity, &a.passphrase_file) {
        (Some(id), _) => {
            let text = caseledger_keyfile::read_secret_string(id).map_err(|e| anyhow!("{e}"))?;
            KitIdentity::Identity(text.to_string())
        }
        (None, Some(f)) => KitIdentity::Passphrase(
            Passphrase::from_file(f).map_err(|e| anyhow!("--passphrase-file: {e}"))?,
        ),
        (None, None) => KitIdentity::Passphrase(
            PassphraseSource::from_env()
                .get(&a.kit)
                .map_err(|e| {
                    // `init` writes the identity beside the kit unless it protected the kit
                    // with a passphrase: name it when it is there.
                    let beside = a.kit.with_file_name("recovery-identity.txt");
                    if beside.is_file() {
                        anyhow!("{e} (or give --identity {}, the recovery identity `init` wrote)", beside.display())
                    } else {
                        anyhow!("{e} (or give --identity FILE: the recovery identity `init` wrote, recovery-identity.txt)")
                    }
                })?,
        ),
    };
    let kek = open_kit(&kit, &opener).map_err(|e| anyhow!("{}: {e}", a.kit.display()))?;
    let kd = caseledger_keyfile::KeyDir::at(&a.keys);
    kd.create().map_err(|e| anyhow!("{e}"))?;
    let path = kd.kek_path();
    let already = if path.exists() {
        let have = caseledger_keyfile::read_kek(kd.root()).map_err(|e| anyhow!("{e}"))?;
        if have.as_bytes() != kek.as_bytes() {
            anyhow::bail!(
                "content key {} exists and differs from the kit's; refusing to replace it (move it aside if it is known to be wrong)",
                path.display()
            );
        }
        true
    } else {
        caseledger_keyfile::write_kek(kd.root(), &kek).map_err(|e| anyhow!("{e}"))?;
        false
    };
    if out.json {
        out.json_data(&serde_json::json!({
            "kek_file": path.display().to_string(),
            "already_present": already,
        }))?;
    } else if already {
        out.say(format!(
            "content key {} is already there and matches the kit",
            path.display()
        ));
    } else {
        out.say(format!(
            "restored the content key to {} (mode 0600)",
            path.display()
        ));
    }
    Ok(Outcome::Ok)
}
