//! Running the host's `batonctl` in farm VMs: finding the binary (the VMs
//! see the host's root filesystem at the same paths), running many
//! commands in one round trip, and reading a namespace's configuration.

use baton_farm::{log, Context as _, Error, Result, Vm};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Environment variable naming the `batonctl` binary to use, overriding
/// the search of the workspace's target directory.
pub const ENV: &str = "BATONCTL";

/// A shell command that prints the whole configuration of the current
/// network namespace as one JSON object (`batonctl --json config`: node,
/// peers, services, rules, keys). One exec: under TCG each costs a
/// fraction of a second, and `control_plane` reads the state a hundred
/// times. Uses `$B` (see [`batch`]).
pub const STATE: &str = "\"$B\" --json config";

/// The same configuration read object by object, as four JSON documents
/// (node, peers, services, keys): [`State::parse_each`] of it must equal
/// [`State::parse`] of [`STATE`].
pub const STATE_EACH: &str =
    "\"$B\" --json node; \"$B\" --json peer; \"$B\" --json service; \"$B\" --json key";

/// The `batonctl` binary to run: `$BATONCTL` if set, else
/// `release/batonctl` (what `make check` builds), else `debug/batonctl`, in
/// the workspace's target directory (`$CARGO_TARGET_DIR`, else
/// `<repo>/target`). Warns when the binary is older than its sources (a
/// stale build tests old code).
pub fn locate(repo: &Path) -> Result<PathBuf> {
    let found = match std::env::var_os(ENV) {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(Error::new(format!(
                    "${ENV} is {}, which is not a file",
                    p.display()
                )));
            }
            p
        }
        None => {
            let target = match std::env::var_os("CARGO_TARGET_DIR") {
                Some(t) => repo.join(t),
                None => repo.join("target"),
            };
            ["release", "debug"]
                .iter()
                .map(|p| target.join(p).join("batonctl"))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    Error::new(format!(
                        "no batonctl in {0}/release or {0}/debug: build it with \
                         `cargo build --release -p batonctl` (before the farm boots: \
                         the VMs cache the host's files)",
                        target.display()
                    ))
                })?
        }
    };
    let found = found
        .canonicalize()
        .with_context(|| format!("batonctl at {}", found.display()))?;
    let built = mtime(&found);
    let newest_source = ["rust-tools/batonctl", "rust-tools/baton-core"]
        .iter()
        .filter_map(|d| newest_mtime(&repo.join(d)))
        .max();
    if newest_source.is_some_and(|s| s > built) {
        log(&format!(
            "WARNING: {} is older than its sources (rebuild: cargo build --release -p batonctl)",
            found.display()
        ));
    }
    Ok(found)
}

fn mtime(p: &Path) -> SystemTime {
    p.metadata()
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The newest modification time of the files under `dir` (sources and
/// manifests; `target/` and hidden directories skipped).
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') || name == "target" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs" || x == "toml") {
                newest = newest.max(Some(mtime(&p)));
            }
        }
    }
    newest
}

/// What one command of a [`batch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The command, as given.
    pub cmd: String,
    /// Its exit status.
    pub status: i32,
    /// Its standard output, exactly.
    pub stdout: String,
    /// Its standard error, exactly.
    pub stderr: String,
}

impl Ran {
    /// `Ok` if it exited 0, else an error quoting it.
    pub fn ok(&self) -> Result<&Self> {
        if self.status == 0 {
            Ok(self)
        } else {
            Err(Error::new(self.describe("exit status 0")))
        }
    }

    /// "`cmd`: expected X, got status N, stdout …, stderr …".
    pub fn describe(&self, expected: &str) -> String {
        format!(
            "`{}`: expected {expected}; got status {}, stdout {:?}, stderr {:?}",
            self.cmd,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmds` one after the other in `vm`, each in its own subshell with
/// stdin from `/dev/null`, in one round trip to the VM, and returns what
/// each did. `$B` is the `batonctl` binary; `prelude` runs first (shell
/// functions, files the commands need). Fails only if the batch itself
/// could not run.
pub fn batch(
    vm: &Vm,
    batonctl: &Path,
    prelude: &str,
    cmds: &[String],
    timeout: Duration,
) -> Result<Vec<Ran>> {
    let mut script = format!(
        "B={}\nd=$(mktemp -d) || exit 1\n{prelude}\n",
        baton_farm::vm::shell_quote(&batonctl.display().to_string())
    );
    for (i, c) in cmds.iter().enumerate() {
        script += &format!(
            "( {c}\n) >\"$d/{i}.out\" 2>\"$d/{i}.err\" </dev/null; echo $? >\"$d/{i}.rc\"\n"
        );
    }
    // Read back with builtins only (`read -d ''` keeps every byte but
    // NULs): under TCG each exec of `cat` costs a fraction of a second,
    // and a batch has hundreds of files.
    script += &format!(
        "show() {{ local x=; IFS= read -r -d '' x < \"$1\"; printf '%s' \"$x\"; }}
for ((i = 0; i <= {}; i++)); do
  printf '@@%s:rc ' \"$i\"; show \"$d/$i.rc\"; show \"$d/$i.out\"
  printf '\\n@@%s:err\\n' \"$i\"; show \"$d/$i.err\"; printf '\\n@@%s:end\\n' \"$i\"
done
rm -rf \"$d\"",
        cmds.len().saturating_sub(1)
    );
    if cmds.is_empty() {
        return Ok(Vec::new());
    }
    let out = vm.run_ok(&script, timeout)?;
    parse_batch(&out, cmds).with_context(|| format!("{}: batch output", vm.name()))
}

fn parse_batch(out: &str, cmds: &[String]) -> Result<Vec<Ran>> {
    let mut rest = out;
    let mut ran = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let head = format!("@@{i}:rc ");
        let start = rest
            .find(&head)
            .ok_or_else(|| Error::new(format!("no result for command {i} (`{cmd}`)")))?;
        rest = &rest[start + head.len()..];
        let (rc, after) = rest
            .split_once('\n')
            .ok_or_else(|| Error::new(format!("command {i}: truncated")))?;
        let status = rc
            .trim()
            .parse()
            .map_err(|_| Error::new(format!("command {i}: bad status {rc:?}")))?;
        let (stdout, after) = after
            .split_once(&format!("\n@@{i}:err\n"))
            .ok_or_else(|| Error::new(format!("command {i}: no stderr marker")))?;
        let (stderr, after) = after
            .split_once(&format!("\n@@{i}:end\n"))
            .ok_or_else(|| Error::new(format!("command {i}: no end marker")))?;
        rest = after;
        ran.push(Ran {
            cmd: cmd.clone(),
            status,
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        });
    }
    Ok(ran)
}

/// A namespace's configuration as `batonctl --json` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// `node show`.
    pub node: Value,
    /// `peer show`, sorted by id.
    pub peers: Value,
    /// `service show`, sorted by (vip, port, protocol).
    pub services: Value,
    /// `key show`, sorted by id.
    pub keys: Value,
}

impl State {
    /// Parses the output of [`STATE`] (one object). Lists are sorted so
    /// that comparisons do not depend on the kernel's order.
    pub fn parse(text: &str) -> Result<State> {
        let v: Value = serde_json::from_str(text)
            .with_context(|| format!("configuration is not JSON: {text:?}"))?;
        let field = |name: &str| {
            v.get(name)
                .cloned()
                .ok_or_else(|| Error::new(format!("configuration: no field {name:?}: {text:?}")))
        };
        Ok(State::sorted(
            field("node")?,
            field("peers")?,
            field("services")?,
            field("keys")?,
        ))
    }

    /// Parses the output of [`STATE_EACH`] (four JSON documents).
    pub fn parse_each(text: &str) -> Result<State> {
        let docs: Vec<Value> = serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("state dump is not JSON: {text:?}"))?;
        let [node, peers, services, keys]: [Value; 4] = docs.try_into().map_err(|d: Vec<_>| {
            Error::new(format!(
                "state dump: expected 4 JSON documents, got {}: {text:?}",
                d.len()
            ))
        })?;
        Ok(State::sorted(node, peers, services, keys))
    }

    fn sorted(node: Value, peers: Value, services: Value, keys: Value) -> State {
        State {
            node,
            peers: sorted(peers, &["id"]),
            services: sorted(services, &["vip", "port", "protocol"]),
            keys: sorted(keys, &["id"]),
        }
    }
}

/// `v` (an array) sorted by the given fields of its elements.
pub fn sorted(v: Value, fields: &[&str]) -> Value {
    match v {
        Value::Array(mut a) => {
            a.sort_by_key(|e| {
                fields
                    .iter()
                    .map(|f| match &e[*f] {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => format!("{:>20}", n.to_string()),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
            });
            Value::Array(a)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_output_is_split_exactly() {
        let out = "@@0:rc 0\n[]\n\n@@0:err\n\n@@0:end\n@@1:rc 1\nno newline\n@@1:err\nbatonctl: x: y (EINVAL)\n\n@@1:end\n";
        let cmds = vec!["a".to_string(), "b".to_string()];
        let r = parse_batch(out, &cmds).unwrap();
        assert_eq!(r[0].status, 0);
        assert_eq!(r[0].stdout, "[]\n");
        assert_eq!(r[0].stderr, "");
        assert_eq!(r[1].status, 1);
        assert_eq!(r[1].stdout, "no newline");
        assert_eq!(r[1].stderr, "batonctl: x: y (EINVAL)\n");
        assert!(parse_batch("@@0:rc 0\n", &cmds).is_err());
    }

    #[test]
    fn state_is_parsed_and_sorted() {
        let each =
            "{\"id\": 1}\n[{\"id\": 10}, {\"id\": 3}]\n[]\n[{\"id\": 2, \"active\": true}]\n";
        let s = State::parse_each(each).unwrap();
        assert_eq!(s.node, json!({"id": 1}));
        assert_eq!(s.peers, json!([{"id": 3}, {"id": 10}]));
        assert_eq!(s.keys, json!([{"id": 2, "active": true}]));
        assert!(State::parse_each("[] []").is_err());
        let one = json!({"node": {"id": 1}, "peers": [{"id": 10}, {"id": 3}], "services": [],
                         "rules": [], "keys": [{"id": 2, "active": true}]});
        assert_eq!(State::parse(&one.to_string()).unwrap(), s);
        assert!(State::parse(each).is_err());
        assert!(State::parse("{\"node\": null, \"peers\": []}").is_err());
    }
}
