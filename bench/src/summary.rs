//! Turns the `result` lines of repeated runs into the comparison table:
//! for each label (a scenario at a size), each metric's median over the
//! runs of the Parley target and of Socket.IO, and the median of the
//! per-run ratios Parley/Socket.IO (run k of one against run k of the
//! other, both from the same invocation of compare.sh).

use std::collections::BTreeMap;

use crate::report::Report;

/// Keys left out of the table: those that name a run, and inputs or
/// counts that the raw lines keep but the comparison does not need.
const HIDDEN: [&str; 14] = [
    "label",
    "target",
    "scenario",
    "run",
    "conns",
    "clients",
    "users",
    "senders",
    "sent",
    "expected",
    "connect_s",
    "rss_before_mib",
    "frames_per_s",
    "sustained_offered_per_s",
];

/// The median of `values` (which must not be empty).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn format_number(value: f64) -> String {
    if (value == value.trunc() && value.abs() < 1e12) || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// The markdown table for every report in `lines`.
pub fn table(lines: &str) -> String {
    let reports: Vec<Report> = lines.lines().filter_map(Report::parse).collect();
    let mut labels: Vec<String> = Vec::new();
    for r in &reports {
        let label = r.get("label").unwrap_or("?").to_string();
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    let mut out = String::from(
        "| scenario | metric | Parley (median) | Socket.IO (median) | Parley/Socket.IO (median of per-run ratios) | runs |\n|---|---|---:|---:|---:|---:|\n",
    );
    for label in labels {
        let of = |socketio: bool| -> Vec<&Report> {
            reports
                .iter()
                .filter(|r| r.get("label") == Some(label.as_str()))
                .filter(|r| (r.get("target") == Some("socketio")) == socketio)
                .collect()
        };
        let (parley, peer) = (of(false), of(true));
        let Some(first) = parley.first().or(peer.first()) else {
            continue;
        };
        for key in first.keys().filter(|k| !HIDDEN.contains(k)) {
            let texts = |runs: &[&Report]| -> Option<String> {
                let values: Vec<&str> = runs.iter().filter_map(|r| r.get(key)).collect();
                let numeric = values.iter().all(|v| v.parse::<f64>().is_ok());
                (!values.is_empty() && !numeric).then(|| values.join("/"))
            };
            if let (Some(p), s) = (texts(&parley), texts(&peer)) {
                let s = s.unwrap_or_else(|| "–".to_string());
                let runs = parley.len().max(peer.len());
                out.push_str(&format!("| {label} | {key} | {p} | {s} | | {runs} |\n"));
                continue;
            }
            let values = |runs: &[&Report]| -> BTreeMap<String, f64> {
                runs.iter()
                    .filter_map(|r| {
                        let v = r.get(key)?.parse::<f64>().ok()?;
                        Some((r.get("run").unwrap_or("0").to_string(), v))
                    })
                    .collect()
            };
            let (p, s) = (values(&parley), values(&peer));
            if p.is_empty() && s.is_empty() {
                continue;
            }
            let cell = |m: &BTreeMap<String, f64>| {
                let mut v: Vec<f64> = m.values().copied().collect();
                if v.is_empty() {
                    "–".to_string()
                } else {
                    format_number(median(&mut v))
                }
            };
            let mut ratios: Vec<f64> = p
                .iter()
                .filter_map(|(run, pv)| Some(pv / s.get(run)?))
                .filter(|r| r.is_finite())
                .collect();
            let ratio = if ratios.is_empty() {
                "–".to_string()
            } else {
                format!("{:.3}", median(&mut ratios))
            };
            let runs = p.len().max(s.len());
            out.push_str(&format!(
                "| {label} | {key} | {} | {} | {ratio} | {runs} |\n",
                cell(&p),
                cell(&s)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios_pair_runs() {
        let lines = "\
result label=h target=parley-ws scenario=hold run=1 bytes=10
result label=h target=socketio scenario=hold run=1 bytes=100
result label=h target=parley-ws scenario=hold run=2 bytes=30
result label=h target=socketio scenario=hold run=2 bytes=100
result label=h target=parley-ws scenario=hold run=3 bytes=20
result label=h target=socketio scenario=hold run=3 bytes=40
";
        let table = table(lines);
        assert!(
            table.contains("| h | bytes | 20 | 100 | 0.300 | 3 |"),
            "{table}"
        );
    }
}
