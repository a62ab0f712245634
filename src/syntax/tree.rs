//! The spanned value tree: one shape for TOML, KDL and JSON input.
//!
//! Each reader turns its format into a [`Node`] tree that remembers where every key and value came from.
//! The typed decoder ([`super::de`]) then works on this tree only, so every diagnostic (unknown field, wrong
//! type, missing field) is produced the same way, with a span, whatever the input format.
//!
//! KDL is node-based, so it needs a mapping to this tree (documented in `docs/manifest.md`):
//! - a node is a field of its parent object, named by the node name;
//! - `name value` is a scalar, `name a b c` a list of scalars;
//! - properties (`key=value`) and child nodes are the fields of an object;
//! - one argument on a node that also has fields is shorthand for the object's first field
//!   (`table "orders" schema="s" { ... }` sets `name = "orders"`);
//! - repeated nodes with the same name form a list;
//! - `-` child nodes are list items (`required { - "id"; - "total" }`), for free-form JSON values;
//! - `(array)name` and `(object)name` force the shape of an empty or ambiguous value.

use crate::diag::{Issue, Span};

/// Node flags.
pub const LENIENT_SEQ: u8 = 1;
/// A list that was made from repeated KDL nodes with the same name.
pub const REPEATED: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub val: Val,
    pub flags: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Arr(Vec<Node>),
    Obj(Obj),
    /// A bare KDL node with no arguments, properties or children.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj {
    pub entries: Vec<(Key, Node)>,
    /// A KDL node's single argument, standing for the first field of the struct it decodes into.
    pub positional: Option<Box<Node>>,
}

impl Obj {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }
}

impl Node {
    pub fn new(span: Span, val: Val) -> Self {
        Node {
            span,
            val,
            flags: 0,
        }
    }

    /// The JSON pointer of the innermost value whose span holds `offset` (for data read without a file a
    /// person can open: an issue is better named by its path than by a line of generated text).
    pub fn pointer_at(&self, offset: u32) -> String {
        let holds = |n: &Node| n.span.start <= offset && offset < n.span.end.max(n.span.start + 1);
        let mut out = String::new();
        let mut cur = self;
        loop {
            let next = match &cur.val {
                Val::Obj(o) => o.entries.iter().find_map(|(k, v)| {
                    let on_key = k.span.start <= offset && offset < k.span.end;
                    (holds(v) || on_key).then(|| (crate::util::escape_pointer(&k.name), v))
                }),
                Val::Arr(items) => items
                    .iter()
                    .enumerate()
                    .find(|(_, v)| holds(v))
                    .map(|(i, v)| (i.to_string(), v)),
                _ => None,
            };
            match next {
                Some((seg, v)) => {
                    out.push('/');
                    out.push_str(&seg);
                    cur = v;
                }
                None => return out,
            }
        }
    }

    pub fn type_name(&self) -> &'static str {
        match &self.val {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Int(_) | Val::UInt(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Str(_) => "a string",
            Val::Arr(_) => "a list",
            Val::Obj(_) => "a table",
            Val::Empty => "an empty node",
        }
    }

    /// Entries of an object node (an empty KDL node counts as an empty object).
    pub fn entries(&self) -> Option<&[(Key, Node)]> {
        match &self.val {
            Val::Obj(o) => Some(&o.entries),
            Val::Empty => Some(&[]),
            _ => None,
        }
    }

    /// Items of a list node; a single KDL node where a list is expected counts as a list of one.
    pub fn items(&self) -> Option<Vec<&Node>> {
        match &self.val {
            Val::Arr(items) => Some(items.iter().collect()),
            Val::Empty => Some(Vec::new()),
            _ if self.flags & LENIENT_SEQ != 0 => Some(vec![self]),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.val {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to plain JSON (used for free-form values and for writing).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.val {
            Val::Null => J::Null,
            Val::Bool(b) => J::Bool(*b),
            Val::Int(i) => J::from(*i),
            Val::UInt(u) => J::from(*u),
            Val::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Val::Str(s) => J::String(s.clone()),
            Val::Arr(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Val::Obj(o) => J::Object(
                o.entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
            Val::Empty => J::Object(Default::default()),
        }
    }
}

/// The deepest nesting of lists and tables a manifest may have. Deeper input is refused before it is
/// parsed, so that no reader recurses without bound.
pub const MAX_DEPTH: usize = 64;

/// Refuses input nested deeper than [`MAX_DEPTH`] (brackets and braces outside quoted strings).
fn check_depth(file: u32, text: &str) -> Result<(), Vec<Issue>> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(vec![
                        Issue::error(
                            "too-deep",
                            format!("lists and tables are nested deeper than {MAX_DEPTH} levels"),
                        )
                        .at(Span::new(file, i..i + 1))
                        .label("too deep"),
                    ]);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// An integer value: signed if it fits, else unsigned, else an error (wider than 64 bits).
fn integer(signed: Option<i64>, unsigned: Option<u64>, span: Span, issues: &mut Vec<Issue>) -> Val {
    match (signed, unsigned) {
        (Some(n), _) => Val::Int(n),
        (None, Some(n)) => Val::UInt(n),
        (None, None) => {
            issues.push(
                Issue::error("syntax", "integer out of range")
                    .at(span)
                    .label("does not fit in 64 bits"),
            );
            Val::Null
        }
    }
}

// ---------------------------------------------------------------------------------------------- TOML

/// Reads a TOML document.
pub fn read_toml(file: u32, text: &str) -> Result<Node, Vec<Issue>> {
    check_depth(file, text)?;
    match toml::de::DeTable::parse(text) {
        Ok(table) => {
            let span = Span::new(file, table.span());
            let mut issues = Vec::new();
            let obj = toml_table(file, table.get_ref(), &mut issues);
            if issues.is_empty() {
                Ok(Node::new(span, Val::Obj(obj)))
            } else {
                Err(issues)
            }
        }
        Err(e) => {
            let span = Some(Span::new(file, e.span().unwrap_or(0..0)));
            let msg = e.message().trim().to_string();
            Err(vec![
                Issue::error("syntax", format!("invalid TOML: {msg}"))
                    .at_opt(span)
                    .label("here"),
            ])
        }
    }
}

fn toml_table(file: u32, t: &toml::de::DeTable<'_>, issues: &mut Vec<Issue>) -> Obj {
    let entries = t
        .iter()
        .map(|(k, v)| {
            (
                Key {
                    name: k.get_ref().to_string(),
                    span: Span::new(file, k.span()),
                },
                toml_value(file, v, issues),
            )
        })
        .collect();
    Obj {
        entries,
        positional: None,
    }
}

fn toml_value(
    file: u32,
    v: &toml::Spanned<toml::de::DeValue<'_>>,
    issues: &mut Vec<Issue>,
) -> Node {
    use toml::de::DeValue;
    let span = Span::new(file, v.span());
    let val = match v.get_ref() {
        DeValue::String(s) => Val::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            integer(
                i64::from_str_radix(&digits, i.radix()).ok(),
                u64::from_str_radix(&digits, i.radix()).ok(),
                span,
                issues,
            )
        }
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
            Ok(x) => Val::Float(x),
            Err(_) => {
                issues.push(Issue::error("syntax", "invalid float").at(span));
                Val::Null
            }
        },
        DeValue::Boolean(b) => Val::Bool(*b),
        DeValue::Datetime(d) => Val::Str(d.to_string()),
        DeValue::Array(a) => Val::Arr(a.iter().map(|x| toml_value(file, x, issues)).collect()),
        DeValue::Table(t) => Val::Obj(toml_table(file, t, issues)),
    };
    Node::new(span, val)
}

// ---------------------------------------------------------------------------------------------- JSON

/// Reads a JSON document (strict JSON: no comments, no trailing commas).
pub fn read_json(file: u32, text: &str) -> Result<Node, Vec<Issue>> {
    check_depth(file, text)?;
    let opts = jsonc_parser::ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    match jsonc_parser::parse_to_ast(text, &Default::default(), &opts) {
        Ok(res) => match res.value {
            Some(v) => {
                let mut issues = Vec::new();
                let node = json_value(file, &v, &mut issues);
                if issues.is_empty() {
                    Ok(node)
                } else {
                    Err(issues)
                }
            }
            None => Err(vec![
                Issue::error("syntax", "invalid JSON: the file is empty").at(Span::new(file, 0..0)),
            ]),
        },
        Err(e) => {
            let r = e.range();
            Err(vec![
                Issue::error("syntax", format!("invalid JSON: {}", e.kind()))
                    .at(Span::new(file, r.start..r.end))
                    .label("here"),
            ])
        }
    }
}

fn json_value(file: u32, v: &jsonc_parser::ast::Value<'_>, issues: &mut Vec<Issue>) -> Node {
    use jsonc_parser::ast::Value as A;
    let sp = |r: jsonc_parser::common::Range| Span::new(file, r.start..r.end);
    match v {
        A::StringLit(s) => Node::new(sp(s.range), Val::Str(s.value.to_string())),
        A::NumberLit(n) => {
            let val = if let Ok(i) = n.value.parse::<i64>() {
                Val::Int(i)
            } else if let Ok(u) = n.value.parse::<u64>() {
                Val::UInt(u)
            } else if let Ok(f) = n.value.parse::<f64>() {
                Val::Float(f)
            } else {
                issues.push(Issue::error("syntax", "invalid number").at(sp(n.range)));
                Val::Null
            };
            Node::new(sp(n.range), val)
        }
        A::BooleanLit(b) => Node::new(sp(b.range), Val::Bool(b.value)),
        A::NullKeyword(n) => Node::new(sp(n.range), Val::Null),
        A::Array(a) => Node::new(
            sp(a.range),
            Val::Arr(
                a.elements
                    .iter()
                    .map(|e| json_value(file, e, issues))
                    .collect(),
            ),
        ),
        A::Object(o) => {
            let mut obj = Obj::default();
            for p in &o.properties {
                let (name, krange) = match &p.name {
                    jsonc_parser::ast::ObjectPropName::String(s) => (s.value.to_string(), s.range),
                    jsonc_parser::ast::ObjectPropName::Word(w) => (w.value.to_string(), w.range),
                };
                let kspan = sp(krange);
                if let Some((first, _)) = obj.entries.iter().find(|(k, _)| k.name == name) {
                    issues.push(
                        Issue::error(
                            "duplicate-key",
                            format!("key `{name}` appears twice in one object"),
                        )
                        .at(kspan)
                        .label("second definition")
                        .related(first.span, "first defined here"),
                    );
                    continue;
                }
                obj.entries.push((
                    Key { name, span: kspan },
                    json_value(file, &p.value, issues),
                ));
            }
            Node::new(sp(o.range), Val::Obj(obj))
        }
    }
}

// ----------------------------------------------------------------------------------------------- KDL

/// Reads a KDL (v2) document.
pub fn read_kdl(file: u32, text: &str) -> Result<Node, Vec<Issue>> {
    check_depth(file, text)?;
    match text.parse::<kdl::KdlDocument>() {
        Ok(doc) => {
            let mut issues = Vec::new();
            let obj = kdl_nodes(file, doc.nodes(), &mut issues);
            if issues.is_empty() {
                Ok(Node::new(Span::new(file, 0..text.len()), Val::Obj(obj)))
            } else {
                Err(issues)
            }
        }
        Err(e) => {
            let mut issues: Vec<Issue> = e
                .diagnostics
                .iter()
                .map(|d| {
                    let off = d.span.offset();
                    let mut i = Issue::error(
                        "syntax",
                        format!(
                            "invalid KDL: {}",
                            d.message.clone().unwrap_or_else(|| "syntax error".into())
                        ),
                    )
                    .at(Span::new(file, off..off + d.span.len()));
                    if let Some(l) = &d.label {
                        i = i.label(l.clone());
                    }
                    if let Some(h) = &d.help {
                        i = i.help(h.clone());
                    }
                    i
                })
                .collect();
            if issues.is_empty() {
                issues
                    .push(Issue::error("syntax", "invalid KDL document").at(Span::new(file, 0..0)));
            }
            Err(issues)
        }
    }
}

fn span_of(file: u32, s: miette::SourceSpan) -> Span {
    Span::new(file, s.offset()..s.offset() + s.len())
}

fn kdl_nodes(file: u32, nodes: &[kdl::KdlNode], issues: &mut Vec<Issue>) -> Obj {
    let mut groups: Vec<(String, Vec<&kdl::KdlNode>)> = Vec::new();
    for n in nodes {
        let name = n.name().value();
        match groups.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => v.push(n),
            None => groups.push((name.to_string(), vec![n])),
        }
    }
    let entries = groups
        .into_iter()
        .map(|(name, ns)| {
            let key = Key {
                name,
                span: span_of(file, ns[0].name().span()),
            };
            let node = if ns.len() == 1 {
                kdl_node_value(file, ns[0], issues)
            } else {
                let items = ns.iter().map(|n| kdl_node_value(file, n, issues)).collect();
                Node {
                    span: key.span,
                    val: Val::Arr(items),
                    flags: REPEATED | LENIENT_SEQ,
                }
            };
            (key, node)
        })
        .collect();
    Obj {
        entries,
        positional: None,
    }
}

fn kdl_scalar(file: u32, e: &kdl::KdlEntry, issues: &mut Vec<Issue>) -> Node {
    let span = span_of(file, e.span());
    let val = match e.value() {
        kdl::KdlValue::String(s) => Val::Str(s.clone()),
        kdl::KdlValue::Integer(i) => {
            integer(i64::try_from(*i).ok(), u64::try_from(*i).ok(), span, issues)
        }
        kdl::KdlValue::Float(f) => Val::Float(*f),
        kdl::KdlValue::Bool(b) => Val::Bool(*b),
        kdl::KdlValue::Null => Val::Null,
    };
    Node {
        span,
        val,
        flags: LENIENT_SEQ,
    }
}

fn kdl_node_value(file: u32, n: &kdl::KdlNode, issues: &mut Vec<Issue>) -> Node {
    let name_span = span_of(file, n.name().span());
    let args: Vec<&kdl::KdlEntry> = n.entries().iter().filter(|e| e.name().is_none()).collect();
    let props: Vec<&kdl::KdlEntry> = n.entries().iter().filter(|e| e.name().is_some()).collect();
    let children: &[kdl::KdlNode] = n.children().map(|d| d.nodes()).unwrap_or(&[]);
    let ty = n.ty().map(|t| t.value().to_string());
    match ty.as_deref() {
        Some("array") => {
            if !props.is_empty() {
                issues.push(
                    Issue::error("kdl-shape", "an `(array)` node cannot have properties")
                        .at(span_of(file, props[0].span())),
                );
            }
            let items = kdl_list_items(file, &args, children, issues);
            return Node::new(name_span, Val::Arr(items));
        }
        Some("object") | None => {}
        Some(other) => {
            issues.push(
                Issue::error("kdl-shape", format!("unknown type annotation `({other})`"))
                    .at(name_span)
                    .help("only `(array)` and `(object)` are understood"),
            );
        }
    }
    let force_object = ty.as_deref() == Some("object");
    if !force_object && props.is_empty() && children.is_empty() {
        return match args.len() {
            0 => Node::new(name_span, Val::Empty),
            1 => kdl_scalar(file, args[0], issues),
            _ => Node {
                span: name_span,
                val: Val::Arr(args.iter().map(|e| kdl_scalar(file, e, issues)).collect()),
                flags: LENIENT_SEQ,
            },
        };
    }
    if !force_object
        && props.is_empty()
        && args.is_empty()
        && children.iter().all(|c| c.name().value() == "-")
    {
        let items = kdl_list_items(file, &args, children, issues);
        return Node::new(name_span, Val::Arr(items));
    }
    let mut obj = kdl_fields(file, &props, children, issues);
    match args.len() {
        0 => {}
        1 if !force_object => obj.positional = Some(Box::new(kdl_scalar(file, args[0], issues))),
        _ => issues.push(
            Issue::error(
                "kdl-shape",
                format!(
                    "node `{}` has fields and more than one argument",
                    n.name().value()
                ),
            )
            .at(span_of(file, args[args.len() - 1].span()))
            .help("a node with properties or children takes at most one argument: its name"),
        ),
    }
    Node {
        span: name_span,
        val: Val::Obj(obj),
        flags: LENIENT_SEQ,
    }
}

/// A list: the node's arguments, then its `-` children.
fn kdl_list_items(
    file: u32,
    args: &[&kdl::KdlEntry],
    children: &[kdl::KdlNode],
    issues: &mut Vec<Issue>,
) -> Vec<Node> {
    let mut items: Vec<Node> = args.iter().map(|e| kdl_scalar(file, e, issues)).collect();
    for c in children {
        if c.name().value() != "-" {
            issues.push(
                Issue::error(
                    "kdl-shape",
                    format!(
                        "list items are written as `-` nodes, found `{}`",
                        c.name().value()
                    ),
                )
                .at(span_of(file, c.name().span()))
                .help("write each item of a list as `- value` or `- { ... }`"),
            );
            continue;
        }
        items.push(kdl_node_value(file, c, issues));
    }
    items
}

/// An object: the node's properties, then its children (a key given both ways is an error).
fn kdl_fields(
    file: u32,
    props: &[&kdl::KdlEntry],
    children: &[kdl::KdlNode],
    issues: &mut Vec<Issue>,
) -> Obj {
    let mut obj = Obj::default();
    for p in props {
        let Some(name) = p.name() else { continue };
        let key = Key {
            name: name.value().to_string(),
            span: span_of(file, name.span()),
        };
        if let Some((first, _)) = obj.entries.iter().find(|(k, _)| k.name == key.name) {
            issues.push(
                Issue::error("duplicate-key", format!("`{}` is given twice", key.name))
                    .at(key.span)
                    .related(first.span, "first given here"),
            );
            continue;
        }
        let mut v = kdl_scalar(file, p, issues);
        v.flags = 0;
        obj.entries.push((key, v));
    }
    let child_obj = kdl_nodes(file, children, issues);
    for (k, v) in child_obj.entries {
        if let Some((first, _)) = obj.entries.iter().find(|(f, _)| f.name == k.name) {
            issues.push(
                Issue::error(
                    "duplicate-key",
                    format!(
                        "`{}` is given both as a property and as a child node",
                        k.name
                    ),
                )
                .at(k.span)
                .related(first.span, "first given here"),
            );
            continue;
        }
        obj.entries.push((k, v));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdl_shapes() {
        let src = r#"
a 1
b "x" "y"
c
t "orders" schema="s" { col "id"; col "name" }
l { - 1; - "two" }
(array)e
"#;
        let n = read_kdl(0, src).expect("parses");
        let j = n.to_json();
        assert_eq!(j["a"], serde_json::json!(1));
        assert_eq!(j["b"], serde_json::json!(["x", "y"]));
        assert_eq!(j["c"], serde_json::json!({}));
        assert_eq!(j["t"]["schema"], serde_json::json!("s"));
        assert_eq!(j["t"]["col"], serde_json::json!(["id", "name"]));
        assert_eq!(j["l"], serde_json::json!([1, "two"]));
        assert_eq!(j["e"], serde_json::json!([]));
        let Val::Obj(o) = &n.val else {
            panic!("object")
        };
        let Val::Obj(t) = &o.get("t").expect("t").val else {
            panic!("object")
        };
        assert_eq!(
            t.positional.as_ref().and_then(|p| p.as_str()),
            Some("orders")
        );
    }

    #[test]
    fn json_duplicate_keys_are_errors() {
        let errs = read_json(0, r#"{"a": 1, "a": 2}"#).expect_err("duplicate");
        assert_eq!(errs[0].code, "duplicate-key");
    }

    #[test]
    fn toml_spans() {
        let n = read_toml(0, "a = 1\n[t]\nb = \"x\"\n").expect("parses");
        let Val::Obj(o) = &n.val else {
            panic!("object")
        };
        let t = o.get("t").expect("t");
        let Val::Obj(to) = &t.val else {
            panic!("object")
        };
        let (k, v) = &to.entries[0];
        assert_eq!(k.name, "b");
        assert_eq!(k.span.start, 10);
        assert_eq!(v.as_str(), Some("x"));
    }
}
