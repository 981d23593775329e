//! The RULER-style suite's guard: a small fixed subset of `focusllm ruler` (4K-token inputs read
//! through a 2K window, so every sample runs chunked) whose mean score per family must not drop
//! below the floor recorded in `bench/ruler-guard.csv`. A change that makes the engine pick or
//! read the wrong passage fails here, in CI, instead of in the next benchmark.
//!
//! To record new floors after a deliberate change, run the command printed on failure and write
//! each family's mean into the file (the file says how).

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

/// The subset: families with a score above zero for the default model at this size.
const FAMILIES: &str = "single-noise,single-essay,multikey-4";
const ARGS: &[&str] = &["--lengths", "4096", "--window", "2048", "--samples", "2", "--methods", "focus", "-t", "2"];

fn floors() -> BTreeMap<String, f64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/ruler-guard.csv");
    let text = std::fs::read_to_string(path).expect("bench/ruler-guard.csv is in the repository");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("family,"))
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (family, floor) = l.split_once(',').expect("family,floor");
            (family.to_string(), floor.trim().parse().expect("a number"))
        })
        .collect()
}

#[test]
fn ruler_subset_scores_hold_their_recorded_floors() {
    common::default_model();
    let essays = std::env::var_os("FOCUSLLM_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"))
        .join("PaulGrahamEssays");
    assert!(essays.is_dir(), "{} is missing: run scripts/fetch-essays.sh", essays.display());
    let csv = std::env::temp_dir().join(format!("focusllm-ruler-guard-{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&csv);
    let mut args = vec!["ruler", "--families", FAMILIES, "--essays"];
    let essays_arg = essays.to_string_lossy().into_owned();
    args.push(&essays_arg);
    args.extend_from_slice(ARGS);
    let csv_arg = csv.to_string_lossy().into_owned();
    args.extend_from_slice(&["--csv", &csv_arg]);
    let out = Command::new(env!("CARGO_BIN_EXE_focusllm"))
        .args(&args)
        .env("FOCUSLLM_MODELS_DIR", common::models_dir())
        .output()
        .expect("the program runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "focusllm {} failed:\n{stderr}", args.join(" "));
    let rows = std::fs::read_to_string(&csv).expect("the run wrote its rows");
    let _ = std::fs::remove_file(&csv);
    // task,method,model,length,sample,score,...
    let mut scores: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in rows.lines().skip(1) {
        let fields: Vec<&str> = line.splitn(7, ',').collect();
        scores.entry(fields[0].to_string()).or_default().push(fields[5].parse().expect("a score"));
    }
    let floors = floors();
    let families: Vec<&str> = FAMILIES.split(',').collect();
    assert_eq!(floors.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut f = families.clone();
        f.sort();
        f
    });
    let mut drops = Vec::new();
    for family in families {
        let got = scores.get(family).unwrap_or_else(|| panic!("no rows for {family}:\n{stderr}"));
        assert_eq!(got.len(), 2, "{family}: {got:?}");
        let mean = got.iter().sum::<f64>() / got.len() as f64;
        if mean + 1e-9 < floors[family] {
            drops.push(format!("{family}: {mean:.2} < recorded {:.2}", floors[family]));
        }
    }
    assert!(
        drops.is_empty(),
        "the RULER guard dropped below its floors: {drops:?}\nper sample:\n{stderr}\nre-run: focusllm {}",
        args.join(" ")
    );
}
