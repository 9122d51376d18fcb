//! QUIC Initial packet protection (RFC 9001 §5, RFC 9369 §3.3): the keys every observer can
//! derive from the client's first Destination Connection ID and the version's published
//! salt, header protection removal, and the AEAD open of the payload.
//!
//! Invariants: nothing here panics on any input (lengths are checked before every slice); a
//! packet that does not authenticate yields `None` and leaves no partial plaintext behind.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::secrets::aead;

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// Drafts 29 to 32 (still sent by deployed stacks in older captures).
const SALT_DRAFT29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
/// Drafts 23 to 28.
const SALT_DRAFT23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];

/// What a version needs for its Initial keys: the salt and the label prefix of its
/// packet-protection secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    salt: &'static [u8; 20],
    /// `quic` for v1 and the drafts, `quicv2` for v2.
    label: &'static str,
}

/// The Initial protection of `version`, or `None` for a version this build cannot read.
pub fn suite(version: u32) -> Option<Suite> {
    let (salt, label) = match version {
        V1 => (&SALT_V1, "quic"),
        V2 => (&SALT_V2, "quicv2"),
        0xff00_001d..=0xff00_0020 => (&SALT_DRAFT29, "quic"),
        0xff00_0017..=0xff00_001c => (&SALT_DRAFT23, "quic"),
        _ => return None,
    };
    Some(Suite { salt, label })
}

/// One direction's Initial keys: AES-128-GCM key and IV, and the AES-128 header protection
/// key.
#[derive(Clone)]
pub struct Keys {
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: Aes128,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets of the connection: never printed.
        f.write_str("Keys(..)")
    }
}

/// Both directions' Initial keys of one connection attempt.
#[derive(Clone, Debug)]
pub struct InitialKeys {
    pub client: Keys,
    pub server: Keys,
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with SHA-256 and an empty context, into `out`: the one
/// of `secrets::aead`, as for every other TLS 1.3 and QUIC secret.
fn expand_label(secret: &[u8], label: &str, out: &mut [u8]) {
    aead::expand_label(aead::TLS_AES_128_GCM_SHA256, secret, label, out)
        .expect("32-byte secrets and outputs far below HKDF's limit");
}

/// The raw secrets and key material of one direction (for the test vectors).
pub(crate) struct Material {
    #[cfg_attr(not(test), allow(dead_code))]
    pub secret: [u8; 32],
    pub key: [u8; 16],
    pub iv: [u8; 12],
    pub hp: [u8; 16],
}

pub(crate) fn material(suite: Suite, dcid: &[u8], side_label: &str) -> Material {
    let (initial, _) = Hkdf::<Sha256>::extract(Some(suite.salt), dcid);
    let mut secret = [0u8; 32];
    expand_label(&initial, side_label, &mut secret);
    let mut m = Material {
        secret,
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&secret, &format!("{} key", suite.label), &mut m.key);
    expand_label(&secret, &format!("{} iv", suite.label), &mut m.iv);
    expand_label(&secret, &format!("{} hp", suite.label), &mut m.hp);
    m
}

impl Keys {
    fn from_material(m: &Material) -> Self {
        Keys {
            aead: Aes128Gcm::new((&m.key).into()),
            iv: m.iv,
            hp: Aes128::new((&m.hp).into()),
        }
    }

    /// The header-protection mask for a 16-byte ciphertext sample (RFC 9001 §5.4.3).
    pub fn mask(&self, sample: &[u8; 16]) -> [u8; 5] {
        let mut block = (*sample).into();
        self.hp.encrypt_block(&mut block);
        [block[0], block[1], block[2], block[3], block[4]]
    }

    /// Opens `payload` (ciphertext then 16-byte tag) in place, authenticated with `header`
    /// (the unprotected header); returns the plaintext's length, or `None` when it does not
    /// authenticate.
    pub fn open(&self, pn: u64, header: &[u8], payload: &mut [u8]) -> Option<usize> {
        let n = payload.len().checked_sub(16)?;
        let mut nonce = self.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        let (ct, tag) = payload.split_at_mut(n);
        let tag = Tag::clone_from_slice(tag);
        self.aead
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), header, ct, &tag)
            .ok()?;
        Some(n)
    }
}

impl Keys {
    /// Seals `payload` in place and appends the tag: what a sender does (tests and the fuzz
    /// target build packets with it).
    pub fn seal(&self, pn: u64, header: &[u8], payload: &mut Vec<u8>) {
        let mut nonce = self.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        let tag = self
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), header, payload)
            .expect("sealing a test packet");
        payload.extend_from_slice(&tag);
    }
}

impl InitialKeys {
    /// The Initial keys of a connection whose client first sent to `dcid`.
    pub fn derive(suite: Suite, dcid: &[u8]) -> Self {
        InitialKeys {
            client: Keys::from_material(&material(suite, dcid, "client in")),
            server: Keys::from_material(&material(suite, dcid, "server in")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn v1_initial_secrets_match_rfc9001_appendix_a1() {
        let s = suite(V1).unwrap();
        let c = material(s, &hex(DCID), "client in");
        assert_eq!(
            c.secret.to_vec(),
            hex("c00cf151ca5be075ed0ebfb5c80323c4 2d6b7db67881289af4008f1f6c357aea")
        );
        assert_eq!(c.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(c.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(c.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
        let sv = material(s, &hex(DCID), "server in");
        assert_eq!(
            sv.secret.to_vec(),
            hex("3c199828fd139efd216c155ad844cc81 fb82fa8d7446fa7d78be803acdda951b")
        );
        assert_eq!(sv.key.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
        assert_eq!(sv.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
        assert_eq!(sv.hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
    }

    #[test]
    fn v2_initial_secrets_match_rfc9369_appendix_a1() {
        let s = suite(V2).unwrap();
        let c = material(s, &hex(DCID), "client in");
        assert_eq!(
            c.secret.to_vec(),
            hex("14ec9d6eb9fd7af83bf5a668bc17a7e2 83766aade7ecd0891f70f9ff7f4bf47b")
        );
        assert_eq!(c.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(c.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(c.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
        let sv = material(s, &hex(DCID), "server in");
        assert_eq!(
            sv.secret.to_vec(),
            hex("0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1")
        );
        assert_eq!(sv.key.to_vec(), hex("82db637861d55e1d011f19ea71d5d2a7"));
        assert_eq!(sv.iv.to_vec(), hex("dd13c276499c0249d3310652"));
        assert_eq!(sv.hp.to_vec(), hex("edf6d05c83121201b436e16877593c3a"));
    }

    #[test]
    fn header_protection_mask_matches_rfc9001_appendix_a2() {
        let keys = InitialKeys::derive(suite(V1).unwrap(), &hex(DCID));
        let sample: [u8; 16] = hex("d1b1c98dd7689fb8ec11d242b123dc9b").try_into().unwrap();
        assert_eq!(keys.client.mask(&sample).to_vec(), hex("437b9aec36"));
        // RFC 9001 A.3, the server's Initial.
        let sample: [u8; 16] = hex("2cd0991cd25b0aac406a5816b6394100").try_into().unwrap();
        assert_eq!(keys.server.mask(&sample).to_vec(), hex("2ec0d8356a"));
    }

    #[test]
    fn header_protection_mask_matches_rfc9369_appendix_a2() {
        let keys = InitialKeys::derive(suite(V2).unwrap(), &hex(DCID));
        let sample: [u8; 16] = hex("ffe67b6abcdb4298b485dd04de806071").try_into().unwrap();
        assert_eq!(keys.client.mask(&sample).to_vec(), hex("94a0c95e80"));
        let sample: [u8; 16] = hex("6f05d8a4398c47089698baeea26b91eb").try_into().unwrap();
        assert_eq!(keys.server.mask(&sample).to_vec(), hex("4dd92e91ea"));
    }

    #[test]
    fn unknown_versions_have_no_initial_keys() {
        assert!(suite(0).is_none());
        assert!(suite(0x1a2a_3a4a).is_none());
        assert!(suite(0x5130_3530).is_none()); // gQUIC Q050
    }
}
