//! Builds the kernel-side bypass program (src/capture/ebpf/bypass.bpf.c) with clang when the
//! cargo feature "ebpf" is on; without it there is nothing to build.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_EBPF").is_none() {
        return;
    }
    let src = "src/capture/ebpf/bypass.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("bypass.bpf.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    // <linux/bpf.h> pulls in <asm/types.h>, which Debian keeps under the multiarch directory.
    let multiarch = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default()
    );
    let status = std::process::Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .arg(format!("-I{multiarch}"))
        .args(["-c", src, "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to build {src} ({s}); the feature \"ebpf\" needs clang and libbpf-dev"),
        Err(e) => panic!("cannot run {clang} to build {src}: {e}; the feature \"ebpf\" needs clang and libbpf-dev (apt-get install clang libbpf-dev)"),
    }
}
