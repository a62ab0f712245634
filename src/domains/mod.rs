//! The six domains and their resource kinds.
//!
//! Each kind is a typed struct implementing [`ResourceKind`]: its metadata (identity, field flags), its
//! references to other resources, and its own checks (names per the system's rules, impossible
//! combinations, tenant scope). The [`kinds!`] list below is the only place that enumerates them: adding a
//! kind means writing its struct in its domain file and adding one line here.

pub mod address;
pub mod answer;
pub mod item;
pub mod provider;
pub mod rename;
pub mod systems;

/// The domains' folders, from the domain table.
macro_rules! domain_modules {
    ($( $variant:ident $module:ident $system:literal $falcone:expr ),* $(,)?) => {
        $( pub mod $module; )*

        /// Every scope the tenant's objects live in: the tenant id itself, then each domain's (its
        /// `SCOPES`), in the domain table's order (the wider scope first).
        pub fn scopes() -> impl Iterator<Item = &'static crate::model::Scope> {
            std::iter::once(&crate::model::tenant::TENANT_ID)
                .chain([$( $module::SCOPES ),*].into_iter().flatten().copied())
        }

        /// The rules each domain's system holds its configuration to (its `RULES`), with the domain.
        pub fn rules() -> impl Iterator<Item = (crate::model::Domain, &'static crate::diag::Rule)> {
            [$( (crate::model::Domain::$variant, $module::RULES) ),*]
                .into_iter()
                .flat_map(|(d, rules)| rules.iter().map(move |r| (d, r)))
        }
    };
}
crate::for_each_domain!(domain_modules);

/// A scope by its name in maps and reports (`postgres_schema`).
pub fn scope_named(name: &str) -> Option<&'static crate::model::Scope> {
    scopes().find(|s| s.name == name)
}

/// A scope by its key in the tenant's `naming` block (`postgres_schemas`).
pub fn scope_keyed(key: &str) -> Option<&'static crate::model::Scope> {
    scopes().find(|s| !s.key.is_empty() && s.key == key)
}

use std::fmt::Debug;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Issue, Rule, Span};
use crate::model::{Address, Domain, Hazard, KindMeta, SecretValue, Tenant};
use crate::syntax::de::{Ctx, DeError, from_node};
use crate::syntax::tree::{Node, Val};

/// A reference from one resource to another.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The field that holds the reference (for messages).
    pub field: String,
    /// The resource referred to; the first of these that exists is the one meant.
    pub targets: Vec<Address>,
    /// When none of the targets is declared: an error (true) or just no dependency (false, for objects
    /// that may exist outside the manifest, such as built-in roles).
    pub required: bool,
    /// The target is the container the resource lives in (a Keycloak realm): it need not be declared, but
    /// a restore writes nothing unless it exists, is restored, or is created (`--create-missing`).
    pub container: bool,
    /// The referrer waits for its target: an edge of the dependency graph. Not so where the target lives in
    /// the referrer (a login flow in the realm that binds it): the referrer is written first, and the
    /// target's change completes the reference.
    pub ordered: bool,
}

impl Reference {
    pub fn to(field: impl Into<String>, target: Address) -> Self {
        Reference {
            field: field.into(),
            targets: vec![target],
            required: true,
            container: false,
            ordered: true,
        }
    }
    pub fn soft(field: impl Into<String>, target: Address) -> Self {
        Reference {
            required: false,
            ..Reference::to(field, target)
        }
    }
    /// The container the resource lives in (see [`Reference::container`]).
    pub fn container(field: impl Into<String>, target: Address) -> Self {
        Reference {
            container: true,
            ..Reference::soft(field, target)
        }
    }
    /// A reference to what lives in the referrer, completed by the target's change (see
    /// [`Reference::ordered`]).
    pub fn completed_by_target(field: impl Into<String>, target: Address) -> Self {
        Reference {
            ordered: false,
            ..Reference::to(field, target)
        }
    }
    pub fn or(mut self, alt: Address) -> Self {
        self.targets.push(alt);
        self
    }
}

/// Where a resource came from, for locating its fields in messages.
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    /// A manifest file: fields are found in the spanned tree.
    Node(&'a Node),
    /// Data without spans (an artifact): fields are named by a JSON pointer under this prefix.
    Path(&'a str),
    None,
}

/// Collects the issues of one resource's checks.
pub struct Checker<'a> {
    pub tenant: &'a Tenant,
    pub strict: bool,
    /// Checking data from outside (an artifact, a backup): names with a double quote or a control character
    /// are refused. Quoting would make them harmless, but they are the mark of an injection and no tenant
    /// needs them; a manifest may still declare them.
    pub foreign: bool,
    /// A secret `{ command }` is allowed (the profile's `allow_manifest_commands`).
    pub commands: bool,
    origin: Origin<'a>,
    pub issues: Vec<Issue>,
}

impl<'a> Checker<'a> {
    pub fn new(tenant: &'a Tenant, strict: bool, origin: Origin<'a>) -> Self {
        Checker {
            tenant,
            strict,
            foreign: false,
            commands: false,
            origin,
            issues: Vec::new(),
        }
    }

    fn place(&self, field: &str, issue: Issue) -> Issue {
        let mut issue = place(issue, &self.origin, field);
        issue.field = Some(field.to_string());
        issue
    }

    /// The errors `check` finds are breaches of the system's `rule`: each carries it (and its id as code).
    pub fn under(&mut self, rule: &'static Rule, check: impl FnOnce(&mut Self)) {
        let n = self.issues.len();
        check(self);
        // Whether a name is the tenant's, whether it looks like an injection and where a secret may come
        // from are falconer's rules.
        let own = |i: &Issue| {
            matches!(
                i.code,
                "out-of-scope" | "suspicious-name" | "secret-command" | "plain-secret"
            )
        };
        for i in self.issues[n..]
            .iter_mut()
            .filter(|i| i.is_error() && !own(i))
        {
            if i.rule.is_none() {
                i.code = rule.id;
                i.rule = Some(rule);
            }
        }
    }

    /// An error about `field` that breaks the system's `rule`.
    pub fn rule(&mut self, field: &str, rule: &'static Rule, msg: impl Into<String>) -> &mut Issue {
        let i = self.error(field, rule.id, msg);
        i.rule = Some(rule);
        i
    }

    /// An error about `field` (a path such as `column[2].type`; empty for the whole resource).
    pub fn error(&mut self, field: &str, code: &'static str, msg: impl Into<String>) -> &mut Issue {
        let i = self.place(field, Issue::error(code, msg));
        self.issues.push(i);
        self.issues.last_mut().expect("just pushed")
    }

    pub fn warn(&mut self, field: &str, code: &'static str, msg: impl Into<String>) -> &mut Issue {
        let i = self.place(field, Issue::warning(code, msg));
        self.issues.push(i);
        self.issues.last_mut().expect("just pushed")
    }

    /// Applies a name rule: `rule` returns the problem, if any.
    pub fn name(&mut self, field: &str, value: &str, rule: impl Fn(&str) -> Result<(), String>) {
        if self.foreign && value.chars().any(|c| c == '"' || c.is_control()) {
            self.error(
                field,
                "suspicious-name",
                format!("name {value:?} holds a double quote or a control character; refused in data from outside"),
            )
            .help = Some(
                "names with quotes or control characters are the mark of an injection: declare the object in a manifest if it is real".into(),
            );
            return;
        }
        if let Err(e) = rule(value) {
            self.error(
                field,
                "invalid-name",
                format!("invalid name {value:?}: {e}"),
            );
        }
    }

    /// Warns (or errors with `--strict`) about a secret written in plain text.
    pub fn secret(&mut self, field: &str, value: Option<&SecretValue>) {
        if let Some(SecretValue::Command(_)) = value {
            if self.commands {
                return;
            }
            self.error(
                field,
                "secret-command",
                format!("`{field}` runs a command to read a secret; a manifest may not run one"),
            )
            .help = Some(
                "give it as { env = \"NAME\" } or { file = \"path\" }, or let a live plan or apply run it: allow_manifest_commands = true in the profile"
                    .into(),
            );
            return;
        }
        if let Some(SecretValue::Plain(_)) = value {
            let strict = self.strict;
            let msg = format!("`{field}` holds a secret in plain text");
            let issue = if strict {
                self.error(field, "plain-secret", msg)
            } else {
                self.warn(field, "plain-secret", msg)
            };
            issue.help = Some(
                "reference it instead: { env = \"NAME\" } or { file = \"path\" }; the value is never shown".into(),
            );
        }
    }

    /// Checks that `value` is inside the tenant's scope.
    pub fn scope(
        &mut self,
        field: &str,
        what: &str,
        value: &str,
        allowed: &[String],
        prefix: bool,
    ) {
        let ok = if prefix {
            allowed.iter().any(|p| value.starts_with(p.as_str()))
        } else {
            allowed.iter().any(|p| p == value)
        };
        if !ok {
            let how = if prefix {
                format!("names starting with {}", quoted_list(allowed))
            } else {
                quoted_list(allowed)
            };
            let tenant = self.tenant.id.clone();
            self.error(
                field,
                "out-of-scope",
                format!("{what} {value:?} is outside tenant `{tenant}`'s scope"),
            )
            .help = Some(format!(
                "tenant `{tenant}` owns {how}; change the name, or the tenant's `naming` block"
            ));
        }
    }
}

/// Locates an issue about `field` of a resource: a span in a manifest, or the resource's JSON path (with
/// the field named in the message) in an artifact.
pub fn place(issue: Issue, origin: &Origin<'_>, field: &str) -> Issue {
    match origin {
        Origin::Node(n) => issue.at(locate(n, field)),
        Origin::Path(p) => {
            let mut issue = issue.path(p.to_string());
            if !field.is_empty() {
                issue.message = format!("`{field}`: {}", issue.message);
            }
            issue
        }
        Origin::None => issue,
    }
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the span of a field path (`a.b[2].c`) inside a resource's node; falls back to the nearest parent.
/// Map keys may contain dots (`config.retention.ms`): the longest key that matches is taken.
pub fn locate(node: &Node, path: &str) -> Span {
    if path.is_empty() {
        return node.span;
    }
    let segs: Vec<&str> = path.split('.').collect();
    locate_in(node, &segs)
}

fn locate_in(cur: &Node, segs: &[&str]) -> Span {
    if segs.is_empty() {
        return cur.span;
    }
    for take in (1..=segs.len()).rev() {
        let joined = segs[..take].join(".");
        let (name, index) = match joined.rfind('[') {
            Some(i) if joined.ends_with(']') => (
                &joined[..i],
                joined[i + 1..joined.len() - 1].parse::<usize>().ok(),
            ),
            _ => (joined.as_str(), None),
        };
        let found = match &cur.val {
            Val::Obj(o) => o
                .entries
                .iter()
                .find(|(k, _)| k.name == name)
                .map(|(_, v)| v)
                .or_else(|| {
                    o.positional
                        .as_deref()
                        .filter(|_| take == 1 && IDENTITY_FIELDS.contains(&name))
                }),
            _ => None,
        };
        let Some(mut n) = found else { continue };
        if let Some(i) = index {
            match n.items().and_then(|items| items.get(i).copied()) {
                Some(item) => n = item,
                None => return n.span,
            }
        }
        return locate_in(n, &segs[take..]);
    }
    cur.span
}

/// Fields that a KDL node's argument can stand for (each kind declares one of these first).
pub const IDENTITY_FIELDS: &[&str] = &[
    "name",
    "client_id",
    "alias",
    "key",
    "resource_name",
    "grantee",
    "id",
];

/// A typed resource kind.
pub trait ResourceKind:
    Serialize + DeserializeOwned + JsonSchema + Clone + PartialEq + Debug + Send + Sync + 'static
{
    fn meta() -> &'static KindMeta;
    /// The identity segments, in the order of `meta().identity`.
    fn identity(&self) -> Vec<String>;
    /// Explicit dependencies (addresses as written).
    fn depends_on(&self) -> &[String];
    /// Implicit references to other resources.
    fn references(&self, _tenant: &Tenant) -> Vec<Reference> {
        Vec::new()
    }
    /// The kind's own checks.
    fn check(&self, _cx: &mut Checker<'_>) {}
    /// Whether the resource is inside the tenant's scope (its schema, database, prefix or realm): what the
    /// checks call `out-of-scope`, answered without running them. Live resources outside it are ignored.
    fn in_scope(&self, _tenant: &Tenant) -> bool {
        true
    }
    /// Fills in values the system derives (for example a MongoDB index's default name).
    fn normalize(&mut self) {}
    /// For a container created bare (`restore --create-missing`): the security settings that then take
    /// the system's defaults, in words.
    fn bare_defaults() -> Option<&'static str> {
        None
    }
    /// The secret fields whose value is unknown (a redaction marker) and without which the system
    /// refuses to write the object (an OpenWhisk parameter: it is sent whole), as the report's secrets to
    /// set name them (`/parameter/0/secret`). A secret the system can do without (a client secret
    /// Keycloak generates) is not among them.
    fn secrets_needed(&self) -> Vec<String> {
        Vec::new()
    }
    /// Drops what [`Self::secrets_needed`] names: the object is then written without it.
    fn without_unknown_secrets(&mut self) {}
    /// What the object lacks to be created (an OpenWhisk action whose code the platform could not
    /// export), in words; nothing when it can be. An object that exists is changed without it.
    fn creation_gaps(&self) -> Vec<String> {
        Vec::new()
    }
    /// Hazards of creating this resource (`live` is `None`) or of changing `live` into it, beyond the
    /// generic ones (a replace or delete of a kind that holds data).
    fn hazards(&self, _live: Option<&Self>, _cx: &HazardCx<'_>) -> Vec<Hazard> {
        Vec::new()
    }
    /// Hazards of deleting this (live) resource, beyond losing its data.
    fn delete_hazards(&self) -> Vec<Hazard> {
        Vec::new()
    }
    /// The files the resource names, relative to the manifest file that declares it: what each is (for
    /// messages) and its path.
    fn files(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Moves what belongs in files beside a manifest (an action's code) out of the resource, which then
    /// names the files; returns each file's path (relative to the manifest) and content.
    fn externalize(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Puts back what [`ResourceKind::externalize`] moved out: `file` gives a named file's content (`None`:
    /// the resource keeps naming the file).
    fn internalize(&mut self, _file: &dyn Fn(&str) -> Option<String>) {}
    /// Renames the tenant's identifiers in the resource (its names, its references to other resources, the
    /// names inside its SQL or policies) for a restore into another tenant; never free text, map keys or
    /// secrets. No default: each kind says what of it names the tenant (explicit dependencies are renamed
    /// by [`Spec::rename`]).
    fn rename(&mut self, r: &rename::Renamer);
}

/// What hazard rules may know about the live system.
pub struct HazardCx<'a> {
    pub tenant: &'a Tenant,
    /// Whether a resource exists live.
    pub live: &'a dyn Fn(&Address) -> bool,
}

/// One entry of the kind registry.
pub struct KindEntry {
    pub meta: fn() -> &'static KindMeta,
    pub decode: fn(&Node, &Ctx) -> Result<Spec, DeError>,
    pub from_json: fn(Value) -> Result<Spec, serde_json::Error>,
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

macro_rules! kinds {
    ($( $variant:ident => $ty:path ),* $(,)?) => {
        /// A resource of any kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Spec { $( $variant($ty) ),* }

        impl Spec {
            pub fn meta(&self) -> &'static KindMeta {
                match self { $( Spec::$variant(_) => <$ty as ResourceKind>::meta() ),* }
            }
            pub fn identity(&self) -> Vec<String> {
                match self { $( Spec::$variant(r) => r.identity() ),* }
            }
            pub fn depends_on(&self) -> &[String] {
                match self { $( Spec::$variant(r) => r.depends_on() ),* }
            }
            pub fn references(&self, tenant: &Tenant) -> Vec<Reference> {
                match self { $( Spec::$variant(r) => r.references(tenant) ),* }
            }
            pub fn check(&self, cx: &mut Checker<'_>) {
                match self { $( Spec::$variant(r) => r.check(cx) ),* }
            }
            pub fn in_scope(&self, tenant: &Tenant) -> bool {
                match self { $( Spec::$variant(r) => r.in_scope(tenant) ),* }
            }
            pub fn normalize(&mut self) {
                match self { $( Spec::$variant(r) => r.normalize() ),* }
            }
            pub fn secrets_needed(&self) -> Vec<String> {
                match self { $( Spec::$variant(r) => r.secrets_needed() ),* }
            }
            pub fn without_unknown_secrets(&mut self) {
                match self { $( Spec::$variant(r) => r.without_unknown_secrets() ),* }
            }
            pub fn creation_gaps(&self) -> Vec<String> {
                match self { $( Spec::$variant(r) => r.creation_gaps() ),* }
            }
            pub fn bare_defaults(&self) -> Option<&'static str> {
                match self { $( Spec::$variant(_) => <$ty as ResourceKind>::bare_defaults() ),* }
            }
            /// Kind-specific hazards of creating `self` or changing `live` into it.
            pub fn hazards(&self, live: Option<&Spec>, cx: &HazardCx<'_>) -> Vec<Hazard> {
                match (self, live) {
                    $( (Spec::$variant(d), Some(Spec::$variant(l))) => d.hazards(Some(l), cx), )*
                    $( (Spec::$variant(d), None) => d.hazards(None, cx), )*
                    _ => Vec::new(),
                }
            }
            pub fn files(&self) -> Vec<(&'static str, String)> {
                match self { $( Spec::$variant(r) => r.files() ),* }
            }
            pub fn externalize(&mut self) -> Vec<(String, String)> {
                match self { $( Spec::$variant(r) => r.externalize() ),* }
            }
            pub fn internalize(&mut self, file: &dyn Fn(&str) -> Option<String>) {
                match self { $( Spec::$variant(r) => r.internalize(file) ),* }
            }
            pub fn delete_hazards(&self) -> Vec<Hazard> {
                match self { $( Spec::$variant(r) => r.delete_hazards() ),* }
            }
            /// Renames the tenant's identifiers ([`ResourceKind::rename`]) and the explicit dependencies.
            pub fn rename(&mut self, renamer: &rename::Renamer) {
                match self { $( Spec::$variant(r) => r.rename(renamer) ),* }
                if self.depends_on().is_empty() {
                    return;
                }
                let mut v = self.to_json();
                if let Some(Value::Array(deps)) = v.get_mut("depends_on") {
                    for d in deps.iter_mut() {
                        if let Value::String(s) = d {
                            renamer.address(s);
                        }
                    }
                }
                if let Ok(s) = self.same_kind_from_json(v) {
                    *self = s;
                }
            }
            /// The resource as written in a manifest (JSON form).
            pub fn to_json(&self) -> Value {
                let v = match self { $( Spec::$variant(r) => serde_json::to_value(r) ),* };
                v.unwrap_or(Value::Null)
            }
        }

        /// Every kind, grouped by domain in the order manifests are written.
        pub static KINDS: &[KindEntry] = &[ $(
            KindEntry {
                meta: <$ty as ResourceKind>::meta,
                decode: |n, cx| from_node::<$ty>(n, cx).map(Spec::$variant),
                from_json: |v| serde_json::from_value::<$ty>(v).map(Spec::$variant),
                schema: |g| g.subschema_for::<$ty>(),
            }
        ),* ];
    };
}

kinds! {
    IamRealm => iam::Realm,
    IamClientScope => iam::ClientScope,
    IamRole => iam::Role,
    IamClient => iam::Client,
    IamIdentityProvider => iam::IdentityProvider,
    IamGroup => iam::Group,
    IamAuthenticationFlow => iam::flow::AuthenticationFlow,
    IamRequiredAction => iam::flow::RequiredAction,
    PgExtension => postgres::Extension,
    PgSchema => postgres::Schema,
    PgRole => postgres::Role,
    PgType => postgres::Type,
    PgSequence => postgres::Sequence,
    PgFunction => postgres::Function,
    PgAggregate => postgres::Aggregate,
    PgTable => postgres::Table,
    PgIndex => postgres::Index,
    PgView => postgres::View,
    PgPolicy => postgres::Policy,
    PgTrigger => postgres::Trigger,
    PgGrant => postgres::Grant,
    PgDefaultPrivileges => postgres::DefaultPrivileges,
    MongoDatabase => mongo::Database,
    MongoCollection => mongo::Collection,
    MongoIndex => mongo::Index,
    MongoRole => mongo::principals::Role,
    MongoUser => mongo::principals::User,
    KafkaTopic => kafka::Topic,
    KafkaAcl => kafka::Acl,
    KafkaScramCredential => kafka::scram::ScramCredential,
    FnPackage => functions::Package,
    FnAction => functions::Action,
    FnTrigger => functions::Trigger,
    FnRule => functions::Rule,
    StorageBucket => storage::Bucket,
}

/// A rule about a whole manifest that belongs to one domain (in that domain's folder).
pub type ManifestRule = fn(&[(&Spec, Origin<'_>)]) -> Vec<Issue>;

/// The domains' rules about a whole manifest: one realm per tenant, topic names that do not collide.
pub const MANIFEST_RULES: &[ManifestRule] = &[iam::one_realm, kafka::distinct_topics];

impl Spec {
    pub fn address(&self) -> Address {
        let m = self.meta();
        Address::new(m.domain, m.kind, self.identity())
    }

    /// A resource of the same kind from its JSON form (as `to_json` writes it).
    pub fn same_kind_from_json(&self, v: Value) -> Result<Spec, serde_json::Error> {
        let meta = self.meta();
        KINDS
            .iter()
            .find(|k| std::ptr::eq((k.meta)(), meta))
            .map(|k| (k.from_json)(v))
            .unwrap_or_else(|| Err(serde::de::Error::custom("a kind missing from the registry")))
    }
}

/// The registry entry of a kind.
pub fn kind(domain: Domain, kind: &str) -> Option<&'static KindMeta> {
    KINDS
        .iter()
        .map(|k| (k.meta)())
        .find(|m| m.domain == domain && m.kind == kind)
}

pub fn entry(domain: Domain, kind: &str) -> Option<&'static KindEntry> {
    KINDS.iter().find(|k| {
        let m = (k.meta)();
        m.domain == domain && m.kind == kind
    })
}

/// The kinds of one domain.
pub fn kinds_of(domain: Domain) -> impl Iterator<Item = &'static KindMeta> {
    KINDS
        .iter()
        .map(|k| (k.meta)())
        .filter(move |m| m.domain == domain)
}

/// Derives the boilerplate of a typed model item: serde, JSON Schema, unknown fields refused, and `None`
/// fields left out when written (a missing field reads back as `None`).
#[macro_export]
macro_rules! model {
    ($($item:item)*) => {
        $(
            #[serde_with::skip_serializing_none]
            #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
            #[serde(deny_unknown_fields)]
            $item
        )*
    };
}

/// What every kind's `impl ResourceKind` starts with: its metadata, its identity (the segments of its
/// address) and its `depends_on` field. The rest of the impl is written out after it.
#[macro_export]
macro_rules! kind_basics {
    ($meta:ident, |$s:ident| $identity:block) => {
        fn meta() -> &'static $crate::model::KindMeta {
            &$meta
        }
        fn identity(&$s) -> Vec<String> $identity
        fn depends_on(&self) -> &[String] {
            &self.depends_on
        }
    };
}

/// Derives the boilerplate of a closed set of names (an enum of unit variants).
#[macro_export]
macro_rules! choice {
    ($case:literal; $($item:item)*) => {
        $(
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
            #[serde(rename_all = $case)]
            $item
        )*
    };
}

/// Shared name rules.
pub mod names {
    /// A name that must not be empty and has a byte limit.
    pub fn non_empty_max(max: usize) -> impl Fn(&str) -> Result<(), String> {
        move |s| {
            if s.is_empty() {
                Err("it is empty".into())
            } else if s.len() > max {
                Err(format!("it is {} bytes long; the limit is {max}", s.len()))
            } else {
                Ok(())
            }
        }
    }
}
