//! Restoring another tenant's backup: the identifier map (the proposal accepted, a map file, `--map`
//! entries), the source renamed into the target tenant, and the refusal without a map.

use super::restore::{Args, refuse};
use super::{Output, exit};
use crate::restore::Source;
use crate::restore::map::MapEntry;
use crate::restore::report::Report;
use crate::state::State;

/// The identifier map a restore of another tenant's backup used.
pub(super) struct Mapping {
    pub(super) entries: Vec<MapEntry>,
    pub(super) proposal: Vec<MapEntry>,
    /// The tenant the backup was taken from.
    pub(super) from_tenant: String,
}

/// Another tenant's backup with a map (`--accept-proposed-map`, `--map-file`, `--map`): the source is
/// renamed into the target tenant and checked there. Without a map the source is left as it is, and the
/// restore refuses, proposing one.
pub(super) async fn map_source(
    args: &Args,
    state: &State,
    source: &mut Source,
    out: &Output,
) -> Result<Option<Mapping>, i32> {
    let given = args.mapping.accept_proposed_map
        || !args.mapping.map.is_empty()
        || args.mapping.map_file.is_some();
    if source.tenant.id == args.tenant() {
        if given {
            out.error(format!(
                "--map, --map-file and --accept-proposed-map are for restoring another tenant's backup; this one is of `{}` itself",
                args.tenant()
            ));
            return Err(exit::ERROR);
        }
        return Ok(None);
    }
    if !given {
        return Ok(None);
    }
    let target = state
        .registered(args.tenant())
        .await
        .unwrap_or_else(|_| crate::model::Tenant::new(args.tenant()));
    let proposal = crate::restore::map::propose(&source.tenant, &target);
    let entries = match map_entries(args, &proposal) {
        Ok(e) => e,
        Err(e) => {
            out.error(e);
            return Err(exit::ERROR);
        }
    };
    let mapped = match source.mapped(&entries, args.tenant()) {
        Ok(m) => m,
        Err(e @ crate::restore::MappedError::Map(_)) => {
            out.error(e.to_string());
            return Err(exit::ERROR);
        }
        Err(e) => {
            out.error(e.to_string());
            return Err(exit::REFUSED);
        }
    };
    println!(
        "Identifier map, from tenant `{}` to `{}`:\n{}",
        source.tenant.id,
        args.tenant(),
        map_lines(&entries)
    );
    let specs: Vec<&crate::domains::Spec> =
        mapped.sections.iter().flat_map(|s| &s.resources).collect();
    let kept = crate::restore::map::mentions(&specs, &source.tenant.id);
    if !kept.is_empty() {
        eprintln!(
            "note: {} value(s) name `{}` and are kept as written: they are not identifiers (an apply of the target's manifest after the restore changes them):\n  {}",
            kept.len(),
            source.tenant.id,
            kept.iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    let from_tenant = std::mem::replace(source, mapped).tenant.id;
    Ok(Some(Mapping {
        entries,
        proposal,
        from_tenant,
    }))
}

pub(super) fn map_lines(entries: &[MapEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("  {:<40} {} -> {}", e.scope, e.from, e.to))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The map's entries: the proposal when accepted, the map file's over it, the `--map` entries over both.
pub(super) fn map_entries(args: &Args, proposal: &[MapEntry]) -> Result<Vec<MapEntry>, String> {
    use crate::restore::map::{overridden, parse_pair};
    let base = match args.mapping.accept_proposed_map {
        true => proposal.to_vec(),
        false => Vec::new(),
    };
    let from_file = match &args.mapping.map_file {
        Some(f) => read_map_file(f)?,
        None => Vec::new(),
    };
    let base = overridden(base, from_file, proposal).map_err(|e| e.to_string())?;
    let flags = args
        .mapping
        .map
        .iter()
        .map(|m| parse_pair(m).map(|(f, t)| (None, f, t)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    overridden(base, flags, proposal).map_err(|e| e.to_string())
}

/// A map file's entries: JSON (a list of `{scope, from, to}`, or an object of `"from": "to"`) or TOML
/// (`"from" = "to"`).
pub(super) fn read_map_file(
    path: &std::path::Path,
) -> Result<Vec<(Option<String>, String, String)>, String> {
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
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the map file {shown}: {e}"))?;
    let file: File = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format!("the map file {shown}: {e}"))?
    } else {
        toml::from_str(&text).map_err(|e| format!("the map file {shown}: {e}"))?
    };
    Ok(match file {
        File::Entries(v) => v.into_iter().map(|e| (e.scope, e.from, e.to)).collect(),
        File::Pairs(m) => m.into_iter().map(|(f, t)| (None, f, t)).collect(),
    })
}

/// A backup of another tenant and no map: nothing is written. The proposal (typed by scope, from the
/// target's remembered naming or its defaults) is shown and reported, and the restore refused (exit 4).
pub(super) async fn another_tenant(
    args: &Args,
    out: &Output,
    state: &State,
    source: &Source,
    report: &mut Report,
) -> i32 {
    let target = state
        .registered(args.tenant())
        .await
        .unwrap_or_else(|_| crate::model::Tenant::new(args.tenant()));
    let proposal = crate::restore::map::propose(&source.tenant, &target);
    println!(
        "Proposed identifier map, from tenant `{}` to `{}`:\n{}",
        source.tenant.id,
        args.tenant(),
        map_lines(&proposal)
    );
    report.proposed_map = proposal;
    refuse(
        out,
        report,
        format!(
            "the backup is of tenant `{}`, not `{}`: restoring into another tenant needs an identifier map; nothing was written. Re-run with --accept-proposed-map to use the one proposed above, or give --map FROM=TO / --map-file FILE",
            source.tenant.id,
            args.tenant()
        ),
    )
}
