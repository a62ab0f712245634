//! OpenWhisk: packages (parameters, bindings), actions (runtime, code, limits, parameters), triggers, rules.

pub mod apply;
pub mod client;
pub mod inspect;
pub mod inventory;
pub mod provider;

/// The domain's live system, for the registry ([`crate::for_each_domain`]).
pub type Provider = provider::Functions;


use super::ResourceKind;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{Checker, Reference};
use crate::diag::Rule as SystemRule;
use crate::model::flags::*;
use crate::model::{Address, Domain, FieldMeta, KindMeta, SecretValue, Tenant};
use crate::{choice, kind_basics, model};
use crate::model::Scope;

/// The tenant's namespace.
pub static NAMESPACE_SCOPE: Scope = Scope {
    name: "functions_namespace",
    key: "functions_namespace",
    many: false,
    prefix: false,
    default: str::to_string,
    doc: "OpenWhisk namespace. Default: the tenant id.",
};

/// The scopes of OpenWhisk's objects (the registry's `domains::scopes`).
pub static SCOPES: &[&Scope] = &[&NAMESPACE_SCOPE];

/// Action code: inline text, a file beside the manifest, or base64 (binary/zip actions).
#[derive(Clone, PartialEq, Eq)]
pub enum Code {
    Inline(String),
    File(String),
    Base64(String),
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Inline(s) => write!(f, "Inline({} bytes)", s.len()),
            Code::File(p) => write!(f, "File({p})"),
            Code::Base64(s) => write!(f, "Base64({} chars)", s.len()),
        }
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Code::Inline(t) => s.serialize_str(t),
            Code::File(p) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("file", p)?;
                m.end()
            }
            Code::Base64(b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("base64", b)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Code;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("code: inline text, { file = \"path\" } or { base64 = \"...\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
                Ok(Code::Inline(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Code, A::Error> {
                let mut out = None;
                while let Some(k) = map.next_key::<String>()? {
                    let v: String = map.next_value()?;
                    if out.is_some() {
                        return Err(de::Error::custom(
                            "code comes from exactly one of `file` or `base64`",
                        ));
                    }
                    out = Some(match k.as_str() {
                        "file" => Code::File(v),
                        "base64" => Code::Base64(v),
                        other => {
                            return Err(de::Error::unknown_variant(other, &["file", "base64"]));
                        }
                    });
                }
                out.ok_or_else(|| de::Error::custom("code needs `file` or `base64`"))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Code {
    fn schema_name() -> Cow<'static, str> {
        "ActionCode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Inline code, { file = \"path\" } (relative to the manifest file) or { \
                            base64 = \"...\" }",
            "oneOf": [
                { "type": "string" },
                { "type": "object", "properties": { "file": { "type": "string" } }, "required": ["file"], "additionalProperties": false },
                { "type": "object", "properties": { "base64": { "type": "string" } }, "required": ["base64"], "additionalProperties": false }
            ]
        })
    }
}

choice! { "lowercase";
    pub enum RuleStatus { Active, Inactive }
}

model! {
    /// A parameter: a JSON `value`, or a `secret` reference (OpenWhisk masks nothing: falconer does).
    pub struct Parameter {
        pub key: String,
        /// Any JSON value (`null` included: a present null is kept).
        #[serde(default, deserialize_with = "present")]
        #[schemars(with = "Value")]
        pub value: Option<Value>,
        pub secret: Option<SecretValue>,
    }

    pub struct Binding {
        pub namespace: String,
        pub name: String,
    }

    pub struct Limits {
        /// Milliseconds.
        pub timeout: Option<u64>,
        /// Megabytes.
        pub memory: Option<u64>,
        /// Kilobytes of logs.
        pub logs: Option<u64>,
        pub concurrency: Option<u64>,
    }

    /// A package (or a binding of another namespace's package).
    pub struct Package {
        pub name: String,
        pub binding: Option<Binding>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub parameter: Vec<Parameter>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub annotations: BTreeMap<String, Value>,
        pub publish: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// An action (optionally inside a package).
    pub struct Action {
        pub name: String,
        pub package: Option<String>,
        /// The runtime (`nodejs:20`, `python:3.11`, ...), `blackbox` (with `image`) or `sequence`.
        pub kind: String,
        pub code: Option<Code>,
        pub main: Option<String>,
        /// Docker image of a blackbox action.
        pub image: Option<String>,
        /// The code is a zip or binary (base64).
        pub binary: Option<bool>,
        /// The actions of a sequence, in order (`name` or `package/name`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub components: Vec<String>,
        pub limits: Option<Limits>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub parameter: Vec<Parameter>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub annotations: BTreeMap<String, Value>,
        /// A web action's `require-whisk-auth` as `true` or `false`: whether a caller's OpenWhisk key is
        /// checked.
        pub require_whisk_auth: Option<bool>,
        /// A web action's `require-whisk-auth` as a token, which a request's `X-Require-Whisk-Auth` header
        /// must carry: a secret (`{ env }`, `{ file }`), never written in clear.
        pub require_whisk_auth_token: Option<SecretValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A trigger.
    pub struct Trigger {
        pub name: String,
        /// A feed action (`/whisk.system/alarms/alarm`).
        pub feed: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub parameter: Vec<Parameter>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub annotations: BTreeMap<String, Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }

    /// A rule: when the trigger fires, run the action.
    pub struct Rule {
        pub name: String,
        pub trigger: String,
        /// `name` or `package/name`.
        pub action: String,
        /// Default: active.
        pub status: Option<RuleStatus>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

/// A field that is present is `Some`, even when its value is `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Action {
    /// `package/name` or `name`.
    pub fn path(&self) -> String {
        match &self.package {
            Some(p) => format!("{p}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The file extension of an action's code, by its runtime kind (`nodejs:20` → `js`).
fn code_extension(kind: &str) -> &'static str {
    match kind.split(':').next().unwrap_or_default() {
        "nodejs" => "js",
        "python" => "py",
        "go" => "go",
        "php" => "php",
        "ruby" => "rb",
        "swift" => "swift",
        "rust" => "rs",
        "java" => "java",
        _ => "txt",
    }
}

/// OpenWhisk's entity name rule: word characters, then word characters, `@`, space, `.` and `-`; at most
/// 256 characters; no trailing space.
pub fn entity_name_rule(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.chars().count() > 256 {
        return Err("it is longer than 256 characters".into());
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut chars = name.chars();
    if !chars.next().is_some_and(word) {
        return Err("it must start with a letter, digit or `_`".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(word(*c) || matches!(c, '@' | ' ' | '.' | '-')))
    {
        return Err(format!(
            "{c:?} is not allowed (letters, digits, `_`, `@`, space, `.` and `-` are)"
        ));
    }
    if name.ends_with(' ') {
        return Err("it ends with a space".into());
    }
    Ok(())
}

fn addr(kind: &'static str, seg: &str) -> Address {
    Address::new(Domain::Functions, kind, vec![seg.to_string()])
}

/// Parameters whose value names a topic or a bucket: soft references across domains, so that the
/// function is created after what it uses (a value that names nothing declared adds no dependency).
fn parameter_refs(params: &[Parameter]) -> Vec<Reference> {
    let mut out = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if let Some(Value::String(v)) = &p.value {
            let field = format!("parameter[{i}].value");
            out.push(Reference::soft(
                field.clone(),
                Address::new(Domain::Kafka, "topic", vec![v.clone()]),
            ));
            out.push(Reference::soft(
                field,
                Address::new(Domain::Storage, "bucket", vec![v.clone()]),
            ));
        }
    }
    out
}

/// A reference to an action written as `name`, `package/name` or `/namespace/package/name`.
fn action_ref(field: String, path: &str, namespace: &str) -> Option<Reference> {
    let local = match path.strip_prefix('/') {
        Some(full) => full.strip_prefix(namespace)?.strip_prefix('/')?,
        None => path,
    };
    Some(Reference::to(field, addr("action", local)))
}

/// The rules OpenWhisk holds its entities to (the table in docs/functions.md).
pub const RULES: &[SystemRule] = &[NAME, PARAMETERS, EXEC, LIMITS, RULE_ENDS];

const NAME: SystemRule = SystemRule {
    id: "openwhisk-name",
    says: "an entity name starts with a letter, digit or `_`, continues with letters, digits, spaces, `@`, \
           `.`, `_` and `-`, ends with no space, and has at most 256 characters",
    source: "Apache OpenWhisk, docs/reference.md: fully qualified names",
    breaks: "[[functions.trigger]]\nname = \"-tick\"\n",
};
const PARAMETERS: SystemRule = SystemRule {
    id: "openwhisk-parameter",
    says: "each parameter has a key, given once, and one value",
    source: "OpenWhisk REST API (apiv1swagger), KeyValue: `key` and `value` are required",
    breaks: "[[functions.trigger]]\nname = \"tick\"\nparameter = [{ key = \"\", value = 1 }]\n",
};
const EXEC: SystemRule = SystemRule {
    id: "openwhisk-exec",
    says: "an action has a kind; a sequence has components and no code or image; a blackbox action has an \
           image; only a sequence has components; base64 code is binary",
    source: "OpenWhisk REST API (apiv1swagger), ActionExec",
    breaks: "[[functions.action]]\nname = \"chain\"\nkind = \"sequence\"\n",
};
const LIMITS: SystemRule = SystemRule {
    id: "openwhisk-limits",
    says: "an action's timeout, memory and concurrency limits are above 0",
    source: "OpenWhisk REST API (apiv1swagger), ActionLimits; Apache OpenWhisk, docs/reference.md: system limits",
    breaks: "[[functions.action]]\nname = \"ping\"\nkind = \"nodejs:20\"\ncode = \"x\"\n\
             limits = { memory = 0 }\n",
};
const RULE_ENDS: SystemRule = SystemRule {
    id: "openwhisk-rule",
    says: "a rule names a trigger and an action",
    source: "OpenWhisk REST API (apiv1swagger), RulePut: `trigger` and `action` are required",
    breaks: "[[functions.rule]]\nname = \"on-tick\"\ntrigger = \"\"\naction = \"ping\"\n",
};

fn check_parameters(cx: &mut Checker<'_>, params: &[Parameter]) {
    let mut seen = HashSet::new();
    for (i, p) in params.iter().enumerate() {
        let f = format!("parameter[{i}]");
        if p.key.is_empty() {
            cx.error(
                &format!("{f}.key"),
                "invalid-name",
                "a parameter needs a key",
            );
        } else if !seen.insert(p.key.as_str()) {
            cx.error(
                &format!("{f}.key"),
                "duplicate",
                format!("parameter `{}` is given twice", p.key),
            );
        }
        match (&p.value, &p.secret) {
            (Some(_), Some(_)) => {
                cx.error(
                    &f,
                    "conflict",
                    format!("parameter `{}` has both a `value` and a `secret`", p.key),
                );
            }
            (None, None) => {
                cx.error(
                    &f,
                    "missing",
                    format!("parameter `{}` needs a `value` or a `secret`", p.key),
                );
            }
            _ => {}
        }
        cx.secret(&format!("{f}.secret"), p.secret.as_ref());
    }
}

static PACKAGE: KindMeta = KindMeta {
    domain: Domain::Functions,
    kind: "package",
    title: "OpenWhisk package",
    identity: &["name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("binding", IMMUTABLE),
        FieldMeta::keyed("parameter", "key", 0),
        FieldMeta::new("parameter[].value", FREEFORM),
        FieldMeta::new("parameter[].secret", SECRET),
        FieldMeta::new("annotations.*", FREEFORM),
        FieldMeta::new("publish", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

/// Parameters whose secret is unknown (a redaction marker), as the report's secrets to set name them
/// (`/parameter/0/secret`): OpenWhisk takes parameters whole, so an entity cannot be written with one.
fn unknown_secrets(params: &[Parameter]) -> Vec<String> {
    params
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.secret, Some(SecretValue::Redacted(_))))
        .map(|(i, _)| format!("/parameter/{i}/secret"))
        .collect()
}

fn drop_unknown_secrets(params: &mut Vec<Parameter>) {
    params.retain(|p| !matches!(p.secret, Some(SecretValue::Redacted(_))));
}

impl ResourceKind for Package {
    kind_basics!(PACKAGE, |self| { vec![self.name.clone()] });
    fn secrets_needed(&self) -> Vec<String> {
        unknown_secrets(&self.parameter)
    }
    fn without_unknown_secrets(&mut self) {
        drop_unknown_secrets(&mut self.parameter)
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        parameter_refs(&self.parameter)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&NAME, |cx| {
            cx.name("name", &self.name, entity_name_rule);
            if let Some(b) = &self.binding {
                cx.name("binding.namespace", &b.namespace, entity_name_rule);
                cx.name("binding.name", &b.name, entity_name_rule);
            }
        });
        cx.under(&PARAMETERS, |cx| check_parameters(cx, &self.parameter));
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        if let Some(b) = &mut self.binding {
            r.name(&NAMESPACE_SCOPE, &mut b.namespace);
        }
    }
}

static ACTION: KindMeta = KindMeta {
    domain: Domain::Functions,
    kind: "action",
    title: "OpenWhisk action",
    identity: &["path"],
    holds_data: false,
    fields: &[
        FieldMeta::new("package", IMMUTABLE),
        FieldMeta::new("limits", SERVER_DEFAULT),
        FieldMeta::new("limits.timeout", SERVER_DEFAULT),
        FieldMeta::new("limits.memory", SERVER_DEFAULT),
        FieldMeta::new("limits.logs", SERVER_DEFAULT),
        FieldMeta::new("limits.concurrency", SERVER_DEFAULT),
        FieldMeta::keyed("parameter", "key", 0),
        FieldMeta::new("parameter[].value", FREEFORM),
        FieldMeta::new("parameter[].secret", SECRET),
        FieldMeta::new("annotations.*", FREEFORM),
        FieldMeta::new("require_whisk_auth_token", SECRET),
        FieldMeta::new("depends_on", SET),
    ],
};

/// The annotation that protects a web action: `true`/`false`, or a token (a secret).
pub const WHISK_AUTH: &str = "require-whisk-auth";

impl ResourceKind for Action {
    kind_basics!(ACTION, |self| { vec![self.path()] });
    /// An action that runs code of its own needs it; a sequence (its components) and a blackbox action (its
    /// image) do not.
    fn creation_gaps(&self) -> Vec<String> {
        let runs_code = !matches!(self.kind.as_str(), "sequence" | "blackbox");
        match (runs_code, &self.code) {
            (true, None) => vec!["its code (not exported)".into()],
            _ => Vec::new(),
        }
    }
    fn secrets_needed(&self) -> Vec<String> {
        let mut out = unknown_secrets(&self.parameter);
        if matches!(self.require_whisk_auth_token, Some(SecretValue::Redacted(_))) {
            out.push("/require_whisk_auth_token".into());
        }
        out
    }
    /// Written without its unknown secrets; a web action whose token is unknown is protected by the
    /// caller's OpenWhisk key meanwhile (`require-whisk-auth: true`), never left open.
    fn without_unknown_secrets(&mut self) {
        drop_unknown_secrets(&mut self.parameter);
        if matches!(self.require_whisk_auth_token, Some(SecretValue::Redacted(_))) {
            self.require_whisk_auth_token = None;
            self.require_whisk_auth = Some(true);
        }
    }
    /// `require-whisk-auth` written as an annotation (a manifest or backup of before, the platform's
    /// export, OpenWhisk's answer) becomes its field: a token is a secret, never a free-form annotation.
    fn normalize(&mut self) {
        let Some(v) = self.annotations.remove(WHISK_AUTH) else {
            return;
        };
        match v {
            Value::Bool(b) => self.require_whisk_auth = self.require_whisk_auth.or(Some(b)),
            Value::Number(n) => {
                let token = SecretValue::Plain(n.to_string());
                self.require_whisk_auth_token.get_or_insert(token);
            }
            Value::String(t) => {
                let token = serde_json::from_value(Value::String(t.clone()));
                let token = token.unwrap_or(SecretValue::Plain(t));
                self.require_whisk_auth_token.get_or_insert(token);
            }
            other => {
                self.annotations.insert(WHISK_AUTH.into(), other);
            }
        }
    }
    fn files(&self) -> Vec<(&'static str, String)> {
        match &self.code {
            Some(Code::File(rel)) => vec![("code file", rel.clone())],
            _ => Vec::new(),
        }
    }
    fn externalize(&mut self) -> Vec<(String, String)> {
        let (text, ext) = match &self.code {
            Some(Code::Inline(t)) => (t.clone(), code_extension(&self.kind)),
            Some(Code::Base64(b)) => (b.clone() + "\n", "b64"),
            _ => return Vec::new(),
        };
        let rel = format!("code/{}.{ext}", self.path());
        self.code = Some(Code::File(rel.clone()));
        vec![(rel, text)]
    }
    fn internalize(&mut self, file: &dyn Fn(&str) -> Option<String>) {
        let Some(Code::File(rel)) = &self.code else {
            return;
        };
        let Some(text) = file(rel) else { return };
        self.code = Some(if rel.ends_with(".b64") {
            Code::Base64(text.trim_end().to_string())
        } else {
            Code::Inline(text)
        });
    }
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let mut out = parameter_refs(&self.parameter);
        if let Some(p) = &self.package {
            out.push(Reference::to("package", addr("package", p)));
        }
        let ns = tenant.name(&NAMESPACE_SCOPE);
        for (i, c) in self.components.iter().enumerate() {
            out.extend(action_ref(format!("components[{i}]"), c, &ns));
        }
        out
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&NAME, |cx| cx.name("name", &self.name, entity_name_rule));
        if let Some(p) = &self.package {
            cx.under(&NAME, |cx| cx.name("package", p, entity_name_rule));
        }
        cx.under(&EXEC, |cx| self.check_exec(cx));
        cx.under(&LIMITS, |cx| self.check_limits(cx));
        cx.under(&PARAMETERS, |cx| check_parameters(cx, &self.parameter));
        cx.secret("require_whisk_auth_token", self.require_whisk_auth_token.as_ref());
        if self.require_whisk_auth.is_some() && self.require_whisk_auth_token.is_some() {
            let words = "`require_whisk_auth` and `require_whisk_auth_token` are one annotation: give one";
            cx.error("require_whisk_auth_token", "conflict", words);
        }
        if self.annotations.contains_key(WHISK_AUTH) {
            let words = "`require-whisk-auth` is `true`, `false` or a token: give it as `require_whisk_auth` or `require_whisk_auth_token`";
            cx.error("annotations", "invalid-value", words);
        }
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        for c in &mut self.components {
            rename_qualified(r, c);
        }
    }
}

impl Action {
    /// What the action runs: its kind and what goes with it.
    fn check_exec(&self, cx: &mut Checker<'_>) {
        if self.kind.trim().is_empty() {
            cx.error(
                "kind",
                "invalid-value",
                "the action's kind (runtime) is empty",
            );
        }
        match self.kind.as_str() {
            "sequence" => {
                if self.components.is_empty() {
                    cx.error("components", "missing", "a sequence needs `components`");
                }
                if self.code.is_some() || self.image.is_some() {
                    cx.error(
                        "code",
                        "conflict",
                        "a sequence has no code or image of its own",
                    );
                }
            }
            "blackbox" => {
                if self.image.is_none() {
                    cx.error("image", "missing", "a blackbox action needs an `image`");
                }
            }
            _ => {
                if self.code.is_none() {
                    cx.warn("code", "no-code", format!("action `{}` has no code: the live code is \
                                                        kept, but the action cannot be created", self.path()))
                        .help = Some("add `code = { file = \"path\" }` (or inline text)".into());
                }
                if !self.components.is_empty() {
                    cx.error("components", "conflict", "only a sequence has `components`");
                }
            }
        }
        if matches!(self.code, Some(Code::Base64(_))) && self.binary == Some(false) {
            cx.error(
                "binary",
                "conflict",
                "base64 code is binary; remove `binary = false`",
            );
        }
    }

    fn check_limits(&self, cx: &mut Checker<'_>) {
        if let Some(l) = &self.limits {
            for (f, v) in [
                ("timeout", l.timeout),
                ("memory", l.memory),
                ("logs", l.logs),
                ("concurrency", l.concurrency),
            ] {
                if v == Some(0) && f != "logs" {
                    cx.error(
                        &format!("limits.{f}"),
                        "invalid-value",
                        format!("the {f} limit must be greater than 0"),
                    );
                }
            }
        }
    }
}

static TRIGGER: KindMeta = KindMeta {
    domain: Domain::Functions,
    kind: "trigger",
    title: "OpenWhisk trigger",
    identity: &["name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("feed", IMMUTABLE),
        FieldMeta::keyed("parameter", "key", 0),
        FieldMeta::new("parameter[].value", FREEFORM),
        FieldMeta::new("parameter[].secret", SECRET),
        FieldMeta::new("annotations.*", FREEFORM),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Trigger {
    kind_basics!(TRIGGER, |self| { vec![self.name.clone()] });
    fn secrets_needed(&self) -> Vec<String> {
        unknown_secrets(&self.parameter)
    }
    fn without_unknown_secrets(&mut self) {
        drop_unknown_secrets(&mut self.parameter)
    }
    fn references(&self, _: &Tenant) -> Vec<Reference> {
        parameter_refs(&self.parameter)
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&NAME, |cx| cx.name("name", &self.name, entity_name_rule));
        cx.under(&PARAMETERS, |cx| check_parameters(cx, &self.parameter));
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        if let Some(f) = &mut self.feed {
            rename_qualified(r, f);
        }
    }
}

static RULE: KindMeta = KindMeta {
    domain: Domain::Functions,
    kind: "rule",
    title: "OpenWhisk rule",
    identity: &["name"],
    holds_data: false,
    fields: &[
        FieldMeta::new("status", SERVER_DEFAULT),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for Rule {
    kind_basics!(RULE, |self| { vec![self.name.clone()] });
    fn references(&self, tenant: &Tenant) -> Vec<Reference> {
        let ns = tenant.name(&NAMESPACE_SCOPE);
        let mut out = vec![Reference::to(
            "trigger",
            addr(
                "trigger",
                self.trigger.trim_start_matches(&format!("/{ns}/")[..]),
            ),
        )];
        out.extend(action_ref("action".into(), &self.action, &ns));
        out
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&NAME, |cx| cx.name("name", &self.name, entity_name_rule));
        cx.under(&RULE_ENDS, |cx| {
        if self.trigger.is_empty() {
            cx.error("trigger", "missing", "a rule needs a trigger");
        }
        if self.action.is_empty() {
            cx.error("action", "missing", "a rule needs an action");
        }
        });
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        rename_qualified(r, &mut self.trigger);
        rename_qualified(r, &mut self.action);
    }
}

/// Renames an OpenWhisk name: a fully qualified one (`/namespace/package/action`) has its namespace
/// renamed; a relative one is kept.
pub fn rename_qualified(r: &crate::domains::rename::Renamer, name: &mut String) {
    let Some(rest) = name.strip_prefix('/') else {
        return;
    };
    let (ns, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let ns = r.renamed(&NAMESPACE_SCOPE, ns);
    *name = match tail {
        "" => format!("/{ns}"),
        t => format!("/{ns}/{t}"),
    };
}
