//! Cancellation from another thread, between tokens and inside a long decode; a cancel at a
//! random moment, 1,000 times, through the Rust API and the C API, is never lost; and
//! progress reporting during prompt processing.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use focusllm::capi::cancel::{
    focusllm_cancel_token, focusllm_cancel_token_cancel, focusllm_cancel_token_free, focusllm_cancel_token_new,
};
use focusllm::capi::generate_params::{focusllm_generate_default_params, focusllm_generate_params};
use focusllm::capi::model::{
    focusllm_model, focusllm_model_default_params, focusllm_model_free, focusllm_model_load, focusllm_model_params,
};
use focusllm::capi::run::{focusllm_job, focusllm_session_run};
use focusllm::capi::session::{
    focusllm_session, focusllm_session_cancel, focusllm_session_default_params, focusllm_session_free,
    focusllm_session_new, focusllm_session_params,
};
use focusllm::capi::status::focusllm_status;
use focusllm::{
    CancelHandle, Context, ContextParams, Error, GenerateParams, Model, ModelParams, Observer, Prompt, Session,
    SessionParams,
};

fn context(n_batch: u32) -> Context {
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    Context::new(
        model,
        &ContextParams { n_ctx: 4096, n_batch, n_ubatch: n_batch.min(512), n_threads: 1, ..Default::default() },
    )
    .unwrap()
}

#[test]
fn cancel_between_tokens_then_the_context_works_again() {
    let mut ctx = context(512);
    let handle = ctx.cancel_handle();
    let (first_piece_tx, first_piece_rx) = mpsc::channel::<()>();
    let canceller = std::thread::spawn(move || {
        first_piece_rx.recv().unwrap();
        handle.cancel();
    });
    let prompt = Prompt::Text("Count: 1, 2, 3, 4, 5, 6,".into());
    let params = GenerateParams { max_tokens: 400, ..Default::default() };
    let mut pieces = 0;
    let mut on_piece = |_: &str, _: &[focusllm::Token]| {
        pieces += 1;
        let _ = first_piece_tx.send(());
        true
    };
    let result = focusllm::generate(
        &mut ctx,
        &prompt,
        &params,
        Observer { on_piece: &mut on_piece, on_progress: &mut |_| true },
    );
    canceller.join().unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!((1..400).contains(&pieces), "{pieces} pieces");
    // The cancel stays until it is reset: no job clears it.
    let still = focusllm::generate(
        &mut ctx,
        &prompt,
        &GenerateParams { max_tokens: 3, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
    );
    assert!(matches!(still, Err(Error::Cancelled)), "{still:?}");
    ctx.cancel_handle().reset();
    let again = focusllm::generate(
        &mut ctx,
        &prompt,
        &GenerateParams { max_tokens: 3, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
    );
    assert_eq!(again.unwrap().tokens.len(), 3);
}

#[test]
fn cancel_inside_one_long_decode() {
    // One batch of ~3000 tokens: the cancel must land inside that single llama_decode, so no
    // progress report (made after each batch) is ever seen.
    let mut ctx = context(4096);
    let handle = ctx.cancel_handle();
    let text = "The grass is green. The sky is blue. The sun is yellow. ".repeat(230);
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        handle.cancel();
    });
    let mut progress_calls = 0;
    let mut on_progress = |_| {
        progress_calls += 1;
        true
    };
    let result = focusllm::generate(
        &mut ctx,
        &Prompt::Text(text),
        &GenerateParams { max_tokens: 1, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut on_progress },
    );
    canceller.join().unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(progress_calls, 0, "the decode was not interrupted");
}

#[test]
fn progress_is_reported_per_batch_and_false_cancels() {
    let mut ctx = context(64);
    let text = "The grass is green. ".repeat(40);
    let mut reports = Vec::new();
    let generation = focusllm::generate(
        &mut ctx,
        &Prompt::Text(text.clone()),
        &GenerateParams { max_tokens: 1, ..Default::default() },
        Observer {
            on_piece: &mut |_, _| true,
            on_progress: &mut |p| {
                reports.push(p);
                true
            },
        },
    )
    .unwrap();
    let total = generation.prompt_tokens;
    assert_eq!(reports.len(), total.div_ceil(64));
    assert!(reports.iter().all(|p| p.total == total));
    assert_eq!(reports.last().unwrap().done, total);
    let stopped = focusllm::generate(
        &mut ctx,
        &Prompt::Text(text),
        &GenerateParams { max_tokens: 1, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| false },
    );
    assert!(matches!(stopped, Err(Error::Cancelled)));
}

/// A small deterministic generator (xorshift) for the random moments.
struct Moments(u64);

impl Moments {
    /// A duration in `0..=max`.
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_nanos(self.0 % (max.as_nanos() as u64 + 1))
    }

    fn coin(&mut self) -> bool {
        self.below(Duration::from_nanos(1)).is_zero()
    }
}

/// How many of 1,000 cancels stopped the run they raced with, or the run after it.
#[derive(Debug, Default)]
struct Outcomes {
    stopped_the_run: usize,
    stopped_the_next: usize,
}

/// Races per test: 1,000 (FOCUSLLM_CANCEL_RACES overrides it, for a quick local look).
fn races() -> usize {
    std::env::var("FOCUSLLM_CANCEL_RACES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000)
}

/// A short job on a tiny context: "Hi", two tokens, 64 cells.
fn tiny_session_params() -> SessionParams {
    SessionParams {
        context: ContextParams { n_ctx: 64, n_batch: 64, n_ubatch: 64, n_threads: 1, ..Default::default() },
        ..Default::default()
    }
}

#[test]
fn a_cancel_at_a_random_moment_is_never_lost_by_a_job() {
    // No job clears a cancel: another thread cancels at a random moment (before the job
    // starts, during it, or after it); a cancel that came before the job always stops it, a
    // job never hangs, and after reset() the context runs again.
    let mut ctx = context(64);
    let handle = ctx.cancel_handle();
    let prompt = Prompt::Text("Hi".into());
    let params = GenerateParams { max_tokens: 2, ..Default::default() };
    let run = |ctx: &mut Context| {
        focusllm::generate(ctx, &prompt, &params, Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true })
    };
    let started = Instant::now();
    run(&mut ctx).unwrap();
    let span = started.elapsed();
    let mut moments = Moments(0x5eed_0015);
    let (mut before, mut during, mut after) = (0, 0, 0);
    for race in 0..races() {
        handle.reset();
        let cancelled = Arc::new(AtomicBool::new(false));
        let delay = moments.below(span);
        let canceller = {
            let (handle, cancelled) = (handle.clone(), cancelled.clone());
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                handle.cancel();
                cancelled.store(true, Ordering::SeqCst);
            })
        };
        if moments.coin() {
            std::thread::sleep(moments.below(span));
        }
        let cancelled_before = cancelled.load(Ordering::SeqCst);
        let result = run(&mut ctx);
        canceller.join().unwrap();
        match result {
            Err(Error::Cancelled) if cancelled_before => before += 1,
            Err(Error::Cancelled) => during += 1,
            Ok(_) if !cancelled_before => after += 1,
            other => panic!("race {race}: cancelled before the job: {cancelled_before}, got {other:?}"),
        }
        // The cancel stays: the next job stops at once.
        assert!(matches!(run(&mut ctx), Err(Error::Cancelled)), "race {race}: a job cleared the cancel");
    }
    println!("{} cancels (one job {span:?}): {before} before the job, {during} during it, {after} after it", races());
    assert!(before > 0 && during + after > 0, "the cancels did not spread: {before} / {during} / {after}");
}

#[test]
fn a_session_job_stops_on_the_token_it_is_given() {
    // A token cancelled before the job starts stops it; the next job, on a new token, runs.
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    let mut session = Session::new(model, tiny_session_params()).unwrap();
    let prompt = Prompt::Text("Hi".into());
    let params = GenerateParams { max_tokens: 2, ..Default::default() };
    let run = |session: &mut Session| {
        session.generate(&prompt, &params, Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true })
    };
    session.cancel_handle().cancel();
    assert!(matches!(run(&mut session), Err(Error::Cancelled)));
    assert!(matches!(run(&mut session), Err(Error::Cancelled)), "the cancel was cleared by a job");
    let token = CancelHandle::default();
    session.set_cancel_handle(token.clone());
    run(&mut session).unwrap();
    token.cancel();
    assert!(matches!(run(&mut session), Err(Error::Cancelled)));
}

/// A C handle shared with the cancelling thread (the C API allows cancelling from any thread).
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: focusllm_session_cancel and focusllm_cancel_token_cancel may be called from any
// thread while the object exists; the test frees the objects only after joining the thread.
unsafe impl<T> Send for Shared<T> {}

/// The model and a tiny session through the C API.
fn c_session() -> (*mut focusllm_model, *mut focusllm_session) {
    let path = common::default_model();
    let path = path.to_str().expect("a UTF-8 model path");
    let mut model_params = std::mem::MaybeUninit::<focusllm_model_params>::uninit();
    // SAFETY: writes the whole struct.
    let status =
        unsafe { focusllm_model_default_params(model_params.as_mut_ptr(), size_of::<focusllm_model_params>()) };
    assert_eq!(status, focusllm_status::Ok);
    let mut model = std::ptr::null_mut();
    // SAFETY: the path and the (initialised) params are valid for the call; model is an out-param.
    let status = unsafe {
        focusllm_model_load(
            path.as_ptr().cast(),
            path.len(),
            model_params.as_ptr(),
            None,
            std::ptr::null_mut(),
            &mut model,
        )
    };
    assert_eq!(status, focusllm_status::Ok);
    let mut params = std::mem::MaybeUninit::<focusllm_session_params>::uninit();
    // SAFETY: writes the whole struct.
    let status = unsafe { focusllm_session_default_params(params.as_mut_ptr(), size_of::<focusllm_session_params>()) };
    assert_eq!(status, focusllm_status::Ok);
    // SAFETY: initialised by the call above.
    let mut params = unsafe { params.assume_init() };
    let tiny = tiny_session_params().context;
    (params.n_ctx, params.n_batch, params.n_ubatch, params.n_threads) =
        (tiny.n_ctx, tiny.n_batch, tiny.n_ubatch, tiny.n_threads);
    let mut session = std::ptr::null_mut();
    // SAFETY: a live model, a filled params struct, an out-param.
    assert_eq!(unsafe { focusllm_session_new(model, &params, &mut session) }, focusllm_status::Ok);
    (model, session)
}

/// Runs "Hi" for two tokens on the C session, with `token` (may be NULL).
fn c_run(session: *mut focusllm_session, token: *const focusllm_cancel_token) -> focusllm_status {
    let prompt = "Hi";
    let job = focusllm_job {
        struct_size: size_of::<focusllm_job>(),
        document: std::ptr::null(),
        document_len: 0,
        prompt: prompt.as_ptr().cast(),
        prompt_len: prompt.len(),
        chat: false,
    };
    let mut params = std::mem::MaybeUninit::<focusllm_generate_params>::uninit();
    // SAFETY: writes the whole struct.
    let status =
        unsafe { focusllm_generate_default_params(params.as_mut_ptr(), size_of::<focusllm_generate_params>()) };
    assert_eq!(status, focusllm_status::Ok);
    // SAFETY: initialised by the call above.
    let mut params = unsafe { params.assume_init() };
    params.max_tokens = 2;
    params.cancel = token;
    // SAFETY: live session, job and params for the call; no callbacks; no result wanted.
    unsafe { focusllm_session_run(session, &job, &params, None, None, std::ptr::null_mut(), std::ptr::null_mut()) }
}

#[test]
fn a_session_cancel_at_a_random_moment_stops_exactly_one_call() {
    // focusllm_session_cancel() from another thread at a random moment around a run: it
    // stops that run, or (when it came before the run started or after its work was done)
    // the next call on the session; never neither, never both.
    let (model, session) = c_session();
    let started = Instant::now();
    assert_eq!(c_run(session, std::ptr::null()), focusllm_status::Ok);
    let span = started.elapsed();
    let mut moments = Moments(0x0c0f_fee5);
    let mut outcomes = Outcomes::default();
    for race in 0..races() {
        let delay = moments.below(span);
        let shared = Shared(session);
        let canceller = std::thread::spawn(move || {
            let shared = shared;
            std::thread::sleep(delay);
            // SAFETY: the session outlives this thread (joined below).
            unsafe { focusllm_session_cancel(shared.0) }
        });
        if moments.coin() {
            std::thread::sleep(moments.below(span));
        }
        let raced = c_run(session, std::ptr::null());
        assert_eq!(canceller.join().unwrap(), focusllm_status::Ok);
        let next = c_run(session, std::ptr::null());
        match (raced, next) {
            (focusllm_status::Cancelled, focusllm_status::Ok) => outcomes.stopped_the_run += 1,
            (focusllm_status::Ok, focusllm_status::Cancelled) => outcomes.stopped_the_next += 1,
            other => panic!("race {race}: the raced run and the next one gave {other:?}"),
        }
    }
    println!("{} session cancels (one run {span:?}): {outcomes:?}", races());
    assert!(outcomes.stopped_the_run > 0 && outcomes.stopped_the_next > 0, "the cancels did not spread: {outcomes:?}");
    // SAFETY: no call runs; each handle is freed once.
    unsafe {
        focusllm_session_free(session);
        focusllm_model_free(model);
    }
}

#[test]
fn a_c_token_cancelled_at_a_random_moment_stops_only_its_call() {
    // Each C call gets its own focusllm_cancel_token, cancelled from another thread at a
    // random moment: a token cancelled before the call starts stops it; a cancel after the
    // call returned reaches no later call.
    let (model, session) = c_session();
    let started = Instant::now();
    assert_eq!(c_run(session, std::ptr::null()), focusllm_status::Ok);
    let span = started.elapsed();
    let mut moments = Moments(0x0701_3e45);
    let (mut before, mut during, mut after) = (0, 0, 0);
    for race in 0..races() {
        let mut token = std::ptr::null_mut();
        // SAFETY: an out-param.
        assert_eq!(unsafe { focusllm_cancel_token_new(&mut token) }, focusllm_status::Ok);
        let cancelled = Arc::new(AtomicBool::new(false));
        let delay = moments.below(span);
        let (shared, flag) = (Shared(token), cancelled.clone());
        let canceller = std::thread::spawn(move || {
            let shared = shared;
            std::thread::sleep(delay);
            // SAFETY: the token outlives this thread (joined below).
            let status = unsafe { focusllm_cancel_token_cancel(shared.0) };
            flag.store(true, Ordering::SeqCst);
            status
        });
        if moments.coin() {
            std::thread::sleep(moments.below(span));
        }
        let cancelled_before = cancelled.load(Ordering::SeqCst);
        let raced = c_run(session, token);
        assert_eq!(canceller.join().unwrap(), focusllm_status::Ok);
        match raced {
            focusllm_status::Cancelled if cancelled_before => before += 1,
            focusllm_status::Cancelled => during += 1,
            focusllm_status::Ok if !cancelled_before => after += 1,
            other => panic!("race {race}: cancelled before the call: {cancelled_before}, got {other:?}"),
        }
        assert_eq!(c_run(session, std::ptr::null()), focusllm_status::Ok, "race {race}: the next call");
        // SAFETY: made above, no call uses it any more.
        unsafe { focusllm_cancel_token_free(token) };
    }
    println!(
        "{} C token cancels (one call {span:?}): {before} before the call, {during} during it, {after} after it",
        races()
    );
    assert!(before > 0 && during + after > 0, "the cancels did not spread: {before} / {during} / {after}");
    // SAFETY: no call runs; each handle is freed once.
    unsafe {
        focusllm_session_free(session);
        focusllm_model_free(model);
    }
}
