//! Packet time. Every stage below the CLI takes time from packets, never from the wall clock.
//! A `Timestamp` is nanoseconds since the Unix epoch (UTC); a `Span` is a signed difference.

use std::fmt;

/// A packet time: nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const NS_PER_SEC: i64 = 1_000_000_000;

    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(Self::NS_PER_SEC).saturating_add(nanos))
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(Self::NS_PER_SEC)
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        self.0
            .saturating_sub(earlier.0)
            .div_euclid(Self::NS_PER_SEC)
    }

    /// Whether more than `secs` whole seconds separate `earlier` from `self` (no division: this
    /// runs per packet).
    pub fn later_than(self, earlier: Timestamp, secs: i64) -> bool {
        self.0.saturating_sub(earlier.0) >= secs.saturating_add(1).saturating_mul(Self::NS_PER_SEC)
    }

    /// RFC 3339 UTC with microseconds, e.g. `2026-11-01T10:00:00.000000Z`.
    pub fn rfc3339(self) -> String {
        let micros = self.0.div_euclid(1000);
        match chrono::DateTime::from_timestamp_micros(micros) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            None => format!("@{}ns", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Parses `90s`, `15m`, `24h`, `7d` (a bare number is seconds) into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (use e.g. 90s, 15m, 24h, 7d)"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (use s, m, h, d or w)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// A compact human form of a number of seconds: `45s`, `12m`, `5h 3m`, `21d 4h`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60);
    if d > 0 {
        if h > 0 {
            format!("{d}d {h}h")
        } else {
            format!("{d}d")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{h}h")
        }
    } else if m > 0 {
        format!("{m}m {}s", s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_microseconds_and_z() {
        let t = Timestamp::from_parts(1_793_491_200, 123_456_789);
        assert_eq!(t.rfc3339(), "2026-11-01T00:00:00.123456Z");
    }

    #[test]
    fn later_than_agrees_with_whole_seconds_since() {
        let t0 = Timestamp::from_parts(1000, 500_000_000);
        for (dt_ns, secs) in [
            (0i64, 0i64),
            (999_999_999, 0),
            (1_000_000_000, 0),
            (1_500_000_000, 1),
            (300_999_999_999, 300),
            (301_000_000_000, 300),
        ] {
            let t1 = Timestamp(t0.0 + dt_ns);
            assert_eq!(
                t1.later_than(t0, secs),
                t1.seconds_since(t0) > secs,
                "{dt_ns} ns vs {secs} s"
            );
        }
    }

    #[test]
    fn durations_accept_the_documented_units() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("24h"), Ok(86400));
        assert_eq!(parse_duration("7d"), Ok(604800));
        assert_eq!(parse_duration("42"), Ok(42));
        assert!(parse_duration("7x").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn human_durations_read_at_a_glance() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(21 * 86400 + 3600 * 4), "21d 4h");
        assert_eq!(human_duration(6 * 3600), "6h");
    }
}
