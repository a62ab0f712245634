//! A serde `Deserializer` over the spanned tree.
//!
//! Typed resource structs derive `Deserialize` as usual; decoding them through [`from_node`] gives:
//! - every error a span (the innermost value that failed, or the table a required field is missing from);
//! - unknown fields reported as separate, non-fatal issues with a "did you mean" (all of them, not only
//!   the first), while decoding continues;
//! - the KDL conveniences of [`super::tree`]: a positional argument fills the struct's first field, and a
//!   single node or scalar is accepted where a list is expected.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::tree::{Key, LENIENT_SEQ, Node, REPEATED, Val};
use crate::diag::{Issue, Span, did_you_mean};

/// Issues collected while decoding that do not stop it (unknown fields).
#[derive(Default)]
pub struct Ctx {
    pub issues: RefCell<Vec<Issue>>,
}

/// A decoding error.
#[derive(Debug, Clone)]
pub struct DeError {
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl DeError {
    pub fn into_issue(self) -> Issue {
        let mut i = Issue::error("invalid-value", self.message).at_opt(self.span);
        if let Some(h) = self.help {
            i = i.help(h);
        }
        i
    }

    fn with_span(mut self, span: Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            span: None,
            help: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let found = match unexp {
            de::Unexpected::Bool(b) => format!("the boolean `{b}`"),
            de::Unexpected::Unsigned(u) => format!("the integer `{u}`"),
            de::Unexpected::Signed(i) => format!("the integer `{i}`"),
            de::Unexpected::Float(f) => format!("the float `{f}`"),
            de::Unexpected::Str(s) => format!("the string {s:?}"),
            de::Unexpected::Unit => "null".to_string(),
            de::Unexpected::Seq => "a list".to_string(),
            de::Unexpected::Map => "a table".to_string(),
            other => other.to_string(),
        };
        let exp = match exp.to_string().as_str() {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
                "a whole number (0 or more)".to_string()
            }
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_string(),
            "f32" | "f64" => "a number".to_string(),
            other => other.to_string(),
        };
        de::Error::custom(format!("expected {exp}, found {found}"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e: DeError = de::Error::custom(format!("unknown value `{variant}`"));
        e.help = Some(match did_you_mean(variant, expected.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? (one of: {})", expected.join(", ")),
            None => format!("expected one of: {}", expected.join(", ")),
        });
        e
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e: DeError = de::Error::custom(format!("unknown field `{field}`"));
        e.help = Some(match did_you_mean(field, expected.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", expected.join(", ")),
        });
        e
    }

    fn missing_field(field: &'static str) -> Self {
        de::Error::custom(format!("missing required field `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        de::Error::custom(format!("field `{field}` is given twice"))
    }
}

/// Decodes a typed value from a node. Unknown fields are pushed to `cx` and skipped.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &Node, cx: &Ctx) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, cx }).map_err(|e| e.with_span(node.span))
}

#[derive(Clone, Copy)]
pub struct NodeDe<'a> {
    node: &'a Node,
    cx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    fn wrap<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.with_span(self.node.span))
    }

    fn repeated_error(&self) -> DeError {
        let n = match &self.node.val {
            Val::Arr(items) => items.len(),
            _ => 0,
        };
        DeError {
            message: format!("this node is given {n} times, but only one is allowed here"),
            span: Some(self.node.span),
            help: Some("remove the extra nodes, or merge them into one".into()),
        }
    }
}

struct Seq<'a> {
    items: std::vec::IntoIter<&'a Node>,
    cx: &'a Ctx,
}

impl<'de, 'a> de::SeqAccess<'de> for Seq<'a> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDe { node, cx: self.cx })
                .map(Some)
                .map_err(|e| e.with_span(node.span)),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a> {
    entries: std::vec::IntoIter<(&'a str, Span, &'a Node)>,
    value: Option<&'a Node>,
    cx: &'a Ctx,
}

impl<'de, 'a> de::MapAccess<'de> for Map<'a> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((k, span, v)) => {
                self.value = Some(v);
                let kd: de::value::StrDeserializer<'_, DeError> = k.into_deserializer();
                seed.deserialize(kd)
                    .map(Some)
                    .map_err(|e| e.with_span(span))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value without a key"))?;
        seed.deserialize(NodeDe { node, cx: self.cx })
            .map_err(|e| e.with_span(node.span))
    }
}

fn entries_of(obj_entries: &[(Key, Node)]) -> Vec<(&str, Span, &Node)> {
    obj_entries
        .iter()
        .map(|(k, v)| (k.name.as_str(), k.span, v))
        .collect()
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.val {
            Val::Null => visitor.visit_unit(),
            Val::Bool(b) => visitor.visit_bool(*b),
            Val::Int(i) => visitor.visit_i64(*i),
            Val::UInt(u) => visitor.visit_u64(*u),
            Val::Float(f) => visitor.visit_f64(*f),
            Val::Str(s) => visitor.visit_str(s),
            Val::Arr(items) => visitor.visit_seq(Seq {
                items: items.iter().collect::<Vec<_>>().into_iter(),
                cx: self.cx,
            }),
            Val::Obj(o) => {
                if let Some(p) = &o.positional {
                    return Err(DeError {
                        message: "an argument is not allowed on this node".into(),
                        span: Some(p.span),
                        help: Some("write the value as a property or a child node".into()),
                    });
                }
                visitor.visit_map(Map {
                    entries: entries_of(&o.entries).into_iter(),
                    value: None,
                    cx: self.cx,
                })
            }
            Val::Empty => visitor.visit_map(Map {
                entries: Vec::new().into_iter(),
                value: None,
                cx: self.cx,
            }),
        };
        self.wrap(r)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.val {
            Val::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.val {
            Val::Null | Val::Empty => visitor.visit_unit(),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.items() {
            Some(items) => {
                let r = visitor.visit_seq(Seq {
                    items: items.into_iter(),
                    cx: self.cx,
                });
                self.wrap(r)
            }
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.flags & REPEATED != 0 {
            return Err(self.repeated_error());
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if self.node.flags & REPEATED != 0 {
            return Err(self.repeated_error());
        }
        let (entries, positional) = match &self.node.val {
            Val::Obj(o) => (o.entries.as_slice(), o.positional.as_deref()),
            Val::Empty => (&[][..], None),
            // A KDL node with just one argument (`extension "pgcrypto"`): the argument is the first field.
            Val::Str(_) | Val::Int(_) | Val::UInt(_) | Val::Float(_) | Val::Bool(_)
                if self.node.flags & LENIENT_SEQ != 0 =>
            {
                (&[][..], Some(self.node))
            }
            _ => return self.deserialize_any(visitor),
        };
        let mut kept: Vec<(&str, Span, &Node)> = Vec::with_capacity(entries.len() + 1);
        if let Some(p) = positional {
            match fields.first() {
                Some(first) if entries.iter().any(|(k, _)| k.name == *first) => {
                    return Err(DeError {
                        message: format!(
                            "`{first}` is given both as the node's argument and as a field"
                        ),
                        span: Some(p.span),
                        help: None,
                    });
                }
                Some(first) => kept.push((first, p.span, p)),
                None => {
                    return Err(DeError {
                        message: "an argument is not allowed on this node".into(),
                        span: Some(p.span),
                        help: None,
                    });
                }
            }
        }
        for (k, v) in entries {
            if fields.contains(&k.name.as_str()) {
                kept.push((k.name.as_str(), k.span, v));
            } else {
                let what = humanize(name);
                let mut issue = Issue::error(
                    "unknown-field",
                    format!("unknown field `{}` in {what}", k.name),
                )
                .at(k.span)
                .label("unknown field");
                issue = match did_you_mean(&k.name, fields.iter().copied()) {
                    Some(s) => issue.help(format!("did you mean `{s}`?")),
                    None => issue.help(format!("{what} takes: {}", fields.join(", "))),
                };
                self.cx.issues.borrow_mut().push(issue);
            }
        }
        let r = visitor.visit_map(Map {
            entries: kept.into_iter(),
            value: None,
            cx: self.cx,
        });
        self.wrap(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.val {
            Val::Str(s) => {
                let ed: de::value::StrDeserializer<'_, DeError> = s.as_str().into_deserializer();
                self.wrap(visitor.visit_enum(ed))
            }
            _ => Err(DeError {
                message: format!(
                    "expected one of: {}; found {}",
                    variants.join(", "),
                    self.node.type_name()
                ),
                span: Some(self.node.span),
                help: None,
            }),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct identifier
    }
}

/// `ClientScope` → `client scope`.
pub fn humanize(type_name: &str) -> String {
    let mut out = String::new();
    for (i, c) in type_name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::tree::{read_kdl, read_toml};
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Col {
        name: String,
        #[serde(rename = "type")]
        ty: String,
        #[serde(default)]
        nullable: Option<bool>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Tab {
        name: String,
        #[serde(default)]
        column: Vec<Col>,
    }

    #[test]
    fn kdl_positional_and_lists() {
        let n = read_kdl(0, "t \"orders\" { column \"id\" type=\"int\"; column \"x\" type=\"text\" nullable=#true }")
            .expect("parses");
        let cx = Ctx::default();
        let Val::Obj(o) = &n.val else { panic!() };
        let t: Tab = from_node(o.get("t").expect("t"), &cx).expect("decodes");
        assert_eq!(t.name, "orders");
        assert_eq!(t.column.len(), 2);
        assert_eq!(t.column[1].nullable, Some(true));
        // a single node where a list is expected is a list of one
        let n = read_kdl(0, "t \"a\" { column \"id\" type=\"int\" }").expect("parses");
        let Val::Obj(o) = &n.val else { panic!() };
        let t: Tab = from_node(o.get("t").expect("t"), &cx).expect("decodes");
        assert_eq!(t.column.len(), 1);
    }

    #[test]
    fn unknown_fields_are_collected_not_fatal() {
        let src =
            "name = \"t\"\n[[column]]\nname = \"a\"\ntype = \"int\"\nnulable = true\ncolour = 1\n";
        let n = read_toml(0, src).expect("parses");
        let cx = Ctx::default();
        let t: Tab = from_node(&n, &cx).expect("decodes");
        assert_eq!(t.column[0].name, "a");
        let issues = cx.issues.borrow();
        assert_eq!(issues.len(), 2);
        assert_eq!(issues[0].help.as_deref(), Some("did you mean `nullable`?"));
    }

    #[test]
    fn type_errors_have_spans() {
        let src = "name = \"t\"\n[[column]]\nname = \"a\"\ntype = 5\n";
        let n = read_toml(0, src).expect("parses");
        let err = from_node::<Tab>(&n, &Ctx::default()).expect_err("type error");
        assert!(
            err.message
                .contains("expected a string, found the integer `5`"),
            "{}",
            err.message
        );
        assert_eq!(
            err.span.map(|s| s.start),
            Some(src.find('5').expect("5") as u32)
        );
    }
}
