//! Command line: clap definitions, with typed values (durations, severities, formats, key-name
//! lengths parsed by clap), validated once into a `Config` (ripgrep's habit).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decode::DecodeOptions;
use crate::pipeline::Limits;
use crate::report::{Format, Printer, ReportOptions};
use crate::rules::{Severity, Thresholds};
use crate::time::parse_duration;
use crate::tls::ticket::MAX_KEY_NAME_LEN;

/// A duration on the command line: `90s`, `15m`, `24h`, `7d`, `2w` (a number needs its unit).
fn duration(text: &str) -> Result<u64, String> {
    parse_duration(text)
}

/// Examples and exit statuses, after the options of `--help`.
const AFTER_HELP: &str = "\
Examples:
  stekwatch read capture.pcap                      audit a capture (pcap, pcapng, .gz, a directory)
  stekwatch read --html report.html week/          the same, and a page with key timelines
  stekwatch read --state hist.json monday.pcap     keep the history across runs
  stekwatch report --state hist.json --format json the report of a saved history
  stekwatch merge dc1.json dc2.json -o all.json    combine the histories of several sensors
  sudo stekwatch live -i eth1 --log conns.json     sniff a span port; one JSON line per connection
  stekwatch report --from-log a.json b.json        the fleet's history from its sensors' records
  stekwatch completions bash > /etc/bash_completion.d/stekwatch
  stekwatch man > /usr/local/share/man/man1/stekwatch.1

Exit status:
  0  no alert at --fail-on (or no --fail-on)
  1  an alert at or above --fail-on fired (an incomplete report counts as a warning)
  2  usage error, unreadable input, unusable state file, or a failed capture";

/// `--key-name-len`: `auto` (inferred per service) or a length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyNameLength(pub Option<usize>);

fn key_name_length(text: &str) -> Result<KeyNameLength, String> {
    match text {
        "auto" => Ok(KeyNameLength(None)),
        n => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_KEY_NAME_LEN).contains(&n) => Ok(KeyNameLength(Some(n))),
            _ => Err(format!(
                "expected 'auto' or 1..={MAX_KEY_NAME_LEN}, got '{n}'"
            )),
        },
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "stekwatch",
    version,
    about = "Passive audit of TLS session resumption: which services never rotate their session-ticket keys",
    long_about = None,
    after_help = AFTER_HELP
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
    /// Sniff a live interface (needs the cargo feature "live"); alerts print as they fire.
    Live {
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Print the report of a saved state, or of per-connection logs (--from-log).
    Report {
        /// The state file to report on.
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "from_log",
            conflicts_with = "from_log"
        )]
        state: Option<PathBuf>,
        /// Rebuild the history from per-connection logs (`--log`) of any number of sensors
        /// ('-' reads stdin); the report equals that of `merge` of their states.
        #[arg(long = "from-log", value_name = "LOG", num_args = 1..)]
        from_log: Vec<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// What a rule means, why it matters, its sources, and how to fix it per server.
    Explain {
        /// A rule id (e.g. stek-not-rotated); without one, the list of rules.
        #[arg(value_name = "RULE")]
        rule: Option<String>,
    },
    /// Print a shell completion script to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `stekwatch man | man -l -`.
    Man,
    /// Combine the states of several sensors (or runs) into one; the order does not matter.
    Merge {
        #[arg(required = true, value_name = "STATE")]
        states: Vec<PathBuf>,
        /// Where to write the combined state (may be one of the inputs).
        #[arg(short = 'o', long = "output", required = true, value_name = "FILE")]
        output: PathBuf,
        /// How long to wait for another run holding the output's lock before refusing.
        #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = duration)]
        lock_wait: u64,
    },
}

/// Options of `live` only.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Interface to capture on (e.g. eth1 on a span port, lo, any).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: String,
    /// BPF capture filter (tcpdump syntax).
    #[arg(long, default_value = "tcp", value_name = "EXPR")]
    pub filter: String,
    /// Bytes captured per packet; handshakes need whole packets.
    #[arg(long, default_value_t = 262_144, value_name = "BYTES")]
    pub snaplen: u32,
    /// Kernel capture buffer, in MiB (raise it when the kernel drops packets).
    #[arg(long, default_value_t = 32, value_name = "MIB")]
    pub buffer_mib: u32,
    /// Deliver each packet at once instead of in batches (lower latency, more CPU).
    #[arg(long)]
    pub immediate: bool,
    /// Drop the packets of connections already audited in the kernel, on the sensor's own
    /// capture socket (cargo feature "ebpf"; needs root or CAP_BPF and CAP_NET_ADMIN). auto:
    /// when possible, saying once why not; on: or exit with status 2.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub ebpf: EbpfChoice,
    /// Also drop those packets at XDP, before the kernel allocates them: only on a dedicated
    /// span port, since they are then dropped for every consumer of the interface (the
    /// host's stack, tcpdump, other sensors). Needs the kernel part; exits with status 2
    /// when the XDP program cannot be attached.
    #[arg(long)]
    pub xdp: bool,
    /// Save the state this often (wall clock) besides at exit; needs --state.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = duration)]
    pub checkpoint: u64,
    /// Print capture health (kernel drops, errors) to stderr this often; 0 = only at exit.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = duration)]
    pub stats_interval: u64,
}

/// When `live` attaches its kernel-side bypass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EbpfChoice {
    Auto,
    On,
    Off,
}

/// Validated `live` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    pub interface: String,
    pub filter: String,
    pub snaplen: u32,
    pub buffer_bytes: u32,
    pub immediate: bool,
    pub ebpf: EbpfChoice,
    pub xdp: bool,
    pub checkpoint_secs: u64,
    /// 0 = health only at exit.
    pub stats_secs: u64,
}

impl LiveArgs {
    pub fn validate(&self) -> Result<LiveConfig, String> {
        let (checkpoint_secs, stats_secs) = (self.checkpoint, self.stats_interval);
        if checkpoint_secs == 0 {
            return Err("--checkpoint must be at least 1s".into());
        }
        if self.xdp && self.ebpf == EbpfChoice::Off {
            return Err("--xdp needs the kernel part: leave out --ebpf off".into());
        }
        if !(64..=1 << 20).contains(&self.snaplen) {
            return Err(format!(
                "--snaplen: expected 64 to 1048576 bytes, got {}",
                self.snaplen
            ));
        }
        if !(1..=2047).contains(&self.buffer_mib) {
            return Err(format!(
                "--buffer-mib: expected 1 to 2047, got {}",
                self.buffer_mib
            ));
        }
        Ok(LiveConfig {
            interface: self.interface.clone(),
            filter: self.filter.clone(),
            snaplen: self.snaplen,
            buffer_bytes: self.buffer_mib << 20,
            immediate: self.immediate,
            ebpf: self.ebpf,
            xdp: self.xdp,
            checkpoint_secs,
            stats_secs,
        })
    }
}

/// What shapes a report: every command that prints one takes these.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// A key in use for longer than this is not rotated (warning). Units: s, m, h, d, w.
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = duration)]
    pub max_key_age: u64,
    /// ... and past this, critical (also for --max-ticket-age).
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = duration)]
    pub critical_key_age: u64,
    /// A resumption from a ticket issued longer ago than this is stale (warning; critical past
    /// --critical-key-age). Apart from --max-key-age: how long one ticket works is a different
    /// setting from how long one key is used.
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = duration)]
    pub max_ticket_age: u64,
    /// Key-name length in bytes, or 'auto' to infer it per service.
    #[arg(long, default_value = "auto", value_name = "auto|N", value_parser = key_name_length)]
    pub key_name_len: KeyNameLength,
    /// Exit with status 1 when an alert at or above this severity fired.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
    /// Also write the report as one self-contained HTML page (verdicts, key timelines, alerts).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Colour severities and verdicts: auto (on a terminal, unless NO_COLOR is set), always,
    /// never.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorWhen,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Options of the commands that observe traffic (`read`, `live`).
#[derive(Args, Debug, Clone)]
pub struct Common {
    #[command(flatten)]
    pub output: OutputArgs,
    /// History file: loaded at start (if it exists), saved back at the end (and, for `live`,
    /// at every --checkpoint and on SIGINT/SIGTERM), so observation spans runs.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Worker threads (default: one per core beyond the reading thread, so 1 on a 2-core
    /// machine); the report is the same for every value.
    #[arg(short = 'j', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Most TCP connections tracked at once; new ones beyond are counted and ignored.
    #[arg(long, default_value_t = Limits::default().max_flows, value_name = "N")]
    pub max_flows: usize,
    /// Most bytes buffered across all connections (out-of-order segments and partial TLS
    /// records), in MiB.
    #[arg(long, default_value_t = Limits::default().max_buffered_bytes >> 20, value_name = "MIB")]
    pub max_buffer_mib: usize,
    /// A connection that has not shown a complete TLS handshake message after this long
    /// without a packet is dropped (SYN floods, stalled handshakes); such connections are
    /// also the first to make room when a cap is reached.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub handshake_timeout: u64,
    /// Another UDP port that carries VXLAN (4789 always does), e.g. 8472 (Linux's old
    /// default); repeat for more (at most 7).
    #[arg(long = "vxlan-port", value_name = "PORT")]
    pub vxlan_ports: Vec<u16>,
    /// With --state: how long to wait for another run holding the state's lock before
    /// refusing (0: refuse at once).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = duration)]
    pub lock_wait: u64,
    /// Most bytes, in GiB, copied to a temporary file from stdin, a FIFO or a decompressed
    /// gzip capture; past it the input is refused.
    #[arg(long, default_value_t = 16.0, value_name = "GIB")]
    pub max_spool_gib: f64,
    /// Append one JSON line per TLS connection to FILE (Zeek/Suricata conventions, Community
    /// ID), and a stats line at the end; `report --from-log` rebuilds the history from them.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// No progress bar on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// TLS secrets in NSS key log format (SSLKEYLOGFILE); repeat for more. With them, TLS 1.3
    /// servers' NewSessionTickets are read (their key names, lifetimes and issuance times).
    /// Secrets are never written out. pcapng Decryption Secrets Blocks are used without it.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylog: Vec<PathBuf>,
}

impl Common {
    /// Loads the `--keylog` files into the process's secrets store (`secrets`).
    pub fn load_keylogs(&self) -> Result<(), String> {
        for path in &self.keylog {
            let text = std::fs::read(path)
                .map_err(|e| format!("cannot read key log {}: {e}", path.display()))?;
            crate::secrets::add_keylog(&text);
        }
        Ok(())
    }
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub printer: Printer,
    pub report: ReportOptions,
    pub fail_on: Option<Severity>,
    pub limits: Limits,
    pub threads: usize,
    pub state: Option<PathBuf>,
    /// How long a run waits for the state's lock.
    pub lock_wait_secs: u64,
    /// Cap on spooled input (stdin, FIFOs, decompressed gzip), in bytes.
    pub max_spool_bytes: u64,
    /// `--log`: per-connection records.
    pub log: Option<PathBuf>,
    /// `--html`: the report as a page.
    pub html: Option<PathBuf>,
    pub color: ColorWhen,
    /// `--quiet`: no progress bar.
    pub quiet: bool,
}

impl OutputArgs {
    /// The report settings; input settings (limits, threads, state) take their defaults.
    pub fn validate(&self) -> Result<Config, String> {
        let (max, crit) = (self.max_key_age, self.critical_key_age);
        if crit < max {
            return Err("--critical-key-age must not be shorter than --max-key-age".into());
        }
        if crit < self.max_ticket_age {
            return Err("--critical-key-age must not be shorter than --max-ticket-age".into());
        }
        Ok(Config {
            threads: 1,
            printer: Printer::new(self.format).with_color(crate::report::color::enabled(
                match self.color {
                    ColorWhen::Always => "always",
                    ColorWhen::Never => "never",
                    ColorWhen::Auto => "auto",
                },
                std::io::IsTerminal::is_terminal(&std::io::stdout()),
                std::env::var("NO_COLOR").ok().as_deref(),
            )),
            report: ReportOptions {
                thresholds: Thresholds {
                    max_key_age: max as i64,
                    critical_key_age: crit as i64,
                    max_ticket_age: self.max_ticket_age as i64,
                    ..Thresholds::default()
                },
                key_name_len: self.key_name_len.0,
            },
            fail_on: self.fail_on,
            limits: Limits::default(),
            state: None,
            lock_wait_secs: 60,
            max_spool_bytes: 16 << 30,
            log: None,
            html: self.html.clone(),
            color: self.color,
            quiet: false,
        })
    }
}

impl Common {
    pub fn validate(&self) -> Result<Config, String> {
        let mut cfg = self.output.validate()?;
        if self.max_flows == 0 {
            return Err("--max-flows must be at least 1".into());
        }
        cfg.threads = match self.threads {
            Some(0) => return Err("-j/--threads must be at least 1".into()),
            Some(n) => n,
            // The reading thread decodes every packet and is the busiest; workers only track
            // flows. Measured on 2 cores: one thread reads a 1 GB capture at ~4 GB/s, reader +
            // two workers at ~3 GB/s. So workers get the cores the reader leaves.
            None => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
        };
        cfg.limits = Limits {
            max_flows: self.max_flows,
            max_buffered_bytes: self.max_buffer_mib.saturating_mul(1 << 20),
            handshake_timeout_secs: i64::try_from(self.handshake_timeout).unwrap_or(i64::MAX),
            decode: DecodeOptions::with_vxlan_ports(&self.vxlan_ports)?,
            ..Limits::default()
        };
        cfg.state = self.state.clone();
        cfg.lock_wait_secs = self.lock_wait;
        if self.max_spool_gib.is_nan() || self.max_spool_gib <= 0.0 {
            return Err("--max-spool-gib must be more than 0".into());
        }
        cfg.max_spool_bytes = (self.max_spool_gib * (1u64 << 30) as f64) as u64;
        cfg.log = self.log.clone();
        cfg.quiet = self.quiet;
        Ok(cfg)
    }
}
