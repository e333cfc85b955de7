//! Links the cdylib as `libnss_pnrp.so.2` exporting only the entry points.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo:rerun-if-changed=nss_pnrp.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_pnrp.so.2");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/nss_pnrp.map");
}
