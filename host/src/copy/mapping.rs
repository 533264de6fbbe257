//! Column mapping between source and sink: by name by default, or a `TabularTranslator`'s
//! explicit mappings (which also select and order the columns written).

use std::sync::Arc;

use crate::model::copy::Mapping;
use crate::types::batch::Batch;
use crate::types::schema::{Column, Schema, SchemaRef};

/// Which source columns feed the sink, under which names.
pub struct Projection {
    /// Source column index for each output column; `None` when the batch passes unchanged.
    indices: Option<Vec<usize>>,
    pub output: SchemaRef,
}

impl Projection {
    /// Builds the projection; a mapping naming a missing source column is an error listing the
    /// source's columns.
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
            let i = input
                .index_of(&m.source)
                .or_else(|| {
                    let mut ci = input.columns.iter().enumerate().filter(|(_, c)| c.name.eq_ignore_ascii_case(&m.source));
                    match (ci.next(), ci.next()) {
                        (Some((i, _)), None) => Some(i),
                        _ => None,
                    }
                })
                .ok_or_else(|| {
                    format!(
                        "translator maps source column \"{}\", which the source does not have (its columns: {})",
                        m.source,
                        input.names().collect::<Vec<_>>().join(", ")
                    )
                })?;
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
