//! The cell arithmetic contexts are sized with.

/// llama.cpp rounds a context's cells (and each sequence's share of them) up to a multiple of
/// this; sizing with the same rounding gives what llama.cpp will allocate.
pub(crate) const CELL_PADDING: usize = 256;

/// `cells` rounded up to llama.cpp's cell padding.
pub(crate) fn pad_cells(cells: usize) -> usize {
    cells.div_ceil(CELL_PADDING) * CELL_PADDING
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_up_to_whole_blocks_of_256() {
        assert_eq!(pad_cells(0), 0);
        assert_eq!(pad_cells(1), 256);
        assert_eq!(pad_cells(256), 256);
        assert_eq!(pad_cells(257), 512);
    }
}
