//! What is known about one ticket key (one key name) of one service. Every field is a min, max
//! or sum of sightings, so `merge` is commutative and associative.

use crate::evidence::Evidence;
use crate::tls::weak::WeakFormat;

/// First and last sighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub first: Evidence,
    pub last: Evidence,
}

impl Span {
    pub fn add(span: &mut Option<Span>, at: Evidence) {
        Self::merge(
            span,
            Some(Span {
                first: at,
                last: at,
            }),
        );
    }

    pub fn merge(span: &mut Option<Span>, other: Option<Span>) {
        *span = match (*span, other) {
            (Some(a), Some(b)) => Some(Span {
                first: a.first.min(b.first),
                last: a.last.max(b.last),
            }),
            (a, b) => a.or(b),
        };
    }

    pub fn seconds(&self) -> i64 {
        self.last.time.seconds_since(self.first.time)
    }
}

/// A resumption accepted with a ticket whose issuance was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StaleMatch {
    pub age_secs: i64,
    pub accepted: Evidence,
    pub issued: Evidence,
}

/// A count with its earliest sighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub count: u64,
    pub first: Evidence,
}

impl Counted {
    fn add(c: &mut Option<Counted>, at: Evidence) {
        Self::merge(
            c,
            Some(Counted {
                count: 1,
                first: at,
            }),
        );
    }
    fn merge(c: &mut Option<Counted>, other: Option<Counted>) {
        *c = match (*c, other) {
            (Some(a), Some(b)) => Some(Counted {
                count: a.count + b.count,
                first: a.first.min(b.first),
            }),
            (a, b) => a.or(b),
        };
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// The server issued TLS 1.2 tickets under this key.
    pub issued: Option<Span>,
    /// The server resumed sessions from tickets under this key.
    pub accepted: Option<Span>,
    /// Clients presented tickets under this key that the server rejected, or whose outcome is
    /// unknown.
    pub offered: Option<Span>,
    pub tickets_issued: u64,
    pub resumptions_offered: u64,
    pub resumptions_accepted: u64,
    pub hint_min: Option<u32>,
    /// Largest lifetime hint and where it was sent.
    pub hint_max: Option<(u32, Evidence)>,
    /// The oldest ticket (by its own issuance) the server accepted; filled in by the service
    /// view from the service's ticket lives.
    pub stale_matched: Option<StaleMatch>,
    pub psk_without_fs: Option<Counted>,
    pub early_data: Option<Counted>,
    /// The first ticket under this key found weak (`tls::weak`), and how.
    pub weak: Option<(Evidence, WeakFormat)>,
    /// Two different tickets under this key with the same IV: the earlier and the later
    /// issuance. Filled in by the service view from the service's ticket lives.
    pub iv_reuse: Option<(Evidence, Evidence)>,
}

impl KeyStats {
    /// A TLS 1.2 ticket issued under this key. A lifetime hint of 0 means "unspecified"
    /// (RFC 5077 §3.3; OpenSSL sends it on renewed tickets) and is not a lifetime.
    pub fn issue(&mut self, at: Evidence, hint: u32) {
        Span::add(&mut self.issued, at);
        self.tickets_issued += 1;
        if hint == 0 {
            return;
        }
        self.hint_min = Some(self.hint_min.map_or(hint, |m| m.min(hint)));
        if self.hint_max.is_none_or(|(h, e)| (hint, at) > (h, e)) {
            self.hint_max = Some((hint, at));
        }
    }

    /// A client presented a ticket under this key.
    pub fn offer(&mut self, offered_at: Evidence, accepted: bool, accepted_at: Evidence) {
        self.resumptions_offered += 1;
        if accepted {
            self.resumptions_accepted += 1;
            Span::add(&mut self.accepted, accepted_at);
        } else {
            Span::add(&mut self.offered, offered_at);
        }
    }

    /// A ticket under this key was found weak.
    pub fn weak(&mut self, at: Evidence, format: WeakFormat) {
        self.weak = min_some(self.weak, Some((at, format)));
    }

    pub fn psk_without_fs(&mut self, at: Evidence) {
        Counted::add(&mut self.psk_without_fs, at);
    }

    pub fn early_data(&mut self, at: Evidence) {
        Counted::add(&mut self.early_data, at);
    }

    pub fn merge(&mut self, o: &KeyStats) {
        Span::merge(&mut self.issued, o.issued);
        Span::merge(&mut self.accepted, o.accepted);
        Span::merge(&mut self.offered, o.offered);
        self.tickets_issued = self.tickets_issued.saturating_add(o.tickets_issued);
        self.resumptions_offered = self
            .resumptions_offered
            .saturating_add(o.resumptions_offered);
        self.resumptions_accepted = self
            .resumptions_accepted
            .saturating_add(o.resumptions_accepted);
        self.hint_min = match (self.hint_min, o.hint_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.hint_max = self.hint_max.max(o.hint_max);
        self.stale_matched = self.stale_matched.max(o.stale_matched);
        Counted::merge(&mut self.psk_without_fs, o.psk_without_fs);
        Counted::merge(&mut self.early_data, o.early_data);
        self.weak = min_some(self.weak, o.weak);
        self.iv_reuse = min_some(self.iv_reuse, o.iv_reuse);
    }

    /// Every sighting, whatever its source.
    pub fn seen(&self) -> Option<Span> {
        let mut s = self.issued;
        Span::merge(&mut s, self.accepted);
        Span::merge(&mut s, self.offered);
        s
    }

    /// Sightings the server made: issuance and acceptance, not what clients merely offered.
    pub fn server_seen(&self) -> Option<Span> {
        let mut s = self.issued;
        Span::merge(&mut s, self.accepted);
        s
    }

    /// The span over which the server demonstrably held this key: issuance when visible,
    /// else acceptance (TLS 1.3, where tickets are issued encrypted).
    pub fn held(&self) -> Option<(Span, &'static str)> {
        match (self.issued, self.accepted) {
            (Some(s), _) => Some((s, "issued")),
            (None, Some(s)) => Some((s, "accepted")),
            _ => None,
        }
    }

    /// The oldest accepted ticket, measured from that ticket's own issuance. An acceptance
    /// whose issuance was not seen proves no age (TLS 1.3 tickets are issued encrypted, often
    /// seconds before), so it does not count.
    pub fn stalest(&self) -> Option<StaleMatch> {
        self.stale_matched
    }
}

/// The smaller of two options, `None` being no value (not the least).
fn min_some<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
