//! `falconer plan PATH --against FILE` and `falconer diff A B` (offline: live state from a file).

use std::path::{Path, PathBuf};

use super::args::{FleetArgs, PlanFormat};
use super::show::print;
use super::{common::write_atomic, exit, output::Output};
use crate::manifest::LoadOptions;
use crate::ops::input::{self, Input};
use crate::ops::live;
use std::collections::HashSet;

use crate::manifest::snapshot;
use crate::model::{Address, Tenant};
use crate::plan::render;
use crate::plan::{self, Item, Options, Plan};
use crate::secrets::FingerprintKey;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The desired state: a manifest file or directory (or a Falcone artifact); for a fleet, several, a
    /// directory of tenants, globs or a fleet file (docs/fleets.md).
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Plan against this file instead of the live systems: an exported artifact, another manifest, or
    /// a snapshot.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
    /// Only these resources (glob patterns on addresses), with what they depend on.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Not these resources (glob patterns on addresses), nor what depends on them.
    #[arg(long, value_name = "ADDR")]
    pub exclude: Vec<String>,
    /// `text`, `markdown` (a pull-request comment) or `json`.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Save the plan (JSON, with digests of both inputs) for `apply PLANFILE`. For a fleet, a directory:
    /// each tenant's plan with changes is saved in it as TENANT.plan.json.
    #[arg(short, long, value_name = "PLANFILE")]
    pub output: Option<PathBuf>,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

impl Args {
    /// The one manifest of a single-tenant plan.
    fn path(&self) -> &Path {
        &self.paths[0]
    }
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The old side: a manifest (file or directory) or an artifact.
    pub a: PathBuf,
    /// The new side.
    pub b: PathBuf,
    /// `text`, `markdown` (a pull-request comment) or `json`.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// One side of a plan, loaded and sealed.
struct Side {
    tenant: Tenant,
    items: Vec<Item>,
    /// From a snapshot: the resources falconer manages.
    managed: Option<HashSet<Address>>,
}

/// `Some(side)` when `path` is a snapshot (`Some(None)`: a snapshot with errors, already reported).
fn load_snapshot(
    path: &Path,
    key: &FingerprintKey,
    warnings: &mut Vec<String>,
    out: &Output,
    diags: &mut String,
) -> Option<Option<Side>> {
    if path.extension().is_none_or(|e| e != "json") || !path.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    if !text.contains("\"falconer_snapshot\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if !snapshot::is_snapshot(&v) {
        return None;
    }
    let name = path.display().to_string();
    Some(match snapshot::read(&v, &name) {
        Ok(s) => Some(Side {
            items: s
                .manifest
                .resources
                .iter()
                .map(|r| Item::new(r.spec.clone(), Path::new(""), key, warnings))
                .collect(),
            tenant: s.manifest.tenant,
            managed: Some(s.managed),
        }),
        Err(issues) => {
            let issues: Vec<_> = issues
                .into_iter()
                .map(|mut i| {
                    i.message = format!("{name}: {}", i.message);
                    i
                })
                .collect();
            diags.push_str(&out.render(&issues, &Default::default()));
            None
        }
    })
}

/// Loads one side; its diagnostics go to `diags`, to be printed in order with the other side's.
fn load(
    path: &Path,
    key: &FingerprintKey,
    warnings: &mut Vec<String>,
    out: &Output,
    diags: &mut String,
) -> Option<Side> {
    if let Some(side) = load_snapshot(path, key, warnings, out, diags) {
        return side;
    }
    let input = input::read(path, LoadOptions::default());
    diags.push_str(&out.render(input.issues(), &input.sources()));
    let m = input.manifest().filter(|_| !input.has_errors())?;
    let base_of = |r: &crate::manifest::Resource| -> PathBuf {
        match (&input, r.span) {
            (Input::Manifest(l), Some(s)) => l
                .files
                .get(s.file as usize)
                .and_then(|p| p.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            _ => PathBuf::new(),
        }
    };
    let items = m
        .resources
        .iter()
        .map(|r| Item::new(r.spec.clone(), &base_of(r), key, warnings))
        .collect();
    Some(Side {
        tenant: m.tenant.clone(),
        items,
        managed: None,
    })
}

/// Loads both sides at once (they are independent), then prints their diagnostics in order.
fn load_both(
    a: &Path,
    b: &Path,
    key: &FingerprintKey,
    out: &Output,
) -> (Option<Side>, Option<Side>, Vec<String>) {
    let run = |p: &Path| {
        let (mut w, mut d) = (Vec::new(), String::new());
        let side = load(p, key, &mut w, out, &mut d);
        (side, w, d)
    };
    let ((sa, mut wa, da), (sb, wb, db)) = std::thread::scope(|scope| {
        let other = scope.spawn(|| run(b));
        let first = run(a);
        (
            first,
            other
                .join()
                .unwrap_or_else(|_| (None, Vec::new(), String::from("error: loading failed\n"))),
        )
    });
    eprint!("{da}{db}");
    wa.extend(wb);
    (sa, sb, wa)
}

fn plan_sides(
    desired: Side,
    live: Side,
    opts: &Options,
    mut warnings: Vec<String>,
    out: &Output,
) -> Option<Plan> {
    if live.tenant.id != desired.tenant.id {
        warnings.push(format!(
            "the live state is tenant `{}`, the manifest is tenant `{}`",
            live.tenant.id, desired.tenant.id
        ));
    }
    let result = plan::make(&desired.tenant, &desired.items, &live.items, opts);
    // Both sides are done with and the process exits soon: skip freeing them one resource at a time.
    std::mem::forget(desired);
    std::mem::forget(live);
    match result {
        Ok(mut p) => {
            warnings.append(&mut p.warnings);
            p.warnings = warnings;
            Some(p)
        }
        Err(e) => {
            out.error(e.to_string());
            None
        }
    }
}

pub fn run(args: &Args, out: &Output, settings: &live::Settings) -> i32 {
    let Some(against) = &args.against else {
        return run_live(args, out, settings);
    };
    if args.paths.len() > 1 || args.fleet.asked() {
        out.error("`--against` plans one tenant offline: give one manifest, without fleet options");
        return exit::ERROR;
    }
    let key = FingerprintKey::from_env(&settings.env);
    let (desired, live, warnings) = load_both(args.path(), against, &key, out);
    let (Some(desired), Some(live)) = (desired, live) else {
        return exit::ERROR;
    };
    let opts = Options {
        targets: args.target.clone(),
        excludes: args.exclude.clone(),
        // A snapshot says which live resources falconer manages; against a manifest or an artifact,
        // every live resource in the tenant's scope counts as managed.
        managed: live.managed.clone(),
        in_fleet: false,
    };
    let Some(mut plan) = plan_sides(desired, live, &opts, warnings, out) else {
        return exit::ERROR;
    };
    plan.inputs = Some(inputs(args));
    finish(args, out, plan)
}

/// What the plan was made from, recorded in it for `apply PLANFILE`.
fn inputs(args: &Args) -> plan::Inputs {
    plan::Inputs {
        manifest: args.path().display().to_string(),
        against: args.against.as_ref().map(|p| p.display().to_string()),
        targets: args.target.clone(),
        excludes: args.exclude.clone(),
    }
}

/// Plans against the live systems.
fn run_live(args: &Args, out: &Output, settings: &live::Settings) -> i32 {
    let job = super::fleet::Job {
        verb: crate::ops::fleet::Verb::Plan {
            changes_fail: args.detailed_exitcode,
        },
        fleet: &args.fleet,
        format: args.format,
        targets: args.target.clone(),
        excludes: args.exclude.clone(),
        save: args.output.clone(),
    };
    if let Some(code) = super::fleet::maybe(&job, &args.paths, out, settings) {
        return code;
    }
    let opts = Options {
        targets: args.target.clone(),
        excludes: args.exclude.clone(),
        managed: None,
        in_fleet: false,
    };
    match super::common::live_plan(args.path(), opts, out, settings) {
        Some(mut plan) => {
            plan.inputs = Some(inputs(args));
            finish(args, out, plan)
        }
        None => exit::ERROR,
    }
}

/// Prints the plan, saves it when asked, and returns the exit code.
fn finish(args: &Args, out: &Output, plan: Plan) -> i32 {
    print(&plan, args.format);
    if let Some(p) = &args.output
        && let Err(e) = write_atomic(p, &render::json(&plan))
    {
        out.error(format!("cannot write {}: {e}", p.display()));
        return exit::ERROR;
    }
    let code = if args.detailed_exitcode && plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    };
    // The process exits next: freeing a large plan piece by piece would only delay that.
    std::mem::forget(plan);
    code
}

pub fn run_diff(args: &DiffArgs, out: &Output, settings: &live::Settings) -> i32 {
    let key = FingerprintKey::from_env(&settings.env);
    let (old, new, warnings) = load_both(&args.a, &args.b, &key, out);
    let (Some(old), Some(new)) = (old, new) else {
        return exit::ERROR;
    };
    let Some(plan) = plan_sides(new, old, &Options::default(), warnings, out) else {
        return exit::ERROR;
    };
    print(&plan, args.format);
    if plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    }
}
