//! Domain lists read as a stream; the reader lives in the core (see [`ses_dkim_core::list`]).

pub use ses_dkim_core::list::{DomainList, Entry, LineError, MAX_LINE_BYTES};
