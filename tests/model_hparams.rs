//! A model file cannot end the host: hyperparameters llama.cpp would abort on (a block count
//! of 0 or 1000, too many experts, an unknown RoPE scaling type, ...) and numbers that are not
//! finite are refused with FOCUSLLM_STATUS_MODEL_LOAD and a message naming the key and value.
//!
//! Each crafted model (the default model with one metadata value patched, see
//! `common::crafted_gguf`) is loaded through the C API in a child process (`common::child`),
//! so an abort shows as the child's death instead of ending the test run.

mod common;

use std::ffi::c_char;
use std::path::Path;

use common::child;
use common::crafted_gguf::{CraftedGguf, GgufValue, scratch_dir};
use focusllm::capi::last_error::focusllm_last_error_message;
use focusllm::capi::model::{focusllm_model, focusllm_model_default_params, focusllm_model_free, focusllm_model_load};
use focusllm::capi::status::focusllm_status;

/// The environment variable that tells `child_load` which file to load.
const CHILD_MODEL: &str = "FOCUSLLM_TEST_CHILD_MODEL";

/// What loading a crafted model must give.
#[derive(Debug)]
enum Expect {
    /// Status 0: the file is sound.
    Loads,
    /// FOCUSLLM_STATUS_MODEL_LOAD with a message holding every one of these pieces.
    Refused(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    craft: fn(&mut CraftedGguf),
    expect: Expect,
}

const CASES: &[Case] = &[
    Case {
        name: "unchanged (the crafting itself keeps the model loadable)",
        craft: |g| g.set("llama.block_count", GgufValue::U32(30)),
        expect: Expect::Loads,
    },
    Case {
        name: "block_count 0",
        craft: |g| g.set("llama.block_count", GgufValue::U32(0)),
        expect: Expect::Refused(&["llama.block_count is 0", "1..=512"]),
    },
    Case {
        name: "block_count 1000",
        craft: |g| g.set("llama.block_count", GgufValue::U32(1000)),
        expect: Expect::Refused(&["llama.block_count is 1000", "1..=512"]),
    },
    Case {
        name: "block_count 31 (in range, one layer's tensors missing: llama.cpp's own error)",
        craft: |g| g.set("llama.block_count", GgufValue::U32(31)),
        expect: Expect::Refused(&["blk.30"]),
    },
    Case {
        name: "rope.freq_base NaN",
        craft: |g| g.set("llama.rope.freq_base", GgufValue::F32(f32::NAN)),
        expect: Expect::Refused(&["llama.rope.freq_base is NaN", "finite"]),
    },
    Case {
        name: "rope.freq_base +inf",
        craft: |g| g.set("llama.rope.freq_base", GgufValue::F32(f32::INFINITY)),
        expect: Expect::Refused(&["llama.rope.freq_base is inf"]),
    },
    Case {
        name: "rope.freq_base 0",
        craft: |g| g.set("llama.rope.freq_base", GgufValue::F32(0.0)),
        expect: Expect::Refused(&["llama.rope.freq_base is 0", "positive"]),
    },
    Case {
        name: "layer_norm_rms_epsilon NaN",
        craft: |g| g.set("llama.attention.layer_norm_rms_epsilon", GgufValue::F32(f32::NAN)),
        expect: Expect::Refused(&["llama.attention.layer_norm_rms_epsilon is NaN"]),
    },
    Case {
        name: "nextn_predict_layers 31 (more than block_count)",
        craft: |g| g.set("llama.nextn_predict_layers", GgufValue::U32(31)),
        expect: Expect::Refused(&["llama.nextn_predict_layers is 31", "0..=30"]),
    },
    Case {
        name: "expert_count 2000",
        craft: |g| g.set("llama.expert_count", GgufValue::U32(2000)),
        expect: Expect::Refused(&["llama.expert_count is 2000", "0..=1024"]),
    },
    Case {
        name: "expert_used_count 2 without experts",
        craft: |g| g.set("llama.expert_used_count", GgufValue::U32(2)),
        expect: Expect::Refused(&["llama.expert_used_count is 2", "0..=0"]),
    },
    Case {
        name: "expert_used_count per layer, one above expert_count",
        craft: |g| {
            g.set("llama.expert_count", GgufValue::U32(4));
            let mut per_layer = vec![2; 30];
            per_layer[29] = 5;
            g.set_u32_array("llama.expert_used_count", &per_layer);
        },
        expect: Expect::Refused(&["llama.expert_used_count is 5", "1..=4"]),
    },
    Case {
        name: "rope.scaling.type unknown",
        craft: |g| g.set("llama.rope.scaling.type", GgufValue::Str("bogus".into())),
        expect: Expect::Refused(&["llama.rope.scaling.type is \"bogus\""]),
    },
    Case {
        name: "block_count of another type (llama.cpp's own type error)",
        craft: |g| g.set("llama.block_count", GgufValue::I32(0)),
        expect: Expect::Refused(&["llama.block_count", "wrong type"]),
    },
];

/// Loads `$FOCUSLLM_TEST_CHILD_MODEL` through the C API and reports the status and message.
/// Run only as the child of `crafted_models_get_a_status_not_a_death`.
#[test]
#[ignore = "the child process of crafted_models_get_a_status_not_a_death"]
fn child_load() {
    let (status, message) = load_through_c_api(&child::input(CHILD_MODEL));
    child::report("status", status);
    child::report("message", message);
}

fn load_through_c_api(path: &str) -> (i32, String) {
    let mut params = std::mem::MaybeUninit::uninit();
    // SAFETY: params has room for the struct whose size is passed.
    let status = unsafe { focusllm_model_default_params(params.as_mut_ptr(), size_of_val(&params)) };
    assert_eq!(status, focusllm_status::Ok);
    // SAFETY: written by focusllm_model_default_params.
    let params = unsafe { params.assume_init() };
    let mut model: *mut focusllm_model = std::ptr::null_mut();
    // SAFETY: path is valid UTF-8 of the given length; params and out_model are valid.
    let status = unsafe {
        focusllm_model_load(path.as_ptr() as *const c_char, path.len(), &params, None, std::ptr::null_mut(), &mut model)
    };
    let mut message = vec![0u8; 4096];
    // SAFETY: the buffer is writable for its length.
    let n = unsafe { focusllm_last_error_message(message.as_mut_ptr() as *mut c_char, message.len()) };
    message.truncate(n.min(message.len() - 1));
    // SAFETY: a model from focusllm_model_load, or NULL.
    unsafe { focusllm_model_free(model) };
    (status as i32, String::from_utf8_lossy(&message).into_owned())
}

/// Loads `model` in a child process: its status and message, or why the child died.
fn load_in_child(model: &Path) -> Result<(i32, String), String> {
    let reports = child::run("child_load", &[(CHILD_MODEL, &model.to_string_lossy())])?;
    let status = reports.get("status").and_then(|s| s.parse().ok()).ok_or("the child reported no status")?;
    Ok((status, reports.get("message").cloned().unwrap_or_default()))
}

#[test]
fn crafted_models_get_a_status_not_a_death() {
    let source = CraftedGguf::read(&common::default_model());
    let dir = scratch_dir("hparams");
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let mut crafted = source.clone();
        (case.craft)(&mut crafted);
        let path = crafted.write(&dir, &format!("case-{i}.gguf"));
        let outcome = load_in_child(&path);
        std::fs::remove_file(&path).ok();
        let ok = match (&case.expect, &outcome) {
            (Expect::Loads, Ok((0, _))) => true,
            (Expect::Refused(pieces), Ok((status, message))) => {
                *status == focusllm_status::ModelLoad as i32 && pieces.iter().all(|p| message.contains(p))
            }
            _ => false,
        };
        println!("{}: {:?} -> {outcome:?}", case.name, case.expect);
        if !ok {
            failures.push(format!("{}: expected {:?}, got {outcome:?}", case.name, case.expect));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}
