//! Handshake messages → owned summaries. tls-parser reads the fixed parts of ClientHello and
//! ServerHello; the extension list is walked here with a bounded reader, because tls-parser's
//! list parser stops quietly at a malformed extension and returns PSK and key_share raw.

use tls_parser::{parse_tls_extension_sni_content, TlsExtension};

use super::ticket::TicketRef;

pub const CLIENT_HELLO: u8 = 1;
pub const SERVER_HELLO: u8 = 2;
pub const NEW_SESSION_TICKET: u8 = 4;
pub const CERTIFICATE: u8 = 11;
pub const SERVER_KEY_EXCHANGE: u8 = 12;
pub const SERVER_HELLO_DONE: u8 = 14;

const EXT_SNI: u16 = 0;
const EXT_SESSION_TICKET: u16 = 35;
const EXT_PRE_SHARED_KEY: u16 = 41;
const EXT_EARLY_DATA: u16 = 42;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_PSK_MODES: u16 = 45;
const EXT_KEY_SHARE_OLD: u16 = 40;
const EXT_KEY_SHARE: u16 = 51;

/// RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A handshake message whose bytes break its format (caused by the peer or by capture loss).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// What a ClientHello offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub sni: Option<String>,
    pub session_id: Vec<u8>,
    /// `Some(None)`: empty session_ticket extension ("I support tickets");
    /// `Some(Some(t))`: a ticket presented.
    pub ticket: Option<Option<TicketRef>>,
    pub psk_identities: Vec<TicketRef>,
    pub psk_modes: Vec<u8>,
    pub early_data: bool,
    pub versions: Vec<u16>,
    pub key_share: bool,
    /// The client random: the key into the user's secrets (`secrets`), not printed.
    pub random: [u8; 32],
}

/// What a ServerHello answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version: `supported_versions` when present, else the legacy field.
    pub version: u16,
    pub session_id: Vec<u8>,
    pub selected_psk: Option<u16>,
    pub key_share: bool,
    pub hello_retry: bool,
    /// The selected cipher suite.
    pub cipher: u16,
}

impl ServerHello {
    /// TLS 1.3, including its drafts and the pre-RFC experiment code points (Chrome's 0x7eXX,
    /// Facebook's 0xfbXX).
    pub fn is_tls13(&self) -> bool {
        self.version == 0x0304 || matches!(self.version >> 8, 0x7f | 0x7e | 0xfb)
    }
}

/// A bounded reader over one length-delimited field: nothing reads past its field.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed("field runs past its container"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits an extension block into `(type, data)` pairs; any leftover byte is an error.
fn extensions(block: &[u8]) -> Result<Vec<(u16, &[u8])>, Malformed> {
    let mut r = Reader(block);
    let mut out = Vec::new();
    while !r.is_empty() {
        let kind = r.u16()?;
        let data = r.vec16()?;
        out.push((kind, data));
    }
    Ok(out)
}

pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, Malformed> {
    let (rest, ch) = tls_parser::parse_tls_handshake_client_hello(body)
        .map_err(|_| Malformed("ClientHello fixed fields"))?;
    if !rest.is_empty() {
        return Err(Malformed("bytes after the ClientHello extensions"));
    }
    let mut out = ClientHello {
        session_id: ch.session_id.unwrap_or_default().to_vec(),
        versions: vec![ch.version.0],
        random: ch.random.try_into().unwrap_or([0; 32]),
        ..Default::default()
    };
    let Some(ext) = ch.ext else { return Ok(out) };
    for (kind, data) in extensions(ext)? {
        match kind {
            EXT_SNI => out.sni = sni(data)?,
            EXT_SESSION_TICKET => {
                out.ticket = Some((!data.is_empty()).then(|| TicketRef::new(data)));
            }
            EXT_PRE_SHARED_KEY => out.psk_identities = psk_identities(data)?,
            EXT_PSK_MODES => out.psk_modes = Reader(data).vec8()?.to_vec(),
            EXT_EARLY_DATA => out.early_data = true,
            EXT_SUPPORTED_VERSIONS => {
                let list = Reader(data).vec8()?;
                out.versions = list
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
            }
            EXT_KEY_SHARE | EXT_KEY_SHARE_OLD => out.key_share = true,
            _ => {}
        }
    }
    Ok(out)
}

fn sni(data: &[u8]) -> Result<Option<String>, Malformed> {
    let (_, ext) = parse_tls_extension_sni_content(data).map_err(|_| Malformed("server_name"))?;
    let TlsExtension::SNI(names) = ext else {
        return Ok(None);
    };
    Ok(names
        .iter()
        .find(|(kind, _)| kind.0 == 0)
        .map(|(_, name)| normalise_host(name)))
}

/// Lower-case, without a trailing dot; bytes outside printable ASCII are escaped as `\xNN`.
fn normalise_host(name: &[u8]) -> String {
    let name = name.strip_suffix(b".").unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    for &b in name.iter().take(255) {
        if b.is_ascii_graphic() {
            out.push(b.to_ascii_lowercase() as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// RFC 8446 §4.2.11: `identities<7..2^16-1>` then `binders`.
fn psk_identities(data: &[u8]) -> Result<Vec<TicketRef>, Malformed> {
    let mut r = Reader(data);
    let mut ids = Reader(r.vec16()?);
    let mut out = Vec::new();
    while !ids.is_empty() {
        let identity = ids.vec16()?;
        let _obfuscated_age = ids.take(4)?;
        if identity.is_empty() {
            return Err(Malformed("empty PSK identity"));
        }
        out.push(TicketRef::new(identity));
    }
    Ok(out)
}

pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, Malformed> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    let random = r.take(32)?;
    let mut out = ServerHello {
        version: legacy_version,
        hello_retry: random == HRR_RANDOM,
        ..Default::default()
    };
    let ext = if legacy_version >> 8 == 0x7f {
        // TLS 1.3 drafts before 22: no session_id, no compression.
        out.cipher = r.u16()?;
        if r.is_empty() {
            None
        } else {
            Some(r.vec16()?)
        }
    } else {
        let (rest, sh) = tls_parser::parse_tls_handshake_server_hello(body)
            .map_err(|_| Malformed("ServerHello fixed fields"))?;
        if !rest.is_empty() {
            return Err(Malformed("bytes after the ServerHello extensions"));
        }
        out.session_id = sh.session_id.unwrap_or_default().to_vec();
        out.cipher = sh.cipher.0;
        sh.ext
    };
    for (kind, data) in extensions(ext.unwrap_or_default())? {
        match kind {
            EXT_SUPPORTED_VERSIONS => out.version = Reader(data).u16()?,
            EXT_PRE_SHARED_KEY => out.selected_psk = Some(Reader(data).u16()?),
            EXT_KEY_SHARE | EXT_KEY_SHARE_OLD => out.key_share = true,
            _ => {}
        }
    }
    Ok(out)
}

/// TLS 1.2 NewSessionTicket (RFC 5077 §3.3): `lifetime_hint u32`, `ticket<0..2^16-1>`.
pub fn parse_new_session_ticket(body: &[u8]) -> Result<(u32, Option<TicketRef>), Malformed> {
    let (hint, ticket) = new_session_ticket_raw(body)?;
    Ok((hint, (!ticket.is_empty()).then(|| TicketRef::new(ticket))))
}

/// The same, with the ticket's bytes borrowed from `body`: for the weak-key trial
/// (`tls::weak`), which is the only reader of a whole ticket.
pub fn new_session_ticket_raw(body: &[u8]) -> Result<(u32, &[u8]), Malformed> {
    let mut r = Reader(body);
    let hint = r.take(4)?;
    let hint = u32::from_be_bytes([hint[0], hint[1], hint[2], hint[3]]);
    let ticket = r.vec16()?;
    if !r.is_empty() {
        return Err(Malformed("bytes after the NewSessionTicket ticket"));
    }
    Ok((hint, ticket))
}

/// A readable name for a protocol version code.
pub fn version_label(v: u16) -> String {
    match v {
        0x0002 => "SSL 2".into(),
        0x0300 => "SSL 3".into(),
        0x0301 => "1.0".into(),
        0x0302 => "1.1".into(),
        0x0303 => "1.2".into(),
        0x0304 => "1.3".into(),
        v if v >> 8 == 0x7f => format!("1.3-draft{}", v & 0xff),
        v if v >> 8 == 0x7e => format!("1.3-exp{:02x}", v & 0xff),
        v if v >> 8 == 0xfb => format!("1.3-fb{}", v & 0xff),
        v => format!("0x{v:04x}"),
    }
}
