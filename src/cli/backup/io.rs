//! `falconer backup export` and `backup import`: a backup as one self-contained file, and files (falconer's,
//! or the platform's artifacts "1.0" / "1.0.0") into the repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::super::args::RepoArg;
use super::super::show::domain_line;
use super::super::{exit, output::Output};
use crate::backup::file::{BackupFile, FILE_FORMAT, read_backup_file};
use crate::backup::repo::{Repo, RepoError};
use crate::backup::{self, DomainEntry, DomainStatus, FORMAT_VERSION, Record};
use crate::falcone::{self, DomainStatus as ArtifactStatus, Imported};
use crate::manifest;
use crate::model::Domain;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// A backup id, or `latest` (with `--tenant`, of that tenant).
    pub id: String,
    /// With `latest`: the newest backup of this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// `falconer`: the backup as it is (record and documents); `falcone`: an artifact of the platform,
    /// format "1.0.0" in its export's (collector) dialect, with falconer's own copy of each domain under
    /// `_falconer` for what the dialect cannot hold.
    #[arg(long, value_enum, default_value = "falconer")]
    pub format: FileFormat,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// The kinds of file `backup export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Falconer,
    Falcone,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// A backup file (`backup export`), or an artifact of the platform ("1.0" or "1.0.0", either dialect).
    pub file: PathBuf,
    #[command(flatten)]
    pub repo: RepoArg,
}

pub async fn export(a: &ExportArgs, repo: &Repo, out: &Output) -> Result<i32, RepoError> {
    let record = repo.record(&a.id, a.tenant.as_deref()).await?;
    let mut documents = BTreeMap::new();
    for digest in record.blobs() {
        let text = String::from_utf8_lossy(&repo.get_blob(digest).await?).into_owned();
        documents.insert(digest.to_string(), text);
    }
    let (text, what) = match a.format {
        FileFormat::Falconer => {
            let what = format!("{} documents", documents.len());
            let file = BackupFile {
                format: FILE_FORMAT.into(),
                format_version: FORMAT_VERSION,
                record: record.clone(),
                documents,
            };
            (
                serde_json::to_string_pretty(&file).unwrap_or_default(),
                what,
            )
        }
        FileFormat::Falcone => match artifact(&record, &documents) {
            Ok(v) => (
                serde_json::to_string_pretty(&v).unwrap_or_default(),
                format!("an artifact of format {}", falcone::CURRENT_VERSION),
            ),
            Err(e) => {
                out.error(format!("backup {}: {e}", record.id));
                return Ok(exit::ERROR);
            }
        },
    };
    if let Err(e) = super::super::common::write_atomic(&a.output, &(text + "\n")) {
        out.error(format!("cannot write {}: {e}", a.output.display()));
        return Ok(exit::ERROR);
    }
    println!(
        "Wrote backup {} of tenant `{}` to {} ({what}).",
        record.id,
        record.tenant,
        a.output.display(),
    );
    Ok(exit::OK)
}

/// A backup as an artifact of the platform (see [`falcone::write`]).
fn artifact(
    record: &Record,
    documents: &BTreeMap<String, String>,
) -> Result<serde_json::Value, String> {
    let mut tenant = None;
    let mut sections = Vec::new();
    for d in &record.domains {
        let (status, message) = match d.status {
            // The platform's statuses have no `incomplete`: the section is what was read.
            DomainStatus::Ok | DomainStatus::Incomplete => (ArtifactStatus::Ok, None),
            DomainStatus::Empty => (ArtifactStatus::Empty, None),
            DomainStatus::Error => (ArtifactStatus::Error, d.message.clone()),
            DomainStatus::NotAvailable => (ArtifactStatus::NotAvailable, d.message.clone()),
        };
        let mut section = falcone::write::Section {
            domain: d.domain,
            status,
            exported_at: d
                .read_at
                .clone()
                .unwrap_or_else(|| record.started_at.clone()),
            message,
            resources: Vec::new(),
            document: None,
        };
        if let Some(text) = d.digest.as_ref().and_then(|x| documents.get(x)) {
            let doc: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| format!("the {} document is not JSON: {e}", d.domain))?;
            let (t, mut specs) = falcone::write::read_document(&doc)
                .map_err(|e| format!("the {} document: {e}", d.domain))?;
            let file = |rel: &str| {
                let digest = d.parts.get(rel)?;
                documents.get(digest).cloned()
            };
            for s in &mut specs {
                s.internalize(&file);
            }
            // falconer's copy holds the code itself, as the section's data does.
            let mut m = manifest::Manifest::new(t.clone());
            m.resources = specs
                .iter()
                .map(|spec| manifest::Resource {
                    spec: spec.clone(),
                    span: None,
                })
                .collect();
            tenant.get_or_insert(t);
            section.resources = specs;
            section.document = Some(manifest::write::to_document(&m));
        }
        sections.push(section);
    }
    let tenant = tenant.unwrap_or_else(|| crate::model::Tenant::new(record.tenant.clone()));
    let correlation = format!("falconer-{}", record.id);
    Ok(falcone::write::artifact(
        &tenant,
        &record.started_at,
        &correlation,
        &sections,
    ))
}

pub async fn import(a: &ImportArgs, repo: &Repo, out: &Output) -> Result<i32, RepoError> {
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => {
            out.error(format!("cannot read {}: {e}", a.file.display()));
            return Ok(exit::ERROR);
        }
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            out.error(format!("{} is not JSON: {e}", a.file.display()));
            return Ok(exit::ERROR);
        }
    };
    let record = if value.get("format").and_then(|f| f.as_str()) == Some(FILE_FORMAT) {
        match from_backup_file(value, repo).await? {
            Ok(r) => r,
            Err(message) => {
                out.error(format!("{}: {message}", a.file.display()));
                return Ok(exit::ERROR);
            }
        }
    } else {
        match from_artifact(&text, &a.file, repo, out).await? {
            Some(r) => r,
            None => return Ok(exit::ERROR),
        }
    };
    if repo.record(&record.id, Some(&record.tenant)).await.is_ok() {
        out.error(format!("backup {} is in the repository already", record.id));
        return Ok(exit::REFUSED);
    }
    repo.put_record(&record).await?;
    println!(
        "Imported backup {} of tenant `{}` ({}).",
        record.id, record.tenant, record.status
    );
    for d in &record.domains {
        println!("{}", domain_line(d));
    }
    Ok(exit::OK)
}

/// A backup file's documents into the repository (each checked against its digest); its record, or what is
/// wrong with the file.
async fn from_backup_file(
    value: serde_json::Value,
    repo: &Repo,
) -> Result<Result<Record, String>, RepoError> {
    let file = match read_backup_file(value) {
        Ok(f) => f,
        Err(message) => return Ok(Err(message)),
    };
    for digest in file.record.blobs() {
        if let Some(text) = file.documents.get(digest) {
            repo.put_blob(text.as_bytes()).await?;
        }
    }
    let mut record = file.record;
    record.encryption = repo.encryption();
    Ok(Ok(record))
}

/// An artifact of the platform as a backup: one document per domain section it exported, each section's
/// status kept. `None` (reported) when the artifact has errors.
async fn from_artifact(
    text: &str,
    path: &Path,
    repo: &Repo,
    out: &Output,
) -> Result<Option<Record>, RepoError> {
    let Some(v) = falcone::detect(text) else {
        out.error(format!(
            "{} is neither a backup file (`backup export`) nor an artifact of the platform",
            path.display()
        ));
        return Ok(None);
    };
    let imported = match falcone::import(&v) {
        Ok(i) if !i.issues.iter().any(crate::diag::Issue::is_error) => i,
        Ok(i) => {
            out.issues(&i.issues, &Default::default());
            return Ok(None);
        }
        Err(issues) => {
            out.issues(&issues, &Default::default());
            return Ok(None);
        }
    };
    let now = crate::util::now_millis();
    let mut domains = Vec::new();
    for section in &imported.domains {
        if let Some(d) = section.domain
            && let Some(entry) = section_entry(repo, &imported, section, d).await?
        {
            domains.push(entry);
        }
    }
    let at = crate::util::rfc3339(now.div_euclid(1000));
    Ok(Some(Record {
        format: backup::FORMAT.into(),
        format_version: FORMAT_VERSION,
        id: backup::new_id(now),
        tenant: imported.tenant_id.clone(),
        status: Record::outcome(&domains),
        started_at: at.clone(),
        finished_at: at,
        falconer: env!("CARGO_PKG_VERSION").into(),
        manifest_format: manifest::FORMAT_VERSION.into(),
        tags: BTreeMap::from([(
            "imported".into(),
            format!("artifact {}", imported.format_version),
        )]),
        source: format!("import of {}", path.display()),
        domains,
        include: Vec::new(),
        exclude: Vec::new(),
        left_out: 0,
        encryption: repo.encryption(),
    }))
}

/// One section of an artifact as a backup's domain (`None` for a section not requested).
async fn section_entry(
    repo: &Repo,
    imported: &Imported,
    section: &falcone::DomainSection,
    domain: Domain,
) -> Result<Option<DomainEntry>, RepoError> {
    let failed = |status, message: Option<&String>| {
        let message = message.cloned();
        crate::ops::backup::failed(
            domain,
            status,
            message.unwrap_or_else(|| "(the artifact gives no message)".into()),
        )
    };
    match section.status {
        ArtifactStatus::NotRequested => return Ok(None),
        ArtifactStatus::Error => {
            return Ok(Some(failed(DomainStatus::Error, section.error.as_ref())));
        }
        ArtifactStatus::NotAvailable => {
            return Ok(Some(failed(
                DomainStatus::NotAvailable,
                section.reason.as_ref(),
            )));
        }
        ArtifactStatus::Ok | ArtifactStatus::Empty => {}
    }
    let specs = imported
        .manifest
        .resources
        .iter()
        .filter(|r| r.spec.meta().domain == domain)
        .map(|r| r.spec.clone())
        .collect();
    let tenant = &imported.manifest.tenant;
    crate::ops::backup::stored(repo, tenant, domain, specs, None)
        .await
        .map(Some)
}
