//! Durable results and the run's duplicate set, in SQLite.
//!
//! With `--state FILE`, every (domain, region) result is written to the file the moment SES
//! answers, in its own transaction (WAL, `synchronous=FULL`), so `kill -9` at any point loses
//! nothing SES already returned and leaves a readable database. A later run with the same file
//! skips what is done and still prints its records.
//!
//! Duplicates within one run are tracked in a private on-disk database that SQLite deletes on
//! close, so memory stays flat however long the list is.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use ses_dkim_core::{DkimToken, Domain, Region};

/// What the state file holds for one domain in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// SES returned these tokens.
    Verified {
        /// The tokens, in SES's order.
        tokens: Vec<DkimToken>,
        /// The SES request id of the call.
        request_id: Option<String>,
    },
    /// The last attempt failed.
    Failed {
        /// The error's kind, as [`ses_dkim_core::ErrorKind::as_str`] names it.
        kind: String,
        /// The error message.
        message: String,
    },
}

/// The results of earlier runs, keyed by (domain, region).
pub struct StateStore {
    connection: Connection,
}

impl StateStore {
    /// Opens (or creates) a state file.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened or is not a ses-dkim state database.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS results (
                 domain      TEXT NOT NULL,
                 region      TEXT NOT NULL,
                 outcome     TEXT NOT NULL CHECK (outcome IN ('verified', 'failed')),
                 tokens      TEXT,
                 request_id  TEXT,
                 error_kind  TEXT,
                 error       TEXT,
                 updated_at  INTEGER NOT NULL,
                 PRIMARY KEY (domain, region)
             ) WITHOUT ROWID;",
        )?;
        Ok(Self { connection })
    }

    /// Returns the stored result for a domain in a region.
    ///
    /// # Errors
    ///
    /// Fails when the database cannot be read.
    pub fn get(&self, domain: &Domain, region: &Region) -> rusqlite::Result<Option<Stored>> {
        let row = self
            .connection
            .prepare_cached(
                "SELECT outcome, tokens, request_id, error_kind, error FROM results
                 WHERE domain = ?1 AND region = ?2",
            )?
            .query_row(params![domain.as_str(), region.as_str()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()?;

        let Some((outcome, tokens, request_id, kind, error)) = row else {
            return Ok(None);
        };
        if outcome == "verified" {
            // Tokens were validated before they were stored; a row edited by hand into
            // something else counts as not done, so the domain is simply called again.
            let parsed: Option<Vec<DkimToken>> = tokens
                .unwrap_or_default()
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(|t| DkimToken::new(t).ok())
                .collect();
            return Ok(parsed
                .filter(|tokens| !tokens.is_empty())
                .map(|tokens| Stored::Verified { tokens, request_id }));
        }
        Ok(Some(Stored::Failed {
            kind: kind.unwrap_or_default(),
            message: error.unwrap_or_default(),
        }))
    }

    /// Records tokens SES returned; durable when this returns.
    ///
    /// # Errors
    ///
    /// Fails when the database cannot be written.
    pub fn put_verified(
        &self,
        domain: &Domain,
        region: &Region,
        tokens: &[DkimToken],
        request_id: Option<&str>,
    ) -> rusqlite::Result<()> {
        let tokens = tokens
            .iter()
            .map(DkimToken::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        self.connection
            .prepare_cached(
                "INSERT OR REPLACE INTO results
                 (domain, region, outcome, tokens, request_id, error_kind, error, updated_at)
                 VALUES (?1, ?2, 'verified', ?3, ?4, NULL, NULL, ?5)",
            )?
            .execute(params![
                domain.as_str(),
                region.as_str(),
                tokens,
                request_id,
                now()
            ])?;
        Ok(())
    }

    /// Records a failure; a verified result is never overwritten by one.
    ///
    /// # Errors
    ///
    /// Fails when the database cannot be written.
    pub fn put_failed(
        &self,
        domain: &Domain,
        region: &Region,
        kind: &str,
        message: &str,
    ) -> rusqlite::Result<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO results (domain, region, outcome, error_kind, error, updated_at)
                 VALUES (?1, ?2, 'failed', ?3, ?4, ?5)
                 ON CONFLICT (domain, region) DO UPDATE SET
                     error_kind = excluded.error_kind,
                     error = excluded.error,
                     updated_at = excluded.updated_at
                 WHERE outcome = 'failed'",
            )?
            .execute(params![
                domain.as_str(),
                region.as_str(),
                kind,
                message,
                now()
            ])?;
        Ok(())
    }
}

/// The domains seen so far in this run, on disk.
pub struct SeenSet {
    connection: Connection,
    pending: usize,
}

impl SeenSet {
    /// Creates an empty set in a private temporary database.
    ///
    /// # Errors
    ///
    /// Fails when SQLite cannot create its temporary file.
    pub fn new() -> rusqlite::Result<Self> {
        // An empty file name is a private on-disk database, deleted when the connection closes.
        let connection = Connection::open("")?;
        connection.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA cache_size = -2048;
             CREATE TABLE seen (domain TEXT PRIMARY KEY) WITHOUT ROWID;
             BEGIN;",
        )?;
        Ok(Self {
            connection,
            pending: 0,
        })
    }

    /// Adds a domain; returns `false` when it was already there.
    ///
    /// # Errors
    ///
    /// Fails when the temporary database cannot be written.
    pub fn insert(&mut self, domain: &Domain) -> rusqlite::Result<bool> {
        let added = self
            .connection
            .prepare_cached("INSERT OR IGNORE INTO seen (domain) VALUES (?1)")?
            .execute(params![domain.as_str()])?;
        // Nothing here needs durability; committing now and then only keeps the journal small.
        self.pending += 1;
        if self.pending >= 10_000 {
            self.connection.execute_batch("COMMIT; BEGIN;")?;
            self.pending = 0;
        }
        Ok(added == 1)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str) -> Domain {
        Domain::parse(name).unwrap()
    }

    fn token(t: &str) -> DkimToken {
        DkimToken::new(t).unwrap()
    }

    #[test]
    fn results_survive_reopening_and_failures_never_replace_successes() {
        let dir = std::env::temp_dir().join(format!("ses-dkim-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        let (a, b) = (domain("a.example.com"), domain("b.example.com"));
        let (east, south) = (
            Region::parse("us-east-1").unwrap(),
            Region::parse("af-south-1").unwrap(),
        );

        {
            let store = StateStore::open(&path).unwrap();
            store
                .put_verified(&a, &east, &[token("t1"), token("t2")], Some("rid"))
                .unwrap();
            store.put_failed(&a, &east, "throttling", "late").unwrap();
            store.put_failed(&b, &east, "permission", "denied").unwrap();
        }
        let store = StateStore::open(&path).unwrap();
        assert_eq!(
            store.get(&a, &east).unwrap(),
            Some(Stored::Verified {
                tokens: vec![token("t1"), token("t2")],
                request_id: Some("rid".into())
            })
        );
        assert_eq!(store.get(&a, &south).unwrap(), None);
        assert_eq!(
            store.get(&b, &east).unwrap(),
            Some(Stored::Failed {
                kind: "permission".into(),
                message: "denied".into()
            })
        );
        store.put_verified(&b, &east, &[token("t3")], None).unwrap();
        assert!(matches!(
            store.get(&b, &east).unwrap(),
            Some(Stored::Verified { .. })
        ));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn seen_set_reports_duplicates() {
        let mut seen = SeenSet::new().unwrap();
        assert!(seen.insert(&domain("example.com")).unwrap());
        assert!(seen.insert(&domain("example.org")).unwrap());
        assert!(!seen.insert(&domain("EXAMPLE.com.")).unwrap());
    }
}
