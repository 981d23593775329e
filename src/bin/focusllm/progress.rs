//! A small progress bar on stderr for long prefills and model loads. Redrawn in place on a
//! terminal; on a pipe, printed as a line every 10% so logs stay readable.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Bar {
    label: String,
    total: usize,
    done: usize,
    started: Instant,
    tty: bool,
    last_decile: usize,
    drawn: bool,
    /// Print nothing when stderr is not a terminal.
    tty_only: bool,
}

impl Bar {
    pub fn new(label: &str, total: usize) -> Self {
        Self::with_mode(label, total, false)
    }

    /// A bar that stays silent on a pipe (for short steps such as loading a model).
    pub fn tty_only(label: &str, total: usize) -> Self {
        Self::with_mode(label, total, true)
    }

    fn with_mode(label: &str, total: usize, tty_only: bool) -> Self {
        Bar {
            label: label.to_string(),
            total,
            done: 0,
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            last_decile: 0,
            drawn: false,
            tty_only,
        }
    }

    pub fn set_total(&mut self, total: usize) {
        self.total = total;
    }

    pub fn set(&mut self, done: usize) {
        self.done = done.min(self.total.max(done));
        if self.total == 0 {
            return;
        }
        let decile = self.done * 10 / self.total;
        if self.tty {
            self.draw("\r");
        } else if !self.tty_only && decile > self.last_decile {
            self.last_decile = decile;
            self.draw("");
            errln!();
        }
    }

    fn draw(&mut self, prefix: &str) {
        let width = 30;
        let filled = self.done * width / self.total.max(1);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { self.done as f64 / secs } else { 0.0 };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "{prefix}{}: [{}{}] {}/{} ({:.0}/s)",
            self.label,
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.done,
            self.total,
            rate
        );
        let _ = err.flush();
        self.drawn = true;
    }

    /// Ends the bar's line on a terminal.
    pub fn finish(&mut self) {
        if self.tty && self.drawn {
            errln!();
            self.drawn = false;
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
