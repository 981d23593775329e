//! What every benchmark subcommand measures and writes the same way: peak memory, wall
//! time, and rows appended to a results CSV.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Resets the kernel's peak-RSS mark of this process (Linux: "5" to clear_refs), so each case
/// reports its own peak.
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, in MiB (VmHWM).
pub(crate) fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs `f` and says how long it took, in seconds.
pub(crate) fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<(T, f64), String> {
    let started = Instant::now();
    let value = f()?;
    Ok((value, started.elapsed().as_secs_f64()))
}

/// Opens a results CSV for appending, writing `header` first when the file is new.
pub(crate) fn open_csv(path: &Path, header: &str) -> Result<(std::fs::File, PathBuf), String> {
    let fresh = !path.exists();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if fresh {
        writeln!(file, "{header}").map_err(|e| e.to_string())?;
    }
    Ok((file, path.to_path_buf()))
}

/// A free text as one double-quoted CSV field's content: quotes become apostrophes and line
/// breaks spaces, so that a row stays one line.
pub(crate) fn csv_text(text: &str) -> String {
    text.replace('"', "'").replace(['\n', '\r'], " ")
}

/// A yes/no/unknown CSV field: 1, 0, or empty.
pub(crate) fn csv_flag(value: Option<bool>) -> String {
    value.map_or(String::new(), |b| u8::from(b).to_string())
}

/// A yes/no/unknown table cell: "yes", "NO" (loud, it is a failure), or empty.
pub(crate) fn table_flag(value: Option<bool>) -> &'static str {
    value.map_or("", |b| if b { "yes" } else { "NO" })
}
