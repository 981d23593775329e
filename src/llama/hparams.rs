//! The model hyperparameters llama.cpp's loader asserts on, checked before it sees the file.
//!
//! llama.cpp reads a model's hyperparameters with `GGML_ASSERT`s that end the whole process
//! (`llama_model_base::load_hparams` in its `llama-model.cpp`), and focusllm runs inside other
//! people's processes on files they did not write. Each rule below mirrors one of those
//! asserts (or a division the loader makes without one), for the keys and types the loader
//! reads; a key it would reject with an error of its own (missing, wrong type) is left to it.
//! Non-finite numbers are refused too: the loader accepts a NaN `rope.freq_base`, and the
//! model then loads and answers nothing.

use super::gguf_meta::{MetaValue, ModelMeta};

/// llama.cpp's `LLAMA_MAX_LAYERS`: the per-layer arrays of its hyperparameters have this size.
pub(crate) const MAX_LAYERS: u32 = 512;
/// llama.cpp's `LLAMA_MAX_EXPERTS`.
pub(crate) const MAX_EXPERTS: u32 = 1024;
/// The `rope.scaling.type` names llama.cpp knows (`LLAMA_ROPE_SCALING_TYPES`); any other
/// value fails an assert.
const ROPE_SCALING_TYPES: [&str; 4] = ["none", "linear", "yarn", "longrope"];

/// A refused hyperparameter: its full key and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub key: String,
    pub reason: String,
}

/// Checks `meta` against every rule; the first broken one is returned.
pub(crate) fn check(meta: &ModelMeta) -> Result<(), Refusal> {
    finite_numbers(meta)?;
    let Some(n_layer) = u32_of(meta, "block_count") else {
        return Ok(()); // missing or of another type: the loader says so itself
    };
    in_range(meta, "block_count", n_layer, 1, MAX_LAYERS)?;
    at_most(meta, "nextn_predict_layers", n_layer)?;
    if meta.arch == "wavtokenizer-dec" {
        at_most(meta, "posnet.block_count", n_layer)?;
        at_most(meta, "convnext.block_count", n_layer)?;
    }
    experts(meta, n_layer)?;
    if let Some(MetaValue::Str(name)) = meta.get("rope.scaling.type") {
        if !ROPE_SCALING_TYPES.contains(&name.as_str()) {
            let reason = format!("is {name:?}; llama.cpp knows {ROPE_SCALING_TYPES:?}");
            return refuse(meta, "rope.scaling.type", reason);
        }
    }
    for name in ["rope.freq_base", "rope.freq_base_swa"] {
        match meta.get(name) {
            Some(MetaValue::Float(base)) if *base <= 0.0 => {
                return refuse(meta, name, format!("is {base}; a RoPE base must be positive"));
            }
            _ => {}
        }
    }
    // Gemma 3 divides the embedding width by the first layer's head count (for its 27B size).
    if meta.arch == "gemma3" && first_value(meta, "attention.head_count") == Some(0) {
        return refuse(meta, "attention.head_count", "is 0; every Gemma 3 layer has attention heads".into());
    }
    Ok(())
}

/// Every float under `<arch>.` is finite.
fn finite_numbers(meta: &ModelMeta) -> Result<(), Refusal> {
    let mut keys: Vec<(&String, &MetaValue)> = meta.entries().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0)); // the same key is named whatever the file's order
    for (key, value) in keys {
        let bad = match value {
            MetaValue::Float(x) => (!x.is_finite()).then(|| format!("is {x}")),
            MetaValue::Floats(xs) => {
                xs.iter().position(|x| !x.is_finite()).map(|i| format!("has {} at index {i}", xs[i]))
            }
            _ => None,
        };
        if let Some(bad) = bad {
            return Err(Refusal { key: key.clone(), reason: format!("{bad}; hyperparameters must be finite numbers") });
        }
    }
    Ok(())
}

/// The experts' counts, as the loader asserts on them.
fn experts(meta: &ModelMeta, n_layer: u32) -> Result<(), Refusal> {
    let mut n_expert = u32_of(meta, "expert_count").unwrap_or(0);
    // The loader reads `expert_used_count` as one value for every layer or one per layer.
    let mut used_max = match meta.get("expert_used_count") {
        Some(MetaValue::U32(n)) => *n,
        Some(MetaValue::U32s(per_layer)) if per_layer.len() == n_layer as usize => {
            per_layer.iter().copied().max().unwrap_or(0)
        }
        _ => 0,
    };
    // These two architectures treat a single expert as a dense model.
    if matches!(meta.arch.as_str(), "hunyuan-dense" | "hunyuan_vl") && n_expert <= 1 {
        (n_expert, used_max) = (0, 0);
    }
    let groups = u32_of(meta, "expert_group_count").unwrap_or(0);
    let groups_used = u32_of(meta, "expert_group_used_count").unwrap_or(0);
    in_range(meta, "expert_count", n_expert, 0, MAX_EXPERTS)?;
    in_range(meta, "expert_used_count", used_max, u32::from(n_expert > 0), n_expert)?;
    if n_expert == 0 {
        return in_range(meta, "expert_group_count", groups, 0, 0);
    }
    in_range(meta, "expert_group_count", groups, 0, n_expert - 1)?;
    if groups > 1 {
        if n_expert % groups != 0 {
            let reason = format!("is {groups}, which does not divide expert_count {n_expert}");
            return refuse(meta, "expert_group_count", reason);
        }
        in_range(meta, "expert_group_used_count", groups_used, 1, groups - 1)?;
    }
    Ok(())
}

/// A scalar UINT32 value (the only shape the loader reads a `uint32_t` key in).
fn u32_of(meta: &ModelMeta, name: &str) -> Option<u32> {
    match meta.get(name) {
        Some(MetaValue::U32(n)) => Some(*n),
        _ => None,
    }
}

/// A per-layer value's first entry (scalar, or first of an array).
fn first_value(meta: &ModelMeta, name: &str) -> Option<u32> {
    match meta.get(name) {
        Some(MetaValue::U32(n)) => Some(*n),
        Some(MetaValue::U32s(per_layer)) => per_layer.first().copied(),
        _ => None,
    }
}

/// `<arch>.<name>`, when present, is at most `max`.
fn at_most(meta: &ModelMeta, name: &str, max: u32) -> Result<(), Refusal> {
    match u32_of(meta, name) {
        Some(value) => in_range(meta, name, value, 0, max),
        None => Ok(()),
    }
}

fn in_range(meta: &ModelMeta, name: &str, value: u32, min: u32, max: u32) -> Result<(), Refusal> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        refuse(meta, name, format!("is {value}; llama.cpp accepts {min}..={max} here"))
    }
}

fn refuse(meta: &ModelMeta, name: &str, reason: String) -> Result<(), Refusal> {
    Err(Refusal { key: meta.key(name), reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetaValue::*;

    fn llama(pairs: &[(&str, MetaValue)]) -> Result<(), Refusal> {
        let mut all = vec![("block_count", U32(30)), ("rope.freq_base", Float(10000.0))];
        all.extend(pairs.iter().cloned());
        check(&ModelMeta::from_pairs("llama", &all))
    }

    fn refused(result: Result<(), Refusal>) -> String {
        let refusal = result.expect_err("must be refused");
        format!("{} {}", refusal.key, refusal.reason)
    }

    #[test]
    fn a_sound_model_passes() {
        assert_eq!(llama(&[]), Ok(()));
        assert_eq!(llama(&[("expert_count", U32(8)), ("expert_used_count", U32(2))]), Ok(()));
        assert_eq!(llama(&[("rope.scaling.type", Str("yarn".into()))]), Ok(()));
    }

    #[test]
    fn layer_counts() {
        assert!(refused(llama(&[("block_count", U32(0))])).starts_with("llama.block_count is 0;"));
        assert!(refused(llama(&[("block_count", U32(1000))])).contains("1..=512"));
        assert_eq!(llama(&[("block_count", U32(512))]), Ok(()));
        assert!(refused(llama(&[("nextn_predict_layers", U32(31))])).contains("nextn_predict_layers is 31"));
        let wav = [("block_count", U32(4)), ("posnet.block_count", U32(5))];
        assert!(refused(check(&ModelMeta::from_pairs("wavtokenizer-dec", &wav))).contains("posnet"));
    }

    #[test]
    fn expert_counts() {
        assert!(refused(llama(&[("expert_count", U32(2000))])).contains("expert_count is 2000"));
        assert!(refused(llama(&[("expert_used_count", U32(2))])).contains("expert_used_count is 2"));
        assert!(refused(llama(&[("expert_count", U32(8)), ("expert_used_count", U32(0))])).contains("1..=8"));
        let per_layer = U32s((0..30).map(|i| if i == 7 { 9 } else { 2 }).collect());
        let too_many = [("expert_count", U32(8)), ("expert_used_count", per_layer)];
        assert!(refused(llama(&too_many)).contains("expert_used_count is 9"));
        let groups = [("expert_count", U32(8)), ("expert_used_count", U32(2)), ("expert_group_count", U32(3))];
        assert!(refused(llama(&groups)).contains("does not divide"));
        let used = [("expert_count", U32(8)), ("expert_used_count", U32(2)), ("expert_group_count", U32(4))];
        assert!(refused(llama(&used)).contains("expert_group_used_count is 0"));
        assert!(refused(llama(&[("expert_group_count", U32(2))])).contains("expert_group_count is 2"));
        let dense = [("block_count", U32(4)), ("expert_count", U32(1)), ("expert_used_count", U32(1))];
        assert_eq!(check(&ModelMeta::from_pairs("hunyuan-dense", &dense)), Ok(()));
    }

    #[test]
    fn numbers() {
        assert!(refused(llama(&[("rope.freq_base", Float(f64::NAN))])).starts_with("llama.rope.freq_base is NaN"));
        assert!(refused(llama(&[("rope.freq_base", Float(f64::INFINITY))])).contains("inf"));
        assert!(refused(llama(&[("rope.freq_base", Float(0.0))])).contains("positive"));
        let eps = Floats(vec![1e-5, f64::NEG_INFINITY]);
        assert!(refused(llama(&[("attention.layer_norm_rms_epsilon", eps)])).contains("-inf at index 1"));
        assert!(refused(llama(&[("rope.scaling.type", Str("bogus".into()))])).contains("\"bogus\""));
        let gemma = [("block_count", U32(62)), ("attention.head_count", U32(0))];
        assert!(refused(check(&ModelMeta::from_pairs("gemma3", &gemma))).contains("head_count is 0"));
    }
}
