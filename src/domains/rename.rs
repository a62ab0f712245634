//! Renaming a tenant's identifiers where they are identifiers, for restoring one tenant's backup into
//! another: each kind's [`super::ResourceKind::rename`] passes its names, references and SQL bodies here,
//! saying what each names ([`Scope`]); nothing else (descriptions, map keys, secrets) is touched.
//!
//! A whole name (a realm, a schema, a database, a namespace) is renamed when it is exactly an entry's `from`;
//! a prefixed name (topics, consumer groups and transactional ids; buckets) when it starts with one.
//! Anything else that names the tenant (a PostgreSQL role `acme_app`, a Kafka principal `User:acme-app`)
//! has the tenant id replaced as a whole word, never inside one (`acmecorp` stays).

use crate::model::tenant::TENANT_ID;

/// What a name is: a scope a domain declares (`SCOPES` in its module), or the tenant id itself.
pub type Scope = &'static crate::model::Scope;

/// A tenant's names in one scope: those it has (declared, else its defaults), and those its naming declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNames {
    pub scope: Scope,
    pub names: Vec<String>,
    pub declared: Option<Vec<String>>,
}

/// A tenant's names in each scope but the tenant id itself, in the registry's order (the wider scope
/// first): what the domains' scopes give, so that no caller lists the domains.
pub fn scopes_of(tenant: &crate::model::Tenant) -> Vec<ScopeNames> {
    super::scopes()
        .filter(|s| !s.key.is_empty())
        .map(|scope| ScopeNames {
            scope,
            names: tenant.names(scope),
            declared: tenant.naming.declared(scope),
        })
        .collect()
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

impl Renamer {
    pub fn new(renames: Vec<Rename>) -> Self {
        Renamer { renames }
    }

    /// The name `name` of `scope` takes: by an entry of that scope, else with the tenant id replaced as a
    /// whole word, else unchanged.
    pub fn renamed(&self, scope: Scope, name: &str) -> String {
        let of_scope = self.renames.iter().filter(|r| r.scopes.contains(&scope));
        for r in of_scope {
            if scope.prefix {
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
            .filter(|r| r.scopes.contains(&&TENANT_ID))
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

    /// The new name of a whole name of `scope` that an entry names exactly, if one does (a dialect's own
    /// renaming, like the schemas inside SQL text, asks this).
    pub fn whole(&self, scope: Scope, name: &str) -> Option<&str> {
        self.renames
            .iter()
            .find(|r| r.scopes.contains(&scope) && r.from == name)
            .map(|r| r.to.as_str())
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
            .find(|r| r.from == first && r.scopes.iter().any(|s| !s.prefix));
        let prefixed = || {
            self.renames.iter().find_map(|r| {
                let p = r.scopes.iter().any(|s| s.prefix);
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
    use crate::domains::{functions, iam, kafka, postgres, storage};

    fn acme() -> Renamer {
        Renamer::new(vec![
            Rename {
                scopes: vec![&TENANT_ID, &iam::REALM_SCOPE, &functions::NAMESPACE_SCOPE],
                from: "acme".into(),
                to: "globex".into(),
            },
            Rename {
                scopes: vec![&postgres::SCHEMA_SCOPE],
                from: "tenant_acme".into(),
                to: "tenant_globex".into(),
            },
            Rename {
                scopes: vec![&kafka::TOPIC_PREFIX_SCOPE],
                from: "acme.".into(),
                to: "globex.".into(),
            },
            Rename {
                scopes: vec![&storage::BUCKET_PREFIX_SCOPE],
                from: "acme-".into(),
                to: "gx-".into(),
            },
        ])
    }

    #[test]
    fn names_are_renamed_by_scope_and_never_inside_a_word() {
        let r = acme();
        assert_eq!(
            r.renamed(&kafka::TOPIC_PREFIX_SCOPE, "acme.orders"),
            "globex.orders"
        );
        assert_eq!(
            r.renamed(&kafka::TOPIC_PREFIX_SCOPE, "acme.ops"),
            "globex.ops"
        );
        assert_eq!(
            r.renamed(&storage::BUCKET_PREFIX_SCOPE, "acme-files"),
            "gx-files"
        );
        assert_eq!(
            r.renamed(&postgres::SCHEMA_SCOPE, "tenant_acme"),
            "tenant_globex"
        );
        assert_eq!(r.renamed(&postgres::SCHEMA_SCOPE, "public"), "public");
        assert_eq!(r.renamed(&TENANT_ID, "acme_app"), "globex_app");
        assert_eq!(r.renamed(&TENANT_ID, "User:acme-app"), "User:globex-app");
        assert_eq!(r.renamed(&TENANT_ID, "acmecorp"), "acmecorp");
        assert_eq!(r.renamed(&iam::REALM_SCOPE, "acme"), "globex");
    }

    #[test]
    fn sql_renames_schemas_where_they_are_identifiers() {
        let r = acme();
        let mut q = "SELECT o.id, 'tenant_acme is here' AS note FROM tenant_acme.orders o \
                     JOIN \"tenant_acme\".\"lines\" l ON l.order_id = o.id -- tenant_acme stays\n\
                     WHERE nextval('tenant_acme.seq') > 0"
            .to_string();
        postgres::sql::rename_schemas(&r, &mut q);
        assert_eq!(
            q,
            "SELECT o.id, 'tenant_acme is here' AS note FROM tenant_globex.orders o \
             JOIN \"tenant_globex\".\"lines\" l ON l.order_id = o.id -- tenant_acme stays\n\
             WHERE nextval('tenant_globex.seq') > 0"
        );
        let mut wide = "SELECT 'é€' AS x,\n  \"ü\".a FROM tenant_acme.t".to_string();
        postgres::sql::rename_schemas(&r, &mut wide);
        assert_eq!(wide, "SELECT 'é€' AS x,\n  \"ü\".a FROM tenant_globex.t");
        let mut untouched = "select 1".to_string();
        postgres::sql::rename_schemas(&r, &mut untouched);
        assert_eq!(untouched, "select 1");
    }

    #[test]
    fn qualified_names_arns_and_addresses() {
        let r = acme();
        let mut a = "/acme/orders/notify".to_string();
        functions::rename_qualified(&r, &mut a);
        assert_eq!(a, "/globex/orders/notify");
        let mut rel = "orders/notify".to_string();
        functions::rename_qualified(&r, &mut rel);
        assert_eq!(rel, "orders/notify");
        let mut p = serde_json::json!({"Statement": [{"Resource": ["arn:aws:s3:::acme-files/*",
            "arn:aws:s3:::acme-files"], "Principal": "*"}]});
        storage::rename_bucket_arns(&r, &mut p);
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
