//! `lox`: clox's command line (module `gomem_lox::cli`): `lox FILE` runs a
//! script, `lox` alone is a REPL.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    ExitCode::from(gomem_lox::cli::main_with_args(&args))
}
