//! Merging the schemas of one table's files.
//!
//! Security Lake's writer only emits the columns that are non-null in a file, with legacy 2-level
//! lists (`array` element name) and varying nullability; Athena reads all of them under the Glue
//! table's schema. Here the table schema is the union of the file schemas: fields are matched by
//! name at every depth, everything becomes nullable, lists are normalised to the element name
//! `element`, and `int` meets `bigint` as `bigint` (v1 `type_uid` is int, v2 bigint). Any other type
//! conflict is an error naming the column, and the file that causes it is skipped by the catalog.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};

/// Normalise one type: nullable children, list element `element`, map entries kept as is.
pub fn normalise_type(t: &DataType) -> DataType {
    match t {
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(|f| normalise_field(f)).collect::<Vec<_>>().into()),
        DataType::List(f) | DataType::LargeList(f) => DataType::List(Arc::new(Field::new("element", normalise_type(f.data_type()), true))),
        DataType::Map(entries, sorted) => {
            if let DataType::Struct(kv) = entries.data_type() {
                if kv.len() == 2 {
                    let key = Field::new("key", normalise_type(kv[0].data_type()), false);
                    let value = Field::new("value", normalise_type(kv[1].data_type()), true);
                    return DataType::Map(
                        Arc::new(Field::new("key_value", DataType::Struct(Fields::from(vec![key, value])), false)),
                        *sorted,
                    );
                }
            }
            t.clone()
        }
        other => other.clone(),
    }
}

fn normalise_field(f: &Field) -> Field {
    Field::new(f.name(), normalise_type(f.data_type()), true)
}

/// Normalise a whole file schema (drops metadata, which differs between writers).
pub fn normalise_schema(s: &Schema) -> Schema {
    Schema::new(s.fields().iter().map(|f| normalise_field(f)).collect::<Vec<_>>())
}

fn merge_type(path: &str, a: &DataType, b: &DataType) -> Result<DataType, String> {
    use DataType::*;
    Ok(match (a, b) {
        (x, y) if x == y => x.clone(),
        (Null, y) => y.clone(),
        (x, Null) => x.clone(),
        (Int32, Int64) | (Int64, Int32) => Int64,
        (Float32, Float64) | (Float64, Float32) => Float64,
        (Struct(fa), Struct(fb)) => Struct(merge_fields(path, fa, fb)?),
        (List(ea), List(eb)) => {
            let t = merge_type(&format!("{path}[]"), ea.data_type(), eb.data_type())?;
            List(Arc::new(Field::new("element", t, true)))
        }
        (Map(ea, sa), Map(eb, _)) => {
            let t = merge_type(path, ea.data_type(), eb.data_type())?;
            Map(Arc::new(Field::new("key_value", t, false)), *sa)
        }
        (x, y) => return Err(format!("column {path}: {x} in one file, {y} in another")),
    })
}

fn merge_fields(path: &str, a: &Fields, b: &Fields) -> Result<Fields, String> {
    let mut out: Vec<Field> = a.iter().map(|f| f.as_ref().clone()).collect();
    let index: HashMap<String, usize> = out.iter().enumerate().map(|(i, f)| (f.name().clone(), i)).collect();
    for f in b.iter() {
        match index.get(f.name()) {
            Some(&i) => {
                let p = if path.is_empty() {
                    f.name().clone()
                } else {
                    format!("{path}.{}", f.name())
                };
                let t = merge_type(&p, out[i].data_type(), f.data_type())?;
                out[i] = Field::new(f.name(), t, true);
            }
            None => out.push(f.as_ref().clone()),
        }
    }
    Ok(out.into())
}

/// Merge `b` into `a`; fields of `a` keep their order, new fields of `b` are appended.
pub fn merge_schemas(a: &Schema, b: &Schema) -> Result<Schema, String> {
    let fa = normalise_schema(a);
    let fb = normalise_schema(b);
    Ok(Schema::new(merge_fields("", fa.fields(), fb.fields())?))
}

/// Drop top-level columns by name (partition columns that the files also carry).
pub fn without_columns(s: &Schema, names: &[&str]) -> Schema {
    let fields: Vec<FieldRef> = s.fields().iter().filter(|f| !names.contains(&f.name().as_str())).cloned().collect();
    Schema::new(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::ocsf::parse_type;

    fn schema(cols: &[(&str, &str)]) -> Schema {
        Schema::new(
            cols.iter()
                .map(|(n, t)| Field::new(*n, parse_type(t).unwrap(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn nested_fields_union_and_int_widens() {
        let a = schema(&[("api", "struct<operation:string>"), ("type_uid", "int")]);
        let b = schema(&[
            ("api", "struct<service:struct<name:string>>"),
            ("type_uid", "bigint"),
            ("x", "string"),
        ]);
        let m = merge_schemas(&a, &b).unwrap();
        assert_eq!(m.fields().len(), 3);
        assert_eq!(m.field_with_name("type_uid").unwrap().data_type(), &DataType::Int64);
        let DataType::Struct(api) = m.field_with_name("api").unwrap().data_type() else {
            panic!("struct")
        };
        assert_eq!(api.len(), 2);
    }

    #[test]
    fn conflicting_types_name_the_column() {
        let a = schema(&[("api", "struct<operation:string>")]);
        let b = schema(&[("api", "struct<operation:int>")]);
        let e = merge_schemas(&a, &b).unwrap_err();
        assert!(e.contains("api.operation"), "{e}");
    }
}
