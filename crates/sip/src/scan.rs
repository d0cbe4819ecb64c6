//! A byte cursor over header text, with the RFC 3261 section 25.1 lexical rules that every
//! header grammar shares: LWS, tokens, quoted strings, separators.
//!
//! It works on `&str` (the header section is checked to be UTF-8 before anything is scanned),
//! so that every slice it hands out is already a valid string.

/// Characters of RFC 3261 `token`: alphanum and `-.!%*_+`~'`.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `unreserved` of RFC 3261: alphanum / mark.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// True when `s` is a non-empty RFC 3261 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// A cursor over one header value (or one start-line element).
#[derive(Debug, Clone)]
pub(crate) struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    pub(crate) fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Skips linear white space. Folding has already been replaced by a single SP when the
    /// header was unfolded, so only SP and HTAB remain.
    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Consumes `c` if it is next (no white space skipped).
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `SWS c SWS` of RFC 3261 (SEMI, COMMA, EQUAL, SLASH, COLON...): consumes the separator
    /// and the white space around it. Leaves the cursor untouched when `c` is not next.
    pub(crate) fn eat_sep(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.eat(c) {
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Takes bytes while `f` holds; may return an empty string.
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !f(b) {
                break;
            }
            self.pos += 1;
        }
        // Every predicate used stops on ASCII bytes only or takes whole UTF-8 sequences
        // (bytes >= 0x80 are either all taken or all refused), so the slice is on boundaries.
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// A non-empty token.
    pub(crate) fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token_char);
        (!t.is_empty()).then_some(t)
    }

    /// A quoted-string, returned with its quotes and escapes exactly as written.
    ///
    /// `quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)`; qdtext excludes `"` and `\`.
    pub(crate) fn quoted_string(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.eat(b'"') {
            return None;
        }
        let bytes = self.s.as_bytes();
        loop {
            match bytes.get(self.pos) {
                None => {
                    self.pos = start;
                    return None;
                }
                Some(b'"') => {
                    self.pos += 1;
                    return self.s.get(start..self.pos);
                }
                Some(b'\\') => match bytes.get(self.pos + 1) {
                    Some(&b) if b <= 0x7f && b != b'\n' && b != b'\r' => self.pos += 2,
                    _ => {
                        self.pos = start;
                        return None;
                    }
                },
                Some(&b) if b == 0x7f || (b < 0x20 && b != b'\t') => {
                    self.pos = start;
                    return None;
                }
                Some(_) => self.pos += 1,
            }
        }
    }
}

/// Removes the quotes and backslash escapes of a quoted-string. Input without quotes is
/// returned unchanged.
pub fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `s` as a quoted-string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Checks `%HH` escapes and that every other byte satisfies `allowed`.
pub(crate) fn is_escaped_text(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else if allowed(c) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Decodes `%HH` escapes. Escapes that do not form UTF-8 are kept as written.
pub fn unescape(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |x: u8| (x as char).to_digit(16);
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&x| hex(x)),
                b.get(i + 2).and_then(|&x| hex(x)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_keep_escapes() {
        let mut s = Scanner::new(r#""a \"b\" c" rest"#);
        assert_eq!(s.quoted_string(), Some(r#""a \"b\" c""#));
        assert_eq!(unquote(r#""a \"b\" c""#), r#"a "b" c"#);
        assert_eq!(quote(r#"a "b""#), r#""a \"b\"""#);
    }

    #[test]
    fn unterminated_quote_is_refused() {
        let mut s = Scanner::new(r#""abc"#);
        assert_eq!(s.quoted_string(), None);
        assert_eq!(s.rest(), r#""abc"#);
    }

    #[test]
    fn escapes() {
        assert!(is_escaped_text("a%20b", is_unreserved));
        assert!(!is_escaped_text("a%2", is_unreserved));
        assert_eq!(unescape("a%20b%zz"), "a b%zz");
    }
}
