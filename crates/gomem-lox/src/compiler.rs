//! Compiler: a single-pass Pratt parser that turns Lox source into a tree
//! of [`FunctionProto`]s, with clox's grammar, bytecode, limits and error
//! messages.
//!
//! State: one [`FnState`] per function being compiled (innermost last; the
//! script is the first), each with its locals and upvalues as clox keeps
//! them; one [`ClassState`] per class being compiled. Errors are collected
//! as the exact lines clox prints (`[line N] Error at 'x': message`); after
//! the first error the parser is in panic mode and reports nothing more
//! until it resynchronises at a statement boundary. A compile that reported
//! any error yields no code.
//!
//! Limits (clox's): 256 constants per function, 256 locals, 256 upvalues,
//! 255 parameters and arguments, jumps and loops within a u16.

use crate::chunk::{Constant, FunctionProto, OpCode, MAX_CONSTANTS};
use crate::scanner::{Scanner, Token, TokenKind};

/// Most locals live at once in one function (clox's `UINT8_COUNT`).
pub const MAX_LOCALS: usize = 256;
/// Most upvalues one function may capture (clox's `UINT8_COUNT`).
pub const MAX_UPVALUES: usize = 256;
/// Most parameters of a function and arguments of a call.
pub const MAX_ARGS: usize = 255;

/// Binding power, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    None,
    Assignment,
    Or,
    And,
    Equality,
    Comparison,
    Term,
    Factor,
    Unary,
    Call,
    Primary,
}

impl Prec {
    fn next(self) -> Prec {
        use Prec::*;
        match self {
            None => Assignment,
            Assignment => Or,
            Or => And,
            And => Equality,
            Equality => Comparison,
            Comparison => Term,
            Term => Factor,
            Factor => Unary,
            Unary => Call,
            Call | Primary => Primary,
        }
    }
}

/// The infix binding power of a token (clox's rules table).
fn infix_prec(kind: TokenKind) -> Prec {
    use TokenKind::*;
    match kind {
        LeftParen | Dot => Prec::Call,
        Minus | Plus => Prec::Term,
        Slash | Star => Prec::Factor,
        BangEqual | EqualEqual => Prec::Equality,
        Greater | GreaterEqual | Less | LessEqual => Prec::Comparison,
        And => Prec::And,
        Or => Prec::Or,
        _ => Prec::None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FnKind {
    Function,
    Initializer,
    Method,
    Script,
}

/// Depth of a local declared but not yet initialised.
const UNINITIALIZED: i32 = -1;

struct Local<'src> {
    name: &'src str,
    depth: i32,
    is_captured: bool,
}

#[derive(Clone, Copy)]
struct UpvalueRef {
    index: u8,
    is_local: bool,
}

struct FnState<'src> {
    proto: FunctionProto,
    kind: FnKind,
    locals: Vec<Local<'src>>,
    upvalues: Vec<UpvalueRef>,
    scope_depth: i32,
}

struct ClassState {
    has_superclass: bool,
}

/// Compiles a whole program. On failure, returns the error lines in the
/// order clox prints them.
pub fn compile(source: &str) -> Result<FunctionProto, Vec<String>> {
    let mut c = Compiler::new(source);
    c.advance();
    while !c.match_token(TokenKind::Eof) {
        c.declaration();
    }
    let (proto, _) = c.end_function();
    if c.had_error {
        Err(c.errors)
    } else {
        Ok(proto)
    }
}

struct Compiler<'src> {
    scanner: Scanner<'src>,
    current: Token<'src>,
    previous: Token<'src>,
    had_error: bool,
    panic_mode: bool,
    errors: Vec<String>,
    fns: Vec<FnState<'src>>,
    classes: Vec<ClassState>,
}

impl<'src> Compiler<'src> {
    fn new(source: &'src str) -> Compiler<'src> {
        let eof = Token {
            kind: TokenKind::Eof,
            lexeme: "",
            line: 1,
        };
        let mut c = Compiler {
            scanner: Scanner::new(source),
            current: eof,
            previous: eof,
            had_error: false,
            panic_mode: false,
            errors: Vec::new(),
            fns: Vec::new(),
            classes: Vec::new(),
        };
        c.begin_function(FnKind::Script);
        c
    }

    // ---- errors ------------------------------------------------------

    fn error_at(&mut self, token: Token<'src>, message: &str) {
        if self.panic_mode {
            return;
        }
        self.panic_mode = true;
        let place = match token.kind {
            TokenKind::Eof => " at end".to_string(),
            TokenKind::Error => String::new(),
            _ => format!(" at '{}'", token.lexeme),
        };
        self.errors
            .push(format!("[line {}] Error{}: {}", token.line, place, message));
        self.had_error = true;
    }

    fn error(&mut self, message: &str) {
        self.error_at(self.previous, message);
    }

    fn error_at_current(&mut self, message: &str) {
        self.error_at(self.current, message);
    }

    // ---- tokens ------------------------------------------------------

    fn advance(&mut self) {
        self.previous = self.current;
        loop {
            self.current = self.scanner.scan_token();
            if self.current.kind != TokenKind::Error {
                break;
            }
            let message = self.current.lexeme;
            self.error_at_current(message);
        }
    }

    fn consume(&mut self, kind: TokenKind, message: &str) {
        if self.current.kind == kind {
            self.advance();
        } else {
            self.error_at_current(message);
        }
    }

    fn check(&self, kind: TokenKind) -> bool {
        self.current.kind == kind
    }

    fn match_token(&mut self, kind: TokenKind) -> bool {
        if !self.check(kind) {
            return false;
        }
        self.advance();
        true
    }

    // ---- emitting ----------------------------------------------------

    fn fs(&mut self) -> &mut FnState<'src> {
        self.fns.last_mut().expect("a function is being compiled")
    }

    fn code_len(&self) -> usize {
        self.fns.last().expect("function").proto.code.bytes.len()
    }

    fn emit(&mut self, byte: u8) {
        let line = self.previous.line;
        self.fs().proto.write(byte, line);
    }

    fn emit_op(&mut self, op: OpCode) {
        self.emit(op as u8);
    }

    fn emit_op_arg(&mut self, op: OpCode, arg: u8) {
        self.emit(op as u8);
        self.emit(arg);
    }

    fn emit_loop(&mut self, loop_start: usize) {
        self.emit_op(OpCode::Loop);
        let offset = self.code_len() - loop_start + 2;
        if offset > u16::MAX as usize {
            self.error("Loop body too large.");
        }
        self.emit(((offset >> 8) & 0xff) as u8);
        self.emit((offset & 0xff) as u8);
    }

    fn emit_jump(&mut self, op: OpCode) -> usize {
        self.emit_op(op);
        self.emit(0xff);
        self.emit(0xff);
        self.code_len() - 2
    }

    fn patch_jump(&mut self, offset: usize) {
        let jump = self.code_len() - offset - 2;
        if jump > u16::MAX as usize {
            self.error("Too much code to jump over.");
        }
        let code = &mut self.fs().proto.code.bytes;
        code[offset] = ((jump >> 8) & 0xff) as u8;
        code[offset + 1] = (jump & 0xff) as u8;
    }

    fn emit_return(&mut self) {
        if self.fs().kind == FnKind::Initializer {
            self.emit_op_arg(OpCode::GetLocal, 0);
        } else {
            self.emit_op(OpCode::Nil);
        }
        self.emit_op(OpCode::Return);
    }

    fn make_constant(&mut self, value: Constant) -> u8 {
        let constants = &mut self.fs().proto.constants;
        constants.push(value);
        let index = constants.len() - 1;
        if index >= MAX_CONSTANTS {
            self.error("Too many constants in one chunk.");
            return 0;
        }
        index as u8
    }

    fn emit_constant(&mut self, value: Constant) {
        let index = self.make_constant(value);
        self.emit_op_arg(OpCode::Constant, index);
    }

    // ---- functions and scopes -----------------------------------------

    fn begin_function(&mut self, kind: FnKind) {
        let mut proto = FunctionProto::default();
        if kind != FnKind::Script {
            proto.name = Some(self.previous.lexeme.into());
        }
        let slot_zero = if kind == FnKind::Function { "" } else { "this" };
        self.fns.push(FnState {
            proto,
            kind,
            locals: vec![Local {
                name: slot_zero,
                depth: 0,
                is_captured: false,
            }],
            upvalues: Vec::new(),
            scope_depth: 0,
        });
    }

    fn end_function(&mut self) -> (FunctionProto, Vec<UpvalueRef>) {
        self.emit_return();
        let mut state = self.fns.pop().expect("function");
        state.proto.code.upvalue_count = state.upvalues.len();
        (state.proto, state.upvalues)
    }

    fn begin_scope(&mut self) {
        self.fs().scope_depth += 1;
    }

    fn end_scope(&mut self) {
        self.fs().scope_depth -= 1;
        loop {
            let fs = self.fs();
            let Some(last) = fs.locals.last() else { break };
            if last.depth <= fs.scope_depth {
                break;
            }
            let op = if last.is_captured {
                OpCode::CloseUpvalue
            } else {
                OpCode::Pop
            };
            fs.locals.pop();
            self.emit_op(op);
        }
    }

    fn identifier_constant(&mut self, name: &str) -> u8 {
        self.make_constant(Constant::Str(name.into()))
    }

    /// The slot of `name` among the locals of function `fi`.
    fn resolve_local(&mut self, fi: usize, name: &str) -> Option<usize> {
        let found = self.fns[fi].locals.iter().rposition(|l| l.name == name)?;
        if self.fns[fi].locals[found].depth == UNINITIALIZED {
            self.error("Can't read local variable in its own initializer.");
        }
        Some(found)
    }

    fn add_upvalue(&mut self, fi: usize, index: u8, is_local: bool) -> usize {
        let upvalues = &self.fns[fi].upvalues;
        if let Some(i) = upvalues
            .iter()
            .position(|u| u.index == index && u.is_local == is_local)
        {
            return i;
        }
        if upvalues.len() == MAX_UPVALUES {
            self.error("Too many closure variables in function.");
            return 0;
        }
        self.fns[fi].upvalues.push(UpvalueRef { index, is_local });
        self.fns[fi].upvalues.len() - 1
    }

    fn resolve_upvalue(&mut self, fi: usize, name: &str) -> Option<usize> {
        if fi == 0 {
            return None;
        }
        if let Some(local) = self.resolve_local(fi - 1, name) {
            self.fns[fi - 1].locals[local].is_captured = true;
            return Some(self.add_upvalue(fi, local as u8, true));
        }
        let upvalue = self.resolve_upvalue(fi - 1, name)?;
        Some(self.add_upvalue(fi, upvalue as u8, false))
    }

    fn add_local(&mut self, name: &'src str) {
        if self.fs().locals.len() == MAX_LOCALS {
            self.error("Too many local variables in function.");
            return;
        }
        self.fs().locals.push(Local {
            name,
            depth: UNINITIALIZED,
            is_captured: false,
        });
    }

    fn declare_variable(&mut self) {
        if self.fs().scope_depth == 0 {
            return;
        }
        let name = self.previous.lexeme;
        let fs = self.fns.last().expect("function");
        let duplicate = fs
            .locals
            .iter()
            .rev()
            .take_while(|l| l.depth == UNINITIALIZED || l.depth >= fs.scope_depth)
            .any(|l| l.name == name);
        if duplicate {
            self.error("Already a variable with this name in this scope.");
        }
        self.add_local(name);
    }

    fn parse_variable(&mut self, message: &str) -> u8 {
        self.consume(TokenKind::Identifier, message);
        self.declare_variable();
        if self.fs().scope_depth > 0 {
            return 0;
        }
        let name = self.previous.lexeme;
        self.identifier_constant(name)
    }

    fn mark_initialized(&mut self) {
        let fs = self.fs();
        if fs.scope_depth == 0 {
            return;
        }
        let depth = fs.scope_depth;
        if let Some(last) = fs.locals.last_mut() {
            last.depth = depth;
        }
    }

    fn define_variable(&mut self, global: u8) {
        if self.fs().scope_depth > 0 {
            self.mark_initialized();
            return;
        }
        self.emit_op_arg(OpCode::DefineGlobal, global);
    }

    fn argument_list(&mut self) -> u8 {
        let mut count: usize = 0;
        if !self.check(TokenKind::RightParen) {
            loop {
                self.expression();
                if count == MAX_ARGS {
                    self.error("Can't have more than 255 arguments.");
                }
                count += 1;
                if !self.match_token(TokenKind::Comma) {
                    break;
                }
            }
        }
        self.consume(TokenKind::RightParen, "Expect ')' after arguments.");
        count as u8
    }

    // ---- expressions -------------------------------------------------

    fn expression(&mut self) {
        self.parse_precedence(Prec::Assignment);
    }

    fn parse_precedence(&mut self, prec: Prec) {
        self.advance();
        let can_assign = prec <= Prec::Assignment;
        if !self.prefix(self.previous.kind, can_assign) {
            self.error("Expect expression.");
            return;
        }
        while prec <= infix_prec(self.current.kind) {
            self.advance();
            self.infix(self.previous.kind, can_assign);
        }
        if can_assign && self.match_token(TokenKind::Equal) {
            self.error("Invalid assignment target.");
        }
    }

    /// Runs the prefix rule of `kind`; false if it has none.
    fn prefix(&mut self, kind: TokenKind, can_assign: bool) -> bool {
        use TokenKind::*;
        match kind {
            LeftParen => {
                self.expression();
                self.consume(RightParen, "Expect ')' after expression.");
            }
            Minus | Bang => {
                self.parse_precedence(Prec::Unary);
                self.emit_op(if kind == Minus {
                    OpCode::Negate
                } else {
                    OpCode::Not
                });
            }
            String => {
                let lexeme = self.previous.lexeme;
                let text = &lexeme[1..lexeme.len() - 1];
                self.emit_constant(Constant::Str(text.into()));
            }
            Number => {
                let value: f64 = self.previous.lexeme.parse().unwrap_or(0.0);
                self.emit_constant(Constant::Number(value));
            }
            Identifier => self.named_variable(self.previous, can_assign),
            False => self.emit_op(OpCode::False),
            Nil => self.emit_op(OpCode::Nil),
            True => self.emit_op(OpCode::True),
            Super => self.super_(),
            This => {
                if self.classes.is_empty() {
                    self.error("Can't use 'this' outside of a class.");
                } else {
                    self.named_variable(self.previous, false);
                }
            }
            _ => return false,
        }
        true
    }

    fn infix(&mut self, kind: TokenKind, can_assign: bool) {
        use TokenKind::*;
        match kind {
            LeftParen => {
                let argc = self.argument_list();
                self.emit_op_arg(OpCode::Call, argc);
            }
            Dot => self.dot(can_assign),
            And => {
                let end_jump = self.emit_jump(OpCode::JumpIfFalse);
                self.emit_op(OpCode::Pop);
                self.parse_precedence(Prec::And);
                self.patch_jump(end_jump);
            }
            Or => {
                let else_jump = self.emit_jump(OpCode::JumpIfFalse);
                let end_jump = self.emit_jump(OpCode::Jump);
                self.patch_jump(else_jump);
                self.emit_op(OpCode::Pop);
                self.parse_precedence(Prec::Or);
                self.patch_jump(end_jump);
            }
            _ => self.binary(kind),
        }
    }

    fn binary(&mut self, kind: TokenKind) {
        use TokenKind::*;
        self.parse_precedence(infix_prec(kind).next());
        match kind {
            BangEqual => {
                self.emit_op(OpCode::Equal);
                self.emit_op(OpCode::Not);
            }
            EqualEqual => self.emit_op(OpCode::Equal),
            Greater => self.emit_op(OpCode::Greater),
            GreaterEqual => {
                self.emit_op(OpCode::Less);
                self.emit_op(OpCode::Not);
            }
            Less => self.emit_op(OpCode::Less),
            LessEqual => {
                self.emit_op(OpCode::Greater);
                self.emit_op(OpCode::Not);
            }
            Plus => self.emit_op(OpCode::Add),
            Minus => self.emit_op(OpCode::Subtract),
            Star => self.emit_op(OpCode::Multiply),
            Slash => self.emit_op(OpCode::Divide),
            _ => {}
        }
    }

    fn dot(&mut self, can_assign: bool) {
        self.consume(TokenKind::Identifier, "Expect property name after '.'.");
        let name = self.previous.lexeme;
        let name = self.identifier_constant(name);
        if can_assign && self.match_token(TokenKind::Equal) {
            self.expression();
            self.emit_op_arg(OpCode::SetProperty, name);
        } else if self.match_token(TokenKind::LeftParen) {
            let argc = self.argument_list();
            self.emit_op_arg(OpCode::Invoke, name);
            self.emit(argc);
        } else {
            self.emit_op_arg(OpCode::GetProperty, name);
        }
    }

    fn named_variable(&mut self, name: Token<'src>, can_assign: bool) {
        let fi = self.fns.len() - 1;
        let (get, set, arg) = if let Some(slot) = self.resolve_local(fi, name.lexeme) {
            (OpCode::GetLocal, OpCode::SetLocal, slot as u8)
        } else if let Some(index) = self.resolve_upvalue(fi, name.lexeme) {
            (OpCode::GetUpvalue, OpCode::SetUpvalue, index as u8)
        } else {
            let index = self.identifier_constant(name.lexeme);
            (OpCode::GetGlobal, OpCode::SetGlobal, index)
        };
        if can_assign && self.match_token(TokenKind::Equal) {
            self.expression();
            self.emit_op_arg(set, arg);
        } else {
            self.emit_op_arg(get, arg);
        }
    }

    fn super_(&mut self) {
        match self.classes.last() {
            None => self.error("Can't use 'super' outside of a class."),
            Some(c) if !c.has_superclass => {
                self.error("Can't use 'super' in a class with no superclass.")
            }
            Some(_) => {}
        }
        self.consume(TokenKind::Dot, "Expect '.' after 'super'.");
        self.consume(TokenKind::Identifier, "Expect superclass method name.");
        let name = self.previous.lexeme;
        let name = self.identifier_constant(name);
        self.named_variable(Token::synthetic("this"), false);
        if self.match_token(TokenKind::LeftParen) {
            let argc = self.argument_list();
            self.named_variable(Token::synthetic("super"), false);
            self.emit_op_arg(OpCode::SuperInvoke, name);
            self.emit(argc);
        } else {
            self.named_variable(Token::synthetic("super"), false);
            self.emit_op_arg(OpCode::GetSuper, name);
        }
    }

    // ---- declarations and statements ----------------------------------

    fn declaration(&mut self) {
        if self.match_token(TokenKind::Class) {
            self.class_declaration();
        } else if self.match_token(TokenKind::Fun) {
            self.fun_declaration();
        } else if self.match_token(TokenKind::Var) {
            self.var_declaration();
        } else {
            self.statement();
        }
        if self.panic_mode {
            self.synchronize();
        }
    }

    fn synchronize(&mut self) {
        use TokenKind::*;
        self.panic_mode = false;
        while self.current.kind != Eof {
            if self.previous.kind == Semicolon {
                return;
            }
            if matches!(
                self.current.kind,
                Class | Fun | Var | For | If | While | Print | Return
            ) {
                return;
            }
            self.advance();
        }
    }

    fn block(&mut self) {
        while !self.check(TokenKind::RightBrace) && !self.check(TokenKind::Eof) {
            self.declaration();
        }
        self.consume(TokenKind::RightBrace, "Expect '}' after block.");
    }

    fn function(&mut self, kind: FnKind) {
        self.begin_function(kind);
        self.begin_scope();
        self.consume(TokenKind::LeftParen, "Expect '(' after function name.");
        if !self.check(TokenKind::RightParen) {
            loop {
                self.fs().proto.code.arity += 1;
                if self.fs().proto.code.arity > MAX_ARGS {
                    self.error_at_current("Can't have more than 255 parameters.");
                }
                let constant = self.parse_variable("Expect parameter name.");
                self.define_variable(constant);
                if !self.match_token(TokenKind::Comma) {
                    break;
                }
            }
        }
        self.consume(TokenKind::RightParen, "Expect ')' after parameters.");
        self.consume(TokenKind::LeftBrace, "Expect '{' before function body.");
        self.block();
        let (proto, upvalues) = self.end_function();
        let index = self.make_constant(Constant::Function(Box::new(proto)));
        self.emit_op_arg(OpCode::Closure, index);
        for u in upvalues {
            self.emit(u8::from(u.is_local));
            self.emit(u.index);
        }
    }

    fn method(&mut self) {
        self.consume(TokenKind::Identifier, "Expect method name.");
        let name = self.previous.lexeme;
        let constant = self.identifier_constant(name);
        let kind = if name == "init" {
            FnKind::Initializer
        } else {
            FnKind::Method
        };
        self.function(kind);
        self.emit_op_arg(OpCode::Method, constant);
    }

    fn class_declaration(&mut self) {
        self.consume(TokenKind::Identifier, "Expect class name.");
        let class_name = self.previous;
        let name_constant = self.identifier_constant(class_name.lexeme);
        self.declare_variable();
        self.emit_op_arg(OpCode::Class, name_constant);
        self.define_variable(name_constant);

        self.classes.push(ClassState {
            has_superclass: false,
        });
        if self.match_token(TokenKind::Less) {
            self.consume(TokenKind::Identifier, "Expect superclass name.");
            self.named_variable(self.previous, false);
            if class_name.lexeme == self.previous.lexeme {
                self.error("A class can't inherit from itself.");
            }
            self.begin_scope();
            self.add_local("super");
            self.define_variable(0);
            self.named_variable(class_name, false);
            self.emit_op(OpCode::Inherit);
            if let Some(c) = self.classes.last_mut() {
                c.has_superclass = true;
            }
        }
        self.named_variable(class_name, false);
        self.consume(TokenKind::LeftBrace, "Expect '{' before class body.");
        while !self.check(TokenKind::RightBrace) && !self.check(TokenKind::Eof) {
            self.method();
        }
        self.consume(TokenKind::RightBrace, "Expect '}' after class body.");
        self.emit_op(OpCode::Pop);
        let class = self.classes.pop().expect("class");
        if class.has_superclass {
            self.end_scope();
        }
    }

    fn fun_declaration(&mut self) {
        let global = self.parse_variable("Expect function name.");
        self.mark_initialized();
        self.function(FnKind::Function);
        self.define_variable(global);
    }

    fn var_declaration(&mut self) {
        let global = self.parse_variable("Expect variable name.");
        if self.match_token(TokenKind::Equal) {
            self.expression();
        } else {
            self.emit_op(OpCode::Nil);
        }
        self.consume(
            TokenKind::Semicolon,
            "Expect ';' after variable declaration.",
        );
        self.define_variable(global);
    }

    fn expression_statement(&mut self) {
        self.expression();
        self.consume(TokenKind::Semicolon, "Expect ';' after expression.");
        self.emit_op(OpCode::Pop);
    }

    fn statement(&mut self) {
        if self.match_token(TokenKind::Print) {
            self.expression();
            self.consume(TokenKind::Semicolon, "Expect ';' after value.");
            self.emit_op(OpCode::Print);
        } else if self.match_token(TokenKind::For) {
            self.for_statement();
        } else if self.match_token(TokenKind::If) {
            self.if_statement();
        } else if self.match_token(TokenKind::Return) {
            self.return_statement();
        } else if self.match_token(TokenKind::While) {
            self.while_statement();
        } else if self.match_token(TokenKind::LeftBrace) {
            self.begin_scope();
            self.block();
            self.end_scope();
        } else {
            self.expression_statement();
        }
    }

    fn for_statement(&mut self) {
        self.begin_scope();
        self.consume(TokenKind::LeftParen, "Expect '(' after 'for'.");
        if self.match_token(TokenKind::Semicolon) {
            // No initializer.
        } else if self.match_token(TokenKind::Var) {
            self.var_declaration();
        } else {
            self.expression_statement();
        }

        let mut loop_start = self.code_len();
        let mut exit_jump = None;
        if !self.match_token(TokenKind::Semicolon) {
            self.expression();
            self.consume(TokenKind::Semicolon, "Expect ';' after loop condition.");
            exit_jump = Some(self.emit_jump(OpCode::JumpIfFalse));
            self.emit_op(OpCode::Pop);
        }

        if !self.match_token(TokenKind::RightParen) {
            let body_jump = self.emit_jump(OpCode::Jump);
            let increment_start = self.code_len();
            self.expression();
            self.emit_op(OpCode::Pop);
            self.consume(TokenKind::RightParen, "Expect ')' after for clauses.");
            self.emit_loop(loop_start);
            loop_start = increment_start;
            self.patch_jump(body_jump);
        }

        self.statement();
        self.emit_loop(loop_start);
        if let Some(exit) = exit_jump {
            self.patch_jump(exit);
            self.emit_op(OpCode::Pop);
        }
        self.end_scope();
    }

    fn if_statement(&mut self) {
        self.consume(TokenKind::LeftParen, "Expect '(' after 'if'.");
        self.expression();
        self.consume(TokenKind::RightParen, "Expect ')' after condition.");
        let then_jump = self.emit_jump(OpCode::JumpIfFalse);
        self.emit_op(OpCode::Pop);
        self.statement();
        let else_jump = self.emit_jump(OpCode::Jump);
        self.patch_jump(then_jump);
        self.emit_op(OpCode::Pop);
        if self.match_token(TokenKind::Else) {
            self.statement();
        }
        self.patch_jump(else_jump);
    }

    fn return_statement(&mut self) {
        if self.fs().kind == FnKind::Script {
            self.error("Can't return from top-level code.");
        }
        if self.match_token(TokenKind::Semicolon) {
            self.emit_return();
        } else {
            if self.fs().kind == FnKind::Initializer {
                self.error("Can't return a value from an initializer.");
            }
            self.expression();
            self.consume(TokenKind::Semicolon, "Expect ';' after return value.");
            self.emit_op(OpCode::Return);
        }
    }

    fn while_statement(&mut self) {
        let loop_start = self.code_len();
        self.consume(TokenKind::LeftParen, "Expect '(' after 'while'.");
        self.expression();
        self.consume(TokenKind::RightParen, "Expect ')' after condition.");
        let exit_jump = self.emit_jump(OpCode::JumpIfFalse);
        self.emit_op(OpCode::Pop);
        self.statement();
        self.emit_loop(loop_start);
        self.patch_jump(exit_jump);
        self.emit_op(OpCode::Pop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        compile(src).expect_err("should not compile")
    }

    #[test]
    fn simple_expression_bytecode() {
        let f = compile("print 1 + 2;").unwrap();
        use OpCode::*;
        let expect: Vec<u8> = vec![
            Constant as u8,
            0,
            Constant as u8,
            1,
            Add as u8,
            Print as u8,
            Nil as u8,
            Return as u8,
        ];
        assert_eq!(f.code.bytes, expect);
        assert_eq!(f.code.lines, vec![1; 8]);
        assert_eq!(
            f.constants,
            vec![super::Constant::Number(1.0), super::Constant::Number(2.0)]
        );
    }

    #[test]
    fn error_formats() {
        assert_eq!(
            errors("print;"),
            vec!["[line 1] Error at ';': Expect expression."]
        );
        assert_eq!(
            errors("print 1"),
            vec!["[line 1] Error at end: Expect ';' after value."]
        );
        assert_eq!(
            errors("\"abc"),
            vec!["[line 1] Error: Unterminated string."]
        );
        assert_eq!(
            errors("return 1;\n1 = 2;"),
            vec![
                "[line 1] Error at 'return': Can't return from top-level code.",
                "[line 2] Error at '=': Invalid assignment target."
            ]
        );
        assert_eq!(
            errors("{ var a = a; }"),
            vec!["[line 1] Error at 'a': Can't read local variable in its own initializer."]
        );
    }

    #[test]
    fn closures_record_upvalues() {
        let f = compile("fun o() { var x; fun i() { return x; } }").unwrap();
        let Some(super::Constant::Function(outer)) = f
            .constants
            .iter()
            .find(|c| matches!(c, super::Constant::Function(_)))
        else {
            panic!("no function constant");
        };
        let Some(super::Constant::Function(inner)) = outer
            .constants
            .iter()
            .find(|c| matches!(c, super::Constant::Function(_)))
        else {
            panic!("no inner function");
        };
        assert_eq!(inner.code.upvalue_count, 1);
        assert_eq!(inner.name.as_deref(), Some("i"));
    }

    #[test]
    fn constant_limit() {
        let src: String = (0..300).map(|i| format!("{i};")).collect();
        let e = errors(&src);
        // Constants 256..299 each fail in their own statement.
        assert_eq!(e.len(), 300 - MAX_CONSTANTS);
        assert_eq!(
            e[0],
            "[line 1] Error at '256': Too many constants in one chunk."
        );
    }
}
