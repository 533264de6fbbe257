//! SQL identifiers: quoting and ADF's table-name forms. Values never go into SQL text; names
//! always go through [`quote_ident`].

use std::fmt;

/// Double-quotes an identifier, doubling embedded quotes, so any name is taken literally.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table name, optionally schema-qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub table: String,
}

impl TableName {
    /// Parses ADF's `tableName`: `table`, `schema.table`, or quoted `"schema"."table"` (quoted
    /// parts keep case and may contain dots).
    pub fn parse(text: &str) -> Result<TableName, String> {
        let parts = split_qualified(text)?;
        match parts.as_slice() {
            [t] => Ok(TableName { schema: None, table: t.clone() }),
            [s, t] => Ok(TableName { schema: Some(s.clone()), table: t.clone() }),
            _ => Err(format!("{text:?} is not a table name; expected table, schema.table or \"schema\".\"table\"")),
        }
    }

    /// The quoted SQL form.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.table)),
            None => quote_ident(&self.table),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

fn split_qualified(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(format!("{text:?} has an unterminated quote")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c);
                chars.next();
            }
            part = part.trim().to_string();
        }
        if part.is_empty() {
            return Err(format!("{text:?} has an empty name part"));
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some('.') => {}
            Some(c) => return Err(format!("{text:?}: unexpected {c:?} after a quoted name")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_quotes() {
        let t = TableName::parse("\"My Schema\".\"odd\"\"name.x\"").unwrap();
        assert_eq!(t.schema.as_deref(), Some("My Schema"));
        assert_eq!(t.table, "odd\"name.x");
        assert_eq!(t.quoted(), "\"My Schema\".\"odd\"\"name.x\"");
        assert_eq!(
            TableName::parse("public.t").unwrap().quoted(),
            "\"public\".\"t\""
        );
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse("\"a").is_err());
    }
}
