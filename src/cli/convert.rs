//! `falconer convert INPUT --to toml|kdl|json [-o OUT]`

use std::path::PathBuf;

use super::{common::emit_manifest, exit, output::Output};
use crate::manifest::{Format, LoadOptions};
use crate::ops::input;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A Falcone artifact (.json), or a manifest file or directory.
    pub input: PathBuf,
    /// Output format (default: from the output file's extension, else TOML).
    #[arg(long, value_enum)]
    pub to: Option<Format>,
    /// Output file (default: standard output). Written only when the input has no errors. Code files the
    /// input names are carried inside the output (their text inlined); a file that is not text refuses the
    /// conversion.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: &Args, out: &Output) -> i32 {
    let format = args
        .to
        .or_else(|| args.output.as_deref().and_then(Format::from_path))
        .unwrap_or(Format::Toml);
    let input = input::read(&args.input, LoadOptions::default());
    out.issues(input.issues(), &input.sources());
    let manifest = match input.manifest() {
        Some(m) if !input.has_errors() => m,
        _ => {
            out.error(format!(
                "{}: not converted because of the errors above",
                args.input.display()
            ));
            return exit::ERROR;
        }
    };
    // The files a manifest names are relative to it: the converted manifest carries their text instead.
    let base = match args.input.is_dir() {
        true => args.input.clone(),
        false => args.input.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let mut manifest = manifest.clone();
    let left = manifest.inline_files(&base);
    if !left.is_empty() {
        for l in &left {
            out.error(format!("{l} cannot be read as text to carry it"));
        }
        out.error(format!(
            "{}: not converted: the converted manifest would name files it does not carry",
            args.input.display()
        ));
        return exit::ERROR;
    }
    emit_manifest(&manifest, format, args.output.as_deref(), out)
}
