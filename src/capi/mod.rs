//! Unsafe island 2: the C ABI, and nothing else. `include/focusllm.h` is generated from these
//! files by `build.rs` (cbindgen); the conventions every export follows are written once, in
//! the header's banner (`cbindgen.toml`), and enforced here:
//!
//! - [`boundary`]: every export body runs inside `catch_unwind`; a panic becomes
//!   `FOCUSLLM_STATUS_PANIC` (or 0 / NULL where a function returns a value).
//! - [`status`]: the status enum (numbers never change) and the one `match` from
//!   [`crate::Error`] to a status; [`last_error`]: the per-thread message.
//! - [`handles`]: opaque handles (boxed, borrowed back, freed).
//! - [`strings`]: `(ptr, len)` UTF-8 inputs and caller-buffer outputs; [`sized`]: the
//!   `struct_size` rule that keeps parameter structs compatible across header versions.
//! - One file per exported object: [`model`], [`vocab`] (tokens, chat template, metadata),
//!   [`session`], [`cancel`] (per-call cancel
//!   tokens), [`run`] (a job on a session),
//!   [`generate_params`], [`document`] (processed documents), [`conversation`] (turns, and the
//!   passages an answer read), [`log`], [`version`].
//!
//! Names are C's (`focusllm_model`, `focusllm_status`), hence the lint allowances.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
// The safety contract of every export is the C header's: the conventions in its banner (valid
// pointers and lengths, handles made by this library and not yet freed) plus the function's
// own doc comment, which names what may be NULL. A Rust `# Safety` section would repeat the
// banner in every function of the generated header.
#![allow(clippy::missing_safety_doc)]

// The header lists functions in the order of these declarations (one per line, so that
// rustfmt keeps the order): errors first, then the objects.
pub mod boundary;

pub mod handles;

pub mod sized;

pub mod strings;

pub mod status;

pub mod last_error;

pub mod version;

pub mod log;

pub mod model;

pub mod vocab;

pub mod session;

pub mod cancel;

pub mod generate_params;

pub mod run;

pub mod document;

pub mod conversation;
