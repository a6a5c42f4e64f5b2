//! Disassembler: a readable listing of a compiled [`FunctionProto`] (and of
//! the functions nested in its constants), in the layout of clox's
//! `disassembleChunk`. Used by `LOX_PRINT_CODE=1` and by tests; it reads only
//! plain compiler output, never the heap.

use std::fmt::Write;

use crate::chunk::{Constant, FunctionProto, OpCode};
use crate::number::format_g;

fn constant_text(c: &Constant) -> String {
    match c {
        Constant::Number(x) => format_g(*x),
        Constant::Str(s) => s.to_string(),
        Constant::Function(f) => match &f.name {
            Some(n) => format!("<fn {n}>"),
            None => "<script>".to_string(),
        },
    }
}

/// Disassembles `f` and, after it, every function nested in it.
pub fn disassemble(f: &FunctionProto) -> String {
    let mut out = String::new();
    let name = f.name.as_deref().unwrap_or("<script>");
    let _ = writeln!(out, "== {name} ==");
    let mut offset = 0;
    while offset < f.code.bytes.len() {
        offset = instruction(f, offset, &mut out);
    }
    for c in &f.constants {
        if let Constant::Function(inner) = c {
            out.push_str(&disassemble(inner));
        }
    }
    out
}

/// Writes the instruction at `offset`; returns the next offset.
pub fn instruction(f: &FunctionProto, offset: usize, out: &mut String) -> usize {
    use OpCode::*;
    let code = &f.code.bytes;
    let lines = &f.code.lines;
    let _ = write!(out, "{offset:04} ");
    if offset > 0 && lines[offset] == lines[offset - 1] {
        out.push_str("   | ");
    } else {
        let _ = write!(out, "{:4} ", lines[offset]);
    }
    let byte = |i: usize| code.get(i).copied().unwrap_or(0);
    let constant = |i: usize| {
        f.constants
            .get(byte(i) as usize)
            .map(constant_text)
            .unwrap_or_default()
    };
    let Some(op) = OpCode::from_byte(code[offset]) else {
        let _ = writeln!(out, "Unknown opcode {}", code[offset]);
        return offset + 1;
    };
    let name = format!("OP_{op:?}");
    match op {
        Constant | GetGlobal | DefineGlobal | SetGlobal | GetProperty | SetProperty | GetSuper
        | Class | Method => {
            let _ = writeln!(
                out,
                "{name:<16} {:4} '{}'",
                byte(offset + 1),
                constant(offset + 1)
            );
            offset + 2
        }
        GetLocal | SetLocal | GetUpvalue | SetUpvalue | Call => {
            let _ = writeln!(out, "{name:<16} {:4}", byte(offset + 1));
            offset + 2
        }
        Invoke | SuperInvoke => {
            let _ = writeln!(
                out,
                "{name:<16} ({} args) {:4} '{}'",
                byte(offset + 2),
                byte(offset + 1),
                constant(offset + 1)
            );
            offset + 3
        }
        Jump | JumpIfFalse | Loop => {
            let jump = (usize::from(byte(offset + 1)) << 8) | usize::from(byte(offset + 2));
            let target = if op == Loop {
                (offset + 3).wrapping_sub(jump)
            } else {
                offset + 3 + jump
            };
            let _ = writeln!(out, "{name:<16} {offset:4} -> {target}");
            offset + 3
        }
        Closure => {
            let index = byte(offset + 1) as usize;
            let _ = writeln!(out, "{name:<16} {index:4} {}", constant(offset + 1));
            let mut next = offset + 2;
            if let Some(crate::chunk::Constant::Function(inner)) = f.constants.get(index) {
                for _ in 0..inner.code.upvalue_count {
                    let kind = if byte(next) == 1 { "local" } else { "upvalue" };
                    let _ = writeln!(
                        out,
                        "{next:04}      |                     {kind} {}",
                        byte(next + 1)
                    );
                    next += 2;
                }
            }
            next
        }
        _ => {
            let _ = writeln!(out, "{name}");
            offset + 1
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_function() {
        let f = crate::compiler::compile("fun f(a) { while (a) a = a - 1; } print f;").unwrap();
        let text = super::disassemble(&f);
        assert!(text.contains("== <script> =="), "{text}");
        assert!(text.contains("== f =="), "{text}");
        assert!(text.contains("OP_Loop"), "{text}");
        assert!(text.contains("OP_Closure"), "{text}");
    }
}
