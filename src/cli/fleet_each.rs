//! `apply` and `backup create` over a fleet (docs/fleets.md): the tenants the paths name (for `apply`, also
//! a directory of saved plans, as `plan -o DIR` writes them), one after another, each as the single-tenant
//! command runs it (its own preflight and lock), its output printed whole under a heading, then a roll-up.
//! One tenant's failure never stops the others.

use std::path::{Path, PathBuf};

use super::apply::{self, Args};
use super::backup::CreateArgs;
use super::live::Settings;
use super::{Output, exit};
use crate::fleet::Member;

/// Runs the apply when the paths name a fleet: `Some(exit code)`; `None` for one tenant.
pub fn apply(args: &Args, out: &Output, settings: &Settings) -> Option<i32> {
    let members = match members(&args.paths) {
        Ok(m) => m?,
        Err(e) => return Some(failed(&e, out)),
    };
    Some(each("apply", "applied", &members, settings, |m, s| {
        let one = Args {
            paths: vec![m.path.clone()],
            ..args.clone()
        };
        apply::one(&one, out, s)
    }))
}

/// Runs `backup create` for each tenant of the fleet `--manifest` names (without `--tenant`):
/// `Some(exit code)`; `None` when it names one tenant.
pub fn backup(
    args: &CreateArgs,
    out: &Output,
    settings: &Settings,
    run: impl Fn(&CreateArgs, &Settings) -> i32,
) -> Option<i32> {
    let path = args.manifest.as_ref().filter(|_| args.tenant.is_none())?;
    let members = match crate::fleet::resolve(std::slice::from_ref(path)) {
        Ok(m) => m?,
        Err(e) => return Some(failed(&e.to_string(), out)),
    };
    Some(each(
        "backup create",
        "backed up",
        &members,
        settings,
        |m, s| {
            let loaded =
                crate::manifest::load_path(&m.path, crate::manifest::LoadOptions::default());
            let Some(manifest) = loaded.manifest else {
                out.error(format!(
                    "{0}: the manifest cannot be read (see `falconer validate {0}`)",
                    m.path.display()
                ));
                return exit::ERROR;
            };
            let one = CreateArgs {
                tenant: Some(manifest.tenant.id.clone()),
                manifest: Some(m.path.clone()),
                ..args.clone()
            };
            run(&one, s)
        },
    ))
}

/// The fleet could not be listed: exit 1.
fn failed(e: &str, out: &Output) -> i32 {
    out.error(e);
    exit::ERROR
}

/// Runs `one` for each member (with its group's profile), under a heading; the roll-up; the exit code.
fn each(
    verb: &str,
    done: &str,
    members: &[Member],
    settings: &Settings,
    mut one: impl FnMut(&Member, &Settings) -> i32,
) -> i32 {
    let mut outcomes = Vec::new();
    for m in members {
        println!("── {}", m.path.display());
        let group = m
            .profile
            .as_ref()
            .map(|p| Settings::new(settings.state.clone(), Some(p.clone())));
        let code = one(m, group.as_ref().unwrap_or(settings));
        outcomes.push((m.path.display().to_string(), code));
    }
    println!("{}", rollup(verb, done, &outcomes));
    exit_code(&outcomes)
}

/// The tenants: the saved plans of a directory of them, else the fleet the paths name.
fn members(paths: &[PathBuf]) -> Result<Option<Vec<Member>>, String> {
    if let [dir] = paths
        && let Some(plans) = saved_plans(dir)
    {
        return Ok(Some(plans));
    }
    crate::fleet::resolve(paths).map_err(|e| e.to_string())
}

/// The saved plans (`*.plan.json`) of a directory, sorted; `None` when it holds none.
fn saved_plans(dir: &Path) -> Option<Vec<Member>> {
    let mut plans: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".plan.json"))
        })
        .collect();
    plans.sort();
    (!plans.is_empty()).then(|| {
        plans
            .into_iter()
            .map(|path| Member {
                path,
                profile: None,
                group: None,
            })
            .collect()
    })
}

/// The roll-up: how many tenants were done, and which were not, with their exit codes.
fn rollup(verb: &str, done: &str, outcomes: &[(String, i32)]) -> String {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, c)| *c != exit::OK)
        .map(|(p, c)| format!("{p} (exit {c})"))
        .collect();
    let mut s = format!(
        "\nfalconer {verb}: {} tenants: {} {done} · {} not {done}\n",
        outcomes.len(),
        outcomes.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        s.push_str(&format!("  not {done}: {}\n", failed.join(", ")));
    }
    s
}

/// 0 when every tenant was applied; a code every tenant failed with when none was; else 5 (partly done).
fn exit_code(outcomes: &[(String, i32)]) -> i32 {
    let mut codes: Vec<i32> = outcomes.iter().map(|(_, c)| *c).collect();
    codes.sort_unstable();
    codes.dedup();
    match codes.as_slice() {
        [] => exit::OK,
        [one] => *one,
        _ => exit::PARTIAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(codes: &[i32]) -> Vec<(String, i32)> {
        codes.iter().map(|&c| ("t".to_string(), c)).collect()
    }

    #[test]
    fn the_exit_code_says_whether_all_some_or_none_were_applied() {
        assert_eq!(exit_code(&run(&[0, 0])), exit::OK);
        assert_eq!(exit_code(&run(&[0, exit::LOCKED])), exit::PARTIAL);
        assert_eq!(
            exit_code(&run(&[exit::REFUSED, exit::REFUSED])),
            exit::REFUSED
        );
        assert_eq!(
            exit_code(&run(&[exit::REFUSED, exit::ERROR])),
            exit::PARTIAL
        );
        assert!(
            rollup("apply", "applied", &run(&[0, exit::LOCKED]))
                .contains("1 applied · 1 not applied")
        );
    }

    #[test]
    fn a_directory_of_saved_plans_is_a_fleet() {
        let dir = std::env::temp_dir().join(format!("falconer-plans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        for f in ["b.plan.json", "a.plan.json", "notes.json"] {
            std::fs::write(dir.join(f), "{}").expect("writes");
        }
        let found = saved_plans(&dir).expect("plans");
        let names: Vec<_> = found
            .iter()
            .map(|m| m.path.file_name().unwrap_or_default())
            .collect();
        assert_eq!(names, ["a.plan.json", "b.plan.json"]);
        std::fs::remove_dir_all(&dir).expect("cleans up");
    }
}
