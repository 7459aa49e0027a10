//! `docs/configuration.md` checked against the key table, so the guide cannot
//! drift from the code: every key of `KEYS` has exactly one row there, every row
//! names a key of `KEYS`, each row's default is what `Config::default().render()`
//! writes for it, and its restart column says what the key's `restart` says.
//! The other places that name the restart-only keys are checked too: the
//! shipped `config/chatd.conf` (its opening list, and "Restart to change" in
//! each key's own comment) and the log table of `docs/operating.md`.
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

const SHIPPED: &str = include_str!("../../config/chatd.conf");
const OPERATING: &str = include_str!("../../docs/operating.md");

/// The restart-only keys of the key table, sorted.
fn restart_only() -> Vec<&'static str> {
    let mut keys: Vec<&str> = KEYS
        .iter()
        .filter(|key| key.restart.is_some())
        .map(|key| key.name)
        .collect();
    keys.sort_unstable();
    keys
}

/// The words in backticks in `text`, sorted.
fn backticked(text: &str) -> Vec<&str> {
    let mut words: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
    words.sort_unstable();
    words
}

#[test]
fn the_shipped_config_names_exactly_the_restart_only_keys() {
    // Its opening paragraph: "Everything applies at once except `address`,
    // …, which need a restart."
    let comments: String = SHIPPED
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| line.trim_start_matches('#').trim())
        .collect::<Vec<_>>()
        .join(" ");
    let listed = comments
        .split_once("Everything applies at once except")
        .and_then(|(_, rest)| rest.split_once("which need a restart"))
        .map(|(list, _)| list)
        .expect(
            "config/chatd.conf: no \"Everything applies at once except … which need a restart\"",
        );
    assert_eq!(
        backticked(listed),
        restart_only(),
        "config/chatd.conf's opening list of the keys that need a restart"
    );
    // Each key's own comment says "Restart to change" exactly when it needs one.
    let lines: Vec<&str> = SHIPPED.lines().collect();
    let mut problems = Vec::new();
    for key in &KEYS {
        let at = lines.iter().position(|line| {
            let line = line.trim_start_matches("# ");
            line.starts_with(&format!("{} = ", key.name))
        });
        let Some(at) = at else {
            problems.push(format!("`{}` is not in config/chatd.conf", key.name));
            continue;
        };
        let comment: String = lines[..at]
            .iter()
            .rev()
            .take_while(|line| line.starts_with('#'))
            .map(|line| line.trim_start_matches('#').trim())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let says = comment.contains("restart to change");
        if says != key.restart.is_some() {
            problems.push(format!(
                "line {}: `{}` needs restart: {} (keys::KEYS), its comment says {}",
                at + 1,
                key.name,
                key.restart.is_some(),
                if says { "it does" } else { "nothing of it" }
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_operating_guide_names_exactly_the_restart_only_keys() {
    let row = OPERATING
        .lines()
        .find(|line| line.contains("which needs a restart; keeping the old value"))
        .expect("docs/operating.md: the log table's row of a kept restart-only key");
    let (_, meaning) = row
        .rsplit_once("for every key that needs a restart (")
        .expect("the row lists the keys");
    let (list, _) = meaning.split_once(')').expect("a closing parenthesis");
    assert_eq!(backticked(list), restart_only(), "{row}");
}
