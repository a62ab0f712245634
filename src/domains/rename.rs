//! Renaming a tenant's identifiers where they are identifiers, for restoring one tenant's backup into
//! another: each kind's [`super::ResourceKind::rename`] passes its names, references and SQL bodies here,
//! saying what each names ([`Scope`]); nothing else (descriptions, map keys, secrets) is touched.
//!
//! A whole name (a realm, a schema, a database, a namespace) is renamed when it is exactly an entry's `from`;
//! a prefixed name (topics, consumer groups and transactional ids; buckets) when it starts with one.
//! Anything else that names the tenant (a PostgreSQL role `acme_app`, a Kafka principal `User:acme-app`)
//! has the tenant id replaced as a whole word, never inside one (`acmecorp` stays).

use serde_json::Value;

/// What a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The tenant id, as a word inside other names.
    Tenant,
    Realm,
    PostgresSchema,
    MongoDatabase,
    KafkaTopicPrefix,
    FunctionsNamespace,
    BucketPrefix,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::Tenant,
        Scope::Realm,
        Scope::PostgresSchema,
        Scope::MongoDatabase,
        Scope::KafkaTopicPrefix,
        Scope::FunctionsNamespace,
        Scope::BucketPrefix,
    ];

    /// Its name in maps and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Tenant => "tenant",
            Scope::Realm => "realm",
            Scope::PostgresSchema => "postgres_schema",
            Scope::MongoDatabase => "mongo_database",
            Scope::KafkaTopicPrefix => "kafka_topic_prefix",
            Scope::FunctionsNamespace => "functions_namespace",
            Scope::BucketPrefix => "bucket_prefix",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether names of this scope are matched by their beginning.
    fn prefix(self) -> bool {
        matches!(self, Scope::KafkaTopicPrefix | Scope::BucketPrefix)
    }
}

/// A tenant's names in one scope: those it has (declared, else its defaults), and those its naming declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNames {
    pub scope: Scope,
    pub names: Vec<String>,
    pub declared: Option<Vec<String>>,
}

/// A tenant's names in each scope but the tenant id itself, in the order of [`Scope::ALL`] (the wider
/// scope first): what the domains' naming gives, so that no caller lists the domains.
pub fn scopes_of(tenant: &crate::model::Tenant) -> Vec<ScopeNames> {
    let n = &tenant.naming;
    let one = |v: &Option<String>| v.clone().map(|v| vec![v]);
    let of = |scope, names, declared| ScopeNames {
        scope,
        names,
        declared,
    };
    vec![
        of(Scope::Realm, vec![tenant.realm()], one(&n.realm)),
        of(
            Scope::PostgresSchema,
            tenant.postgres_schemas(),
            n.postgres_schemas.clone(),
        ),
        of(
            Scope::MongoDatabase,
            tenant.mongo_databases(),
            n.mongo_databases.clone(),
        ),
        of(
            Scope::KafkaTopicPrefix,
            vec![tenant.kafka_topic_prefix()],
            one(&n.kafka_topic_prefix),
        ),
        of(
            Scope::FunctionsNamespace,
            vec![tenant.functions_namespace()],
            one(&n.functions_namespace),
        ),
        of(
            Scope::BucketPrefix,
            vec![tenant.bucket_prefix()],
            one(&n.bucket_prefix),
        ),
    ]
}

/// One rename: names of these scopes equal to (or, for prefixes, starting with) `from` take `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub scopes: Vec<Scope>,
    pub from: String,
    pub to: String,
}

/// Renames identifiers by a list of [`Rename`]s (the first that applies wins).
#[derive(Debug, Clone, Default)]
pub struct Renamer {
    renames: Vec<Rename>,
}

/// Whether `c` ends a word in a name.
fn delimiter(c: char) -> bool {
    matches!(c, '.' | '-' | '_' | '/' | ':')
}

/// `name` with every whole-word occurrence of `from` replaced by `to` (words end at `.`, `-`, `_`, `/`,
/// `:` or the name's ends); `None` when `from` is not a word of it.
pub fn replace_word(name: &str, from: &str, to: &str) -> Option<String> {
    if from.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut rest = name;
    let mut found = false;
    while let Some(i) = rest.find(from) {
        // What precedes the match: in `rest`, else what was already written.
        let before = rest[..i].chars().last().or_else(|| out.chars().last());
        let after = &rest[i + from.len()..];
        if before.is_none_or(delimiter) && after.chars().next().is_none_or(delimiter) {
            out.push_str(&rest[..i]);
            out.push_str(to);
            found = true;
        } else {
            out.push_str(&rest[..i + from.len()]);
        }
        rest = after;
    }
    out.push_str(rest);
    found.then_some(out)
}

/// The byte offset of a tokenizer location (1-based line and column, columns counted in characters).
fn offset(text: &str, at: sqlparser::tokenizer::Location) -> Option<usize> {
    let line_start = if at.line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(usize::try_from(at.line).ok()? - 2)?
            .0
            + 1
    };
    let col = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let line = &text[line_start..];
    match line.char_indices().nth(col) {
        Some((i, _)) => Some(line_start + i),
        None => (line.chars().count() == col).then_some(text.len()),
    }
}

impl Renamer {
    pub fn new(renames: Vec<Rename>) -> Self {
        Renamer { renames }
    }

    /// The name `name` of `scope` takes: by an entry of that scope, else with the tenant id replaced as a
    /// whole word, else unchanged.
    pub fn renamed(&self, scope: Scope, name: &str) -> String {
        let of_scope = self.renames.iter().filter(|r| r.scopes.contains(&scope));
        for r in of_scope {
            if scope.prefix() {
                if let Some(rest) = name.strip_prefix(r.from.as_str()) {
                    return format!("{}{rest}", r.to);
                }
            } else if name == r.from {
                return r.to.clone();
            }
        }
        self.word(name)
    }

    /// The name with the tenant id replaced as a whole word (a role, a principal).
    fn word(&self, name: &str) -> String {
        self.renames
            .iter()
            .filter(|r| r.scopes.contains(&Scope::Tenant))
            .find_map(|r| replace_word(name, &r.from, &r.to))
            .unwrap_or_else(|| name.to_string())
    }

    /// Renames `name` in place (see [`Renamer::renamed`]).
    pub fn name(&self, scope: Scope, name: &mut String) {
        *name = self.renamed(scope, name);
    }

    /// Renames each of `names`.
    pub fn names<'a>(&self, scope: Scope, names: impl IntoIterator<Item = &'a mut String>) {
        for n in names {
            self.name(scope, n);
        }
    }

    /// Renames a name that names the tenant by its id alone (a role, a principal).
    pub fn tenant_word(&self, name: &mut String) {
        *name = self.word(name);
    }

    /// Renames the schemas a PostgreSQL text names, through the SQL tokenizer: identifiers (quoted or not)
    /// that are a renamed schema, and string literals naming a relation in one (`'acme.orders_id_seq'`, as
    /// defaults write them for `regclass`). Comments, other literals and other identifiers are kept as they
    /// are; a text the tokenizer cannot read is kept (the restore's checks then refuse it).
    pub fn sql(&self, text: &mut String) {
        use sqlparser::tokenizer::{Token, Tokenizer};
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize_with_location() else {
            return;
        };
        let schema = |s: &str| {
            self.renames
                .iter()
                .find(|r| r.scopes.contains(&Scope::PostgresSchema) && r.from == s)
                .map(|r| r.to.clone())
        };
        // The renamed tokens as (start, end, new text), spliced into the text from the back.
        let mut edits = Vec::new();
        for t in tokens {
            let new = match t.token {
                Token::Word(mut w) => schema(&w.value).map(|to| {
                    w.value = to;
                    w.to_string()
                }),
                Token::SingleQuotedString(s) => s.split_once('.').and_then(|(first, rest)| {
                    schema(first)
                        .map(|to| Token::SingleQuotedString(format!("{to}.{rest}")).to_string())
                }),
                _ => None,
            };
            let (Some(new), Some(start), Some(end)) =
                (new, offset(text, t.span.start), offset(text, t.span.end))
            else {
                continue;
            };
            edits.push((start, end, new));
        }
        for (start, end, new) in edits.into_iter().rev() {
            text.replace_range(start..end, &new);
        }
    }

    /// Renames an OpenWhisk name: a fully qualified one (`/namespace/package/action`) has its namespace
    /// renamed; a relative one is kept.
    pub fn qualified(&self, name: &mut String) {
        let Some(rest) = name.strip_prefix('/') else {
            return;
        };
        let (ns, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let ns = self.renamed(Scope::FunctionsNamespace, ns);
        *name = match tail {
            "" => format!("/{ns}"),
            t => format!("/{ns}/{t}"),
        };
    }

    /// Renames the buckets an S3 bucket policy names in its ARNs (`arn:aws:s3:::acme-files/*`).
    pub fn bucket_arns(&self, policy: &mut Value) {
        const ARN: &str = "arn:aws:s3:::";
        match policy {
            Value::String(s) => {
                if let Some(rest) = s.strip_prefix(ARN) {
                    let (bucket, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    *s = format!("{ARN}{}{tail}", self.renamed(Scope::BucketPrefix, bucket));
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| self.bucket_arns(v)),
            Value::Object(o) => o.values_mut().for_each(|v| self.bucket_arns(v)),
            _ => {}
        }
    }

    /// Renames the address of an explicit dependency (`postgres.table.acme_app.orders`): its first
    /// segment as a whole name of any scope, else the rest as a prefixed name, else by the tenant word.
    pub fn address(&self, address: &mut String) {
        let parts: Vec<&str> = address.splitn(3, '.').collect();
        let [domain, kind, rest] = parts.as_slice() else {
            return;
        };
        let (first, tail) = match rest.split_once('.') {
            Some((f, t)) => (f, format!(".{t}")),
            None => (*rest, String::new()),
        };
        let whole = self
            .renames
            .iter()
            .find(|r| r.from == first && r.scopes.iter().any(|s| !s.prefix()));
        let prefixed = || {
            self.renames.iter().find_map(|r| {
                let p = r.scopes.iter().any(|s| s.prefix());
                rest.strip_prefix(r.from.as_str())
                    .filter(|_| p)
                    .map(|t| format!("{}{t}", r.to))
            })
        };
        let renamed = match whole {
            Some(r) => format!("{}{tail}", r.to),
            None => prefixed().unwrap_or_else(|| self.word(rest)),
        };
        *address = format!("{domain}.{kind}.{renamed}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Renamer {
        Renamer::new(vec![
            Rename {
                scopes: vec![Scope::Tenant, Scope::Realm, Scope::FunctionsNamespace],
                from: "acme".into(),
                to: "globex".into(),
            },
            Rename {
                scopes: vec![Scope::PostgresSchema],
                from: "tenant_acme".into(),
                to: "tenant_globex".into(),
            },
            Rename {
                scopes: vec![Scope::KafkaTopicPrefix],
                from: "acme.".into(),
                to: "globex.".into(),
            },
            Rename {
                scopes: vec![Scope::BucketPrefix],
                from: "acme-".into(),
                to: "gx-".into(),
            },
        ])
    }

    #[test]
    fn names_are_renamed_by_scope_and_never_inside_a_word() {
        let r = acme();
        assert_eq!(
            r.renamed(Scope::KafkaTopicPrefix, "acme.orders"),
            "globex.orders"
        );
        assert_eq!(r.renamed(Scope::KafkaTopicPrefix, "acme.ops"), "globex.ops");
        assert_eq!(r.renamed(Scope::BucketPrefix, "acme-files"), "gx-files");
        assert_eq!(
            r.renamed(Scope::PostgresSchema, "tenant_acme"),
            "tenant_globex"
        );
        assert_eq!(r.renamed(Scope::PostgresSchema, "public"), "public");
        assert_eq!(r.renamed(Scope::Tenant, "acme_app"), "globex_app");
        assert_eq!(r.renamed(Scope::Tenant, "User:acme-app"), "User:globex-app");
        assert_eq!(r.renamed(Scope::Tenant, "acmecorp"), "acmecorp");
        assert_eq!(r.renamed(Scope::Realm, "acme"), "globex");
    }

    #[test]
    fn sql_renames_schemas_where_they_are_identifiers() {
        let r = acme();
        let mut q = "SELECT o.id, 'tenant_acme is here' AS note FROM tenant_acme.orders o \
                     JOIN \"tenant_acme\".\"lines\" l ON l.order_id = o.id -- tenant_acme stays\n\
                     WHERE nextval('tenant_acme.seq') > 0"
            .to_string();
        r.sql(&mut q);
        assert_eq!(
            q,
            "SELECT o.id, 'tenant_acme is here' AS note FROM tenant_globex.orders o \
             JOIN \"tenant_globex\".\"lines\" l ON l.order_id = o.id -- tenant_acme stays\n\
             WHERE nextval('tenant_globex.seq') > 0"
        );
        let mut wide = "SELECT 'é€' AS x,\n  \"ü\".a FROM tenant_acme.t".to_string();
        r.sql(&mut wide);
        assert_eq!(wide, "SELECT 'é€' AS x,\n  \"ü\".a FROM tenant_globex.t");
        let mut untouched = "select 1".to_string();
        r.sql(&mut untouched);
        assert_eq!(untouched, "select 1");
    }

    #[test]
    fn qualified_names_arns_and_addresses() {
        let r = acme();
        let mut a = "/acme/orders/notify".to_string();
        r.qualified(&mut a);
        assert_eq!(a, "/globex/orders/notify");
        let mut rel = "orders/notify".to_string();
        r.qualified(&mut rel);
        assert_eq!(rel, "orders/notify");
        let mut p = serde_json::json!({"Statement": [{"Resource": ["arn:aws:s3:::acme-files/*",
            "arn:aws:s3:::acme-files"], "Principal": "*"}]});
        r.bucket_arns(&mut p);
        assert_eq!(
            p["Statement"][0]["Resource"],
            serde_json::json!(["arn:aws:s3:::gx-files/*", "arn:aws:s3:::gx-files"])
        );
        for (from, to) in [
            (
                "postgres.schema.tenant_acme",
                "postgres.schema.tenant_globex",
            ),
            ("kafka.topic.acme.orders", "kafka.topic.globex.orders"),
            ("postgres.role.acme_app", "postgres.role.globex_app"),
            (
                "postgres.table.tenant_acme.orders",
                "postgres.table.tenant_globex.orders",
            ),
        ] {
            let mut x = from.to_string();
            r.address(&mut x);
            assert_eq!(x, to);
        }
    }
}
