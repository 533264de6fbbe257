//! Unit tests of [`super`]: parsing `RunFilterParameters` and refusing what is wrong.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

#[test]
fn parses_a_full_request() {
    let q = RunQuery::from_adf_json(&json!({
        "lastUpdatedAfter": "2026-12-01T00:00:00Z",
        "lastUpdatedBefore": "2026-12-05T10:00:00.1234567Z",
        "filters": [{"operand": "PipelineName", "operator": "Equals", "values": ["copy"]},
                    {"operand": "Status", "operator": "NotIn", "values": ["Failed", "Cancelled"]}],
        "orderBy": [{"orderBy": "RunStart", "order": "DESC"}],
        "continuationToken": "200"
    }))
    .unwrap();
    assert_eq!(q.filters.len(), 2);
    assert!(q.filters[0].include && !q.filters[1].include);
    assert_eq!(q.order_by, vec![("RunStart".to_string(), true)]);
    assert_eq!(q.offset, 200);
    assert_eq!(q.limit, DEFAULT_QUERY_PAGE);
    let naive = RunQuery::from_adf_json(&json!({
        "lastUpdatedAfter": "2026-12-01T00:00:00", "lastUpdatedBefore": "2026-12-02"
    }))
    .unwrap();
    assert!(naive.last_updated_after < naive.last_updated_before);
}

#[test]
fn refuses_bad_requests_by_field() {
    let base = json!({"lastUpdatedAfter": "2026-12-01T00:00:00Z", "lastUpdatedBefore": "2026-12-02T00:00:00Z"});
    let err = |v: Value| RunQuery::from_adf_json(&v).unwrap_err().to_string();
    assert!(err(json!({})).contains("lastUpdatedAfter"));
    assert!(
        err(json!({"lastUpdatedAfter": "yesterday", "lastUpdatedBefore": "x"}))
            .contains("lastUpdatedAfter")
    );
    let mut bad_op = base.clone();
    bad_op["filters"] = json!([{"operand": "Status", "operator": "Like", "values": ["x"]}]);
    assert!(err(bad_op).contains("Like"));
    let mut bad_token = base.clone();
    bad_token["continuationToken"] = json!("abc");
    assert!(err(bad_token).contains("continuationToken"));
    let mut bad_order = base.clone();
    bad_order["orderBy"] = json!([{"orderBy": "RunStart", "order": "UP"}]);
    assert!(err(bad_order).contains("UP"));
}

#[test]
fn unknown_operands_and_bad_values_are_refused_when_building_sql() {
    let mut q = RunQuery::from_adf_json(&json!({
        "lastUpdatedAfter": "2026-12-01T00:00:00Z", "lastUpdatedBefore": "2026-12-02T00:00:00Z",
        "filters": [{"operand": "ActivityName", "operator": "Equals", "values": ["a"]}]
    }))
    .unwrap();
    let mut params = Params::new();
    let e = filter_sql(&q, PIPELINE_OPERANDS, PIPELINE_ORDER, "true", &mut params).unwrap_err();
    assert!(e.to_string().contains("ActivityName"));
    assert!(filter_sql(&q, ACTIVITY_OPERANDS, ACTIVITY_ORDER, "true", &mut params).is_ok());
    q.filters = vec![RunFilter {
        operand: "RunId".into(),
        include: true,
        values: vec!["nope".into()],
    }];
    let e = filter_sql(
        &q,
        PIPELINE_OPERANDS,
        PIPELINE_ORDER,
        "true",
        &mut Params::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a run id"));
    q.filters = vec![RunFilter {
        operand: "runend".into(),
        include: false,
        values: vec!["2026-12-01T00:00:00Z".into()],
    }];
    let (sql, _) = filter_sql(
        &q,
        PIPELINE_OPERANDS,
        PIPELINE_ORDER,
        "true",
        &mut Params::new(),
    )
    .unwrap();
    assert!(sql.contains("IS NULL OR r.run_end <> ALL($1)"), "{sql}");
}
