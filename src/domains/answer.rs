//! The shape of an HTTP system's JSON answer, checked before anything reads it: junk (a list where an object
//! is expected, a number where a name is) is a bad answer, never taken for something empty or absent.

use serde_json::Value;

use super::provider::json_kind;

/// What a whole answer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Object,
    /// A list of objects.
    Objects,
    /// A list of strings.
    Strings,
}

/// The JSON kind a system gives a member it names.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Str,
    Bool,
    Object,
    List,
}

impl Kind {
    fn holds(self, v: &Value) -> bool {
        match self {
            Kind::Str => v.is_string(),
            Kind::Bool => v.is_boolean(),
            Kind::Object => v.is_object(),
            Kind::List => v.is_array(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean",
            Kind::Object => "an object",
            Kind::List => "a list",
        }
    }
}

/// The shape of the answer to a path (`*` in a template stands for any one segment): one of `lists` is a
/// list of objects, one of `strings` a list of strings, anything else an object.
pub fn shape_of(segments: &[&str], lists: &[&str], strings: &[&str]) -> Shape {
    let fits = |template: &&str| {
        let parts: Vec<&str> = template.split('/').filter(|p| !p.is_empty()).collect();
        parts.len() == segments.len()
            && parts.iter().zip(segments).all(|(p, s)| *p == "*" || p == s)
    };
    if lists.iter().any(fits) {
        Shape::Objects
    } else if strings.iter().any(fits) {
        Shape::Strings
    } else {
        Shape::Object
    }
}

/// Whether `body` has `shape`, with each member of `members` it holds (other than null) of its kind; what
/// is wrong otherwise.
pub fn check(body: &Value, shape: Shape, members: &[(&str, Kind)]) -> Result<(), String> {
    let typed = |v: &Value| -> Result<(), String> {
        for (k, kind) in members {
            if let Some(x) = v.get(k).filter(|x| !x.is_null())
                && !kind.holds(x)
            {
                return Err(format!(
                    "`{k}` is {} where {} is expected",
                    json_kind(x),
                    kind.name()
                ));
            }
        }
        Ok(())
    };
    match (shape, body) {
        (Shape::Object, Value::Object(_)) => typed(body),
        (Shape::Objects, Value::Array(items)) => {
            items.iter().enumerate().try_for_each(|(i, x)| match x {
                Value::Object(_) => typed(x).map_err(|e| format!("item {i}: {e}")),
                other => Err(format!("item {i} is {}, not an object", json_kind(other))),
            })
        }
        (Shape::Strings, Value::Array(items)) => match items.iter().position(|x| !x.is_string()) {
            Some(i) => Err(format!(
                "item {i} is {}, not a string",
                json_kind(&items[i])
            )),
            None => Ok(()),
        },
        (Shape::Object, other) => Err(format!("it is {}, not an object", json_kind(other))),
        (_, other) => Err(format!("it is {}, not a list", json_kind(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LISTS: &[&str] = &["", "*/roles", "*/roles/*/composites"];

    #[test]
    fn paths_have_shapes_by_template() {
        assert_eq!(shape_of(&[], LISTS, &[]), Shape::Objects);
        assert_eq!(shape_of(&["acme", "roles"], LISTS, &[]), Shape::Objects);
        // A role named like a collection is still one role.
        assert_eq!(
            shape_of(&["acme", "roles", "roles"], LISTS, &[]),
            Shape::Object
        );
        assert_eq!(
            shape_of(&["acme", "roles", "composites", "composites"], LISTS, &[]),
            Shape::Objects
        );
        assert_eq!(shape_of(&["acme", "l"], LISTS, &["*/l"]), Shape::Strings);
    }

    #[test]
    fn junk_is_named() {
        let members = [("name", Kind::Str), ("enabled", Kind::Bool)];
        assert!(
            check(
                &json!({"name": "a", "enabled": null}),
                Shape::Object,
                &members
            )
            .is_ok()
        );
        let e = check(
            &json!({"name": [], "enabled": true}),
            Shape::Object,
            &members,
        )
        .unwrap_err();
        assert_eq!(e, "`name` is a list where a string is expected");
        let e = check(&json!([{"name": "a"}, 1]), Shape::Objects, &members).unwrap_err();
        assert_eq!(e, "item 1 is a number, not an object");
        assert!(check(&json!(["a", "b"]), Shape::Strings, &[]).is_ok());
        let e = check(&json!([1, "two", null]), Shape::Object, &members).unwrap_err();
        assert_eq!(e, "it is a list, not an object");
        let e = check(&json!({"a": 1}), Shape::Strings, &[]).unwrap_err();
        assert_eq!(e, "it is an object, not a list");
    }
}
