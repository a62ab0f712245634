//! `falconer graph PATH [--format text|dot]`

use std::path::PathBuf;

use super::{exit, output::Output};
use crate::graph::Graph;
use crate::manifest::LoadOptions;
use crate::ops::input;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A manifest file or directory, or a Falcone artifact.
    pub path: PathBuf,
    /// `text` (waves), or `dot` (Graphviz).
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

pub fn run(args: &Args, out: &Output) -> i32 {
    let input = input::read(&args.path, LoadOptions::default());
    out.issues(input.issues(), &input.sources());
    let Some(m) = input.manifest().filter(|_| !input.has_errors()) else {
        return exit::ERROR;
    };
    let specs: Vec<_> = m.resources.iter().map(|r| &r.spec).collect();
    let graph = Graph::build(&m.tenant, &specs);
    match args.format {
        GraphFormat::Dot => print!("{}", graph.to_dot()),
        GraphFormat::Text => match graph.to_text() {
            Ok(t) => print!("{t}"),
            Err(cycle) => {
                out.error(cycle.to_string());
                return exit::ERROR;
            }
        },
    }
    exit::OK
}
