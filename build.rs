//! Builds the kernel programs (src/capture/ebpf/bypass.bpf.c, the bypass; steer.bpf.c, the
//! fanout of `live -j`) with clang when the cargo feature "ebpf" is on; without it there is
//! nothing to build.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_EBPF").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-changed=src/capture/ebpf/flow.h");
    for name in ["bypass", "steer"] {
        build(name);
    }
}

/// Compiles src/capture/ebpf/<name>.bpf.c into OUT_DIR/<name>.bpf.o.
fn build(name: &str) {
    let src = format!("src/capture/ebpf/{name}.bpf.c");
    println!("cargo:rerun-if-changed={src}");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join(format!("{name}.bpf.o"));
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    // <linux/bpf.h> pulls in <asm/types.h>, which Debian keeps under the multiarch directory.
    let multiarch = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default()
    );
    let status = std::process::Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .arg(format!("-I{multiarch}"))
        .args(["-c", &src, "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to build {src} ({s}); the feature \"ebpf\" needs clang and libbpf-dev"),
        Err(e) => panic!("cannot run {clang} to build {src}: {e}; the feature \"ebpf\" needs clang and libbpf-dev (apt-get install clang libbpf-dev)"),
    }
}
