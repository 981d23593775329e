//! Progress is the work really done: for every strategy, and for a processed document, the
//! reports grow to their total exactly, reaching it once, and the total is the sum of what
//! was reported.

use crate::common;

use std::sync::Arc;

use focusllm::{
    DocumentParams, FocusParams, GenerateParams, Model, ModelParams, Observer, Progress, Session, SessionParams,
    Strategy,
};

fn session(model: &Arc<Model>, strategy: Strategy) -> Session {
    let params = SessionParams {
        context: common::test_context_params(),
        focus: FocusParams { strategy, window: 512, use_chat_template: false, ..Default::default() },
    };
    Session::new(model.clone(), params).unwrap()
}

/// A document of about 2,000 tokens: several chunks at a 512-token window.
fn document() -> String {
    (0..60).map(|i| format!("Entry {i}: the lighthouse keeper logged a calm sea and {i} passing boats. ")).collect()
}

/// Checks one job's reports: done never goes down, ends at the last total, and reaches the
/// total exactly once.
fn check(label: &str, reports: &[Progress]) {
    assert!(!reports.is_empty(), "{label}: no progress reported");
    let last = reports.last().unwrap();
    assert_eq!(last.done, last.total, "{label}: the last report stops short: {last:?} ({} reports)", reports.len());
    let at_total = reports.iter().filter(|p| p.done == p.total).count();
    assert_eq!(at_total, 1, "{label}: the total was reached {at_total} times: {reports:?}");
    for pair in reports.windows(2) {
        assert!(pair[1].done >= pair[0].done, "{label}: progress went back: {pair:?}");
    }
    println!("{label}: {} reports, total {}", reports.len(), last.total);
}

#[test]
fn progress_reaches_the_work_done_exactly_once_for_every_strategy() {
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    let text = document();
    let params = GenerateParams { max_tokens: 4, ..Default::default() };
    for strategy in [Strategy::Focus, Strategy::LogitFusion, Strategy::Candidate] {
        let mut session = session(&model, strategy);
        let mut reports = Vec::new();
        let answer = session
            .ask(
                &text,
                "How many boats passed in entry 7?",
                &params,
                Observer {
                    on_piece: &mut |_, _| true,
                    on_progress: &mut |p| {
                        reports.push(p);
                        true
                    },
                },
            )
            .unwrap();
        assert!(!answer.stats.direct && answer.stats.chunks > 1, "{strategy:?}: {:?}", answer.stats);
        check(&format!("{strategy:?} ask"), &reports);
        if strategy == Strategy::Candidate {
            continue; // documents are not processed with the candidate strategy
        }
        let mut reports = Vec::new();
        let document = session
            .ingest(&text, &DocumentParams::default(), &mut |p| {
                reports.push(p);
                true
            })
            .unwrap();
        check(&format!("{strategy:?} ingest"), &reports);
        let mut reports = Vec::new();
        session
            .ask_document(
                &document,
                "How many boats passed in entry 7?",
                &params,
                Observer {
                    on_piece: &mut |_, _| true,
                    on_progress: &mut |p| {
                        reports.push(p);
                        true
                    },
                },
            )
            .unwrap();
        check(&format!("{strategy:?} ask_document"), &reports);
    }
}

#[test]
fn progress_counts_the_kept_chunks_at_their_real_length() {
    // Focus re-reads the kept chunks: with every chunk kept and the last one shorter (or
    // longer, when a short tail is merged into it), the re-read is not top_chunks times the
    // longest chunk; the total must be what is really read.
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    let params = SessionParams {
        context: common::test_context_params(),
        focus: FocusParams {
            strategy: Strategy::Focus,
            window: 512,
            chunk_len: 100,
            top_chunks: 16,
            // Every chunk read, however far behind the best it scores.
            read_gap: f32::INFINITY,
            use_chat_template: false,
            ..Default::default()
        },
    };
    let mut session = Session::new(model, params).unwrap();
    let text: String = document().chars().take(2600).collect();
    let mut reports = Vec::new();
    let answer = session
        .ask(
            &text,
            "How many boats passed in entry 3?",
            &GenerateParams { max_tokens: 4, ..Default::default() },
            Observer {
                on_piece: &mut |_, _| true,
                on_progress: &mut |p| {
                    reports.push(p);
                    true
                },
            },
        )
        .unwrap();
    assert!(!answer.stats.direct && answer.stats.selected_chunks.len() == answer.stats.chunks, "{:?}", answer.stats);
    check("focus, every chunk kept", &reports);
}

#[test]
fn a_fusion_wave_near_the_sequence_limit_is_a_planner_error_naming_wave_size() {
    // Logit fusion keeps top_chunks + 2 sequences beside a wave: a wave of 254 cannot fit
    // llama.cpp's 256 sequences (a document of 251 chunks or more failed in llama.cpp with
    // n_seq_max). The planner refuses the setting, naming it, before any context is made.
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    let params = SessionParams {
        context: common::test_context_params(),
        focus: FocusParams {
            strategy: Strategy::LogitFusion,
            window: 512,
            wave_size: 254,
            use_chat_template: false,
            ..Default::default()
        },
    };
    let mut session = Session::new(model, params).unwrap();
    let text = document();
    let result = session.ask(
        &text,
        "How many boats?",
        &GenerateParams { max_tokens: 2, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
    );
    let message = result.map(|a| a.stats).unwrap_err().to_string();
    assert!(
        message.contains("wave_size (max_seqs_per_wave) 254 + 4") && message.contains("wave_size <= 252"),
        "{message}"
    );
}
