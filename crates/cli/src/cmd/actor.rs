//! `caseledger init` and `caseledger actor add|revoke`.

use super::ledger_ops::{
    open_sealing, print_receipt, sign_append_as, store_why, today, AuthorSigner,
};
use super::{ActorAddArgs, ActorRevokeArgs, InitArgs};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::event::{Event, EventKind, LedgerSettings, ShortText, TimeZoneName};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::is_valid_key_name;
use caseledger_core::ActorId;
use caseledger_keyfile::kek::{self, Kek, KitRecipient};
use caseledger_keyfile::Passphrase;
use caseledger_store::{CreateOptions, Durability, Ledger, OpenOptions};
use serde_json::json;
use std::fs;
use std::path::PathBuf;

fn actor_id(s: &str, flag: &str) -> Result<ActorId> {
    ActorId::new(s).map_err(|e| anyhow!("{flag} {:?}: {e}", s.chars().take(64).collect::<String>()))
}

/// `caseledger init <DIR> --origin <NAME>`.
pub(crate) fn init(a: InitArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.dir;
    let d = dir.display();
    if !is_valid_key_name(&a.origin) {
        bail!("--origin {:?}: must be a valid note key name (printable, no spaces or '+'), e.g. example.org/practice-ledger", a.origin.chars().take(64).collect::<String>());
    }
    let origin = ShortText::new(a.origin.clone()).map_err(|e| anyhow!("--origin: {e}"))?;
    let admin = actor_id(&a.admin, "--admin")?;
    let existed = match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => bail!("ledger {d}: exists and is not a directory"),
        Ok(_) => {
            if fs::read_dir(dir)
                .map_err(crate::io::io_why)?
                .next()
                .is_some()
            {
                bail!("ledger {d}: directory exists and is not empty; refusing to create a ledger there");
            }
            true
        }
        Err(_) => false,
    };
    // The key directory is settled before anything is written: outside the ledger, and
    // holding no other ledger's keys (a key directory belongs to one ledger).
    let kd = KeyDir::resolve(a.keys.get(), dir, || Ok(a.origin.clone()))?;
    let kek_path = kd.inner().kek_path();
    let kit_path = kd.inner().recovery_kit_path();
    for p in [kd.ledger_key_path(), kek_path.clone(), kit_path.clone()] {
        if p.exists() {
            bail!(
                "key directory {}: already holds {} (a key directory belongs to one ledger); give another --keys DIR",
                kd.root().display(),
                p.display()
            );
        }
    }
    let recovery = match (&a.recovery_recipient, &a.recovery_passphrase_file) {
        (Some(r), _) => {
            kek::parse_recipient(r).map_err(|e| anyhow!("--recovery-recipient: {e}"))?;
            Recovery::Recipient(r.trim().to_owned())
        }
        (None, Some(f)) => Recovery::Passphrase(
            Passphrase::from_file(f).map_err(|e| anyhow!("--recovery-passphrase-file: {e}"))?,
        ),
        (None, None) => Recovery::Generated,
    };
    let passphrase = if a.encrypt_keys {
        Some(crate::keys::new_passphrase(&kd.ledger_key_path())?)
    } else {
        None
    };
    let admin_key = SigningKey::generate();
    let ledger_key = SigningKey::generate();
    let created = Ledger::create(
        dir,
        CreateOptions {
            origin,
            admin: admin.clone(),
            admin_key: &admin_key,
            ledger_key: ledger_key.public_key(),
            settings: LedgerSettings {
                backup_retention_days: a.backup_retention_days,
                ..LedgerSettings::new(
                    a.private_practice,
                    TimeZoneName::new(a.time_zone.as_str())
                        .map_err(|e| anyhow!("--time-zone: {e}"))?,
                )
            },
            open: OpenOptions::default().with_ledger_key(ledger_key.clone()),
        },
    )
    .map_err(|e| anyhow!("ledger {d}: {e}"))?;
    let mut written: Vec<PathBuf> = Vec::new();
    let keys = write_init_keys(
        &kd,
        &a.origin,
        &admin,
        &admin_key,
        &ledger_key,
        passphrase.as_ref(),
        recovery,
        &mut written,
    );
    let closed = created.close();
    let identity_file = match keys
        .and_then(|id| closed.map_err(|e| anyhow!("ledger {d}: {e}")).map(|()| id))
    {
        Ok(id) => id,
        Err(e) => {
            // Leave nothing half made: the ledger without its keys is useless, and keys
            // without their ledger are clutter.
            for p in &written {
                let _ = fs::remove_file(p);
            }
            if existed {
                if let Ok(entries) = fs::read_dir(dir) {
                    for e in entries.flatten() {
                        let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
                    }
                }
            } else {
                let _ = fs::remove_dir_all(dir);
            }
            return Err(e);
        }
    };
    let vkey = ledger_key
        .public_key()
        .to_note_vkey(&a.origin)
        .map_err(|e| anyhow!("--origin: {e}"))?;
    if out.json {
        out.json_data(&json!({
            "ledger": d.to_string(),
            "origin": a.origin,
            "admin": admin.as_str(),
            "time_zone": a.time_zone,
            "verifier_key": vkey,
            "keys": kd.root().display().to_string(),
            "ledger_key_file": kd.ledger_key_path().display().to_string(),
            "admin_key_file": kd.actor_key_path(&admin).display().to_string(),
            "kek_file": kek_path.display().to_string(),
            "recovery_kit": kit_path.display().to_string(),
            "recovery_identity": identity_file.as_ref().map(|p| p.display().to_string()),
        }))?;
    } else {
        out.say(format!(
            "created ledger {d} (origin {}); private keys in {} (never in the ledger directory): key of admin {admin} {}, ledger key {}, content key {} (all 0600{})",
            a.origin,
            kd.root().display(),
            kd.actor_key_path(&admin).display(),
            kd.ledger_key_path().display(),
            kek_path.display(),
            if passphrase.is_some() { "; signing keys passphrase-encrypted" } else { "" },
        ));
        // The zone is fixed in genesis and counts every retention day: say which it is, so
        // a practice that left the default learns it now rather than from a report.
        out.say(format!(
            "time zone {} (retention days, `today` and reports count days there; fixed in genesis{})",
            a.time_zone,
            if a.time_zone.eq_ignore_ascii_case("UTC") {
                "; give `init --time-zone`, e.g. America/Chicago, for the practice's own"
            } else {
                ""
            }
        ));
        out.say(format!(
            "recovery kit {}: KEEP A COPY OFFSITE; without it, losing the key directory makes every record's content unreadable (`caseledger keys recover` restores from it)",
            kit_path.display()
        ));
        if let Some(id) = &identity_file {
            out.say(format!(
                "recovery identity {}: it opens the kit; move it offline (print it, or keep it on media stored apart), then delete it from this machine",
                id.display()
            ));
        }
        out.say("the ledger's verifier key (give it to auditors for `verify --key`):");
        out.data(&vkey)?;
    }
    Ok(Outcome::Ok)
}

/// How `init` wraps the recovery kit.
enum Recovery {
    /// To this age recipient.
    Recipient(String),
    /// With this passphrase.
    Passphrase(Passphrase),
    /// To a new recovery identity, written beside the kit.
    Generated,
}

/// Writes `init`'s key files (each 0600, never overwriting), noting each in `written`;
/// returns the generated recovery identity's file, if one was made.
#[expect(
    clippy::too_many_arguments,
    reason = "init's key material, written in one place"
)]
fn write_init_keys(
    kd: &KeyDir,
    origin: &str,
    admin: &ActorId,
    admin_key: &SigningKey,
    ledger_key: &SigningKey,
    passphrase: Option<&Passphrase>,
    recovery: Recovery,
    written: &mut Vec<PathBuf>,
) -> Result<Option<PathBuf>> {
    let err = |e: caseledger_keyfile::KeyFileError| anyhow!("{e}");
    kd.create()?;
    let lk = kd.ledger_key_path();
    crate::keys::write_private_with(&lk, ledger_key, origin, passphrase)?;
    written.extend([lk.clone(), lk.with_extension("pub")]);
    let ak = kd.actor_key_path(admin);
    crate::keys::write_private_with(&ak, admin_key, admin.as_str(), passphrase)?;
    written.extend([ak.clone(), ak.with_extension("pub")]);
    let kek = Kek::generate();
    written.push(caseledger_keyfile::write_kek(kd.root(), &kek).map_err(err)?);
    let mut identity_file = None;
    let to = match recovery {
        Recovery::Recipient(r) => KitRecipient::Recipient(r),
        Recovery::Passphrase(p) => KitRecipient::Passphrase(p),
        Recovery::Generated => {
            let (identity, recipient) = kek::generate_recovery_identity();
            let path = kd.inner().recovery_identity_path();
            let text = zeroize::Zeroizing::new(format!(
                "# caseledger recovery identity for {origin}: opens {} (age -d -i this-file)\n# public key: {recipient}\n{}\n",
                crate::keys::RECOVERY_KIT_NAME,
                identity.as_str()
            ));
            caseledger_keyfile::write_secret_file(&path, text.as_bytes()).map_err(err)?;
            written.push(path.clone());
            identity_file = Some(path);
            KitRecipient::Recipient(recipient)
        }
    };
    let kit = kek::recovery_kit(&kek, &to).map_err(err)?;
    let kit_path = kd.inner().recovery_kit_path();
    caseledger_keyfile::write_secret_file(&kit_path, kit.as_bytes()).map_err(err)?;
    written.push(kit_path);
    Ok(identity_file)
}

/// `caseledger actor add`.
pub(crate) fn add(a: ActorAddArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let id = actor_id(&a.id, "--id")?;
    let author = actor_id(&a.author, "--author")?;
    let given = match &a.pubkey {
        Some(p) => Some(crate::keys::read_public(p, "--pubkey")?),
        None => None,
    };
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let admin_key = AuthorSigner::resolve(&a.signer, &kd, &author)?;
    if given.is_none() && kd.has_actor_key(&id) {
        bail!(
            "actor {id}: key file {} already exists; refusing to overwrite it",
            kd.actor_key_path(&id).display()
        );
    }
    let (public_key, new_key) = match given {
        Some(pk) => (pk, None),
        None => {
            let k = SigningKey::generate();
            (k.public_key(), Some(k))
        }
    };
    // A new key is encrypted when the ledger's keys are (`init --encrypt-keys`), unless a
    // flag says otherwise; the passphrase is settled before anything is written.
    let encrypt = match (a.encrypt_key, a.no_encrypt_key) {
        (true, _) => true,
        (_, true) => false,
        _ => new_key.is_some() && kd.keys_encrypted()?,
    };
    let passphrase = if encrypt && new_key.is_some() {
        Some(crate::keys::new_passphrase(&kd.actor_key_path(&id))?)
    } else {
        None
    };
    let ev = Event::new(
        None,
        author.clone(),
        EventKind::ActorEnrolled {
            actor: id.clone(),
            role: a.role.role(),
            public_key,
        },
        today(&ledger)?,
    );
    // The key is written first so that an enrolled actor always has it; removed if refused.
    if let Some(k) = &new_key {
        kd.write_actor_key_with(&id, k, passphrase.as_ref())?;
    }
    let receipt = match sign_append_as(&ledger, &admin_key, ev)? {
        Ok(r) => r,
        Err(e) => {
            if new_key.is_some() {
                kd.remove_actor_key(&id);
            }
            bail!("actor add {id}: {}", store_why(&e));
        }
    };
    if new_key.is_some() && !out.json {
        out.say(format!(
            "wrote {}'s signing key {} (mode 0600{})",
            id,
            kd.actor_key_path(&id).display(),
            if passphrase.is_some() {
                ", passphrase-encrypted"
            } else {
                ""
            }
        ));
    }
    print_receipt(
        &format!("enrolment of {id} as {}", a.role.role()),
        &receipt,
        None,
        out,
    )?;
    Ok(Outcome::Ok)
}

/// `caseledger actor revoke`.
pub(crate) fn revoke(a: ActorRevokeArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let id = actor_id(&a.id, "--id")?;
    let author = actor_id(&a.author, "--author")?;
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let admin_key = AuthorSigner::resolve(&a.signer, &kd, &author)?;
    let ev = Event::new(
        None,
        author.clone(),
        EventKind::KeyRevoked { actor: id.clone() },
        today(&ledger)?,
    );
    let receipt = sign_append_as(&ledger, &admin_key, ev)?
        .map_err(|e| anyhow!("actor revoke {id}: {}", store_why(&e)))?;
    // The revoked key can sign nothing more; move it aside so the id can be re-enrolled.
    let path = kd.actor_key_path(&id);
    if path.exists() {
        let aside = path.with_file_name(format!("{id}.revoked-{}.pem", receipt.seq.0));
        let _ = fs::rename(&path, &aside);
        let _ = fs::rename(path.with_extension("pub"), aside.with_extension("pub"));
    }
    print_receipt(&format!("revocation of {id}"), &receipt, None, out)?;
    Ok(Outcome::Ok)
}
