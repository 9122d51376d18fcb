//! Command line: clap definitions, validated once into a `Config` (ripgrep's habit). Only this
//! module and `main` read the environment or the wall clock.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::flow::Limits;
use crate::report::ReportOptions;
use crate::rules::{Severity, Thresholds};
use crate::time::parse_duration;
use crate::tls::ticket::MAX_KEY_NAME_LEN;

#[derive(Parser, Debug)]
#[command(
    name = "stekwatch",
    version,
    about = "Passive audit of TLS session resumption: which services never rotate their session-ticket keys",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Audit capture files (pcap, pcapng, pcap.gz; directories are searched; '-' reads stdin).
    Read {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Sniff a live interface (needs the cargo feature "live").
    Live {
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        interface: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// A key in use for longer than this is not rotated (warning). Units: s, m, h, d.
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub max_key_age: String,
    /// ... and past this, critical.
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub critical_key_age: String,
    /// Key-name length in bytes, or 'auto' to infer it per service.
    #[arg(long, default_value = "auto", value_name = "auto|N")]
    pub key_name_len: String,
    /// Exit with status 1 when an alert at or above this severity fired.
    #[arg(long, value_name = "info|warning|critical")]
    pub fail_on: Option<String>,
    /// Worker threads (default: all cores); the report is the same for every value.
    #[arg(short = 'j', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Most TCP connections tracked at once; new ones beyond are counted and ignored.
    #[arg(long, default_value_t = Limits::default().max_flows, value_name = "N")]
    pub max_flows: usize,
    /// Most out-of-order bytes buffered across all connections, in MiB.
    #[arg(long, default_value_t = Limits::default().max_buffered_bytes >> 20, value_name = "MIB")]
    pub max_buffer_mib: usize,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub format: Format,
    pub report: ReportOptions,
    pub fail_on: Option<Severity>,
    pub limits: Limits,
    pub threads: usize,
}

impl Common {
    pub fn validate(&self) -> Result<Config, String> {
        let max = parse_duration(&self.max_key_age).map_err(|e| format!("--max-key-age: {e}"))?;
        let crit = parse_duration(&self.critical_key_age)
            .map_err(|e| format!("--critical-key-age: {e}"))?;
        if crit < max {
            return Err("--critical-key-age must not be shorter than --max-key-age".into());
        }
        let key_name_len = match self.key_name_len.as_str() {
            "auto" => None,
            n => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_KEY_NAME_LEN).contains(&n) => Some(n),
                _ => {
                    return Err(format!(
                        "--key-name-len: expected 'auto' or 1..={MAX_KEY_NAME_LEN}, got '{n}'"
                    ))
                }
            },
        };
        let fail_on = match &self.fail_on {
            None => None,
            Some(s) => Some(Severity::parse(s).ok_or_else(|| {
                format!("--fail-on: expected info, warning or critical, got '{s}'")
            })?),
        };
        if self.max_flows == 0 {
            return Err("--max-flows must be at least 1".into());
        }
        let threads = match self.threads {
            Some(0) => return Err("-j/--threads must be at least 1".into()),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Config {
            threads,
            format: self.format,
            report: ReportOptions {
                thresholds: Thresholds {
                    max_key_age: max as i64,
                    critical_key_age: crit as i64,
                    ..Thresholds::default()
                },
                key_name_len,
            },
            fail_on,
            limits: Limits {
                max_flows: self.max_flows,
                max_buffered_bytes: self.max_buffer_mib.saturating_mul(1 << 20),
                ..Limits::default()
            },
        })
    }
}
