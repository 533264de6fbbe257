//! Column mapping between source and sink: by name by default, or a `TabularTranslator`'s
//! explicit mappings (which also select and order the columns written).

use std::sync::Arc;

use crate::model::copy::{ColumnRef, Mapping};
use crate::types::batch::Batch;
use crate::types::schema::{Column, Schema, SchemaRef};

/// Which source columns feed the sink, under which names.
pub struct Projection {
    /// Source column index for each output column; `None` when the batch passes unchanged.
    indices: Option<Vec<usize>>,
    pub output: SchemaRef,
}

impl Projection {
    /// Builds the projection; a mapping naming a missing source column, or an `ordinal` past
    /// the source's last column, is an error naming the mapping and listing the source's
    /// columns.
    pub fn build(input: &SchemaRef, mappings: Option<&[Mapping]>) -> Result<Projection, String> {
        let Some(mappings) = mappings else {
            return Ok(Projection {
                indices: None,
                output: input.clone(),
            });
        };
        let mut indices = Vec::new();
        let mut columns = Vec::new();
        for m in mappings {
            let i = source_index(input, m)?;
            let c = &input.columns[i];
            columns.push(Column {
                name: m.sink.clone(),
                data_type: c.data_type.clone(),
                type_name: c.type_name.clone(),
            });
            indices.push(i);
        }
        let identity = indices.len() == input.len()
            && indices.iter().enumerate().all(|(a, b)| a == *b)
            && columns
                .iter()
                .zip(&input.columns)
                .all(|(a, b)| a.name == b.name);
        let output: SchemaRef = Arc::new(Schema::new(columns));
        Ok(Projection {
            indices: (!identity).then_some(indices),
            output,
        })
    }

    /// True when batches pass unchanged (same columns, same order, same names).
    pub fn is_identity(&self) -> bool {
        self.indices.is_none()
    }

    /// Applies the projection to a batch.
    pub fn apply(&self, batch: Batch) -> Batch {
        let Some(indices) = &self.indices else {
            return batch;
        };
        let mut out = Batch::with_capacity(self.output.clone(), batch.num_rows());
        out.bytes = batch.bytes;
        for row in batch.rows() {
            out.push_row(indices.iter().map(|&i| row[i].clone()));
        }
        out
    }
}

/// The source column a mapping reads: by name (exact, then case-insensitive when unambiguous)
/// or by 1-based `ordinal`.
fn source_index(input: &SchemaRef, m: &Mapping) -> Result<usize, String> {
    let columns = || input.names().collect::<Vec<_>>().join(", ");
    match &m.source {
        ColumnRef::Ordinal(n) => {
            if *n <= input.len() {
                Ok(n - 1)
            } else {
                Err(format!(
                    "{}.source.ordinal: {n} is out of range: the source has {} columns ({})",
                    m.at,
                    input.len(),
                    columns()
                ))
            }
        }
        ColumnRef::Name(name) => input
            .index_of(name)
            .or_else(|| {
                let mut ci = input
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.name.eq_ignore_ascii_case(name));
                match (ci.next(), ci.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            })
            .ok_or_else(|| {
                format!(
                    "{}.source.name: translator maps source column \"{name}\", which the source does not have (its columns: {})",
                    m.at,
                    columns()
                )
            }),
    }
}
