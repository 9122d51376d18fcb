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
        let (days, rem) = (
            micros.div_euclid(86_400_000_000),
            micros.rem_euclid(86_400_000_000),
        );
        let (y, mo, d) = civil_from_days(days);
        let secs = rem / 1_000_000;
        format!(
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60,
            rem % 1_000_000
        )
    }
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's algorithm,
/// exact for every day an i64 of nanoseconds can reach).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Parses `90s`, `15m`, `24h`, `7d`, `2w` into seconds. A number needs its unit (a bare `0`
/// alone is accepted: it means the same in every unit).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None if text == "0" => (text, "s"),
        None if !text.is_empty() => {
            return Err(format!(
                "'{text}' has no unit: write e.g. {text}s, {text}m, {text}h or {text}d"
            ))
        }
        None => (text, ""),
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
    if s < 60 {
        return format!("{s}s");
    }
    if s < 600 {
        return format!("{}m {}s", s / 60, s % 60);
    }
    if s < 3600 - 30 {
        return format!("{}m", (s + 30) / 60);
    }
    // Two units at most, the second rounded to the nearest (not cut), so a span and an age a
    // second apart read the same ("21d", not "20d 23h").
    let minutes = (s + 30) / 60;
    if minutes < 24 * 60 {
        let (h, m) = (minutes / 60, minutes % 60);
        return if m > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{h}h")
        };
    }
    let hours = (s + 1800) / 3600;
    let (d, h) = (hours / 24, hours % 24);
    if h > 0 {
        format!("{d}d {h}h")
    } else {
        format!("{d}d")
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
    fn rfc3339_matches_known_dates_across_eras() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp(-1).rfc3339(), "1969-12-31T23:59:59.999999Z");
        // 2000-02-29 (a leap day of a century divisible by 400) and 2100-03-01.
        assert_eq!(
            Timestamp::from_parts(951_782_400, 0).rfc3339(),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::from_parts(4_107_542_400, 0).rfc3339(),
            "2100-03-01T00:00:00.000000Z"
        );
        assert_eq!(Timestamp(i64::MAX).rfc3339(), "2262-04-11T23:47:16.854775Z");
        assert_eq!(Timestamp(i64::MIN).rfc3339(), "1677-09-21T00:12:43.145224Z");
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
        assert!(parse_duration("42")
            .unwrap_err()
            .contains("42s, 42m, 42h or 42d"));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("7x").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn human_durations_read_at_a_glance() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(21 * 86400 + 3600 * 4), "21d 4h");
        assert_eq!(human_duration(6 * 3600), "6h");
        // Rounded, not cut: a second short of a unit reads as the unit.
        assert_eq!(human_duration(21 * 86400 - 1), "21d");
        assert_eq!(human_duration(6 * 3600 - 1), "6h");
        assert_eq!(human_duration(86_399), "1d");
        assert_eq!(human_duration(3599), "1h");
        assert_eq!(human_duration(3000), "50m");
        assert_eq!(human_duration(2999), "50m");
        assert_eq!(human_duration(599), "9m 59s");
        assert_eq!(human_duration(85_800), "23h 50m");
        assert_eq!(human_duration(20 * 86400 + 22 * 3600 + 1700), "20d 22h");
    }
}
