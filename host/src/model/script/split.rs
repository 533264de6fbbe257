//! Splits a Script block's text into its SQL statements, as PostgreSQL's own lexer and psql
//! would: a `;` ends a statement only outside quoted strings (`'...'`, `E'...'`), quoted
//! identifiers, dollar-quoted bodies (`$fn$ ... $fn$`), comments (`--`, nested `/* */`) and
//! `BEGIN ATOMIC ... END` function bodies.
//!
//! Why: the extended query protocol, which gives typed result columns and bound parameters,
//! takes one statement at a time, while ADF users write blocks such as
//! `TRUNCATE t; INSERT ...; SELECT ...`. A block is run statement by statement inside one
//! transaction, which is what PostgreSQL does with a multi-statement simple query, without
//! losing the column types the simple protocol would turn into text.

/// The statements of `sql`, trimmed, without empty ones (`;;` or a trailing comment).
pub fn split_statements(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    // Whether the current statement holds anything but blanks and comments.
    let mut significant = false;
    // `BEGIN ATOMIC` bodies (and `CASE ... END` inside them) still open.
    let mut atomic = 0usize;
    let mut i = 0;
    let mut push = |from: usize, to: usize, significant: bool| {
        if significant {
            out.push(sql[from..to].trim().to_string());
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'\'' => {
                // E'...' strings take backslash escapes; standard strings only ''.
                let escapes =
                    i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !is_ident(b[i - 2]));
                i = skip_quoted(b, i, b'\'', escapes);
                significant = true;
                continue;
            }
            b'"' => {
                i = skip_quoted(b, i, b'"', false);
                significant = true;
                continue;
            }
            b'$' if i == 0 || !is_ident(b[i - 1]) => {
                if let Some(tag_end) = dollar_tag(b, i) {
                    let tag = &b[i..=tag_end];
                    let body = tag_end + 1;
                    i = find(b, body, tag).map_or(b.len(), |at| at + tag.len());
                    significant = true;
                    continue;
                }
            }
            b';' if atomic == 0 => {
                push(start, i, significant);
                start = i + 1;
                significant = false;
                i += 1;
                continue;
            }
            c if is_ident_start(c) && (i == 0 || !is_ident(b[i - 1])) => {
                let end = (i..b.len()).find(|&j| !is_ident(b[j])).unwrap_or(b.len());
                let word = &sql[i..end];
                let opens = if atomic == 0 {
                    word.eq_ignore_ascii_case("begin")
                        && next_word(sql, end).eq_ignore_ascii_case("atomic")
                } else {
                    word.eq_ignore_ascii_case("begin") || word.eq_ignore_ascii_case("case")
                };
                if opens {
                    atomic += 1;
                } else if atomic > 0 && word.eq_ignore_ascii_case("end") {
                    atomic -= 1;
                }
                significant = true;
                i = end;
                continue;
            }
            c if !c.is_ascii_whitespace() => significant = true,
            _ => {}
        }
        i += 1;
    }
    push(start, b.len(), significant);
    out
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// The word after position `from` (skipping blanks), for `BEGIN ATOMIC`.
fn next_word(sql: &str, from: usize) -> &str {
    let rest = sql[from..].trim_start();
    let end = rest
        .bytes()
        .position(|c| !is_ident(c))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The position after the closing `quote` of a quoted string or identifier opened at `open`
/// (a doubled quote is part of it); the end of the text when it is never closed.
fn skip_quoted(b: &[u8], open: usize, quote: u8, escapes: bool) -> usize {
    let mut i = open + 1;
    while i < b.len() {
        if escapes && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// The position of the closing `$` of a dollar-quote tag (`$$` or `$name$`) starting at
/// `open`; `None` for anything else (`$1`, a lone `$`).
fn dollar_tag(b: &[u8], open: usize) -> Option<usize> {
    let mut j = open + 1;
    if b.get(j) == Some(&b'$') {
        return Some(j);
    }
    if !b.get(j).is_some_and(|&c| is_ident_start(c)) {
        return None;
    }
    while j < b.len() && (is_ident_start(b[j]) || b[j].is_ascii_digit()) {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j)
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_on_semicolons_outside_quotes_comments_and_bodies() {
        let sql = "TRUNCATE t; INSERT INTO t VALUES ('a;b', E'it\\'s;', \"x;y\"); -- c;d\n\
                   /* a; /* nested; */ still; */ SELECT $1, a$b FROM t;;\n\
                   CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n\
                   CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;\n\
                   SELECT 'it''s; fine'  -- trailing;";
        let got = split_statements(sql);
        assert_eq!(
            got,
            vec![
                "TRUNCATE t",
                "INSERT INTO t VALUES ('a;b', E'it\\'s;', \"x;y\")",
                "-- c;d\n/* a; /* nested; */ still; */ SELECT $1, a$b FROM t",
                "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql",
                "DO $$ BEGIN PERFORM 1; END $$",
                "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END",
                "SELECT 'it''s; fine'  -- trailing;",
            ]
        );
    }

    #[test]
    fn blank_and_comment_only_statements_are_dropped() {
        assert!(split_statements("  ; -- nothing\n ; /* x */").is_empty());
        assert_eq!(split_statements("SELECT 1"), vec!["SELECT 1"]);
        // A string left open runs to the end: the server reports it.
        assert_eq!(split_statements("SELECT 'a; b"), vec!["SELECT 'a; b"]);
    }
}
