//! Which PostgreSQL types the engine models, and as what.
//!
//! The answer must agree exactly with what [`super::binary`] can decode and encode: the source
//! reads every column for which [`data_type_of`] says `None` as `column::text` (PostgreSQL's own
//! text form, which it accepts back without loss), so claiming a type here that the binary codec
//! cannot round-trip bit for bit would silently corrupt data. Both modules therefore share one
//! resolver, [`super::binary::resolve`], and this module only translates its answer.

use tokio_postgres::types::{Kind, Type};

use super::binary::{resolve, Resolved, Scalar};
use crate::types::schema::DataType;

/// The engine type for a PostgreSQL type, or `None` when the engine does not model it
/// (geometric types, tsvector, bit strings, composites, multiranges, `oid`, `"char"`,
/// `macaddr8`, arrays and ranges of those, ...), in which case the source reads it as text.
///
/// `xml` is `None` too although the codec can write it: `xml_send` (like `xml_out`) drops a
/// default `<?xml version="1.0"?>` declaration from the stored document, whereas a `::text` cast
/// returns it unchanged, so only reading it as text is lossless.
///
/// Enums are `Text` (their label), domains are their base type, arrays and ranges are modelled
/// when their element / subtype is.
pub fn data_type_of(ty: &Type) -> Option<DataType> {
    match resolve(ty) {
        Resolved::Scalar(s) => scalar_data_type(s),
        Resolved::Array(elem) => data_type_of(elem).map(|e| DataType::Array(Box::new(e))),
        Resolved::Range(sub) => data_type_of(sub).map(|s| DataType::Range(Box::new(s))),
        Resolved::Unsupported => None,
    }
}

/// The engine type a binary-codec scalar decodes to.
fn scalar_data_type(s: Scalar) -> Option<DataType> {
    Some(match s {
        Scalar::Bool => DataType::Bool,
        Scalar::Int2 => DataType::Int16,
        Scalar::Int4 => DataType::Int32,
        Scalar::Int8 => DataType::Int64,
        Scalar::Float4 => DataType::Float32,
        Scalar::Float8 => DataType::Float64,
        Scalar::Numeric => DataType::Numeric,
        Scalar::Money => DataType::Money,
        Scalar::Text => DataType::Text,
        Scalar::Xml => return None,
        Scalar::Bytea => DataType::Bytes,
        Scalar::Uuid => DataType::Uuid,
        Scalar::Json | Scalar::Jsonb => DataType::Json,
        Scalar::Date => DataType::Date,
        Scalar::Time => DataType::Time,
        Scalar::TimeTz => DataType::TimeTz,
        Scalar::Timestamp => DataType::Timestamp,
        Scalar::TimestampTz => DataType::TimestampTz,
        Scalar::Interval => DataType::Interval,
        Scalar::Inet | Scalar::Cidr => DataType::Inet,
        Scalar::MacAddr => DataType::MacAddr,
    })
}

/// Whether values of this type are character strings that PostgreSQL accepts from a `Text`
/// value as-is: text, varchar, bpchar, name, xml, enum labels, `unknown` and the `citext`
/// extension type (matched by name, since extension OIDs differ between databases). Domains
/// are judged by their base type.
pub fn is_text_like(ty: &Type) -> bool {
    match ty.kind() {
        Kind::Enum(_) => true,
        Kind::Domain(base) => is_text_like(base),
        Kind::Simple => {
            matches!(
                *ty,
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::XML | Type::UNKNOWN
            ) || is_citext(ty)
        }
        _ => false,
    }
}

/// `citext` is an extension type with a database-specific OID; its binary form is text's.
pub(crate) fn is_citext(ty: &Type) -> bool {
    matches!(ty.kind(), Kind::Simple) && ty.name() == "citext"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, oid: u32, kind: Kind) -> Type {
        Type::new(name.into(), oid, kind, "public".into())
    }

    #[test]
    fn built_in_scalars() {
        assert_eq!(data_type_of(&Type::INT4), Some(DataType::Int32));
        assert_eq!(data_type_of(&Type::NUMERIC), Some(DataType::Numeric));
        assert_eq!(data_type_of(&Type::JSONB), Some(DataType::Json));
        assert_eq!(data_type_of(&Type::CIDR), Some(DataType::Inet));
        assert_eq!(data_type_of(&Type::XML), None);
        assert_eq!(data_type_of(&Type::XML_ARRAY), None);
        assert_eq!(data_type_of(&Type::BPCHAR), Some(DataType::Text));
        assert_eq!(data_type_of(&Type::MONEY), Some(DataType::Money));
        assert_eq!(data_type_of(&Type::TIMETZ), Some(DataType::TimeTz));
    }

    #[test]
    fn unmodelled_types_are_none() {
        for ty in [
            Type::POINT,
            Type::TS_VECTOR,
            Type::BIT,
            Type::VARBIT,
            Type::PG_LSN,
            Type::OID,
            Type::CHAR,
            Type::MACADDR8,
            Type::POINT_ARRAY,
            Type::INT4MULTI_RANGE,
            Type::RECORD,
        ] {
            assert_eq!(data_type_of(&ty), None, "{ty}");
        }
    }

    #[test]
    fn arrays_ranges_enums_domains() {
        assert_eq!(
            data_type_of(&Type::INT4_ARRAY),
            Some(DataType::Array(Box::new(DataType::Int32)))
        );
        assert_eq!(
            data_type_of(&Type::TSTZ_RANGE),
            Some(DataType::Range(Box::new(DataType::TimestampTz)))
        );
        assert_eq!(
            data_type_of(&Type::INT4_RANGE_ARRAY),
            Some(DataType::Array(Box::new(DataType::Range(Box::new(
                DataType::Int32
            )))))
        );
        let mood = custom(
            "mood",
            90_001,
            Kind::Enum(vec!["sad".into(), "happy".into()]),
        );
        assert_eq!(data_type_of(&mood), Some(DataType::Text));
        assert!(is_text_like(&mood));
        let moods = custom("_mood", 90_002, Kind::Array(mood));
        assert_eq!(
            data_type_of(&moods),
            Some(DataType::Array(Box::new(DataType::Text)))
        );
        let dom = custom("posint", 90_003, Kind::Domain(Type::INT4));
        assert_eq!(data_type_of(&dom), Some(DataType::Int32));
        let dom_point = custom("pt", 90_004, Kind::Domain(Type::POINT));
        assert_eq!(data_type_of(&dom_point), None);
        let composite = custom("pair", 90_005, Kind::Composite(vec![]));
        assert_eq!(data_type_of(&composite), None);
        let citext = custom("citext", 90_006, Kind::Simple);
        assert_eq!(data_type_of(&citext), Some(DataType::Text));
        assert!(is_text_like(&citext));
        let other = custom("hstore", 90_007, Kind::Simple);
        assert_eq!(data_type_of(&other), None);
    }

    #[test]
    fn text_like() {
        assert!(is_text_like(&Type::TEXT));
        assert!(is_text_like(&Type::NAME));
        assert!(is_text_like(&Type::UNKNOWN));
        assert!(!is_text_like(&Type::JSON));
        assert!(!is_text_like(&Type::TEXT_ARRAY));
        assert!(!is_text_like(&Type::INT4));
    }
}
