//! A byte cursor over a JSON body that checks the grammar as it skips (strings with their
//! escapes, numbers, literals, nested values to [`MAX_DEPTH`]): the envelope walk and the
//! one-pass record decoder both move with it.

use super::DecodeResult;

/// Values nested deeper than this in a record are refused (no recursion without bound).
pub(crate) const MAX_DEPTH: usize = 128;

/// A validated value's kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Val {
    #[default]
    Missing,
    Null,
    Str {
        escaped: bool,
    },
    Num,
    Bool,
    Nested,
}

/// A byte cursor over the body. Never panics: every access is checked.
pub(crate) struct Scanner<'a> {
    pub b: &'a [u8],
    pub i: usize,
}

impl Scanner<'_> {
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    pub fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += 1;
        c
    }
    pub fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }
    pub fn err(&self, what: &str) -> String {
        if self.i >= self.b.len() {
            return format!("the JSON body is truncated: it ends where {what} was expected");
        }
        format!("malformed data array: expected {what} at byte {}", self.i)
    }
    pub fn expect(&mut self, c: u8) -> DecodeResult<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("`{}`", c as char)))
        }
    }

    /// A string starting at `"`, leaving `i` after the closing quote; escapes are checked.
    /// Returns whether it holds any.
    pub fn string(&mut self) -> DecodeResult<bool> {
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            // A byte loop: the strings of a page are short, where memchr's set-up costs more.
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' {
                    break;
                }
                self.i += 1;
            }
            match self.next() {
                Some(b'"') => return Ok(escaped),
                Some(_) => {
                    escaped = true;
                    match self.next() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Some(b'u') => {
                            for _ in 0..4 {
                                if !self.next().is_some_and(|h| h.is_ascii_hexdigit()) {
                                    self.i -= 1;
                                    return Err(self.err("a hex digit of a \\u escape"));
                                }
                            }
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self
                                .err("an escape (one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)"));
                        }
                    }
                }
                None => return Err(self.err("the end of a string")),
            }
        }
    }

    /// One value, checked against the JSON grammar; `depth` counts the containers around it.
    pub fn value(&mut self, depth: usize) -> DecodeResult<Val> {
        match self.peek() {
            Some(b'"') => Ok(Val::Str {
                escaped: self.string()?,
            }),
            Some(b'{' | b'[') => {
                self.nested(depth + 1)?;
                Ok(Val::Nested)
            }
            Some(b't') => self.literal(b"true", Val::Bool),
            Some(b'f') => self.literal(b"false", Val::Bool),
            Some(b'n') => self.literal(b"null", Val::Null),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Ok(Val::Num)
            }
            _ => Err(self.err("a value")),
        }
    }

    fn literal(&mut self, word: &[u8], val: Val) -> DecodeResult<Val> {
        let end = self.i + word.len();
        if self.b.get(self.i..end) == Some(word) {
            self.i = end;
            Ok(val)
        } else {
            Err(self.err("a value"))
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> DecodeResult<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> DecodeResult<()> {
        let start = self.i;
        self.digits();
        if self.i == start {
            return Err(self.err("a digit"));
        }
        Ok(())
    }

    /// An object or array (at its opening bracket), checked to its closing one.
    fn nested(&mut self, depth: usize) -> DecodeResult<()> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "malformed data array: values nested deeper than {MAX_DEPTH} at byte {}",
                self.i
            ));
        }
        let close = if self.next() == Some(b'{') {
            b'}'
        } else {
            b']'
        };
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if close == b'}' {
                if self.peek() != Some(b'"') {
                    return Err(self.err("a key"));
                }
                self.string()?;
                self.ws();
                self.expect(b':')?;
                self.ws();
            }
            self.value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => {
                    let want = if close == b'}' {
                        "`,` or `}`"
                    } else {
                        "`,` or `]`"
                    };
                    return Err(self.err(want));
                }
            }
        }
    }

    /// Skips one value of the envelope (checked like any other).
    pub fn skip_value(&mut self) -> DecodeResult<()> {
        self.value(0).map(|_| ())
    }
}
