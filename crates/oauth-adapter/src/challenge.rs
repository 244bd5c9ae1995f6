//! A parser for `WWW-Authenticate` (RFC 9110 §11.6.1), enough to read the `Bearer` challenge
//! of an MCP server (RFC 6750 §3, RFC 9728 §5.1):
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! Challenges and their parameters share the comma, so after each parameter the parser looks
//! ahead: `token BWS "="` continues the challenge, anything else starts the next one. Names are
//! case-insensitive (kept lowercase); a name repeated in one challenge is an error (RFC 9110
//! §11.2), as is anything outside the grammar. Input is bounded; parsing never panics.

use std::fmt;

/// Longest header value parsed; anything longer is refused rather than scanned.
pub const MAX_LEN: usize = 16 * 1024;

/// One challenge: a scheme with either a token68 or parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as sent (compare with [`Challenge::is`]).
    pub scheme: String,
    pub token68: Option<String>,
    /// Parameters in order, names lowercase, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Whether this is a challenge of `scheme` (case-insensitive).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Where a header value leaves the grammar (a byte offset; the value itself is not repeated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed WWW-Authenticate header at byte {at}: {what}")]
pub struct ParseError {
    pub at: usize,
    pub what: &'static str,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.at + offset).copied()
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, ParseError> {
        Err(ParseError { at: self.at, what })
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.at += 1;
        }
    }

    /// Skips whitespace and empty list elements (`, ,`).
    fn skip_separators(&mut self) {
        while self.peek().is_some_and(|b| is_ws(b) || b == b',') {
            self.at += 1;
        }
    }

    fn run(&self, from: usize, pred: fn(u8) -> bool) -> usize {
        self.bytes[from..].iter().take_while(|b| pred(**b)).count()
    }

    fn token(&mut self) -> Result<String, ParseError> {
        let len = self.run(self.at, is_tchar);
        if len == 0 {
            return self.fail("expected a token");
        }
        let token = String::from_utf8_lossy(&self.bytes[self.at..self.at + len]).into_owned();
        self.at += len;
        Ok(token)
    }

    fn quoted_string(&mut self) -> Result<String, ParseError> {
        self.at += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.fail("unterminated quoted-string"),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => match self.peek_at(1) {
                    Some(b) if b == b'\t' || b >= 0x20 && b != 0x7f => {
                        out.push(b);
                        self.at += 2;
                    }
                    _ => return self.fail("bad quoted-pair"),
                },
                Some(b) if b == b'\t' || b >= 0x20 && b != 0x7f => {
                    out.push(b);
                    self.at += 1;
                }
                Some(_) => return self.fail("control character in a quoted-string"),
            }
        }
    }

    /// Whether `token BWS "="` starts here (an auth-param rather than a new challenge).
    fn at_auth_param(&self) -> bool {
        let name = self.run(self.at, is_tchar);
        name > 0 && {
            let after = self.at + name;
            let ws = self.run(after, is_ws);
            self.bytes.get(after + ws) == Some(&b'=')
        }
    }

    /// Whether a token68 (and nothing else of its element) starts here.
    fn at_token68(&self) -> Option<usize> {
        let body = self.run(self.at, is_token68_char);
        if body == 0 {
            return None;
        }
        let pad = self.run(self.at + body, |b| b == b'=');
        let end = self.at + body + pad;
        let ws = self.run(end, is_ws);
        matches!(self.bytes.get(end + ws), None | Some(b',')).then_some(body + pad)
    }

    fn auth_param(&mut self) -> Result<(String, String), ParseError> {
        let name = self.token()?.to_ascii_lowercase();
        self.skip_ws();
        if self.peek() != Some(b'=') {
            return self.fail("expected `=`");
        }
        self.at += 1;
        self.skip_ws();
        let value = if self.peek() == Some(b'"') { self.quoted_string()? } else { self.token()? };
        Ok((name, value))
    }

    fn challenge(&mut self) -> Result<Challenge, ParseError> {
        let scheme = self.token()?;
        let mut challenge = Challenge { scheme, token68: None, params: Vec::new() };
        if !self.peek().is_some_and(is_ws) {
            return match self.peek() {
                None | Some(b',') => Ok(challenge),
                Some(_) => self.fail("expected a space after the scheme"),
            };
        }
        self.skip_ws();
        if matches!(self.peek(), None | Some(b',')) {
            return Ok(challenge);
        }
        // A token68 run that ends its element cannot be an auth-param (whose value is never empty).
        if let Some(len) = self.at_token68() {
            challenge.token68 = Some(String::from_utf8_lossy(&self.bytes[self.at..self.at + len]).into_owned());
            self.at += len;
            return Ok(challenge);
        }
        loop {
            let (name, value) = self.auth_param()?;
            if challenge.params.iter().any(|(n, _)| *n == name) {
                return self.fail("a parameter appears twice in one challenge");
            }
            challenge.params.push((name, value));
            self.skip_ws();
            match self.peek() {
                None => return Ok(challenge),
                Some(b',') => {}
                Some(_) => return self.fail("expected `,` between parameters"),
            }
            let mark = self.at;
            self.skip_separators();
            if self.peek().is_none() || !self.at_auth_param() {
                self.at = mark;
                return Ok(challenge);
            }
        }
    }
}

/// Parses one header value into its challenges, in order.
pub fn parse(value: &str) -> Result<Vec<Challenge>, ParseError> {
    if value.len() > MAX_LEN {
        return Err(ParseError { at: MAX_LEN, what: "the header is too long" });
    }
    let mut cursor = Cursor { bytes: value.as_bytes(), at: 0 };
    let mut challenges = Vec::new();
    loop {
        cursor.skip_separators();
        if cursor.peek().is_none() {
            return Ok(challenges);
        }
        challenges.push(cursor.challenge()?);
        cursor.skip_ws();
        match cursor.peek() {
            None | Some(b',') => {}
            Some(_) => return cursor.fail("expected `,` between challenges"),
        }
    }
}

/// Writes challenges back as a header value, every parameter value as a quoted-string.
impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        if let Some(token) = &self.token68 {
            return write!(f, " {token}");
        }
        for (i, (name, value)) in self.params.iter().enumerate() {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            write!(f, "{}{name}=\"{escaped}\"", if i == 0 { " " } else { ", " })?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "challenge_tests.rs"]
mod tests;
