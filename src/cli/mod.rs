//! The command line: one file per command. `main.rs` only calls [`main`].

mod admin;
mod apply;
mod args;
mod backup;
mod common;
mod convert;
mod doctor;
mod exit;
mod export;
mod fleet;
mod fleet_each;
mod graph;
mod migrate;
mod output;
mod plan;
mod progress;
mod report;
mod restore;
mod restore_status;
mod serve;
mod show;
mod tenant;
mod terminal;
mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use output::{ColorWhen, MessageFormat, STDOUT_COLOR};
pub use output::{Output, issue_json};

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

#[derive(Parser, Debug)]
#[command(name = "falconer", version, about = "Declarative reconciler for multi-tenant platform configuration", long_about = None)]
pub struct Cli {
    /// State store URL (sqlite:PATH or postgres://...).
    #[arg(
        long,
        global = true,
        env = "FALCONER_STATE",
        default_value = "sqlite:.falconer/state.db",
        help_heading = GLOBAL
    )]
    pub state: String,
    /// Connection profile: where the systems are and how to sign in (docs/connections.md); without one,
    /// the FALCONER_* environment variables.
    #[arg(long, global = true, env = "FALCONER_PROFILE", help_heading = GLOBAL)]
    pub profile: Option<PathBuf>,
    /// More output (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Colours: `auto` (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces them), `always`,
    /// `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, help_heading = GLOBAL)]
    pub color: ColorWhen,
    /// No colours (the same as `--color never`).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_color: bool,
    /// How problems are reported: `human` (with source snippets), `short` (one line each), `json`.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human, help_heading = GLOBAL)]
    pub message_format: MessageFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse and check manifests (files or directories) and Falcone artifacts.
    Validate(validate::Args),
    /// Convert an artifact or a manifest into a manifest in TOML, KDL or JSON.
    Convert(convert::Args),
    /// Upgrade an artifact or a manifest to the current format version.
    Migrate(migrate::Args),
    /// Print the dependency graph (text or DOT).
    Graph(graph::Args),
    /// Read a tenant's live configuration into a manifest (every system whose connection is given).
    Export(export::Args),
    /// Plan the desired state against the live systems (or, offline, against a file with `--against`).
    Plan(plan::Args),
    /// Plan, preflight, then apply the changes (a manifest, or a plan saved with `plan -o`).
    Apply(apply::Args),
    /// Report drift between the manifest and the live systems (exit 2 when they differ).
    Drift(admin::DriftArgs),
    /// Show or break tenant locks.
    #[command(subcommand)]
    Lock(admin::LockCommand),
    /// Show what the state store records.
    #[command(subcommand)]
    State(admin::StateCommand),
    /// Compare two manifests or artifacts, offline (exit 2 when they differ).
    Diff(plan::DiffArgs),
    /// Back up tenants into a repository; list, show, verify and delete backups.
    #[command(subcommand)]
    Backup(backup::Command),
    /// Restore a backup (or an artifact) into the live systems: preflight, conflicts, then apply.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Restore(restore::Args),
    /// The tenant registry: each tenant's status (a suspended tenant is never written to), environment and
    /// naming.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Fleet reports: `merge` joins the reports of a run's shards into one report, Markdown comment and
    /// JUnit file.
    #[command(subcommand)]
    Report(report::Command),
    /// Every apply and restore: who, where, when, from what, with what outcome.
    History(tenant::HistoryArgs),
    /// Check a profile before a run needs it: each configured system (version, TLS, who falconer is
    /// signed in as, the privileges it lacks), the state store, the backup repository and key; exit 1
    /// naming each problem.
    Doctor(doctor::Args),
    /// Run the agent: the fleet's drift checked at an interval and the backup schedules run when due,
    /// with metrics, health and a read-only JSON API over HTTP (docs/agent.md).
    Serve(serve::Args),
    /// Print a completion script for a shell (`source <(falconer completions bash)`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print falconer's manual page (roff: `falconer man > falconer.1; man ./falconer.1`), generated from
    /// the command line's definition.
    Man,
}

/// `falconer completions SHELL` and `falconer man`: generated from the command line's definition (into
/// memory first: a reader that stops early, `| head`, is no error).
fn generated(command: &Command) -> i32 {
    use clap::CommandFactory;
    use std::io::Write;
    let mut text = Vec::new();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "falconer", &mut text);
        }
        _ => {
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut text) {
                eprintln!("error: cannot render the manual page: {e}");
                return exit::ERROR;
            }
        }
    }
    match std::io::stdout().write_all(&text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to standard output: {e}");
            exit::ERROR
        }
        _ => exit::OK,
    }
}

/// Runs the command line; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::ERROR,
            };
            let _ = e.print();
            return code;
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let when = if cli.no_color {
        ColorWhen::Never
    } else {
        cli.color
    };
    let color = when.colors(terminal);
    let _ = STDOUT_COLOR.set(when.colors(std::io::stdout().is_terminal()));
    let _ = miette::set_hook(Box::new(move |_| {
        // Off a terminal (CI logs), lines are never wrapped: paths and names stay whole for grep.
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .wrap_lines(terminal)
                .build(),
        )
    }));
    init_logging(cli.verbose, color);
    tracing::debug!(command = ?cli.command, "falconer {}", env!("CARGO_PKG_VERSION"));
    let out = Output {
        format: cli.message_format,
    };
    let settings = crate::ops::live::Settings::new(cli.state.clone(), cli.profile.clone())
        .with_timeouts(common::timeouts_from_env())
        .with_env(crate::setup::Env::from_pairs(std::env::vars()));
    match &cli.command {
        Command::Validate(a) => validate::run(a, &out, &settings),
        Command::Convert(a) => convert::run(a, &out),
        Command::Migrate(a) => migrate::run(a, &out),
        Command::Graph(a) => graph::run(a, &out),
        Command::Export(a) => export::run(a, &out, &settings),
        Command::Plan(a) => plan::run(a, &out, &settings),
        Command::Apply(a) => {
            apply::fleet(a, &out, &settings).unwrap_or_else(|| apply::one(a, &out, &settings))
        }
        Command::Drift(a) => admin::drift(a, &out, &settings),
        Command::Lock(c) => admin::lock(c, &out, &cli.state),
        Command::State(c) => admin::state(c, &out, &cli.state),
        Command::Diff(a) => plan::run_diff(a, &out, &settings),
        Command::Backup(c) => backup::run(c, &out, &settings),
        Command::Restore(a) => restore::run(a, &out, &settings),
        Command::Tenant(c) => tenant::tenant(c, &out, &settings),
        Command::Report(c) => report::run(c, &out),
        Command::History(a) => tenant::history(a, &out, &cli.state),
        Command::Doctor(a) => doctor::run(a, &out, &settings),
        Command::Serve(a) => serve::run(a, &out, &settings),
        Command::Completions { .. } | Command::Man => generated(&cli.command),
    }
}

/// Logs to stderr: warnings by default, more with each `-v` (`RUST_LOG` overrides).
fn init_logging(verbose: u8, color: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("falconer={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .event_format(Plain)
        .try_init();
}

/// Log lines as falconer's other messages are: `warning: ...`, `info: ...`, no time or module.
struct Plain;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Plain
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut w: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(w, "{level}: ")?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}
