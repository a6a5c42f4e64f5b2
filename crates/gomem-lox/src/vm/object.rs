//! The Lox objects as they live in the gomem heap: one `enum Obj` with a
//! variant per kind (strings, functions, natives, closures, upvalues,
//! classes, instances, bound methods), traced by `#[derive(Trace)]`.
//!
//! Invariants:
//! * every heap pointer a Lox object holds is a `Member` or a `ValueSlot`
//!   (so the collector sees it); plain data (code, lines, string bytes) is
//!   ordinary Rust data inside the object;
//! * strings are interned: two live `Str` objects never have the same
//!   characters, so string equality (and table keys) are by identity. The
//!   intern table is a `WeakSet`, which does not keep strings alive;
//! * an `Upvalue` is open while `slot != CLOSED` (it then names a slot of
//!   the VM's value stack) and closed afterwards (its value is in `closed`).

use std::sync::atomic::{AtomicUsize, Ordering};

use gomem::{Gc, HeapMap, Member, Mutator, Slice, Trace, Value, ValueSlot, WeakSet};

use crate::chunk::{Code, Constant, FunctionProto};
use crate::number::format_g;

/// A Lox value: nil, a boolean, a number or a pointer to an [`Obj`].
pub type Val<'m> = Value<'m, Obj>;

/// Every Lox object.
#[derive(Trace)]
pub enum Obj {
    Str(LoxStr),
    Function(Function),
    Native(Native),
    Closure(Closure),
    Upvalue(Upvalue),
    Class(Class),
    Instance(Instance),
    BoundMethod(BoundMethod),
}

/// An interned string with its FNV-1a hash.
#[derive(Trace)]
pub struct LoxStr {
    pub hash: u32,
    pub chars: Box<str>,
}

/// A compiled function: its code as plain data, its name and constants in
/// the heap.
#[derive(Trace)]
pub struct Function {
    pub code: Box<Code>,
    /// A `Str`; null for the script.
    pub name: Member<Obj>,
    /// The constants (numbers, strings, functions); null when there are none.
    pub constants: Member<Slice<ValueSlot<Obj>>>,
}

/// The natives Lox knows.
#[derive(Trace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeFn {
    /// `clock()`: process CPU time in seconds.
    Clock,
}

#[derive(Trace)]
pub struct Native {
    pub function: NativeFn,
}

/// A function with the variables it captured.
#[derive(Trace)]
pub struct Closure {
    /// A `Function`.
    pub function: Member<Obj>,
    /// `Upvalue`s, one per captured variable; null when there are none.
    pub upvalues: Member<Slice<Member<Obj>>>,
}

/// `Upvalue::slot` once the variable has left the stack.
pub const CLOSED: usize = usize::MAX;

/// A captured variable: open (on the stack) or closed (moved in here).
#[derive(Trace)]
pub struct Upvalue {
    pub slot: AtomicUsize,
    pub closed: ValueSlot<Obj>,
}

impl Upvalue {
    /// The stack slot of an open upvalue, None once closed.
    #[inline]
    pub fn open_slot(&self) -> Option<usize> {
        let s = self.slot.load(Ordering::Relaxed);
        (s != CLOSED).then_some(s)
    }

    /// Moves `value` (the variable's last value on the stack) in.
    pub fn close(&self, m: &Mutator, value: Val<'_>) {
        self.closed.set(m, value);
        self.slot.store(CLOSED, Ordering::Relaxed);
    }
}

#[derive(Trace)]
pub struct Class {
    /// A `Str`.
    pub name: Member<Obj>,
    /// Method name (`Str`) → `Closure`.
    pub methods: HeapMap<Obj>,
}

#[derive(Trace)]
pub struct Instance {
    /// A `Class`.
    pub class: Member<Obj>,
    /// Field name (`Str`) → value.
    pub fields: HeapMap<Obj>,
}

#[derive(Trace)]
pub struct BoundMethod {
    pub receiver: ValueSlot<Obj>,
    /// A `Closure`.
    pub method: Member<Obj>,
}

/// FNV-1a over the bytes, as clox hashes strings.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 2_166_136_261;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(16_777_619);
    }
    hash
}

/// The unique live string with these characters (made if there is none).
pub fn intern<'m>(m: &'m Mutator, strings: &WeakSet<Obj>, s: &str) -> Gc<'m, Obj> {
    let hash = fnv1a(s.as_bytes());
    strings.intern(
        m,
        u64::from(hash),
        |o| matches!(o, Obj::Str(x) if &*x.chars == s),
        |m| {
            m.alloc(Obj::Str(LoxStr {
                hash,
                chars: s.into(),
            }))
        },
    )
}

/// The characters of a value known to be a string.
pub fn str_of(o: &Obj) -> &str {
    match o {
        Obj::Str(s) => &s.chars,
        _ => "",
    }
}

/// Makes a heap Function (and, first, those nested in its constants) from
/// a compiled prototype; `global_slot` gives the global variable slot of
/// each string constant (see `Code::global_slots`). No safepoint runs
/// meanwhile, so the parts held only in locals stay alive.
pub fn load_function<'m>(
    m: &'m Mutator,
    strings: &WeakSet<Obj>,
    global_slot: &mut dyn FnMut(&str) -> u32,
    proto: FunctionProto,
) -> Gc<'m, Obj> {
    let FunctionProto {
        name,
        mut code,
        constants,
    } = proto;
    code.global_slots = constants
        .iter()
        .map(|c| match c {
            Constant::Str(s) => global_slot(s),
            _ => u32::MAX,
        })
        .collect();
    let function = m.alloc(Obj::Function(Function {
        code: Box::new(code),
        name: Member::null(),
        constants: Member::null(),
    }));
    let Obj::Function(f) = &*function else {
        unreachable!("just allocated a Function")
    };
    if let Some(name) = name {
        f.name.set(m, Some(intern(m, strings, &name)));
    }
    if !constants.is_empty() {
        let slots = m.alloc_slice(constants.len(), |_| ValueSlot::nil());
        f.constants.set(m, Some(slots));
        for (slot, c) in slots.iter().zip(constants) {
            let v = match c {
                Constant::Number(x) => Val::from_number(x),
                Constant::Str(s) => Val::from_gc(intern(m, strings, &s)),
                Constant::Function(p) => Val::from_gc(load_function(m, strings, global_slot, *p)),
            };
            slot.set(m, v);
        }
    }
    function
}

/// Appends the text `print` shows for `v`.
pub fn format_value(m: &Mutator, v: Val<'_>, out: &mut String) {
    if let Some(x) = v.as_number() {
        out.push_str(&format_g(x));
    } else if let Some(b) = v.as_bool() {
        out.push_str(if b { "true" } else { "false" });
    } else if let Some(g) = v.as_gc() {
        format_object(m, &g, out);
    } else {
        out.push_str("nil");
    }
}

fn format_function(m: &Mutator, function: &Obj, out: &mut String) {
    if let Obj::Function(f) = function {
        match f.name.get(m) {
            Some(name) => {
                out.push_str("<fn ");
                out.push_str(str_of(&name));
                out.push('>');
            }
            None => out.push_str("<script>"),
        }
    }
}

fn format_closure(m: &Mutator, closure: &Obj, out: &mut String) {
    if let Obj::Closure(c) = closure {
        if let Some(f) = c.function.get(m) {
            format_function(m, &f, out);
        }
    }
}

fn format_object(m: &Mutator, o: &Obj, out: &mut String) {
    match o {
        Obj::Str(s) => out.push_str(&s.chars),
        Obj::Function(_) => format_function(m, o, out),
        Obj::Native(_) => out.push_str("<native fn>"),
        Obj::Closure(_) => format_closure(m, o, out),
        Obj::Upvalue(_) => out.push_str("upvalue"),
        Obj::Class(c) => {
            if let Some(name) = c.name.get(m) {
                out.push_str(str_of(&name));
            }
        }
        Obj::Instance(i) => {
            if let Some(class) = i.class.get(m) {
                if let Obj::Class(c) = &*class {
                    if let Some(name) = c.name.get(m) {
                        out.push_str(str_of(&name));
                    }
                }
            }
            out.push_str(" instance");
        }
        Obj::BoundMethod(b) => {
            if let Some(method) = b.method.get(m) {
                format_closure(m, &method, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn fnv1a_matches_clox() {
        assert_eq!(fnv1a(b""), 2_166_136_261);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }
}
