//! Restoring another tenant's backup: the identifier map (the proposal accepted, a map file, `--map`
//! entries), the source renamed into the target tenant, and the refusal without a map.

use std::path::PathBuf;

use crate::ops::{Error, Events, Refusal};
use crate::restore::Source;
use crate::restore::map::{MapEntry, MapError};
use crate::state::State;

/// The identifier map asked for, for restoring another tenant's backup.
#[derive(Debug, Clone, Default)]
pub struct MapRequest {
    /// `FROM=TO` entries (a prefix: `acme.=globex.`).
    pub map: Vec<String>,
    /// A file of entries: JSON or TOML.
    pub map_file: Option<PathBuf>,
    /// Use the proposed map (the entries above go on top).
    pub accept_proposed: bool,
}

impl MapRequest {
    fn given(&self) -> bool {
        self.accept_proposed || !self.map.is_empty() || self.map_file.is_some()
    }
}

/// The identifier map a restore of another tenant's backup used.
pub struct Mapping {
    pub entries: Vec<MapEntry>,
    pub proposal: Vec<MapEntry>,
    /// The tenant the backup was taken from.
    pub from_tenant: String,
}

/// Another tenant's backup with a map (accepted proposal, map file, entries): the source is renamed into
/// the target tenant and checked there. Without a map the source is left as it is (the restore refuses,
/// proposing one).
pub async fn map_source(
    asked: &MapRequest,
    tenant: &str,
    state: &State,
    source: &mut Source,
    events: &dyn Events,
) -> Result<Option<Mapping>, Error> {
    if source.tenant.id == tenant {
        if asked.given() {
            return Err(Error::Other(format!(
                "--map, --map-file and --accept-proposed-map are for restoring another tenant's backup; this one is of `{tenant}` itself"
            )));
        }
        return Ok(None);
    }
    if !asked.given() {
        return Ok(None);
    }
    let proposal = propose(state, source, tenant).await;
    let entries = map_entries(asked, &proposal)?;
    let mapped = match source.mapped(&entries, tenant) {
        Ok(m) => m,
        Err(e @ crate::restore::MappedError::Map(_)) => return Err(Error::Other(e.to_string())),
        Err(e) => return Err(Error::Refused(Refusal::Other(e.to_string()))),
    };
    let specs: Vec<&crate::domains::Spec> =
        mapped.sections.iter().flat_map(|s| &s.resources).collect();
    let words = crate::restore::map::renamed_words(&source.tenant.id, &entries);
    let kept = crate::restore::map::mentions(&specs, &words);
    if !kept.is_empty() {
        events.note(&format!(
            "{} value(s) name `{}` and are kept as written: they are not identifiers (dynamic SQL in a string included; an apply of the target's manifest after the restore changes them):\n  {}",
            kept.len(),
            words.join("`, `"),
            kept.iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }
    let from_tenant = std::mem::replace(source, mapped).tenant.id;
    Ok(Some(Mapping {
        entries,
        proposal,
        from_tenant,
    }))
}

/// The map proposed from the source's tenant to `tenant` (its registered naming, else its defaults).
pub async fn propose(state: &State, source: &Source, tenant: &str) -> Vec<MapEntry> {
    let target = state
        .registry()
        .registered(tenant)
        .await
        .unwrap_or_else(|_| crate::model::Tenant::new(tenant));
    crate::restore::map::propose(&source.tenant, &target)
}

/// The map's entries: the proposal when accepted, the map file's over it, the `--map` entries over both.
fn map_entries(asked: &MapRequest, proposal: &[MapEntry]) -> Result<Vec<MapEntry>, MapError> {
    use crate::restore::map::{overridden, parse_pair};
    let base = match asked.accept_proposed {
        true => proposal.to_vec(),
        false => Vec::new(),
    };
    let from_file = match &asked.map_file {
        Some(f) => read_map_file(f)?,
        None => Vec::new(),
    };
    let base = overridden(base, from_file, proposal)?;
    let flags = asked
        .map
        .iter()
        .map(|m| parse_pair(m).map(|(f, t)| (None, f, t)))
        .collect::<Result<Vec<_>, _>>()?;
    overridden(base, flags, proposal)
}

/// A map file's entries: JSON (a list of `{scope, from, to}`, or an object of `"from": "to"`) or TOML
/// (`"from" = "to"`).
fn read_map_file(
    path: &std::path::Path,
) -> Result<Vec<(Option<String>, String, String)>, MapError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum File {
        Entries(Vec<Entry>),
        Pairs(std::collections::BTreeMap<String, String>),
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        scope: Option<String>,
        from: String,
        to: String,
    }
    let path = path.to_path_buf();
    let text = std::fs::read_to_string(&path).map_err(|source| MapError::Read {
        path: path.clone(),
        source,
    })?;
    let bad = |why: String| MapError::File {
        path: path.clone(),
        why,
    };
    let file: File = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
    } else {
        toml::from_str(&text).map_err(|e| bad(e.to_string()))?
    };
    Ok(match file {
        File::Entries(v) => v.into_iter().map(|e| (e.scope, e.from, e.to)).collect(),
        File::Pairs(m) => m.into_iter().map(|(f, t)| (None, f, t)).collect(),
    })
}
