//! The `struct_size` rule that lets parameter and result structs grow without breaking
//! programs compiled against an older `focusllm.h`.
//!
//! Every such struct is `#[repr(C)]` and starts with `size_t struct_size`, which the caller
//! sets to `sizeof` the struct as its header declares it. The library then:
//! - reads (or, for results, writes) only the first `struct_size` bytes, so fields a newer
//!   library has and an older program lacks keep their defaults (or are not written);
//! - rejects 0, a size that ends inside a field, and a size larger than its own struct (a
//!   program built against a newer header than the library) with FOCUSLLM_STATUS_STRUCT_SIZE.
//!
//! Rules for changing a struct (checked by the tests below and pinned in `tests/c`):
//! fields are only ever appended, never reordered, resized or removed; and a new field must
//! start at or after the previous version's `sizeof`, which may include tail padding (when the
//! natural offset would fall inside that padding, add an explicit `_reserved` field first).
//! Each struct lists how many fields each published ABI version had (`FIELDS_PER_VERSION`).

use super::status::{Failure, focusllm_status};
use super::version::FOCUSLLM_ABI_VERSION;

/// One field of a versioned struct (after `struct_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

impl Field {
    fn end(&self) -> usize {
        self.offset + self.size
    }
}

/// A `#[repr(C)]` struct that starts with `struct_size: usize`.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, have `struct_size: usize` as their first field, list
/// every other field in [`Versioned::fields`], and have only fields for which every value a C
/// program can store is valid (integers, floats, raw pointers, `bool` as C's `bool`,
/// `Option<extern fn>`; a struct the library only writes may hold Rust enums). Implement it with the `versioned!` macro.
pub unsafe trait Versioned: Sized {
    /// The C name, for messages.
    const NAME: &'static str;
    /// How many fields (after `struct_size`) each published ABI version had, oldest first.
    const FIELDS_PER_VERSION: &'static [usize];
    /// The library's values, `struct_size` included (= `size_of::<Self>()`).
    fn defaults() -> Self;
    /// Every field after `struct_size`, in declaration order.
    fn fields() -> Vec<Field>;
}

/// Implements [`Versioned`] for a struct:
/// `versioned!(name, defaults_expr, versions = &[n1, ...], [field, ...])`.
macro_rules! versioned {
    ($ty:ident, $defaults:expr, versions = $versions:expr, [$($field:ident),+ $(,)?]) => {
        // SAFETY: the struct is #[repr(C)] with `struct_size: usize` first, every other field is
        // listed here (the `layouts_are_complete` test checks it) and of a C-representable type.
        unsafe impl $crate::capi::sized::Versioned for $ty {
            const NAME: &'static str = stringify!($ty);
            const FIELDS_PER_VERSION: &'static [usize] = $versions;
            fn defaults() -> Self {
                $defaults
            }
            fn fields() -> Vec<$crate::capi::sized::Field> {
                let d = <Self as $crate::capi::sized::Versioned>::defaults();
                vec![$($crate::capi::sized::Field {
                    name: stringify!($field),
                    offset: ::std::mem::offset_of!($ty, $field),
                    size: ::std::mem::size_of_val(&d.$field),
                }),+]
            }
        }
    };
}
pub(crate) use versioned;

fn size_failure(message: String) -> Failure {
    Failure::new(focusllm_status::StructSize, message)
}

/// Checks a caller's `struct_size` for `T`; `hint` says how the caller should set it.
pub(crate) fn check_size<T: Versioned>(size: usize, hint: &str) -> Result<(), Failure> {
    let name = T::NAME;
    let max = size_of::<T>();
    if size == 0 {
        return Err(size_failure(format!("{name}.struct_size is 0; {hint}")));
    }
    if size < size_of::<usize>() {
        return Err(size_failure(format!("{name}.struct_size {size} is smaller than struct_size itself; {hint}")));
    }
    if size > max {
        return Err(size_failure(format!(
            "{name}.struct_size {size} is larger than this library's {name} ({max} bytes): the program was \
             compiled against a newer focusllm.h than the library it runs with (library ABI version \
             {FOCUSLLM_ABI_VERSION}); use the header that came with the library"
        )));
    }
    if let Some(cut) = T::fields().into_iter().find(|f| f.offset < size && size < f.end()) {
        return Err(size_failure(format!(
            "{name}.struct_size {size} ends inside field {} (bytes {}..{}); it must be sizeof({name}) \
             from a focusllm.h; {hint}",
            cut.name,
            cut.offset,
            cut.end()
        )));
    }
    Ok(())
}

/// Reads the caller's struct: its first `struct_size` bytes over the library's defaults.
///
/// # Safety
/// Unless NULL, `ptr` must point to a readable struct of at least its own `struct_size` bytes,
/// written by a C program (see [`Versioned`]).
pub(crate) unsafe fn read<T: Versioned>(ptr: *const T, what: &str, hint: &str) -> Result<T, Failure> {
    // SAFETY: the caller's contract covers checked_size's (a readable leading size_t).
    let size = unsafe { checked_size(ptr, what, hint)? };
    let mut value = T::defaults();
    // SAFETY: the caller's struct has `size` readable bytes; `value` has size_of::<T>() >= size
    // bytes; the regions are distinct. `size` ends on a field boundary (checked), so every
    // field is either copied whole or keeps its default, and any bytes a C program stores in
    // these fields are valid for them (Versioned's contract).
    unsafe { std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), (&raw mut value).cast::<u8>(), size) };
    Ok(value)
}

/// Reads `struct_size` from an output struct the caller provides, checking it.
///
/// # Safety
/// Unless NULL, `ptr` must point to a struct whose first field is a readable `size_t`.
pub(crate) unsafe fn output_size<T: Versioned>(ptr: *mut T, what: &str, hint: &str) -> Result<usize, Failure> {
    // SAFETY: same contract as checked_size.
    unsafe { checked_size(ptr.cast_const(), what, hint) }
}

/// The caller's `struct_size`, after checking the pointer (non-NULL, aligned) and the size.
///
/// # Safety
/// Unless NULL, `ptr` must point to a struct whose first field is a readable `size_t`.
unsafe fn checked_size<T: Versioned>(ptr: *const T, what: &str, hint: &str) -> Result<usize, Failure> {
    if ptr.is_null() {
        return Err(Failure::argument(format!("{what} is NULL")));
    }
    if !ptr.is_aligned() {
        return Err(Failure::argument(format!("{what} is not aligned for {}", T::NAME)));
    }
    // SAFETY: non-null and aligned; every version of T starts with a size_t struct_size.
    let size = unsafe { ptr.cast::<usize>().read() };
    check_size::<T>(size, hint)?;
    Ok(size)
}

/// Writes the first `size` bytes of `value` to the caller's struct and sets its struct_size
/// to `size`; bytes past `size` are not touched.
///
/// # Safety
/// `ptr` must be non-null, aligned and point to `size` writable bytes; `size` must have passed
/// [`check_size`] for `T`.
pub(crate) unsafe fn write<T: Versioned>(ptr: *mut T, size: usize, value: &T) {
    debug_assert!(size <= size_of::<T>());
    // SAFETY: per the contract, ptr has `size` writable bytes and value has size_of::<T>() >=
    // size bytes; the regions are distinct. Padding bytes copied along are never read as
    // values. The first field is struct_size (a usize), overwritten with the caller's size.
    unsafe {
        std::ptr::copy_nonoverlapping((&raw const *value).cast::<u8>(), ptr.cast::<u8>(), size);
        ptr.cast::<usize>().write(size);
    }
}

/// Fills the caller's struct with the library's defaults (its first `size` bytes) and sets
/// its struct_size to `size`: what every `focusllm_*_default_params(params, sizeof *params)`
/// does.
///
/// # Safety
/// Unless NULL, `ptr` must point to `size` writable bytes.
pub(crate) unsafe fn write_defaults<T: Versioned>(ptr: *mut T, size: usize) -> Result<(), Failure> {
    if ptr.is_null() {
        return Err(Failure::argument("params is NULL"));
    }
    if !ptr.is_aligned() {
        return Err(Failure::argument(format!("params is not aligned for {}", T::NAME)));
    }
    check_size::<T>(size, &format!("pass sizeof({})", T::NAME))?;
    // SAFETY: non-null, aligned, `size` writable bytes (caller), size checked for T.
    unsafe { write(ptr, size, &T::defaults()) };
    Ok(())
}

/// Layout checks shared by the tests of every versioned struct.
#[cfg(test)]
pub(crate) fn assert_layout<T: Versioned>() {
    let fields = T::fields();
    let name = T::NAME;
    let mut end = size_of::<usize>();
    for field in &fields {
        assert!(field.offset >= end, "{name}.{} overlaps the field before it", field.name);
        // Fields are C primitives, whose alignment is their size: a gap as large as the
        // field means a field is missing from the versioned! list.
        assert!(field.offset - end < field.size, "{name}: a field before {} is not listed", field.name);
        end = field.end();
    }
    assert!(size_of::<T>() - end < align_of::<T>(), "{name}: a field after the last listed one is not listed");
    // The append rule: a field added after a version starts at or after that version's sizeof.
    let align = |n: usize| fields[..n].iter().map(|f| f.size).fold(size_of::<usize>(), usize::max);
    // A `_reserved` field may fill that tail padding (an older program's bytes there are
    // never read); the first real field after it must start past it.
    for &n in T::FIELDS_PER_VERSION {
        let version_size = fields[n - 1].end().next_multiple_of(align(n));
        if let Some(next) = fields[n..].iter().find(|f| !f.name.starts_with("_reserved")) {
            assert!(next.offset >= version_size, "{name}.{} starts inside an older version's tail padding", next.name);
        }
    }
    assert_eq!(T::FIELDS_PER_VERSION.last(), Some(&fields.len()), "{name}: the current version is not recorded");
}
