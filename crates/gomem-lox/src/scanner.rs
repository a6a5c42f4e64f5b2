//! Scanner: turns Lox source text into tokens on demand, one per call.
//!
//! It works on bytes, as clox does: every token except an error token starts
//! and ends on an ASCII byte (identifiers, numbers and keywords are ASCII,
//! strings are delimited by `"`), so a token's lexeme is always a valid
//! `&str` slice of the source. An error token carries its message as its
//! lexeme instead (the compiler prints it in place of `at '...'`). Lines count
//! from 1 and advance on every `\n`, inside strings too.

/// The kinds of token, in clox's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    // Single-character tokens.
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Comma,
    Dot,
    Minus,
    Plus,
    Semicolon,
    Slash,
    Star,
    // One or two character tokens.
    Bang,
    BangEqual,
    Equal,
    EqualEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    // Literals.
    Identifier,
    String,
    Number,
    // Keywords.
    And,
    Class,
    Else,
    False,
    For,
    Fun,
    If,
    Nil,
    Or,
    Print,
    Return,
    Super,
    This,
    True,
    Var,
    While,
    /// A lexical error; the lexeme is the message.
    Error,
    Eof,
}

/// One token: its kind, its text (or error message) and its line.
#[derive(Clone, Copy, Debug)]
pub struct Token<'src> {
    pub kind: TokenKind,
    pub lexeme: &'src str,
    pub line: u32,
}

impl<'src> Token<'src> {
    /// A token that does not come from the source (`this`, `super`).
    pub fn synthetic(text: &'static str) -> Token<'src> {
        Token {
            kind: TokenKind::Identifier,
            lexeme: text,
            line: 0,
        }
    }
}

/// The scanner's position in the source.
pub struct Scanner<'src> {
    source: &'src str,
    start: usize,
    current: usize,
    line: u32,
}

fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

impl<'src> Scanner<'src> {
    pub fn new(source: &'src str) -> Scanner<'src> {
        Scanner {
            source,
            start: 0,
            current: 0,
            line: 1,
        }
    }

    fn bytes(&self) -> &'src [u8] {
        self.source.as_bytes()
    }

    fn is_at_end(&self) -> bool {
        // A NUL byte ends the source, as it ends clox's C string.
        self.peek() == 0
    }

    fn peek(&self) -> u8 {
        self.bytes().get(self.current).copied().unwrap_or(0)
    }

    fn peek_next(&self) -> u8 {
        if self.is_at_end() {
            return 0;
        }
        self.bytes().get(self.current + 1).copied().unwrap_or(0)
    }

    fn advance(&mut self) -> u8 {
        let c = self.peek();
        self.current += 1;
        c
    }

    fn match_byte(&mut self, expected: u8) -> bool {
        if self.is_at_end() || self.peek() != expected {
            return false;
        }
        self.current += 1;
        true
    }

    fn make(&self, kind: TokenKind) -> Token<'src> {
        Token {
            kind,
            lexeme: &self.source[self.start..self.current],
            line: self.line,
        }
    }

    fn error(&self, message: &'static str) -> Token<'src> {
        Token {
            kind: TokenKind::Error,
            lexeme: message,
            line: self.line,
        }
    }

    fn skip_whitespace(&mut self) {
        loop {
            match self.peek() {
                b' ' | b'\r' | b'\t' => {
                    self.advance();
                }
                b'\n' => {
                    self.line += 1;
                    self.advance();
                }
                b'/' if self.peek_next() == b'/' => {
                    while self.peek() != b'\n' && !self.is_at_end() {
                        self.advance();
                    }
                }
                _ => return,
            }
        }
    }

    fn identifier_kind(&self) -> TokenKind {
        use TokenKind::*;
        match &self.source[self.start..self.current] {
            "and" => And,
            "class" => Class,
            "else" => Else,
            "false" => False,
            "for" => For,
            "fun" => Fun,
            "if" => If,
            "nil" => Nil,
            "or" => Or,
            "print" => Print,
            "return" => Return,
            "super" => Super,
            "this" => This,
            "true" => True,
            "var" => Var,
            "while" => While,
            _ => Identifier,
        }
    }

    fn identifier(&mut self) -> Token<'src> {
        while is_alpha(self.peek()) || self.peek().is_ascii_digit() {
            self.advance();
        }
        self.make(self.identifier_kind())
    }

    fn number(&mut self) -> Token<'src> {
        while self.peek().is_ascii_digit() {
            self.advance();
        }
        if self.peek() == b'.' && self.peek_next().is_ascii_digit() {
            self.advance();
            while self.peek().is_ascii_digit() {
                self.advance();
            }
        }
        self.make(TokenKind::Number)
    }

    fn string(&mut self) -> Token<'src> {
        while self.peek() != b'"' && !self.is_at_end() {
            if self.peek() == b'\n' {
                self.line += 1;
            }
            self.advance();
        }
        if self.is_at_end() {
            return self.error("Unterminated string.");
        }
        self.advance();
        self.make(TokenKind::String)
    }

    /// The next token (after the end, `Eof` forever).
    pub fn scan_token(&mut self) -> Token<'src> {
        use TokenKind::*;
        self.skip_whitespace();
        self.start = self.current;
        if self.is_at_end() {
            return self.make_eof();
        }
        let c = self.advance();
        if is_alpha(c) {
            return self.identifier();
        }
        if c.is_ascii_digit() {
            return self.number();
        }
        let kind = match c {
            b'(' => LeftParen,
            b')' => RightParen,
            b'{' => LeftBrace,
            b'}' => RightBrace,
            b';' => Semicolon,
            b',' => Comma,
            b'.' => Dot,
            b'-' => Minus,
            b'+' => Plus,
            b'/' => Slash,
            b'*' => Star,
            b'!' => self.pick(b'=', BangEqual, Bang),
            b'=' => self.pick(b'=', EqualEqual, Equal),
            b'<' => self.pick(b'=', LessEqual, Less),
            b'>' => self.pick(b'=', GreaterEqual, Greater),
            b'"' => return self.string(),
            _ => return self.error("Unexpected character."),
        };
        self.make(kind)
    }

    fn make_eof(&self) -> Token<'src> {
        Token {
            kind: TokenKind::Eof,
            lexeme: "",
            line: self.line,
        }
    }

    fn pick(&mut self, second: u8, two: TokenKind, one: TokenKind) -> TokenKind {
        if self.match_byte(second) {
            two
        } else {
            one
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let mut s = Scanner::new(src);
        let mut out = Vec::new();
        loop {
            let t = s.scan_token();
            out.push(t.kind);
            if t.kind == TokenKind::Eof {
                return out;
            }
        }
    }

    #[test]
    fn keywords_and_identifiers() {
        use TokenKind::*;
        assert_eq!(
            kinds("and andy class fun f _x1 this thisx"),
            vec![And, Identifier, Class, Fun, Identifier, Identifier, This, Identifier, Eof]
        );
    }

    #[test]
    fn operators_numbers_strings_and_lines() {
        use TokenKind::*;
        assert_eq!(
            kinds("!= == <= >= ! = < > 1.5 2. \"a\nb\""),
            vec![
                BangEqual,
                EqualEqual,
                LessEqual,
                GreaterEqual,
                Bang,
                Equal,
                Less,
                Greater,
                Number,
                Number,
                Dot,
                String,
                Eof
            ]
        );
        let mut s = Scanner::new("// c\n\"x\ny\" z");
        assert_eq!(s.scan_token().line, 3);
        assert_eq!(s.scan_token().line, 3);
    }

    #[test]
    fn errors() {
        let mut s = Scanner::new("\"open");
        let t = s.scan_token();
        assert_eq!(t.kind, TokenKind::Error);
        assert_eq!(t.lexeme, "Unterminated string.");
        let mut s = Scanner::new("é");
        assert_eq!(s.scan_token().lexeme, "Unexpected character.");
        assert_eq!(s.scan_token().lexeme, "Unexpected character.");
        assert_eq!(s.scan_token().kind, TokenKind::Eof);
    }
}
