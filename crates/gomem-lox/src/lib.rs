//! gomem-lox: a bytecode VM for Lox (the language of Robert Nystrom's
//! *Crafting Interpreters*), behaving exactly as the book's final clox, with
//! every Lox object in the gomem heap and collected by gomem's concurrent
//! collector (the VM has no collector of its own).
//!
//! The pipeline: [`scanner`] makes tokens, [`compiler`] (single pass, Pratt)
//! makes a tree of plain-Rust [`chunk::FunctionProto`]s, and the VM ([`vm`])
//! loads that tree into the heap and runs it. [`number`]
//! prints numbers as C's `%g`; [`debug`] disassembles a prototype.
#![forbid(unsafe_code)]

pub mod chunk;
pub mod cli;
pub mod compiler;
pub mod debug;
pub mod number;
pub mod scanner;
pub mod vm;

/// How a run ended (clox's `InterpretResult`); each maps to an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterpretResult {
    Ok,
    CompileError,
    RuntimeError,
}

/// Exit status for bad command-line usage (sysexits `EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;
/// Exit status after a compile error (sysexits `EX_DATAERR`).
pub const EXIT_COMPILE_ERROR: u8 = 65;
/// Exit status after a runtime error (sysexits `EX_SOFTWARE`).
pub const EXIT_RUNTIME_ERROR: u8 = 70;
/// Exit status when the script cannot be read (sysexits `EX_IOERR`).
pub const EXIT_IO_ERROR: u8 = 74;
