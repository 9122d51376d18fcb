//! `stekwatch live`: the live runtime with the command's settings, or (without the cargo
//! feature "live") how to get it.

use super::cli::{Common, LiveArgs};

#[cfg(feature = "live")]
pub fn run(live: &LiveArgs, common: &Common) -> i32 {
    use super::cli::EbpfChoice;
    use crate::capture::live::{EbpfMode, LiveOptions};
    use crate::runtime::live::{self, SensorConfig};
    let (lc, cfg) = match (live.validate(), common.validate()) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(e), _) | (_, Err(e)) => return super::fail(&e),
    };
    let sensor = SensorConfig {
        capture: LiveOptions {
            interface: lc.interface,
            xdp: lc.xdp,
            filter: lc.filter,
            snaplen: lc.snaplen,
            buffer_bytes: lc.buffer_bytes,
            immediate: lc.immediate,
            // --xdp was asked for: without the kernel part the run stops (status 2).
            ebpf: match lc.ebpf {
                EbpfChoice::Auto if lc.xdp => EbpfMode::On,
                EbpfChoice::Auto => EbpfMode::Auto,
                EbpfChoice::On => EbpfMode::On,
                EbpfChoice::Off => EbpfMode::Off,
            },
        },
        checkpoint_secs: lc.checkpoint_secs,
        stats_secs: lc.stats_secs,
        state: cfg.state.clone(),
        limits: cfg.limits,
        // Several capture sockets only when asked for: the default is one, read by the
        // sensor's thread.
        workers: common.threads.unwrap_or(1),
        report: cfg.report.clone(),
        printer: cfg.printer,
        log: match super::log::open(&cfg) {
            Ok(l) => l,
            Err(e) => return super::fail(&e.to_string()),
        },
    };
    // Held for the whole run: a `read --state` on the sensor's state waits or refuses.
    let _lock = match &cfg.state {
        Some(path) => match super::lock_state(path, cfg.lock_wait_secs) {
            Ok(l) => Some(l),
            Err(e) => return super::fail(&e.to_string()),
        },
        None => None,
    };
    match live::run(&sensor) {
        Ok(report) => match super::write_html(&report, &cfg) {
            Ok(()) => super::exit_status(&report, &cfg),
            Err(e) => super::fail(&e),
        },
        Err(e) => super::fail(&e.to_string()),
    }
}

#[cfg(not(feature = "live"))]
pub fn run(live: &LiveArgs, _common: &Common) -> i32 {
    super::fail(&format!(
        "live capture on '{}' needs the cargo feature \"live\" (libpcap): install \
         libpcap-dev, then build with `cargo build --release --features live`",
        live.interface
    ))
}
