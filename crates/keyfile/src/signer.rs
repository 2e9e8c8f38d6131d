//! Who signs: a key held in this process (a key file) or a key held by ssh-agent.
//!
//! Both make plain Ed25519 signatures ([`Signer::sign`]), so anything caseledger signs
//! (events, checkpoints, reports) can be signed by either; [`Signer::sign_sshsig`] makes an
//! SSHSIG (`ssh-keygen -Y sign` format) in a namespace from the same primitive.
//!
//! ```
//! use caseledger_core::keys::SigningKey;
//! use caseledger_keyfile::Signer;
//! let key = SigningKey::from_seed(&[9; 32]);
//! let sig = key.sign_sshsig("caseledger-report", b"msg").unwrap();
//! let who = caseledger_core::sshsig::verify(&sig, "caseledger-report", b"msg").unwrap();
//! assert_eq!(who, Signer::public_key(&key));
//! ```

use caseledger_core::keys::SigningKey;
use caseledger_core::sshsig::SshSigError;
use caseledger_core::{PublicKey, SignatureBytes};

/// Why a signature could not be made. Never holds key bytes or the message.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// ssh-agent could not be reached or refused (its reason).
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The SSHSIG layer refused (an empty namespace).
    #[error(transparent)]
    SshSig(#[from] SshSigError),
}

/// Something that makes Ed25519 signatures with one key.
pub trait Signer {
    /// The key's public half.
    fn public_key(&self) -> PublicKey;

    /// A plain Ed25519 signature over `msg`, checked against [`Signer::public_key`].
    fn sign(&self, msg: &[u8]) -> Result<SignatureBytes, SignError>;

    /// An armoured SSHSIG over `msg` in `namespace` (SHA-512), as `ssh-keygen -Y sign -n
    /// <namespace>` writes it; `ssh-keygen -Y verify` checks it.
    fn sign_sshsig(&self, namespace: &str, msg: &[u8]) -> Result<String, SignError> {
        let tbs = caseledger_core::sshsig::to_be_signed(namespace, msg)?;
        let sig = self.sign(&tbs)?;
        Ok(caseledger_core::sshsig::armor(
            &self.public_key(),
            namespace,
            &sig,
        ))
    }
}

impl Signer for SigningKey {
    fn public_key(&self) -> PublicKey {
        SigningKey::public_key(self)
    }

    fn sign(&self, msg: &[u8]) -> Result<SignatureBytes, SignError> {
        Ok(SigningKey::sign(self, msg))
    }
}

/// Why the agent could not sign.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// `SSH_AUTH_SOCK` is not set.
    #[error("ssh-agent: SSH_AUTH_SOCK is not set (start ssh-agent and ssh-add the key)")]
    NoSocket,
    /// The socket could not be reached or the exchange failed.
    #[error("ssh-agent at {}: {source}", socket.display())]
    Io {
        /// The socket path.
        socket: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The agent answered something the protocol does not allow.
    #[error("ssh-agent: malformed reply ({0})")]
    Protocol(&'static str),
    /// The agent does not hold the wanted key.
    #[error("ssh-agent holds no Ed25519 key {0} (ssh-add it)")]
    KeyNotFound(String),
    /// The agent refused to sign (locked, confirmation denied, key removed).
    #[error("ssh-agent refused to sign with key {0}")]
    Refused(String),
    /// The agent's signature does not verify under the key asked for.
    #[error("ssh-agent returned a signature that does not verify under key {0}")]
    BadSignature(String),
}
