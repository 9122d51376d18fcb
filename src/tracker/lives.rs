//! What the tracker keeps of single tickets and sessions: a ticket's key-name prefix for
//! inference, a ticket's and a session ID's life (issued or established, last accepted), each
//! known by a hash. Merges are min/max, so order-free.

use super::keys::min_some;
use crate::evidence::Evidence;
use crate::tls::ticket::{TicketRef, MAX_KEY_NAME_LEN};

/// What key-name inference keeps of one ticket: its first `MAX_KEY_NAME_LEN` bytes.
///
/// `infer_key_name_len` counts, per ticket, the longest prefix it shares with another ticket,
/// capped at `MAX_KEY_NAME_LEN`; two prefixes cut at that length give exactly the same capped
/// count as the whole tickets, so this is all inference needs, and inferred key names are the
/// same whether the sample was just seen or reloaded from a state file. It reveals nothing
/// beyond the key name the service's aggregates are already keyed by (`Service::keys`); the
/// ticket's remaining bytes (IV, encrypted state, MAC) are never kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    prefix: [u8; MAX_KEY_NAME_LEN],
    len: u8,
}

impl Sample {
    pub fn of(t: &TicketRef) -> Self {
        Self::from_prefix(t.name(MAX_KEY_NAME_LEN))
    }

    /// From stored bytes; anything past `MAX_KEY_NAME_LEN` is dropped.
    pub fn from_prefix(bytes: &[u8]) -> Self {
        let n = bytes.len().min(MAX_KEY_NAME_LEN);
        let mut prefix = [0u8; MAX_KEY_NAME_LEN];
        prefix[..n].copy_from_slice(&bytes[..n]);
        Sample {
            prefix,
            len: n as u8,
        }
    }

    pub fn prefix(&self) -> &[u8] {
        &self.prefix[..self.len as usize]
    }
}

/// One ticket, known by its hash: its first issuance and its last acceptance, so the age of
/// the oldest accepted ticket is found whatever order the sightings arrive in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TicketLife {
    name: [u8; MAX_KEY_NAME_LEN],
    name_len: u8,
    pub issued: Option<Evidence>,
    pub accepted: Option<Evidence>,
    /// Hash of key name and IV of an issued ticket (`tls::weak::TicketCheck::iv_hash`).
    pub iv: Option<u64>,
}

impl TicketLife {
    /// A ticket under key `name` (cut to `MAX_KEY_NAME_LEN` bytes).
    pub fn new(name: &[u8], issued: Option<Evidence>, accepted: Option<Evidence>) -> Self {
        let n = name.len().min(MAX_KEY_NAME_LEN);
        let mut life = TicketLife {
            issued,
            accepted,
            name_len: n as u8,
            ..Default::default()
        };
        life.name[..n].copy_from_slice(&name[..n]);
        life
    }

    pub fn name(&self) -> &[u8] {
        &self.name[..self.name_len as usize]
    }

    pub(super) fn merge(&mut self, o: &TicketLife) {
        self.issued = min_some(self.issued, o.issued);
        self.accepted = self.accepted.max(o.accepted);
        self.iv = self.iv.or(o.iv);
    }
}

/// One TLS 1.2 session ID, known by its hash: established (full handshake) and last resumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionLife {
    pub established: Option<Evidence>,
    pub resumed: Option<Evidence>,
}

impl SessionLife {
    pub(super) fn merge(&mut self, o: &SessionLife) {
        self.established = min_some(self.established, o.established);
        self.resumed = self.resumed.max(o.resumed);
    }
}
