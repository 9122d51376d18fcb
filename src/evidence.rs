//! Where a fact was seen: which input file, which frame (1-based, as Wireshark numbers them),
//! and the packet time.

use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Evidence {
    pub time: Timestamp,
    /// Index into the run's list of input names.
    pub file: u32,
    pub frame: u64,
}
