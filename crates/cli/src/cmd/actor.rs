//! `caseledger init` and `caseledger actor add|revoke`.

use super::ledger_ops::{open_sealing, print_receipt, sign_append, store_why, today};
use super::{ActorAddArgs, ActorRevokeArgs, InitArgs};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::event::{Event, EventKind, LedgerSettings, ShortText};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::is_valid_key_name;
use caseledger_core::ActorId;
use caseledger_store::{CreateOptions, Durability, Ledger, OpenOptions};
use serde_json::json;
use std::fs;

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
                private_practice: a.private_practice,
            },
            open: OpenOptions::default().with_ledger_key(ledger_key.clone()),
        },
    )
    .map_err(|e| anyhow!("ledger {d}: {e}"))?;
    let kd = KeyDir::of(dir);
    let keys = kd
        .create()
        .and_then(|()| crate::keys::write_private(&kd.ledger_key_path(), &ledger_key, &a.origin))
        .and_then(|()| kd.write_actor_key(&admin, &admin_key).map(|_| ()));
    let closed = created.close();
    if let Err(e) = keys.and(closed.map_err(|e| anyhow!("ledger {d}: {e}"))) {
        // Leave nothing half made: the ledger without its keys is useless.
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
    let vkey = ledger_key
        .public_key()
        .to_note_vkey(&a.origin)
        .map_err(|e| anyhow!("--origin: {e}"))?;
    if out.json {
        out.json_data(&json!({
            "ledger": d.to_string(),
            "origin": a.origin,
            "admin": admin.as_str(),
            "verifier_key": vkey,
            "ledger_key_file": kd.ledger_key_path().display().to_string(),
            "admin_key_file": kd.actor_key_path(&admin).display().to_string(),
        }))?;
    } else {
        out.say(format!(
            "created ledger {d} (origin {}); admin {admin} key {}, ledger key {} (both 0600)",
            a.origin,
            kd.actor_key_path(&admin).display(),
            kd.ledger_key_path().display()
        ));
        out.say("the ledger's verifier key (give it to auditors for `verify --key`):");
        out.data(&vkey)?;
    }
    Ok(Outcome::Ok)
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
    let ledger = open_sealing(dir, Durability::Immediate)?;
    let kd = KeyDir::of(dir);
    let admin_key = kd.actor_key(&author)?;
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
    let ev = Event::new(
        None,
        author.clone(),
        EventKind::ActorEnrolled {
            actor: id.clone(),
            role: a.role.role(),
            public_key,
        },
        today()?,
    );
    // The key is written first so that an enrolled actor always has it; removed if refused.
    if let Some(k) = &new_key {
        kd.write_actor_key(&id, k)?;
    }
    let receipt = match sign_append(&ledger, &admin_key, ev, None) {
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
            "wrote {}'s signing key {} (mode 0600)",
            id,
            kd.actor_key_path(&id).display()
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
    let ledger = open_sealing(dir, Durability::Immediate)?;
    let kd = KeyDir::of(dir);
    let admin_key = kd.actor_key(&author)?;
    let ev = Event::new(
        None,
        author.clone(),
        EventKind::KeyRevoked { actor: id.clone() },
        today()?,
    );
    let receipt = sign_append(&ledger, &admin_key, ev, None)
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
