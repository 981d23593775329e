//! A llama.cpp context: KV memory, decoding, logits, cancellation. Used by one thread at a
//! time (`Send`, not `Sync`); owns an `Arc<Model>` so it can never outlive its model.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use llama_cpp_sys_2 as sys;

use super::log_bridge::{clear_recent_errors, recent_errors};
use std::ops::RangeBounds;

use super::ids::{is_whole, raw_range};
use super::{Batch, MAX_SEQUENCES, Model, Pos, SeqId};
use crate::error::{Error, Result};
use crate::params::{ContextParams, FlashAttention, KvType};

/// Stops a running decode or generation from any thread. Cloning shares the same flag. A
/// cancel stays until [`CancelHandle::reset`]: no job clears it, so one that comes before a
/// job starts stops that job too.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    flag: Arc<AtomicBool>,
}

impl CancelHandle {
    /// Requests cancellation: the running `llama_decode` aborts at its next check, and
    /// generation loops stop before the next token.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Clears a previous request: jobs that use this handle run again.
    pub fn reset(&self) {
        self.flag.store(false, Ordering::SeqCst);
    }
}

unsafe extern "C" fn on_abort_check(data: *mut c_void) -> bool {
    // SAFETY: data is Arc::as_ptr of the AtomicBool owned by the Context's CancelHandle, which
    // lives as long as the llama_context that calls this.
    let flag = unsafe { &*(data as *const AtomicBool) };
    flag.load(Ordering::Relaxed)
}

/// llama.cpp's context parameters for `params`, but for `n_ctx` (which needs the model) and the
/// abort callback (which needs the context's cancel flag). The one place they are set, so that
/// [`kv_row_bytes`] sees the cache types a context really gets.
fn llama_params(params: &ContextParams) -> sys::llama_context_params {
    // SAFETY: plain value constructor.
    let mut raw = unsafe { sys::llama_context_default_params() };
    raw.n_batch = params.n_batch;
    raw.n_ubatch = params.n_ubatch;
    raw.n_seq_max = params.n_seq_max;
    raw.kv_unified = params.kv_unified;
    raw.n_threads = params.n_threads as i32;
    raw.n_threads_batch = params.n_threads as i32;
    raw.flash_attn_type = match params.flash_attention {
        FlashAttention::Auto => sys::LLAMA_FLASH_ATTN_TYPE_AUTO,
        FlashAttention::Enabled => sys::LLAMA_FLASH_ATTN_TYPE_ENABLED,
        FlashAttention::Disabled => sys::LLAMA_FLASH_ATTN_TYPE_DISABLED,
    };
    raw.type_k = ggml_type(params.type_k);
    raw.type_v = ggml_type(params.type_v);
    raw.no_perf = true;
    raw
}

/// ggml's element type for a KV cache type.
fn ggml_type(kv: KvType) -> sys::ggml_type {
    match kv {
        KvType::F16 => sys::GGML_TYPE_F16,
        KvType::Q8_0 => sys::GGML_TYPE_Q8_0,
        KvType::Q4_0 => sys::GGML_TYPE_Q4_0,
    }
}

/// Bytes of one K row of `k_elements` and one V row of `v_elements` in the KV cache of a
/// context created with `params`, at the element types (`type_k`, `type_v`) it gets.
pub(crate) fn kv_row_bytes(params: &ContextParams, k_elements: u64, v_elements: u64) -> (u64, u64) {
    let raw = llama_params(params);
    let row = |element: sys::ggml_type, n: u64| {
        // SAFETY: plain lookups in ggml's type table for a type llama.cpp itself chose.
        let (size, block) = unsafe { (sys::ggml_type_size(element), sys::ggml_blck_size(element)) };
        n.div_ceil(block.max(1) as u64) * size as u64
    };
    (row(raw.type_k, k_elements), row(raw.type_v, v_elements))
}

/// A llama.cpp context over a shared model.
pub struct Context {
    raw: NonNull<sys::llama_context>,
    model: Arc<Model>,
    cancel: CancelHandle,
    kv_unified: bool,
    /// Rows of the last decoded batch that produced logits.
    logit_rows: Vec<bool>,
}

// SAFETY: a llama_context may be used from any thread as long as only one uses it at a time;
// Context is not Sync and every mutating call takes &mut self.
unsafe impl Send for Context {}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: raw came from llama_init_from_model and is freed once, before `model`'s Arc
        // is released (fields drop after this body).
        unsafe { sys::llama_free(self.raw.as_ptr()) };
    }
}

impl Context {
    /// Creates a context. `params.n_ctx == 0` means the model's native window.
    pub fn new(model: Arc<Model>, params: &ContextParams) -> Result<Context> {
        Self::with_cancel(model, params, CancelHandle::default())
    }

    /// Creates a context whose work `cancel` stops (several contexts may share one handle).
    pub fn with_cancel(model: Arc<Model>, params: &ContextParams, cancel: CancelHandle) -> Result<Context> {
        params.validate()?;
        let mut raw_params = llama_params(params);
        raw_params.n_ctx = if params.n_ctx == 0 { model.n_ctx_train() } else { params.n_ctx };
        raw_params.abort_callback = Some(on_abort_check);
        raw_params.abort_callback_data = Arc::as_ptr(&cancel.flag) as *mut c_void;
        clear_recent_errors();
        // SAFETY: model is a valid loaded model kept alive by the Arc stored in the result; the
        // abort data pointer stays valid because `cancel` is stored in the result too.
        let raw = unsafe { sys::llama_init_from_model(model.raw(), raw_params) };
        let raw = NonNull::new(raw).ok_or_else(|| {
            Error::ContextCreate(recent_errors().unwrap_or_else(|| {
                format!("llama.cpp refused n_ctx {} x n_seq_max {}", raw_params.n_ctx, params.n_seq_max)
            }))
        })?;
        Ok(Context { raw, model, cancel, kv_unified: params.kv_unified, logit_rows: Vec::new() })
    }

    pub(crate) fn raw(&self) -> *mut sys::llama_context {
        self.raw.as_ptr()
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// A handle that cancels this context's work from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Makes this context's work stop on `cancel` from now on (a context kept between calls,
    /// each with its own token).
    pub(crate) fn set_cancel_handle(&mut self, cancel: CancelHandle) {
        let data = Arc::as_ptr(&cancel.flag) as *mut c_void;
        // SAFETY: the context is live; `data` points at the flag of `cancel`, which is stored
        // in `self` right after, so it outlives every call of the callback. The old flag is
        // released only once the callback no longer points at it.
        unsafe { sys::llama_set_abort_callback(self.raw(), Some(on_abort_check), data) };
        self.cancel = cancel;
    }

    /// Total KV cells.
    pub fn n_ctx(&self) -> u32 {
        // SAFETY: valid context.
        unsafe { sys::llama_n_ctx(self.raw()) }
    }

    /// KV cells one sequence may hold (n_ctx / n_seq_max with split KV, n_ctx when unified).
    pub(crate) fn n_ctx_seq(&self) -> u32 {
        // SAFETY: valid context.
        unsafe { sys::llama_n_ctx_seq(self.raw()) }
    }

    /// Most rows one decode accepts.
    pub(crate) fn n_batch(&self) -> u32 {
        // SAFETY: valid context.
        unsafe { sys::llama_n_batch(self.raw()) }
    }

    pub(crate) fn n_seq_max(&self) -> u32 {
        // SAFETY: valid context.
        unsafe { sys::llama_n_seq_max(self.raw()) }
    }

    /// Decodes a batch. Checks what llama.cpp would abort the process on (more rows than
    /// n_batch, bad sequence ids) and turns its return codes into errors.
    pub(crate) fn decode(&mut self, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Err(Error::Internal("decode of an empty batch".into()));
        }
        let n_batch = self.n_batch() as usize;
        if batch.len() > n_batch {
            return Err(Error::Internal(format!("batch of {} rows exceeds n_batch {n_batch}", batch.len())));
        }
        let n_seq_max = self.n_seq_max() as usize;
        for row in 0..batch.len() {
            let ids = batch.seq_ids(row);
            if let Some(bad) = ids.iter().find(|id| id.0 >= n_seq_max) {
                return Err(Error::Internal(format!("sequence id {bad} outside 0..{n_seq_max}")));
            }
            if ids.len() > 1 && !self.kv_unified {
                return Err(Error::Internal("a row with several sequence ids needs kv_unified".into()));
            }
        }
        self.logit_rows.clear();
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        clear_recent_errors();
        // SAFETY: valid context; the batch's buffers hold batch.len() initialised rows and stay
        // alive (borrowed) for the synchronous call.
        let rc = unsafe { sys::llama_decode(self.raw(), batch.raw()) };
        match rc {
            0 => {
                self.logit_rows = (0..batch.len()).map(|row| batch.wants_logits(row)).collect();
                Ok(())
            }
            1 => Err(Error::KvCacheFull(format!(
                "{} new tokens do not fit in the {} KV cells ({} per sequence)",
                batch.len(),
                self.n_ctx(),
                self.n_ctx_seq()
            ))),
            2 => Err(Error::Cancelled),
            code => Err(Error::Decode {
                code,
                reason: recent_errors().unwrap_or_else(|| "llama.cpp gave no reason".into()),
            }),
        }
    }

    pub(crate) fn check_logits_row(&self, row: usize) -> Result<()> {
        if self.logit_rows.get(row).copied().unwrap_or(false) {
            Ok(())
        } else {
            Err(Error::Internal(format!("row {row} of the last batch produced no logits")))
        }
    }

    /// The logits of batch row `row` of the last decode (n_vocab values). Valid until the next
    /// decode, which the borrow enforces.
    pub(crate) fn logits(&self, row: usize) -> Result<&[f32]> {
        self.check_logits_row(row)?;
        // SAFETY: the row produced logits in the last decode (checked), so llama.cpp returns a
        // pointer to n_vocab floats that stay valid until the next decode; &self prevents one.
        let ptr = unsafe { sys::llama_get_logits_ith(self.raw(), row as i32) };
        if ptr.is_null() {
            return Err(Error::Internal(format!("llama.cpp has no logits for row {row}")));
        }
        // SAFETY: see above; n_vocab floats.
        Ok(unsafe { std::slice::from_raw_parts(ptr, self.model.n_vocab()) })
    }

    fn memory(&self) -> sys::llama_memory_t {
        // SAFETY: valid context; the memory handle lives as long as the context.
        unsafe { sys::llama_get_memory(self.raw()) }
    }

    /// llama.cpp's id for `seq`, checked against this context's sequences.
    fn check_seq(&self, seq: SeqId) -> Result<sys::llama_seq_id> {
        let max = self.n_seq_max().min(MAX_SEQUENCES) as usize;
        if seq.0 < max { seq.raw() } else { Err(Error::Internal(format!("sequence id {seq} outside 0..{max}"))) }
    }

    /// Clears all KV cells.
    pub(crate) fn clear_memory(&mut self) {
        // SAFETY: valid memory handle.
        unsafe { sys::llama_memory_clear(self.memory(), true) };
    }

    /// Removes the cells of `seq` at `positions` (`..` for all). A memory that cannot remove
    /// a part of a sequence (a recurrent model's) refuses with [`Error::Unsupported`], so no
    /// caller goes on with cells it believes gone.
    pub(crate) fn seq_rm(&mut self, seq: SeqId, positions: impl RangeBounds<Pos>) -> Result<()> {
        let id = self.check_seq(seq)?;
        let (p0, p1) = raw_range(&positions)?;
        // SAFETY: valid memory handle, checked sequence id.
        if unsafe { sys::llama_memory_seq_rm(self.memory(), id, p0, p1) } {
            return Ok(());
        }
        Err(Error::Unsupported(format!(
            "removing positions {p0}..{p1} of sequence {seq}: the KV memory of {} cannot remove part of a sequence",
            self.model.description()
        )))
    }

    /// Makes `dst` hold the cells of `src` at `positions`. With split KV only whole sequences
    /// (`..`) can be copied (llama.cpp would abort the process otherwise), so that is checked
    /// here.
    pub(crate) fn seq_cp(&mut self, src: SeqId, dst: SeqId, positions: impl RangeBounds<Pos>) -> Result<()> {
        let (src_id, dst_id) = (self.check_seq(src)?, self.check_seq(dst)?);
        if !self.kv_unified && !is_whole(&positions) {
            return Err(Error::Internal("a partial seq_cp needs kv_unified".into()));
        }
        let (p0, p1) = raw_range(&positions)?;
        // SAFETY: valid memory handle, checked ids, range allowed for this KV mode.
        unsafe { sys::llama_memory_seq_cp(self.memory(), src_id, dst_id, p0, p1) };
        Ok(())
    }

    /// Moves the cells of `seq` at `positions` by `delta` places (negative: towards 0). A
    /// memory that cannot shift ([`Context::can_shift`] false: multi-position RoPE, a
    /// sliding-window cache smaller than the full one) refuses with [`Error::Unsupported`]:
    /// llama.cpp would abort the process, at once or at the next decode.
    pub(crate) fn seq_add(&mut self, seq: SeqId, positions: impl RangeBounds<Pos>, delta: isize) -> Result<()> {
        let id = self.check_seq(seq)?;
        let (p0, p1) = raw_range(&positions)?;
        self.check_can_shift(&format!("shifting positions {p0}..{p1} of sequence {seq} by {delta}"))?;
        let delta = sys::llama_pos::try_from(delta).map_err(|_| Error::TooLong(format!("a shift by {delta}")))?;
        // SAFETY: valid memory handle, checked id, a memory that can shift.
        unsafe { sys::llama_memory_seq_add(self.memory(), id, p0, p1, delta) };
        Ok(())
    }

    /// [`Error::Unsupported`] naming `what` when the KV memory cannot shift positions.
    pub(crate) fn check_can_shift(&self, what: &str) -> Result<()> {
        if self.can_shift() {
            return Ok(());
        }
        Err(Error::Unsupported(format!(
            "{what}: the KV memory of {} cannot move cells to other positions",
            self.model.description()
        )))
    }

    /// The KV state of `seq` (its cells, positions and K/V rows) as llama.cpp serializes it.
    /// It loads back only into a context of the same model and the same KV layout (cell
    /// types, `n_seq_max` streams with split KV, flash attention on or off).
    pub(crate) fn seq_state(&self, seq: SeqId) -> Result<Vec<u8>> {
        let id = self.check_seq(seq)?;
        // SAFETY: valid context, checked id.
        let size = unsafe { sys::llama_state_seq_get_size(self.raw(), id) };
        let mut state = vec![0u8; size];
        clear_recent_errors();
        // SAFETY: `state` has exactly `size` writable bytes, as llama.cpp asked for.
        let written = unsafe { sys::llama_state_seq_get_data(self.raw(), state.as_mut_ptr(), size, id) };
        if written == 0 || written > size {
            let why = recent_errors().unwrap_or_else(|| format!("{written} of {size} bytes written"));
            return Err(Error::Internal(format!("saving the KV of sequence {seq} failed: {why}")));
        }
        state.truncate(written);
        Ok(state)
    }

    /// Loads a state made by [`Context::seq_state`] into `seq` (which should be empty).
    /// llama.cpp checks the layout (streams, layers, cell types, sizes) and refuses a
    /// mismatch with an error; the bytes themselves must be intact (checksum them first: a
    /// damaged state can hold positions llama.cpp does not re-check).
    pub(crate) fn load_seq_state(&mut self, seq: SeqId, state: &[u8]) -> Result<()> {
        let id = self.check_seq(seq)?;
        clear_recent_errors();
        // SAFETY: valid context, checked id; llama.cpp reads at most `state.len()` bytes.
        let read = unsafe { sys::llama_state_seq_set_data(self.raw(), state.as_ptr(), state.len(), id) };
        if read == 0 {
            let why = recent_errors().unwrap_or_else(|| "llama.cpp refused the state".into());
            return Err(Error::DocumentMismatch(format!("loading the KV of sequence {seq} failed: {why}")));
        }
        Ok(())
    }

    /// Whether positions of cached cells can be moved ([`Context::seq_add`]); llama.cpp
    /// aborts the process when a shift is applied to a cache that cannot do it.
    pub(crate) fn can_shift(&self) -> bool {
        // SAFETY: valid memory handle.
        unsafe { sys::llama_memory_can_shift(self.memory()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory estimate's row sizes are ggml's own: f16 2 bytes an element, q8_0 34 and
    /// q4_0 18 bytes per block of 32.
    #[test]
    fn kv_rows_are_sized_at_the_cache_types() {
        for (kv, bytes_576) in [(KvType::F16, 1152), (KvType::Q8_0, 18 * 34), (KvType::Q4_0, 18 * 18)] {
            let params = ContextParams { type_k: kv, type_v: KvType::F16, ..ContextParams::default() };
            assert_eq!(kv_row_bytes(&params, 576, 64), (bytes_576, 128), "{kv}");
            let params = ContextParams { type_k: KvType::F16, type_v: kv, ..ContextParams::default() };
            assert_eq!(kv_row_bytes(&params, 64, 576), (128, bytes_576), "{kv}");
        }
        // A row that is not a whole number of blocks is rounded up to one.
        let q4 = ContextParams { type_k: KvType::Q4_0, type_v: KvType::Q8_0, ..ContextParams::default() };
        assert_eq!(kv_row_bytes(&q4, 33, 1), (36, 34));
    }
}
