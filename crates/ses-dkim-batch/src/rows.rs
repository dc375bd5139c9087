//! Rows of a report (`status`, `check`) in a table, CSV, JSON or JSON lines, written a batch at a
//! time so that a long list streams.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use clap::ValueEnum;

use crate::listing::OutputEnd;

/// The `--format` values of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Aligned columns for people.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array, one object per row.
    Json,
    /// One JSON object per line.
    Jsonl,
}

/// One row: its CSV cells, its table cells, and the same as a JSON object.
pub(crate) struct Row {
    /// The CSV cells, one per CSV column.
    pub(crate) cells: Vec<String>,
    /// The table cells, one per table column.
    pub(crate) table: Vec<String>,
    /// The row as one line of JSON, keys in column order.
    pub(crate) json: String,
}

/// Serialises a row's JSON object; plain strings and numbers cannot fail, but the output stays
/// valid regardless.
pub(crate) fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The columns of a report.
pub(crate) struct Columns {
    /// The CSV header.
    pub(crate) csv: &'static [&'static str],
    /// The table header.
    pub(crate) table: &'static [&'static str],
}

/// Writes rows to stdout in a format, a batch at a time.
pub(crate) struct RowWriter {
    format: ReportFormat,
    columns: Columns,
    /// The table's column widths so far; they only grow, batch by batch.
    widths: Vec<usize>,
    rows: u64,
    out: BufWriter<io::Stdout>,
}

impl RowWriter {
    /// Creates a writer for rows with these columns.
    pub(crate) fn new(format: ReportFormat, columns: Columns) -> Self {
        Self {
            format,
            widths: columns.table.iter().map(|c| c.len()).collect(),
            columns,
            rows: 0,
            out: BufWriter::new(io::stdout()),
        }
    }

    /// Writes a batch of rows and flushes them.
    ///
    /// # Errors
    ///
    /// Says why nothing more can be written: a closed pipe, or another write error, which is
    /// reported here.
    pub(crate) fn write(&mut self, rows: &[Row]) -> Result<(), OutputEnd> {
        let mut text = String::new();
        match self.format {
            ReportFormat::Table => self.table(rows, &mut text),
            ReportFormat::Csv => self.csv(rows, &mut text),
            ReportFormat::Json => {
                for (i, row) in rows.iter().enumerate() {
                    let first = self.rows == 0 && i == 0;
                    text.push_str(if first { "[\n  " } else { ",\n  " });
                    text.push_str(&row.json);
                }
            }
            ReportFormat::Jsonl => {
                for row in rows {
                    text.push_str(&row.json);
                    text.push('\n');
                }
            }
        }
        self.rows += rows.len() as u64;
        self.emit(&text)
    }

    /// Writes what ends the output (a JSON array's closing bracket; a CSV header if no row came).
    ///
    /// # Errors
    ///
    /// As [`RowWriter::write`].
    pub(crate) fn finish(&mut self) -> Result<(), OutputEnd> {
        let text = match (self.format, self.rows) {
            (ReportFormat::Json, 0) => "[]\n".to_owned(),
            (ReportFormat::Json, _) => "\n]\n".to_owned(),
            (ReportFormat::Csv, 0) => csv_line(self.columns.csv.iter().copied()),
            _ => String::new(),
        };
        self.emit(&text)
    }

    /// Appends a batch of table rows. The rows stream, so a later batch may hold a wider cell
    /// than any before it: its columns then widen, and a blank line and the header again start
    /// a section aligned to the new widths.
    fn table(&mut self, rows: &[Row], text: &mut String) {
        let mut widened = false;
        for row in rows {
            for (width, cell) in self.widths.iter_mut().zip(&row.table) {
                let chars = cell.chars().count();
                if chars > *width {
                    *width = chars;
                    widened = true;
                }
            }
        }
        let first = self.rows == 0;
        if !rows.is_empty() && (first || widened) {
            if !first {
                text.push('\n');
            }
            let header: Vec<String> = self.columns.table.iter().map(|c| (*c).to_owned()).collect();
            table_line(&header, &self.widths, text);
        }
        for row in rows {
            table_line(&row.table, &self.widths, text);
        }
    }

    fn csv(&mut self, rows: &[Row], text: &mut String) {
        if self.rows == 0 && !rows.is_empty() {
            text.push_str(&csv_line(self.columns.csv.iter().copied()));
        }
        for row in rows {
            text.push_str(&csv_line(row.cells.iter().map(String::as_str)));
        }
    }

    fn emit(&mut self, text: &str) -> Result<(), OutputEnd> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| OutputEnd::of(&e, "report"))
    }
}

fn table_line(cells: &[String], widths: &[usize], text: &mut String) {
    let mut line = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i == last {
            line.push_str(cell);
        } else {
            let _ = write!(line, "{cell:<width$}  ");
        }
    }
    text.push_str(line.trim_end());
    text.push('\n');
}

fn csv_line<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = writer.write_record(cells);
    writer
        .into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lines_align_and_drop_trailing_spaces() {
        let mut text = String::new();
        let cells = ["a".to_owned(), "bb".to_owned(), String::new()];
        table_line(&cells, &[3, 4, 1], &mut text);
        assert_eq!(text, "a    bb\n");
    }

    #[test]
    fn a_wider_batch_starts_a_new_aligned_section() {
        let row = |name: &str| Row {
            cells: vec![name.to_owned(), "x".to_owned()],
            table: vec![name.to_owned(), "x".to_owned()],
            json: String::new(),
        };
        let columns = Columns {
            csv: &["name", "state"],
            table: &["NAME", "STATE"],
        };
        let mut writer = RowWriter::new(ReportFormat::Table, columns);
        let mut text = String::new();
        writer.table(&[row("a.example")], &mut text);
        writer.rows += 1;
        writer.table(&[row("b.example")], &mut text);
        writer.rows += 1;
        writer.table(&[row("a-longer-name.example")], &mut text);
        assert_eq!(
            text,
            "NAME       STATE\n\
             a.example  x\n\
             b.example  x\n\
             \n\
             NAME                   STATE\n\
             a-longer-name.example  x\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_line(["a", "b c", "d,e"]), "a,b c,\"d,e\"\n");
    }
}
