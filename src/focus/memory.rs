//! An estimate of the memory a session needs, before allocating anything: the weights, the
//! largest KV cache a chunked job creates, and llama.cpp's compute and output buffers.

use super::sizing::Shape;
use super::strategy;
use crate::llama::{Model, kv_row_bytes};
use crate::params::{ContextParams, SessionParams};

/// Bytes of KV cache per cell over all layers, at the K and V element types a context made
/// with `context` gets, from the GGUF metadata; None when the metadata lacks the attention
/// shape.
fn kv_bytes_per_cell(model: &Model, context: &ContextParams) -> Option<u64> {
    let arch = model.meta_str("general.architecture")?;
    let get = |key: &str| model.meta_str(&format!("{arch}.{key}")).and_then(|v| v.trim().parse::<u64>().ok());
    let n_head = get("attention.head_count")?;
    let n_head_kv = get("attention.head_count_kv").unwrap_or(n_head);
    let n_embd = get("embedding_length")?;
    let key_len = get("attention.key_length").unwrap_or(n_embd / n_head.max(1));
    let value_len = get("attention.value_length").unwrap_or(key_len);
    let (k_row, v_row) = kv_row_bytes(context, n_head_kv * key_len, n_head_kv * value_len);
    Some(u64::from(model.n_layer()) * (k_row + v_row))
}

/// Peak bytes for one `ask` on a long document with these parameters, generating up to
/// `max_tokens`: weights + the largest KV cache the chosen strategy allocates + compute
/// buffers. An estimate (llama.cpp pads and adds small buffers), meant for "will it fit".
pub fn estimate_memory_bytes(model: &Model, params: &SessionParams, max_tokens: u32) -> u64 {
    let focus = &params.focus;
    let window = match focus.window {
        0 => model.n_ctx_train() as usize,
        w => w as usize,
    };
    // The contexts the engine would create for the longest job these parameters allow.
    let shape = Shape::longest(focus, window, max_tokens as usize);
    let cells = strategy::contexts(&shape, focus).iter().map(|c| c.cells).max().unwrap_or(0);
    let kv = cells as u64 * kv_bytes_per_cell(model, &params.context).unwrap_or(0);
    let ubatch = u64::from(params.context.n_ubatch.min(params.context.n_batch));
    // Logits of a full ubatch plus activations of the same order.
    let compute = ubatch * (model.n_vocab() as u64 * 4 + u64::from(model.n_embd()) * 64);
    model.size_bytes() + kv + compute
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::test_model_path;
    use crate::params::{KvType, ModelParams};

    /// The KV part of the estimate follows the cache types, at ggml's element sizes: per
    /// row of SmolLM2-135M's 192 K (and V) values, f16 takes 384 bytes, q8_0 6 blocks of 34
    /// (204) and q4_0 6 of 18 (108). The weights and compute buffers are the same, so the
    /// estimates differ by exactly the KV bytes saved: 180 and 276 per row.
    #[test]
    fn the_kv_estimate_follows_the_cache_types() {
        let model = Model::load(&test_model_path(), &ModelParams::default()).unwrap();
        let estimate = |type_k, type_v| {
            let mut params = SessionParams::default();
            (params.context.type_k, params.context.type_v) = (type_k, type_v);
            estimate_memory_bytes(&model, &params, 64)
        };
        let f16 = estimate(KvType::F16, KvType::F16);
        let q8 = estimate(KvType::Q8_0, KvType::Q8_0);
        let q4 = estimate(KvType::Q4_0, KvType::Q4_0);
        assert!(f16 > q8 && q8 > q4, "{f16} {q8} {q4}");
        assert_eq!((f16 - q8) * 276, (f16 - q4) * 180, "{f16} {q8} {q4}");
        // K and V count separately: a q8_0 K with an f16 V saves half of q8_0's saving.
        assert_eq!((f16 - estimate(KvType::Q8_0, KvType::F16)) * 2, f16 - q8);
        // The f16 KV itself: cells x layers x 2 rows x 384 bytes.
        let cells = (f16 - q8) / (u64::from(model.n_layer()) * 2 * 180);
        let kv_f16 = cells * u64::from(model.n_layer()) * 2 * 384;
        assert!(kv_f16 > 0 && kv_f16 < f16, "{kv_f16} of {f16}");
    }
}
