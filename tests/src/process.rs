//! Server processes the tests start (moto, the DNS server, the Lambda emulator): output in a log
//! file, a bounded wait until the server is ready, killed on drop, and the log shown when a test
//! fails.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{LOG_TAIL_BYTES, SETUP_HINT, TempDir, log_tail};

/// Why a server did not start.
pub(crate) enum Start {
    /// It exited before it was ready (say, a port taken between picking and binding): worth
    /// another try on a new port.
    Exited(io::Error),
    /// Anything else: no retry.
    Fatal(io::Error),
}

impl From<Start> for io::Error {
    fn from(start: Start) -> Self {
        match start {
            Start::Exited(error) | Start::Fatal(error) => error,
        }
    }
}

/// Runs `start` up to three times while the server exits early, and returns the first server
/// that starts or the last error.
pub(crate) fn with_retries<T>(
    name: &str,
    mut start: impl FnMut() -> Result<T, Start>,
) -> io::Result<T> {
    let mut last_error = None;
    for _ in 0..3 {
        match start() {
            Ok(server) => return Ok(server),
            Err(Start::Exited(error)) => last_error = Some(error),
            Err(Start::Fatal(error)) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other(format!("{name} did not start"))))
}

/// A running server process whose stdout and stderr go to a log file in its own temporary
/// directory; dropping it kills the process (or, for a group leader, its whole group).
pub(crate) struct ServerProcess {
    name: &'static str,
    child: Child,
    dir: TempDir,
    log: std::path::PathBuf,
    group: bool,
}

impl ServerProcess {
    /// Spawns `command` with stdin closed and its output in `dir`/`log_name`.
    ///
    /// With `group`, the process leads a process group of its own, so that dropping also stops
    /// what it started (a build, a function).
    pub(crate) fn spawn(
        name: &'static str,
        dir: TempDir,
        log_name: &str,
        mut command: Command,
        group: bool,
    ) -> Result<Self, Start> {
        let log = dir.path().join(log_name);
        let log_file = fs::File::create(&log).map_err(Start::Fatal)?;
        let log_file_err = log_file.try_clone().map_err(Start::Fatal)?;
        command
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_file_err);
        #[cfg(unix)]
        if group {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        let child = command.spawn().map_err(|error| {
            Start::Fatal(io::Error::new(
                error.kind(),
                format!("cannot start {name}: {error}: {SETUP_HINT}"),
            ))
        })?;
        Ok(Self {
            name,
            child,
            dir,
            log,
            group,
        })
    }

    /// Returns the path of the log file.
    pub(crate) fn log_path(&self) -> &Path {
        &self.log
    }

    /// Returns the last few kilobytes of the log, for error and assertion messages.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Polls `ready` every 100 ms until it holds.
    ///
    /// Fails with [`Start::Exited`] when the process exits first, and with [`Start::Fatal`]
    /// after `timeout`; `what` says what was awaited (`answer on port 4566`). Both errors carry
    /// the tail of the log.
    pub(crate) fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), Start> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Start::Exited(io::Error::other(format!(
                    "{} exited early ({status}); its log:\n{}",
                    self.name,
                    self.log_tail()
                ))));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Start::Fatal(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not {what} within {} s; its log:\n{}",
                        self.name,
                        timeout.as_secs(),
                        self.log_tail()
                    ),
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the process, and with `group` every process of its group.
    fn stop(&mut self) {
        #[cfg(unix)]
        if self.group {
            let group = format!("-{}", self.child.id());
            for signal in ["-TERM", "-KILL"] {
                // `kill` fails once no process of the group is left, which is the point.
                let _ = Command::new("kill")
                    .args([signal, "--", &group])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProcess")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("log", &self.log)
            .finish()
    }
}

impl Drop for ServerProcess {
    #[expect(
        clippy::print_stderr,
        reason = "a failing test shows the server's log: libtest prints captured stderr on failure"
    )]
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "--- {} log ({}), last {LOG_TAIL_BYTES} bytes ---\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
            // Keep the log for a look after the run.
            self.dir.keep();
        }
    }
}
