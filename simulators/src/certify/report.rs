//! The outcome of a certification run: pass or fail per named case with the
//! findings that failed it, as text for the team and JSON for their records.
//! Findings name fields, codes, STANs and times, never card data.

use std::time::Duration;

/// One case's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// The script's name for it.
    pub name: String,
    /// What went wrong (empty: passed).
    pub findings: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A run's outcome.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `acquirer` or `issuer`: the side of the host under test.
    pub direction: &'static str,
    /// Every case of the script, in order.
    pub cases: Vec<CaseResult>,
    /// Messages that belonged to no case (listed, not failing the run).
    pub unexpected: Vec<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.cases.iter().all(CaseResult::passed)
    }

    /// The result of case `name`, if the script has it.
    pub fn case(&self, name: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.name == name)
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = format!("certification of an {} host\n", self.direction);
        let width = self.cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for case in &self.cases {
            let verdict = if case.passed() { "PASS" } else { "FAIL" };
            out += &format!("  {verdict}  {:<width$}  ", case.name);
            out += &case.findings.join("; ");
            out = out.trim_end().to_string() + "\n";
        }
        for u in &self.unexpected {
            out += &format!("  note: {u}\n");
        }
        let passed = self.cases.iter().filter(|c| c.passed()).count();
        out += &format!(
            "{}: {passed} of {} cases passed in {:.1} s\n",
            if self.passed() { "PASSED" } else { "FAILED" },
            self.cases.len(),
            self.elapsed.as_secs_f64()
        );
        out
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "direction": self.direction,
            "passed": self.passed(),
            "elapsed_ms": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
            "cases": self.cases.iter().map(|c| serde_json::json!({
                "name": c.name,
                "passed": c.passed(),
                "findings": c.findings,
            })).collect::<Vec<_>>(),
            "unexpected": self.unexpected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_name_each_case() {
        let r = Report {
            direction: "issuer",
            cases: vec![
                CaseResult {
                    name: "echo".into(),
                    findings: vec![],
                },
                CaseResult {
                    name: "reversal".into(),
                    findings: vec!["no 0410 within 2000 ms".into()],
                },
            ],
            unexpected: vec![],
            elapsed: Duration::from_millis(1500),
        };
        assert!(!r.passed());
        let text = r.to_text();
        assert!(text.contains("PASS  echo"), "{text}");
        assert!(text.contains("FAIL  reversal  no 0410"), "{text}");
        assert!(
            text.ends_with("FAILED: 1 of 2 cases passed in 1.5 s\n"),
            "{text}"
        );
        let json = r.to_json();
        assert_eq!(json["passed"], false);
        assert_eq!(json["cases"][1]["findings"][0], "no 0410 within 2000 ms");
    }
}
