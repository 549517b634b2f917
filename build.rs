// Give the shared library a versioned SONAME, as cargo-c does: for 0.y releases the ABI is
// compatible within 0.y, so the SONAME is libfhir_kindling.so.0.y; from 1.0 on it is .so.MAJOR.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let soname = if major == "0" {
            format!("libfhir_kindling.so.0.{minor}")
        } else {
            format!("libfhir_kindling.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    // `--cfg fuzzing` is set by cargo fuzz (src/fuzzing.rs, fuzz/): a known cfg, not a typo.
    println!("cargo:rustc-check-cfg=cfg(fuzzing)");
    println!("cargo:rerun-if-changed=build.rs");
}
