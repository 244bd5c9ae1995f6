//! The configuration reference of `docs/operations.md` names exactly the variables the service
//! reads: a variable added to the code without a line in the table, or a line for one the code
//! no longer reads, fails here.

use std::collections::BTreeSet;

use server::config::variables;

/// Read outside the list: the TOML file to layer in (by `Config::from_map` itself), and whether
/// a terminal gets colour (by the logging, as every program that honours it does).
const READ_BEFORE_THE_LIST: &[&str] = &["AD_CONFIG", "NO_COLOR"];

fn operations_guide() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
    std::fs::read_to_string(path).expect("docs/operations.md exists")
}

/// The first cell of every row of the table under `## Configuration reference`.
fn documented_variables(guide: &str) -> BTreeSet<String> {
    let section = guide.split("\n## Configuration reference\n").nth(1).expect("the guide has the section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn the_configuration_reference_lists_exactly_the_variables_the_code_reads() {
    let documented = documented_variables(&operations_guide());
    let read: BTreeSet<String> = variables().map(str::to_owned).collect();
    let missing: Vec<_> = read.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&read).collect();
    assert!(missing.is_empty(), "read by the code but not in docs/operations.md: {missing:?}");
    assert!(stale.is_empty(), "in docs/operations.md but not read by the code: {stale:?}");
}

#[test]
fn the_guide_documents_the_variables_read_outside_the_list() {
    let guide = operations_guide();
    for name in READ_BEFORE_THE_LIST {
        assert!(guide.contains(&format!("`{name}`")), "{name} is not documented");
        assert!(!variables().any(|v| v == *name), "{name} is in the list now: drop it from READ_BEFORE_THE_LIST");
    }
}

#[test]
fn a_table_row_is_read_as_its_first_cell_only() {
    let guide = "intro\n## Configuration reference\n\n| variable | default |\n|---|---|\n| `A_B` | `x` |\n\
                 | `C` | none |\ntext with `D`\n## Next\n| `E` | y |\n";
    let names: Vec<String> = documented_variables(guide).into_iter().collect();
    assert_eq!(names, ["A_B", "C"]);
}
