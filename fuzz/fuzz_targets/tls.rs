//! TLS handshake parsing. The first byte chooses: 0 = ClientHello body, 1 = ServerHello body,
//! 2 = NewSessionTicket body, otherwise a connection: the rest is cut in chunks
//! `[dir|len: 2 bytes BE][bytes]` (top bit of the first byte = direction) fed to `TlsConn`.
//! Seeds: handshake bodies and the reassembled streams of the fixture connections.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::evidence::Evidence;
use stekwatch::chunk::Chunk;
use stekwatch::tls::conn::TlsConn;
use stekwatch::tls::handshake;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode {
        0 => {
            let _ = handshake::parse_client_hello(body);
        }
        1 => {
            let _ = handshake::parse_server_hello(body);
        }
        2 => {
            if let Ok((_, Some(t))) = handshake::parse_new_session_ticket(body) {
                assert!(t.len as usize + 6 <= body.len());
            }
        }
        _ => {
            let mut tls = TlsConn::new(
                "192.0.2.7:50000".parse().unwrap(),
                "192.0.2.1:443".parse().unwrap(),
            );
            let mut rest = body;
            let mut frame = 0;
            while rest.len() >= 2 {
                let word = u16::from_be_bytes([rest[0], rest[1]]);
                let dir = (word >> 15) as usize;
                let len = ((word & 0x7fff) as usize).min(rest.len() - 2);
                let chunk = &rest[2..2 + len];
                rest = &rest[2 + len..];
                frame += 1;
                let at = Evidence {
                    frame,
                    ..Evidence::default()
                };
                // A zero-length chunk stands for a gap of 100 bytes.
                if chunk.is_empty() {
                    tls.push(dir, Chunk::Gap(100), at);
                } else {
                    tls.push(dir, Chunk::Data(chunk), at);
                }
            }
            let _ = tls.finish();
        }
    }
});
