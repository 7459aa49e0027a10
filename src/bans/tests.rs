//! The ban and mute lists, their file format and loading.

use super::*;
use crate::test_rng::Rng;
use std::error::Error;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn ban(target: &str, until: Option<u64>) -> Entry {
    Entry {
        net: net(target),
        until: until.map(at),
        reason: "spam".to_owned(),
        by: "ctl".to_owned(),
        since: at(1_000),
    }
}

/// A fresh directory for one test, under the system temp directory.
pub(super) fn temp_dir(name: &str) -> PathBuf {
    crate::test_dir::fresh("bans", name)
}

#[test]
fn add_replaces_the_ban_on_the_same_range() {
    let mut list = AddressList::new(Kind::Ban);
    assert_eq!(list.add(ban("1.2.3.4", None)), None);
    assert_eq!(list.add(ban("1.2.3.0/24", None)), None);
    let replaced = list.add(ban("1.2.3.4", Some(5_000))).unwrap();
    assert_eq!(replaced.until, None);
    assert_eq!(list.len(), 2);
    assert!(list.remove(&net("1.2.3.4")));
    assert!(!list.remove(&net("1.2.3.4")));
    // Removing is by exact range: the /24 still stands.
    assert!(!list.remove(&net("1.2.3.0/25")));
    assert_eq!(list.len(), 1);
}

#[test]
fn find_picks_the_narrowest_active_ban() {
    let mut list = AddressList::new(Kind::Ban);
    list.add(ban("10.0.0.0/8", None));
    list.add(ban("10.1.0.0/16", Some(2_000)));
    list.add(ban("2001:db8::/32", None));
    let now = at(1_500);
    let found = |addr: &str, now| list.find(ip(addr), now).map(|b| b.net.to_string());
    assert_eq!(found("10.1.2.3", now).as_deref(), Some("10.1.0.0/16"));
    assert_eq!(
        found("::ffff:10.1.2.3", now).as_deref(),
        Some("10.1.0.0/16")
    );
    assert_eq!(found("10.2.0.1", now).as_deref(), Some("10.0.0.0/8"));
    assert_eq!(found("2001:db8::5", now).as_deref(), Some("2001:db8::/32"));
    assert_eq!(found("11.0.0.1", now), None);
    // At its end the /16 is over; the /8 still covers the address.
    assert_eq!(found("10.1.2.3", at(2_000)).as_deref(), Some("10.0.0.0/8"));
}

#[test]
fn expire_drops_ended_bans_and_returns_them() {
    let mut list = AddressList::new(Kind::Ban);
    list.add(ban("1.1.1.1", Some(2_000)));
    list.add(ban("2.2.2.2", None));
    list.add(ban("3.3.3.3", Some(3_000)));
    assert!(list.expire(at(1_999)).is_empty());
    assert_eq!(
        list.find(ip("1.1.1.1"), at(1_999))
            .unwrap()
            .remaining(at(1_999)),
        Some(Duration::from_secs(1))
    );
    let expired = list.expire(at(2_000));
    assert_eq!(expired, vec![ban("1.1.1.1", Some(2_000))]);
    assert_eq!(list.len(), 2);
    assert!(list.find(ip("1.1.1.1"), at(2_000)).is_none());
    assert_eq!(list.expire(at(u32::MAX as u64)).len(), 1);
    assert_eq!(
        list.iter().map(|b| b.net.to_string()).collect::<Vec<_>>(),
        ["2.2.2.2"]
    );
    assert_eq!(list.iter().next().unwrap().remaining(at(9)), None);
}

/// A few bans with awkward reasons; also used by the store's tests.
pub(crate) fn sample() -> AddressList {
    let mut list = AddressList::new(Kind::Ban);
    list.add(Entry {
        net: net("203.0.113.0/24"),
        until: Some(at(1_796_335_200)),
        reason: "spam and insults".to_owned(),
        by: "alice".to_owned(),
        since: at(1_796_292_000),
    });
    list.add(Entry {
        net: net("2001:db8::7"),
        until: None,
        reason: String::new(),
        by: "ctl".to_owned(),
        since: at(0),
    });
    list.add(Entry {
        net: net("::/0"),
        until: Some(at(253_402_300_799)),
        reason: " two\nlines, a back\\slash\r and reason=  ".to_owned(),
        by: "a b\tc\\".to_owned(),
        since: at(1),
    });
    list
}

#[test]
fn render_is_the_documented_format() {
    let text = sample().render();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "203.0.113.0/24 since=2026-12-03T10:00:00Z until=2026-12-03T22:00:00Z by=alice reason=spam and insults",
            "2001:db8::7 since=1970-01-01T00:00:00Z until=never by=ctl reason=",
            "::/0 since=1970-01-01T00:00:01Z until=9999-12-31T23:59:59Z by=a\\sb\\tc\\\\ reason= two\\nlines, a back\\\\slash\\r and reason=  ",
        ]
    );
}

#[test]
fn parse_reads_back_what_render_wrote() {
    let list = sample();
    assert_eq!(AddressList::parse(Kind::Ban, &list.render()).unwrap(), list);
    assert_eq!(
        AddressList::parse(Kind::Ban, "").unwrap(),
        AddressList::new(Kind::Ban)
    );
    // Fields in another order, extra spaces, CRLF line ends, comments.
    let text = "# hand-edited\r\n\r\n  203.0.113.0/24   by=alice\tuntil=2026-12-03T22:00:00Z since=2026-12-03T10:00:00Z reason=spam and insults\r\n";
    let read = AddressList::parse(Kind::Ban, text).unwrap();
    assert_eq!(read.iter().next(), list.iter().next());
    let mut rng = Rng(0xba45);
    let mut big = AddressList::new(Kind::Ban);
    for i in 0..500u32 {
        let reason: String = (0..rng.below(20))
            .map(|_| ['a', ' ', '\\', '\n', '\r', '\t', 'é', '中', '='][rng.below(9)])
            .collect();
        big.add(Entry {
            net: IpNet::host(IpAddr::V4(Ipv4Addr::from(i))),
            until: (i % 3 != 0).then(|| at(rng.bits() % 253_402_300_799)),
            reason: reason.clone(),
            by: reason.chars().rev().collect::<String>() + "x",
            since: at(rng.bits() % 253_402_300_799),
        });
    }
    assert_eq!(AddressList::parse(Kind::Ban, &big.render()).unwrap(), big);
}

#[test]
fn every_damaged_line_is_named() {
    let good = "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl reason=x";
    for (text, expected) in [
        (
            "troll since=2026-12-03T10:00:00Z",
            "bans:1: bad address \"troll\": expected an IP address or a CIDR range like 203.0.113.0/24",
        ),
        (
            "# c\n\n1.2.3.4/24 since=2026-12-03T10:00:00Z",
            "bans:3: \"1.2.3.4/24\" has bits set after the prefix: did you mean 1.2.3.0/24?",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=never reason=x",
            "bans:1: missing by=",
        ),
        (
            "1.2.3.4 until=never by=ctl reason=x",
            "bans:1: missing since=",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z by=ctl reason=x",
            "bans:1: missing until=",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl",
            "bans:1: missing reason= (it may be empty, but must be last)",
        ),
        ("1.2.3.4", "bans:1: missing since="),
        (
            "1.2.3.4 since=2026-12-03 until=never by=ctl reason=",
            "bans:1: bad since= time \"2026-12-03\": expected a UTC time like 2026-12-03T10:00:00Z",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=soon by=ctl reason=",
            "bans:1: bad until= time \"soon\": expected a UTC time like 2026-12-03T10:00:00Z",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z since=2026-12-03T10:00:00Z",
            "bans:1: since= given twice",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl for=ever reason=",
            "bans:1: unknown field \"for\"",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl spam",
            "bans:1: expected KEY=VALUE, found \"spam\"",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=never by= reason=",
            "bans:1: empty by=",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=a\\q reason=",
            "bans:1: by=: unknown escape \"\\q\"",
        ),
        (
            "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl reason=a\\",
            "bans:1: reason=: a backslash at the end of the line",
        ),
    ] {
        assert_eq!(
            AddressList::parse(Kind::Ban, text).unwrap_err().to_string(),
            expected,
            "{text:?}"
        );
    }
    let twice = format!(
        "{good}\n# the same again, written another way\n::ffff:1.2.3.4 since=2026-12-03T10:00:00Z until=never by=bob reason="
    );
    assert_eq!(
        AddressList::parse(Kind::Ban, &twice)
            .unwrap_err()
            .to_string(),
        "bans:3: a second ban for 1.2.3.4 (the first is on line 1)"
    );
}

#[test]
fn load_names_the_file_and_line() {
    let dir = temp_dir("load");
    let path = dir.join("bans");
    assert_eq!(
        load(&path, Kind::Ban).unwrap(),
        AddressList::new(Kind::Ban),
        "a missing file is no bans"
    );
    fs::write(&path, "# ok\n1.2.3.4 by=ctl\n").unwrap();
    assert_eq!(
        load(&path, Kind::Ban).unwrap_err().to_string(),
        format!("{}:2: missing since=", path.display())
    );
    fs::write(&path, b"# ok\n# ok\n1.2.3.4 reason=\xff\n").unwrap();
    assert_eq!(
        load(&path, Kind::Ban).unwrap_err().to_string(),
        format!("{}:3: not valid UTF-8", path.display())
    );
    let err = load(&dir, Kind::Ban).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {}: ", dir.display())),
        "{err}"
    );
    assert!(err.source().is_some());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_mute_file_is_the_same_format_under_its_own_name() {
    let mut mutes = AddressList::new(Kind::Mute);
    for entry in sample().iter() {
        mutes.add(entry.clone());
    }
    let text = mutes.render();
    assert!(text.starts_with("# chatd's mutes, one per line"), "{text}");
    assert_eq!(AddressList::parse(Kind::Mute, &text).unwrap(), mutes);
    let twice = "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl reason=\n\
                 1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl reason=";
    assert_eq!(
        AddressList::parse(Kind::Mute, twice)
            .unwrap_err()
            .to_string(),
        "mutes:2: a second mute for 1.2.3.4 (the first is on line 1)"
    );
}
