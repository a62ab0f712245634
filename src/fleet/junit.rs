//! A fleet run as JUnit XML (`--junit FILE`, through quick-junit): a test suite per tenant, a test case per
//! domain it needed. Drift (or changes) in a domain is a failure, a system that could not be read an error; a
//! problem not tied to a system (a manifest with errors) is an error of the test case `manifest`.

use quick_junit::{NonSuccessKind, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::report::{Report, TenantResult};

/// The XML of a run.
pub fn render(report: &Report) -> Result<String, String> {
    let mut junit = Junit::new(format!("falconer {}", report.command));
    for r in &report.tenants {
        junit.add_test_suite(suite(r, &report.command));
    }
    junit.to_string().map_err(|e| e.to_string())
}

fn suite(r: &TenantResult, command: &str) -> TestSuite {
    let mut suite = TestSuite::new(r.tenant.clone());
    suite.set_time(std::time::Duration::from_millis(r.duration_ms));
    for s in &r.systems {
        let status = match &s.error {
            Some(e) => non_success(NonSuccessKind::Error, e.clone(), String::new()),
            None if s.changes > 0 => {
                let lines: Vec<String> = r
                    .changes
                    .iter()
                    .filter(|c| c.address.split('.').next() == Some(s.domain.as_str()))
                    .map(|c| format!("{} {}", c.action.symbol(), c.address))
                    .collect();
                let what = if command == "drift" {
                    "drifted"
                } else {
                    "to change"
                };
                non_success(
                    NonSuccessKind::Failure,
                    format!("{} resources {what}", s.changes),
                    lines.join("\n"),
                )
            }
            None => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(s.domain.clone(), status);
        case.set_classname(r.tenant.clone());
        suite.add_test_case(case);
    }
    if !r.errors.is_empty() {
        let status = non_success(NonSuccessKind::Error, r.errors.join("\n"), String::new());
        let mut case = TestCase::new("manifest", status);
        case.set_classname(r.tenant.clone());
        suite.add_test_case(case);
    }
    suite
}

fn non_success(kind: NonSuccessKind, message: String, description: String) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(message);
    if !description.is_empty() {
        status.set_description(description);
    }
    status
}
