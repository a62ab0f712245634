//! Offline plan benchmark: generated tenants of 10,000 and 100,000 resources over the six domains,
//! planned by the `falconer` binary against an empty tenant (every resource a create) and against
//! themselves (every resource diffed, no change). Reports wall time and peak memory (the best of three
//! runs). Run with `cargo bench --bench plan` (or `-- 10000` for one size); figures go in
//! docs/performance.md.
//!
//! `cargo bench --bench plan -- engine [SIZES]` measures the apply engine alone instead: the plan of a
//! generated tenant against an empty one (every resource a create) split into steps and run through a
//! provider that records instead of applying (journal in a SQLite state store), at each size, so that its
//! cost per change can be compared across sizes.
//!
//! `FALCONER_BENCH_BINS="then=PATH,now=PATH"` times other builds of `falconer` side by side on the same
//! tenants, their runs interleaved (one run of each in turn, best of three each): `scripts/bench-plan-compare`
//! builds a past commit and today's and runs this.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Writes a tenant of about `n` resources, one TOML file per domain.
fn generate(n: usize, dir: &Path) -> usize {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench dir");
    let units = n / 10;
    let mut count = 0;
    let tenant = String::from(
        "[tenant]\nid = \"big\"\n[tenant.naming]\npostgres_schemas = [\"s0\", \"s1\", \"s2\", \"s3\"]\nmongo_databases = [\"big\"]\n\n",
    );
    let (mut iam, mut pg, mut mg, mut kf, mut fun, mut st) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    let (iam, pg, mg, kf, fun, st) = (&mut iam, &mut pg, &mut mg, &mut kf, &mut fun, &mut st);
    for s in 0..4 {
        let _ = writeln!(pg, "[[postgres.schema]]\nname = \"s{s}\"\n");
        count += 1;
    }
    for r in 0..100 {
        let _ = writeln!(
            iam,
            "[[iam.role]]\nname = \"base{r}\"\ndescription = \"base role {r}\"\n"
        );
        let _ = writeln!(
            fun,
            "[[functions.package]]\nname = \"p{r}\"\nparameter = [{{ key = \"REGION\", value = \"eu\" }}]\n"
        );
        count += 2;
    }
    for i in 0..units {
        let s = i % 4;
        let _ = writeln!(
            pg,
            "[[postgres.table]]\nname = \"t{i}\"\nschema = \"s{s}\"\nprimary_key = {{ columns = [\"id\"] }}\ncolumn = [{{ name = \"id\", type = \"bigint\", identity = \"always\" }}, {{ name = \"email\", type = \"text\", nullable = false }}, {{ name = \"created_at\", type = \"timestamp with time zone\", default = \"now()\" }}]\n\n\
             [[postgres.index]]\nname = \"t{i}_email\"\nschema = \"s{s}\"\ntable = \"t{i}\"\ncolumns = [\"email\"]\nunique = true\n\n\
             [[postgres.grant]]\ngrantee = \"app\"\nschema = \"s{s}\"\nobject = \"t{i}\"\nprivileges = [\"SELECT\", \"INSERT\"]\n"
        );
        let _ = writeln!(
            mg,
            "[[mongo.collection]]\nname = \"c{i}\"\ndatabase = \"big\"\nvalidator = {{ \"$jsonSchema\" = {{ bsonType = \"object\", required = [\"a\", \"b\"] }} }}\n\n\
             [[mongo.index]]\ndatabase = \"big\"\ncollection = \"c{i}\"\nkey = [{{ field = \"a\", order = 1 }}, {{ field = \"b\", order = -1 }}]\n"
        );
        let _ = writeln!(
            kf,
            "[[kafka.topic]]\nname = \"big.t{i}\"\npartitions = 3\nconfig = {{ \"retention.ms\" = \"604800000\" }}\n\n\
             [[kafka.acl]]\nresource_name = \"big.t{i}\"\nresource_type = \"topic\"\nprincipal = \"User:app\"\noperation = \"read\"\npermission = \"allow\"\n"
        );
        let _ = writeln!(
            fun,
            "[[functions.action]]\nname = \"a{i}\"\npackage = \"p{}\"\nkind = \"nodejs:20\"\ncode = \"function main(p) {{ return p; }}\"\nparameter = [{{ key = \"TOPIC\", value = \"big.t{i}\" }}]\n",
            i % 100
        );
        let _ = writeln!(
            st,
            "[[storage.bucket]]\nname = \"big-b{i}\"\nversioning = \"enabled\"\ntags = {{ unit = \"{i}\" }}\n"
        );
        let _ = writeln!(
            iam,
            "[[iam.role]]\nname = \"r{i}\"\ncomposites = {{ realm = [\"base{}\"] }}\n",
            i % 100
        );
        count += 10;
    }
    for (name, text) in [
        ("tenant", &tenant),
        ("iam", iam),
        ("postgres", pg),
        ("mongo", mg),
        ("kafka", kf),
        ("functions", fun),
        ("storage", st),
    ] {
        std::fs::write(dir.join(format!("{name}.toml")), text.as_str()).expect("write");
    }
    count
}

/// The builds to time: `FALCONER_BENCH_BINS` (`label=path,...`), or this one.
fn binaries() -> Vec<(String, String)> {
    match std::env::var("FALCONER_BENCH_BINS") {
        Ok(list) => list
            .split(',')
            .filter_map(|b| b.split_once('='))
            .map(|(l, p)| (l.to_string(), p.to_string()))
            .collect(),
        Err(_) => vec![("falconer".into(), env!("CARGO_BIN_EXE_falconer").into())],
    }
}

/// Runs a command with each binary `runs` times, in turn; for each, the best wall time (s) and the peak
/// resident memory (MiB) of that run.
fn measure(bins: &[(String, String)], args: &[&str], runs: usize) -> Vec<(f64, Option<f64>)> {
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut best = vec![(f64::MAX, None); bins.len()];
    for _ in 0..runs {
        for ((_, bin), best) in bins.iter().zip(best.iter_mut()) {
            let mut cmd = if gnu_time {
                let mut c = Command::new("/usr/bin/time");
                c.args(["-f", "%M"]).arg(bin);
                c
            } else {
                Command::new(bin)
            };
            cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
            let start = Instant::now();
            let out = cmd.output().expect("runs falconer");
            let secs = start.elapsed().as_secs_f64();
            assert!(
                out.status.success() || out.status.code() == Some(2),
                "{bin} {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            let rss = stderr
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<f64>().ok())
                .map(|kb| kb / 1024.0);
            if secs < best.0 {
                *best = (secs, rss);
            }
        }
    }
    best
}

/// A provider that records the changes it is given instead of applying them.
struct Recorder(falconer::model::Domain, std::sync::atomic::AtomicUsize);

impl falconer::domains::provider::Provider for Recorder {
    fn domain(&self) -> falconer::model::Domain {
        self.0
    }
    async fn live(
        &self,
        _: &falconer::model::Tenant,
        _: &[falconer::model::Address],
        _: &falconer::secrets::FingerprintKey,
    ) -> Result<Vec<falconer::plan::Item>, falconer::domains::provider::ProviderError> {
        Ok(Vec::new())
    }
    async fn apply(
        &self,
        changes: &[falconer::plan::Change],
        _: &[falconer::plan::Item],
        _: &[falconer::plan::Item],
        _: &std::collections::HashMap<falconer::model::Address, PathBuf>,
    ) -> Result<usize, falconer::domains::provider::ProviderError> {
        self.1
            .fetch_add(changes.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(changes.len())
    }
}

/// The engine alone at each size: seconds to split the plan into steps and to run them, per change.
fn engine(sizes: &[usize], root: &Path) {
    use falconer::model::Domain;
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    println!("| changes | steps | split (s) | run (s) | run per change (µs) |");
    println!("|---|---|---|---|---|");
    for &n in sizes {
        let dir = root.join(format!("tenant-{n}"));
        generate(n, &dir);
        let loaded = falconer::manifest::load_path(&dir, Default::default());
        let m = loaded.manifest.expect("the generated tenant loads");
        let key = falconer::secrets::FingerprintKey::from_env(&Default::default());
        let mut warnings = Vec::new();
        let desired: Vec<falconer::plan::Item> = m
            .resources
            .iter()
            .map(|r| falconer::plan::Item::new(r.spec.clone(), &dir, &key, &mut warnings))
            .collect();
        let plan =
            falconer::plan::make(&m.tenant, &desired, &[], &Default::default()).expect("plans");
        let t = Instant::now();
        let steps = falconer::engine::steps(&plan);
        let split = t.elapsed().as_secs_f64();
        let providers: Vec<Recorder> = Domain::ALL
            .iter()
            .map(|d| Recorder(*d, Default::default()))
            .collect();
        let state_url = format!("sqlite:{}", root.join(format!("engine-{n}.db")).display());
        let _ = std::fs::remove_file(root.join(format!("engine-{n}.db")));
        let (run, applied) = rt.block_on(async {
            let state = falconer::state::State::open(&state_url)
                .await
                .expect("state");
            let journal = falconer::engine::Journal {
                runs: state.runs(),
                locks: state.locks(),
                run: "bench",
                lock: None,
                cancel: None,
            };
            let t = Instant::now();
            let providers: Vec<_> = providers.iter().collect();
            let out = falconer::engine::run(
                &steps,
                &providers,
                &desired,
                &[],
                &Default::default(),
                &journal,
            )
            .await;
            (t.elapsed().as_secs_f64(), out.applied)
        });
        assert_eq!(
            applied,
            plan.changes.len(),
            "every change reached its provider"
        );
        let per = run / applied.max(1) as f64 * 1e6;
        println!(
            "| {applied} | {} | {split:.3} | {run:.3} | {per:.2} |",
            steps.len()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine_mode = args.iter().any(|a| a == "engine");
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plan-bench");
    if engine_mode {
        std::fs::create_dir_all(&root).expect("dir");
        return engine(&sizes, &root);
    }
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    std::fs::write(empty.join("tenant.toml"), "[tenant]\nid = \"big\"\n").expect("write");
    let bins = binaries();
    let labels: Vec<&str> = bins.iter().map(|(l, _)| l.as_str()).collect();
    println!(
        "| resources | against | {} |",
        labels
            .iter()
            .map(|l| format!("{l}: wall time (best of 3) | {l}: peak memory"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|---|".repeat(bins.len()));
    for n in sizes {
        let dir = root.join(format!("tenant-{n}"));
        let count = generate(n, &dir);
        let d = dir.to_str().expect("utf-8");
        for (label, against) in [
            ("empty tenant (all creates)", empty.to_str().expect("utf-8")),
            ("itself (all diffed, no change)", d),
        ] {
            let figures: Vec<String> = measure(
                &bins,
                &["plan", d, "--against", against, "--format", "json"],
                3,
            )
            .into_iter()
            .map(|(secs, rss)| {
                let mem = rss
                    .map(|m| format!("{m:.0} MiB"))
                    .unwrap_or_else(|| "n/a".into());
                format!("{secs:.3} s | {mem}")
            })
            .collect();
            println!("| {count} | {label} | {} |", figures.join(" | "));
        }
    }
}
