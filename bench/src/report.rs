//! A run's results: an ordered list of `key=value` pairs, printed as one
//! line that starts with `result ` (what `summary.rs` and compare.sh read)
//! and as a readable table row on stderr. Values never contain spaces.

use std::fmt::Display;

/// One run's results, in the order they were added.
#[derive(Debug, Default, Clone)]
pub struct Report {
    fields: Vec<(String, String)>,
}

impl Report {
    /// A report for `label` (the row's name), `target` and `scenario`.
    pub fn new(label: &str, target: &str, scenario: &str) -> Report {
        let mut report = Report::default();
        report.add("label", label);
        report.add("target", target);
        report.add("scenario", scenario);
        report
    }

    /// Adds a value (spaces become `_`).
    pub fn add(&mut self, key: &str, value: impl Display) {
        let value = value.to_string().replace(' ', "_");
        self.fields.push((key.to_string(), value));
    }

    /// Adds a number with `decimals` digits after the point.
    pub fn num(&mut self, key: &str, value: f64, decimals: usize) {
        self.add(key, format!("{value:.decimals$}"));
    }

    /// The machine-readable line.
    pub fn line(&self) -> String {
        let pairs: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("result {}", pairs.join(" "))
    }

    /// A readable two-column table.
    pub fn table(&self) -> String {
        let width = self.fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        self.fields
            .iter()
            .map(|(k, v)| format!("  {k:width$}  {v}\n"))
            .collect()
    }

    /// Parses a line made by [`Report::line`].
    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.trim().strip_prefix("result ")?;
        let fields = rest
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Report { fields })
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_parses_back() {
        let mut report = Report::new("hold-10", "parley-ws", "hold");
        report.num("bytes_per_conn", 1234.5, 1);
        let parsed = Report::parse(&report.line()).unwrap();
        assert_eq!(parsed.get("bytes_per_conn"), Some("1234.5"));
        assert_eq!(parsed.get("target"), Some("parley-ws"));
    }
}
