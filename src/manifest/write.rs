//! Writes a manifest as TOML, KDL or JSON. Reading what is written gives back the same manifest.

use serde_json::{Map, Value};

use super::{FORMAT_VERSION, Format, Manifest};
use crate::domains::{IDENTITY_FIELDS, KINDS};
use crate::model::flags::{FREEFORM, KEYED};
use crate::model::{Domain, KindMeta};

/// The manifest as one JSON document: `{format_version, tenant, <domain>: {<kind>: [...]}}`, with
/// domains and kinds in registry order and resources in manifest order.
pub fn to_document(m: &Manifest) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "format_version".into(),
        Value::String(FORMAT_VERSION.into()),
    );
    doc.insert(
        "tenant".into(),
        serde_json::to_value(&m.tenant).unwrap_or(Value::Null),
    );
    for domain in Domain::ALL {
        let mut section = Map::new();
        for entry in KINDS {
            let meta = (entry.meta)();
            if meta.domain != domain {
                continue;
            }
            let items: Vec<Value> = m
                .resources
                .iter()
                .filter(|r| std::ptr::eq(r.spec.meta(), meta))
                .map(|r| r.spec.to_json())
                .collect();
            if !items.is_empty() {
                section.insert(meta.kind.into(), Value::Array(items));
            }
        }
        if !section.is_empty() {
            doc.insert(domain.as_str().into(), Value::Object(section));
        }
    }
    Value::Object(doc)
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write TOML: {0} (TOML has no null; write this manifest as KDL or JSON)")]
    Toml(String),
    #[error("cannot write JSON: {0}")]
    Json(String),
}

pub fn write(m: &Manifest, format: Format) -> Result<String, WriteError> {
    let doc = to_document(m);
    match format {
        Format::Json => serde_json::to_string_pretty(&doc)
            .map(|s| s + "\n")
            .map_err(|e| WriteError::Json(e.to_string())),
        Format::Toml => {
            if let Some(path) = find_null(&doc, String::new()) {
                return Err(WriteError::Toml(format!("null value at {path}")));
            }
            to_toml(doc)
        }
        Format::Kdl => Ok(to_kdl(&doc)),
    }
}

/// TOML, one resource at a time: the header keys and `[tenant]`, then each resource as its own
/// `[[<domain>.<kind>]]` section (the same text as the whole document at once, whose serializer slows
/// down with the number of array elements).
fn to_toml(doc: Value) -> Result<String, WriteError> {
    let err = |e: toml::ser::Error| WriteError::Toml(e.to_string());
    let Value::Object(doc) = doc else {
        return toml::to_string_pretty(&doc).map_err(err);
    };
    let mut head = Map::new();
    let mut sections = Vec::new();
    for (k, v) in doc {
        match v {
            Value::Object(kinds) if Domain::ALL.iter().any(|d| d.as_str() == k) => {
                sections.push((k, kinds))
            }
            other => {
                head.insert(k, other);
            }
        }
    }
    let mut out = toml::to_string_pretty(&Value::Object(head)).map_err(err)?;
    for (domain, kinds) in sections {
        for (kind, items) in kinds {
            let Value::Array(items) = items else {
                continue;
            };
            for item in items {
                let one = serde_json::json!({ domain.as_str(): { kind.as_str(): [item] } });
                if !out.is_empty() && !out.ends_with("\n\n") {
                    out.push('\n');
                }
                out.push_str(&toml::to_string_pretty(&one).map_err(err)?);
            }
        }
    }
    Ok(out)
}

fn find_null(v: &Value, path: String) -> Option<String> {
    match v {
        Value::Null => Some(if path.is_empty() { "/".into() } else { path }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| find_null(x, format!("{path}/{i}"))),
        Value::Object(o) => o
            .iter()
            .find_map(|(k, x)| find_null(x, format!("{path}/{k}"))),
        _ => None,
    }
}

// ----------------------------------------------------------------------------------------------- KDL

fn kdl_value(v: &Value) -> Option<kdl::KdlValue> {
    Some(match v {
        Value::Null => kdl::KdlValue::Null,
        Value::Bool(b) => kdl::KdlValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                kdl::KdlValue::Integer(i.into())
            } else if let Some(u) = n.as_u64() {
                kdl::KdlValue::Integer(u.into())
            } else {
                kdl::KdlValue::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => kdl::KdlValue::String(s.clone()),
        _ => return None,
    })
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// A scalar short enough to sit on its node's line as a property.
fn is_inline(v: &Value) -> bool {
    match v {
        Value::String(s) => s.len() <= 60 && !s.contains('\n'),
        other => is_scalar(other),
    }
}

fn to_kdl(doc: &Value) -> String {
    let mut out = kdl::KdlDocument::new();
    let Value::Object(top) = doc else {
        return String::new();
    };
    for (k, v) in top {
        match (k.as_str(), v) {
            ("format_version", v) => out.nodes_mut().push(scalar_node(k, v)),
            ("tenant", Value::Object(t)) => {
                let mut n = kdl::KdlNode::new("tenant");
                fill_struct(&mut n, t, None, "", false);
                out.nodes_mut().push(n);
            }
            (domain, Value::Object(kinds)) => {
                let mut dn = kdl::KdlNode::new(domain);
                let children = dn.ensure_children();
                for (kind, items) in kinds {
                    let meta = domain
                        .parse::<Domain>()
                        .ok()
                        .and_then(|d| crate::domains::kind(d, kind));
                    for item in items.as_array().into_iter().flatten() {
                        if let Value::Object(o) = item {
                            let mut n = kdl::KdlNode::new(kind.as_str());
                            fill_struct(&mut n, o, meta, "", true);
                            children.nodes_mut().push(n);
                        }
                    }
                }
                out.nodes_mut().push(dn);
            }
            _ => {}
        }
    }
    out.autoformat();
    out.to_string()
}

fn scalar_node(name: &str, v: &Value) -> kdl::KdlNode {
    let mut n = kdl::KdlNode::new(name);
    if let Some(kv) = kdl_value(v) {
        n.push(kdl::KdlEntry::new(kv));
    }
    n
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn flags(meta: Option<&KindMeta>, path: &str) -> u8 {
    meta.map(|m| m.flags_of(path)).unwrap_or(0)
}

/// The meta path of a field: `a.*` when `a` is a map whose values have metadata.
fn field_path(meta: Option<&KindMeta>, parent: &str, key: &str) -> String {
    let direct = join(parent, key);
    match meta {
        Some(m) if m.field(&direct).is_none() && m.field(&join(parent, "*")).is_some() => {
            join(parent, "*")
        }
        _ => direct,
    }
}

/// Fills a node from a struct's fields. With `positional`, a leading identity field becomes the node's
/// argument (the reader maps an argument back to the struct's first field).
fn fill_struct(
    node: &mut kdl::KdlNode,
    obj: &Map<String, Value>,
    meta: Option<&KindMeta>,
    path: &str,
    positional: bool,
) {
    let mut iter = obj.iter().peekable();
    if positional
        && let Some((k, Value::String(s))) = iter.peek()
        && IDENTITY_FIELDS.contains(&k.as_str())
    {
        node.push(kdl::KdlEntry::new(s.clone()));
        iter.next();
    }
    for (k, v) in iter {
        let fp = field_path(meta, path, k);
        if flags(meta, &fp) & FREEFORM != 0 {
            if is_inline(v) {
                if let Some(kv) = kdl_value(v) {
                    node.push(kdl::KdlEntry::new_prop(k.as_str(), kv));
                }
            } else {
                node.ensure_children().nodes_mut().push(free_node(k, v));
            }
            continue;
        }
        match v {
            v if is_inline(v) => {
                if let Some(kv) = kdl_value(v) {
                    node.push(kdl::KdlEntry::new_prop(k.as_str(), kv));
                }
            }
            v if is_scalar(v) => node.ensure_children().nodes_mut().push(scalar_node(k, v)),
            Value::Array(items) if items.iter().all(is_scalar) => {
                let mut n = kdl::KdlNode::new(k.as_str());
                for i in items {
                    if let Some(kv) = kdl_value(i) {
                        n.push(kdl::KdlEntry::new(kv));
                    }
                }
                node.ensure_children().nodes_mut().push(n);
            }
            Value::Array(items) if items.iter().all(Value::is_object) => {
                let item_path = format!("{fp}[]");
                let keyed = flags(meta, &fp) & KEYED != 0;
                for item in items {
                    if let Value::Object(o) = item {
                        let mut n = kdl::KdlNode::new(k.as_str());
                        fill_struct(&mut n, o, meta, &item_path, keyed);
                        node.ensure_children().nodes_mut().push(n);
                    }
                }
            }
            Value::Object(o) => {
                let mut n = kdl::KdlNode::new(k.as_str());
                if !o.is_empty() && o.keys().all(|k| k == "-") {
                    n.set_ty("object");
                }
                fill_struct(&mut n, o, meta, &fp, false);
                node.ensure_children().nodes_mut().push(n);
            }
            other => node.ensure_children().nodes_mut().push(free_node(k, other)),
        }
    }
}

/// Free-form JSON as KDL: objects as child nodes, lists as `-` items, `(array)` for an empty list and
/// `(object)` where an object would read as a list.
fn free_node(name: &str, v: &Value) -> kdl::KdlNode {
    let mut n = kdl::KdlNode::new(name);
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                n.set_ty("array");
            }
            let children = n.ensure_children();
            for item in items {
                children.nodes_mut().push(match kdl_value(item) {
                    Some(kv) => {
                        let mut d = kdl::KdlNode::new("-");
                        d.push(kdl::KdlEntry::new(kv));
                        d
                    }
                    None => free_node("-", item),
                });
            }
            if items.is_empty() {
                *n.children_mut() = None;
            }
        }
        Value::Object(o) => {
            if !o.is_empty() && o.keys().all(|k| k == "-") {
                n.set_ty("object");
            }
            if !o.is_empty() {
                let children = n.ensure_children();
                for (k, x) in o {
                    children.nodes_mut().push(free_node(k, x));
                }
            }
        }
        scalar => {
            if let Some(kv) = kdl_value(scalar) {
                n.push(kdl::KdlEntry::new(kv));
            }
        }
    }
    n
}
