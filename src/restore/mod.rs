//! Restores: what a restore reads (a backup's domains, or an artifact's sections, as resources) and what it
//! reports. The command (`cli/restore.rs`) plans the sections it restores against the live systems and
//! applies them with the apply engine; this module decides nothing about a domain by its name.

pub mod report;

use std::collections::BTreeMap;

use crate::backup::{DomainStatus, LeftOut, Record};
use crate::domains::Spec;
use crate::falcone::{DomainStatus as ArtifactStatus, Imported};
use crate::manifest::{self, Format, LoadOptions};
use crate::model::{Domain, Tenant};

/// One domain of what is restored from.
#[derive(Debug, Clone)]
pub struct Section {
    pub domain: Domain,
    pub status: DomainStatus,
    /// The system's error, or why the domain was not available.
    pub message: Option<String>,
    pub resources: Vec<Spec>,
}

impl Section {
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
    /// A document does not load as a manifest (the problems, one per line).
    #[error("the {domain} document of the backup has problems; nothing was restored:\n{messages}")]
    Invalid { domain: Domain, messages: String },
    /// A document holds resources of another domain than its own, or of another tenant.
    #[error("the {domain} document of the backup {what}; nothing was restored")]
    Foreign { domain: Domain, what: String },
}

/// The sections of a backup record, reading each stored domain's document from `documents` (by digest).
pub fn from_record(
    record: &Record,
    documents: &BTreeMap<String, Vec<u8>>,
    origin: String,
    digest: String,
) -> Result<Source, SourceError> {
    let mut tenant: Option<Tenant> = None;
    let mut sections = Vec::new();
    for entry in &record.domains {
        let mut section = Section {
            domain: entry.domain,
            status: entry.status,
            message: entry.message.clone(),
            resources: Vec::new(),
        };
        if let (true, Some(d)) = (entry.status.stored(), &entry.digest) {
            let Some(bytes) = documents.get(d) else {
                return Err(SourceError::Missing {
                    domain: entry.domain,
                    digest: d.clone(),
                });
            };
            let (t, resources) = document(record, entry.domain, bytes)?;
            if tenant.as_ref().is_some_and(|first| *first != t) {
                return Err(SourceError::Foreign {
                    domain: entry.domain,
                    what: "has another tenant block than the backup's other documents".into(),
                });
            }
            tenant = Some(t);
            section.resources = resources;
        }
        sections.push(section);
    }
    Ok(Source {
        tenant: tenant.unwrap_or_else(|| Tenant::new(record.tenant.clone())),
        origin,
        backup_id: Some(record.id.clone()),
        digest,
        migrated_from: None,
        sections,
    })
}

/// One domain's document: its tenant block and resources, checked as any manifest is.
fn document(
    record: &Record,
    domain: Domain,
    bytes: &[u8],
) -> Result<(Tenant, Vec<Spec>), SourceError> {
    let name = format!("backup {} ({domain})", record.id);
    let text = String::from_utf8_lossy(bytes);
    let loaded = manifest::load_str(&name, &text, Format::Json, LoadOptions::default());
    let Some(m) = loaded.manifest.as_ref() else {
        return Err(SourceError::Invalid {
            domain,
            messages: loaded.messages(),
        });
    };
    if m.tenant.id != record.tenant {
        return Err(SourceError::Foreign {
            domain,
            what: format!("is of tenant `{}`, not `{}`", m.tenant.id, record.tenant),
        });
    }
    if let Some(r) = m.resources.iter().find(|r| r.spec.meta().domain != domain) {
        return Err(SourceError::Foreign {
            domain,
            what: format!("holds {}, of another domain", r.address()),
        });
    }
    let specs = m.resources.iter().map(|r| r.spec.clone()).collect();
    Ok((m.tenant.clone(), specs))
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
        } else if s.status == DomainStatus::Ok {
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
        DomainStatus::Empty => "empty",
        DomainStatus::Error => "in error",
        DomainStatus::NotAvailable => "not available",
    }
}
