//! Fleets: many tenants in one run (docs/fleets.md). Which tenants a command covers (a directory of tenant
//! manifests, globs, or a fleet file), a stable share of them for one of several CI jobs (`--shard K/N`),
//! and what a run reports ([`report`]: the roll-up, JSON Lines events, the report document; [`markdown`];
//! [`junit`]). Names no domain.

pub mod junit;
pub mod markdown;
pub mod report;

use std::path::{Path, PathBuf};

use sha2::Digest;

/// The name of a fleet file inside a fleet directory.
pub const FLEET_FILE: &str = "fleet.toml";

/// The extensions of manifest files.
const MANIFEST_EXTENSIONS: &[&str] = &["toml", "kdl", "json"];

/// One tenant of a fleet: where its manifest is, and the connection profile of its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The manifest: a file or a directory.
    pub path: PathBuf,
    /// The group's connection profile (a fleet file's `profile`), else the command's.
    pub profile: Option<PathBuf>,
    /// The group's name, when a fleet file names it.
    pub group: Option<String>,
}

/// Why the tenants of a fleet could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    File { path: PathBuf, error: String },
    #[error("the pattern `{0}` matches no tenant manifest")]
    NoMatch(String),
    #[error("the pattern `{pattern}` is not a valid glob: {error}")]
    Pattern { pattern: String, error: String },
    #[error(
        "`--shard {0}` is not a share: give K/N with 1 <= K <= N (the third of four jobs: --shard 3/4)"
    )]
    Shard(String),
    #[error("`--shard auto`: {0}")]
    ShardAuto(String),
}

/// A CI runner or scheduler whose parallel jobs `--shard auto` reads: the variables of a job's index and
/// of the number of jobs, and whether the index counts from 0.
#[derive(Debug, Clone, Copy)]
pub struct Runner {
    pub name: &'static str,
    pub index: &'static str,
    pub total: &'static str,
    pub from_zero: bool,
}

/// The runners `--shard auto` knows, in the order it looks for them (docs/fleets.md).
pub const RUNNERS: [Runner; 5] = [
    Runner {
        name: "a Kubernetes Indexed Job",
        index: "JOB_COMPLETION_INDEX",
        total: "JOB_COMPLETIONS",
        from_zero: true,
    },
    Runner {
        name: "GitLab CI (parallel)",
        index: "CI_NODE_INDEX",
        total: "CI_NODE_TOTAL",
        from_zero: false,
    },
    Runner {
        name: "CircleCI (parallelism)",
        index: "CIRCLE_NODE_INDEX",
        total: "CIRCLE_NODE_TOTAL",
        from_zero: true,
    },
    Runner {
        name: "Buildkite (parallelism)",
        index: "BUILDKITE_PARALLEL_JOB",
        total: "BUILDKITE_PARALLEL_JOB_COUNT",
        from_zero: true,
    },
    Runner {
        name: "falconer's own variables",
        index: "FALCONER_SHARD_INDEX",
        total: "FALCONER_SHARD_COUNT",
        from_zero: false,
    },
];

/// A fleet file: groups of tenants, each with an optional connection profile.
///
/// ```toml
/// [[group]]
/// name = "eu"
/// profile = "profiles/eu.toml"          # relative to the fleet file
/// tenants = ["tenants/eu-*", "extra/acme.toml"]
/// ```
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    #[serde(default)]
    group: Vec<Group>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    name: Option<String>,
    profile: Option<PathBuf>,
    /// Manifest paths or globs, relative to the fleet file.
    tenants: Vec<String>,
}

impl Member {
    /// A tenant of no group: its manifest, the command's profile.
    pub fn of(path: PathBuf) -> Member {
        Member {
            path,
            profile: None,
            group: None,
        }
    }
}

/// Every tenant the paths name: a fleet's, or the one tenant a manifest (or its directory) is.
pub fn members_of(paths: &[PathBuf]) -> Result<Vec<Member>, FleetError> {
    match resolve(paths)? {
        Some(members) => Ok(members),
        None => Ok(paths.iter().take(1).cloned().map(Member::of).collect()),
    }
}

/// The tenants the command's paths name, or `None` when they name one tenant (a manifest file or a
/// directory of one tenant's files): several paths, a glob, a fleet file, a directory holding a fleet file,
/// or a directory of tenants (one per subdirectory, or one per file when each file has its own tenant block).
pub fn resolve(paths: &[PathBuf]) -> Result<Option<Vec<Member>>, FleetError> {
    if let [one] = paths
        && !is_glob(one)
        && !is_fleet_file(one)
    {
        return match tenants_in_dir(one)? {
            Some(members) => Ok(Some(members)),
            None => Ok(None),
        };
    }
    let mut members = Vec::new();
    for p in paths {
        members.extend(expand(p, None, None)?);
    }
    dedup(&mut members);
    Ok(Some(members))
}

/// The members one command-line path or fleet-file entry names.
fn expand(
    p: &Path,
    profile: Option<&Path>,
    group: Option<&str>,
) -> Result<Vec<Member>, FleetError> {
    let member = |path: PathBuf| Member {
        path,
        profile: profile.map(Path::to_path_buf),
        group: group.map(str::to_string),
    };
    if is_fleet_file(p) {
        return read_fleet_file(&fleet_file_of(p));
    }
    if is_glob(p) {
        let pattern = p.to_string_lossy().to_string();
        let mut found: Vec<PathBuf> = glob::glob(&pattern)
            .map_err(|e| FleetError::Pattern {
                pattern: pattern.clone(),
                error: e.to_string(),
            })?
            .filter_map(Result::ok)
            .filter(|m| is_manifest(m))
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(FleetError::NoMatch(pattern));
        }
        return Ok(found.into_iter().map(member).collect());
    }
    match tenants_in_dir(p)? {
        Some(inner) => Ok(inner
            .into_iter()
            .map(|m| Member {
                profile: m.profile.or(profile.map(Path::to_path_buf)),
                group: m.group.or(group.map(str::to_string)),
                ..m
            })
            .collect()),
        None => Ok(vec![member(p.to_path_buf())]),
    }
}

fn is_glob(p: &Path) -> bool {
    let s = p.to_string_lossy();
    !p.exists() && s.contains(['*', '?', '['])
}

fn is_fleet_file(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == FLEET_FILE) || p.join(FLEET_FILE).is_file()
}

fn fleet_file_of(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join(FLEET_FILE)
    } else {
        p.to_path_buf()
    }
}

/// A manifest: a file with a manifest's extension, or a directory holding one.
fn is_manifest(p: &Path) -> bool {
    if p.is_dir() {
        return std::fs::read_dir(p).is_ok_and(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.path().is_file() && has_manifest_extension(&e.path()))
        });
    }
    p.is_file() && has_manifest_extension(p)
}

fn has_manifest_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e))
        && p.file_name().is_none_or(|n| n != FLEET_FILE)
}

/// The tenants of a directory of tenants, or `None` when `dir` is one tenant (or not a directory): a
/// directory without manifest files of its own whose subdirectories hold manifests is one tenant per
/// subdirectory; a directory whose files each declare a tenant block (two or more) is one tenant per file.
fn tenants_in_dir(dir: &Path) -> Result<Option<Vec<Member>>, FleetError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let io = |error| FleetError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let files: Vec<&PathBuf> = entries
        .iter()
        .filter(|p| p.is_file() && has_manifest_extension(p))
        .collect();
    let member = |path: &PathBuf| Member {
        path: path.clone(),
        profile: None,
        group: None,
    };
    if files.is_empty() {
        let subdirs: Vec<Member> = entries
            .iter()
            .filter(|p| p.is_dir() && is_manifest(p))
            .map(member)
            .collect();
        return Ok((!subdirs.is_empty()).then_some(subdirs));
    }
    let with_tenant = files.iter().filter(|f| declares_tenant(f)).count();
    if with_tenant >= 2 && with_tenant == files.len() {
        return Ok(Some(files.into_iter().map(member).collect()));
    }
    Ok(None)
}

/// Whether a manifest file declares a tenant block (read as a manifest of its own).
fn declares_tenant(file: &Path) -> bool {
    let loaded = crate::manifest::load_path(file, crate::manifest::LoadOptions::default());
    loaded.manifest.is_some() || !loaded.issues.iter().any(|i| i.code == "no-tenant")
}

/// Reads a fleet file: its groups' tenants, paths relative to the file.
fn read_fleet_file(path: &Path) -> Result<Vec<Member>, FleetError> {
    let text = std::fs::read_to_string(path).map_err(|error| FleetError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let file: FleetFile = toml::from_str(&text).map_err(|e| FleetError::File {
        path: path.to_path_buf(),
        error: e.to_string(),
    })?;
    if file.group.is_empty() {
        return Err(FleetError::File {
            path: path.to_path_buf(),
            error: "no [[group]] of tenants: give at least one, with `tenants = [\"PATH or GLOB\", ...]`".into(),
        });
    }
    let base = path.parent().unwrap_or(Path::new(""));
    let mut members = Vec::new();
    for g in &file.group {
        let profile = g.profile.as_ref().map(|p| base.join(p));
        for t in &g.tenants {
            let p = base.join(t);
            if is_fleet_file(&p) {
                return Err(FleetError::File {
                    path: path.to_path_buf(),
                    error: format!("`{t}` is a fleet file itself: a group lists tenant manifests"),
                });
            }
            members.extend(expand(&p, profile.as_deref(), g.name.as_deref())?);
        }
    }
    Ok(members)
}

/// Keeps the first of members naming the same manifest.
fn dedup(members: &mut Vec<Member>) {
    let mut seen = std::collections::HashSet::new();
    members.retain(|m| seen.insert(m.path.clone()));
}

/// A stable share of a fleet: tenant ids are spread over `n` shards by a hash of the id, so `n` jobs given
/// `1/n` … `n/n` cover every tenant exactly once with no coordination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub k: u64,
    pub n: u64,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, FleetError> {
        let bad = || FleetError::Shard(text.to_string());
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// This job's share as the runner it runs in numbers its jobs (`var` reads the environment): the
    /// first runner whose index variable is set; its count must be set too.
    pub fn auto(var: impl Fn(&str) -> Option<String>) -> Result<(Shard, &'static str), FleetError> {
        let Some((r, index)) = RUNNERS.iter().find_map(|r| Some((r, var(r.index)?))) else {
            let names: Vec<String> = RUNNERS
                .iter()
                .map(|r| format!("{} ({})", r.index, r.name))
                .collect();
            return Err(FleetError::ShardAuto(format!(
                "no job index in the environment: set one of {}, or give --shard K/N",
                names.join(", ")
            )));
        };
        let wrong = |why: String| FleetError::ShardAuto(format!("{} ({}): {why}", r.index, r.name));
        let index: u64 = index
            .trim()
            .parse()
            .map_err(|_| wrong(format!("{index:?} is not a number")))?;
        let total = var(r.total)
            .ok_or_else(|| wrong(format!("{} (the number of jobs) is not set", r.total)))?;
        let n: u64 = total
            .trim()
            .parse()
            .map_err(|_| wrong(format!("{} = {total:?} is not a number", r.total)))?;
        let k = if r.from_zero {
            index.checked_add(1)
        } else {
            Some(index)
        };
        match k.filter(|k| (1..=n).contains(k)) {
            Some(k) => Ok((Shard { k, n }, r.name)),
            None => Err(wrong(format!(
                "index {index} does not fit {n} jobs (counted from {})",
                if r.from_zero { 0 } else { 1 }
            ))),
        }
    }

    /// Whether this share holds the tenant.
    pub fn owns(&self, tenant: &str) -> bool {
        let d = sha2::Sha256::digest(tenant.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        u64::from_be_bytes(first) % self.n == self.k - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shard_auto_reads_each_runner_as_it_numbers_its_jobs() {
        use super::{RUNNERS, Shard};
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let share = |pairs| Shard::auto(env(pairs)).map(|(s, _)| s.to_string());
        // Kubernetes, CircleCI and Buildkite count from 0; GitLab and falconer's own from 1.
        assert_eq!(
            share(&[("JOB_COMPLETION_INDEX", "0"), ("JOB_COMPLETIONS", "4")]).ok(),
            Some("1/4".into())
        );
        assert_eq!(
            share(&[("JOB_COMPLETION_INDEX", "3"), ("JOB_COMPLETIONS", "4")]).ok(),
            Some("4/4".into())
        );
        assert_eq!(
            share(&[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "3")]).ok(),
            Some("1/3".into())
        );
        assert_eq!(
            share(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "3")]).ok(),
            Some("3/3".into())
        );
        assert_eq!(
            share(&[("CIRCLE_NODE_INDEX", "2"), ("CIRCLE_NODE_TOTAL", "5")]).ok(),
            Some("3/5".into())
        );
        assert_eq!(
            share(&[
                ("BUILDKITE_PARALLEL_JOB", "0"),
                ("BUILDKITE_PARALLEL_JOB_COUNT", "2")
            ])
            .ok(),
            Some("1/2".into())
        );
        assert_eq!(
            share(&[("FALCONER_SHARD_INDEX", "2"), ("FALCONER_SHARD_COUNT", "2")]).ok(),
            Some("2/2".into())
        );
        // Wrong or missing values are errors that name the variable.
        for (pairs, says) in [
            (&[][..], "no job index"),
            (
                &[("JOB_COMPLETION_INDEX", "4"), ("JOB_COMPLETIONS", "4")][..],
                "does not fit",
            ),
            (
                &[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "3")][..],
                "does not fit",
            ),
            (&[("CI_NODE_INDEX", "1")][..], "CI_NODE_TOTAL"),
            (
                &[("CIRCLE_NODE_INDEX", "x"), ("CIRCLE_NODE_TOTAL", "2")][..],
                "not a number",
            ),
        ] {
            let e = Shard::auto(|k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            });
            assert!(
                e.as_ref().is_err_and(|e| e.to_string().contains(says)),
                "{pairs:?}: {e:?}"
            );
        }
        // Every runner's index and count are read together.
        for r in RUNNERS {
            let pairs = [
                (r.index, if r.from_zero { "0" } else { "1" }),
                (r.total, "1"),
            ];
            let found = Shard::auto(|k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            });
            assert_eq!(
                found.map(|(s, name)| (s.to_string(), name)).ok(),
                Some(("1/1".into(), r.name))
            );
        }
    }

    use super::*;

    #[test]
    fn shards_cover_every_tenant_exactly_once() {
        let ids: Vec<String> = (0..500).map(|i| format!("tenant-{i}")).collect();
        let shards: Vec<Shard> = (1..=4).map(|k| Shard { k, n: 4 }).collect();
        for id in &ids {
            assert_eq!(shards.iter().filter(|s| s.owns(id)).count(), 1, "{id}");
        }
        // Every share gets some of 500 tenants.
        for s in &shards {
            let n = ids.iter().filter(|id| s.owns(id)).count();
            assert!((60..=190).contains(&n), "{s}: {n}");
        }
    }

    #[test]
    fn shard_parse_refuses_nonsense() {
        assert_eq!(Shard::parse("3/4").unwrap(), Shard { k: 3, n: 4 });
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
