//! The session object: parameters, new, free, cancel. Running a job is in `run`.

use std::sync::{Mutex, PoisonError, TryLockError};

use super::boundary;
use super::handles;
use super::model::focusllm_model;
use super::sized::{self, versioned};
use super::status::{Failure, focusllm_status};
use crate::focus::{Session, Source};
use crate::llama::CancelHandle;
use crate::params::{ContextParams, DirectWhenFits, FlashAttention, FocusParams, KvType, SessionParams, Strategy};

/// A session: a model plus the settings jobs run with. It keeps no conversation or KV state
/// between calls. Used by one thread at a time: a second call while one runs (from another
/// thread, or from inside a callback) returns FOCUSLLM_STATUS_BUSY. focusllm_session_cancel()
/// may be called from any thread at any time.
pub struct focusllm_session {
    pub(crate) session: Mutex<Session>,
    pub(crate) calls: CallCancel,
    /// The passages the last successful call read (see focusllm_session_get_source()).
    pub(crate) sources: Mutex<Vec<Source>>,
}

/// Where a cancel of a handle (focusllm_session_cancel(), focusllm_conversation_cancel())
/// goes: the token of the call running now, or, when none runs, a pending cancel that the next
/// call takes. A call registers its token and takes a pending cancel under this lock, and
/// unregisters under it when it ends, checking its token then: so every cancel stops exactly
/// the call running when it came, or the next one.
#[derive(Debug, Default)]
pub(crate) struct CallCancel(Mutex<CancelState>);

#[derive(Debug, Default)]
struct CancelState {
    pending: bool,
    running: Option<CancelHandle>,
}

impl CallCancel {
    fn state(&self) -> std::sync::MutexGuard<'_, CancelState> {
        // The lock is held for a few instructions that cannot panic; a poisoned one is
        // still consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the running call, or the next one when none runs.
    pub(crate) fn cancel(&self) {
        let mut state = self.state();
        match &state.running {
            Some(token) => token.cancel(),
            None => state.pending = true,
        }
    }

    /// Registers the token of a call that starts now; a pending cancel cancels it.
    pub(crate) fn begin_call(&self, token: &CancelHandle) {
        let mut state = self.state();
        if std::mem::take(&mut state.pending) {
            token.cancel();
        }
        state.running = Some(token.clone());
    }

    /// Unregisters the call's token; whether the call was cancelled (a cancel that came
    /// after this belongs to the next call).
    pub(crate) fn end_call(&self, token: &CancelHandle) -> bool {
        let mut state = self.state();
        state.running = None;
        token.is_cancelled()
    }
}

/// Flash attention setting (llama.cpp's flash_attn_type).
pub type focusllm_flash_attention = i32;
/// llama.cpp decides (on for CPU).
pub const FOCUSLLM_FLASH_ATTENTION_AUTO: focusllm_flash_attention = 0;
pub const FOCUSLLM_FLASH_ATTENTION_ENABLED: focusllm_flash_attention = 1;
pub const FOCUSLLM_FLASH_ATTENTION_DISABLED: focusllm_flash_attention = 2;

/// The element type of the K or V cache (llama.cpp's type_k / type_v). Per 32 values, F16
/// takes 64 bytes, Q8_0 34 and Q4_0 18. A quantized V needs flash attention:
/// focusllm_session_new refuses a quantized type_v with FOCUSLLM_FLASH_ATTENTION_DISABLED
/// (FOCUSLLM_STATUS_INVALID_PARAM), and with FOCUSLLM_FLASH_ATTENTION_AUTO llama.cpp turns
/// flash attention on. Any type_k works with flash attention on or off. A processed document
/// is used only by a session with the types it was made with.
pub type focusllm_kv_type = i32;
/// 16-bit floats (the default).
pub const FOCUSLLM_KV_TYPE_F16: focusllm_kv_type = 0;
/// 8-bit blocks: about half the bytes of F16.
pub const FOCUSLLM_KV_TYPE_Q8_0: focusllm_kv_type = 1;
/// 4-bit blocks: about a quarter of the bytes of F16.
pub const FOCUSLLM_KV_TYPE_Q4_0: focusllm_kv_type = 2;

fn kv_type_to_c(t: KvType) -> focusllm_kv_type {
    match t {
        KvType::F16 => FOCUSLLM_KV_TYPE_F16,
        KvType::Q8_0 => FOCUSLLM_KV_TYPE_Q8_0,
        KvType::Q4_0 => FOCUSLLM_KV_TYPE_Q4_0,
    }
}

fn kv_type_from_c(name: &str, value: focusllm_kv_type) -> Result<KvType, Failure> {
    match value {
        FOCUSLLM_KV_TYPE_F16 => Ok(KvType::F16),
        FOCUSLLM_KV_TYPE_Q8_0 => Ok(KvType::Q8_0),
        FOCUSLLM_KV_TYPE_Q4_0 => Ok(KvType::Q4_0),
        other => Err(Failure::param(format!(
            "{name} must be 0 (f16), 1 (q8_0) or 2 (q4_0) (FOCUSLLM_KV_TYPE_*), got {other}"
        ))),
    }
}

/// How what the chunks of a long document hold reaches the answer.
pub type focusllm_strategy = i32;
/// Score chunks with the question appended, keep the top_chunks best, attend to their KV.
pub const FOCUSLLM_STRATEGY_FOCUS: focusllm_strategy = 0;
/// The best chunks and a context-free row decode in parallel; their logits are fused.
pub const FOCUSLLM_STRATEGY_LOGIT_FUSION: focusllm_strategy = 1;
/// The paper's candidate tokens: the last candidate_cells KV cells of every chunk are shared.
pub const FOCUSLLM_STRATEGY_CANDIDATE: focusllm_strategy = 2;

/// Whether a document that fits the window together with the answer is read as one plain
/// prompt or in chunks.
pub type focusllm_direct_when_fits = i32;
/// Plain generation up to FOCUSLLM_AUTO_DIRECT_MAX_TOKENS input tokens, chunks above (the
/// default: past that length chunks were faster and found more; see bench/README.md).
pub const FOCUSLLM_DIRECT_WHEN_FITS_AUTO: focusllm_direct_when_fits = 0;
/// Plain generation whenever the input and the answer fit the window.
pub const FOCUSLLM_DIRECT_WHEN_FITS_ALWAYS: focusllm_direct_when_fits = 1;
/// Chunks whenever there is a document, however short.
pub const FOCUSLLM_DIRECT_WHEN_FITS_NEVER: focusllm_direct_when_fits = 2;
/// Longest input, in tokens, that FOCUSLLM_DIRECT_WHEN_FITS_AUTO runs as plain generation.
/// (A literal, for cbindgen; a unit test keeps it equal to the engine's.)
pub const FOCUSLLM_AUTO_DIRECT_MAX_TOKENS: u32 = 2048;

/// How a session runs. Fill it with focusllm_session_default_params(). Lengths of 0 mean
/// "the default for this model and strategy".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_session_params {
    /// sizeof(focusllm_session_params) as compiled into the program; set by
    /// focusllm_session_default_params(). See "Structs" at the top of this header.
    pub struct_size: usize,
    /// Context length for plain prompts (0 = the model's window). Documents size their own.
    pub n_ctx: u32,
    /// Most tokens per llama_decode call (default 2048).
    pub n_batch: u32,
    /// Most tokens per compute step inside a decode (default 512, at most n_batch).
    pub n_ubatch: u32,
    /// CPU threads (default: every core the process may use; 1..=1024).
    pub n_threads: u32,
    /// A FOCUSLLM_FLASH_ATTENTION_* value.
    pub flash_attention: focusllm_flash_attention,
    /// A FOCUSLLM_STRATEGY_* value.
    pub strategy: focusllm_strategy,
    /// The window the engine plans for (0 = the model's training window).
    pub window: u32,
    /// Tokens per chunk of a long document (0 = derived from the window).
    pub chunk_len: u32,
    /// Longest question (with the chat template's tail), in tokens, accepted as the local
    /// context; the chunks cut the document alone (0 = derived).
    pub local_len: u32,
    /// Most tokens of the question's tail appended to every chunk (0 = derived).
    pub prompt_len: u32,
    /// Chunks kept after scoring (FOCUS, LOGIT_FUSION; 1..=64).
    pub top_chunks: u32,
    /// Chunks decoded together in one wave (bounds memory).
    pub wave_size: u32,
    /// Weight of the context-free contrast in LOGIT_FUSION (0..=4).
    pub fusion_beta: f32,
    /// KV cells each chunk contributes in CANDIDATE (>= 1).
    pub candidate_cells: u32,
    /// Wrap document and question in the model's chat template (when it has one).
    pub use_chat_template: bool,
    /// Unused: keeps the fields added after the first version out of its tail padding.
    pub _reserved: [u8; 7],
    /// A FOCUSLLM_KV_TYPE_* value: the element type of the K cache (default F16).
    pub type_k: focusllm_kv_type,
    /// A FOCUSLLM_KV_TYPE_* value: the element type of the V cache (default F16; a quantized
    /// one needs flash attention AUTO or ENABLED).
    pub type_v: focusllm_kv_type,
    /// FOCUS reads, of the top_chunks best, only those scored within this many nats of the
    /// best one (>= 0; INFINITY reads them all; default 8).
    pub read_gap: f32,
    /// FOCUS reads the best chunk's most relevant passage again right before the question
    /// (default true).
    pub zoom: bool,
    /// Unused: keeps direct_when_fits out of the previous version's tail padding.
    pub _reserved_2: [u8; 3],
    /// A FOCUSLLM_DIRECT_WHEN_FITS_* value (default AUTO).
    pub direct_when_fits: focusllm_direct_when_fits,
}

versioned!(
    focusllm_session_params,
    focusllm_session_params::from_rust(&SessionParams::default()),
    versions = &[15, 18, 20, 22],
    [
        n_ctx,
        n_batch,
        n_ubatch,
        n_threads,
        flash_attention,
        strategy,
        window,
        chunk_len,
        local_len,
        prompt_len,
        top_chunks,
        wave_size,
        fusion_beta,
        candidate_cells,
        use_chat_template,
        _reserved,
        type_k,
        type_v,
        read_gap,
        zoom,
        _reserved_2,
        direct_when_fits,
    ]
);

const PARAMS_HINT: &str = "fill the struct with focusllm_session_default_params(&params, sizeof params)";

impl focusllm_session_params {
    fn from_rust(p: &SessionParams) -> Self {
        let (c, f) = (&p.context, &p.focus);
        focusllm_session_params {
            struct_size: size_of::<Self>(),
            n_ctx: c.n_ctx,
            n_batch: c.n_batch,
            n_ubatch: c.n_ubatch,
            n_threads: c.n_threads,
            flash_attention: match c.flash_attention {
                FlashAttention::Auto => FOCUSLLM_FLASH_ATTENTION_AUTO,
                FlashAttention::Enabled => FOCUSLLM_FLASH_ATTENTION_ENABLED,
                FlashAttention::Disabled => FOCUSLLM_FLASH_ATTENTION_DISABLED,
            },
            strategy: match f.strategy {
                Strategy::Focus => FOCUSLLM_STRATEGY_FOCUS,
                Strategy::LogitFusion => FOCUSLLM_STRATEGY_LOGIT_FUSION,
                Strategy::Candidate => FOCUSLLM_STRATEGY_CANDIDATE,
            },
            window: f.window,
            chunk_len: f.chunk_len,
            local_len: f.local_len,
            prompt_len: f.prompt_len,
            top_chunks: f.top_chunks,
            wave_size: f.wave_size,
            fusion_beta: f.fusion_beta,
            candidate_cells: f.candidate_cells,
            use_chat_template: f.use_chat_template,
            _reserved: [0; 7],
            type_k: kv_type_to_c(c.type_k),
            type_v: kv_type_to_c(c.type_v),
            read_gap: f.read_gap,
            zoom: f.zoom,
            _reserved_2: [0; 3],
            direct_when_fits: match f.direct_when_fits {
                DirectWhenFits::Auto => FOCUSLLM_DIRECT_WHEN_FITS_AUTO,
                DirectWhenFits::Always => FOCUSLLM_DIRECT_WHEN_FITS_ALWAYS,
                DirectWhenFits::Never => FOCUSLLM_DIRECT_WHEN_FITS_NEVER,
            },
        }
    }

    fn to_rust(self) -> Result<SessionParams, Failure> {
        let flash_attention = match self.flash_attention {
            FOCUSLLM_FLASH_ATTENTION_AUTO => FlashAttention::Auto,
            FOCUSLLM_FLASH_ATTENTION_ENABLED => FlashAttention::Enabled,
            FOCUSLLM_FLASH_ATTENTION_DISABLED => FlashAttention::Disabled,
            other => {
                return Err(Failure::param(format!(
                    "flash_attention must be 0, 1 or 2 (FOCUSLLM_FLASH_ATTENTION_*), got {other}"
                )));
            }
        };
        let strategy = match self.strategy {
            FOCUSLLM_STRATEGY_FOCUS => Strategy::Focus,
            FOCUSLLM_STRATEGY_LOGIT_FUSION => Strategy::LogitFusion,
            FOCUSLLM_STRATEGY_CANDIDATE => Strategy::Candidate,
            other => {
                return Err(Failure::param(format!("strategy must be 0, 1 or 2 (FOCUSLLM_STRATEGY_*), got {other}")));
            }
        };
        let direct_when_fits = match self.direct_when_fits {
            FOCUSLLM_DIRECT_WHEN_FITS_AUTO => DirectWhenFits::Auto,
            FOCUSLLM_DIRECT_WHEN_FITS_ALWAYS => DirectWhenFits::Always,
            FOCUSLLM_DIRECT_WHEN_FITS_NEVER => DirectWhenFits::Never,
            other => {
                return Err(Failure::param(format!(
                    "direct_when_fits must be 0 (auto), 1 (always) or 2 (never) (FOCUSLLM_DIRECT_WHEN_FITS_*), \
                     got {other}"
                )));
            }
        };
        Ok(SessionParams {
            context: ContextParams {
                n_ctx: self.n_ctx,
                n_batch: self.n_batch,
                n_ubatch: self.n_ubatch,
                n_threads: self.n_threads,
                flash_attention,
                type_k: kv_type_from_c("type_k", self.type_k)?,
                type_v: kv_type_from_c("type_v", self.type_v)?,
                ..ContextParams::default()
            },
            focus: FocusParams {
                strategy,
                window: self.window,
                chunk_len: self.chunk_len,
                local_len: self.local_len,
                prompt_len: self.prompt_len,
                top_chunks: self.top_chunks,
                wave_size: self.wave_size,
                fusion_beta: self.fusion_beta,
                candidate_cells: self.candidate_cells,
                use_chat_template: self.use_chat_template,
                read_gap: self.read_gap,
                zoom: self.zoom,
                direct_when_fits,
            },
        })
    }

    /// Reads the caller's struct into Rust parameters (not yet validated).
    ///
    /// # Safety
    /// See [`sized::read`].
    pub(crate) unsafe fn read(ptr: *const Self) -> Result<SessionParams, Failure> {
        // SAFETY: forwarded contract.
        unsafe { sized::read(ptr, "params", PARAMS_HINT) }?.to_rust()
    }
}

/// Writes the default session parameters into `params`; `struct_size` must be
/// sizeof(focusllm_session_params). Call: focusllm_session_default_params(&p, sizeof p).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_session_default_params(
    params: *mut focusllm_session_params,
    struct_size: usize,
) -> focusllm_status {
    // SAFETY: the caller provides `struct_size` writable bytes at params (or NULL).
    boundary::status("focusllm_session_default_params", || unsafe { sized::write_defaults(params, struct_size) })
}

/// Makes a session over `model` (which it keeps alive) with `params` (not NULL; checked
/// here, so a bad value fails now rather than in the first job). On success writes the new
/// session to `*out_session`; free it with focusllm_session_free().
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_session_new(
    model: *const focusllm_model,
    params: *const focusllm_session_params,
    out_session: *mut *mut focusllm_session,
) -> focusllm_status {
    boundary::status("focusllm_session_new", || {
        // SAFETY: a live model handle or NULL (rejected).
        let model = unsafe { handles::borrow(model, "model") }?;
        // SAFETY: the caller's params struct is readable (or NULL, rejected).
        let params = unsafe { focusllm_session_params::read(params) }?;
        handles::check_out(out_session, "out_session")?;
        let session = Session::new(model.model.clone(), params)?;
        let handle =
            focusllm_session { session: Mutex::new(session), calls: CallCancel::default(), sources: Mutex::default() };
        // SAFETY: out_session was checked non-null and aligned.
        unsafe { handles::put(out_session, handle) };
        Ok(())
    })
}

/// Frees a session. NULL is a no-op. A session must not be freed while a call on it runs;
/// from inside its own callback the request is refused (the session stays, the last error
/// says so) rather than freeing memory in use. Never free a session twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_session_free(session: *mut focusllm_session) {
    boundary::value("focusllm_session_free", (), || {
        if session.is_null() {
            return Ok(());
        }
        // SAFETY: a live session handle (caller's contract).
        let handle = unsafe { handles::borrow(session.cast_const(), "session") }?;
        if let Err(TryLockError::WouldBlock) = handle.session.try_lock() {
            return Err(Failure::new(
                focusllm_status::Busy,
                "the session is running a call (free it after focusllm_session_run returns); not freed",
            ));
        }
        // SAFETY: the handle came from focusllm_session_new and no call is using it.
        unsafe { handles::free(session) };
        Ok(())
    })
}

/// Stops the call running on `session` as soon as possible: between generated tokens,
/// between prefill batches, or inside a decode. That call returns FOCUSLLM_STATUS_CANCELLED
/// and its outputs are not written. A cancel is never lost: one that comes while no call
/// runs (before a call starts, or after one has finished its work) stops the next call on
/// the session, which then returns FOCUSLLM_STATUS_CANCELLED at once; several such cancels
/// count as one. So every cancel stops exactly one call: the one running when it came, or
/// the next. To cancel one particular call and nothing else, give that call its own
/// focusllm_cancel_token instead. Thread safety: any thread, any time while the session
/// exists, including from the session's own callbacks.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_session_cancel(session: *const focusllm_session) -> focusllm_status {
    boundary::status("focusllm_session_cancel", || {
        // SAFETY: a live session handle or NULL (rejected).
        unsafe { handles::borrow(session, "session") }?.calls.cancel();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_complete_and_pinned() {
        sized::assert_layout::<focusllm_session_params>();
        assert_eq!(size_of::<focusllm_session_params>(), 96);
        // The first version's size: its struct_size reads the first 15 fields only.
        assert_eq!(std::mem::offset_of!(focusllm_session_params, type_k), 72);
        // The second version's (80 bytes) ends before read_gap.
        assert_eq!(std::mem::offset_of!(focusllm_session_params, read_gap), 80);
        // The third version's (88 bytes) ends before direct_when_fits.
        assert_eq!(std::mem::offset_of!(focusllm_session_params, direct_when_fits), 88);
    }

    #[test]
    fn direct_when_fits_reaches_the_engine_and_bad_values_are_named() {
        let c = <focusllm_session_params as sized::Versioned>::defaults();
        assert_eq!(c.direct_when_fits, FOCUSLLM_DIRECT_WHEN_FITS_AUTO);
        assert_eq!(FOCUSLLM_AUTO_DIRECT_MAX_TOKENS as usize, crate::params::AUTO_DIRECT_MAX_TOKENS);
        let never = focusllm_session_params { direct_when_fits: FOCUSLLM_DIRECT_WHEN_FITS_NEVER, ..c };
        assert_eq!(never.to_rust().unwrap().focus.direct_when_fits, DirectWhenFits::Never);
        let bad = focusllm_session_params { direct_when_fits: 3, ..c }.to_rust().unwrap_err();
        assert!(bad.message.contains("direct_when_fits must be 0 (auto)"), "{}", bad.message);
    }

    #[test]
    fn read_gap_and_zoom_reach_the_engine() {
        let c = <focusllm_session_params as sized::Versioned>::defaults();
        let focus = focusllm_session_params { read_gap: f32::INFINITY, zoom: false, ..c }.to_rust().unwrap().focus;
        assert_eq!((focus.read_gap, focus.zoom), (f32::INFINITY, false));
    }

    #[test]
    fn defaults_round_trip_and_enums_are_checked() {
        let c = <focusllm_session_params as sized::Versioned>::defaults();
        assert_eq!(c.to_rust(), Ok(SessionParams::default()));
        let bad = focusllm_session_params { strategy: 3, ..c };
        assert!(bad.to_rust().unwrap_err().message.contains("strategy must be 0, 1 or 2"));
        let bad = focusllm_session_params { flash_attention: -1, ..c };
        assert!(bad.to_rust().unwrap_err().message.contains("got -1"));
        let bad = focusllm_session_params { type_v: 3, ..c };
        assert!(bad.to_rust().unwrap_err().message.contains("type_v must be 0 (f16), 1 (q8_0) or 2 (q4_0)"));
        let q = focusllm_session_params { type_k: FOCUSLLM_KV_TYPE_Q8_0, type_v: FOCUSLLM_KV_TYPE_Q4_0, ..c };
        let context = q.to_rust().unwrap().context;
        assert_eq!((context.type_k, context.type_v), (KvType::Q8_0, KvType::Q4_0));
    }

    /// A program built against the first header passes a 72-byte struct whose tail padding
    /// holds anything: the library reads no KV type from it, and the types stay F16.
    #[test]
    fn a_first_version_struct_keeps_the_default_kv_types() {
        let mut old = <focusllm_session_params as sized::Versioned>::defaults();
        old.struct_size = 72;
        old._reserved = [0xA5; 7];
        old.type_k = 99;
        old.type_v = -5;
        // SAFETY: a whole, aligned focusllm_session_params (the library reads its first 72 bytes).
        let read = unsafe { focusllm_session_params::read(&old) }.unwrap();
        assert_eq!((read.context.type_k, read.context.type_v), (KvType::F16, KvType::F16));
    }
}
