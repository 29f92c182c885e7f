//! Command-line options shared by the subcommands (std only).

use std::path::PathBuf;
use std::time::Duration;

/// Parsed options; `rest` holds the positional arguments.
#[derive(Debug, Default)]
pub struct Options {
    /// `--kernel DIR|bzImage`
    pub kernel: Option<PathBuf>,
    /// `--module PATH`
    pub module: Option<PathBuf>,
    /// `--no-module`
    pub no_module: bool,
    /// `--nodes N`
    pub nodes: Option<u8>,
    /// `--boot-timeout SECS`
    pub boot_timeout: Option<Duration>,
    /// `--timeout SECS`: the whole command's limit.
    pub timeout: Option<Duration>,
    /// `--budget SECS` (check): start no scenario once less than the
    /// longest one's time is left of it.
    pub budget: Option<Duration>,
    /// Positional arguments.
    pub rest: Vec<String>,
}

/// Parses `args` (after the subcommand).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--kernel" => o.kernel = Some(value(a)?.into()),
            "--module" => o.module = Some(value(a)?.into()),
            "--no-module" => o.no_module = true,
            "--nodes" => o.nodes = Some(number(a, &value(a)?)?),
            "--boot-timeout" => o.boot_timeout = Some(secs(a, &value(a)?)?),
            "--timeout" => o.timeout = Some(secs(a, &value(a)?)?),
            "--budget" => o.budget = Some(secs(a, &value(a)?)?),
            "--" => o.rest.extend(it.by_ref().cloned()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => o.rest.push(s.to_string()),
        }
    }
    if o.no_module && o.module.is_some() {
        return Err("--module and --no-module exclude each other".into());
    }
    Ok(o)
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{name}: `{v}` is not a valid number"))
}

fn secs(name: &str, v: &str) -> Result<Duration, String> {
    number::<u64>(name, v).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_options_and_positionals() {
        let o = parse(&s(&[
            "--kernel",
            "/k",
            "farm_smoke",
            "--nodes",
            "2",
            "--no-module",
            "--budget",
            "900",
        ]))
        .unwrap();
        assert_eq!(o.budget, Some(Duration::from_secs(900)));
        assert_eq!(o.kernel, Some(PathBuf::from("/k")));
        assert_eq!(o.nodes, Some(2));
        assert!(o.no_module);
        assert_eq!(o.rest, ["farm_smoke"]);
        let o = parse(&s(&["node1", "--", "ip", "--brief", "addr"])).unwrap();
        assert_eq!(o.rest, ["node1", "ip", "--brief", "addr"]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&s(&["--nodes"])).is_err());
        assert!(parse(&s(&["--nodes", "x"])).is_err());
        assert!(parse(&s(&["--bogus"])).is_err());
        assert!(parse(&s(&["--module", "a", "--no-module"])).is_err());
    }
}
