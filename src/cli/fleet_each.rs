//! What `apply` and `backup create` over a fleet share (docs/fleets.md): the tenants the paths name (for
//! `apply`, also a directory of saved plans, as `plan -o DIR` writes them), each as the single-tenant
//! command runs it (its own preflight and lock), its output printed whole under a heading, then a roll-up.
//! One tenant's failure never stops the others.
//!
//! `--parallelism N` tenants at once, each by a falconer process of its own (this binary, the command line
//! given with the fleet replaced by the tenant): its output is captured and printed whole when it ends,
//! and the connections to each system are bounded by N processes' pools, whatever the fleet's size. An
//! apply that asks for confirmation (no `--auto-approve`) runs one tenant after another in this process.

use crate::ops::Error;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{exit, output::Output};
use crate::fleet::Member;
use crate::ops::live::Settings;

/// The fleet could not be listed: exit 1.
pub fn failed(e: &str, out: &Output) -> i32 {
    out.error(e);
    exit::ERROR
}

/// The tenant id a manifest declares, or why it cannot be read.
pub fn tenant_of(path: &Path) -> Result<String, Error> {
    let loaded = crate::manifest::load_path(path, crate::manifest::LoadOptions::default());
    loaded.manifest.map(|m| m.tenant.id).ok_or_else(|| {
        Error::Other(format!(
            "{0}: the manifest cannot be read (see `falconer validate {0}`)",
            path.display()
        ))
    })
}

/// The members of this job's share: by tenant id (a saved plan's from its name, `TENANT.plan.json`; a
/// manifest that cannot be read by its path, which then fails in one job only).
pub fn share(members: Vec<Member>, shard: crate::fleet::Shard) -> Vec<Member> {
    let id = |m: &Member| {
        let name = m.path.file_name().map(|n| n.to_string_lossy().to_string());
        match name.as_deref().and_then(|n| n.strip_suffix(".plan.json")) {
            Some(tenant) => tenant.to_string(),
            None => tenant_of(&m.path).unwrap_or_else(|_| m.path.display().to_string()),
        }
    };
    members.into_iter().filter(|m| shard.owns(&id(m))).collect()
}

/// This process's command line for one tenant: without the arguments equal to `fleet` (the paths that
/// named the fleet), `--parallelism`, `--profile` (each member gets its own) and the options of `options`
/// (with their values), then `given`.
pub fn command_line(fleet: &[OsString], options: &[&str], given: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let s = a.to_string_lossy();
        let name = s.split('=').next().unwrap_or_default();
        let dropped =
            ["--parallelism", "--profile", "--shard"].contains(&name) || options.contains(&name);
        if dropped {
            if !s.contains('=') {
                args.next();
            }
            continue;
        }
        if !fleet.contains(&a) {
            out.push(a);
        }
    }
    out.extend(given.iter().cloned());
    out
}

/// Runs each member by a falconer process of its own, at most `parallelism` at once (`argv` gives its
/// command line, or why there is none); each one's output is printed whole, under its heading, when it
/// ends. The members' outcomes, in their order.
pub fn in_processes(
    members: &[Member],
    parallelism: usize,
    settings: &Settings,
    argv: impl Fn(&Member) -> Result<Vec<OsString>, Error> + Sync,
) -> Vec<(String, i32)> {
    let next = AtomicUsize::new(0);
    let codes: Mutex<Vec<i32>> = Mutex::new(vec![exit::ERROR; members.len()]);
    let printing = Mutex::new(());
    let work = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(m) = members.get(i) else {
            break;
        };
        let (code, stdout, stderr) = match argv(m) {
            Ok(a) => run_process(&a, m, settings),
            Err(e) => (
                exit::ERROR,
                Vec::new(),
                format!("error: {e}\n").into_bytes(),
            ),
        };
        // One block at a time, whole.
        let _printing = printing.lock();
        println!("── {}", m.path.display());
        let _ = std::io::stdout().write_all(&stdout);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().write_all(&stderr);
        if let Ok(mut codes) = codes.lock() {
            codes[i] = code;
        }
    };
    std::thread::scope(|s| {
        for _ in 0..parallelism.clamp(1, members.len().max(1)) {
            s.spawn(work);
        }
    });
    let codes = codes.into_inner().unwrap_or_default();
    members
        .iter()
        .zip(codes)
        .map(|(m, c)| (m.path.display().to_string(), c))
        .collect()
}

/// One member's process: its exit code (a process that did not exit, killed: 1) and output.
fn run_process(argv: &[OsString], m: &Member, settings: &Settings) -> (i32, Vec<u8>, Vec<u8>) {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return (
                exit::ERROR,
                Vec::new(),
                format!("error: {e}\n").into_bytes(),
            );
        }
    };
    let mut c = std::process::Command::new(exe);
    c.args(argv)
        .env("FALCONER_STATE", &settings.state)
        .stdin(std::process::Stdio::null());
    match m.profile.as_ref().or(settings.profile.as_ref()) {
        Some(p) => c.env("FALCONER_PROFILE", p),
        None => c.env_remove("FALCONER_PROFILE"),
    };
    match c.output() {
        Ok(o) => (o.status.code().unwrap_or(exit::ERROR), o.stdout, o.stderr),
        Err(e) => (
            exit::ERROR,
            Vec::new(),
            format!("error: cannot start falconer: {e}\n").into_bytes(),
        ),
    }
}

/// Prints the roll-up; the exit code.
pub fn finish(verb: &str, done: &str, outcomes: &[(String, i32)]) -> i32 {
    println!("{}", rollup(verb, done, outcomes));
    exit_code(outcomes)
}

/// Runs `one` for each member (with its group's profile), under a heading; the roll-up; the exit code.
pub fn each(
    verb: &str,
    done: &str,
    members: &[Member],
    settings: &Settings,
    mut one: impl FnMut(&Member, &Settings) -> i32,
) -> i32 {
    let mut outcomes = Vec::new();
    for m in members {
        println!("── {}", m.path.display());
        let group = m.profile.as_ref().map(|p| settings.for_profile(p.clone()));
        let code = one(m, group.as_ref().unwrap_or(settings));
        outcomes.push((m.path.display().to_string(), code));
    }
    finish(verb, done, &outcomes)
}

/// The tenants: the saved plans of a directory of them, else the fleet the paths name.
pub fn members(paths: &[PathBuf]) -> Result<Option<Vec<Member>>, crate::fleet::FleetError> {
    if let [dir] = paths
        && let Some(plans) = saved_plans(dir)
    {
        return Ok(Some(plans));
    }
    crate::fleet::resolve(paths)
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
    let mut s = format!("\nfalconer {verb}: {} tenant(s)\n", outcomes.len());
    let rows = [
        (
            done.to_string(),
            outcomes.len() - failed.len(),
            String::new(),
        ),
        (format!("not {done}"), failed.len(), failed.join(", ")),
    ];
    for (words, n, names) in rows.iter().filter(|(_, n, _)| *n > 0) {
        let row = format!("  {words:<16} {n:>5}  {names}");
        s.push_str(row.trim_end());
        s.push('\n');
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
        let r = rollup("apply", "applied", &run(&[0, exit::LOCKED]));
        assert!(
            r.contains("  applied              1\n  not applied          1  t (exit 3)\n"),
            "{r}"
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
