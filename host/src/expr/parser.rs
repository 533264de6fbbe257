//! The expression grammar:
//!
//! ```text
//! expr    := primary ( '.' name | '?.' name | '[' expr ']' | '?[' expr ']' )*
//! primary := string | number | true | false | null | name '(' [ expr (',' expr)* ] ')'
//! ```
//!
//! Function names and the keywords are case-insensitive.

use super::lexer::{lex, Tok, Token};
use super::ParseError;

/// A parsed expression. `pos` is the byte offset of the node in the source string.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A function call; `name` as written.
    Call {
        name: String,
        args: Vec<Expr>,
    },
    /// `base.name` or, when `optional`, `base?.name`.
    Member {
        base: Box<Expr>,
        name: String,
        optional: bool,
    },
    /// `base[index]` or, when `optional`, `base?[index]`.
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
        optional: bool,
    },
}

/// How deep an expression may nest: calls within calls, indexes and member accesses. The
/// parser, the evaluator and dropping a parsed tree all recurse over it, so a bound keeps a
/// hostile expression (thousands of nested calls) from overflowing the stack; real pipelines
/// stay far below it.
pub const MAX_DEPTH: usize = 128;

/// Parses `src[start..end]` as one whole expression.
pub(crate) fn parse_range(src: &str, start: usize, end: usize) -> Result<Expr, ParseError> {
    let tokens = lex(src, start, end)?;
    let mut p = Parser {
        tokens,
        i: 0,
        nesting: 0,
    };
    if matches!(p.peek().tok, Tok::Eof) {
        return Err(ParseError::new(start, "the expression is empty"));
    }
    let (e, _) = p.expr()?;
    let t = p.peek();
    if !matches!(t.tok, Tok::Eof) {
        return Err(ParseError::new(
            t.pos,
            format!(
                "unexpected {} after a complete expression",
                t.tok.describe()
            ),
        ));
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    /// How many `expr` calls are open: bounded before recursing deeper.
    nesting: usize,
}

fn too_deep(pos: usize) -> ParseError {
    ParseError::new(
        pos,
        format!("the expression nests deeper than {MAX_DEPTH} levels (calls, indexes and member accesses within one another)"),
    )
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof, and `i` never passes it.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<Token, ParseError> {
        let t = self.next();
        if t.tok == want {
            Ok(t)
        } else {
            Err(ParseError::new(
                t.pos,
                format!("expected {what} but found {}", t.tok.describe()),
            ))
        }
    }

    /// One expression and the depth of its tree, both bounded by [`MAX_DEPTH`].
    fn expr(&mut self) -> Result<(Expr, usize), ParseError> {
        let pos = self.peek().pos;
        if self.nesting >= MAX_DEPTH {
            return Err(too_deep(pos));
        }
        self.nesting += 1;
        let r = self.chain();
        self.nesting -= 1;
        r
    }

    /// A primary followed by member accesses and indexes.
    fn chain(&mut self) -> Result<(Expr, usize), ParseError> {
        let (mut e, mut depth) = self.primary()?;
        loop {
            if depth > MAX_DEPTH {
                return Err(too_deep(e.pos));
            }
            let t = self.peek().clone();
            match t.tok {
                Tok::Dot | Tok::QDot => {
                    self.next();
                    let n = self.next();
                    let name = match n.tok {
                        Tok::Ident(s) => s,
                        // `a.1` style access is not ADF syntax, but names like `output.1col`
                        // are written with brackets; give a useful message.
                        other => {
                            return Err(ParseError::new(
                                n.pos,
                                format!(
                                    "expected a property name after '.' but found {}",
                                    other.describe()
                                ),
                            ))
                        }
                    };
                    e = Expr {
                        pos: t.pos,
                        kind: ExprKind::Member {
                            base: Box::new(e),
                            name,
                            optional: t.tok == Tok::QDot,
                        },
                    };
                    depth += 1;
                }
                Tok::LBracket | Tok::QBracket => {
                    self.next();
                    let (index, index_depth) = self.expr()?;
                    self.expect(Tok::RBracket, "']'")?;
                    depth = depth.max(index_depth) + 1;
                    e = Expr {
                        pos: t.pos,
                        kind: ExprKind::Index {
                            base: Box::new(e),
                            index: Box::new(index),
                            optional: t.tok == Tok::QBracket,
                        },
                    };
                }
                _ => return Ok((e, depth)),
            }
        }
    }

    fn primary(&mut self) -> Result<(Expr, usize), ParseError> {
        let t = self.next();
        let pos = t.pos;
        let mut depth = 1;
        let kind = match t.tok {
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Int(i) => ExprKind::Int(i),
            Tok::Float(f) => ExprKind::Float(f),
            Tok::Ident(name) => {
                if self.peek().tok == Tok::LParen {
                    self.next();
                    let mut args = Vec::new();
                    if self.peek().tok == Tok::RParen {
                        self.next();
                    } else {
                        loop {
                            let (arg, arg_depth) = self.expr()?;
                            depth = depth.max(arg_depth + 1);
                            args.push(arg);
                            let sep = self.next();
                            match sep.tok {
                                Tok::Comma => continue,
                                Tok::RParen => break,
                                other => {
                                    return Err(ParseError::new(
                                        sep.pos,
                                        format!(
                                            "expected ',' or ')' in the arguments of '{name}' but found {}",
                                            other.describe()
                                        ),
                                    ))
                                }
                            }
                        }
                    }
                    ExprKind::Call { name, args }
                } else {
                    match name.to_ascii_lowercase().as_str() {
                        "true" => ExprKind::Bool(true),
                        "false" => ExprKind::Bool(false),
                        "null" => ExprKind::Null,
                        _ => {
                            return Err(ParseError::new(
                                pos,
                                format!(
                                    "'{name}' is not a value: call a function such as '{name}()', or quote a string as '{name}'"
                                ),
                            ))
                        }
                    }
                }
            }
            other => {
                return Err(ParseError::new(
                    pos,
                    format!(
                        "expected a value or a function call but found {}",
                        other.describe()
                    ),
                ))
            }
        };
        Ok((Expr { kind, pos }, depth))
    }
}

impl Expr {
    /// Calls every function call node, depth first; used to find references such as
    /// `activity('X')`.
    pub fn visit_calls<'a>(&'a self, f: &mut dyn FnMut(&'a str, &'a [Expr])) {
        match &self.kind {
            ExprKind::Call { name, args } => {
                f(name, args);
                for a in args {
                    a.visit_calls(f);
                }
            }
            ExprKind::Member { base, .. } => base.visit_calls(f),
            ExprKind::Index { base, index, .. } => {
                base.visit_calls(f);
                index.visit_calls(f);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Expr, ParseError> {
        parse_range(s, 0, s.len())
    }

    #[test]
    fn parses_calls_members_and_indexes() {
        let e = p("activity('A').output.value[0]?.name").unwrap();
        let ExprKind::Member {
            base,
            name,
            optional,
        } = e.kind
        else {
            panic!()
        };
        assert_eq!((name.as_str(), optional), ("name", true));
        let ExprKind::Index { index, .. } = base.kind else {
            panic!()
        };
        assert_eq!(index.kind, ExprKind::Int(0));
        assert_eq!(p("TRUE").unwrap().kind, ExprKind::Bool(true));
        assert_eq!(p(" null ").unwrap().kind, ExprKind::Null);
    }

    #[test]
    fn nesting_beyond_the_limit_is_a_named_error_not_a_stack_overflow() {
        let deep_calls = format!("{}1{}", "add(1,".repeat(5000), ")".repeat(5000));
        let e = p(&deep_calls).unwrap_err();
        assert!(e.msg.contains("nests deeper than 128 levels"), "{}", e.msg);
        let long_chain = format!("pipeline(){}", ".a".repeat(100_000));
        let e = p(&long_chain).unwrap_err();
        assert!(e.msg.contains("nests deeper than 128 levels"), "{}", e.msg);
        let deep_index = format!("{}0{}", "createArray(1)[".repeat(3000), "]".repeat(3000));
        assert!(p(&deep_index).is_err());
        let ok = format!("{}1{}", "add(1,".repeat(100), ")".repeat(100));
        assert!(p(&ok).is_ok());
    }

    #[test]
    fn errors_carry_positions() {
        assert_eq!(p("concat('a' 'b')").unwrap_err().pos, 11);
        assert_eq!(p("concat('a',)").unwrap_err().pos, 11);
        assert_eq!(p("foo").unwrap_err().pos, 0);
        assert_eq!(p("a().b c").unwrap_err().pos, 6);
        assert_eq!(p("a()[1").unwrap_err().pos, 5);
        assert_eq!(p("   ").unwrap_err().pos, 0);
    }
}
