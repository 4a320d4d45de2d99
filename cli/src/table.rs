//! Plain-text tables with columns aligned to their widest cell.

/// A table: a header row and data rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped. Every character of a cell
    /// is shown ([`crate::escape::visible`]).
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells
            .into_iter()
            .map(|c| crate::escape::visible(&c).into_owned())
            .collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders the table, columns separated by two spaces, no trailing spaces, ending in a newline.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A compact age: `42s`, `5m`, `3h`, `2d`.
pub fn human_age(age: std::time::Duration) -> String {
    let s = age.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The age of an RFC 3339 time, or `-` when absent or unparsable.
pub fn age_of(time: Option<&str>) -> String {
    let Some(t) = time.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return "-".into();
    };
    human_age(maestro_common::time::age(t.timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(&["ID", "STATE"]);
        t.row(vec!["a-long-id".into(), "ready".into()]);
        t.row(vec!["b".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID         STATE");
        assert_eq!(lines[1], "a-long-id  ready");
        assert_eq!(lines[2], "b");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn ages() {
        assert_eq!(human_age(Duration::from_secs(5)), "5s");
        assert_eq!(human_age(Duration::from_secs(600)), "10m");
        assert_eq!(human_age(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(human_age(Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(age_of(None), "-");
        assert_eq!(age_of(Some("garbage")), "-");
    }
}
