//! The list as `status` and `check` read it: a stream of lines turned into batches of unique,
//! valid domains, so that each batch fits one `GetIdentityDkimAttributes` call and memory stays
//! flat whatever the list's size.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal};
use std::path::Path;

use ses_dkim_batch::list::{DomainList, Entry};
use ses_dkim_batch::state::SeenSet;
use ses_dkim_core::Domain;
use tokio::sync::mpsc;
use tracing::info;

use crate::report;
use crate::verify::{EXIT_CONFIG, EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK};

/// One domain of the list, with where it stands.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// The 1-based line number.
    pub(crate) line: u64,
    /// The domain, normalised.
    pub(crate) domain: Domain,
}

/// What reading the list came to, besides the domains.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ListCounts {
    /// Lines that hold no valid domain (each reported as `path:line: message`).
    pub(crate) invalid: u64,
    /// Domains listed before, skipped.
    pub(crate) duplicates: u64,
    /// The list could not be read to the end.
    pub(crate) unread: bool,
}

impl ListCounts {
    /// Says what was skipped and how long the run took, as `verify`'s summary does.
    pub(crate) fn describe(&self, seconds: f64) -> String {
        let lines = if self.invalid == 1 { "line" } else { "lines" };
        let duplicates = if self.duplicates == 1 {
            "duplicate"
        } else {
            "duplicates"
        };
        format!(
            "{} invalid {lines}, {} {duplicates} skipped in {seconds:.1}s",
            self.invalid, self.duplicates
        )
    }
}

/// Why the records or rows could no longer be written, which ends the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputEnd {
    /// The reader went away: a closed pipe, as after `| head`.
    Closed,
    /// Any other write error (a full disk, say), reported when it happened.
    Failed,
}

impl OutputEnd {
    /// Classifies a failed write of `what` ("records", "report"), reporting it unless the
    /// reader merely went away.
    pub(crate) fn of(error: &io::Error, what: &str) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            Self::Closed
        } else {
            report(format_args!("error: cannot write the {what}: {error}"));
            Self::Failed
        }
    }
}

/// How a run ended before the end of its list, for the summary every command prints.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunEnd {
    /// Ctrl-C interrupted the run.
    pub(crate) interrupted: bool,
    /// An error that every further call would repeat stopped the run.
    pub(crate) stopped: bool,
    /// The output could no longer be written.
    pub(crate) output: Option<OutputEnd>,
    /// The list could not be read to the end.
    pub(crate) unread: bool,
}

impl RunEnd {
    /// Returns `true` when the run ended before its list did, for any reason.
    pub(crate) fn early(&self) -> bool {
        self.interrupted || self.stopped || self.output.is_some() || self.unread
    }

    /// Returns the exit status of a run that ended this way: 130 after Ctrl-C; 2 when an error
    /// that every call would repeat stopped it before `anything_done` (a configuration error,
    /// in effect); 0 when everything was `in_order` and the run reached the end of its list;
    /// 1 otherwise.
    pub(crate) fn exit_status(&self, anything_done: bool, in_order: bool) -> u8 {
        if self.interrupted {
            EXIT_INTERRUPTED
        } else if self.stopped && !anything_done {
            EXIT_CONFIG
        } else if in_order && !self.early() {
            EXIT_OK
        } else {
            EXIT_FAILURES
        }
    }

    /// Appends the clauses that say how the run ended early, leaving the remaining domains not
    /// `done` (such as "attempted").
    pub(crate) fn describe(&self, line: &mut String, done: &str) {
        let mut remaining = |why: &str| {
            line.push_str("; ");
            line.push_str(why);
            line.push_str(", the remaining domains were not ");
            line.push_str(done);
        };
        if self.interrupted {
            remaining("interrupted");
        }
        if self.stopped {
            remaining("stopped early");
        }
        match self.output {
            Some(OutputEnd::Closed) => remaining("the output was closed"),
            Some(OutputEnd::Failed) => remaining("the output could not be written"),
            None => {}
        }
        if self.unread {
            line.push_str("; the list could not be read to the end");
        }
    }
}

/// Reads a list on its own thread and hands out its domains in batches.
///
/// Blank lines and comments are skipped; invalid lines are reported and counted; a domain listed
/// again (after normalising case, a trailing dot and internationalised names) is skipped, with
/// the set of domains seen kept on disk rather than in memory.
pub(crate) struct Batches {
    receiver: mpsc::Receiver<io::Result<Entry>>,
    name: String,
    seen: SeenSet,
    size: usize,
    counts: ListCounts,
    done: bool,
    /// Whether any new domain was handed out yet.
    listed: bool,
}

impl Batches {
    /// Opens `path` (standard input for `-` or nothing) and starts reading it.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened or the duplicate set cannot be created.
    pub(crate) fn open(path: Option<&Path>, size: usize) -> Result<Self, String> {
        let (source, name) = open_source(path)?;
        let seen =
            SeenSet::new().map_err(|e| format!("cannot create a temporary database: {e}"))?;
        let (sender, receiver) = mpsc::channel(256);
        // A slow pipe never stalls the calls in flight; the bounded channel keeps memory flat.
        std::thread::spawn(move || {
            for entry in DomainList::new(source) {
                let stop = entry.is_err();
                if sender.blocking_send(entry).is_err() || stop {
                    break;
                }
            }
        });
        Ok(Self {
            receiver,
            name,
            seen,
            size: size.max(1),
            counts: ListCounts::default(),
            done: false,
            listed: false,
        })
    }

    /// Returns the name used in `path:line:` messages (`<stdin>` for standard input).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Returns what was skipped so far.
    pub(crate) fn counts(&self) -> ListCounts {
        self.counts
    }

    /// Returns the next batch of up to `size` new domains, or `None` at the end of the list.
    ///
    /// # Errors
    ///
    /// Fails when the duplicate set cannot be written; the run cannot go on then.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<Listed>>, String> {
        let mut batch = Vec::with_capacity(self.size);
        while !self.done && batch.len() < self.size {
            let Some(entry) = self.receiver.recv().await else {
                self.done = true;
                break;
            };
            let Entry { line, item } = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    report(format_args!("{}: cannot read the list: {e}", self.name));
                    self.counts.unread = true;
                    self.done = true;
                    break;
                }
            };
            let domain = match item {
                Ok(domain) => domain,
                Err(e) => {
                    report(format_args!("{}:{line}: {e}", self.name));
                    self.counts.invalid += 1;
                    continue;
                }
            };
            let new = self
                .seen
                .insert(&domain)
                .map_err(|e| format!("the duplicate set failed: {e}"))?;
            if !new {
                info!("{}:{line}: {domain} was listed before; skipped", self.name);
                self.counts.duplicates += 1;
                continue;
            }
            batch.push(Listed { line, domain });
        }
        if batch.is_empty() {
            let counts = self.counts;
            if !self.listed && !counts.unread && counts.invalid == 0 && counts.duplicates == 0 {
                report(format_args!("{}: no domains in the list", self.name));
                // Said once, however often the end is asked for.
                self.listed = true;
            }
            return Ok(None);
        }
        self.listed = true;
        Ok(Some(batch))
    }
}

/// Where the list comes from.
enum Source {
    Stdin,
    File(BufReader<File>),
}

impl io::Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Stdin => io::stdin().lock().read(buf),
            Self::File(file) => file.read(buf),
        }
    }
}

fn open_source(path: Option<&Path>) -> Result<(BufReader<Source>, String), String> {
    match path {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let file = File::open(path).map_err(|e| format!("cannot open `{name}`: {e}"))?;
            // Opening a directory works; reading it would fail only after the run has started.
            if file.metadata().is_ok_and(|meta| meta.is_dir()) {
                return Err(format!(
                    "`{name}` is a directory: name a file with one domain a line"
                ));
            }
            Ok((BufReader::new(Source::File(BufReader::new(file))), name))
        }
        _ => {
            if io::stdin().is_terminal() {
                report(format_args!(
                    "reading domains from standard input, one a line; end with Ctrl-D"
                ));
            }
            Ok((BufReader::new(Source::Stdin), "<stdin>".to_owned()))
        }
    }
}

/// Returns `place` for one domain, with the region when the run covers several.
pub(crate) fn label(list: &str, listed: &Listed, region: Option<&str>) -> String {
    match region {
        Some(region) => format!("{list}:{}: {} ({region})", listed.line, listed.domain),
        None => format!("{list}:{}: {}", listed.line, listed.domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_summary_ends_the_same_way() {
        let mut line = String::from("2 verified");
        let finished = RunEnd::default();
        finished.describe(&mut line, "checked");
        assert_eq!(line, "2 verified");
        assert!(!finished.early());
        let everything = RunEnd {
            interrupted: true,
            stopped: true,
            output: Some(OutputEnd::Closed),
            unread: true,
        };
        everything.describe(&mut line, "checked");
        assert_eq!(
            line,
            "2 verified; interrupted, the remaining domains were not checked; stopped early, the \
             remaining domains were not checked; the output was closed, the remaining domains \
             were not checked; the list could not be read to the end"
        );
        for end in [
            RunEnd {
                output: Some(OutputEnd::Failed),
                ..RunEnd::default()
            },
            RunEnd {
                unread: true,
                ..RunEnd::default()
            },
        ] {
            assert!(end.early(), "{end:?}");
        }
    }

    #[test]
    fn a_closed_pipe_is_told_apart_from_other_write_errors() {
        let closed = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(OutputEnd::of(&closed, "records"), OutputEnd::Closed);
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert_eq!(OutputEnd::of(&full, "records"), OutputEnd::Failed);
    }

    #[tokio::test]
    async fn batches_hold_unique_domains_up_to_the_size() {
        let dir = std::env::temp_dir().join(format!("ses-dkim-listing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("list.txt");
        std::fs::write(
            &path,
            "a.example\n# c\nb.example\nA.example.\nbad domain\nc.example\n",
        )
        .unwrap();

        let mut batches = Batches::open(Some(&path), 2).unwrap();
        let first = batches.next().await.unwrap().unwrap();
        let names: Vec<&str> = first.iter().map(|l| l.domain.as_str()).collect();
        assert_eq!(names, ["a.example", "b.example"]);
        let second = batches.next().await.unwrap().unwrap();
        assert_eq!(
            (second[0].line, second[0].domain.as_str()),
            (6, "c.example")
        );
        assert!(batches.next().await.unwrap().is_none());
        let counts = batches.counts();
        assert_eq!(
            (counts.invalid, counts.duplicates, counts.unread),
            (1, 1, false)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
