//! Signing through ssh-agent (`SSH_AUTH_SOCK`) with an Ed25519 key the agent holds: an
//! author signs with the key they already use for SSH, and the private key never enters
//! this process.
//!
//! The agent protocol (draft-miller-ssh-agent) over the Unix socket, the two messages
//! needed: `SSH_AGENTC_REQUEST_IDENTITIES` (11) → `SSH_AGENT_IDENTITIES_ANSWER` (12), and
//! `SSH_AGENTC_SIGN_REQUEST` (13) → `SSH_AGENT_SIGN_RESPONSE` (14) or `SSH_AGENT_FAILURE`
//! (5). Each message is `u32 length || byte type || contents`; strings are `u32 length ||
//! bytes`. For Ed25519 the agent's signature is `string "ssh-ed25519" || string sig[64]`,
//! a plain Ed25519 signature over the data sent, which [`AgentSigner::sign`] checks
//! against the key before returning it.

pub use crate::signer::AgentError;
use crate::signer::{SignError, Signer};
use caseledger_core::keys::SSH_ED25519;
use caseledger_core::{PublicKey, SignatureBytes};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The environment variable naming the agent's socket.
pub const AUTH_SOCK_ENV: &str = "SSH_AUTH_SOCK";

const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;
/// An agent reply larger than this is refused (a few hundred keys' worth).
const MAX_REPLY: u32 = 256 * 1024;

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn take_u32(buf: &mut &[u8]) -> Result<u32, AgentError> {
    let (n, rest) = buf
        .split_first_chunk::<4>()
        .ok_or(AgentError::Protocol("truncated"))?;
    *buf = rest;
    Ok(u32::from_be_bytes(*n))
}

fn take_string<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], AgentError> {
    let len = usize::try_from(take_u32(buf)?).map_err(|_| AgentError::Protocol("length"))?;
    if buf.len() < len {
        return Err(AgentError::Protocol("truncated string"));
    }
    let (s, rest) = buf.split_at(len);
    *buf = rest;
    Ok(s)
}

/// A connection to ssh-agent.
pub struct Agent {
    socket: PathBuf,
}

impl Agent {
    /// The agent at `SSH_AUTH_SOCK`.
    pub fn from_env() -> Result<Agent, AgentError> {
        match std::env::var_os(AUTH_SOCK_ENV) {
            Some(s) if !s.is_empty() => Ok(Agent::at(PathBuf::from(s))),
            _ => Err(AgentError::NoSocket),
        }
    }

    /// The agent listening on `socket`.
    pub fn at(socket: impl Into<PathBuf>) -> Agent {
        Agent {
            socket: socket.into(),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
        move |source| AgentError::Io {
            socket: self.socket.clone(),
            source,
        }
    }

    /// One request, one reply: (type, contents).
    fn call(&self, kind: u8, body: &[u8]) -> Result<(u8, Vec<u8>), AgentError> {
        let mut s = UnixStream::connect(&self.socket).map_err(self.io())?;
        let len =
            u32::try_from(body.len() + 1).map_err(|_| AgentError::Protocol("request too large"))?;
        let mut msg = Vec::with_capacity(body.len() + 5);
        msg.extend_from_slice(&len.to_be_bytes());
        msg.push(kind);
        msg.extend_from_slice(body);
        s.write_all(&msg).map_err(self.io())?;
        let mut n = [0u8; 4];
        s.read_exact(&mut n).map_err(self.io())?;
        let n = u32::from_be_bytes(n);
        if n == 0 || n > MAX_REPLY {
            return Err(AgentError::Protocol("reply length"));
        }
        let mut reply = vec![0u8; usize::try_from(n).map_err(|_| AgentError::Protocol("length"))?];
        s.read_exact(&mut reply).map_err(self.io())?;
        let (kind, rest) = reply
            .split_first()
            .ok_or(AgentError::Protocol("empty reply"))?;
        Ok((*kind, rest.to_vec()))
    }

    /// The Ed25519 keys the agent holds, with their comments (other key types skipped).
    pub fn ed25519_keys(&self) -> Result<Vec<(PublicKey, String)>, AgentError> {
        let (kind, body) = self.call(SSH_AGENTC_REQUEST_IDENTITIES, &[])?;
        if kind != SSH_AGENT_IDENTITIES_ANSWER {
            return Err(AgentError::Protocol("expected an identities answer"));
        }
        let mut buf = body.as_slice();
        let n = take_u32(&mut buf)?;
        let mut keys = Vec::new();
        for _ in 0..n {
            let blob = take_string(&mut buf)?;
            let comment = take_string(&mut buf)?;
            // Ed25519 keys only; RSA, ECDSA and certificates are not ours to use.
            if let Ok(pk) = PublicKey::from_ssh_blob(blob) {
                keys.push((pk, String::from_utf8_lossy(comment).into_owned()));
            }
        }
        Ok(keys)
    }

    /// Asks the agent to sign `data` with `key`; returns the raw Ed25519 signature, checked.
    pub fn sign(&self, key: &PublicKey, data: &[u8]) -> Result<SignatureBytes, AgentError> {
        let mut body = Vec::with_capacity(data.len() + 64);
        put_string(&mut body, &key.to_ssh_blob());
        put_string(&mut body, data);
        body.extend_from_slice(&0u32.to_be_bytes());
        let (kind, reply) = self.call(SSH_AGENTC_SIGN_REQUEST, &body)?;
        let fpr = key.to_openssh("");
        match kind {
            SSH_AGENT_SIGN_RESPONSE => {}
            SSH_AGENT_FAILURE => return Err(AgentError::Refused(fpr)),
            _ => return Err(AgentError::Protocol("expected a sign response")),
        }
        let mut buf = reply.as_slice();
        let mut sig_blob = take_string(&mut buf)?;
        let alg = take_string(&mut sig_blob)?;
        if alg != SSH_ED25519.as_bytes() {
            return Err(AgentError::Protocol("signature is not ssh-ed25519"));
        }
        let raw: [u8; 64] = take_string(&mut sig_blob)?
            .try_into()
            .map_err(|_| AgentError::Protocol("Ed25519 signature is not 64 bytes"))?;
        let sig = SignatureBytes(raw);
        key.verify(data, &sig)
            .map_err(|_| AgentError::BadSignature(fpr))?;
        Ok(sig)
    }
}

/// A [`Signer`] whose key ssh-agent holds.
pub struct AgentSigner {
    agent: Agent,
    key: PublicKey,
}

impl AgentSigner {
    /// Signs with `key` through `agent`, after checking that the agent holds it.
    pub fn new(agent: Agent, key: PublicKey) -> Result<AgentSigner, AgentError> {
        if !agent.ed25519_keys()?.iter().any(|(k, _)| *k == key) {
            return Err(AgentError::KeyNotFound(key.to_openssh("")));
        }
        Ok(AgentSigner { agent, key })
    }

    /// The key in an OpenSSH public key file (`id_ed25519.pub`), through the agent at
    /// `SSH_AUTH_SOCK`.
    pub fn from_pub_file(path: &Path) -> Result<AgentSigner, SignerSetupError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignerSetupError::Io {
            path: path.to_owned(),
            source,
        })?;
        let key = PublicKey::from_openssh(text.trim()).map_err(|e| SignerSetupError::NotAKey {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        Ok(AgentSigner::new(Agent::from_env()?, key)?)
    }
}

/// Why an agent signer could not be set up from a `.pub` file.
#[derive(Debug, thiserror::Error)]
pub enum SignerSetupError {
    /// The file could not be read.
    #[error("SSH public key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not an `ssh-ed25519` public key line.
    #[error("SSH public key file {}: {why}", path.display())]
    NotAKey {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The agent's error.
    #[error(transparent)]
    Agent(#[from] AgentError),
}

impl Signer for AgentSigner {
    fn public_key(&self) -> PublicKey {
        self.key
    }

    fn sign(&self, msg: &[u8]) -> Result<SignatureBytes, SignError> {
        Ok(self.agent.sign(&self.key, msg)?)
    }
}
