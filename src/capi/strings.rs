//! Strings across the boundary. In: `(const char *ptr, size_t len)`, UTF-8, no NUL needed;
//! `(NULL, 0)` is the empty string. Out: copied into a caller buffer, snprintf style.

use std::ffi::c_char;

use super::status::Failure;

/// Borrows the caller's `(ptr, len)` text as `&str`, checking what can be checked: a NULL
/// pointer with a non-zero length, a length no buffer can have, and invalid UTF-8. `what`
/// names the argument in the message.
///
/// # Safety
/// Unless `ptr` is NULL, it must point to `len` readable bytes that stay valid and unchanged
/// for the chosen lifetime `'a` (the duration of the export call).
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract (`len` readable bytes at `ptr` unless NULL).
    let bytes = unsafe { bytes_arg(ptr.cast(), len, what) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::argument(format!("{what} is not valid UTF-8 (invalid byte at offset {} of {len})", e.valid_up_to()))
    })
}

/// Borrows the caller's `(ptr, len)` array of `T` (see [`str_arg`] for the rules).
///
/// # Safety
/// Unless `ptr` is NULL, it must point to `len` initialised, aligned `T`s that stay valid for
/// the chosen lifetime `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::argument(format!("{what} is NULL but its length is {len}")));
    }
    match len.checked_mul(size_of::<T>().max(1)) {
        Some(bytes) if bytes <= isize::MAX as usize => {}
        _ => return Err(Failure::argument(format!("the length of {what} ({len}) is larger than any buffer can be"))),
    }
    if !ptr.is_aligned() {
        return Err(Failure::argument(format!("{what} is not aligned for its element type")));
    }
    // SAFETY: non-null, aligned, the total size fits isize (checked above); validity and
    // lifetime are the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// See [`slice_arg`]; bytes need no alignment.
///
/// # Safety
/// As for [`slice_arg`].
unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    // SAFETY: forwarded contract.
    unsafe { slice_arg(ptr, len, what) }
}

/// Copies `text` into `buffer` snprintf style: at most `buffer_len - 1` bytes, cut at a
/// character boundary, then a NUL. Nothing is written when `buffer` is NULL or `buffer_len`
/// is 0. Returns the number of text bytes written.
///
/// # Safety
/// Unless NULL, `buffer` must have `buffer_len` writable bytes.
pub(crate) unsafe fn copy_to_buffer(text: &str, buffer: *mut c_char, buffer_len: usize) -> usize {
    if buffer.is_null() || buffer_len == 0 {
        return 0;
    }
    let mut n = text.len().min(buffer_len - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: buffer has buffer_len >= n + 1 writable bytes; text and buffer cannot overlap
    // (text is owned by Rust).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), n);
        buffer.add(n).write(0);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_with_zero_length_is_the_empty_string() {
        // SAFETY: NULL with length 0 touches no memory.
        assert_eq!(unsafe { str_arg(std::ptr::null(), 0, "prompt") }, Ok(""));
    }

    #[test]
    fn bad_inputs_name_the_argument() {
        // SAFETY: every case is rejected before memory is read.
        let err = unsafe { str_arg(std::ptr::null(), 3, "prompt") }.unwrap_err();
        assert!(err.message.contains("prompt is NULL but its length is 3"), "{}", err.message);
        // SAFETY: an impossible length is rejected before memory is read.
        let err = unsafe { str_arg(c"x".as_ptr(), usize::MAX, "document") }.unwrap_err();
        assert!(err.message.contains("larger than any buffer"), "{}", err.message);
        let bad = [b'a', 0xff, b'b'];
        // SAFETY: `bad` has 3 readable bytes.
        let err = unsafe { str_arg(bad.as_ptr().cast(), 3, "question") }.unwrap_err();
        assert!(err.message.contains("not valid UTF-8 (invalid byte at offset 1"), "{}", err.message);
    }

    #[test]
    fn copies_are_cut_at_character_boundaries() {
        let mut buffer = [0x55 as c_char; 4];
        // "aé€": 1 + 2 + 3 bytes; 3 bytes of room fit "aé" exactly.
        // SAFETY: buffer has 4 writable bytes.
        let n = unsafe { copy_to_buffer("aé€", buffer.as_mut_ptr(), 4) };
        assert_eq!(n, 3);
        assert_eq!(buffer[3], 0);
        // SAFETY: as above; 2 bytes of room cut before the 2-byte "é".
        let n = unsafe { copy_to_buffer("aé€", buffer.as_mut_ptr(), 3) };
        assert_eq!((n, buffer[1]), (1, 0));
    }
}
