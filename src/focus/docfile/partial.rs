//! The temporary file a save writes before renaming it over its target, so an interrupted
//! save never leaves a half-written target. It is named `<target>.<pid>-<n>.partial` (no
//! two saves share one, across processes and threads); a save killed outright (SIGKILL,
//! power loss) leaves its partial file behind, so every save first removes the partial
//! files of the same target whose process has ended.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

const SUFFIX: &str = ".partial";

/// A fresh partial-file name for a save to `target`.
pub(crate) fn partial_path(target: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = target.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{}-{n}{SUFFIX}", std::process::id()));
    target.with_file_name(name)
}

/// Removes the partial files left for `target` by processes that have ended. Best effort:
/// a directory that cannot be listed or a file that cannot be removed is left as it is (the
/// save itself reports any real problem with the directory).
pub(crate) fn remove_stale(target: &Path) {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else { return };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let own = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|f| owner(f, name)) else { continue };
        if pid != own && !is_running(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id in `<name>.<pid>.partial` or `<name>.<pid>-<n>.partial` (the first form
/// is what earlier versions wrote).
fn owner(file_name: &str, name: &str) -> Option<u32> {
    let middle = file_name.strip_prefix(name)?.strip_prefix('.')?.strip_suffix(SUFFIX)?;
    let pid = middle.split_once('-').map_or(middle, |(pid, _)| pid);
    pid.parse().ok()
}

/// Whether process `pid` exists. Where there is no /proc, `kill -0` asks; when nothing can
/// tell, the process is taken to be running (its file is kept).
fn is_running(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_or(true, |status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_carry_the_process_id() {
        let target = Path::new("/data/doc.fllm");
        let (a, b) = (partial_path(target), partial_path(target));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(owner(name, "doc.fllm"), Some(std::process::id()));
        assert_eq!(owner("doc.fllm.123.partial", "doc.fllm"), Some(123));
        assert_eq!(owner("doc.fllm.123-4.partial", "doc.fllm"), Some(123));
        for other in ["doc.fllm", "doc.fllm.partial", "doc.fllmx.1.partial", "odoc.fllm.1.partial", "doc.fllm.1.tmp"] {
            assert_eq!(owner(other, "doc.fllm"), None, "{other}");
        }
        assert!(is_running(std::process::id()));
    }
}
