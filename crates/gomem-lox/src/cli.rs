//! clox's command line, shared by the `lox` binary and `gomem-bench`'s
//! Lox runs: `lox FILE` runs a script; `lox` alone is a REPL (one line at a
//! time, globals kept between lines); anything else is a usage error.
//!
//! Exit statuses are clox's: 65 after a compile error, 70 after a runtime
//! error, 64 for bad usage, 74 when the script cannot be read, 0 otherwise.
//! The heap is configured from the environment (`GOGC`, `GOMEMLIMIT`,
//! `GOMEM_DEBUG`), plus `LOX_STRESS_GC=1` (a collection at every safepoint)
//! and `LOX_PRINT_CODE=1` (disassemble before running).

use std::io::{self, BufRead, Write};

use crate::vm::Vm;
use crate::{InterpretResult, EXIT_COMPILE_ERROR, EXIT_IO_ERROR, EXIT_RUNTIME_ERROR, EXIT_USAGE};

/// Longest REPL line clox reads at once (its `fgets` buffer is 1024 bytes).
const REPL_LINE_MAX: usize = 1023;

fn repl(vm: &mut Vm) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    loop {
        print!("> ");
        let _ = io::stdout().flush();
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                println!();
                break;
            }
            Ok(_) => {
                // clox reads at most REPL_LINE_MAX bytes per call; the rest
                // of a longer line comes back as the next "line".
                let mut rest = line.as_str();
                while !rest.is_empty() {
                    let mut cut = rest.len().min(REPL_LINE_MAX);
                    while !rest.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    vm.interpret(&rest[..cut]);
                    rest = &rest[cut..];
                }
            }
        }
    }
}

fn run_file(vm: &mut Vm, path: &str) -> u8 {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(_) => {
            eprintln!("Could not open file \"{path}\".");
            return EXIT_IO_ERROR;
        }
    };
    let source = String::from_utf8_lossy(&bytes);
    match vm.interpret(&source) {
        InterpretResult::Ok => 0,
        InterpretResult::CompileError => EXIT_COMPILE_ERROR,
        InterpretResult::RuntimeError => EXIT_RUNTIME_ERROR,
    }
}

/// Runs clox's command line on `args` (the program name first, as
/// `std::env::args` gives it) and returns the exit status.
pub fn main_with_args(args: &[String]) -> u8 {
    let mut vm = match Vm::from_env() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("lox: {e}");
            return EXIT_USAGE;
        }
    };
    match args.len() {
        1 => {
            repl(&mut vm);
            0
        }
        2 => run_file(&mut vm, &args[1]),
        _ => {
            eprintln!("Usage: lox [path]");
            EXIT_USAGE
        }
    }
}
