//! Capture-file reading end to end: pcap/pcapng bytes → packets → the whole pipeline → report.
//! Seeds: the fixture captures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::capture::file::read_packets;
use stekwatch::pipeline::Limits;
use stekwatch::pipeline::Pipeline;

fuzz_target!(|data: &[u8]| {
    // Small caps so that the caps' own code paths run too.
    let limits = Limits {
        max_flows: 64,
        max_buffered_bytes: 64 * 1024,
        ..Limits::default()
    };
    let mut p = Pipeline::new(limits);
    p.begin_input("fuzz.pcap");
    let mut packets = 0u64;
    let outcome = read_packets(data, "fuzz.pcap", &mut |pkt| {
        assert!(pkt.frame > 0);
        packets += 1;
        p.push_packet(pkt);
    });
    if let Ok(o) = outcome {
        assert_eq!(o.packets, packets);
    }
    p.finish();
    let report = stekwatch::report::build(p.history(), &Default::default(), Vec::new());
    let _ = serde_json_len(&report);
});

fn serde_json_len(r: &stekwatch::report::json::Report) -> usize {
    let mut out = Vec::new();
    stekwatch::report::json::write(r, &mut out).expect("json to memory");
    stekwatch::report::human::write(r, &mut out).expect("human to memory");
    out.len()
}
