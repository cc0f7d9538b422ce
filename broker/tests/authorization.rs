//! Every API of the table is authorized (DESIGN.md, "Security"): a `per_resource` row's handler
//! must ask `ctx.authorize` (or a helper of its API family that does) for its resources, and a
//! `cluster(..)` row is checked by the table itself. This test reads the API table and fails
//! naming a per-resource handler that never authorizes anything. Which operation each handler
//! asks is checked by the end-to-end tests (`tests/acls.rs`) and the table's own test of
//! Kafka's cluster-level APIs.

use std::path::Path;

/// Calls that authorize: `ctx.authorize`, `ctx.authorize_any`, and the config APIs' shared
/// `config_refusal` and `alter_refusals` (in `describe_configs.rs`).
const AUTHORIZING_CALLS: &[&str] = &[
    "ctx.authorize(",
    "ctx.authorize_any(",
    "config_refusal(",
    "alter_refusals(",
];

#[test]
fn every_per_resource_handler_authorizes() -> std::io::Result<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let table = std::fs::read_to_string(src.join("protocol/apis.rs"))?;
    let rows_start = table.find("apis! {").unwrap_or(0);
    // A row: `Key(Request), min..=max, authorization, bounds: X, api::<file>::handle;`,
    // possibly over two lines.
    let rows: Vec<String> = table[rows_start..]
        .split(';')
        .map(|row| row.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|row| row.contains("::handle"))
        .collect();
    assert!(rows.len() > 30, "the API table was not found: {rows:?}");
    let mut unauthorized = Vec::new();
    for row in &rows {
        let Some(handler) = row
            .split_whitespace()
            .find(|word| word.starts_with("api::") && word.ends_with("::handle"))
        else {
            panic!("no handler in row {row}");
        };
        let file = handler
            .trim_start_matches("api::")
            .trim_end_matches("::handle");
        if !row.contains("per_resource") {
            assert!(
                row.contains("cluster(")
                    || row.contains("unauthenticated")
                    || row.contains("authenticated"),
                "row without an authorization: {row}"
            );
            continue;
        }
        let source = std::fs::read_to_string(src.join("api").join(format!("{file}.rs")))?;
        if !AUTHORIZING_CALLS.iter().any(|call| source.contains(call)) {
            unauthorized.push(file.to_string());
        }
    }
    assert!(
        unauthorized.is_empty(),
        "per-resource handlers that never authorize: {unauthorized:?}"
    );
    Ok(())
}
