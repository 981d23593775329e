//! Versions: the ABI version (header macro and runtime function) and a version string naming
//! focusllm and the llama.cpp it was built with.

use std::ffi::c_char;

/// The ABI version of focusllm.h. It changes only when a change breaks programs compiled
/// against an older header (a removed or changed function, a changed struct layout); adding
/// functions, statuses or struct fields at the end does not change it. Compare it with
/// focusllm_abi_version() at startup: they must be equal.
pub const FOCUSLLM_ABI_VERSION: u32 = 1;

/// The ABI version the library was built with (FOCUSLLM_ABI_VERSION of its own header).
/// Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn focusllm_abi_version() -> u32 {
    FOCUSLLM_ABI_VERSION
}

/// A static, NUL-terminated string naming focusllm's version, its ABI version and the
/// llama.cpp build, e.g. "focusllm 0.1.0 (ABI 1; llama.cpp vendored in llama-cpp-sys-2
/// 0.1.161)". Never free it. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn focusllm_version_string() -> *const c_char {
    VERSION_STRING.as_ptr().cast()
}

/// The version string; the ABI and llama-cpp-sys-2 numbers are literals (`concat!` takes no
/// constants), kept equal to `FOCUSLLM_ABI_VERSION` and Cargo.toml's pin by the tests below.
const VERSION_STRING: &str =
    concat!("focusllm ", env!("CARGO_PKG_VERSION"), " (ABI 1; llama.cpp vendored in llama-cpp-sys-2 0.1.161)\0");

#[cfg(test)]
mod tests {
    use super::*;

    use crate::LLAMA_CPP_SYS_VERSION;

    #[test]
    fn version_string_names_both_versions_and_is_nul_terminated() {
        let text = VERSION_STRING.strip_suffix('\0').unwrap_or_default();
        assert!(!text.contains('\0'));
        assert!(text.starts_with(&format!("focusllm {} ", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains(&format!("ABI {FOCUSLLM_ABI_VERSION};")));
        assert!(text.contains(&format!("llama-cpp-sys-2 {LLAMA_CPP_SYS_VERSION})")));
    }

    #[test]
    fn llama_cpp_sys_version_matches_the_cargo_toml_pin() {
        let manifest = include_str!("../../Cargo.toml");
        let pin = format!("llama-cpp-sys-2 = {{ version = \"={LLAMA_CPP_SYS_VERSION}\"");
        assert!(manifest.contains(&pin), "Cargo.toml no longer pins {pin}: update LLAMA_CPP_SYS_VERSION");
    }
}
