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

/// Every key of `reports`, in the order of the one with the most keys,
/// then any the others add: a run whose sweep failed at its first step has
/// no `sustained_*` keys, and the rows must not vanish when it is run 1.
fn keys<'a>(reports: &[&'a Report]) -> Vec<&'a str> {
    // `rev`: of reports with as many keys, the first.
    let fullest = reports.iter().rev().max_by_key(|r| r.keys().count());
    let mut keys: Vec<&str> = fullest.map(|r| r.keys().collect()).unwrap_or_default();
    for report in reports {
        for key in report.keys() {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
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
        for key in keys(&[parley.as_slice(), peer.as_slice()].concat())
            .into_iter()
            .filter(|k| !HIDDEN.contains(k))
        {
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

    #[test]
    fn a_key_missing_from_the_first_run_still_has_its_row() {
        let lines = "\
result label=s target=parley-ws scenario=sweep run=1 sustained_msgs_per_s=0 failed_p99_ms=160
result label=s target=socketio scenario=sweep run=1 sustained_msgs_per_s=400 sustained_p99_ms=20 failed_p99_ms=150
result label=s target=parley-ws scenario=sweep run=2 sustained_msgs_per_s=500 sustained_p99_ms=60 failed_p99_ms=250
result label=s target=socketio scenario=sweep run=2 sustained_msgs_per_s=400 sustained_p99_ms=40 failed_p99_ms=200
";
        let table = table(lines);
        assert!(
            table.contains("| s | sustained_p99_ms | 60 | 30 | 1.500 | 2 |"),
            "{table}"
        );
        let p99 = table.find("sustained_p99_ms").unwrap();
        let failed = table.find("failed_p99_ms").unwrap();
        assert!(p99 < failed, "the fullest run's order: {table}");
    }
}
