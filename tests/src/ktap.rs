//! Reading a KUnit suite's result from a kernel log (KTAP, as printed by
//! KUnit when a module containing tests is loaded):
//!
//! ```text
//! [   9.1] KTAP version 1
//! [   9.1] 1..1
//! [   9.1]     KTAP version 1
//! [   9.1]     # Subtest: baton
//! [   9.1]     # module: baton
//! [   9.1]     1..2
//! [   9.2]     ok 1 parses_tcp_header
//! [   9.2]     not ok 2 rejects_short_header
//! [   9.2] # baton: pass:1 fail:1 skip:0 total:2
//! [   9.2] not ok 1 baton
//! ```

/// The outcome of one test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `ok N name`
    Pass,
    /// `not ok N name`
    Fail,
    /// `ok N name # SKIP reason`
    Skip,
}

/// One test case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case's name.
    pub name: String,
    /// Its outcome.
    pub outcome: Outcome,
}

/// A suite's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// Its cases, in order.
    pub cases: Vec<Case>,
    /// The suite's own result line: `Some(true)` for `ok`, `Some(false)` for
    /// `not ok`, `None` if the log ends before it (e.g. the kernel crashed).
    pub ok: Option<bool>,
}

impl Suite {
    /// Whether the suite passed: an `ok` result line and at least one case
    /// that ran, none failed.
    pub fn passed(&self) -> bool {
        self.ok == Some(true)
            && self.cases.iter().any(|c| c.outcome == Outcome::Pass)
            && self.cases.iter().all(|c| c.outcome != Outcome::Fail)
    }
}

/// Strips a dmesg timestamp (`[   12.345678] `) from a line.
fn strip_timestamp(line: &str) -> &str {
    if line.starts_with('[') {
        if let Some(end) = line.find("] ") {
            return &line[end + 2..];
        }
    }
    line
}

/// Parses `ok N name [# directive]` / `not ok N name [# directive]`.
fn result_line(line: &str) -> Option<(bool, &str, Option<&str>)> {
    let (ok, rest) = if let Some(r) = line.strip_prefix("not ok ") {
        (false, r)
    } else {
        (true, line.strip_prefix("ok ")?)
    };
    let (num, rest) = rest.split_once(' ')?;
    num.parse::<u32>().ok()?;
    let (name, directive) = match rest.split_once(" # ") {
        Some((n, d)) => (n, Some(d)),
        None => (rest, None),
    };
    Some((ok, name.trim(), directive))
}

/// The last run of suite `name` in `log`, if any.
pub fn parse_suite(log: &str, name: &str) -> Option<Suite> {
    let lines: Vec<&str> = log.lines().map(strip_timestamp).collect();
    let header = format!("# Subtest: {name}");
    let start = lines.iter().rposition(|l| l.trim() == header)?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let mut suite = Suite {
        cases: Vec::new(),
        ok: None,
    };
    for line in &lines[start + 1..] {
        let body = line.trim_start();
        let this_indent = line.len() - body.len();
        let Some((ok, case, directive)) = result_line(body.trim_end()) else {
            continue;
        };
        if this_indent < indent {
            if case == name {
                suite.ok = Some(ok);
            }
            break;
        }
        if this_indent == indent {
            let skip = directive.is_some_and(|d| d.to_ascii_uppercase().starts_with("SKIP"));
            let outcome = match (ok, skip) {
                (_, true) => Outcome::Skip,
                (true, false) => Outcome::Pass,
                (false, false) => Outcome::Fail,
            };
            suite.cases.push(Case {
                name: case.to_string(),
                outcome,
            });
        }
    }
    Some(suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "[    9.100000] KTAP version 1
[    9.100000] 1..1
[    9.100001]     KTAP version 1
[    9.100002]     # Subtest: baton
[    9.100003]     # module: baton
[    9.100004]     1..3
[    9.200000]     ok 1 parses_tcp_header
[    9.200001]         KTAP version 1
[    9.200001]         # Subtest: params
[    9.200001]         not ok 1 inner
[    9.200002]     not ok 2 params
[    9.200003]     ok 3 later # SKIP not yet
[    9.200004] # baton: pass:1 fail:1 skip:1 total:3
[    9.200005] not ok 1 baton
";

    #[test]
    fn parses_cases_at_suite_level() {
        let s = parse_suite(LOG, "baton").unwrap();
        let got: Vec<_> = s
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.outcome))
            .collect();
        assert_eq!(
            got,
            [
                ("parses_tcp_header", Outcome::Pass),
                ("params", Outcome::Fail),
                ("later", Outcome::Skip)
            ]
        );
        assert_eq!(s.ok, Some(false));
        assert!(!s.passed());
    }

    #[test]
    fn passing_suite() {
        let log = "    # Subtest: baton\n    1..1\n    ok 1 a\nok 1 baton\n";
        let s = parse_suite(log, "baton").unwrap();
        assert!(s.passed());
    }

    #[test]
    fn no_cases_or_no_result_is_not_a_pass() {
        let s = parse_suite("    # Subtest: baton\n    1..0\nok 1 baton\n", "baton").unwrap();
        assert!(!s.passed());
        let s = parse_suite("    # Subtest: baton\n    ok 1 a\n", "baton").unwrap();
        assert_eq!(s.ok, None);
        assert!(!s.passed());
        assert!(parse_suite("nothing here", "baton").is_none());
    }
}
