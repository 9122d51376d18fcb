//! Why a live capture could not start or had to stop, worded for the user.

use std::fmt;

use super::LiveOptions;

/// Why a capture could not start or had to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveError {
    NoSuchInterface {
        interface: String,
        available: Vec<String>,
    },
    Permission {
        interface: String,
        detail: String,
    },
    BadFilter {
        filter: String,
        detail: String,
    },
    /// Opening failed for another reason.
    Open {
        interface: String,
        detail: String,
    },
    /// The capture failed while running (e.g. the interface disappeared).
    Capture {
        interface: String,
        detail: String,
    },
    /// `--ebpf on`, and the kernel part cannot be attached.
    Ebpf {
        interface: String,
        detail: String,
    },
    /// `--xdp`, and the XDP program (or the kernel part it needs) cannot be attached.
    Xdp {
        interface: String,
        detail: String,
    },
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveError::NoSuchInterface {
                interface,
                available,
            } => write!(
                f,
                "no interface named '{interface}' (available: {})",
                if available.is_empty() {
                    "none visible".to_string()
                } else {
                    available.join(", ")
                }
            ),
            LiveError::Permission { interface, detail } => write!(
                f,
                "no permission to capture on '{interface}' ({detail}): run as root, or give the \
                 binary the capabilities: sudo setcap cap_net_raw,cap_net_admin=eip \
                 $(command -v stekwatch)"
            ),
            LiveError::BadFilter { filter, detail } => {
                write!(f, "--filter '{filter}' is not a valid BPF filter: {detail}")
            }
            LiveError::Open { interface, detail } => {
                write!(f, "cannot capture on '{interface}': {detail}")
            }
            LiveError::Capture { interface, detail } => {
                write!(f, "capture on '{interface}' failed: {detail}")
            }
            LiveError::Ebpf { interface, detail } => write!(
                f,
                "--ebpf on: cannot drop audited connections in the kernel on '{interface}': \
                 {detail} (--ebpf auto runs without it)"
            ),
            LiveError::Xdp { interface, detail } => write!(
                f,
                "--xdp: cannot drop audited connections at XDP on '{interface}': {detail} \
                 (without --xdp the bypass stays on the sensor's own socket)"
            ),
        }
    }
}

impl std::error::Error for LiveError {}

/// A capture that did not open: for want of privilege, or for another reason.
pub(in crate::capture) fn open_error(o: &LiveOptions, detail: String) -> LiveError {
    let interface = o.interface.clone();
    if is_permission(&detail) {
        LiveError::Permission { interface, detail }
    } else {
        LiveError::Open { interface, detail }
    }
}

fn is_permission(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("permission") || d.contains("not permitted")
}

/// Why `--ebpf on` (or `--xdp`, which implies it) cannot run.
pub(in crate::capture) fn kernel_error(o: &LiveOptions, detail: String) -> LiveError {
    let interface = o.interface.clone();
    if o.xdp {
        LiveError::Xdp { interface, detail }
    } else {
        LiveError::Ebpf { interface, detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_are_recognised_in_libpcap_wording() {
        assert!(is_permission(
            "You don't have permission to perform this capture on that device (socket: \
             Operation not permitted)"
        ));
        assert!(is_permission("socket: Operation not permitted"));
        assert!(!is_permission("The interface disappeared"));
    }
}
