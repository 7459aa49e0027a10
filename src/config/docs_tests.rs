//! `docs/configuration.md` checked against the key table, so the guide cannot
//! drift from the code: every key of `KEYS` has exactly one row there, every row
//! names a key of `KEYS`, each row's default is what `Config::default().render()`
//! writes for it, and its restart column says what the key's `restart` says.
//!
//! A row is a table line whose first cell is a key in backticks:
//! `` | `key` | default | range | needs restart | meaning | ``. The default cell is
//! the rendered value in backticks (`` `8194` ``, `` `"chatd"` ``), or `not set`
//! for a key that is unset by default; the restart cell is `yes` or `no`.

use std::collections::HashMap;

use super::Config;
use super::keys::KEYS;

const GUIDE: &str = include_str!("../../docs/configuration.md");

/// One key's row of the guide.
struct Row<'a> {
    line: usize,
    key: &'a str,
    default: &'a str,
    restart: &'a str,
}

/// The guide's key rows, in order.
fn rows() -> Vec<Row<'static>> {
    GUIDE
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let cells: Vec<&str> = line
                .strip_prefix('|')?
                .splitn(5, '|')
                .map(str::trim)
                .collect();
            let key = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            let [_, default, _range, restart, _meaning] = cells.as_slice() else {
                panic!(
                    "docs/configuration.md:{}: the row of `{key}` should have five cells \
                     (key, default, range, needs restart, meaning): {line:?}",
                    index + 1
                );
            };
            Some(Row {
                line: index + 1,
                key,
                default,
                restart,
            })
        })
        .collect()
}

/// What `render` writes for each key: `Some(value)`, or None for an unset key
/// (`# key is not set`).
fn rendered_defaults() -> HashMap<String, Option<String>> {
    Config::default()
        .render()
        .lines()
        .map(|line| match line.split_once(" = ") {
            Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
            None => {
                let key = line
                    .strip_prefix("# ")
                    .and_then(|rest| rest.strip_suffix(" is not set"))
                    .unwrap_or_else(|| panic!("render wrote {line:?}"));
                (key.to_owned(), None)
            }
        })
        .collect()
}

#[test]
fn the_guide_has_a_row_for_every_key_and_only_for_keys() {
    let rows = rows();
    let mut problems = Vec::new();
    for key in &KEYS {
        match rows.iter().filter(|row| row.key == key.name).count() {
            1 => {}
            0 => problems.push(format!("`{}` has no row", key.name)),
            n => problems.push(format!("`{}` has {n} rows", key.name)),
        }
    }
    for row in &rows {
        if !KEYS.iter().any(|key| key.name == row.key) {
            problems.push(format!(
                "line {}: `{}` is not a config key (keys::KEYS)",
                row.line, row.key
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md disagrees with keys::KEYS:\n{}",
        problems.join("\n")
    );
}

/// Fails with every row `check` finds wrong (its message), under `what`.
fn assert_each_row(what: &str, check: impl Fn(&Row<'_>) -> Option<String>) {
    let problems: Vec<String> = rows().iter().filter_map(check).collect();
    assert!(
        problems.is_empty(),
        "docs/configuration.md {what}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_guide_states_each_default_as_render_writes_it() {
    let defaults = rendered_defaults();
    assert_each_row(
        "states defaults that `Config::default().render()` does not write",
        |row| {
            // Not a key: the first test says so.
            let default = defaults.get(row.key)?;
            let expected = match default {
                Some(value) => format!("`{value}`"),
                None => "not set".to_owned(),
            };
            (row.default != expected).then(|| {
                format!(
                    "line {}: `{}` defaults to {expected}, the guide says {}",
                    row.line, row.key, row.default
                )
            })
        },
    );
}

#[test]
fn the_guide_marks_exactly_the_restart_only_keys() {
    assert_each_row(
        "marks restart-only keys differently from keys::KEYS",
        |row| {
            // Not a key: the first test says so.
            let key = KEYS.iter().find(|key| key.name == row.key)?;
            let expected = if key.restart.is_some() { "yes" } else { "no" };
            (row.restart != expected).then(|| {
                format!(
                    "line {}: `{}` needs restart: {expected} (keys::KEYS), the guide says {:?}",
                    row.line, row.key, row.restart
                )
            })
        },
    );
}
