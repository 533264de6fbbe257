//! Estimates of the bytes a batch or output occupies on the guest side of the boundary, for
//! the per-call crossing cap (`TenantLimits::max_boundary_bytes`).

use crate::plugins::bindings::sluice::plugin::types as wit;

/// Approximate bytes a scalar occupies in the guest's memory (canonical ABI layout plus its
/// heap payload).
fn scalar_size(s: &wit::Scalar) -> u64 {
    use wit::Scalar as S;
    24 + match s {
        S::Numeric(x) | S::Text(x) | S::Json(x) => x.len() as u64,
        S::Bytes(x) => x.len() as u64,
        S::Inet(x) => x.addr.len() as u64,
        _ => 0,
    }
}

/// Approximate bytes a column occupies on the guest side of the boundary. Counts the canonical
/// ABI element size of each list plus heap payloads; used for the per-call crossing cap, so it
/// errs on the generous side rather than walking every fixed-width element.
pub fn column_size(c: &wit::ColumnData) -> u64 {
    use wit::ColumnValues as C;
    let n = |len: usize, each: u64| len as u64 * each;
    let opt = |s: &Option<wit::Scalar>| 8 + s.as_ref().map_or(0, scalar_size);
    c.nulls.len() as u64
        + match &c.values {
            C::Boolean(v) => n(v.len(), 1),
            C::Int16(v) => n(v.len(), 2),
            C::Int32(v) | C::Date(v) => n(v.len(), 4),
            C::Int64(v) | C::Money(v) | C::Time(v) | C::Timestamp(v) | C::Timestamptz(v) => {
                n(v.len(), 8)
            }
            C::Float32(v) => n(v.len(), 4),
            C::Float64(v) => n(v.len(), 8),
            C::Macaddr(v) => n(v.len(), 8),
            C::Uuid(v) => n(v.len(), 16),
            C::Timetz(v) => n(v.len(), 16),
            C::Interval(v) => n(v.len(), 16),
            C::Numeric(v) | C::Text(v) | C::Json(v) | C::Bytes(v) => {
                v.data.len() as u64 + n(v.offsets.len(), 4)
            }
            C::Inet(v) => v.iter().map(|i| 12 + i.addr.len() as u64).sum(),
            C::Array(v) => v
                .iter()
                .map(|a| 16 + 8 * a.dims.len() as u64 + a.elements.iter().map(opt).sum::<u64>())
                .sum(),
            C::Range(v) => v.iter().map(|r| 8 + opt(&r.lower) + opt(&r.upper)).sum(),
        }
}

/// Approximate bytes of a whole batch on the guest side.
pub fn batch_size(b: &wit::Batch) -> u64 {
    8 + b.columns.iter().map(column_size).sum::<u64>()
}

/// Approximate bytes of a guest's `output` (batch plus rejections).
pub fn output_size(o: &wit::Output) -> u64 {
    batch_size(&o.batch)
        + o.rejected
            .iter()
            .map(|r| 12 + r.message.len() as u64)
            .sum::<u64>()
}
