//! The live runtime (cargo feature "live"): a long-running sensor. It pulls packets from
//! libpcap and pushes them through the same `Pipeline` as files; the rules are re-evaluated as
//! history grows and new alerts print at once (`report::stream`); the history is loaded from
//! the state file at start, checkpointed every `checkpoint_secs` and saved at SIGINT/SIGTERM,
//! at SIGHUP (which then carries on) and when the capture fails; a capture that fails (the
//! link went down) is opened again with backoff for up to `LINK_WAIT` before the run gives
//! up; capture health (kernel drops) goes to stderr every `stats_secs` and at exit.
//!
//! It reads the wall clock for checkpoints and health reports only; alert evaluation is paced
//! by packet time.

use std::io::{self, ErrorKind, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::RunError;
use pcap::BpfProgram;

use super::live_workers::Workers;
use crate::capture::live::{BypassStats, LiveError, LiveOptions, LiveSource, LiveStats};
use crate::pipeline::{Limits, Pipeline};
use crate::report::json::Report;
use crate::report::log::ConnLog;
use crate::report::stream::AlertStream;
use crate::report::{self, Printer, ReportOptions};
use crate::state::{self, format::StateFile};
use crate::time::Timestamp;
use crate::tracker::History;

/// How long a failed capture (the link went down) is reopened before the run gives up.
const LINK_WAIT: Duration = Duration::from_secs(300);
/// Backoff between attempts to reopen it: from the first to the last, doubling.
const REOPEN_FIRST: Duration = Duration::from_millis(100);
const REOPEN_MAX: Duration = Duration::from_secs(5);

/// Most packets pushed between two looks at signals, checkpoints and evaluation, so periodic
/// work is not starved under load.
const MAX_BURST: usize = 4096;

/// What a sensor run needs to know.
#[derive(Clone, Debug)]
pub struct SensorConfig {
    pub capture: LiveOptions,
    pub checkpoint_secs: u64,
    /// 0 = health only at exit.
    pub stats_secs: u64,
    pub state: Option<PathBuf>,
    pub limits: Limits,
    /// Capture sockets in one fanout group, each with a worker thread (`-j`); 1: one socket
    /// read by the sensor's thread.
    pub workers: usize,
    pub report: ReportOptions,
    pub printer: Printer,
    /// `--log`: each connection's record.
    pub log: Option<Arc<ConnLog>>,
}

/// Rules are re-evaluated at most this often in packet time (and when the link goes quiet).
const EVAL_EVERY_NS: i64 = Timestamp::NS_PER_SEC;
/// ... and spend at most about a tenth of the time: after an evaluation that took `t`, the
/// next waits at least `EVAL_BACKOFF * t` of wall time.
const EVAL_BACKOFF: u32 = 10;

/// Runs the sensor until a signal, a closed output or a capture failure; returns the final
/// report (already printed) unless the capture failed.
pub fn run(cfg: &SensorConfig) -> Result<Report, RunError> {
    Sensor::start(cfg)?.run()
}

struct Sensor<'a> {
    cfg: &'a SensorConfig,
    feed: Feed,
    p: Pipeline,
    /// Alerts printed, by this run or (from the state file) earlier ones.
    announced: AlertStream,
    stop: Arc<AtomicBool>,
    /// SIGHUP: save the history now and carry on.
    hup: Arc<AtomicBool>,
    /// Counters of the capture handles closed by interruptions.
    carried: LiveStats,
    carried_bypass: BypassStats,
    /// The user's filter when it runs here (the kernel-side bypass replaced it on the socket).
    filter: Option<BpfProgram>,
    /// Packets that reached userland but not the user's filter.
    filtered: u64,
    /// Bypassed connections not written to the kernel (the pipeline's queue was full).
    bypass_overflow: u64,
    /// The kernel-side bypass was attached to some capture handle of the run.
    used_bypass: bool,
    interruptions: u64,
    interrupted: Duration,
    out: io::Stdout,
    /// A checkpoint being written in the background.
    writer: Option<JoinHandle<Result<(), state::StateError>>>,
    last_eval_time: Option<Timestamp>,
    last_eval_conns: u64,
    eval_not_before: Instant,
    last_checkpoint: Instant,
    last_health: Instant,
    last_drops: u64,
    /// The restored history's counters and number of inputs (the log's stats line is this
    /// run's alone).
    before: (crate::stats::Stats, usize),
    /// The restored history's counters and span, without its services (the workers' counters
    /// are added to it).
    base: History,
}

/// Where packets come from: one capture socket read here, or the workers of `-j N`.
enum Feed {
    One(Box<LiveSource>),
    Many(Workers),
}

/// Why the capture loop ended.
enum Stop {
    Signal,
    OutputClosed,
    Failed(LiveError),
}

impl<'a> Sensor<'a> {
    fn start(cfg: &'a SensorConfig) -> Result<Self, RunError> {
        // An unusable state file stops the run before anything else happens.
        let saved: Option<StateFile> = match &cfg.state {
            Some(path) => {
                let saved = state::load(path)?;
                state::probe_writable(path)?;
                saved
            }
            None => None,
        };
        let lc = &cfg.capture;
        let mut sources = if cfg.workers > 1 {
            crate::capture::fanout::open_group(lc, cfg.workers, &cfg.limits.decode.vxlan_ports())
        } else {
            LiveSource::open(lc).map(|s| vec![s])
        }
        .map_err(|e| RunError(e.to_string()))?;
        if let Some(note) = sources[0].ebpf_note() {
            eprintln!("stekwatch: note: running without the kernel-side bypass (--ebpf): {note}");
        }
        if let Some(note) = sources[0].steering_note() {
            eprintln!("stekwatch: note: -j {}: {note}", cfg.workers);
        }
        if let Some(mode) = sources[0].xdp_mode() {
            eprintln!(
                "stekwatch: warning: --xdp: packets of audited connections are dropped on {} at \
                 XDP ({mode} mode) for every consumer of the interface (the host's own stack, \
                 tcpdump, other sensors), not only for stekwatch: use it on a dedicated span \
                 port only",
                lc.interface
            );
        }
        let bypass_reader = sources[0].bypass_reader();
        let mut filter = None;
        if sources.len() == 1 {
            filter = sources[0].take_userspace_filter();
        }
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // A second signal while stopping exits at once.
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
                .map_err(|e| RunError(format!("installing signal handlers: {e}")))?;
        }
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
            .map_err(|e| RunError(format!("installing signal handlers: {e}")))?;
        let mut p = Pipeline::new(cfg.limits).with_log(cfg.log.clone());
        let mut announced = AlertStream::new();
        if let Some(saved) = saved {
            state::restore(saved, p.history_mut(), &mut announced)?;
        }
        let before = (p.history().stats.clone(), p.history().files.len());
        let base = History {
            stats: p.history().stats.clone(),
            start: p.history().start,
            end: p.history().end,
            ..History::default()
        };
        p.begin_input(&input_name(&lc.interface));
        if sources.len() == 1 && sources[0].has_kernel_part() {
            p.track_bypassed();
        }
        let used_bypass = bypass_reader.is_some();
        let feed = if sources.len() == 1 {
            Feed::One(Box::new(sources.pop().expect("one source")))
        } else {
            let file = p.history().files.len() as u32 - 1;
            Feed::Many(Workers::start(
                sources,
                cfg.limits,
                file,
                cfg.log.clone(),
                bypass_reader,
            ))
        };
        let now = Instant::now();
        eprintln!(
            "stekwatch: capturing on {}{} (filter '{}'{}){}",
            lc.interface,
            match &feed {
                Feed::Many(w) => format!(" with {} workers", w.latest.len()),
                Feed::One(_) => String::new(),
            },
            lc.filter,
            if used_bypass {
                ", audited connections dropped in the kernel"
            } else {
                ""
            },
            match &cfg.state {
                Some(path) => format!(
                    ", history in {} ({} services)",
                    path.display(),
                    p.history().tracker.services.len()
                ),
                None => String::new(),
            }
        );
        Ok(Sensor {
            cfg,
            feed,
            p,
            announced,
            stop,
            hup,
            carried: LiveStats::default(),
            carried_bypass: BypassStats::default(),
            used_bypass,
            filter,
            filtered: 0,
            bypass_overflow: 0,
            interruptions: 0,
            interrupted: Duration::ZERO,
            out: io::stdout(),
            writer: None,
            last_eval_time: None,
            last_eval_conns: u64::MAX,
            eval_not_before: now,
            last_checkpoint: now,
            last_health: now,
            last_drops: 0,
            before,
            base,
        })
    }

    fn run(mut self) -> Result<Report, RunError> {
        let stop = self.capture_loop();
        // Every connection still open is summarised before the final evaluation and save.
        self.p.finish();
        match &mut self.feed {
            Feed::One(src) => {
                let _ = src.stats();
            }
            Feed::Many(w) => {
                for u in w.stop() {
                    if let Some(e) = w.apply(u, &mut self.p, &self.base) {
                        eprintln!("stekwatch: warning: a capture worker stopped: {e}");
                    }
                }
            }
        }
        let stopped = match &stop {
            Stop::Signal => "signal".to_string(),
            Stop::OutputClosed => "output closed".to_string(),
            Stop::Failed(e) => e.to_string(),
        };
        let mut output_ok = !matches!(stop, Stop::OutputClosed);
        if output_ok && self.evaluate().is_err() {
            output_ok = false;
        }
        let saved = self.save_final();
        if let Some(log) = &self.cfg.log {
            let h = self.p.history();
            let run_inputs = &h.files[self.before.1.min(h.files.len())..];
            if let Err(e) = log.finish_with(run_inputs, h, &h.stats.since(&self.before.0)) {
                eprintln!("stekwatch: error: writing the log: {e}");
            }
        }
        let report = self.final_report(&stopped);
        self.health("at exit");
        if output_ok {
            let mut out = self.out.lock();
            let written = self.cfg.printer.closing(&report, &mut out);
            match written.and_then(|()| out.flush()) {
                Err(e) if e.kind() != ErrorKind::BrokenPipe => {
                    eprintln!("stekwatch: error: writing the report: {e}")
                }
                _ => {}
            }
        }
        saved?;
        if let Stop::Failed(e) = stop {
            let how = match &self.cfg.state {
                Some(path) => format!(" (history saved to {})", path.display()),
                None => String::new(),
            };
            return Err(RunError(format!("{e}{how}")));
        }
        Ok(report)
    }

    fn capture_loop(&mut self) -> Stop {
        // History alone may already prove alerts not printed before.
        if self.evaluate().is_err() {
            return Stop::OutputClosed;
        }
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Stop::Signal;
            }
            if self.hup.swap(false, Ordering::Relaxed) {
                self.save_on_hup();
            }
            let (got, failed) = match &mut self.feed {
                Feed::One(_) => self.pump(),
                Feed::Many(w) => w.pump(&mut self.p, &self.base),
            };
            if let Some(e) = failed {
                if let Some(stop) = self.reopen(e) {
                    return stop;
                }
            }
            if self.due_for_evaluation(got) && self.evaluate().is_err() {
                return Stop::OutputClosed;
            }
            if self.cfg.state.is_some()
                && self.last_checkpoint.elapsed() >= Duration::from_secs(self.cfg.checkpoint_secs)
            {
                self.checkpoint();
            }
            if self.cfg.stats_secs > 0
                && self.last_health.elapsed() >= Duration::from_secs(self.cfg.stats_secs)
            {
                self.health("");
            }
        }
    }

    /// Up to `MAX_BURST` packets from the one capture socket: whether any came, and the
    /// capture's failure. Connections the flow table bypassed go to the kernel at once (the
    /// connection's bulk follows its handshake closely), which drops their packets from now
    /// on.
    fn pump(&mut self) -> (bool, Option<LiveError>) {
        let Sensor {
            feed: Feed::One(src),
            p,
            filter,
            filtered,
            bypass_overflow,
            used_bypass,
            ..
        } = self
        else {
            return (false, None);
        };
        let mut got = false;
        for _ in 0..MAX_BURST {
            match src.next_packet() {
                Ok(Some(pkt)) => {
                    got = true;
                    if !LiveSource::wanted(filter.as_ref(), pkt.data) {
                        *filtered += 1;
                        continue;
                    }
                    p.push_packet(&pkt);
                    if !*used_bypass {
                        continue;
                    }
                    // Drained even when a reopened capture runs without the kernel part, so
                    // the queue does not fill.
                    let b = p.take_bypassed();
                    if !src.has_kernel_part() {
                        continue;
                    }
                    *bypass_overflow += b.overflow;
                    for k in b.keys {
                        src.bypass(k.lo.socket_addr(), k.hi.socket_addr());
                    }
                }
                Ok(None) => break,
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    /// New connections were summarised, and a second of packet time passed or the link is
    /// quiet, and evaluation is not taking too much of the time.
    fn due_for_evaluation(&self, got_packet: bool) -> bool {
        if self.p.history().stats.tls_connections == self.last_eval_conns
            || Instant::now() < self.eval_not_before
        {
            return false;
        }
        !got_packet
            || match (self.last_eval_time, self.p.history().end) {
                (Some(last), Some(now)) => now.0.saturating_sub(last.0) >= EVAL_EVERY_NS,
                _ => true,
            }
    }

    /// Re-evaluates the rules and prints the alerts that are news. Err: stdout is closed.
    fn evaluate(&mut self) -> io::Result<()> {
        let began = Instant::now();
        let h = self.p.history();
        self.last_eval_time = h.end;
        self.last_eval_conns = h.stats.tls_connections;
        let alerts = report::alerts(h, &self.cfg.report);
        let news = self.announced.news(&alerts);
        self.eval_not_before = Instant::now() + began.elapsed() * EVAL_BACKOFF;
        if news.is_empty() || !self.cfg.printer.streams_alerts() {
            return Ok(());
        }
        let mut out = self.out.lock();
        let written = news
            .iter()
            .try_for_each(|a| self.cfg.printer.alert(a, &mut out));
        match written.and_then(|()| out.flush()) {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(e),
            Err(e) => {
                eprintln!("stekwatch: warning: writing alerts: {e}");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Saves the history in the background; a failed checkpoint is a warning (the next one,
    /// or the save at exit, may succeed).
    fn checkpoint(&mut self) {
        self.last_checkpoint = Instant::now();
        let Some(path) = self.cfg.state.clone() else {
            return;
        };
        if let Some(Err(e)) = self.writer.take().map(join) {
            eprintln!("stekwatch: warning: checkpoint failed: {e}");
        }
        let snap = state::snapshot(self.p.history(), &self.announced);
        self.writer = Some(std::thread::spawn(move || state::save(&path, &snap)));
    }

    /// SIGHUP: the history is saved now (in the foreground) and the capture goes on.
    fn save_on_hup(&mut self) {
        let Some(path) = self.cfg.state.clone() else {
            eprintln!("stekwatch: SIGHUP: no --state to save; capturing on");
            return;
        };
        if let Some(Err(e)) = self.writer.take().map(join) {
            eprintln!("stekwatch: warning: checkpoint failed: {e}");
        }
        self.last_checkpoint = Instant::now();
        match state::save(&path, &state::snapshot(self.p.history(), &self.announced)) {
            Ok(()) => eprintln!(
                "stekwatch: SIGHUP: history saved to {}; capturing on",
                path.display()
            ),
            Err(e) => eprintln!("stekwatch: warning: SIGHUP: saving failed: {e}"),
        }
    }

    /// The capture failed (the link went down, the interface was reconfigured): opens it again,
    /// backing off, for up to `LINK_WAIT`. `None`: capturing again (a new input of the
    /// history, its frames counted from 1); otherwise why the run stops.
    fn reopen(&mut self, e: LiveError) -> Option<Stop> {
        // The workers of -j stop with their capture: reopening a fanout group is not done.
        if !matches!(e, LiveError::Capture { .. }) || matches!(self.feed, Feed::Many(_)) {
            return Some(Stop::Failed(e));
        }
        let iface = self.cfg.capture.interface.clone();
        eprintln!(
            "stekwatch: {iface}: {e}; opening it again (for up to {}s)",
            LINK_WAIT.as_secs()
        );
        let began = Instant::now();
        let mut delay = REOPEN_FIRST;
        loop {
            let slept = Instant::now();
            while slept.elapsed() < delay {
                if self.stop.load(Ordering::Relaxed) {
                    self.interrupted += began.elapsed();
                    return Some(Stop::Signal);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            match LiveSource::open(&self.cfg.capture) {
                Ok(mut src) => {
                    self.filter = src.take_userspace_filter();
                    if src.has_kernel_part() {
                        self.used_bypass = true;
                        self.p.track_bypassed();
                    }
                    // Connections bypassed by the closed handle reach userland again (the
                    // flow table still drops them).
                    let _ = self.p.take_bypassed();
                    let Feed::One(cur) = &mut self.feed else {
                        return Some(Stop::Failed(again_failed(&iface)));
                    };
                    let _ = cur.bypass_stats();
                    let old = std::mem::replace(cur.as_mut(), src);
                    // The closed handle's map is gone with it: none of its entries remain.
                    let mut gone = old.last_bypass_stats();
                    gone.entries = 0;
                    self.carried_bypass = self.carried_bypass.add(&gone);
                    let s = old.last_stats();
                    self.carried.received += s.received;
                    self.carried.dropped_by_kernel += s.dropped_by_kernel;
                    self.carried.dropped_by_interface += s.dropped_by_interface;
                    self.interruptions += 1;
                    self.interrupted += began.elapsed();
                    self.p.begin_input(&input_name(&iface));
                    eprintln!(
                        "stekwatch: {iface}: capturing again after {:.1}s",
                        began.elapsed().as_secs_f64()
                    );
                    return None;
                }
                Err(again) if began.elapsed() >= LINK_WAIT => {
                    self.interrupted += began.elapsed();
                    return Some(Stop::Failed(again));
                }
                Err(_) => delay = (delay * 2).min(REOPEN_MAX),
            }
        }
    }

    fn save_final(&mut self) -> Result<(), RunError> {
        if let Some(Err(e)) = self.writer.take().map(join) {
            eprintln!("stekwatch: warning: checkpoint failed: {e}");
        }
        let Some(path): Option<PathBuf> = self.cfg.state.clone() else {
            return Ok(());
        };
        state::save(&path, &state::snapshot(self.p.history(), &self.announced))?;
        Ok(())
    }
}

mod health;

/// The name evidence gives a capture run (or a capture reopened after an interruption).
fn input_name(interface: &str) -> String {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    format!("live:{interface} {}Z", &Timestamp(now_ns).rfc3339()[..19])
}

fn again_failed(iface: &str) -> LiveError {
    LiveError::Capture {
        interface: iface.to_string(),
        detail: "the capture cannot be reopened".into(),
    }
}

fn join(h: JoinHandle<Result<(), state::StateError>>) -> Result<(), state::StateError> {
    h.join().unwrap_or_else(|_| {
        Err(state::StateError::invalid(
            "the checkpoint writer panicked".into(),
        ))
    })
}
