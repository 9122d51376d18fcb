//! The live sensor's accounts: capture counters over every handle (or every worker), the
//! kernel part's counters, the final report's `capture` section, and the health line on
//! stderr.

use std::time::Instant;

use super::{Feed, Sensor};
use crate::capture::live::{BypassStats, LiveStats};
use crate::report;
use crate::report::json::{CaptureOut, KernelBypassOut, Report, XdpOut};

impl Sensor<'_> {
    /// Counters of every capture handle of the run.
    pub(super) fn capture_stats(&mut self) -> LiveStats {
        let s = match &mut self.feed {
            Feed::One(src) => src.stats().unwrap_or_else(|_| src.last_stats()),
            Feed::Many(w) => w.capture(),
        };
        LiveStats {
            received: s.received + self.carried.received,
            dropped_by_kernel: s.dropped_by_kernel + self.carried.dropped_by_kernel,
            dropped_by_interface: s.dropped_by_interface + self.carried.dropped_by_interface,
        }
    }

    /// The kernel part's counters over every capture handle of the run.
    pub(super) fn bypass_stats(&mut self) -> Option<BypassStats> {
        if !self.used_bypass {
            return None;
        }
        let now = match &mut self.feed {
            Feed::One(src) => src.bypass_stats().unwrap_or_default(),
            Feed::Many(w) => w.bypass_stats(),
        };
        Some(now.add(&self.carried_bypass))
    }

    pub(super) fn final_report(&mut self, stopped: &str) -> Report {
        let mut r = report::build(self.p.history(), &self.cfg.report, Vec::new());
        let s = self.capture_stats();
        r.capture = Some(CaptureOut {
            interface: self.cfg.capture.interface.clone(),
            received: s.received,
            dropped_by_kernel: s.dropped_by_kernel,
            dropped_by_interface: s.dropped_by_interface,
            stopped: Some(stopped.to_string()),
            interruptions: self.interruptions,
            interrupted_seconds: self.interrupted.as_secs(),
            kernel_bypass: self.bypass_stats().map(|b| KernelBypassOut {
                packets_seen: b.seen,
                packets_bypassed: b.bypassed,
                packets_prefiltered: b.prefiltered,
                map_inserted: b.inserted,
                map_entries: b.entries,
                map_forgotten: b.forgotten,
                map_evicted: b.evicted,
                map_write_failures: b.insert_errors + self.bypass_overflow,
                filtered_in_userspace: self.filtered + self.worker_filtered(),
                xdp: b.xdp.map(|x| XdpOut {
                    mode: x.mode.to_string(),
                    packets_seen: x.seen,
                    packets_dropped: x.dropped,
                }),
            }),
            workers: match &self.feed {
                Feed::One(_) => Vec::new(),
                Feed::Many(w) => w.report(),
            },
        });
        r
    }

    /// Packets the workers' copies of the user's filter refused.
    pub(super) fn worker_filtered(&self) -> u64 {
        match &self.feed {
            Feed::One(_) => 0,
            Feed::Many(w) => w.latest.iter().map(|s| s.filtered).sum(),
        }
    }

    /// One line of capture health on stderr.
    pub(super) fn health(&mut self, when: &str) {
        self.last_health = Instant::now();
        let s = self.capture_stats();
        let h = self.p.history();
        let st = &h.stats;
        let mut line = health_line(
            &self.cfg.capture.interface,
            &s,
            st.tls_connections,
            h.tracker.services.len(),
            self.announced.len(),
        );
        for (n, what) in [
            (st.skipped_malformed, "malformed"),
            (st.truncated_packets, "cut by --snaplen"),
            (
                st.skipped_unsupported_link_type,
                "of an unsupported link type",
            ),
            (st.dropped_flows_cap, "flows refused by --max-flows"),
        ] {
            if n > 0 {
                line.push_str(&format!(", {n} {what}"));
            }
        }
        if let Some(b) = self.bypass_stats() {
            line.push_str(&format!(
                "; kernel bypass: {} of {} packets dropped as audited, {} connections in the map \
                 ({} evicted)",
                b.bypassed, b.seen, b.entries, b.evicted
            ));
            if let Some(x) = b.xdp {
                line.push_str(&format!(
                    "; XDP ({}): {} of {} packets dropped as audited",
                    x.mode, x.dropped, x.seen
                ));
            }
        }
        if let Feed::Many(w) = &self.feed {
            let rates: Vec<String> = w.rates().iter().map(|(_, r)| format!("{r:.0}")).collect();
            line.push_str(&format!("; workers: {} packets/s", rates.join(" + ")));
            let dropped: u64 = w.latest.iter().map(|s| s.forward_dropped).sum();
            if dropped > 0 {
                line.push_str(&format!(
                    ", {dropped} tunnelled packets lost between workers"
                ));
            }
        }
        let new_drops = s.dropped_by_kernel.saturating_sub(self.last_drops);
        self.last_drops = s.dropped_by_kernel;
        if new_drops > 0 {
            line.push_str(&format!(
                "; {new_drops} new kernel drops: raise --buffer-mib or narrow --filter"
            ));
        }
        if !when.is_empty() {
            line.push_str(&format!(" ({when})"));
        }
        eprintln!("{line}");
    }
}

fn health_line(iface: &str, s: &LiveStats, tls: u64, services: usize, alerts: usize) -> String {
    format!(
        "stekwatch: {iface}: {} packets received, {} dropped by the kernel, {} by the interface; \
         {tls} TLS connections, {services} services, {alerts} alerts printed",
        s.received, s.dropped_by_kernel, s.dropped_by_interface
    )
}
