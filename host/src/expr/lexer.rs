//! Tokens of an expression body (the text after `@`, or inside `@{...}`).
//!
//! Positions are byte offsets into the whole JSON string the expression came from, so errors
//! can point into what the user wrote.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    /// `?.`
    QDot,
    /// `?[`
    QBracket,
    Eof,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
            Tok::Dot => "'.'".into(),
            Tok::QDot => "'?.'".into(),
            Tok::QBracket => "'?['".into(),
            Tok::Eof => "the end of the expression".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Splits `src[start..end]` into tokens; positions are offsets into `src`.
pub(crate) fn lex(src: &str, start: usize, end: usize) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        let c = bytes[i];
        let pos = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => out.push(Token {
                tok: Tok::LParen,
                pos,
            }),
            b')' => out.push(Token {
                tok: Tok::RParen,
                pos,
            }),
            b'[' => out.push(Token {
                tok: Tok::LBracket,
                pos,
            }),
            b']' => out.push(Token {
                tok: Tok::RBracket,
                pos,
            }),
            b',' => out.push(Token {
                tok: Tok::Comma,
                pos,
            }),
            b'?' => {
                match bytes.get(i + 1).filter(|_| i + 1 < end) {
                    Some(b'.') => out.push(Token {
                        tok: Tok::QDot,
                        pos,
                    }),
                    Some(b'[') => out.push(Token {
                        tok: Tok::QBracket,
                        pos,
                    }),
                    _ => return Err(ParseError::new(pos, "'?' must be followed by '.' or '['")),
                }
                i += 2;
                continue;
            }
            b'\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                let mut seg = j;
                loop {
                    if j >= end {
                        return Err(ParseError::new(pos, "unterminated string literal"));
                    }
                    if bytes[j] == b'\'' {
                        s.push_str(&src[seg..j]);
                        if j + 1 < end && bytes[j + 1] == b'\'' {
                            s.push('\'');
                            j += 2;
                            seg = j;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    pos,
                });
                i = j + 1;
                continue;
            }
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push(Token { tok: Tok::Dot, pos })
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let mut j = i + 1;
                while j < end
                    && (bytes[j].is_ascii_digit()
                        || bytes[j] == b'.'
                        || bytes[j] == b'e'
                        || bytes[j] == b'E'
                        || ((bytes[j] == b'-' || bytes[j] == b'+')
                            && (bytes[j - 1] == b'e' || bytes[j - 1] == b'E')))
                {
                    j += 1;
                }
                let text = &src[i..j];
                let tok = number(text).ok_or_else(|| {
                    ParseError::new(pos, format!("'{text}' is not a valid number"))
                })?;
                out.push(Token { tok, pos });
                i = j;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let mut j = i + 1;
                while j < end
                    && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'$')
                {
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(src[i..j].to_string()),
                    pos,
                });
                i = j;
                continue;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ParseError::new(pos, format!("unexpected character '{ch}'")));
            }
        }
        i += 1;
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: end,
    });
    Ok(out)
}

fn number(text: &str) -> Option<Tok> {
    let digits = text.trim_start_matches(['-', '+']);
    if digits.is_empty() {
        return None;
    }
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Tok::Int(i));
        }
    }
    let f: f64 = text.parse().ok()?;
    f.is_finite().then_some(Tok::Float(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s, 0, s.len())
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn lexes_literals_and_punctuation() {
        assert_eq!(
            toks("f('it''s', -5, .3, 1e3)?.a?['b']"),
            vec![
                Tok::Ident("f".into()),
                Tok::LParen,
                Tok::Str("it's".into()),
                Tok::Comma,
                Tok::Int(-5),
                Tok::Comma,
                Tok::Float(0.3),
                Tok::Comma,
                Tok::Float(1000.0),
                Tok::RParen,
                Tok::QDot,
                Tok::Ident("a".into()),
                Tok::QBracket,
                Tok::Str("b".into()),
                Tok::RBracket,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn reports_positions() {
        let e = lex("concat('a", 0, 9).unwrap_err();
        assert_eq!(e.pos, 7);
        let e = lex("a # b", 0, 5).unwrap_err();
        assert_eq!(e.pos, 2);
    }
}
