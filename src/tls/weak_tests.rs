//! Unit tests of the weak-ticket trials, on tickets real servers issued (the first
//! NewSessionTicket of each fixture in captures/, see captures/README.md).

use super::*;

/// nginx 1.22 + OpenSSL 3.0, 48-byte key file: name `zero-stek-key-01`, 32 zero bytes.
const NGINX_ZERO_48: &str = "7a65726f2d7374656b2d6b65792d3031a6e752e9acadfec0aafcca26676e7fdcfa0e90430032b262c435cf4ddbc455bd11c305a0574430175f03f4506bbc0a5cd2da780e6fdff23eebaeadbb3874d45dc16559b4bbe87eeb03a24274a7d3105ff33768b01f8d37611c113ed584132784f4d2d0560780d003de5316536b0525445efc7fd57f4231b192e79d364591f75bfe4b3bbdde41e585a6beedf979bd62ac641bc4e3f687eac038404ce17cc10f84ebd7775e55c39b61a613727754222112be40e5b6d72c921d4eeccc8df62d190d";
/// nginx, 80-byte key file: the same name, 64 zero bytes (HMAC 32, AES-256 32).
const NGINX_ZERO_80: &str = "7a65726f2d7374656b2d6b65792d303181072427da732e9b969b565c3e9e8675a380425db58b5edcfad4efb592f3935d32cd683b79c940cfcc20f191f51cb1d3fb72489a857725dea93e68ac4d5d92667734921a0e3a0560610ba15c9631eb32cdd7d8ec40faf676fcdc676550d75b2381c09f24b7bb29a2397c3cba6884e31347c0c6bb39603f55f643f213fbfe6a6cf339bf1a2f6269cb85ab8baa0e7b1e124302018d2d15f3a3550b6b88c0bd4e7bdeff83ce3219293d6e7941ec094000d3f900b6a7eabd0f208d673108fb2f3c22";
/// HAProxy 2.6, `tls-ticket-keys` with three 80-byte keys, the zero one encrypting.
const HAPROXY_ZERO_80: &str = "7a65726f2d7374656b2d6b65792d3031ec2031596758b5e26e99fb47e8229d3a195a222b05d5fa4c63ce5f9de8fb898574e5f458a3984cef35e9bd06c23f36d5216b39f265a2dcec6cb9ac9ccc662dafcea50cee03daa6db0a1ff9984bcd57f183a854b84029648747bc7e06f42415f989734a07336a5827ef70da00380a19a7abf96c0064f388d98b414100d7b5d32074d130a7e86c6e00b99fdbc88b79bf3d2256866bae7f1b4a28c0641a4f9b4d082b39ca05443402f1afe314963f8424e2";
/// nginx, 48-byte key file: the same name, 32 random bytes.
const NGINX_HEALTHY: &str = "7a65726f2d7374656b2d6b65792d30318070225f47d1ea648ab0cb2f2c879e5659c4149d7fd53a3777292a5a536b5b0bae60abfd0319bc8cc065ddd803b3ba9860f6599ea01ec956444d129bb4e5da47c74ef0df812c4bbaaae0c1b3c130f361e7d346df25219d286cf7cb98346e7162a1bee371114b645a82eb19e56f2dfef61be32510b8dc8c84b495ed08bffcfd89b87b1f66ffac031579eeb54344c737446e3eb0d1880f92fd9665cfe46cfd1bbe29b236f845a0a36d8058aca4ba744a9b58cb52d4f0a8a0ff12b2d38d29472c9d";
/// The healthy ticket rewritten: its ciphertext replaced by its decryption (captures/README.md).
const REWRITTEN_PLAINTEXT: &str = "7a65726f2d7374656b2d6b65792d30318070225f47d1ea648ab0cb2f2c879e56307f020101020203030402c02c040004304b70fbf0f0257677264dbb4c01415ff80079dfe01b1ef74423277049f37f71cd98f4e551993dd8888f4063a48dad09c7a10602046b10182da2040202012ca4160414d44bad834139aec234babf04f8165b8fb1a17f01a60e040c6865616c7468792e74657374ad03020101b30302011d0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f29b236f845a0a36d8058aca4ba744a9b58cb52d4f0a8a0ff12b2d38d29472c9d";

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn server() -> SocketAddr {
    "127.0.0.1:443".parse().unwrap()
}

#[test]
fn nginx_48_byte_zero_key_ticket_verifies_and_decrypts_as_aes128() {
    assert_eq!(
        zero_key(&bytes(NGINX_ZERO_48)),
        Some(WeakFormat::ZeroAes128)
    );
}

#[test]
fn nginx_80_byte_zero_key_ticket_verifies_and_decrypts_as_aes256() {
    assert_eq!(
        zero_key(&bytes(NGINX_ZERO_80)),
        Some(WeakFormat::ZeroAes256)
    );
}

#[test]
fn haproxy_80_byte_zero_key_ticket_verifies_and_decrypts_as_aes256() {
    assert_eq!(
        zero_key(&bytes(HAPROXY_ZERO_80)),
        Some(WeakFormat::ZeroAes256)
    );
}

#[test]
fn healthy_random_key_under_the_same_name_is_not_weak() {
    let t = bytes(NGINX_HEALTHY);
    assert_eq!(t[..16], bytes(NGINX_ZERO_48)[..16]);
    assert_eq!(zero_key(&t), None);
    clear_cache();
    assert_eq!(check(server(), Some("healthy.test"), &t).weak, None);
}

#[test]
fn rewritten_ticket_with_its_state_in_clear_is_found_at_offset_32() {
    let t = bytes(REWRITTEN_PLAINTEXT);
    assert_eq!(zero_key(&t), None, "the MAC covered the ciphertext");
    assert_eq!(der_session(&t[32..]), Some(2 + 0x7f));
    clear_cache();
    assert_eq!(
        check(server(), Some("healthy.test"), &t).weak,
        Some(WeakFormat::Plaintext)
    );
}

#[test]
fn a_flipped_mac_byte_fails_the_trial() {
    let mut t = bytes(NGINX_ZERO_48);
    let n = t.len();
    t[n - 1] ^= 1;
    assert_eq!(zero_key(&t), None);
}

#[test]
fn a_flipped_ciphertext_byte_fails_the_mac_before_any_decryption() {
    let mut t = bytes(NGINX_ZERO_80);
    t[40] ^= 0x80;
    assert_eq!(zero_key(&t), None);
}

#[test]
fn one_verdict_is_cached_per_server_sni_and_key_name() {
    clear_cache();
    let t = bytes(NGINX_ZERO_48);
    let c = check(server(), Some("zero48.test"), &t);
    assert_eq!(c.weak, Some(WeakFormat::ZeroAes128));
    assert_eq!(cached(), 1);
    // The same key name again: the cached verdict, no new entry.
    assert_eq!(check(server(), Some("zero48.test"), &t).weak, c.weak);
    assert_eq!(cached(), 1);
    // The same name on another virtual host is another key.
    let healthy = bytes(NGINX_HEALTHY);
    assert_eq!(check(server(), Some("healthy.test"), &healthy).weak, None);
    assert_eq!(cached(), 2);
}

#[test]
fn iv_hash_covers_name_and_iv_and_differs_between_tickets() {
    let a = check(server(), None, &bytes(NGINX_ZERO_48));
    let b = check(server(), None, &bytes(NGINX_HEALTHY));
    assert!(a.iv_hash.is_some() && b.iv_hash.is_some());
    assert_ne!(a.iv_hash, b.iv_hash);
    assert_eq!(check(server(), None, &[7u8; 20]).iv_hash, None);
}

#[test]
fn short_and_odd_tickets_are_not_tried() {
    assert_eq!(zero_key(&[0u8; 79]), None);
    assert_eq!(zero_key(&[0u8; 81]), None);
    assert_eq!(check(server(), None, &[]).weak, None);
    assert_eq!(check(server(), None, &[0x30]).weak, None);
}

#[test]
fn der_check_wants_version_one_a_tls_version_and_a_master_key() {
    // SEQUENCE { 1, 0x0303, cipher c02f, session id (empty), master key (48 bytes) }
    let mut s = vec![
        0x30, 0, 0x02, 1, 1, 0x02, 2, 3, 3, 0x04, 2, 0xc0, 0x2f, 0x04, 0, 0x04, 48,
    ];
    s.extend([0xaa; 48]);
    s[1] = (s.len() - 2) as u8;
    assert_eq!(der_session(&s), Some(s.len()));
    let mut bad = s.clone();
    bad[4] = 2; // version 2
    assert_eq!(der_session(&bad), None);
    let mut bad = s.clone();
    bad[7] = 9; // ssl version 0x0903
    assert_eq!(der_session(&bad), None);
    let mut bad = s.clone();
    bad[16] = 0; // empty master key
    assert_eq!(der_session(&bad), None);
    // Non-minimal long-form length.
    let mut long = vec![0x30, 0x81, (s.len() - 2) as u8];
    long.extend(&s[2..]);
    assert_eq!(der_session(&long), None);
    // Truncated.
    assert_eq!(der_session(&s[..s.len() - 1]), None);
}

#[test]
fn labels_round_trip() {
    for f in [
        WeakFormat::ZeroAes128,
        WeakFormat::ZeroAes256,
        WeakFormat::Plaintext,
    ] {
        assert_eq!(WeakFormat::from_label(f.label()), Some(f));
    }
    assert_eq!(WeakFormat::from_label("nope"), None);
}
