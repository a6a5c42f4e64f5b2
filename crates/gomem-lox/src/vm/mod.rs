//! The VM: loads compiled functions into the gomem heap and
//! runs them with clox's semantics, messages and limits. It has no
//! collector of its own: gomem's concurrent collector reclaims every Lox
//! object.
//!
//! What keeps objects alive (the VM's roots):
//! * `stack` (a `ValueStack`): every value slot of every frame, as clox's
//!   value stack;
//! * `frame_closures` (a `ValueStack`): the closure each frame runs, one per
//!   entry of `frames` (plain `ip`/`base` indices);
//! * `open_upvalues` (a `ValueStack`): the open upvalues, sorted by the stack
//!   slot they name (ascending), with `open_slots` holding those slots;
//! * `globals.values` (a `ValueStack`): one slot per global name (names
//!   are resolved to slots when a function is loaded), and `init_string`
//!   (a `Root`).
//!
//! The run loop is three loops. The outer one passes a safepoint (or, with
//! `LOX_STRESS_GC=1`, a full collection) and borrows the Mutator for one
//! stretch ('m); the frame loop takes the current frame's code, constants
//! and upvalues (`FrameRefs`, cached per frame for the stretch, so a return
//! loads nothing and a call only its callee's); the inner loop dispatches.
//! Calls, returns and backward jumps count down a budget (1024; 1 with
//! `LOX_STRESS_GC`): at zero the stretch ends at the outer loop's
//! safepoint. Every `Gc` and `&'m` the loops use is borrowed for one
//! stretch, so none lives across a safepoint (the borrow checker enforces
//! it), and every run of calls or loop iterations reaches one.

pub mod object;

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};

use gomem::{Gc, Heap, HeapMap, Member, Mutator, Root, Slice, ValueSlot, ValueStack, WeakSet};

use crate::chunk::{Code, OpCode};
use crate::compiler::compile;
use crate::InterpretResult;
use object::{
    format_value, intern, load_function, str_of, BoundMethod, Class, Closure, Instance, LoxStr,
    Native, NativeFn, Obj, Upvalue, Val,
};

/// Deepest call stack (clox's `FRAMES_MAX`).
pub const MAX_FRAMES: usize = 64;
/// Calls, returns and backward jumps between two safepoints: enough that a
/// safepoint's cost disappears, few enough that a collection waits
/// microseconds for this mutator.
const SAFEPOINT_BUDGET: u32 = 1024;
/// Bytes of output buffered before a write to stdout.
const OUT_BUFFER_BYTES: usize = 64 * 1024;

/// One active call: where it is in its code and where its slots start.
#[derive(Clone, Copy, Debug)]
struct Frame {
    ip: usize,
    base: usize,
}

/// The VM's stacks (the roots that change as code runs).
struct Stacks {
    stack: ValueStack<Obj>,
    frame_closures: ValueStack<Obj>,
    frames: Vec<Frame>,
    open_upvalues: ValueStack<Obj>,
    open_slots: Vec<usize>,
}

/// The global variables: one slot per name the loaded code uses (names are
/// resolved to slots when a function is loaded, `Code::global_slots`), so a
/// global's read is an index, not a hash lookup.
struct Globals {
    /// The values (a root, like the value stack); nil until defined.
    values: ValueStack<Obj>,
    /// Whether each slot's variable is defined.
    defined: Vec<bool>,
    /// Name → slot.
    slots: HashMap<Box<str>, u32>,
}

impl Globals {
    /// The slot of `name`, made (undefined) if it has none.
    fn slot(&mut self, m: &Mutator, name: &str) -> u32 {
        if let Some(&i) = self.slots.get(name) {
            return i;
        }
        let i = u32::try_from(self.defined.len()).expect("fewer than 2^32 global names");
        self.values.push(m, Val::nil());
        self.defined.push(false);
        self.slots.insert(name.into(), i);
        i
    }
}

/// What a frame's code reads, borrowed for one stretch between safepoints
/// ('m): kept per frame (the run loop's `cache`) so that a return does not
/// load them again.
#[derive(Clone, Copy)]
struct FrameRefs<'m> {
    code: &'m Code,
    /// None when the function has no constants.
    constants: Option<&'m Slice<ValueSlot<Obj>>>,
    /// None when the closure captures nothing.
    upvalues: Option<&'m Slice<Member<Obj>>>,
}

impl<'m> FrameRefs<'m> {
    /// The refs of a frame running `closure`.
    #[inline(always)]
    fn of(m: &'m Mutator, closure: &'m Closure) -> FrameRefs<'m> {
        let function = closure
            .function
            .get(m)
            .expect("a closure has a function")
            .into_ref();
        let Obj::Function(function) = function else {
            unreachable!("a closure wraps a function")
        };
        FrameRefs {
            code: &function.code,
            constants: function.constants.get(m).map(Gc::into_ref),
            // Most functions capture nothing: skip the load.
            upvalues: if function.code.upvalue_count == 0 {
                None
            } else {
                closure.upvalues.get(m).map(Gc::into_ref)
            },
        }
    }
}

/// A Lox virtual machine with its own gomem heap.
pub struct Vm {
    st: Stacks,
    globals: Globals,
    init_string: Root<Obj>,
    strings: WeakSet<Obj>,
    stress_gc: bool,
    out: BufWriter<Box<dyn Write>>,
    m: Mutator,
    heap: Heap,
}

/// Process CPU time in seconds (clox's `clock() / CLOCKS_PER_SEC`).
fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

#[inline]
fn is_falsey(v: Val<'_>) -> bool {
    v.is_nil() || v.as_bool() == Some(false)
}

#[inline]
fn values_equal(a: Val<'_>, b: Val<'_>) -> bool {
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => x == y,
        _ => a.bits() == b.bits(),
    }
}

impl Vm {
    /// A VM on a heap configured from the environment (`GOGC`,
    /// `GOMEMLIMIT`, `GOMEM_DEBUG`); `LOX_STRESS_GC=1` collects at every
    /// safepoint.
    pub fn from_env() -> Result<Vm, String> {
        let heap = Heap::from_env().map_err(|e| e.to_string())?;
        let stress_gc = std::env::var("LOX_STRESS_GC").is_ok_and(|v| v != "0" && !v.is_empty());
        Ok(Vm::new(heap, stress_gc))
    }

    /// A VM on `heap` printing to stdout.
    pub fn new(heap: Heap, stress_gc: bool) -> Vm {
        Vm::with_output(heap, stress_gc, Box::new(io::stdout().lock()))
    }

    /// A VM on `heap` printing to `out`; `stress_gc` runs a full collection
    /// at every safepoint (clox's `DEBUG_STRESS_GC`).
    pub fn with_output(heap: Heap, stress_gc: bool, out: Box<dyn Write>) -> Vm {
        let m = heap.attach();
        let strings = WeakSet::new(&heap);
        let mut globals = Globals {
            values: m.value_stack(),
            defined: Vec::new(),
            slots: HashMap::new(),
        };
        let init_string = {
            let clock = m.alloc(Obj::Native(Native {
                function: NativeFn::Clock,
            }));
            let slot = globals.slot(&m, "clock") as usize;
            globals.values.set(&m, slot, Val::from_gc(clock));
            globals.defined[slot] = true;
            m.root(intern(&m, &strings, "init"))
        };
        let st = Stacks {
            stack: m.value_stack(),
            frame_closures: m.value_stack(),
            frames: Vec::with_capacity(MAX_FRAMES),
            open_upvalues: m.value_stack(),
            open_slots: Vec::new(),
        };
        Vm {
            st,
            globals,
            init_string,
            strings,
            stress_gc,
            out: BufWriter::with_capacity(OUT_BUFFER_BYTES, out),
            m,
            heap,
        }
    }

    /// The heap the VM's objects live in.
    pub fn heap(&self) -> &Heap {
        &self.heap
    }

    /// Compiles and runs `source` (globals persist between calls, as in the
    /// REPL). Compile errors and runtime errors go to stderr.
    pub fn interpret(&mut self, source: &str) -> InterpretResult {
        let proto = match compile(source) {
            Ok(p) => p,
            Err(errors) => {
                let _ = self.out.flush();
                let stderr = io::stderr();
                let mut err = stderr.lock();
                for e in errors {
                    let _ = writeln!(err, "{e}");
                }
                return InterpretResult::CompileError;
            }
        };
        if std::env::var_os("LOX_PRINT_CODE").is_some() {
            let _ = write!(self.out, "{}", crate::debug::disassemble(&proto));
        }
        {
            let m = &self.m;
            let globals = &mut self.globals;
            let function =
                load_function(m, &self.strings, &mut |name| globals.slot(m, name), proto);
            let closure = m.alloc(Obj::Closure(Closure {
                function: Member::null(),
                upvalues: Member::null(),
            }));
            if let Obj::Closure(c) = &*closure {
                c.function.set(m, Some(function));
            }
            self.st.stack.push(m, Val::from_gc(closure));
            self.st.frame_closures.push(m, Val::from_gc(closure));
            self.st.frames.push(Frame { ip: 0, base: 0 });
        }
        let result = self.run();
        let _ = self.out.flush();
        result
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// Prints a runtime error with its stack trace and resets the stacks.
    fn runtime_error(
        st: &mut Stacks,
        m: &Mutator,
        out: &mut impl Write,
        message: &str,
    ) -> InterpretResult {
        let _ = out.flush();
        let mut text = String::new();
        text.push_str(message);
        text.push('\n');
        for (i, frame) in st.frames.iter().enumerate().rev() {
            let closure = st.frame_closures.get(m, i).as_gc();
            let Some(closure) = closure else { continue };
            let Obj::Closure(c) = &*closure else { continue };
            let Some(function) = c.function.get(m) else {
                continue;
            };
            let Obj::Function(f) = &*function else {
                continue;
            };
            let line = f
                .code
                .lines
                .get(frame.ip.saturating_sub(1))
                .copied()
                .unwrap_or(0);
            match f.name.get(m) {
                Some(name) => text.push_str(&format!("[line {line}] in {}()\n", str_of(&name))),
                None => text.push_str(&format!("[line {line}] in script\n")),
            }
        }
        let _ = io::stderr().lock().write_all(text.as_bytes());
        st.reset();
        InterpretResult::RuntimeError
    }

    fn run(&mut self) -> InterpretResult {
        let Vm {
            st,
            globals,
            init_string,
            strings,
            stress_gc,
            out,
            m,
            ..
        } = self;
        let mut line = String::new();
        loop {
            if *stress_gc {
                m.collect();
            } else {
                m.safepoint();
            }
            let m: &Mutator = m;
            let init_name = Val::from_gc(init_string.get(m));
            // Calls, returns and backward jumps left before the next
            // safepoint (one each with LOX_STRESS_GC).
            let mut budget: u32 = if *stress_gc { 1 } else { SAFEPOINT_BUDGET };
            // The refs of the top `cache.len()` frames (valid until the
            // next safepoint, so started afresh after each).
            let mut cache: Vec<FrameRefs<'_>> = Vec::with_capacity(MAX_FRAMES);

            'frame: loop {
                let fi = st.frames.len() - 1;
                let Frame { mut ip, base } = st.frames[fi];
                if cache.is_empty() {
                    let closure = st
                        .frame_closures
                        .get(m, fi)
                        .as_gc()
                        .expect("a frame runs a closure")
                        .into_ref();
                    let Obj::Closure(closure) = closure else {
                        unreachable!("a frame runs a closure")
                    };
                    cache.push(FrameRefs::of(m, closure));
                }
                let FrameRefs {
                    code: function_code,
                    constants,
                    upvalues,
                } = *cache.last().expect("the top frame's refs");
                let constants: &[ValueSlot<Obj>] = constants.map_or(&[], |s| s);
                let upvalues: &[Member<Obj>] = upvalues.map_or(&[], |s| s);
                let code: &[u8] = &function_code.bytes;
                let global_slots: &[u32] = &function_code.global_slots;

                macro_rules! read_byte {
                    () => {{
                        let b = code[ip];
                        ip += 1;
                        b
                    }};
                }
                macro_rules! read_short {
                    () => {{
                        let v = (usize::from(code[ip]) << 8) | usize::from(code[ip + 1]);
                        ip += 2;
                        v
                    }};
                }
                macro_rules! read_constant {
                    () => {
                        constants[read_byte!() as usize].get(m)
                    };
                }
                macro_rules! throw {
                ($($arg:tt)*) => {{
                    st.frames[fi].ip = ip;
                    return Vm::runtime_error(st, m, out, &format!($($arg)*));
                }};
            }
                macro_rules! binary_number {
                ($wrap:path, $op:tt) => {{
                    let b = st.stack.peek(m, 0).as_number();
                    let a = st.stack.peek(m, 1).as_number();
                    match (a, b) {
                        (Some(a), Some(b)) => {
                            let top = st.stack.len() - 1;
                            st.stack.truncate(top);
                            st.stack.set(m, top - 1, $wrap(a $op b));
                        }
                        _ => throw!("Operands must be numbers."),
                    }
                }};
            }
                // Counts a call, return or backward jump: goes on with the
                // current frame (or, after a call or return, the new one) until
                // the budget is spent, then to the outer loop's safepoint.
                macro_rules! spend {
                    () => {{
                        budget -= 1;
                        budget == 0
                    }};
                }
                // A call that pushed a frame, or failed.
                macro_rules! after_call {
                    ($r:expr) => {{
                        st.frames[fi].ip = ip;
                        match $r {
                            Err(msg) => return Vm::runtime_error(st, m, out, &msg),
                            Ok(()) => {}
                        }
                        if spend!() {
                            break 'frame;
                        }
                        continue 'frame;
                    }};
                }

                loop {
                    let op = read_byte!();
                    let Some(op) = OpCode::from_byte(op) else {
                        throw!("Unknown opcode {op}.");
                    };
                    match op {
                        OpCode::Constant => {
                            let v = read_constant!();
                            st.stack.push(m, v);
                        }
                        OpCode::Nil => st.stack.push(m, Val::nil()),
                        OpCode::True => st.stack.push(m, Val::from_bool(true)),
                        OpCode::False => st.stack.push(m, Val::from_bool(false)),
                        OpCode::Pop => {
                            let top = st.stack.len() - 1;
                            st.stack.truncate(top);
                        }
                        OpCode::GetLocal => {
                            let slot = read_byte!() as usize;
                            st.stack.push_copy(m, base + slot);
                        }
                        OpCode::SetLocal => {
                            let slot = read_byte!() as usize;
                            st.stack.set_from_top(m, base + slot);
                        }
                        OpCode::GetGlobal => {
                            let k = read_byte!() as usize;
                            let g = global_slots[k] as usize;
                            if !globals.defined[g] {
                                throw!("Undefined variable '{}'.", name_str(constants[k].get(m)));
                            }
                            st.stack.push(m, globals.values.get(m, g));
                        }
                        OpCode::DefineGlobal => {
                            let g = global_slots[read_byte!() as usize] as usize;
                            let v = st.stack.pop(m);
                            globals.values.set(m, g, v);
                            globals.defined[g] = true;
                        }
                        OpCode::SetGlobal => {
                            let k = read_byte!() as usize;
                            let g = global_slots[k] as usize;
                            if !globals.defined[g] {
                                throw!("Undefined variable '{}'.", name_str(constants[k].get(m)));
                            }
                            globals.values.set(m, g, st.stack.peek(m, 0));
                        }
                        OpCode::GetUpvalue => {
                            let i = read_byte!() as usize;
                            let up = upvalues[i].get(m).expect("captured upvalue");
                            let Obj::Upvalue(u) = &*up else {
                                unreachable!("an upvalue")
                            };
                            let v = match u.open_slot() {
                                Some(slot) => st.stack.get(m, slot),
                                None => u.closed.get(m),
                            };
                            st.stack.push(m, v);
                        }
                        OpCode::SetUpvalue => {
                            let i = read_byte!() as usize;
                            let up = upvalues[i].get(m).expect("captured upvalue");
                            let Obj::Upvalue(u) = &*up else {
                                unreachable!("an upvalue")
                            };
                            let v = st.stack.peek(m, 0);
                            match u.open_slot() {
                                Some(slot) => st.stack.set(m, slot, v),
                                None => u.closed.set(m, v),
                            }
                        }
                        OpCode::GetProperty => {
                            let receiver = st.stack.peek(m, 0);
                            let Some(instance) =
                                receiver.as_gc().filter(|g| matches!(**g, Obj::Instance(_)))
                            else {
                                throw!("Only instances have properties.");
                            };
                            let Obj::Instance(inst) = &*instance else {
                                unreachable!()
                            };
                            let name = read_constant!();
                            if let Some(v) = inst.fields.get(m, name) {
                                st.stack.pop(m);
                                st.stack.push(m, v);
                            } else {
                                let class = inst.class.get(m).expect("an instance has a class");
                                if let Err(msg) = st.bind_method(m, class, name) {
                                    throw!("{msg}");
                                }
                            }
                        }
                        OpCode::SetProperty => {
                            let target = st.stack.peek(m, 1);
                            let Some(instance) =
                                target.as_gc().filter(|g| matches!(**g, Obj::Instance(_)))
                            else {
                                throw!("Only instances have fields.");
                            };
                            let Obj::Instance(inst) = &*instance else {
                                unreachable!()
                            };
                            let name = read_constant!();
                            let v = st.stack.pop(m);
                            inst.fields.set(m, name, v);
                            st.stack.pop(m);
                            st.stack.push(m, v);
                        }
                        OpCode::GetSuper => {
                            let name = read_constant!();
                            let superclass = st.stack.pop(m).as_gc().expect("super is a class");
                            if let Err(msg) = st.bind_method(m, superclass, name) {
                                throw!("{msg}");
                            }
                        }
                        OpCode::Equal => {
                            let b = st.stack.pop(m);
                            let a = st.stack.peek(m, 0);
                            let top = st.stack.len() - 1;
                            st.stack.set(m, top, Val::from_bool(values_equal(a, b)));
                        }
                        OpCode::Greater => binary_number!(Val::from_bool, >),
                        OpCode::Less => binary_number!(Val::from_bool, <),
                        OpCode::Add => {
                            let b = st.stack.peek(m, 0);
                            let a = st.stack.peek(m, 1);
                            if let (Some(x), Some(y)) = (a.as_number(), b.as_number()) {
                                let top = st.stack.len() - 1;
                                st.stack.truncate(top);
                                st.stack.set(m, top - 1, Val::from_number(x + y));
                            } else {
                                let (Some(ga), Some(gb)) = (a.as_gc(), b.as_gc()) else {
                                    throw!("Operands must be two numbers or two strings.");
                                };
                                let (Obj::Str(sa), Obj::Str(sb)) = (&*ga, &*gb) else {
                                    throw!("Operands must be two numbers or two strings.");
                                };
                                let s = concat(sa, sb);
                                let result = intern(m, strings, &s);
                                st.stack.pop(m);
                                st.stack.pop(m);
                                st.stack.push(m, Val::from_gc(result));
                            }
                        }
                        OpCode::Subtract => binary_number!(Val::from_number, -),
                        OpCode::Multiply => binary_number!(Val::from_number, *),
                        OpCode::Divide => binary_number!(Val::from_number, /),
                        OpCode::Not => {
                            let v = st.stack.peek(m, 0);
                            let top = st.stack.len() - 1;
                            st.stack.set(m, top, Val::from_bool(is_falsey(v)));
                        }
                        OpCode::Negate => {
                            let Some(x) = st.stack.peek(m, 0).as_number() else {
                                throw!("Operand must be a number.");
                            };
                            let top = st.stack.len() - 1;
                            st.stack.set(m, top, Val::from_number(-x));
                        }
                        OpCode::Print => {
                            let v = st.stack.pop(m);
                            line.clear();
                            format_value(m, v, &mut line);
                            line.push('\n');
                            let _ = out.write_all(line.as_bytes());
                        }
                        OpCode::Jump => {
                            let offset = read_short!();
                            ip += offset;
                        }
                        OpCode::JumpIfFalse => {
                            let offset = read_short!();
                            if is_falsey(st.stack.peek(m, 0)) {
                                ip += offset;
                            }
                        }
                        OpCode::Loop => {
                            let offset = read_short!();
                            ip -= offset;
                            if spend!() {
                                st.frames[fi].ip = ip;
                                break 'frame;
                            }
                        }
                        OpCode::Call => {
                            let argc = read_byte!() as usize;
                            let callee = st.stack.peek(m, argc);
                            after_call!(st.call_value(m, &mut cache, callee, argc, init_name));
                        }
                        OpCode::Invoke => {
                            let name = read_constant!();
                            let argc = read_byte!() as usize;
                            after_call!(st.invoke(m, &mut cache, name, argc, init_name));
                        }
                        OpCode::SuperInvoke => {
                            let name = read_constant!();
                            let argc = read_byte!() as usize;
                            let superclass = st.stack.pop(m).as_gc().expect("super is a class");
                            after_call!(st.invoke_from_class(m, &mut cache, superclass, name, argc));
                        }
                        OpCode::Closure => {
                            let f = read_constant!().as_gc().expect("a function constant");
                            let Obj::Function(func) = &*f else {
                                unreachable!("a function constant")
                            };
                            let n = func.code.upvalue_count;
                            let new = m.alloc(Obj::Closure(Closure {
                                function: Member::null(),
                                upvalues: Member::null(),
                            }));
                            let Obj::Closure(c) = &*new else {
                                unreachable!()
                            };
                            c.function.set(m, Some(f));
                            st.stack.push(m, Val::from_gc(new));
                            if n > 0 {
                                let cells = m.alloc_slice(n, |_| Member::null());
                                c.upvalues.set(m, Some(cells));
                                for cell in cells.iter() {
                                    let is_local = read_byte!() == 1;
                                    let index = read_byte!() as usize;
                                    let up = if is_local {
                                        st.capture_upvalue(m, base + index)
                                    } else {
                                        upvalues[index].get(m).expect("enclosing upvalue")
                                    };
                                    cell.set(m, Some(up));
                                }
                            }
                        }
                        OpCode::CloseUpvalue => {
                            let top = st.stack.len() - 1;
                            st.close_upvalues(m, top);
                            st.stack.pop(m);
                        }
                        OpCode::Return => {
                            let result = st.stack.pop(m);
                            st.close_upvalues(m, base);
                            st.frames.pop();
                            st.frame_closures.truncate(st.frames.len());
                            cache.pop();
                            if st.frames.is_empty() {
                                st.stack.pop(m);
                                return InterpretResult::Ok;
                            }
                            st.stack.truncate(base);
                            st.stack.push(m, result);
                            if spend!() {
                                break 'frame;
                            }
                            continue 'frame;
                        }
                        OpCode::Class => {
                            let name = read_constant!().as_gc().expect("a class name");
                            let class = m.alloc(Obj::Class(Class {
                                name: Member::null(),
                                methods: HeapMap::new(),
                            }));
                            if let Obj::Class(c) = &*class {
                                c.name.set(m, Some(name));
                            }
                            st.stack.push(m, Val::from_gc(class));
                        }
                        OpCode::Inherit => {
                            let superclass = st.stack.peek(m, 1).as_gc();
                            let Some(sup) = superclass.filter(|g| matches!(**g, Obj::Class(_)))
                            else {
                                throw!("Superclass must be a class.");
                            };
                            let sub = st.stack.peek(m, 0).as_gc().expect("a class");
                            if let (Obj::Class(sup), Obj::Class(sub)) = (&*sup, &*sub) {
                                sup.methods.for_each(m, |k, v| {
                                    sub.methods.set(m, k, v);
                                });
                            }
                            st.stack.pop(m);
                        }
                        OpCode::Method => {
                            let name = read_constant!();
                            let method = st.stack.peek(m, 0);
                            let class = st.stack.peek(m, 1).as_gc().expect("a class");
                            if let Obj::Class(c) = &*class {
                                c.methods.set(m, name, method);
                            }
                            st.stack.pop(m);
                        }
                    }
                }
            }
        }
    }
}

/// What a call did: pushed a frame (and its refs onto the run loop's
/// cache, written in place: a returned struct read back with wider loads
/// stalled store forwarding, 15 % of properties), finished at once (a
/// native, a class without `init`), or failed (the message).
type Called = Result<(), String>;

/// The characters of a name constant.
fn name_str(v: Val<'_>) -> String {
    match v.as_gc() {
        Some(g) => str_of(&g).to_string(),
        None => String::new(),
    }
}

fn concat(a: &LoxStr, b: &LoxStr) -> String {
    let mut s = String::with_capacity(a.chars.len() + b.chars.len());
    s.push_str(&a.chars);
    s.push_str(&b.chars);
    s
}

impl Stacks {
    fn reset(&mut self) {
        self.stack.truncate(0);
        self.frame_closures.truncate(0);
        self.frames.clear();
        self.open_upvalues.truncate(0);
        self.open_slots.clear();
    }

    /// Pushes a frame for `closure` with `argc` arguments on the stack;
    /// returns the new frame's refs.
    #[inline]
    fn call<'m>(
        &mut self,
        m: &'m Mutator,
        cache: &mut Vec<FrameRefs<'m>>,
        closure: Gc<'m, Obj>,
        argc: usize,
    ) -> Called {
        let Obj::Closure(c) = closure.into_ref() else {
            unreachable!("call takes a closure")
        };
        let refs = FrameRefs::of(m, c);
        if argc != refs.code.arity {
            return Err(format!(
                "Expected {} arguments but got {}.",
                refs.code.arity, argc
            ));
        }
        if self.frames.len() == MAX_FRAMES {
            return Err("Stack overflow.".to_string());
        }
        self.frames.push(Frame {
            ip: 0,
            base: self.stack.len() - argc - 1,
        });
        self.frame_closures.push(m, Val::from_gc(closure));
        cache.push(refs);
        Ok(())
    }

    fn call_value<'m>(
        &mut self,
        m: &'m Mutator,
        cache: &mut Vec<FrameRefs<'m>>,
        callee: Val<'m>,
        argc: usize,
        init_name: Val<'_>,
    ) -> Called {
        if let Some(g) = callee.as_gc() {
            match &*g {
                Obj::BoundMethod(b) => {
                    let slot = self.stack.len() - argc - 1;
                    self.stack.set(m, slot, b.receiver.get(m));
                    let method = b.method.get(m).expect("a bound method has a method");
                    return self.call(m, cache, method, argc);
                }
                Obj::Class(c) => {
                    let instance = m.alloc(Obj::Instance(Instance {
                        class: Member::null(),
                        fields: HeapMap::new(),
                    }));
                    if let Obj::Instance(i) = &*instance {
                        i.class.set(m, Some(g));
                    }
                    let slot = self.stack.len() - argc - 1;
                    self.stack.set(m, slot, Val::from_gc(instance));
                    if let Some(init) = c.methods.get(m, init_name) {
                        return self.call(m, cache, init.as_gc().expect("init is a closure"), argc);
                    } else if argc != 0 {
                        return Err(format!("Expected 0 arguments but got {argc}."));
                    }
                    return Ok(());
                }
                Obj::Closure(_) => return self.call(m, cache, g, argc),
                Obj::Native(n) => {
                    let result = match n.function {
                        NativeFn::Clock => Val::from_number(cpu_seconds()),
                    };
                    self.stack.truncate(self.stack.len() - argc - 1);
                    self.stack.push(m, result);
                    return Ok(());
                }
                _ => {}
            }
        }
        Err("Can only call functions and classes.".to_string())
    }

    fn invoke_from_class<'m>(
        &mut self,
        m: &'m Mutator,
        cache: &mut Vec<FrameRefs<'m>>,
        class: Gc<'m, Obj>,
        name: Val<'_>,
        argc: usize,
    ) -> Called {
        let Obj::Class(c) = class.into_ref() else {
            unreachable!("methods come from a class")
        };
        match c.methods.get(m, name) {
            Some(method) => self.call(
                m,
                cache,
                method.as_gc().expect("a method is a closure"),
                argc,
            ),
            None => Err(format!("Undefined property '{}'.", name_str(name))),
        }
    }

    fn invoke<'m>(
        &mut self,
        m: &'m Mutator,
        cache: &mut Vec<FrameRefs<'m>>,
        name: Val<'_>,
        argc: usize,
        init_name: Val<'_>,
    ) -> Called {
        let receiver = self.stack.peek(m, argc);
        let Some(g) = receiver.as_gc() else {
            return Err("Only instances have methods.".to_string());
        };
        let Obj::Instance(inst) = g.into_ref() else {
            return Err("Only instances have methods.".to_string());
        };
        if let Some(field) = inst.fields.get(m, name) {
            let slot = self.stack.len() - argc - 1;
            self.stack.set(m, slot, field);
            return self.call_value(m, cache, field, argc, init_name);
        }
        let class = inst.class.get(m).expect("an instance has a class");
        self.invoke_from_class(m, cache, class, name, argc)
    }

    /// Replaces the instance on top of the stack by its method `name`
    /// bound to it.
    fn bind_method(
        &mut self,
        m: &Mutator,
        class: Gc<'_, Obj>,
        name: Val<'_>,
    ) -> Result<(), String> {
        let Obj::Class(c) = &*class else {
            unreachable!("methods come from a class")
        };
        let Some(method) = c.methods.get(m, name) else {
            return Err(format!("Undefined property '{}'.", name_str(name)));
        };
        let bound = m.alloc(Obj::BoundMethod(BoundMethod {
            receiver: ValueSlot::nil(),
            method: Member::null(),
        }));
        if let Obj::BoundMethod(b) = &*bound {
            b.receiver.set(m, self.stack.peek(m, 0));
            b.method.set(m, method.as_gc());
        }
        self.stack.pop(m);
        self.stack.push(m, Val::from_gc(bound));
        Ok(())
    }

    /// The open upvalue for stack slot `slot`, made if there is none.
    fn capture_upvalue<'m>(&mut self, m: &'m Mutator, slot: usize) -> Gc<'m, Obj> {
        let mut i = self.open_slots.len();
        while i > 0 && self.open_slots[i - 1] > slot {
            i -= 1;
        }
        if i > 0 && self.open_slots[i - 1] == slot {
            return self
                .open_upvalues
                .get(m, i - 1)
                .as_gc()
                .expect("an open upvalue");
        }
        let created = m.alloc(Obj::Upvalue(Upvalue {
            slot: std::sync::atomic::AtomicUsize::new(slot),
            closed: ValueSlot::nil(),
        }));
        // Insert at i, keeping both lists sorted by slot.
        let n = self.open_slots.len();
        if i == n {
            self.open_upvalues.push(m, Val::from_gc(created));
        } else {
            let last = self.open_upvalues.get(m, n - 1);
            self.open_upvalues.push(m, last);
            for j in (i + 1..n).rev() {
                let v = self.open_upvalues.get(m, j - 1);
                self.open_upvalues.set(m, j, v);
            }
            self.open_upvalues.set(m, i, Val::from_gc(created));
        }
        self.open_slots.insert(i, slot);
        created
    }

    /// Closes every open upvalue naming slot `last` or above.
    fn close_upvalues(&mut self, m: &Mutator, last: usize) {
        while let Some(&slot) = self.open_slots.last() {
            if slot < last {
                break;
            }
            let value = self.stack.get(m, slot);
            let up = self.open_upvalues.pop(m).as_gc().expect("an open upvalue");
            if let Obj::Upvalue(u) = &*up {
                u.close(m, value);
            }
            self.open_slots.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;

    use gomem::{Config, Heap};

    use super::Vm;
    use crate::InterpretResult;

    #[derive(Clone, Default)]
    struct Capture(Rc<RefCell<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `src` on a fresh VM; returns the result and what it printed.
    fn run_with(config: Config, stress: bool, src: &str) -> (InterpretResult, String) {
        let capture = Capture::default();
        let mut vm = Vm::with_output(Heap::new(config), stress, Box::new(capture.clone()));
        let r = vm.interpret(src);
        drop(vm);
        let text = String::from_utf8(capture.0.borrow().clone()).unwrap();
        (r, text)
    }

    fn run(src: &str) -> (InterpretResult, String) {
        run_with(Config::default(), false, src)
    }

    const PROGRAM: &str = r#"
        class A { init(n) { this.n = n; } get() { return this.n; } }
        class B < A { get() { return super.get() * 2; } }
        fun adder(x) { fun add(y) { return x + y; } return add; }
        var add2 = adder(2);
        var b = B(21);
        var m = b.get;
        print m() + add2(0);
        print "con" + "cat" == "concat";
        print b;
        print B;
        print add2;
        print clock;
        var s = "";
        for (var i = 0; i < 100; i = i + 1) s = s + "x";
        print s == s + "";
        print 1 / 3;
    "#;
    const EXPECTED: &str = "44\ntrue\nB instance\nB\n<fn add>\n<native fn>\ntrue\n0.333333\n";

    #[test]
    fn runs_classes_closures_and_strings() {
        assert_eq!(run(PROGRAM), (InterpretResult::Ok, EXPECTED.to_string()));
    }

    #[test]
    fn same_results_when_collecting_at_every_safepoint_with_checkmark() {
        let config = Config::default().checkmark(true).clobber_free(true);
        assert_eq!(
            run_with(config, true, PROGRAM),
            (InterpretResult::Ok, EXPECTED.to_string())
        );
    }

    #[test]
    fn closures_share_and_close_upvalues() {
        let src = r#"
            var get; var set;
            { var a = 1; fun g() { return a; } fun s(v) { a = v; } get = g; set = s; set(5); print a; }
            print get(); set(7); print get();
        "#;
        assert_eq!(run(src), (InterpretResult::Ok, "5\n5\n7\n".to_string()));
    }

    #[test]
    fn runtime_errors_end_the_run_and_globals_survive() {
        let capture = Capture::default();
        let mut vm = Vm::with_output(
            Heap::new(Config::default()),
            false,
            Box::new(capture.clone()),
        );
        assert_eq!(
            vm.interpret("var x = 1; print -\"a\";"),
            InterpretResult::RuntimeError
        );
        assert_eq!(
            vm.interpret("print x; fun f() { f(); } f();"),
            InterpretResult::RuntimeError
        );
        assert_eq!(vm.interpret("print x + 1;"), InterpretResult::Ok);
        assert_eq!(vm.interpret("print ;"), InterpretResult::CompileError);
        drop(vm);
        assert_eq!(
            String::from_utf8(capture.0.borrow().clone()).unwrap(),
            "1\n2\n"
        );
    }
}
