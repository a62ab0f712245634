//! What the tenant's namespace holds that no kind carries: every member of an entity as OpenWhisk answers
//! it that no field reads and the server does not maintain, when it is set (not absent, `false`, empty or
//! the documented default): a shared (`publish`) action, trigger or rule, a rule's annotations, a trigger's
//! limits, an action limit or `exec` member falconer has no field for. And the namespace's own limits (set
//! by an operator for the namespace; OpenWhisk answers only those that are set). Members are named, never
//! their values (an unknown member may hold a secret); a namespace limit is a number and is shown.

use serde_json::Value;

use crate::domains::provider::NotCarried;

/// Members every entity has that the server maintains or the list names.
const SERVER: &[&str] = &["namespace", "name", "version", "updated", "entityType"];

/// The members of each entity kind that a field reads (or the server lists: a package's contents, a
/// trigger's rules).
fn read_by(kind: &str) -> &'static [&'static str] {
    match kind {
        "action" => &["exec", "annotations", "parameters", "limits"],
        "package" => &["publish", "annotations", "parameters", "binding", "actions", "feeds"],
        "trigger" => &["annotations", "parameters", "rules"],
        "rule" => &["trigger", "action", "status"],
        _ => &[],
    }
}

/// An action's limits and `exec` members that fields read.
const LIMITS: &[&str] = &["timeout", "memory", "logs", "concurrency"];
const EXEC: &[&str] = &["kind", "code", "image", "main", "binary", "components"];

fn set(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The members of `entity` (an entity of `kind` named `name`, as read on its own) that nothing carries.
pub fn members(kind: &str, name: &str, entity: &Value) -> Vec<NotCarried> {
    let read = read_by(kind);
    let mut out = Vec::new();
    let mut say = |member: String| {
        out.push(NotCarried {
            kind: format!("{kind} member"),
            name: format!("{name}: {member}"),
        })
    };
    for (member, v) in entity.as_object().into_iter().flatten() {
        if !SERVER.contains(&member.as_str()) && !read.contains(&member.as_str()) && set(v) {
            say(member.clone());
        }
    }
    if kind == "action" {
        for (inner, known) in [("limits", LIMITS), ("exec", EXEC)] {
            for (member, v) in entity[inner].as_object().into_iter().flatten() {
                if !known.contains(&member.as_str()) && set(v) {
                    say(format!("{inner}.{member}"));
                }
            }
        }
    }
    out
}

/// The limits set for the namespace (`GET /namespaces/{namespace}/limits`).
pub fn namespace_limits(limits: &Value) -> Vec<NotCarried> {
    limits
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| NotCarried {
            kind: "namespace limit".into(),
            name: format!("{k} = {v}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_members_no_field_reads_are_named_by_name_only() {
        let action = json!({"namespace": "acme/orders", "name": "notify", "version": "0.0.2", "publish": true,
            "exec": {"kind": "nodejs:20", "code": "x", "binary": false, "entryPoint": "main2"},
            "limits": {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1, "instances": 4},
            "annotations": [], "parameters": [], "updated": 1});
        let names: Vec<String> = members("action", "orders/notify", &action)
            .into_iter()
            .map(|n| format!("{}: {}", n.kind, n.name))
            .collect();
        assert_eq!(
            names,
            [
                "action member: orders/notify: publish",
                "action member: orders/notify: limits.instances",
                "action member: orders/notify: exec.entryPoint"
            ]
        );
        let rule = json!({"name": "r", "publish": false, "annotations": [{"key": "owner", "value": "ops"}],
            "status": "active", "trigger": {}, "action": {}});
        assert_eq!(members("rule", "r", &rule).len(), 1);
        let plain = json!({"name": "t", "publish": false, "annotations": [], "parameters": [], "limits": {}, "rules": {}});
        assert!(members("trigger", "t", &plain).is_empty());
        let limits = namespace_limits(&json!({"invocationsPerMinute": 120, "storeActivations": false}));
        assert_eq!(limits[0].name, "invocationsPerMinute = 120");
        assert_eq!(limits.len(), 2);
    }
}
