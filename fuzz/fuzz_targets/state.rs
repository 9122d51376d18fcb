//! State files: any bytes are parsed as a state file; what parses is restored into a history,
//! reported (every rule, verdict and rotation figure runs on it), saved again and re-parsed,
//! which must give back the same file.
//! Seeds: state files of the fixtures (scripts/fuzz.sh writes them with `read --state`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::report::{self, stream::AlertStream, ReportOptions};
use stekwatch::state::{self, file::parse_state};
use stekwatch::tracker::History;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_state(data) else {
        return;
    };
    let mut history = History::new(4 << 20);
    let mut announced = AlertStream::new();
    if state::restore(parsed, &mut history, &mut announced).is_err() {
        return;
    }
    let _ = report::build(&history, &ReportOptions::default(), Vec::new());
    let snap = state::snapshot(&history, &announced);
    let text = serde_json::to_vec(&snap).expect("a snapshot serializes");
    let again = parse_state(&text).expect("a written state parses");
    let mut h2 = History::new(4 << 20);
    let mut a2 = AlertStream::new();
    state::restore(again, &mut h2, &mut a2).expect("a written state restores");
    let snap2 = state::snapshot(&h2, &a2);
    assert_eq!(snap.services, snap2.services, "save and load round-trip");
});
