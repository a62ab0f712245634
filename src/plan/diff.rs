//! Field-level diff of two sealed, canonical resource values of one kind, driven by the kind's field
//! metadata: set-like lists compare without order, keyed lists match items by key, server-defaulted
//! fields compare only when the desired side sets them, free-form documents compare as documents, and
//! sealed secrets compare by fingerprint (an unknown secret never differs).

use serde_json::Value;

use crate::model::{KindMeta, flags};
use crate::secrets::sealed;

/// Fields that instruct falconer and are not part of the live object: never compared.
pub const MANIFEST_ONLY: &[&str] = &["depends_on", "renamed_from"];

/// One changed field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// The field, e.g. `column[email].nullable`, `config.retention.ms`.
    pub path: String,
    /// The live value (absent when the field is added). Secrets are never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The desired value (absent when the field is removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// A secret changed: no value is shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// The field cannot change in place: the resource is replaced.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forces_replace: bool,
}

/// The changes between a live and a desired value.
pub fn diff(meta: &KindMeta, desired: &Value, live: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(meta, "", "", Some(desired), Some(live), false, &mut out);
    out
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

fn child_meta_path(meta: &KindMeta, parent: &str, key: &str) -> String {
    let direct = join(parent, key);
    if meta.field(&direct).is_none() && meta.field(&join(parent, "*")).is_some() {
        join(parent, "*")
    } else {
        direct
    }
}

fn change(
    out: &mut Vec<FieldChange>,
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    immutable: bool,
) {
    out.push(FieldChange {
        path: path.to_string(),
        old: old.cloned(),
        new: new.cloned(),
        sensitive: false,
        forces_replace: immutable,
    });
}

fn walk(
    meta: &KindMeta,
    mp: &str,
    shown: &str,
    d: Option<&Value>,
    l: Option<&Value>,
    immutable: bool,
    out: &mut Vec<FieldChange>,
) {
    let f = meta.flags_of(mp);
    let immutable = immutable || f & flags::IMMUTABLE != 0;
    let vacant = |v: &&Value| v.is_null() || (f & flags::EMPTY_IS_ABSENT != 0 && holds_nothing(v));
    let (d, l) = (d.filter(|v| !vacant(v)), l.filter(|v| !vacant(v)));
    if d.is_none() && f & flags::SERVER_DEFAULT != 0 {
        return;
    }
    let secret = f & flags::SECRET != 0
        || d.is_some_and(|v| sealed(v).is_some())
        || l.is_some_and(|v| sealed(v).is_some());
    if secret {
        if secret_differs(d, l) {
            out.push(FieldChange {
                path: shown.to_string(),
                old: None,
                new: None,
                sensitive: true,
                forces_replace: immutable,
            });
        }
        return;
    }
    let (dv, lv) = match (d, l) {
        (None, None) => return,
        (Some(dv), Some(lv)) => (dv, lv),
        _ => return change(out, shown, l, d, immutable),
    };
    let at = At {
        meta,
        mp,
        shown,
        immutable,
    };
    match (dv, lv) {
        _ if f & flags::FREEFORM != 0 => {}
        (Value::Object(dm), Value::Object(lm)) => return walk_objects(&at, dm, lm, out),
        (Value::Array(da), Value::Array(la)) if walk_keyed(&at, f, da, la, out) => return,
        _ => {}
    }
    if !json_eq(dv, lv) {
        change(out, shown, l, d, immutable);
    }
}

/// Whether a value is empty all the way down (`[]`, `{}`, `{"realm": []}`).
fn holds_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(holds_nothing),
        _ => false,
    }
}

/// Where a walk is: the kind's metadata, the field's metadata path and shown path, and whether a parent
/// is immutable.
struct At<'a> {
    meta: &'a KindMeta,
    mp: &'a str,
    shown: &'a str,
    immutable: bool,
}

/// Whether a secret field differs (by fingerprint); a secret the manifest does not declare, which the
/// server keeps unreadable, is left alone.
fn secret_differs(d: Option<&Value>, l: Option<&Value>) -> bool {
    let fd = d.and_then(sealed);
    let fl = l.and_then(sealed);
    match (d.is_some(), l.is_some()) {
        (false, false) => false,
        (true, true) => matches!((fd, fl), (Some(Some(a)), Some(Some(b))) if a != b),
        (false, true) if fl == Some(None) => false,
        // Added or removed: a change, whatever the value.
        _ => true,
    }
}

/// Both sides objects: each key of either side, except those only the manifest has.
fn walk_objects(
    at: &At<'_>,
    dm: &serde_json::Map<String, Value>,
    lm: &serde_json::Map<String, Value>,
    out: &mut Vec<FieldChange>,
) {
    let (meta, mp) = (at.meta, at.mp);
    for (k, x) in dm {
        if MANIFEST_ONLY.contains(&k.as_str()) {
            continue;
        }
        let cmp = child_meta_path(meta, mp, k);
        let shown = join(at.shown, k);
        walk(meta, &cmp, &shown, Some(x), lm.get(k), at.immutable, out);
    }
    for (k, x) in lm {
        if !dm.contains_key(k) && !MANIFEST_ONLY.contains(&k.as_str()) {
            let cmp = child_meta_path(meta, mp, k);
            walk(
                meta,
                &cmp,
                &join(at.shown, k),
                None,
                Some(x),
                at.immutable,
                out,
            );
        }
    }
}

/// Both sides lists of a keyed field: items matched by key. `false` when the field is not keyed or a
/// key repeats (the lists then compare whole).
fn walk_keyed(at: &At<'_>, f: u8, da: &[Value], la: &[Value], out: &mut Vec<FieldChange>) -> bool {
    let unique = |items: &[Value], key: &str| {
        let mut seen = std::collections::HashSet::new();
        items.iter().all(|v| seen.insert(v.get(key).map(key_text)))
    };
    let key = at
        .meta
        .field(at.mp)
        .and_then(|m| m.key)
        .filter(|k| f & flags::KEYED != 0 && unique(da, k) && unique(la, k));
    let Some(key) = key else {
        return false;
    };
    let item_mp = format!("{}[]", at.mp);
    let id = |v: &Value| v.get(key).map(key_text).unwrap_or_default();
    for x in da {
        let k = id(x);
        let live_item = la.iter().find(|y| id(y) == k);
        let shown = format!("{}[{k}]", at.shown);
        walk(
            at.meta,
            &item_mp,
            &shown,
            Some(x),
            live_item,
            at.immutable,
            out,
        );
    }
    for y in la {
        let k = id(y);
        if !da.iter().any(|x| id(x) == k) {
            change(
                out,
                &format!("{}[{k}]", at.shown),
                Some(y),
                None,
                at.immutable,
            );
        }
    }
    true
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`) and object keys by name, not order.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Domain, FieldMeta};
    use serde_json::json;

    static META: KindMeta = KindMeta {
        domain: Domain::ALL[0],
        kind: "thing",
        title: "thing",
        identity: &["name"],
        holds_data: false,
        fields: &[
            FieldMeta::new("members", flags::EMPTY_IS_ABSENT),
            FieldMeta::new("members.inner", flags::SET),
            FieldMeta::new("tags", flags::SET),
        ],
    };

    fn paths(desired: Value, live: Value) -> Vec<String> {
        diff(&META, &desired, &live)
            .into_iter()
            .map(|c| c.path)
            .collect()
    }

    #[test]
    fn an_empty_value_is_none_only_where_the_system_stores_them_alike() {
        let bare = json!({"name": "x"});
        // Where the system stores them alike, empty and absent are one value, either way round.
        for empty in [
            json!({}),
            json!({"inner": []}),
            json!({"inner": [], "outer": {}}),
        ] {
            let given = json!({"name": "x", "members": empty});
            assert!(paths(given.clone(), bare.clone()).is_empty(), "{given}");
            assert!(paths(bare.clone(), given.clone()).is_empty(), "{given}");
        }
        // An explicit empty still removes what is there.
        let held = json!({"name": "x", "members": {"inner": ["one"]}});
        for empty in [json!({}), json!({"inner": []})] {
            let given = json!({"name": "x", "members": empty});
            assert_eq!(paths(given, held.clone()), ["members"]);
        }
        // Elsewhere an empty list is a value of its own.
        assert_eq!(paths(json!({"name": "x", "tags": []}), bare), ["tags"]);
    }
}
