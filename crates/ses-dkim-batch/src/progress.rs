//! A progress bar on a terminal, nothing when stderr is not one; every stderr message goes
//! through here so that the bar never garbles a line.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar being drawn, if any, so that messages can be written around it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `write` with the bar, if any, cleared from the screen.
pub(crate) fn suspended<T>(write: impl FnOnce() -> T) -> T {
    let active = ACTIVE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match active {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// A `tracing` writer to stderr that keeps clear of the bar.
pub(crate) struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        suspended(|| io::stderr().lock().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Progress of a run: count, rate and time left at the configured pace.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    seconds_per_domain: f64,
}

impl Progress {
    /// Starts a bar when stderr is a terminal; the total is counted from the list file (a quick
    /// streaming pass), and unknown for standard input.
    pub(crate) fn start(list: Option<&Path>, _regions: usize, rate: f64) -> Self {
        // Regions are called in parallel, each at its own pace, so a domain takes one interval.
        let seconds_per_domain = if rate > 0.0 { 1.0 / rate } else { 0.0 };
        if !io::stderr().is_terminal() {
            return Self {
                bar: None,
                seconds_per_domain,
            };
        }

        let total = list
            .filter(|p| p.as_os_str() != "-")
            .and_then(count_entries);
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        };
        // The time so far, and what is left at the configured rate: the measured rate counts
        // skipped lines too and starts with an unpaced first call, so it says nothing useful.
        let template = if total.is_some() {
            "{bar:30} {pos}/{len} domains  {elapsed} so far  {msg}"
        } else {
            "{spinner} {pos} domains  {elapsed} so far  {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        bar.enable_steady_tick(Duration::from_millis(250));
        *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        Self {
            bar: Some(bar),
            seconds_per_domain,
        }
    }

    /// Moves the bar to `done` list entries (domains handled plus lines skipped).
    pub(crate) fn set_position(&self, done: u64) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(done);
        if let Some(total) = bar.length() {
            let left = total.saturating_sub(done) as f64 * self.seconds_per_domain;
            bar.set_message(format!("about {} left", human(left)));
        }
    }

    /// Writes a message to stderr with the fixed prefix, around the bar.
    pub(crate) fn println(&self, message: std::fmt::Arguments<'_>) {
        crate::report(message);
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Counts the lines of a list that are neither blank nor comments, or `None` if it cannot be
/// read.
fn count_entries(path: &Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    let mut count = 0;
    for line in io::BufReader::new(file).split(b'\n') {
        let line = line.ok()?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if !text.is_empty() && !text.starts_with('#') {
            count += 1;
        }
    }
    Some(count)
}

fn human(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    match seconds {
        0..=99 => format!("{seconds}s"),
        100..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_well() {
        assert_eq!(human(42.4), "42s");
        assert_eq!(human(3600.0 + 125.0), "1h02m");
        assert_eq!(human(150.0), "2m30s");
    }
}
