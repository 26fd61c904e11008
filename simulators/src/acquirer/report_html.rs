//! The load report as one self-contained HTML page (`--report-html FILE`): the
//! run's parameters, TPS, latency percentiles and response codes per second, the
//! latency histogram, approvals by issuer and the summary figures.
//!
//! The page embeds its data as JSON (`<script type="application/json"
//! id="report-data">`): the run's `--json` report verbatim, so the page shows
//! exactly the figures of the JSON report, plus the per-second [`Series`], the
//! whole-run latency histogram in log bins and the parameters. A small inline
//! script draws them as SVG and marks the body `data-rendered="ok"` when done.
//! No external assets (the machines that run load tests may have no internet).

use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use super::series::Series;

/// The page, with `{{DATA}}` where the JSON goes.
const PAGE: &str = include_str!("report_page.html");
/// Where the data goes in [`PAGE`].
const DATA_MARK: &str = "{{DATA}}";
/// The element that holds the data, as the page opens it.
const DATA_OPEN: &str = r#"<script type="application/json" id="report-data">"#;
/// Histogram bins per doubling of latency (each about 19 % wider than the last).
const BINS_PER_OCTAVE: f64 = 4.0;

/// What one page shows.
#[derive(Debug)]
pub struct HtmlReport<'a> {
    /// The heading.
    pub title: String,
    /// How the run was made, as (name, value) in display order.
    pub parameters: Vec<(String, String)>,
    /// The run's JSON report, as `--json` prints it.
    pub report: &'a Value,
    /// The run second by second.
    pub series: &'a Series,
    /// The run's latencies (the histogram the report's percentiles come from).
    pub latency: &'a Histogram<u64>,
}

/// The latencies of `h` in logarithmic bins, from the first non-empty one to
/// the last: `[{"from_us":F,"to_us":F,"count":N},...]` (bin k holds latencies
/// from 2^(k/4) µs up to 2^((k+1)/4) µs; a latency under 1 µs counts in the first).
pub fn latency_bins(h: &Histogram<u64>) -> Value {
    let mut counts: Vec<(i64, u64)> = Vec::new();
    for v in h.iter_recorded() {
        let micros = v.value_iterated_to().max(1) as f64;
        let bin = (micros.log2() * BINS_PER_OCTAVE).floor() as i64;
        match counts.last_mut() {
            Some((b, n)) if *b == bin => *n += v.count_at_value(),
            _ => counts.push((bin, v.count_at_value())),
        }
    }
    let (Some(&(first, _)), Some(&(last, _))) = (counts.first(), counts.last()) else {
        return Value::Array(Vec::new());
    };
    let edge = |k: i64| (2f64.powf(k as f64 / BINS_PER_OCTAVE) * 10.0).round() / 10.0;
    let mut counts = counts.into_iter().peekable();
    let bins = (first..=last)
        .map(|k| {
            let n = match counts.peek() {
                Some(&(b, n)) if b == k => {
                    counts.next();
                    n
                }
                _ => 0,
            };
            json!({"from_us": edge(k), "to_us": edge(k + 1), "count": n})
        })
        .collect();
    Value::Array(bins)
}

impl HtmlReport<'_> {
    /// The data the page embeds.
    pub fn data(&self) -> Value {
        let parameters: Vec<Value> = self.parameters.iter().map(|(k, v)| json!([k, v])).collect();
        let mut m = Map::new();
        m.insert("title".into(), self.title.clone().into());
        m.insert("parameters".into(), parameters.into());
        m.insert("report".into(), self.report.clone());
        m.insert("series".into(), self.series.to_json());
        m.insert("latency_histogram".into(), latency_bins(self.latency));
        Value::Object(m)
    }

    /// The page.
    pub fn render(&self) -> String {
        // Inside a <script> element only "</script" (or "<!--") could end the
        // data early; '<' can appear in JSON only inside strings, where \u003c
        // is the same character.
        let data = self.data().to_string().replace('<', "\\u003c");
        PAGE.replacen(DATA_MARK, &data, 1)
    }

    /// Write the page to `path`.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.render())
            .map_err(|e| format!("cannot write the HTML report {}: {e}", path.display()))
    }
}

/// The data embedded in a page that [`HtmlReport::render`] wrote (for checks).
pub fn embedded_data(page: &str) -> Result<Value, String> {
    let start = page
        .find(DATA_OPEN)
        .ok_or("the page has no report-data element")?
        + DATA_OPEN.len();
    let len = page[start..]
        .find("</script>")
        .ok_or("the report-data element is not closed")?;
    serde_json::from_str(&page[start..start + len])
        .map_err(|e| format!("the report data is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::stats::latency_histogram;

    fn page(title: &str, report: &Value) -> (String, Value) {
        let mut h = latency_histogram().unwrap();
        let mut series = Series::keeping();
        for (k, micros) in [120u64, 130, 900, 950, 40_000].into_iter().enumerate() {
            h.saturating_record(micros);
            series.record_answer(k as u64 / 2, micros, *b"00");
        }
        let r = HtmlReport {
            title: title.into(),
            parameters: vec![("connect".into(), "127.0.0.1:1".into())],
            report,
            series: &series,
            latency: &h,
        };
        (r.render(), r.data())
    }

    #[test]
    fn the_page_embeds_its_data_and_refers_to_nothing_outside() {
        let report = json!({"sent": 5, "answered": 5, "approved": {"940810": {"count": 5, "amount": "10.00"}}});
        let (html, data) = page("run </script><script>alert(1)</script>", &report);
        assert_eq!(embedded_data(&html).unwrap(), data);
        assert_eq!(data["report"], report);
        assert!(!html.contains(DATA_MARK));
        // The title cannot close the data element early.
        assert_eq!(
            html.matches("</script>").count(),
            2,
            "the data and the code"
        );
        for needle in [
            "http://", "https://", "src=", "href=", "@import", "url(", "//cdn",
        ] {
            assert!(!html.contains(needle), "{needle:?} in the page");
        }
        assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn the_page_is_well_formed() {
        let (html, _) = page("t", &json!({}));
        // Every element opened is closed, in order (void elements aside); the
        // script's text and the data are skipped.
        let void = ["meta", "br", "hr", "img", "input", "link"];
        let mut stack: Vec<String> = Vec::new();
        let mut rest = html.as_str();
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            if rest.starts_with("!--") {
                rest = &rest[rest.find("-->").unwrap() + 3..];
                continue;
            }
            if rest.starts_with('!') {
                continue; // doctype
            }
            let end = rest.find('>').unwrap();
            let tag = &rest[..end];
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if let Some(closing) = tag.strip_prefix('/') {
                let closing: String = closing
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                assert_eq!(stack.pop().as_deref(), Some(closing.as_str()), "at <{tag}>");
            } else if !void.contains(&name.as_str()) && !tag.ends_with('/') {
                stack.push(name.clone());
                if name == "script" || name == "style" {
                    let close = format!("</{name}>");
                    rest = &rest[rest.find(&close).unwrap()..];
                }
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    #[test]
    fn histogram_bins_cover_every_answer_in_order() {
        let (_, data) = page("t", &json!({}));
        let bins = data["latency_histogram"].as_array().unwrap();
        let total: u64 = bins.iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(total, 5);
        assert!(bins.first().unwrap()["from_us"].as_f64().unwrap() <= 120.0);
        assert!(bins.last().unwrap()["to_us"].as_f64().unwrap() > 40_000.0);
        for pair in bins.windows(2) {
            assert_eq!(pair[0]["to_us"], pair[1]["from_us"]);
        }
        assert_eq!(latency_bins(&latency_histogram().unwrap()), json!([]));
        // The series went in whole.
        assert_eq!(data["series"]["answered"].to_string(), "[2,2,1]");
    }
}
