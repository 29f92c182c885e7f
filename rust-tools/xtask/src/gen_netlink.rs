//! `xtask gen-netlink`: the Rust form of the netlink spec.
//!
//! `Documentation/netlink/specs/baton.yaml` is the one definition of the
//! `baton` family. This writes `rust-tools/baton-core/src/genl/spec.rs`
//! from it: family name and version, the constants, the enums, the
//! commands with their admin flag and do/dump, and the attributes with
//! their wire type and checks. The kernel module compiles baton-core
//! through Kbuild, where no build script runs, so the output is checked in;
//! the test below fails while it differs from what the spec generates now.
//!
//! Whatever of the spec the output does not carry is refused rather than
//! skipped, so that a spec change the Rust side would not follow fails here.

use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The spec, relative to the repository.
pub const SPEC: &str = "Documentation/netlink/specs/baton.yaml";
/// The generated file, relative to the repository.
pub const OUTPUT: &str = "rust-tools/baton-core/src/genl/spec.rs";

/// `xtask gen-netlink`: writes [`OUTPUT`] from [`SPEC`].
pub fn run(repo: &Path) -> Result<(), String> {
    let spec = repo.join(SPEC);
    let text =
        std::fs::read_to_string(&spec).map_err(|e| format!("read {}: {e}", spec.display()))?;
    let out = generate(&text)?;
    let path = repo.join(OUTPUT);
    std::fs::write(&path, out).map_err(|e| format!("write {}: {e}", path.display()))?;
    println!("gen-netlink: wrote {OUTPUT}");
    Ok(())
}

/// The generated file for spec text `yaml`.
pub fn generate(yaml: &str) -> Result<String, String> {
    let spec: Value = serde_yaml_ng::from_str(yaml).map_err(|e| format!("{SPEC}: {e}"))?;
    Gen::new(&spec)?.file()
}

type Res<T> = Result<T, String>;

fn map<'a>(v: &'a Value, what: &str) -> Res<&'a Mapping> {
    v.as_mapping()
        .ok_or_else(|| format!("{what}: not a mapping"))
}

fn seq<'a>(v: &'a Value, key: &str) -> Res<&'a Vec<Value>> {
    v.get(key)
        .and_then(Value::as_sequence)
        .ok_or_else(|| format!("no list `{key}` in {}", name_of(v)))
}

fn name_of(v: &Value) -> String {
    v.get("name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string()
}

fn string<'a>(v: &'a Value, key: &str) -> Res<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string `{key}` in {}", name_of(v)))
}

fn number(v: &Value, key: &str) -> Res<u64> {
    v.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("no number `{key}` in {}", name_of(v)))
}

/// Refuses keys of `v` outside `known`: the output would not carry them.
fn only(v: &Value, known: &[&str]) -> Res<()> {
    for k in map(v, &name_of(v))?.keys() {
        let k = k.as_str().unwrap_or("?");
        if !known.contains(&k) {
            return Err(format!(
                "{}: `{k}` is not generated (teach xtask gen-netlink)",
                name_of(v)
            ));
        }
    }
    Ok(())
}

/// `node-get` → `NodeGet`.
fn camel(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `node-id-max` → `NODE_ID_MAX`.
fn upper(kebab: &str) -> String {
    kebab.replace('-', "_").to_ascii_uppercase()
}

/// `doc` of `v` as doc comment lines indented by `indent`; `fallback` when
/// it has none.
fn doc(v: &Value, indent: &str, fallback: &str) -> String {
    let text = v.get("doc").and_then(Value::as_str).unwrap_or(fallback);
    let mut out = String::new();
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {line}");
        }
    }
    out
}

struct Gen<'a> {
    spec: &'a Value,
    /// The constants, by spec name.
    consts: BTreeMap<String, u64>,
    /// The enums, by spec name.
    enums: Vec<&'a Value>,
}

impl<'a> Gen<'a> {
    fn new(spec: &'a Value) -> Res<Self> {
        only(
            spec,
            &[
                "name",
                "protocol",
                "doc",
                "definitions",
                "attribute-sets",
                "operations",
                "version",
            ],
        )?;
        if string(spec, "protocol")? != "genetlink" {
            return Err("protocol: only genetlink is generated".into());
        }
        let mut consts = BTreeMap::new();
        let mut enums = Vec::new();
        for d in seq(spec, "definitions")? {
            match string(d, "type")? {
                "const" => {
                    only(d, &["type", "name", "value", "doc"])?;
                    consts.insert(string(d, "name")?.to_string(), number(d, "value")?);
                }
                "enum" => {
                    only(d, &["type", "name", "doc", "entries"])?;
                    enums.push(d);
                }
                other => return Err(format!("definition type `{other}` is not generated")),
            }
        }
        Ok(Self {
            spec,
            consts,
            enums,
        })
    }

    fn file(&self) -> Res<String> {
        let mut o = String::new();
        let name = string(self.spec, "name")?;
        // The kernel's default when a spec names no version (ynl-gen-c).
        let version = self
            .spec
            .get("version")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let _ = write!(
            o,
            "\
// SPDX-License-Identifier: GPL-2.0
//! The `{name}` family as `{SPEC}` states it.
//!
//! @generated by `cargo run -p xtask -- gen-netlink` from the spec: edit the
//! spec, not this file, and run it again (a host test fails while the two
//! differ). The hand-written rest of the family is in `super`.

use super::{{AttrSpec, Checks, WireType}};

/// Family name.
pub const FAMILY_NAME: &str = \"{name}\";
/// Family name, NUL-terminated (for the kernel's `genl_family.name`).
pub const FAMILY_NAME_NUL: &[u8] = b\"{name}\\0\";
/// Family version.
pub const FAMILY_VERSION: u8 = {version};
"
        );
        self.consts_mod(&mut o)?;
        for e in &self.enums {
            self.enum_def(&mut o, e)?;
        }
        self.commands(&mut o)?;
        for set in seq(self.spec, "attribute-sets")? {
            if set.get("subset-of").is_some() {
                only(set, &["name", "subset-of", "attributes", "doc"])?;
                continue;
            }
            self.attr_set(&mut o, set)?;
        }
        Ok(o)
    }

    fn consts_mod(&self, o: &mut String) -> Res<()> {
        o.push_str("\n/// The spec's constants (its `const` definitions).\npub mod consts {\n");
        let mut first = true;
        for d in seq(self.spec, "definitions")? {
            if string(d, "type")? != "const" {
                continue;
            }
            let value = number(d, "value")?;
            let value = u32::try_from(value).map_err(|_| format!("{}: over u32", name_of(d)))?;
            if !first {
                o.push('\n');
            }
            first = false;
            o.push_str(&doc(d, "    ", &format!("`{}`.", string(d, "name")?)));
            let _ = writeln!(
                o,
                "    pub const {}: u32 = {};",
                upper(string(d, "name")?),
                group(u64::from(value))
            );
        }
        o.push_str("}\n");
        Ok(())
    }

    fn enum_def(&self, o: &mut String, e: &Value) -> Res<()> {
        let entries = seq(e, "entries")?;
        let mut max = 0;
        for x in entries {
            only(x, &["name", "value", "doc"])?;
            max = max.max(number(x, "value")?);
        }
        let repr = if max <= u64::from(u8::MAX) {
            "u8"
        } else if max <= u64::from(u16::MAX) {
            "u16"
        } else {
            "u32"
        };
        let variants: Vec<Variant> = entries
            .iter()
            .map(|x| {
                Ok(Variant {
                    name: string(x, "name")?.to_string(),
                    value: number(x, "value")?,
                    doc: doc(x, "        ", &format!("`{}`.", string(x, "name")?)),
                })
            })
            .collect::<Res<_>>()?;
        numbered(o, e, &camel(string(e, "name")?), repr, &variants);
        Ok(())
    }

    fn commands(&self, o: &mut String) -> Res<()> {
        let ops = self.spec.get("operations").ok_or("no operations")?;
        only(ops, &["list"])?;
        let ops = seq(ops, "list")?;
        let mut variants = Vec::new();
        let (mut admin, mut dos, mut dumps) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            only(
                op,
                &[
                    "name",
                    "value",
                    "doc",
                    "attribute-set",
                    "flags",
                    "do",
                    "dump",
                ],
            )?;
            if string(op, "attribute-set")? != "baton" {
                return Err(format!("{}: not on the main attribute set", name_of(op)));
            }
            let variant = format!("Cmd::{}", camel(string(op, "name")?));
            for f in op
                .get("flags")
                .and_then(Value::as_sequence)
                .unwrap_or(&vec![])
            {
                match f.as_str() {
                    Some("admin-perm") => admin.push(variant.clone()),
                    other => return Err(format!("{}: flag {other:?}", name_of(op))),
                }
            }
            if op.get("do").is_some() {
                dos.push(variant.clone());
            }
            if op.get("dump").is_some() {
                dumps.push(variant.clone());
            }
            variants.push(Variant {
                name: string(op, "name")?.to_string(),
                value: number(op, "value")?,
                doc: doc(op, "        ", ""),
            });
        }
        let about = Value::String("Commands (the spec's operations).".into());
        let mut holder = Mapping::new();
        holder.insert("doc".into(), about);
        numbered(o, &Value::Mapping(holder), "Cmd", "u8", &variants);
        o.push_str("\nimpl Cmd {\n");
        matches_fn(
            o,
            "Whether the command needs `CAP_NET_ADMIN` in the namespace (`admin-perm`).",
            "admin",
            &admin,
        );
        o.push('\n');
        matches_fn(
            o,
            "Whether the command has a do (one request, one reply or acknowledgement).",
            "has_do",
            &dos,
        );
        o.push('\n');
        matches_fn(
            o,
            "Whether the command has a dump (one message per object).",
            "has_dump",
            &dumps,
        );
        o.push_str("}\n");
        Ok(())
    }

    fn attr_set(&self, o: &mut String, set: &Value) -> Res<()> {
        only(set, &["name", "doc", "attributes"])?;
        let set_name = string(set, "name")?;
        // The main set is `Attr`, a nested one `<Name>Attr`.
        let ty = if set_name == string(self.spec, "name")? {
            "Attr".to_string()
        } else {
            format!("{}Attr", camel(set_name))
        };
        let attrs = seq(set, "attributes")?;
        let mut variants = Vec::new();
        let mut specs = String::new();
        for (i, a) in attrs.iter().enumerate() {
            only(
                a,
                &[
                    "name",
                    "type",
                    "value",
                    "doc",
                    "checks",
                    "enum",
                    "byte-order",
                    "display-hint",
                    "nested-attributes",
                    "multi-attr",
                    "sub-type",
                ],
            )?;
            let name = string(a, "name")?;
            let value = number(a, "value")?;
            if value != i as u64 + 1 {
                return Err(format!(
                    "{set_name}: {name} is not numbered in order from 1"
                ));
            }
            let wire = match string(a, "type")? {
                "u8" => "U8",
                "u16" => "U16",
                "u32" => "U32",
                "u64" => "U64",
                "binary" => "Binary",
                "string" => "String",
                "flag" => "Flag",
                "nest" => "Nest",
                other => return Err(format!("{name}: type `{other}` is not generated")),
            };
            if let Some(e) = a.get("enum").and_then(Value::as_str) {
                if !self.enums.iter().any(|d| name_of(d) == e) {
                    return Err(format!("{name}: no enum `{e}`"));
                }
            }
            let big_endian = match a.get("byte-order").and_then(Value::as_str) {
                None | Some("host-endian") => false,
                Some("big-endian") => true,
                Some(other) => return Err(format!("{name}: byte-order {other}")),
            };
            let order = if big_endian {
                ".in_network_order()"
            } else {
                ""
            };
            let checks = match self.checks(a)? {
                Some(c) => format!(".checked({c})"),
                None => String::new(),
            };
            let _ = writeln!(
                specs,
                "            {ty}::{} => AttrSpec::of(WireType::{wire}){order}{checks},",
                camel(name)
            );
            variants.push(Variant {
                name: name.to_string(),
                value,
                doc: doc(a, "        ", &format!("`{name}`.")),
            });
        }
        let holder = {
            let mut m = Mapping::new();
            let d = set
                .get("doc")
                .cloned()
                .unwrap_or_else(|| Value::String(format!("The `{set_name}` attribute set.")));
            m.insert("doc".into(), d);
            Value::Mapping(m)
        };
        numbered(o, &holder, &ty, "u16", &variants);
        let last = camel(&variants.last().ok_or("empty attribute set")?.name);
        let _ = write!(
            o,
            "
impl {ty} {{
    /// The highest attribute number.
    pub const MAX: u16 = {ty}::{last} as u16;

    /// How the attribute is carried, and what the netlink core checks of it.
    pub const fn spec(self) -> AttrSpec {{
        match self {{
{specs}        }}
    }}
}}
"
        );
        Ok(())
    }

    /// The `checks` of attribute `a` as a `Checks` expression, if it has
    /// any.
    fn checks(&self, a: &Value) -> Res<Option<String>> {
        let Some(c) = a.get("checks") else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        for (k, v) in map(c, "checks")? {
            let k = k.as_str().unwrap_or("?");
            let field = match k {
                "min" => "min",
                "max" => "max",
                "min-len" => "min_len",
                "max-len" => "max_len",
                "exact-len" => "exact_len",
                other => return Err(format!("{}: check `{other}` is not generated", name_of(a))),
            };
            let n = match v {
                Value::Number(n) => n.as_u64().ok_or("negative check")?,
                Value::String(s) => *self
                    .consts
                    .get(s)
                    .ok_or_else(|| format!("{}: no constant `{s}`", name_of(a)))?,
                _ => return Err(format!("{}: check `{k}` is no number", name_of(a))),
            };
            fields.push(format!("{field}: Some({}),\n", group(n)));
        }
        // As rustfmt writes it: one field a line.
        let pad = " ".repeat(16);
        let mut out = "Checks {\n".to_string();
        for f in fields {
            out.push_str(&pad);
            out.push_str(&f);
        }
        out.push_str(&pad);
        out.push_str("..Checks::NONE\n");
        out.push_str(&" ".repeat(12));
        out.push('}');
        Ok(Some(out))
    }
}

/// An enum variant to write.
struct Variant {
    name: String,
    value: u64,
    doc: String,
}

/// `n` with `_` between groups of three digits from five digits on, as
/// rustfmt-clean code writes large literals.
fn group(n: u64) -> String {
    let s = n.to_string();
    if s.len() < 6 {
        return s;
    }
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// A `numbered!` enum (the macro of `super`).
fn numbered(o: &mut String, about: &Value, ty: &str, repr: &str, variants: &[Variant]) {
    let _ = write!(
        o,
        "\nnumbered! {{\n{}    pub enum {ty}: {repr} {{\n",
        doc(about, "    ", "")
    );
    for v in variants {
        o.push_str(&v.doc);
        let _ = writeln!(
            o,
            "        {} = {} => \"{}\",",
            camel(&v.name),
            v.value,
            v.name
        );
    }
    o.push_str("    }\n}\n");
}

/// `pub const fn NAME(self) -> bool` true for `variants`.
fn matches_fn(o: &mut String, about: &str, name: &str, variants: &[String]) {
    let _ = write!(
        o,
        "    /// {about}\n    pub const fn {name}(self) -> bool {{\n        matches!(\n            self,\n            {}\n        )\n    }}\n",
        variants.join("\n                | ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The checked-in Rust form of the spec is what the spec generates now:
    /// neither was edited alone.
    #[test]
    fn generated_file_is_fresh() {
        let spec = std::fs::read_to_string(repo().join(SPEC)).expect("read the spec");
        let want = generate(&spec).expect("generate");
        let have = std::fs::read_to_string(repo().join(OUTPUT)).expect("read the generated file");
        assert!(
            have == want,
            "{OUTPUT} differs from what {SPEC} generates: \
             run `cargo run -p xtask -- gen-netlink` (and never edit {OUTPUT} by hand)"
        );
    }

    #[test]
    fn unknown_spec_features_are_refused() {
        let spec = std::fs::read_to_string(repo().join(SPEC)).expect("read the spec");
        let with_mcast = format!("{spec}\nmcast-groups:\n  list:\n    - name: events\n");
        let err = generate(&with_mcast).expect_err("mcast-groups are not generated");
        assert!(err.contains("mcast-groups"), "{err}");
        let sparse = spec.replacen("exact-len: 6", "exact-len: 6\n          min: 2", 1);
        assert!(generate(&sparse).is_ok(), "a check is generated");
        let odd = spec.replacen("exact-len: 6", "unterminated-ok: true", 1);
        assert!(generate(&odd).is_err(), "an unknown check is refused");
    }

    #[test]
    fn names() {
        assert_eq!(camel("node-get"), "NodeGet");
        assert_eq!(upper("node-id-max"), "NODE_ID_MAX");
        assert_eq!(group(65535), "65535");
        assert_eq!(group(1_000_000), "1_000_000");
    }
}
