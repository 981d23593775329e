//! Unit tests: GGUF byte buffers built in memory by a tiny test-only writer.

use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;

use super::{Array, GgufMetadata, Value, ValueType};
use crate::error::Error;

/// Test-only GGUF writer: header and metadata, no tensors.
fn gguf(version: u32, tensor_count: u64, kvs: &[(&str, Value)]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(version.to_le_bytes());
    out.extend(tensor_count.to_le_bytes());
    out.extend((kvs.len() as u64).to_le_bytes());
    for (key, value) in kvs {
        put_str(&mut out, key);
        out.extend(value.value_type().tag().to_le_bytes());
        put_value(&mut out, value);
    }
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.extend(x.to_le_bytes()),
        Value::I8(x) => out.extend(x.to_le_bytes()),
        Value::U16(x) => out.extend(x.to_le_bytes()),
        Value::I16(x) => out.extend(x.to_le_bytes()),
        Value::U32(x) => out.extend(x.to_le_bytes()),
        Value::I32(x) => out.extend(x.to_le_bytes()),
        Value::F32(x) => out.extend(x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::U64(x) => out.extend(x.to_le_bytes()),
        Value::I64(x) => out.extend(x.to_le_bytes()),
        Value::F64(x) => out.extend(x.to_le_bytes()),
        Value::Array(a) => {
            out.extend(a.element_type().tag().to_le_bytes());
            out.extend((a.len() as u64).to_le_bytes());
            let elems: Vec<Value> = match a {
                Array::U8(v) => v.iter().map(|&x| Value::U8(x)).collect(),
                Array::I8(v) => v.iter().map(|&x| Value::I8(x)).collect(),
                Array::U16(v) => v.iter().map(|&x| Value::U16(x)).collect(),
                Array::I16(v) => v.iter().map(|&x| Value::I16(x)).collect(),
                Array::U32(v) => v.iter().map(|&x| Value::U32(x)).collect(),
                Array::I32(v) => v.iter().map(|&x| Value::I32(x)).collect(),
                Array::F32(v) => v.iter().map(|&x| Value::F32(x)).collect(),
                Array::Bool(v) => v.iter().map(|&x| Value::Bool(x)).collect(),
                Array::String(v) => v.iter().map(|x| Value::String(x.clone())).collect(),
                Array::U64(v) => v.iter().map(|&x| Value::U64(x)).collect(),
                Array::I64(v) => v.iter().map(|&x| Value::I64(x)).collect(),
                Array::F64(v) => v.iter().map(|&x| Value::F64(x)).collect(),
            };
            for e in &elems {
                put_value(out, e);
            }
        }
    }
}

fn parse(bytes: &[u8]) -> crate::Result<GgufMetadata> {
    GgufMetadata::from_reader(Cursor::new(bytes), bytes.len() as u64, Path::new("t.gguf"))
}

/// The reason of a `Gguf` error; panics (failing the test) on success or another error.
fn reason(bytes: &[u8]) -> String {
    match parse(bytes) {
        Err(Error::Gguf { path, reason }) => {
            assert_eq!(path, Path::new("t.gguf"));
            reason
        }
        other => panic!("expected a Gguf error, got {other:?}"),
    }
}

fn every_type() -> Vec<(&'static str, Value)> {
    vec![
        ("u8", Value::U8(200)),
        ("i8", Value::I8(-5)),
        ("u16", Value::U16(60000)),
        ("i16", Value::I16(-30000)),
        ("u32", Value::U32(4_000_000_000)),
        ("i32", Value::I32(-7)),
        ("f32", Value::F32(1.5)),
        ("bool", Value::Bool(true)),
        ("str", Value::String("héllo 🙂".into())),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f64", Value::F64(-2.25)),
        ("arr.u8", Value::Array(Array::U8(vec![1, 2, 255]))),
        ("arr.i8", Value::Array(Array::I8(vec![-1]))),
        ("arr.u16", Value::Array(Array::U16(vec![1, 65535]))),
        ("arr.i16", Value::Array(Array::I16(vec![-2]))),
        ("arr.u32", Value::Array(Array::U32(vec![3, 4]))),
        ("arr.i32", Value::Array(Array::I32(vec![1, 3, 4]))),
        ("arr.f32", Value::Array(Array::F32(vec![0.5, -1.0]))),
        ("arr.bool", Value::Array(Array::Bool(vec![true, false]))),
        ("arr.str", Value::Array(Array::String(vec!["a".into(), "".into(), "Ġt".into()]))),
        ("arr.u64", Value::Array(Array::U64(vec![9]))),
        ("arr.i64", Value::Array(Array::I64(vec![-9]))),
        ("arr.f64", Value::Array(Array::F64(vec![0.125]))),
        ("arr.empty", Value::Array(Array::String(vec![]))),
    ]
}

#[test]
fn round_trips_every_value_type_in_both_versions() {
    for version in [2, 3] {
        let kvs = every_type();
        let bytes = gguf(version, 7, &kvs);
        let meta = parse(&bytes).expect("valid file");
        assert_eq!(meta.version(), version);
        assert_eq!(meta.tensor_count(), 7);
        assert_eq!(meta.len(), kvs.len());
        assert_eq!(meta.metadata_end(), bytes.len() as u64);
        for ((key, want), (got_key, got)) in kvs.iter().zip(meta.iter()) {
            assert_eq!(*key, got_key, "file order is kept");
            assert_eq!(want, got, "value of {key}");
        }
    }
}

#[test]
fn typed_accessors() {
    let bytes = gguf(3, 0, &every_type());
    let m = parse(&bytes).unwrap();
    assert_eq!(m.get_str("str").unwrap(), "héllo 🙂");
    assert_eq!(m.get_u32("u32").unwrap(), 4_000_000_000);
    assert_eq!(m.get_u32("u8").unwrap(), 200, "smaller unsigned ints widen");
    assert_eq!(m.get_u64("u64").unwrap(), u64::MAX);
    assert_eq!(m.get_f32("f64").unwrap(), -2.25);
    assert!(m.get_bool("bool").unwrap());
    assert_eq!(m.get_string_array("arr.str").unwrap(), ["a", "", "Ġt"]);
    assert_eq!(m.get_i32_array("arr.i32").unwrap(), [1, 3, 4]);
    assert_eq!(m.get_f32_array("arr.f32").unwrap(), [0.5, -1.0]);
    assert_eq!(m.get_bool_opt("nope").unwrap(), None);
    assert!(m.get("nope").is_none());
}

#[test]
fn accessor_errors_name_the_key_and_the_type() {
    let bytes = gguf(3, 0, &every_type());
    let m = parse(&bytes).unwrap();
    let missing = m.get_str("general.architecture").unwrap_err().to_string();
    assert!(missing.contains("missing key 'general.architecture'"), "{missing}");
    let wrong = m.get_str("u32").unwrap_err().to_string();
    assert!(wrong.contains("key 'u32' holds u32 (4000000000), expected a string"), "{wrong}");
    let neg = m.get_u32("i32").unwrap_err().to_string();
    assert!(neg.contains("holds i32 (-7)"), "{neg}");
    let arr = m.get_string_array("arr.i32").unwrap_err().to_string();
    assert!(arr.contains("holds arr[i32; 3]"), "{arr}");
    assert!(arr.contains("t.gguf"), "the path is named: {arr}");
}

#[test]
fn trailing_tensor_data_is_not_read() {
    let mut bytes = gguf(3, 1, &[("a", Value::U32(1))]);
    let end = bytes.len() as u64;
    bytes.extend([0xAB; 1000]);
    let m = parse(&bytes).unwrap();
    assert_eq!(m.metadata_end(), end);
}

#[test]
fn bad_magic_shows_the_first_bytes() {
    let r = reason(b"\x7fELF\x02\x01\x01\x00");
    assert!(r.contains("not a GGUF file"), "{r}");
    assert!(r.contains("7f 45 4c 46"), "{r}");
    let r = reason(b"GG");
    assert!(r.contains("47 47") && r.contains("only 2 bytes long"), "{r}");
    let r = reason(b"");
    assert!(r.contains("starts with nothing"), "{r}");
}

#[test]
fn unsupported_versions() {
    let r = reason(&gguf(1, 0, &[]));
    assert!(r.contains("unsupported GGUF version 1") && r.contains("32-bit"), "{r}");
    let r = reason(&gguf(4, 0, &[]));
    assert!(r.contains("unsupported GGUF version 4"), "{r}");
    let r = reason(&gguf(3u32.swap_bytes(), 0, &[]));
    assert!(r.contains("big-endian"), "{r}");
}

#[test]
fn every_truncation_is_an_error_naming_the_offset() {
    let bytes = gguf(3, 2, &every_type());
    for cut in 0..bytes.len() {
        let r = reason(&bytes[..cut]);
        assert!(r.contains("truncated") || r.contains("not a GGUF file"), "cut at {cut}: {r}");
        if cut >= 4 {
            assert!(r.contains("byte"), "cut at {cut}: {r}");
        }
    }
}

#[test]
fn truncation_message_says_what_was_being_read() {
    let bytes = gguf(3, 0, &[("general.name", Value::String("abcdef".into()))]);
    let r = reason(&bytes[..bytes.len() - 2]);
    assert!(r.contains("value of key 'general.name'"), "{r}");
    assert!(r.contains("truncated or corrupt"), "{r}");
    let r = reason(&bytes[..10]);
    assert!(r.contains("truncated at byte 8 while reading the tensor count"), "{r}");
}

/// A file with one key whose value bytes are `raw` (tag included).
fn with_raw_value(key: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = gguf(3, 0, &[]);
    out[16..24].copy_from_slice(&1u64.to_le_bytes());
    put_str(&mut out, key);
    out.extend(raw);
    out
}

#[test]
fn absurd_string_length_is_refused_without_allocating() {
    let mut raw = ValueType::String.tag().to_le_bytes().to_vec();
    raw.extend(u64::MAX.to_le_bytes());
    let r = reason(&with_raw_value("k", &raw));
    assert!(r.contains("claims a length of 18446744073709551615 bytes"), "{r}");
    assert!(r.contains("truncated or corrupt"), "{r}");
}

#[test]
fn absurd_key_length_is_refused() {
    let mut bytes = gguf(3, 0, &[]);
    bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
    bytes.extend((1u64 << 40).to_le_bytes());
    bytes.extend([0u8; 16]);
    let r = reason(&bytes);
    assert!(r.contains("the key of pair #0 at byte 24 claims a length"), "{r}");
}

#[test]
fn absurd_array_length_is_refused_without_allocating() {
    let mut raw = ValueType::Array.tag().to_le_bytes().to_vec();
    raw.extend(ValueType::String.tag().to_le_bytes());
    raw.extend((u64::MAX / 2).to_le_bytes());
    raw.extend([0u8; 64]);
    let r = reason(&with_raw_value("tokenizer.ggml.tokens", &raw));
    assert!(r.contains("array 'tokenizer.ggml.tokens'"), "{r}");
    assert!(r.contains("claims 9223372036854775807 elements of type str"), "{r}");
}

#[test]
fn absurd_kv_count_is_refused() {
    let mut bytes = gguf(3, 0, &[]);
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    let r = reason(&bytes);
    assert!(r.contains("announces 18446744073709551615 key/value pairs"), "{r}");
}

#[test]
fn unknown_type_tags_are_refused() {
    let r = reason(&with_raw_value("k", &13u32.to_le_bytes()));
    assert!(r.contains("key 'k' has unknown value type 13"), "{r}");
    let mut raw = ValueType::Array.tag().to_le_bytes().to_vec();
    raw.extend(99u32.to_le_bytes());
    raw.extend(0u64.to_le_bytes());
    let r = reason(&with_raw_value("k", &raw));
    assert!(r.contains("array 'k' has unknown element type 99"), "{r}");
}

#[test]
fn nested_arrays_are_refused() {
    let mut raw = ValueType::Array.tag().to_le_bytes().to_vec();
    raw.extend(ValueType::Array.tag().to_le_bytes());
    raw.extend(0u64.to_le_bytes());
    let r = reason(&with_raw_value("k", &raw));
    assert!(r.contains("nested arrays are not supported"), "{r}");
}

#[test]
fn invalid_utf8_and_bad_bool_are_refused() {
    let mut raw = ValueType::String.tag().to_le_bytes().to_vec();
    raw.extend(3u64.to_le_bytes());
    raw.extend(b"a\xffb");
    let r = reason(&with_raw_value("k", &raw));
    assert!(r.contains("not valid UTF-8 (invalid byte at string offset 1)"), "{r}");

    let mut raw = ValueType::Bool.tag().to_le_bytes().to_vec();
    raw.push(2);
    let r = reason(&with_raw_value("k", &raw));
    assert!(r.contains("bool with byte value 2"), "{r}");
}

#[test]
fn duplicate_keys_are_refused() {
    let bytes = gguf(3, 0, &[("a", Value::U8(1)), ("a", Value::U8(2))]);
    let r = reason(&bytes);
    assert!(r.contains("duplicate key 'a'"), "{r}");
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = GgufMetadata::read("/nonexistent/model.gguf").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
}

proptest! {
    /// Arbitrary bytes after a valid header never panic and never succeed by accident with
    /// more pairs than the data could hold.
    #[test]
    fn random_metadata_never_panics(kv_count in 0u64..8, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = gguf(3, 0, &[]);
        bytes[16..24].copy_from_slice(&kv_count.to_le_bytes());
        bytes.extend(&body);
        if let Ok(m) = parse(&bytes) {
            prop_assert_eq!(m.len() as u64, kv_count);
        }
    }

    /// Flipping one byte of a valid file gives a valid file or a clean error, never a panic.
    #[test]
    fn single_byte_corruption_never_panics(pos in 0usize..4096, byte in any::<u8>()) {
        let mut bytes = gguf(3, 1, &every_type());
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        let _ = parse(&bytes);
    }
}
