//! The compiler's output: bytecode with its line table and constants, as
//! plain Rust data (no heap objects).
//!
//! The compiler never touches the gomem heap. It produces a tree of
//! [`FunctionProto`]s (the script at the root, each nested function a
//! [`Constant::Function`] of its parent); the VM loads that tree into the
//! heap, turning each constant into a heap value (interning strings) and
//! each prototype into a heap Function object that keeps its code and lines
//! as plain data.
//!
//! Invariants: `lines.len() == code.len()` (one line per byte); constant
//! indices in the code are `< constants.len() <= MAX_CONSTANTS`; jump
//! operands are big-endian u16 offsets from the end of the operand.

/// Declares the opcodes once: the enum (one byte each, in order) and the
/// table that decodes a byte back into one.
macro_rules! opcodes {
    ($($(#[$doc:meta])* $op:ident,)*) => {
        /// The opcodes, with clox's set and operand layout.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum OpCode {
            $($(#[$doc])* $op,)*
        }

        impl OpCode {
            /// Every opcode, indexed by its byte.
            pub const ALL: &'static [OpCode] = &[$(OpCode::$op,)*];
        }
    };
}

opcodes! {
    /// `[const]` push constant.
    Constant,
    Nil,
    True,
    False,
    Pop,
    /// `[slot]`
    GetLocal,
    /// `[slot]`
    SetLocal,
    /// `[name const]`
    GetGlobal,
    /// `[name const]`
    DefineGlobal,
    /// `[name const]`
    SetGlobal,
    /// `[index]`
    GetUpvalue,
    /// `[index]`
    SetUpvalue,
    /// `[name const]`
    GetProperty,
    /// `[name const]`
    SetProperty,
    /// `[name const]`
    GetSuper,
    Equal,
    Greater,
    Less,
    Add,
    Subtract,
    Multiply,
    Divide,
    Not,
    Negate,
    Print,
    /// `[hi lo]` forward.
    Jump,
    /// `[hi lo]` forward if the top is falsey (does not pop).
    JumpIfFalse,
    /// `[hi lo]` backward.
    Loop,
    /// `[argc]`
    Call,
    /// `[name const][argc]`
    Invoke,
    /// `[name const][argc]`
    SuperInvoke,
    /// `[fn const]` then `[is_local index]` per upvalue.
    Closure,
    CloseUpvalue,
    Return,
    /// `[name const]`
    Class,
    Inherit,
    /// `[name const]`
    Method,
}

impl OpCode {
    /// Decodes a byte (None for a byte that is no opcode).
    #[inline]
    pub fn from_byte(b: u8) -> Option<OpCode> {
        OpCode::ALL.get(b as usize).copied()
    }
}

/// Most constants one chunk may hold (operands are one byte): clox's
/// `UINT8_MAX + 1`.
pub const MAX_CONSTANTS: usize = 256;

/// A constant as the compiler knows it; the VM makes it a heap value.
#[derive(Clone, Debug, PartialEq)]
pub enum Constant {
    Number(f64),
    /// A string literal or an identifier (a global, property or method name).
    Str(Box<str>),
    /// A nested function.
    Function(Box<FunctionProto>),
}

/// Code, lines and arity of one function: the part of a compiled function
/// that stays plain data in the heap Function object (hence `Trace`: it
/// holds no heap pointer).
#[derive(Clone, Debug, Default, PartialEq, gomem::Trace)]
pub struct Code {
    pub bytes: Vec<u8>,
    /// The source line of each byte of `bytes`.
    pub lines: Vec<u32>,
    pub arity: usize,
    pub upvalue_count: usize,
    /// For each constant that is a string, the VM's global variable slot of
    /// that name (`u32::MAX` for other constants). Filled when the VM loads
    /// the function; empty from the compiler.
    pub global_slots: Vec<u32>,
}

/// One compiled function.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionProto {
    /// None for the top-level script.
    pub name: Option<Box<str>>,
    pub code: Code,
    pub constants: Vec<Constant>,
}

impl FunctionProto {
    /// Appends one byte with its line.
    pub fn write(&mut self, byte: u8, line: u32) {
        self.code.bytes.push(byte);
        self.code.lines.push(line);
    }
}
