//! Restores: what a restore reads (a backup's domains, or an artifact's sections, as resources) and what it
//! reports. The command (`cli/restore.rs`) plans the sections it restores against the live systems and
//! applies them with the apply engine; this module decides nothing about a domain by its name.

pub mod map;
pub mod report;

use std::collections::{BTreeMap, HashMap};

use crate::backup::{DomainStatus, LeftOut, Record};
use crate::domains::Spec;
use crate::falcone::{DomainStatus as ArtifactStatus, Imported};
use crate::manifest;
use crate::model::{Domain, Tenant};

/// One domain of what is restored from.
#[derive(Debug, Clone)]
pub struct Section {
    pub domain: Domain,
    pub status: DomainStatus,
    /// The system's error, or why the domain was not available.
    pub message: Option<String>,
    pub resources: Vec<Spec>,
    /// What the backup found in the domain and could not carry.
    pub not_carried: Vec<crate::domains::provider::NotCarried>,
    /// The values of its objects that are data (set only when asked).
    pub data: Vec<crate::domains::provider::DataValue>,
    /// What was left out of it because it breaks a rule of its system (`restore --skip-invalid`), for the
    /// report: `ADDRESS PART: why [rule]`.
    pub invalid: Vec<String>,
    /// Values the source redacted though they are no secrets: unknown, never written (JSON pointers into
    /// the source).
    pub unknown: Vec<String>,
}

impl Section {
    /// Fills the secrets the source could not carry from resources of the same address (a manifest's: its
    /// `{ env }` / `{ file }` references replace the redaction markers); the fields filled, `ADDRESS FIELD`.
    pub fn fill_secrets(&mut self, from: &HashMap<String, &Spec>) -> Vec<String> {
        let mut given = Vec::new();
        for spec in &self.resources {
            let address = spec.address().to_string();
            let Some(source) = from.get(&address).map(|s| s.to_json()) else {
                continue;
            };
            for l in crate::backup::left_out_secrets(&address, &spec.to_json(), "") {
                if let Some(v) = source.pointer(&l.field)
                    && !v.as_str().is_some_and(crate::model::secret::is_marker)
                {
                    given.push((l.field, v.clone(), address.clone()));
                }
            }
        }
        given
            .into_iter()
            .filter(|(field, v, address)| self.fill_secret(address, field, v))
            .map(|(field, _, address)| format!("{address} {field}"))
            .collect()
    }

    /// Fills one secret the source could not carry (`field`, a JSON pointer, of the object at `address`)
    /// with `value`, a secret reference; whether it was one.
    pub fn fill_secret(&mut self, address: &str, field: &str, value: &serde_json::Value) -> bool {
        for spec in &mut self.resources {
            if spec.address() != address {
                continue;
            }
            let mut json = spec.to_json();
            let left_out = crate::backup::left_out_secrets(address, &json, "");
            if !left_out.iter().any(|l| l.field == field) {
                return false;
            }
            if let Some(slot) = json.pointer_mut(field) {
                *slot = value.clone();
            }
            return match spec.same_kind_from_json(json) {
                Ok(s) => {
                    *spec = s;
                    true
                }
                Err(_) => false,
            };
        }
        false
    }

    /// Secret fields the source could not carry (redacted), by resource.
    pub fn left_out(&self) -> Vec<LeftOut> {
        self.resources
            .iter()
            .flat_map(|s| {
                crate::backup::left_out_secrets(&s.address().to_string(), &s.to_json(), "")
            })
            .collect()
    }
}

/// What a restore reads from: a backup or an artifact, as sections.
#[derive(Debug, Clone)]
pub struct Source {
    /// The tenant block of the source (its id and naming).
    pub tenant: Tenant,
    /// Where it came from, for people (`backup ID in REPO`, `file PATH`).
    pub origin: String,
    pub backup_id: Option<String>,
    /// SHA-256 of the record or file read.
    pub digest: String,
    /// The format version the source was migrated from in memory, when it was older.
    pub migrated_from: Option<String>,
    pub sections: Vec<Section>,
}

impl Source {
    pub fn section(&self, d: Domain) -> Option<&Section> {
        self.sections.iter().find(|s| s.domain == d)
    }
}

/// Why a source cannot be restored from.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A document the record names is missing or damaged.
    #[error("the document of domain {domain} ({digest}) is missing from the backup")]
    Missing { domain: Domain, digest: String },
    /// A document is not JSON.
    #[error("the {domain} document of the backup has problems; nothing was restored:\n{messages}")]
    Invalid { domain: Domain, messages: String },
    /// The documents do not pass the manifest's checks (the problems, one per line).
    #[error("the backup's documents have problems; nothing was restored:\n{messages}")]
    Checks { messages: String },
    /// The documents' tenant is not the record's.
    #[error(
        "the backup's documents are of tenant `{found}`, its record of `{record}`; nothing was restored"
    )]
    Tenant { found: String, record: String },
    /// A document holds resources of another domain than its own, or of another tenant.
    #[error("the {domain} document of the backup {what}; nothing was restored")]
    Foreign { domain: Domain, what: String },
}

/// The sections of a backup record, reading each stored domain's document from `documents` (by digest).
/// The documents are checked together, as one manifest (a reference from one domain to another resolves),
/// each holding only its own domain and all the same tenant block.
pub fn from_record(
    record: &Record,
    documents: &BTreeMap<String, Vec<u8>>,
    origin: String,
    digest: String,
) -> Result<Source, SourceError> {
    let mut combined = serde_json::Map::new();
    for entry in record.domains.iter().filter(|e| e.status.stored()) {
        let Some(d) = &entry.digest else { continue };
        let Some(bytes) = documents.get(d) else {
            return Err(SourceError::Missing {
                domain: entry.domain,
                digest: d.clone(),
            });
        };
        merge(&mut combined, entry.domain, bytes)?;
    }
    let (tenant, mut specs) = if combined.is_empty() {
        (Tenant::new(record.tenant.clone()), Vec::new())
    } else {
        load(record, combined)?
    };
    put_parts_back(record, documents, &mut specs)?;
    let sections = record
        .domains
        .iter()
        .map(|entry| Section {
            domain: entry.domain,
            status: entry.status,
            message: entry.message.clone(),
            resources: take_domain(&mut specs, entry.domain),
            not_carried: entry.not_carried.clone(),
            data: entry.data.clone(),
            invalid: Vec::new(),
            unknown: Vec::new(),
        })
        .collect();
    Ok(Source {
        tenant,
        origin,
        backup_id: Some(record.id.clone()),
        digest,
        migrated_from: None,
        sections,
    })
}

/// Puts each domain's parts (each action's code, stored as blobs of their own) back into its resources.
fn put_parts_back(
    record: &Record,
    documents: &BTreeMap<String, Vec<u8>>,
    specs: &mut [Spec],
) -> Result<(), SourceError> {
    for entry in record.domains.iter().filter(|e| !e.parts.is_empty()) {
        if let Some(d) = entry.parts.values().find(|d| !documents.contains_key(*d)) {
            return Err(SourceError::Missing {
                domain: entry.domain,
                digest: d.clone(),
            });
        }
        let file = |rel: &str| {
            let digest = entry.parts.get(rel)?;
            documents
                .get(digest)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        for s in specs.iter_mut().filter(|s| s.meta().domain == entry.domain) {
            s.internalize(&file);
        }
    }
    Ok(())
}

fn take_domain(specs: &mut Vec<Spec>, domain: Domain) -> Vec<Spec> {
    let (mine, rest): (Vec<Spec>, Vec<Spec>) =
        specs.drain(..).partition(|s| s.meta().domain == domain);
    *specs = rest;
    mine
}

/// Adds one domain's document to the combined manifest: only its own domain's key, and the same tenant
/// block as the others.
fn merge(
    combined: &mut serde_json::Map<String, serde_json::Value>,
    domain: Domain,
    bytes: &[u8],
) -> Result<(), SourceError> {
    let foreign = |what: String| SourceError::Foreign { domain, what };
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| SourceError::Invalid {
            domain,
            messages: format!("not JSON: {e}"),
        })?;
    let Some(doc) = doc.as_object() else {
        return Err(foreign("is not a JSON object".into()));
    };
    for (k, v) in doc {
        match k.as_str() {
            "tenant" | "format_version" => match combined.get(k) {
                Some(first) if first != v => {
                    return Err(foreign(format!(
                        "has another `{k}` than the backup's other documents"
                    )));
                }
                _ => {
                    combined.insert(k.clone(), v.clone());
                }
            },
            key if key == domain.as_str() => {
                combined.insert(k.clone(), v.clone());
            }
            other => return Err(foreign(format!("holds `{other}`, not only {domain}"))),
        }
    }
    Ok(())
}

/// Loads the combined documents as one manifest, with every check `validate` makes.
fn load(
    record: &Record,
    combined: serde_json::Map<String, serde_json::Value>,
) -> Result<(Tenant, Vec<Spec>), SourceError> {
    let name = format!("backup {}", record.id);
    let m = manifest::load_document(&name, &serde_json::Value::Object(combined))
        .map_err(|messages| SourceError::Checks { messages })?;
    if m.tenant.id != record.tenant {
        return Err(SourceError::Tenant {
            found: m.tenant.id.clone(),
            record: record.tenant.clone(),
        });
    }
    let specs = m.resources.iter().map(|r| r.spec.clone()).collect();
    Ok((m.tenant.clone(), specs))
}

impl Source {
    /// The source with its identifiers renamed by a map into `target_id`'s scope, checked again as a whole
    /// (every `validate` check, in the target tenant): a renamed name the systems would refuse, or one left
    /// outside the target's scope, is refused here, before anything is read or written.
    pub fn mapped(
        &self,
        entries: &[map::MapEntry],
        target_id: &str,
    ) -> Result<Source, MappedError> {
        let r = map::renamer(entries)?;
        let tenant = map::target_tenant(&self.tenant, target_id, &r);
        let mut m = manifest::Manifest::new(tenant.clone());
        for section in &self.sections {
            for spec in &section.resources {
                let mut spec = spec.clone();
                spec.rename(&r);
                m.resources.push(manifest::Resource { spec, span: None });
            }
        }
        let checked =
            manifest::load_document("the mapped backup", &manifest::write::to_document(&m))
                .map_err(MappedError::Checks)?;
        let mut specs: Vec<Spec> = checked.resources.into_iter().map(|r| r.spec).collect();
        let sections = self
            .sections
            .iter()
            .map(|s| Section {
                resources: take_domain(&mut specs, s.domain),
                data: s
                    .data
                    .iter()
                    .map(|v| {
                        let mut address = v.address.clone();
                        r.address(&mut address);
                        crate::domains::provider::DataValue {
                            address,
                            value: v.value.clone(),
                        }
                    })
                    .collect(),
                ..s.clone()
            })
            .collect();
        Ok(Source {
            tenant,
            sections,
            ..self.clone()
        })
    }
}

/// Why a map cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum MappedError {
    #[error(transparent)]
    Map(#[from] map::MapError),
    /// The renamed resources do not pass the checks (the problems, one per line).
    #[error("the backup, mapped into the target tenant, has problems; nothing was restored:\n{0}")]
    Checks(String),
}

/// The sections of an artifact of the platform (already read and checked).
pub fn from_artifact(imported: &Imported, origin: String, digest: String) -> Source {
    let sections = imported
        .domains
        .iter()
        .filter_map(|s| {
            let domain = s.domain?;
            let (status, message) = match s.status {
                ArtifactStatus::NotRequested => return None,
                ArtifactStatus::Ok => (DomainStatus::Ok, None),
                ArtifactStatus::Empty => (DomainStatus::Empty, None),
                ArtifactStatus::Error => (DomainStatus::Error, s.error.clone()),
                ArtifactStatus::NotAvailable => (DomainStatus::NotAvailable, s.reason.clone()),
            };
            let resources = imported
                .manifest
                .resources
                .iter()
                .filter(|r| status.stored() && r.spec.meta().domain == domain)
                .map(|r| r.spec.clone())
                .collect();
            Some(Section {
                domain,
                status,
                message,
                resources,
                not_carried: Vec::new(),
                data: Vec::new(),
                invalid: Vec::new(),
                unknown: imported
                    .unknown
                    .iter()
                    .filter(|(d, _)| *d == domain)
                    .map(|(_, path)| path.clone())
                    .collect(),
            })
        })
        .collect();
    Source {
        tenant: imported.manifest.tenant.clone(),
        origin,
        backup_id: None,
        digest,
        migrated_from: (imported.format_version != crate::falcone::CURRENT_VERSION)
            .then(|| imported.format_version.clone()),
        sections,
    }
}

/// What happens to one domain in a restore, decided before anything is read live.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Restored: its resources are planned against the live system.
    Restore,
    /// Not asked for (`--domain` names others).
    NotRequested,
    /// Asked for, but the source has nothing to restore it from (with the source's reason).
    Skipped(String),
}

/// Each domain's disposition: `requested` empty means every domain of the source. A domain the source read
/// as `empty`, or could not read, is skipped: a restore never empties a domain.
pub fn dispositions(source: &Source, requested: &[Domain]) -> Vec<(Domain, Disposition)> {
    let mut out = Vec::new();
    for s in &source.sections {
        let d = if !requested.is_empty() && !requested.contains(&s.domain) {
            Disposition::NotRequested
        } else if matches!(s.status, DomainStatus::Ok | DomainStatus::Incomplete) {
            Disposition::Restore
        } else {
            let why = s
                .message
                .clone()
                .unwrap_or_else(|| "no reason given".into());
            Disposition::Skipped(format!(
                "the backup's {} is {}: {why}",
                s.domain,
                label(s.status)
            ))
        };
        out.push((s.domain, d));
    }
    for d in requested {
        if source.section(*d).is_none() {
            out.push((
                *d,
                Disposition::Skipped("the backup does not hold this domain".into()),
            ));
        }
    }
    out
}

fn label(s: DomainStatus) -> &'static str {
    match s {
        DomainStatus::Ok => "ok",
        DomainStatus::Incomplete => "incomplete",
        DomainStatus::Empty => "empty",
        DomainStatus::Error => "in error",
        DomainStatus::NotAvailable => "not available",
    }
}

/// A reference of a restored resource to an object that is neither restored nor live.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved {
    pub address: String,
    pub field: String,
    pub target: String,
}

/// The required references (and `depends_on` entries) of `specs` whose targets are not in `present` (what
/// is restored and what exists live): a source may refer to objects it does not carry, as long as they
/// exist.
pub fn unresolved(
    tenant: &Tenant,
    specs: &[&Spec],
    present: &std::collections::HashSet<crate::model::Address>,
) -> Vec<Unresolved> {
    let mut out = Vec::new();
    for s in specs {
        let address = s.address().to_string();
        for r in s.references(tenant).into_iter().filter(|r| r.required) {
            if !r.targets.iter().any(|t| present.contains(t))
                && let Some(t) = r.targets.first()
            {
                out.push(Unresolved {
                    address: address.clone(),
                    field: r.field.clone(),
                    target: t.to_string(),
                });
            }
        }
        for (i, d) in s.depends_on().iter().enumerate() {
            if let Ok(a) = crate::model::Address::parse(d)
                && !present.contains(&a)
            {
                out.push(Unresolved {
                    address: address.clone(),
                    field: format!("depends_on[{i}]"),
                    target: a.to_string(),
                });
            }
        }
    }
    out
}

/// The containers (a Keycloak realm) the resources of `specs` live in that are not in `present` (restored
/// or live), each once.
pub fn missing_containers(
    tenant: &Tenant,
    specs: &[&Spec],
    present: &std::collections::HashSet<crate::model::Address>,
) -> Vec<crate::model::Address> {
    let mut out = std::collections::BTreeSet::new();
    for s in specs {
        for r in s.references(tenant).into_iter().filter(|r| r.container) {
            if !r.targets.iter().any(|t| present.contains(t))
                && let Some(t) = r.targets.first()
            {
                out.insert(t.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// A container created bare: the spec of `address` made of its identity alone, when its kind can be (a
/// Keycloak realm by its name).
pub fn bare(address: &crate::model::Address) -> Option<Spec> {
    let entry = crate::domains::KINDS.iter().find(|k| {
        let m = (k.meta)();
        m.domain == address.domain && m.kind == address.kind
    })?;
    let meta = (entry.meta)();
    if meta.identity.len() != address.segments.len() {
        return None;
    }
    let identity: serde_json::Map<String, serde_json::Value> = meta
        .identity
        .iter()
        .zip(&address.segments)
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str())))
        .collect();
    (entry.from_json)(serde_json::Value::Object(identity)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The acme example (every kind with a name, a reference, SQL or a policy naming the tenant), mapped by
    /// the proposal into `globex`: identifiers follow, free text stays, and the result passes every check
    /// in globex's scope.
    #[test]
    fn the_proposal_renames_the_identifiers_of_the_acme_example() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
        let loaded = manifest::load_path(&dir, manifest::LoadOptions::default());
        let m = loaded.manifest.expect("the example loads");
        let sections = Domain::ALL
            .iter()
            .map(|d| Section {
                domain: *d,
                status: DomainStatus::Ok,
                message: None,
                not_carried: Vec::new(),
                data: Vec::new(),
                invalid: Vec::new(),
                unknown: Vec::new(),
                resources: m
                    .resources
                    .iter()
                    .filter(|r| r.spec.meta().domain == *d)
                    .map(|r| r.spec.clone())
                    .collect(),
            })
            .collect();
        let source = Source {
            tenant: m.tenant.clone(),
            origin: "example".into(),
            backup_id: None,
            digest: String::new(),
            migrated_from: None,
            sections,
        };
        let proposal = map::propose(&m.tenant, &Tenant::new("globex"));
        let mapped = source.mapped(&proposal, "globex").expect("maps");
        assert_eq!(mapped.tenant.id, "globex");
        let all: Vec<&Spec> = mapped.sections.iter().flat_map(|s| &s.resources).collect();
        assert_eq!(all.len(), m.resources.len());
        assert!(all.iter().all(|s| s.in_scope(&mapped.tenant)));
        let doc = serde_json::to_string(
            &all.iter()
                .map(|s| (s.address().to_string(), s.to_json()))
                .collect::<Vec<_>>(),
        )
        .expect("JSON");
        for renamed in [
            "postgres.schema.tenant_globex",
            "FROM tenant_globex.orders o",
            "JOIN tenant_globex.customers c",
            "postgres.table.tenant_globex.orders\"",
            "\"grantee\":\"globex_app\"",
            "\"roles\":[\"globex_app\"]",
            "mongo.collection.globex.",
            "kafka.topic.globex.orders.dlq",
            "\"principal\":\"User:globex-analytics\"",
            "\"resource_name\":\"globex.orders-workers\"",
            "storage.bucket.globex-exports",
            "arn:aws:s3:::globex-exports/*",
            "iam.realm.globex",
        ] {
            assert!(doc.contains(renamed), "{renamed} missing from {doc}");
        }
        // Free text and values are not identifiers: they keep the source's words.
        for kept in [
            "https://app.acme.example",
            "\"value\":\"acme.orders\"",
            "\"tenant\":\"acme\"",
            "arn:aws:iam::000000000000:user/acme-analytics",
        ] {
            assert!(doc.contains(kept), "{kept} missing from {doc}");
        }
        for gone in [
            "tenant_acme",
            "User:acme-",
            "arn:aws:s3:::acme-",
            "kafka.topic.acme",
        ] {
            assert!(!doc.contains(gone), "{gone} left in {doc}");
        }
    }
}
