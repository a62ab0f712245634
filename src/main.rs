//! The `falconer` binary: parse the command line, run, exit with the command's code.

fn main() {
    std::process::exit(falconer::cli::main());
}
